// Scheduling: flotillad's side of the allocator (scheduler/). It knows which VMs hold which host
// cores and how much memory, refuses a start the host cannot honour (409 naming the resource,
// what it needs and what is left) and a policy it can never honour (422), puts each running VM's
// policy on the kernel (its cgroup's weight, cap and cpuset; its vCPU threads pinned when
// partitioned; the daemon itself kept on the shared cores), re-applies it after a live change,
// a guest reboot and a daemon restart, and samples CPU time, wait ("steal") and exits per second
// for the API and /metrics.
//
// Threads: callers (the supervisor under a VM's mutex, API threads) take `mu_`; the accounting
// thread "sched-acct" samples every interval and takes `mu_` only to read the VM set and store
// results, never while it talks to a monitor. Lock order: a VM's mutex, then `mu_`.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/api_types.h"
#include "scheduler/accounting.h"
#include "scheduler/admission.h"
#include "scheduler/enforcer.h"
#include "storage/model.h"

namespace flotilla::daemon {

struct SchedulingOptions {
  std::string cgroup_root = "flotilla";
  uint32_t root_weight = 1000;    // the VMs' folder against unmanaged host tasks (v2 scale)
  uint32_t daemon_weight = 1000;  // flotillad's own group, beside the VMs
  double overcommit_ratio = scheduler::kDefaultOvercommitRatio;
  uint32_t min_shared_cores = 1;
  // RAM the VMs may have in all (their RAM plus the monitor overhead); 0 = MemTotal minus
  // max(512 MiB, MemTotal / 16) kept for the host.
  uint64_t memory_limit_bytes = 0;
  uint32_t max_vcpus = 64;
  int accounting_interval_ms = 2000;
  bool place_daemon = true;  // move flotillad into <root>/daemon on the shared cores
  // Asked for each sampled VM: the monitor's `stats` object (for exit counters), or null.
  std::function<nlohmann::json(const std::string& vm_id)> monitor_stats;
};

class Scheduling {
 public:
  // Never fails: without a usable cgroup hierarchy the daemon still admits and accounts, and a
  // VM whose policy needs the kernel's help (a weight other than the default, a cap, a
  // partition) is refused at start with 503 saying why.
  static std::unique_ptr<Scheduling> create(SchedulingOptions options);
  ~Scheduling();
  Scheduling(const Scheduling&) = delete;
  Scheduling& operator=(const Scheduling&) = delete;

  // 422 for a policy this host can never meet.
  api::ApiResult<void> validate(const storage::VmSpec& spec) const;
  // Before a monitor is spawned: the VM's cores and memory are held from now on (409 if not
  // available). A VM already holding resources keeps its dedicated cores.
  api::ApiResult<void> admit(const storage::VmRecord& vm);
  // A changed CPU policy for a VM: 422 as validate(); if it holds resources, 409 when the
  // change cannot be admitted now. Changes nothing.
  api::ApiResult<void> check_change(const storage::VmRecord& vm, const storage::VmSpec& next) const;
  // Puts the stored CPU policy of a VM that holds resources onto the kernel (live PATCH).
  api::ApiResult<void> change(const storage::VmRecord& vm);
  // The monitor runs: its cgroup, process and threads get the VM's policy.
  void placed(const std::string& vm_id, pid_t pid);
  // The monitor is gone: cores and memory return, the cgroup goes, and when dedicated cores
  // were freed the timeshare VMs and the daemon spread onto them again.
  void release(const std::string& vm_id);

  // Daemon restart: a monitor re-attached by the supervisor keeps the cores its cgroup has.
  void adopt(const storage::VmRecord& vm, pid_t pid);
  // After every adopt(): cgroups of this store's VMs that were not adopted are removed (`known`:
  // every VM id in the store; other daemons' cgroups under the same root are left alone), and
  // the daemon is placed on the shared cores.
  void finish_recovery(const std::vector<std::string>& known);

  // /v1/host "scheduler".
  nlohmann::json inventory_json() const;
  // The VM's last accounting (GET /v1/vms/{id}/stats "scheduler"), null before two samples.
  nlohmann::json accounting_json(const std::string& vm_id) const;
  // flotilla_vm_cpu_seconds_total and friends for every sampled VM.
  std::string metrics_text() const;
  // Takes a sample of every placed VM now (tests; the thread does it every interval).
  void sample_now();

  void stop();

 private:
  struct Held {
    scheduler::VmDemand demand;  // as admitted: `dedicated` holds the cores it was given
    pid_t pid = 0;               // 0 until placed
    std::optional<scheduler::VmSample> last;
    std::optional<scheduler::VmAccounting> accounting;
    uint64_t reboots = 0;
  };

  Scheduling(SchedulingOptions options, scheduler::HostResources host,
             std::unique_ptr<scheduler::Enforcer> enforcer);
  std::vector<scheduler::VmDemand> others(const std::string& vm_id) const;
  api::ApiResult<void> needs_enforcer(const storage::VmSpec& spec) const;
  void apply_locked(const std::string& vm_id, Held& h);
  void spread_shared_locked();
  void run_accounting();
  void sample_one(const std::string& vm_id, pid_t pid, const nlohmann::json& stats);

  const SchedulingOptions opt_;
  const scheduler::HostResources host_;
  std::unique_ptr<scheduler::Enforcer> enforcer_;  // null: no cgroups here

  mutable std::mutex mu_;
  std::map<std::string, Held> held_;  // GUARDED_BY(mu_)
  scheduler::CpuList shared_;         // GUARDED_BY(mu_): cores the timeshare VMs run on
  std::map<std::string, scheduler::CgroupSettings> adopted_;  // discovered at start

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace flotilla::daemon
