#include <gtest/gtest.h>

#include "scheduler/cpu_list.h"
#include "scheduler/policy.h"

namespace flotilla::scheduler {
namespace {

using storage::CpuMode;

TEST(CpuList, ParsesAndFormatsKernelLists) {
  auto l = parse_cpu_list("0-2,5\n");
  ASSERT_TRUE(l);
  EXPECT_EQ(*l, (CpuList{0, 1, 2, 5}));
  EXPECT_EQ(format_cpu_list(*l), "0-2,5");
  EXPECT_EQ(format_cpu_list({}), "");
  EXPECT_EQ(format_cpu_list({1}), "1");
  EXPECT_EQ(format_cpu_list({0, 1, 3, 4, 5, 7}), "0-1,3-5,7");
  auto empty = parse_cpu_list("\n");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(parse_cpu_list("3-1"));
  EXPECT_FALSE(parse_cpu_list("a"));
  EXPECT_FALSE(parse_cpu_list("-1"));
  EXPECT_EQ(cpu_list_minus({0, 1, 2, 3}, {1, 3}), (CpuList{0, 2}));
}

SchedError bad(const CpuPolicyInput& in, uint32_t vcpus, uint32_t cores = 2) {
  auto r = validate_cpu_policy(in, vcpus, cores);
  EXPECT_FALSE(r) << "accepted";
  return r ? SchedError{} : r.error();
}

TEST(Policy, DefaultsAreValid) {
  auto r = validate_cpu_policy({}, 1, 2);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->weight, 100u);
  EXPECT_EQ(r->cap_percent, 0u);
  EXPECT_EQ(r->mode, CpuMode::timeshare);
}

TEST(Policy, WeightMustBePositiveAndAtMost10000) {
  for (int64_t w : {-5, 0, 10001}) {
    auto e = bad({CpuMode::timeshare, w, 0, 0}, 1);
    EXPECT_EQ(e.code, SchedErrc::invalid_policy);
    EXPECT_EQ(e.field, "cpu.weight") << w;
    EXPECT_NE(e.message.find("cpu.weight"), std::string::npos);
  }
  EXPECT_TRUE(validate_cpu_policy({CpuMode::timeshare, 1, 0, 0}, 1, 2));
  EXPECT_TRUE(validate_cpu_policy({CpuMode::timeshare, 10000, 0, 0}, 1, 2));
}

TEST(Policy, CapZeroIsNoCapAndAbove100PerVcpuIsInvalid) {
  EXPECT_TRUE(validate_cpu_policy({CpuMode::timeshare, 100, 0, 0}, 1, 2));
  EXPECT_TRUE(validate_cpu_policy({CpuMode::timeshare, 100, 100, 0}, 1, 2));
  EXPECT_TRUE(validate_cpu_policy({CpuMode::timeshare, 100, 200, 0}, 2, 2));
  auto e = bad({CpuMode::timeshare, 100, 101, 0}, 1);
  EXPECT_EQ(e.field, "cpu.cap_percent");
  EXPECT_NE(e.message.find("1..100"), std::string::npos) << e.message;
  EXPECT_EQ(bad({CpuMode::timeshare, 100, 201, 0}, 2).field, "cpu.cap_percent");
  EXPECT_EQ(bad({CpuMode::timeshare, 100, -1, 0}, 2).field, "cpu.cap_percent");
}

TEST(Policy, DedicatedCoresWithinTheHost) {
  EXPECT_EQ(bad({CpuMode::partition, 100, 0, 0}, 1).field, "cpu.dedicated_cores");
  auto more = bad({CpuMode::partition, 100, 0, 3}, 1, 2);
  EXPECT_EQ(more.field, "cpu.dedicated_cores");
  EXPECT_NE(more.message.find("more than the host's 2 cores"), std::string::npos) << more.message;
  // One core always stays shared: on 2 cores at most 1 can be dedicated.
  auto all = bad({CpuMode::partition, 100, 0, 2}, 1, 2);
  EXPECT_EQ(all.field, "cpu.dedicated_cores");
  EXPECT_NE(all.message.find("always stay shared"), std::string::npos) << all.message;
  auto ok = validate_cpu_policy({CpuMode::partition, 100, 0, 1}, 1, 2);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->dedicated_cores, 1u);
  EXPECT_TRUE(validate_cpu_policy({CpuMode::partition, 100, 0, 2}, 2, 2, 0));
}

TEST(Policy, VcpusZeroIsInvalid) {
  EXPECT_EQ(bad({}, 0).field, "vcpus");
}

TEST(Policy, SpecValidation) {
  storage::VmSpec spec;
  spec.vcpus = 1;
  spec.cpu.cap_percent = 150;
  auto r = validate_spec(spec, 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "cpu.cap_percent");
  spec.cpu.cap_percent = 25;
  EXPECT_TRUE(validate_spec(spec, 2));
}

TEST(Policy, KernelValues) {
  EXPECT_EQ(v1_shares(100), 1024u);
  EXPECT_EQ(v1_shares(1), 10u);
  EXPECT_EQ(v1_shares(400), 4096u);
  EXPECT_EQ(v1_shares(10000), 102400u);
  EXPECT_EQ(cap_quota_us(0, 100000), -1);
  EXPECT_EQ(cap_quota_us(25, 100000), 25000);
  EXPECT_EQ(cap_quota_us(250, 100000), 250000);
  EXPECT_EQ(cap_quota_us(1, 10000), 1000);  // the kernel's 1 ms minimum
}

}  // namespace
}  // namespace flotilla::scheduler

#include "scheduler/fairness.h"

namespace flotilla::scheduler {
namespace {

TEST(Fairness, WaterFilling) {
  auto s = fair_shares({1, 1, 2, 4}, {1, 1, 1, 1}, 2.0);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_NEAR(s[0], 0.25, 1e-9);
  EXPECT_NEAR(s[1], 0.25, 1e-9);
  EXPECT_NEAR(s[2], 0.5, 1e-9);
  EXPECT_NEAR(s[3], 1.0, 1e-9);
  // The big one is held to its one core; the rest share the second core.
  s = fair_shares({1, 1, 1, 8}, {1, 1, 1, 1}, 2.0);
  EXPECT_NEAR(s[3], 1.0, 1e-9);
  EXPECT_NEAR(s[0], 1.0 / 3, 1e-9);
  // Cascading caps.
  s = fair_shares({1, 10, 10}, {1, 0.2, 0.3}, 1.0);
  EXPECT_NEAR(s[1], 0.2, 1e-9);
  EXPECT_NEAR(s[2], 0.3, 1e-9);
  EXPECT_NEAR(s[0], 0.5, 1e-9);
  // Less capacity than 2 cores: plain proportions.
  s = fair_shares({1, 1, 2, 4}, {1, 1, 1, 1}, 1.6);
  EXPECT_NEAR(s[3], 0.8, 1e-9);
  EXPECT_NEAR(max_relative_error({0.22, 0.25, 0.5, 1.0}, {0.25, 0.25, 0.5, 1.0}), 0.12, 1e-9);
}

}  // namespace
}  // namespace flotilla::scheduler
