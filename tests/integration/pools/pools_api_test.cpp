// Pools and disks through the REST API of a real flotillad: CRUD, capacity and usage, bad input
// answered 4xx with nothing changed, roles, attach/detach, import with progress.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/daemon_fixture.h"

namespace flotilla::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
constexpr uint64_t M = 1ULL << 20;

std::vector<char> pattern(size_t n, int seed) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>((seed + i * 13 + (i >> 9)) & 0xff);
  return v;
}

std::vector<char> read_at(const std::string& path, uint64_t offset, size_t n) {
  std::vector<char> v(n);
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0) << path;
  EXPECT_EQ(::pread(fd, v.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
  ::close(fd);
  return v;
}

class PoolsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonOptions o;
    o.extra_args = {"--vmm-binary", "/bin/false"};  // no guest runs here (pools_guest_test does)
    auto d = FlotilladProcess::start(o);
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(d).value();
  }
  void TearDown() override {
    if (daemon_ && daemon_->running()) {
      EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->stderr_log();
    }
  }
  std::string dir(const std::string& name) const { return daemon_->work_dir() + "/" + name; }
  HttpClient api() const { return daemon_->client(); }
  // A token with `role`, as a client.
  HttpClient as(const std::string& role) const {
    auto r = api().post("/v1/tokens", json{{"name", role + "-t"}, {"role", role}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return HttpClient::tcp("127.0.0.1", daemon_->port()).with_token(r.json().value("token", ""));
  }
  json make_partitioned(const std::string& name = "fast", uint64_t size = 64 * M) {
    auto r = api().post("/v1/pools", json{{"name", name},
                                          {"type", "partitioned"},
                                          {"path", dir(name + ".img")},
                                          {"size_bytes", size}}
                                         .dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }
  json wait_op(const std::string& id) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    json op;
    while (std::chrono::steady_clock::now() < deadline) {
      op = api().get("/v1/operations/" + id).json();
      const std::string s = op.value("state", "");
      if (s == "succeeded" || s == "failed" || s == "cancelled") return op;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "operation " << id << " did not end: " << op.dump();
    return op;
  }
  void expect_error(const HttpResponse& r, int status, const std::string& field) {
    EXPECT_EQ(r.status, status) << r.body;
    if (!field.empty()) {
      EXPECT_EQ(r.json()["error"].value("field", ""), field) << r.body;
    }
  }
  std::unique_ptr<FlotilladProcess> daemon_;
};

TEST_F(PoolsApiTest, PoolCrudWithCapacityAndUsage) {
  auto r = api().post("/v1/pools",
                      json{{"name", "files"}, {"type", "dir"}, {"path", dir("files")}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("location"), "/v1/pools/" + r.json().value("id", ""));
  EXPECT_TRUE(std::filesystem::is_directory(dir("files")));
  EXPECT_GT(r.json().value("capacity_bytes", 0ULL), 0u);

  const json part = make_partitioned();
  EXPECT_EQ(part.value("type", ""), "partitioned");
  EXPECT_EQ(part.value("capacity_bytes", 0ULL), 63 * M);
  EXPECT_EQ(part.value("free_bytes", 0ULL), 63 * M);
  EXPECT_EQ(part.value("largest_free_bytes", 0ULL), 63 * M);
  EXPECT_EQ(part.value("fragmentation", -1.0), 0.0);
  EXPECT_EQ(part.value("disk_count", -1), 0);
  EXPECT_EQ(std::filesystem::file_size(dir("fast.img")), 64 * M);

  auto list = api().get("/v1/pools");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["items"].size(), 2u);
  EXPECT_EQ(api().get("/v1/pools/fast").json().value("id", ""), part.value("id", ""));
  EXPECT_EQ(api().get("/v1/pools/" + part.value("id", "")).json().value("name", ""), "fast");
  EXPECT_EQ(api().get("/v1/pools/nope").status, 404);

  EXPECT_EQ(api().del("/v1/pools/files").status, 204);
  EXPECT_EQ(api().del("/v1/pools/files").status, 404);
  EXPECT_EQ(api().get("/v1/pools").json()["items"].size(), 1u);
}

TEST_F(PoolsApiTest, BadPoolInputIs4xxAndChangesNothing) {
  make_partitioned();
  const auto before = api().get("/v1/pools").body;
  expect_error(api().post("/v1/pools", R"({"name":"x","type":"dir"})"), 422, "path");
  expect_error(api().post("/v1/pools", R"({"name":"x","type":"lvm","path":"/tmp/x"})"), 422,
               "type");
  expect_error(api().post("/v1/pools", R"({"name":"X!","type":"dir","path":"/tmp/x"})"), 422,
               "name");
  expect_error(api().post("/v1/pools", R"({"name":"x","type":"dir","path":"rel/x"})"), 422, "path");
  expect_error(api().post("/v1/pools", R"({"name":"x","type":"dir","path":"/tmp/x","zz":1})"), 422,
               "zz");
  expect_error(
      api().post("/v1/pools",
                 json{{"name", "x"}, {"type", "partitioned"}, {"path", dir("missing.img")}}.dump()),
      422, "size_bytes");
  expect_error(api().post("/v1/pools", json{{"name", "x"},
                                            {"type", "partitioned"},
                                            {"path", dir("tiny.img")},
                                            {"size_bytes", 1000}}
                                           .dump()),
               422, "size_bytes");
  expect_error(api().post("/v1/pools",
                          json{{"name", "fast"}, {"type", "dir"}, {"path", dir("other")}}.dump()),
               409, "name");
  expect_error(
      api().post(
          "/v1/pools",
          json{{"name", "again"}, {"type", "partitioned"}, {"path", dir("fast.img")}}.dump()),
      409, "path");
  EXPECT_EQ(api().post("/v1/pools", "{", "application/json").status, 400);
  EXPECT_EQ(api().get("/v1/pools").body, before);
  EXPECT_FALSE(std::filesystem::exists(dir("missing.img")));
  EXPECT_FALSE(std::filesystem::exists(dir("tiny.img")));
}

TEST_F(PoolsApiTest, RolesAdminForPoolsOperatorForDisks) {
  make_partitioned();
  auto viewer = as("viewer");
  auto op = as("operator");
  const std::string body = json{{"name", "p2"}, {"type", "dir"}, {"path", dir("p2")}}.dump();
  EXPECT_EQ(viewer.get("/v1/pools").status, 200);
  EXPECT_EQ(viewer.get("/v1/disks").status, 200);
  EXPECT_EQ(op.post("/v1/pools", body).status, 403);
  EXPECT_EQ(op.del("/v1/pools/fast").status, 403);
  EXPECT_EQ(viewer.post("/v1/disks", R"({"name":"d","pool":"fast","size_bytes":1048576})").status,
            403);
  auto d = op.post("/v1/disks", R"({"name":"d","pool":"fast","size_bytes":1048576})");
  EXPECT_EQ(d.status, 201) << d.body;
  EXPECT_EQ(op.del("/v1/disks/d").status, 204);
}

TEST_F(PoolsApiTest, DiskCrudGrowAndBadInput) {
  make_partitioned();
  auto r = api().post("/v1/disks", R"({"name":"root","pool":"fast","size_bytes":8388608})");
  ASSERT_EQ(r.status, 201) << r.body;
  const json disk = r.json();
  EXPECT_EQ(disk.value("format", ""), "raw");
  EXPECT_EQ(disk.value("size_bytes", 0ULL), 8 * M);
  EXPECT_EQ(disk["attached_to"], nullptr);
  ASSERT_EQ(disk["extents"].size(), 1u);
  EXPECT_EQ(disk["extents"][0].value("host_offset", 0ULL), M);
  EXPECT_EQ(disk["extents"][0].value("length", 0ULL), 8 * M);
  EXPECT_EQ(api().get("/v1/pools/fast").json().value("free_bytes", 0ULL), 55 * M);
  EXPECT_EQ(api().get("/v1/pools/fast").json().value("disk_count", 0), 1);

  const auto before = api().get("/v1/disks").body;
  const auto pool_before = api().get("/v1/pools/fast").body;
  expect_error(api().post("/v1/disks", R"({"name":"a","pool":"fast","size_bytes":0})"), 422,
               "size_bytes");
  expect_error(api().post("/v1/disks", R"({"name":"a","pool":"fast","size_bytes":-5})"), 422,
               "size_bytes");
  expect_error(api().post("/v1/disks", R"({"name":"a","pool":"fast","size_bytes":"1G"})"), 422,
               "size_bytes");
  expect_error(api().post("/v1/disks", R"({"name":"a","pool":"fast","size_bytes":1000000})"), 422,
               "size_bytes");  // not a MiB multiple in a partitioned pool
  expect_error(api().post("/v1/disks", R"({"name":"a","pool":"fast","size_bytes":1073741824})"),
               422, "size_bytes");  // more than the pool has
  expect_error(api().post("/v1/disks", R"({"name":"a","pool":"nope","size_bytes":1048576})"), 422,
               "pool");
  expect_error(
      api().post("/v1/disks", R"({"name":"a","pool":"fast","size_bytes":1048576,"format":"vmdk"})"),
      422, "format");
  expect_error(api().post("/v1/disks",
                          R"({"name":"a","pool":"fast","size_bytes":1048576,"format":"qcow2"})"),
               422, "format");
  expect_error(api().post("/v1/disks", R"({"name":"root","pool":"fast","size_bytes":1048576})"),
               409, "name");
  expect_error(api().patch("/v1/disks/root", R"({"size_bytes":4194304})"), 422, "size_bytes");
  expect_error(api().patch("/v1/disks/root", R"({"size_bytes":8388608})"), 422, "size_bytes");
  expect_error(api().patch("/v1/disks/root", R"({"name":"x"})"), 422, "name");
  EXPECT_EQ(api().patch("/v1/disks/nope", R"({"size_bytes":8388608})").status, 404);
  EXPECT_EQ(api().get("/v1/disks").body, before);
  EXPECT_EQ(api().get("/v1/pools/fast").body, pool_before);

  auto grown = api().patch("/v1/disks/root", R"({"size_bytes":12582912})");
  ASSERT_EQ(grown.status, 200) << grown.body;
  EXPECT_EQ(grown.json().value("size_bytes", 0ULL), 12 * M);
  EXPECT_EQ(grown.json()["extents"][0].value("length", 0ULL), 12 * M);  // grown in place

  EXPECT_EQ(api().del("/v1/pools/fast").status, 409);  // holds a disk
  EXPECT_EQ(api().del("/v1/disks/root").status, 204);
  EXPECT_EQ(api().get("/v1/disks/root").status, 404);
  EXPECT_EQ(api().get("/v1/pools/fast").json().value("free_bytes", 0ULL), 63 * M);
  EXPECT_EQ(api().del("/v1/pools/fast").status, 204);
}

TEST_F(PoolsApiTest, AttachDetachAndDeleteWhileAttached) {
  make_partitioned();
  auto d = api().post("/v1/disks", R"({"name":"data","pool":"fast","size_bytes":2097152})");
  ASSERT_EQ(d.status, 201) << d.body;
  const std::string disk_id = d.json().value("id", "");
  for (const char* name : {"vm-a", "vm-b"}) {
    auto v = api().post("/v1/vms", json{{"name", name}, {"boot", {{"kernel", "/k"}}}}.dump());
    ASSERT_EQ(v.status, 201) << v.body;
  }
  auto a = api().post("/v1/vms/vm-a/disks", R"({"disk":"data","read_only":true})");
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json()["disks"].size(), 1u);
  EXPECT_EQ(a.json()["disks"][0].value("disk", ""), disk_id);
  EXPECT_EQ(a.json()["disks"][0].value("read_only", false), true);
  EXPECT_EQ(a.json().value("generation", 0), 2);
  const std::string vm_a = a.json().value("id", "");
  EXPECT_EQ(api().get("/v1/disks/data").json().value("attached_to", ""), vm_a);

  expect_error(api().post("/v1/vms/vm-b/disks", R"({"disk":"data"})"), 409, "");
  expect_error(api().post("/v1/vms/vm-b/disks", R"({"disk":"nope"})"), 422, "disk");
  expect_error(api().post("/v1/vms/vm-b/disks", R"({"disk":"data","x":1})"), 422, "x");
  EXPECT_EQ(api().post("/v1/vms/nope/disks", R"({"disk":"data"})").status, 404);
  auto del = api().del("/v1/disks/data");
  EXPECT_EQ(del.status, 409) << del.body;
  EXPECT_EQ(del.json()["error"].value("code", ""), "invalid_state");
  EXPECT_EQ(api().get("/v1/vms/vm-b").json()["disks"].size(), 0u);

  EXPECT_EQ(api().del("/v1/vms/vm-b/disks/data").status, 404);  // not attached there
  auto detached = api().del("/v1/vms/vm-a/disks/data");
  ASSERT_EQ(detached.status, 200) << detached.body;
  EXPECT_EQ(detached.json()["disks"].size(), 0u);
  EXPECT_EQ(api().get("/v1/disks/data").json()["attached_to"], nullptr);
  EXPECT_EQ(api().del("/v1/disks/data").status, 204);
}

TEST_F(PoolsApiTest, ImportWithProgressIntoBothPoolKinds) {
  const std::string src = dir("source.raw");
  const auto data = pattern(5 * M + 4096, 7);
  {
    std::ofstream out(src, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  ASSERT_EQ(api()
                .post("/v1/pools",
                      json{{"name", "files"}, {"type", "dir"}, {"path", dir("files")}}.dump())
                .status,
            201);
  make_partitioned();
  for (const std::string pool : {"files", "fast"}) {
    const std::string name = "imported-" + pool;
    auto r = api().post("/v1/disks/import",
                        json{{"name", name}, {"pool", pool}, {"source_path", src}}.dump());
    ASSERT_EQ(r.status, 202) << r.body;
    const json op0 = r.json();
    EXPECT_EQ(op0.value("kind", ""), "disk.import");
    EXPECT_EQ(r.header("location"), "/v1/operations/" + op0.value("id", ""));
    const json op = wait_op(op0.value("id", ""));
    ASSERT_EQ(op.value("state", ""), "succeeded") << op.dump() << daemon_->stderr_log();
    EXPECT_EQ(op.value("progress", 0), 100);
    auto disk = api().get("/v1/disks/" + name);
    ASSERT_EQ(disk.status, 200) << disk.body;
    EXPECT_EQ(disk.json().value("id", ""), op.value("target", ""));
    const json d = disk.json();
    if (pool == "files") {
      EXPECT_EQ(d.value("size_bytes", 0ULL), data.size());
      EXPECT_EQ(read_at(d.value("path", ""), 0, data.size()), data);
    } else {
      EXPECT_EQ(d.value("size_bytes", 0ULL), 6 * M);  // rounded up to whole MiB
      std::vector<char> got;
      for (const auto& e : d["extents"]) {
        auto piece =
            read_at(d.value("path", ""), e.value("host_offset", 0ULL), e.value("length", 0ULL));
        got.insert(got.end(), piece.begin(), piece.end());
      }
      got.resize(data.size());
      EXPECT_EQ(got, data);
    }
  }
  // Refused before anything is queued: unknown source, name taken, unknown pool.
  expect_error(
      api().post("/v1/disks/import",
                 json{{"name", "x"}, {"pool", "files"}, {"source_path", dir("nope")}}.dump()),
      422, "source_path");
  expect_error(
      api().post("/v1/disks/import",
                 json{{"name", "imported-fast"}, {"pool", "files"}, {"source_path", src}}.dump()),
      409, "name");
  expect_error(api().post("/v1/disks/import",
                          json{{"name", "x"}, {"pool", "zzz"}, {"source_path", src}}.dump()),
               422, "pool");
}

TEST_F(PoolsApiTest, AFailedImportLeavesNoDiskAndNoSpaceTaken) {
  make_partitioned("small", 4 * M);  // 3 MiB of extents
  const std::string src = dir("big.raw");
  {
    const int fd = ::open(src.c_str(), O_RDWR | O_CREAT, 0600);
    ASSERT_EQ(::ftruncate(fd, 8 * M), 0);
    ::close(fd);
  }
  auto r = api().post("/v1/disks/import",
                      json{{"name", "big"}, {"pool", "small"}, {"source_path", src}}.dump());
  ASSERT_EQ(r.status, 202) << r.body;
  const json op = wait_op(r.json().value("id", ""));
  EXPECT_EQ(op.value("state", ""), "failed") << op.dump();
  EXPECT_NE(op.value("error", "").find("free"), std::string::npos) << op.dump();
  EXPECT_EQ(api().get("/v1/disks/big").status, 404);
  EXPECT_EQ(api().get("/v1/disks").json()["items"].size(), 0u);
  EXPECT_EQ(api().get("/v1/pools/small").json().value("free_bytes", 0ULL), 3 * M);
}

}  // namespace
}  // namespace flotilla::test
