// Accounting per VM and per vCPU: CPU time and time runnable but waiting for a host CPU (the
// guest's "steal") from /proc/<pid>/task/<tid>/schedstat, the VM's CPU time from its cgroup,
// and exits per second by reason from two `stats` replies of the monitor (the daemon owns the
// control socket and hands the JSON in).
//
// Take a VmSample every few seconds; account(prev, now) gives rates over the interval and the
// cumulative counters (a Prometheus counter is the cumulative value, a gauge the rate).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scheduler/cgroup.h"
#include "scheduler/error.h"

namespace flotilla::scheduler {

struct ThreadStat {
  pid_t tid = 0;
  std::string comm;
  uint64_t cpu_ns = 0;      // schedstat field 1: time on a CPU
  uint64_t wait_ns = 0;     // field 2: runnable, waiting on a run queue
  uint64_t timeslices = 0;  // field 3: times it ran
};
// Pure: "<run_ns> <wait_ns> <slices>\n".
std::optional<ThreadStat> parse_schedstat(std::string_view text);
Result<std::vector<ThreadStat>, SchedError> read_thread_stats(pid_t pid);

// Monitor exit counters (cumulative, per boot), from the `stats` object of a `stats` reply:
// {"exits":{"io":n,...},"exits_total":n,"vcpu_exits":[n,...]}.
struct ExitCounters {
  std::map<std::string, uint64_t> by_reason;
  std::vector<uint64_t> per_vcpu;
  uint64_t total = 0;
  uint64_t reboots = 0;  // a change means the counters restarted
};
ExitCounters exit_counters_from_stats(const nlohmann::json& stats);

struct VmSample {
  int64_t at_ns = 0;  // CLOCK_MONOTONIC
  std::optional<CgroupUsage> cgroup;
  std::vector<ThreadStat> threads;
  std::optional<ExitCounters> exits;
};
// `cgroups` may be null (no cgroup: the VM's CPU time is then the sum of its live threads).
Result<VmSample, SchedError> sample_vm(pid_t pid, const Cgroups* cgroups, std::string_view vm_id,
                                       std::optional<ExitCounters> exits = std::nullopt);

struct VcpuAccounting {
  uint32_t index = 0;
  pid_t tid = 0;
  uint64_t cpu_ns = 0;      // cumulative
  uint64_t wait_ns = 0;     // cumulative
  double cpu_percent = 0;   // of one host core over the interval
  double wait_percent = 0;  // runnable but not running ("steal" seen by the guest)
  double exits_per_sec = 0;
};
struct VmAccounting {
  double interval_s = 0;
  uint64_t cpu_ns = 0;     // cumulative: cgroup usage, else sum of threads
  uint64_t wait_ns = 0;    // cumulative, live threads
  double cpu_percent = 0;  // of one host core (200 = two cores busy)
  double wait_percent = 0;
  uint64_t throttled_ns = 0;  // cumulative time the cap held it back
  uint64_t nr_throttled = 0;
  std::vector<VcpuAccounting> vcpus;            // by index
  std::map<std::string, double> exits_per_sec;  // by reason
  double exits_per_sec_total = 0;
};
// Rates over [prev, now]; counters that went backwards (a monitor reboot, a thread replaced)
// count from zero.
VmAccounting account(const VmSample& prev, const VmSample& now);

}  // namespace flotilla::scheduler
