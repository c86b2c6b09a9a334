// The monitor's threads as the host kernel sees them: /proc/<pid>/task/<tid>/comm names them
// (`vcpu<N>`, `devices`, `blk<N>w<i>`, the main thread), sched_setaffinity places them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scheduler/cpu_list.h"
#include "scheduler/error.h"

namespace flotilla::scheduler {

struct ThreadInfo {
  pid_t tid = 0;
  std::string comm;
};
Result<std::vector<ThreadInfo>, SchedError> list_threads(pid_t pid);
// "vcpu3" → 3; anything else → nullopt.
std::optional<uint32_t> vcpu_index(std::string_view comm);

Result<void, SchedError> set_thread_affinity(pid_t tid, const CpuList& cpus);
Result<CpuList, SchedError> thread_affinity(pid_t tid);
// Every thread of `pid` (0 = this process: the daemon keeps off dedicated cores).
Result<void, SchedError> set_process_affinity(pid_t pid, const CpuList& cpus);

// Placement of a monitor's threads (README.md "Partition"): every thread on `cpus`; with
// `pin_vcpus`, thread vcpuN alone on cpus[N % size] (one dedicated core per vCPU).
Result<void, SchedError> place_threads(pid_t pid, const CpuList& cpus, bool pin_vcpus);

// EEVDF's per-task slice (sched_setattr, SCHED_OTHER with sched_runtime; Linux ≥ 6.12, clamped
// by the kernel to 0.1..100 ms); 0 = back to the default. Used by bench/sched (a).
Result<void, SchedError> set_thread_slice(pid_t tid, uint64_t slice_ns);

}  // namespace flotilla::scheduler
