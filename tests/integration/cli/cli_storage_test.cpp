// Pools and disks through the real `flotilla` binary: create, list, show, grow, import (waited
// for, the data copied), attach/detach, and errors with their exit codes.
#include <fstream>

#include "cli_test_fixture.h"

namespace flotilla::cli::testing {
namespace {

TEST_F(CliTest, PoolsDisksImportAttach) {
  const std::string dev = daemon_->work_dir() + "/pool.img";
  auto r =
      local({"pool", "create", "fast", "--type", "partitioned", "--path", dev, "--size", "64M"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "63 MiB")) << r.out;
  r = local({"pool", "list"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "fast")) << r.out;
  EXPECT_TRUE(contains(r.out, "partitioned")) << r.out;

  r = local({"disk", "create", "root", "--pool", "fast", "--size", "8M"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "8 MiB")) << r.out;
  r = local({"disk", "resize", "root", "--size", "4M"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "validation_failed")) << r.err;
  r = local({"disk", "resize", "root", "--size", "12M"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "12 MiB")) << r.out;
  r = local({"disk", "create", "x", "--pool", "fast", "--size", "lots"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);

  const std::string src = daemon_->work_dir() + "/src.raw";
  {
    std::ofstream out(src, std::ios::binary);
    for (int i = 0; i < 3 << 20; ++i) out.put(static_cast<char>(i * 7));
  }
  r = local({"disk", "import", "imported", "--pool", "fast", "--source", src});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "disk.import imported: succeeded")) << r.out;
  r = local({"--json", "disk", "show", "imported"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(parse_json(r).value("size_bytes", 0ULL), 3ULL << 20);
  r = local({"disk", "list"});
  EXPECT_TRUE(contains(r.out, "imported") && contains(r.out, "root")) << r.out;

  r = local({"vm", "create", "web", "--kernel", kernel_});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = local({"vm", "disk", "attach", "web", "root", "--read-only"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = local({"disk", "delete", "root"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "invalid_state")) << r.err;
  r = local({"vm", "disk", "detach", "web", "root"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = local({"disk", "delete", "root"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  r = local({"pool", "delete", "fast"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);  // still holds "imported"
}

}  // namespace
}  // namespace flotilla::cli::testing
