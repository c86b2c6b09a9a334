// Scheduling: admission, placement and re-placement (daemon/scheduling.h). Accounting is in
// accounting_loop.cpp.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "daemon/scheduling.h"
#include "scheduler/json.h"
#include "scheduler/policy.h"

namespace flotilla::daemon {

using api::api_error;
using api::ApiErrc;
namespace sch = scheduler;

namespace {

// Where a refusal points in the VM's definition.
std::string field_of(const std::string& resource) {
  if (resource == "cores") return "cpu.dedicated_cores";
  if (resource == "vcpus") return "vcpus";
  if (resource.rfind("memory", 0) == 0) return "memory_mib";
  return resource;
}

api::ApiError to_api(const sch::SchedError& e) {
  switch (e.code) {
    case sch::SchedErrc::invalid_policy:
      return api_error(ApiErrc::validation_failed, e.message, e.field);
    case sch::SchedErrc::refused:
      return api_error(ApiErrc::insufficient_resources, e.resource + ": " + e.message,
                       field_of(e.resource));
    default:
      return api_error(ApiErrc::unavailable, "scheduler: " + e.message);
  }
}

sch::HostResources host_resources(const SchedulingOptions& o) {
  auto probed = sch::probe_host_resources();
  sch::HostResources h;
  if (probed) {
    h = *probed;
  } else {
    spdlog::error("scheduler: {}; assuming one core and no memory to admit against",
                  probed.error().message);
    h.cores = {0};
  }
  if (o.memory_limit_bytes != 0) {
    h.memory_bytes = o.memory_limit_bytes;
    h.host_reserved_bytes = 0;  // the limit already leaves the host its share
  }
  h.overcommit_ratio = o.overcommit_ratio;
  h.min_shared_cores = o.min_shared_cores;
  h.max_vcpus = o.max_vcpus;
  return h;
}

bool is_partition(const sch::VmDemand& d) {
  return d.cpu.mode == storage::CpuMode::partition;
}

}  // namespace

std::unique_ptr<Scheduling> Scheduling::create(SchedulingOptions options) {
  sch::HostResources host = host_resources(options);
  sch::CgroupConfig cg;
  cg.root_name = options.cgroup_root;
  cg.root_weight = options.root_weight;
  auto enforcer = sch::Enforcer::create(cg);
  std::unique_ptr<sch::Enforcer> owned;
  if (enforcer) {
    owned = std::move(*enforcer);
    spdlog::info("scheduler: cgroup {} under '{}', {} cores, {} MiB", to_string(owned->version()),
                 options.cgroup_root, host.cores.size(), host.memory_bytes >> 20);
  } else {
    spdlog::warn(
        "scheduler: no enforcement ({}); VMs with a weight, cap or dedicated cores "
        "will be refused",
        enforcer.error().message);
  }
  return std::unique_ptr<Scheduling>(
      new Scheduling(std::move(options), std::move(host), std::move(owned)));
}

Scheduling::Scheduling(SchedulingOptions options, sch::HostResources host,
                       std::unique_ptr<sch::Enforcer> enforcer)
    : opt_(std::move(options)), host_(std::move(host)), enforcer_(std::move(enforcer)) {
  shared_ = sch::shared_cores(host_, {});
  if (enforcer_) {
    if (auto found = enforcer_->discover(); found) {
      for (auto& a : *found) adopted_[a.id] = a.settings;
    }
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sched-acct");
    run_accounting();
  });
}

Scheduling::~Scheduling() {
  stop();
}

void Scheduling::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

api::ApiResult<void> Scheduling::validate(const storage::VmSpec& spec) const {
  auto ok =
      sch::validate_spec(spec, static_cast<uint32_t>(host_.cores.size()), host_.min_shared_cores);
  if (!ok) return fail(to_api(ok.error()));
  if (spec.vcpus > host_.max_vcpus) {
    return fail(api_error(ApiErrc::validation_failed,
                          "vcpus: " + std::to_string(spec.vcpus) +
                              " is above this host's limit of " + std::to_string(host_.max_vcpus),
                          "vcpus"));
  }
  return {};
}

api::ApiResult<void> Scheduling::needs_enforcer(const storage::VmSpec& spec) const {
  if (enforcer_) return {};
  const auto& c = spec.cpu;
  if (c.mode == storage::CpuMode::partition || c.cap_percent != 0 ||
      c.weight != sch::kDefaultWeight) {
    return fail(api_error(ApiErrc::unavailable,
                          "cpu: this host has no usable cgroup hierarchy, so a weight, a cap or "
                          "dedicated cores cannot be enforced; use the defaults",
                          "cpu"));
  }
  return {};
}

std::vector<sch::VmDemand> Scheduling::others(const std::string& vm_id) const {
  std::vector<sch::VmDemand> out;
  for (const auto& [id, h] : held_) {
    if (id != vm_id) out.push_back(h.demand);
  }
  return out;
}

api::ApiResult<void> Scheduling::admit(const storage::VmRecord& vm) {
  if (auto ok = validate(vm.spec); !ok) return ok;
  if (auto ok = needs_enforcer(vm.spec); !ok) return ok;
  std::lock_guard lock(mu_);
  sch::CpuList keep;
  if (auto it = held_.find(vm.id); it != held_.end()) keep = it->second.demand.dedicated;
  const sch::VmDemand want = sch::demand_from_spec(vm.id, vm.spec, keep);
  auto adm = sch::admit(host_, others(vm.id), want);
  if (!adm) return fail(to_api(adm.error()));
  Held& h = held_[vm.id];
  h.demand = want;
  h.demand.dedicated = adm->dedicated;
  h.pid = 0;
  h.last.reset();
  h.accounting.reset();
  spread_shared_locked();
  return {};
}

api::ApiResult<void> Scheduling::check_change(const storage::VmRecord& vm,
                                              const storage::VmSpec& next) const {
  if (auto ok = validate(next); !ok) return ok;
  if (auto ok = needs_enforcer(next); !ok) return ok;
  std::lock_guard lock(mu_);
  auto it = held_.find(vm.id);
  if (it == held_.end()) return {};  // admitted at its next start
  sch::VmDemand want = it->second.demand;
  want.cpu = next.cpu;
  auto adm = sch::admit(host_, others(vm.id), want);
  if (!adm) return fail(to_api(adm.error()));
  return {};
}

api::ApiResult<void> Scheduling::change(const storage::VmRecord& vm) {
  std::lock_guard lock(mu_);
  auto it = held_.find(vm.id);
  if (it == held_.end()) return {};
  Held& h = it->second;
  sch::VmDemand want = h.demand;
  want.cpu = vm.spec.cpu;  // vCPUs and memory change at the next start
  auto adm = sch::admit(host_, others(vm.id), want);
  if (!adm) return fail(to_api(adm.error()));
  h.demand = want;
  h.demand.dedicated = adm->dedicated;
  apply_locked(vm.id, h);
  spread_shared_locked();
  spdlog::info("vm {}: CPU policy changed live", vm.spec.name);
  return {};
}

void Scheduling::placed(const std::string& vm_id, pid_t pid) {
  std::lock_guard lock(mu_);
  auto it = held_.find(vm_id);
  if (it == held_.end()) return;
  if (it->second.pid != pid) {
    it->second.last.reset();
    it->second.accounting.reset();
  }
  it->second.pid = pid;
  apply_locked(vm_id, it->second);
}

void Scheduling::release(const std::string& vm_id) {
  std::lock_guard lock(mu_);
  if (held_.erase(vm_id) == 0) return;
  if (enforcer_) {
    if (auto r = enforcer_->remove(vm_id); !r) {
      spdlog::warn("vm {}: cannot remove its cgroup: {}", vm_id, r.error().message);
    }
  }
  spread_shared_locked();
}

void Scheduling::adopt(const storage::VmRecord& vm, pid_t pid) {
  std::lock_guard lock(mu_);
  sch::CpuList dedicated;
  if (auto it = adopted_.find(vm.id);
      it != adopted_.end() && vm.spec.cpu.mode == storage::CpuMode::partition) {
    dedicated = it->second.cpus;
  }
  sch::VmDemand want = sch::demand_from_spec(vm.id, vm.spec, dedicated);
  auto adm = sch::admit(host_, others(vm.id), want);
  Held& h = held_[vm.id];
  if (adm) {
    want.dedicated = adm->dedicated;
  } else {
    // It runs already: keep it (and the cores it has), and say that the host is over-committed
    // until it stops.
    spdlog::warn("vm {}: re-attached beyond what admission allows: {}", vm.spec.name,
                 adm.error().message);
  }
  h.demand = want;
  h.pid = pid;
}

void Scheduling::finish_recovery(const std::vector<std::string>& known) {
  std::lock_guard lock(mu_);
  const std::set<std::string> ours(known.begin(), known.end());
  if (enforcer_) {
    for (const auto& [id, settings] : adopted_) {
      if (held_.count(id) != 0 || ours.count(id) == 0) continue;
      if (auto r = enforcer_->remove(id); !r) {
        spdlog::warn("vm {}: cannot remove its stale cgroup: {}", id, r.error().message);
      } else {
        spdlog::info("vm {}: removed the cgroup a monitor that ended left", id);
      }
    }
  }
  adopted_.clear();
  shared_ = sch::shared_cores(host_, others(""));
  for (auto& [id, h] : held_) apply_locked(id, h);
  if (enforcer_ && opt_.place_daemon) {
    if (auto r = enforcer_->place_daemon(::getpid(), shared_, opt_.daemon_weight); !r) {
      spdlog::warn("scheduler: cannot place flotillad on the shared cores: {}", r.error().message);
    }
  }
}

void Scheduling::apply_locked(const std::string& vm_id, Held& h) {
  if (!enforcer_ || h.pid <= 0) return;
  sch::VmPlacement p;
  p.id = vm_id;
  p.pid = h.pid;
  p.cpu = h.demand.cpu;
  p.cpus = is_partition(h.demand) ? h.demand.dedicated : shared_;
  if (auto r = enforcer_->apply(p); !r) {
    spdlog::warn("vm {}: cannot apply its CPU policy: {}", h.demand.name, r.error().message);
  }
}

// The shared cores follow the partitions: when they change, every timeshare VM and the daemon
// move onto the new set.
void Scheduling::spread_shared_locked() {
  sch::CpuList now = sch::shared_cores(host_, others(""));
  if (now == shared_) return;
  shared_ = std::move(now);
  for (auto& [id, h] : held_) {
    if (!is_partition(h.demand)) apply_locked(id, h);
  }
  if (enforcer_ && opt_.place_daemon) {
    if (auto r = enforcer_->place_daemon(::getpid(), shared_, opt_.daemon_weight); !r) {
      spdlog::warn("scheduler: cannot move flotillad to cores {}: {}",
                   sch::format_cpu_list(shared_), r.error().message);
    }
  }
}

nlohmann::json Scheduling::inventory_json() const {
  std::lock_guard lock(mu_);
  nlohmann::json j = sch::to_json(sch::inventory(host_, others("")),
                                  enforcer_ ? enforcer_->version() : sch::CgroupVersion::none);
  j["cgroup_root"] = opt_.cgroup_root;
  j["enforced"] = enforcer_ != nullptr;
  j["max_vcpus"] = host_.max_vcpus;
  return j;
}

}  // namespace flotilla::daemon
