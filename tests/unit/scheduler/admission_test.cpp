#include <gtest/gtest.h>

#include "scheduler/admission.h"
#include "scheduler/json.h"

namespace flotilla::scheduler {
namespace {

using storage::CpuMode;
using storage::MemoryMode;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

HostResources host(int cores = 4) {
  HostResources h;
  for (int c = 0; c < cores; ++c) h.cores.push_back(c);
  h.memory_bytes = 16 * kGiB;
  h.host_reserved_bytes = 1 * kGiB;
  h.vm_overhead_bytes = 0;  // round numbers below
  return h;
}

VmDemand vm(std::string id, uint32_t vcpus = 1, uint64_t mem = 1 * kGiB) {
  VmDemand d;
  d.id = id;
  d.name = id;
  d.vcpus = vcpus;
  d.memory_bytes = mem;
  return d;
}

VmDemand partition(std::string id, uint32_t cores, CpuList held = {}) {
  VmDemand d = vm(id, cores);
  d.cpu.mode = CpuMode::partition;
  d.cpu.dedicated_cores = cores;
  d.dedicated = std::move(held);
  return d;
}

TEST(Admission, PartitionTakesHighestFreeCoresAndKeepsCoreZeroShared) {
  auto a = admit(host(4), {}, partition("p1", 2));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->dedicated, (CpuList{2, 3}));
  EXPECT_EQ(a->shared, (CpuList{0, 1}));
  auto b = admit(host(4), {partition("p1", 2, {2, 3})}, partition("p2", 1));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->dedicated, (CpuList{1}));
  EXPECT_EQ(b->shared, (CpuList{0}));
}

TEST(Admission, RefusesWhenNoCoresAreFreeNamingWhatIsLeft) {
  auto r = admit(host(4), {partition("p1", 2, {2, 3})}, partition("p2", 2));
  ASSERT_FALSE(r);
  const auto& e = r.error();
  EXPECT_EQ(e.code, SchedErrc::refused);
  EXPECT_EQ(e.resource, "cores");
  EXPECT_EQ(e.needed, "2 cores to dedicate");
  EXPECT_NE(e.available.find("1 core (1)"), std::string::npos) << e.available;
  EXPECT_NE(e.message.find("VM p2"), std::string::npos) << e.message;
}

TEST(Admission, TwoCoreHostDedicatesOneAndRefusesTheSecond) {
  auto first = admit(host(2), {}, partition("p1", 1));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->dedicated, (CpuList{1}));
  auto second = admit(host(2), {partition("p1", 1, {1})}, partition("p2", 1));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().resource, "cores");
  EXPECT_NE(second.error().available.find("0 cores"), std::string::npos);
}

TEST(Admission, KeepsCoresItAlreadyHolds) {
  auto a = admit(host(4), {}, partition("p1", 2, {1, 3}));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->dedicated, (CpuList{1, 3}));
}

TEST(Admission, TimeshareVcpusLimitedToSharedCores) {
  auto r = admit(host(2), {partition("p1", 1, {1})}, vm("t1", 2));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().resource, "vcpus");
  EXPECT_EQ(r.error().needed, "2 vCPUs on shared cores");
  EXPECT_TRUE(admit(host(2), {partition("p1", 1, {1})}, vm("t1", 1)));
  // A dedication that would leave a running timeshare VM with fewer cores than vCPUs.
  auto d = admit(host(2), {vm("t2", 2)}, partition("p1", 1));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().resource, "cores");
}

TEST(Admission, MaxVcpus) {
  HostResources h = host(4);
  h.max_vcpus = 8;
  auto r = admit(h, {}, vm("big", 9));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().resource, "vcpus");
  EXPECT_EQ(r.error().needed, "9 vCPUs");
}

TEST(Admission, ReservedMemoryMustFit) {
  // usable = 15 GiB.
  VmDemand r1 = vm("r1", 1, 10 * kGiB);
  r1.memory = MemoryMode::reserved;
  ASSERT_TRUE(admit(host(), {}, r1));
  VmDemand r2 = vm("r2", 1, 6 * kGiB);
  r2.memory = MemoryMode::reserved;
  auto r = admit(host(), {r1}, r2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().resource, "memory.reserved");
  EXPECT_EQ(r.error().needed, "6144 MiB reserved");
  EXPECT_EQ(r.error().available, "5120 MiB");
}

TEST(Admission, SharedMemoryCountsAgainstOvercommit) {
  // Shared capacity = 1.5 × (15 GiB − 5 GiB reserved) = 15 GiB.
  VmDemand r1 = vm("r1", 1, 5 * kGiB);
  r1.memory = MemoryMode::reserved;
  std::vector<VmDemand> active = {r1, vm("s1", 1, 8 * kGiB)};
  EXPECT_TRUE(admit(host(), active, vm("s2", 1, 7 * kGiB)));
  auto r = admit(host(), active, vm("s3", 1, 8 * kGiB));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().resource, "memory.shared");
  EXPECT_EQ(r.error().needed, "8192 MiB shared");
  EXPECT_NE(r.error().available.find("7168 MiB"), std::string::npos) << r.error().available;
  // Reserving more would push the shared VMs over the ratio.
  VmDemand r2 = vm("r2", 1, 9 * kGiB);
  r2.memory = MemoryMode::reserved;
  std::vector<VmDemand> full = {vm("s1", 1, 12 * kGiB)};
  auto rr = admit(host(), full, r2);
  ASSERT_FALSE(rr);
  EXPECT_EQ(rr.error().resource, "memory.reserved");
}

TEST(Admission, OverheadCounts) {
  HostResources h = host();
  h.vm_overhead_bytes = 32 * kMiB;
  VmDemand r1 = vm("r1", 1, 15 * kGiB - 16 * kMiB);
  r1.memory = MemoryMode::reserved;
  auto r = admit(h, {}, r1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().needed, "15376 MiB reserved");
}

TEST(Inventory, CoresMemoryAndVms) {
  VmDemand r1 = vm("r1", 1, 2 * kGiB);
  r1.memory = MemoryMode::reserved;
  std::vector<VmDemand> active = {partition("p1", 2, {2, 3}), r1, vm("s1", 1, 4 * kGiB)};
  active[0].memory_bytes = 1 * kGiB;
  Inventory inv = inventory(host(4), active);
  ASSERT_EQ(inv.cores.size(), 4u);
  EXPECT_EQ(inv.cores[0].dedicated_to, "");
  EXPECT_EQ(inv.cores[2].dedicated_to, "p1");
  EXPECT_EQ(inv.cores[3].dedicated_to, "p1");
  EXPECT_EQ(inv.shared_cores, (CpuList{0, 1}));
  EXPECT_EQ(inv.memory.reserved_bytes, 2 * kGiB);
  EXPECT_EQ(inv.memory.shared_bytes, 5 * kGiB);
  EXPECT_EQ(inv.memory.shared_capacity_bytes, 19 * kGiB + 512 * kMiB);  // 1.5 × 13 GiB
  EXPECT_EQ(inv.memory.reserved_available_bytes, 13 * kGiB);
  ASSERT_EQ(inv.vms.size(), 3u);
  EXPECT_EQ(inv.vms[0].cores, (CpuList{2, 3}));
  EXPECT_EQ(inv.vms[2].cores, (CpuList{0, 1}));

  auto j = to_json(inv, CgroupVersion::v1);
  EXPECT_EQ(j["cgroup_version"], "v1");
  EXPECT_EQ(j["cores"][2]["use"], "dedicated");
  EXPECT_EQ(j["cores"][2]["vm"], "p1");
  EXPECT_TRUE(j["cores"][0]["vm"].is_null());
  EXPECT_EQ(j["memory"]["overcommit_ratio"], 1.5);
  EXPECT_EQ(j["vms"][0]["cpu"]["mode"], "partition");
  EXPECT_EQ(j["vms"][1]["memory"]["mode"], "reserved");
}

TEST(Inventory, ProbeThisHost) {
  auto h = probe_host_resources();
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_FALSE(h->cores.empty());
  EXPECT_GT(h->memory_bytes, h->host_reserved_bytes);
  EXPECT_GE(h->host_reserved_bytes, 512 * kMiB);
}

}  // namespace
}  // namespace flotilla::scheduler
