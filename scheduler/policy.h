// CPU and memory policies (storage::CpuPolicy / MemoryPolicy): validation against this host,
// and the kernel values a policy turns into.
//
// Rules (README.md): weight 1..10000 (relative share; 100 = default = one nice-0 task);
// cap_percent 0 = no cap, else 1..100 × vcpus (percent of ONE host core for the whole VM);
// partition needs 1..host cores dedicated cores (weight and cap are ignored in partition
// mode, dedicated_cores in timeshare mode).
#pragma once

#include <cstdint>

#include "common/result.h"
#include "scheduler/error.h"
#include "storage/model.h"

namespace flotilla::scheduler {

inline constexpr int64_t kMinWeight = 1;
inline constexpr int64_t kMaxWeight = 10000;
inline constexpr int64_t kDefaultWeight = 100;
inline constexpr uint64_t kDefaultPeriodUs = 100000;  // CFS bandwidth period for caps
inline constexpr uint64_t kMinPeriodUs = 1000;        // kernel limits for cfs_period_us / cpu.max
inline constexpr uint64_t kMaxPeriodUs = 1000000;

// What the API parsed, before narrowing into storage::CpuPolicy (so a negative weight in the
// JSON reaches validation as what it was).
struct CpuPolicyInput {
  storage::CpuMode mode = storage::CpuMode::timeshare;
  int64_t weight = kDefaultWeight;
  int64_t cap_percent = 0;
  int64_t dedicated_cores = 0;
};

// invalid_policy naming the field ("cpu.weight", "cpu.cap_percent", "cpu.dedicated_cores",
// "vcpus") when the policy can never be met on a host with `host_cores` cores of which
// `min_shared_cores` are never dedicated (they run the daemon and the timeshare VMs).
Result<storage::CpuPolicy, SchedError> validate_cpu_policy(const CpuPolicyInput& in, uint32_t vcpus,
                                                           uint32_t host_cores,
                                                           uint32_t min_shared_cores = 1);
Result<void, SchedError> validate_spec(const storage::VmSpec& spec, uint32_t host_cores,
                                       uint32_t min_shared_cores = 1);

// v1 cpu.shares for a weight: 1024 × weight / 100 (weight 100 = 1024 = one nice-0 task),
// clamped to the kernel's [2, 262144].
uint64_t v1_shares(uint64_t weight);
// v2 cpu.weight is the weight itself (same 1..10000 range).
// Weight of a partitioned VM's cgroup: the default per dedicated core. Its cpuset already keeps
// other VMs off its cores; against host tasks Flotilla does not manage it is the Flotilla root
// group's weight (CgroupConfig::root_weight) that counts. A larger weight here would not help and
// would hurt: v1 (and v2) split the root's weight across CPUs by the load of its children, so a
// heavy partition group would leave the root little weight on the shared cores.
uint64_t partition_weight(uint32_t dedicated_cores);

// The CFS bandwidth quota for a cap: cap% of one core per period; -1 = no limit.
int64_t cap_quota_us(uint32_t cap_percent, uint64_t period_us);

}  // namespace flotilla::scheduler
