// Cgroup file formats: the v1 and v2 writes for a policy, mountinfo parsing and version choice,
// and the v2 backend driven end to end against a temp dir standing in for a cgroup2 mount.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "scheduler/cgroup.h"
#include "scheduler/enforcer.h"
#include "scheduler/policy.h"

namespace flotilla::scheduler {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(CgroupFormat, V2Writes) {
  CgroupSettings s;
  s.weight = 400;
  s.cap_percent = 25;
  s.cpus = {0};
  EXPECT_EQ(v2_writes(s), (std::vector<CgroupWrite>{{"", "cpu.weight", "400"},
                                                    {"", "cpu.max", "25000 100000"},
                                                    {"", "cpuset.cpus", "0"}}));
  CgroupSettings none;
  none.period_us = 20000;
  EXPECT_EQ(v2_writes(none),
            (std::vector<CgroupWrite>{{"", "cpu.weight", "100"}, {"", "cpu.max", "max 20000"}}));
}

TEST(CgroupFormat, V1Writes) {
  CgroupSettings s;
  s.weight = 200;
  s.cap_percent = 150;
  s.period_us = 50000;
  s.cpus = {1, 2, 3};
  EXPECT_EQ(v1_writes(s), (std::vector<CgroupWrite>{{"cpu", "cpu.shares", "2048"},
                                                    {"cpu", "cpu.cfs_quota_us", "-1"},
                                                    {"cpu", "cpu.cfs_period_us", "50000"},
                                                    {"cpu", "cpu.cfs_quota_us", "75000"},
                                                    {"cpuset", "cpuset.cpus", "1-3"}}));
  CgroupSettings none;
  EXPECT_EQ(v1_writes(none), (std::vector<CgroupWrite>{{"cpu", "cpu.shares", "1024"},
                                                       {"cpu", "cpu.cfs_quota_us", "-1"},
                                                       {"cpu", "cpu.cfs_period_us", "100000"}}));
}

TEST(CgroupFormat, PlacementSettings) {
  VmPlacement p;
  p.cpu.weight = 300;
  p.cpu.cap_percent = 50;
  p.cpus = {0};
  auto s = Enforcer::settings_for(p);
  EXPECT_EQ(s.weight, 300u);
  EXPECT_EQ(s.cap_percent, 50u);
  p.cpu.mode = storage::CpuMode::partition;
  p.cpu.dedicated_cores = 2;
  p.cpus = {1, 2};
  s = Enforcer::settings_for(p);
  EXPECT_EQ(s.weight, 200u);
  EXPECT_EQ(s.cap_percent, 0u);
  EXPECT_EQ(s.cpus, (CpuList{1, 2}));
}

constexpr const char* kMountinfoV1 =
    "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
    "30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "33 30 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:30 /sub /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

TEST(CgroupDetect, ParsesV1WithUnifiedBeside) {
  auto m = parse_mountinfo(kMountinfoV1);
  EXPECT_EQ(m.cpu, "/sys/fs/cgroup/cpu");
  EXPECT_EQ(m.cpuacct, "/sys/fs/cgroup/cpuacct");
  EXPECT_EQ(m.cpuset, "/sys/fs/cgroup/cpuset");
  EXPECT_EQ(m.v2, "/sys/fs/cgroup/unified");
  // The unified mount has no controllers (they are bound to v1): v1 it is.
  EXPECT_EQ(choose_version(m, {}), CgroupVersion::v1);
  EXPECT_EQ(choose_version(m, {"cpuset", "cpu", "io"}), CgroupVersion::v2);
}

TEST(CgroupDetect, ParsesPureV2AndCombinedV1) {
  auto v2 = parse_mountinfo("29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
  EXPECT_EQ(v2.v2, "/sys/fs/cgroup");
  EXPECT_TRUE(v2.cpu.empty());
  EXPECT_EQ(choose_version(v2, {"cpu", "memory"}), CgroupVersion::v2);
  EXPECT_EQ(choose_version(v2, {"memory"}), CgroupVersion::none);
  auto combined = parse_mountinfo(
      "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n");
  EXPECT_EQ(combined.cpu, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(combined.cpuacct, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_TRUE(combined.cpuset.empty());
}

TEST(CgroupDetect, ThisHostIsUsable) {
  CgroupConfig c;
  c.root_name = "flotilla-unit-" + std::to_string(::getpid());
  auto cg = Cgroups::open(c);
  ASSERT_TRUE(cg) << cg.error().message;
  EXPECT_NE((*cg)->version(), CgroupVersion::none);
  EXPECT_TRUE((*cg)->remove_root());
}

class FakeV2Tree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sched-v2-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    top_ = tmpl;
    std::ofstream(top_ / "cgroup.controllers") << "cpuset cpu io memory pids\n";
  }
  void TearDown() override { fs::remove_all(top_); }
  std::unique_ptr<Cgroups> open() {
    CgroupConfig c;
    c.root_name = "flotilla";
    c.version = CgroupVersion::v2;
    c.mounts = CgroupMounts{top_.string(), "", "", ""};
    c.fake_tree = true;
    c.root_weight = 1000;
    auto cg = Cgroups::open(c);
    EXPECT_TRUE(cg) << cg.error().message;
    return cg ? std::move(*cg) : nullptr;
  }
  fs::path top_;
};

TEST_F(FakeV2Tree, CreatesConfiguresAttachesAdoptsAndRemoves) {
  auto cg = open();
  ASSERT_TRUE(cg);
  EXPECT_EQ(slurp(top_ / "flotilla/cgroup.subtree_control"), "+cpu +cpuset");
  EXPECT_EQ(slurp(top_ / "flotilla/cpu.weight"), "1000");
  CgroupSettings s;
  s.weight = 250;
  s.cap_percent = 25;
  s.cpus = {0};
  ASSERT_TRUE(cg->configure("abc", s));
  const fs::path vm = top_ / "flotilla/vm-abc";
  EXPECT_EQ(cg->vm_path("abc"), vm.string());
  EXPECT_EQ(slurp(vm / "cpu.weight"), "250");
  EXPECT_EQ(slurp(vm / "cpu.max"), "25000 100000");
  EXPECT_EQ(slurp(vm / "cpuset.cpus"), "0");
  ASSERT_TRUE(cg->attach("abc", 4242));
  auto procs = cg->procs("abc");
  ASSERT_TRUE(procs);
  EXPECT_EQ(*procs, std::vector<pid_t>{4242});
  // Live change.
  s.cap_percent = 0;
  s.weight = 100;
  ASSERT_TRUE(cg->configure("abc", s));
  EXPECT_EQ(slurp(vm / "cpu.max"), "max 100000");
  // Usage from cpu.stat.
  std::ofstream(vm / "cpu.stat") << "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                                    "nr_periods 10\nnr_throttled 3\nthrottled_usec 700\n";
  auto u = cg->usage("abc");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->cpu_ns, 1500000u);
  EXPECT_EQ(u->nr_throttled, 3u);
  EXPECT_EQ(u->throttled_ns, 700000u);
  fs::remove(vm / "cpu.stat");
  // Adoption reads it back.
  s.cap_percent = 40;
  s.period_us = 50000;
  ASSERT_TRUE(cg->configure("abc", s));
  Enforcer enforcer(std::move(cg));
  auto found = enforcer.discover();
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "abc");
  EXPECT_EQ((*found)[0].settings, s);
  EXPECT_EQ((*found)[0].pids, std::vector<pid_t>{4242});
  ASSERT_TRUE(enforcer.remove("abc"));
  EXPECT_FALSE(fs::exists(vm));
  ASSERT_TRUE(enforcer.cgroups().remove_root());
  EXPECT_FALSE(fs::exists(top_ / "flotilla"));
}

TEST_F(FakeV2Tree, MissingControllerIsAnErrorUnlessDefault) {
  std::ofstream(top_ / "cgroup.controllers") << "memory pids\n";
  auto cg = open();
  ASSERT_TRUE(cg);
  EXPECT_FALSE(fs::exists(top_ / "flotilla/cgroup.subtree_control"));
  ASSERT_TRUE(cg->configure("d", CgroupSettings{}));  // defaults need no controller
  CgroupSettings s;
  s.weight = 300;
  auto r = cg->configure("d", s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, SchedErrc::no_cgroups);
  EXPECT_NE(r.error().message.find("'cpu'"), std::string::npos) << r.error().message;
  ASSERT_TRUE(cg->remove("d"));
  ASSERT_TRUE(cg->remove_root());
}

}  // namespace
}  // namespace flotilla::scheduler
