// Enforcement: puts a VM's policy on the real kernel — its cgroup (weight, cap, cpuset), the
// monitor process in it, and its threads' affinity (vCPUs pinned one per dedicated core in
// partition mode). Idempotent: the same call serves VM start, a live PATCH, a reboot of the
// guest (new vCPU threads) and re-adoption after a daemon restart.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scheduler/cgroup.h"
#include "scheduler/cpu_list.h"
#include "scheduler/error.h"
#include "storage/model.h"

namespace flotilla::scheduler {

struct VmPlacement {
  std::string id;
  pid_t pid = 0;  // the monitor process
  storage::CpuPolicy cpu;
  // partition: the dedicated cores (Admission::dedicated); timeshare: the shared cores
  // (Admission::shared / shared_cores()).
  CpuList cpus;
  uint64_t period_us = 100000;  // CFS bandwidth period for the cap
};

// A VM cgroup found under the root (daemon restart): its id, the processes in it, what it is set
// to. For a VM whose spec says partition, `settings.cpus` are the cores it holds (feed them to
// VmDemand::dedicated so admission keeps them).
struct AdoptedVm {
  std::string id;
  std::vector<pid_t> pids;
  CgroupSettings settings;
};

class Enforcer {
 public:
  static Result<std::unique_ptr<Enforcer>, SchedError> create(const CgroupConfig& config);
  explicit Enforcer(std::unique_ptr<Cgroups> cgroups) : cgroups_(std::move(cgroups)) {}

  CgroupVersion version() const { return cgroups_->version(); }
  Cgroups& cgroups() { return *cgroups_; }
  const Cgroups& cgroups() const { return *cgroups_; }

  // The settings a placement turns into (pure).
  static CgroupSettings settings_for(const VmPlacement& p);

  // Cgroup created/updated, process attached (all threads), threads placed.
  Result<void, SchedError> apply(const VmPlacement& p);
  // Only the cgroup and thread placement of an already attached VM (PATCH, core changes).
  Result<void, SchedError> update(const VmPlacement& p) { return apply(p); }
  // After the monitor exited (or to release it): cgroup removed, leftovers moved to the top.
  Result<void, SchedError> remove(std::string_view vm_id);
  // The daemon itself: every thread of `pid` into <root>/daemon at `weight` and onto `cpus` (the
  // shared cores). Its own group keeps VMs from starving it on the shared cores (the root's
  // weight is high so VMs win against unmanaged host tasks; the daemon must not be one of those).
  Result<void, SchedError> place_daemon(pid_t pid, const CpuList& cpus, uint32_t weight = 1000);
  // Moves the daemon back to the top of the hierarchies and removes its group.
  Result<void, SchedError> release_daemon() { return cgroups_->remove(kDaemonGroup); }
  // Every VM cgroup under the root, for re-adoption after a daemon restart.
  Result<std::vector<AdoptedVm>, SchedError> discover() const;

 private:
  std::unique_ptr<Cgroups> cgroups_;
};

}  // namespace flotilla::scheduler
