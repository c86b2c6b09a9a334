// Pools, disks and `vm disk`: sizes, argv → requests, and the tables people read.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/render.h"
#include "cli/storage_requests.h"
#include "tests/unit/cli/parse_argv.h"

namespace flotilla::cli {
namespace {

using nlohmann::json;

using test::parse_argv;

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
  auto p =
      parse_argv({"pool", "create", "fast", "--type", "partitioned", "--path", "/dev/vdb"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kPoolCreate);
  EXPECT_EQ(p->request.method, "POST");
  EXPECT_EQ(p->request.target, "/v1/pools");
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"name", "fast"}, {"type", "partitioned"}, {"path", "/dev/vdb"}}));
  p = parse_argv(
          {"pool", "create", "f", "--type", "partitioned", "--path", "/x.img", "--size", "1G"})
          .result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(json::parse(p->request.body)["size_bytes"], 1ULL << 30);
  EXPECT_EQ(parse_argv({"pool", "create", "f", "--type", "lvm", "--path", "/x"}).result.error(),
            kExitUsage);
  auto bad = parse_argv({"pool", "create", "f", "--type", "dir", "--path", "/x", "--size", "big"});
  EXPECT_EQ(bad.result.error(), kExitUsage);
  EXPECT_NE(bad.err.find("size 'big'"), std::string::npos) << bad.err;
  p = parse_argv({"pool", "list"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.target, "/v1/pools");
  p = parse_argv({"pool", "delete", "fast"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/pools/fast");
}

TEST(StorageCli, DiskCommandsMapToTheApi) {
  auto p = parse_argv({"disk", "create", "root", "--pool", "fast", "--size", "8M"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kDiskCreate);
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"name", "root"}, {"pool", "fast"}, {"size_bytes", 8 << 20}, {"format", "raw"}}));
  p = parse_argv({"disk", "create", "o", "--pool", "f", "--size", "1G", "--format", "qcow2",
                  "--backing", "root"})
          .result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(json::parse(p->request.body)["backing"], "root");
  p = parse_argv({"disk", "resize", "root", "--size", "16M"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "PATCH");
  EXPECT_EQ(p->request.target, "/v1/disks/root");
  EXPECT_EQ(json::parse(p->request.body), (json{{"size_bytes", 16 << 20}}));
  p = parse_argv({"disk", "import", "img", "--pool", "fast", "--source", "/srv/a.qcow2"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kDiskImport);
  EXPECT_EQ(p->request.target, "/v1/disks/import");
  EXPECT_TRUE(p->wait);
  EXPECT_EQ(json::parse(p->request.body),
            (json{{"name", "img"}, {"pool", "fast"}, {"source_path", "/srv/a.qcow2"}}));
  p = parse_argv({"disk", "import", "img", "--pool", "fast", "--source", "/a", "--no-wait"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->wait);
  p = parse_argv({"disk", "delete", "root"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/disks/root");
}

TEST(StorageCli, VmDiskAttachDetach) {
  auto p = parse_argv({"vm", "disk", "attach", "web-1", "root", "--read-only"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->command, Command::kVmDiskAttach);
  EXPECT_EQ(p->request.target, "/v1/vms/web-1/disks");
  EXPECT_EQ(json::parse(p->request.body), (json{{"disk", "root"}, {"read_only", true}}));
  p = parse_argv({"vm", "disk", "detach", "web-1", "root"}).result;
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->request.method, "DELETE");
  EXPECT_EQ(p->request.target, "/v1/vms/web-1/disks/root");
  // The VM commands still parse.
  p = parse_argv({"vm", "list"}).result;
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
