#include "scheduler/enforcer.h"

#include "scheduler/policy.h"
#include "scheduler/threads.h"

namespace flotilla::scheduler {

Result<std::unique_ptr<Enforcer>, SchedError> Enforcer::create(const CgroupConfig& config) {
  auto cg = Cgroups::open(config);
  if (!cg) return fail(cg.error());
  return std::make_unique<Enforcer>(std::move(*cg));
}

CgroupSettings Enforcer::settings_for(const VmPlacement& p) {
  CgroupSettings s;
  s.period_us = p.period_us;
  s.cpus = p.cpus;
  if (p.cpu.mode == storage::CpuMode::partition) {
    s.weight = partition_weight(p.cpu.dedicated_cores);
    s.cap_percent = 0;
  } else {
    s.weight = p.cpu.weight;
    s.cap_percent = p.cpu.cap_percent;
  }
  return s;
}

Result<void, SchedError> Enforcer::apply(const VmPlacement& p) {
  if (p.pid <= 0)
    return fail(sched_error(SchedErrc::not_found, "VM " + p.id + " has no monitor pid"));
  if (auto r = cgroups_->configure(p.id, settings_for(p)); !r) return r;
  if (auto r = cgroups_->attach(p.id, p.pid); !r) return r;
  CpuList cpus = p.cpus;
  if (cpus.empty()) {
    auto all = cgroups_->root_cpus();
    if (!all) return fail(all.error());
    cpus = *all;
  }
  return place_threads(p.pid, cpus, p.cpu.mode == storage::CpuMode::partition);
}

Result<void, SchedError> Enforcer::place_daemon(pid_t pid, const CpuList& cpus, uint32_t weight) {
  CgroupSettings s;
  s.weight = weight;
  s.cpus = cpus;
  if (auto r = cgroups_->configure(kDaemonGroup, s); !r) return r;
  if (auto r = cgroups_->attach(kDaemonGroup, pid); !r) return r;
  if (cpus.empty()) return {};
  return place_threads(pid, cpus, false);
}

Result<void, SchedError> Enforcer::remove(std::string_view vm_id) {
  return cgroups_->remove(vm_id);
}

Result<std::vector<AdoptedVm>, SchedError> Enforcer::discover() const {
  auto ids = cgroups_->list_vms();
  if (!ids) return fail(ids.error());
  std::vector<AdoptedVm> out;
  for (const auto& id : *ids) {
    AdoptedVm a;
    a.id = id;
    auto s = cgroups_->read_settings(id);
    if (!s) continue;  // removed meanwhile
    a.settings = *s;
    if (auto p = cgroups_->procs(id)) a.pids = *p;
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace flotilla::scheduler
