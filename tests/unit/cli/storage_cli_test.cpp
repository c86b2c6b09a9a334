// Pools, disks and `vm disk`: sizes, argv → requests, and the tables people read.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/app.h"
#include "cli/render.h"
#include "cli/storage_requests.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;

Result<Invocation, int> parse(std::vector<const char*> args, std::string* err_text = nullptr) {
  args.insert(args.begin(), "flotilla");
  std::istringstream in;
  std::ostringstream out, err;
  auto r = parse_args(static_cast<int>(args.size()), args.data(), in, out, err);
  if (err_text) *err_text = err.str();
  return r;
}

TEST(StorageCli, SizesInBytesAndBinaryUnits) {
  EXPECT_EQ(*parse_size("1048576"), 1048576u);
  EXPECT_EQ(*parse_size("512K"), 512u << 10);
  EXPECT_EQ(*parse_size("64M"), 64u << 20);
  EXPECT_EQ(*parse_size("10G"), 10ULL << 30);
  EXPECT_EQ(*parse_size("2GiB"), 2ULL << 30);
  EXPECT_EQ(*parse_size("1t"), 1ULL << 40);
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("G"));
  EXPECT_FALSE(parse_size("10X"));
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
  EXPECT_FALSE(parse_size("17000000000T"));
}

TEST(StorageCli, PoolCommandsMapToTheApi) {
  auto p = parse({"pool", "create", "fast", "--type", "partitioned", "--path", "/dev/vdb"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kPoolCreate);
  EXPECT_EQ(p->request.method, "POST");
  EXPECT_EQ(p->request.target, "/v1/pools");
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"name", "fast"}, {"type", "partitioned"}, {"path", "/dev/vdb"}}));
  p = parse({"pool", "create", "f", "--type", "partitioned", "--path", "/x.img", "--size", "1G"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(json::parse(p->request.body)["size_bytes"], 1ULL << 30);
  EXPECT_EQ(parse({"pool", "create", "f", "--type", "lvm", "--path", "/x"}).error(), kExitUsage);
  std::string err;
  EXPECT_EQ(parse({"pool", "create", "f", "--type", "dir", "--path", "/x", "--size", "big"}, &err)
                .error(),
            kExitUsage);
  EXPECT_NE(err.find("size 'big'"), std::string::npos) << err;
  p = parse({"pool", "list"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.target, "/v1/pools");
  p = parse({"pool", "delete", "fast"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/pools/fast");
}

TEST(StorageCli, DiskCommandsMapToTheApi) {
  auto p = parse({"disk", "create", "root", "--pool", "fast", "--size", "8M"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kDiskCreate);
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"name", "root"}, {"pool", "fast"}, {"size_bytes", 8 << 20}, {"format", "raw"}}));
  p = parse({"disk", "create", "o", "--pool", "f", "--size", "1G", "--format", "qcow2", "--backing",
             "root"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(json::parse(p->request.body)["backing"], "root");
  p = parse({"disk", "resize", "root", "--size", "16M"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "PATCH");
  EXPECT_EQ(p->request.target, "/v1/disks/root");
  EXPECT_EQ(json::parse(p->request.body), (json{{"size_bytes", 16 << 20}}));
  p = parse({"disk", "import", "img", "--pool", "fast", "--source", "/srv/a.qcow2"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kDiskImport);
  EXPECT_EQ(p->request.target, "/v1/disks/import");
  EXPECT_TRUE(p->wait);
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"name", "img"}, {"pool", "fast"}, {"source_path", "/srv/a.qcow2"}}));
  p = parse({"disk", "import", "img", "--pool", "fast", "--source", "/a", "--no-wait"});
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->wait);
  p = parse({"disk", "delete", "root"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/disks/root");
}

TEST(StorageCli, VmDiskAttachDetach) {
  auto p = parse({"vm", "disk", "attach", "web-1", "root", "--read-only"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kVmDiskAttach);
  EXPECT_EQ(p->request.target, "/v1/vms/web-1/disks");
  EXPECT_EQ(json::parse(p->request.body), (json{{"disk", "root"}, {"read_only", true}}));
  p = parse({"vm", "disk", "detach", "web-1", "root"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/vms/web-1/disks/root");
  // The VM commands still parse.
  p = parse({"vm", "list"});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kVmList);
}

TEST(StorageCli, TablesShowCapacityFragmentationAndExtents) {
  const json pools = {{"items",
                       {{{"name", "fast"},
                         {"type", "partitioned"},
                         {"capacity_bytes", 63 << 20},
                         {"free_bytes", 55 << 20},
                         {"largest_free_bytes", 50 << 20},
                         {"fragmentation", 0.0909},
                         {"disk_count", 2},
                         {"path", "/dev/vdb"}}}}};
  const std::string t = render_pool_list(pools);
  EXPECT_NE(t.find("fast"), std::string::npos) << t;
  EXPECT_NE(t.find("63 MiB"), std::string::npos) << t;
  EXPECT_NE(t.find("9.1%"), std::string::npos) << t;
  const json disk = {{"name", "root"},
                     {"pool_name", "fast"},
                     {"size_bytes", 5 << 20},
                     {"attached_to", nullptr},
                     {"extents",
                      {{{"host_offset", 5 << 20}, {"length", 3 << 20}},
                       {{"host_offset", 1 << 20}, {"length", 2 << 20}}}}};
  const std::string d = render_disk(disk);
  EXPECT_NE(d.find("5 MiB+3 MiB, 1 MiB+2 MiB"), std::string::npos) << d;
  EXPECT_NE(render_disk_list({{"items", {disk}}}).find("root"), std::string::npos);
}

}  // namespace
}  // namespace flotilla::cli
