#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "scheduler/accounting.h"
#include "scheduler/json.h"
#include "scheduler/threads.h"

namespace flotilla::scheduler {
namespace {

TEST(Accounting, ParsesSchedstat) {
  auto s = parse_schedstat("123456789 2000 17\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->cpu_ns, 123456789u);
  EXPECT_EQ(s->wait_ns, 2000u);
  EXPECT_EQ(s->timeslices, 17u);
  EXPECT_FALSE(parse_schedstat("12 x"));
}

TEST(Accounting, VcpuIndexFromComm) {
  EXPECT_EQ(vcpu_index("vcpu0"), 0u);
  EXPECT_EQ(vcpu_index("vcpu12"), 12u);
  EXPECT_FALSE(vcpu_index("vcpu"));
  EXPECT_FALSE(vcpu_index("devices"));
  EXPECT_FALSE(vcpu_index("vcpu1x"));
  EXPECT_FALSE(vcpu_index("blk0w1"));
}

TEST(Accounting, ExitCountersFromMonitorStats) {
  auto stats = nlohmann::json::parse(
      R"({"exits":{"io":10,"mmio":4,"hlt":0},"exits_total":14,"vcpu_exits":[9,5],"reboots":1})");
  auto c = exit_counters_from_stats(stats);
  EXPECT_EQ(c.by_reason.at("io"), 10u);
  EXPECT_EQ(c.by_reason.at("mmio"), 4u);
  EXPECT_EQ(c.total, 14u);
  EXPECT_EQ(c.per_vcpu, (std::vector<uint64_t>{9, 5}));
  EXPECT_EQ(c.reboots, 1u);
  EXPECT_TRUE(exit_counters_from_stats(nlohmann::json()).by_reason.empty());
}

VmSample sample(int64_t at_s, uint64_t cg_ns, uint64_t v0_cpu, uint64_t v0_wait, uint64_t io,
                uint64_t reboots = 0) {
  VmSample s;
  s.at_ns = at_s * 1000000000;
  s.cgroup = CgroupUsage{cg_ns, 2, 5000};
  s.threads = {{100, "flotilla-vmm", 1000, 0, 1},
               {101, "vcpu0", v0_cpu, v0_wait, 1},
               {102, "devices", 10, 0, 1}};
  ExitCounters e;
  e.by_reason["io"] = io;
  e.total = io;
  e.per_vcpu = {io};
  e.reboots = reboots;
  s.exits = e;
  return s;
}

TEST(Accounting, RatesOverAnInterval) {
  const VmSample a = sample(10, 1'000'000'000, 900'000'000, 100'000'000, 1000);
  const VmSample b = sample(12, 2'500'000'000, 2'300'000'000, 500'000'000, 5000);
  VmAccounting acc = account(a, b);
  EXPECT_DOUBLE_EQ(acc.interval_s, 2.0);
  EXPECT_EQ(acc.cpu_ns, 2'500'000'000u);
  EXPECT_NEAR(acc.cpu_percent, 75.0, 1e-9);  // 1.5 s of CPU in 2 s
  ASSERT_EQ(acc.vcpus.size(), 1u);
  EXPECT_EQ(acc.vcpus[0].tid, 101);
  EXPECT_NEAR(acc.vcpus[0].cpu_percent, 70.0, 1e-9);
  EXPECT_NEAR(acc.vcpus[0].wait_percent, 20.0, 1e-9);
  EXPECT_NEAR(acc.wait_percent, 20.0, 1e-9);
  EXPECT_NEAR(acc.exits_per_sec.at("io"), 2000.0, 1e-9);
  EXPECT_NEAR(acc.exits_per_sec_total, 2000.0, 1e-9);
  EXPECT_NEAR(acc.vcpus[0].exits_per_sec, 2000.0, 1e-9);
  EXPECT_EQ(acc.throttled_ns, 5000u);

  // A guest reboot restarts the monitor's counters: count from zero.
  const VmSample c = sample(14, 3'000'000'000, 2'400'000'000, 500'000'000, 600, 1);
  EXPECT_NEAR(account(b, c).exits_per_sec.at("io"), 300.0, 1e-9);
  // No earlier exit counters: no rate rather than a spike.
  VmSample d = a;
  d.exits.reset();
  EXPECT_TRUE(account(d, b).exits_per_sec.empty());

  auto j = to_json(acc);
  EXPECT_DOUBLE_EQ(j["cpu_seconds"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(j["vcpus"][0]["wait_percent"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(j["exits_per_second"]["io"].get<double>(), 2000.0);
  std::string m = metrics_header();
  append_metrics(m, "id1", "web", acc);
  EXPECT_NE(m.find("flotilla_vm_cpu_seconds_total{vm=\"web\",id=\"id1\"} 2.5"), std::string::npos)
      << m;
  EXPECT_NE(m.find("flotilla_vm_vcpu_wait_seconds_total{vm=\"web\",id=\"id1\",vcpu=\"0\"} 0.5"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("flotilla_vm_exits_per_second{vm=\"web\",id=\"id1\",reason=\"io\"} 2000"),
            std::string::npos)
      << m;
}

TEST(Accounting, ThisProcessHasThreadStats) {
  auto t = read_thread_stats(::getpid());
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_FALSE(t->empty());
  EXPECT_EQ((*t)[0].tid, ::getpid());
  EXPECT_GT((*t)[0].cpu_ns, 0u);
  auto none = read_thread_stats(0x7ffffff0);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, SchedErrc::not_found);
}

}  // namespace
}  // namespace flotilla::scheduler
