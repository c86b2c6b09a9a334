// Scheduling's accounting thread: every interval, a sample of each placed VM (schedstat per
// thread, cgroup usage, the monitor's exit counters), turned into rates against the previous
// one. A guest reboot (the monitor's reboot counter moved) re-applies the VM's placement, since
// the new vCPU threads must be pinned again.
#include <spdlog/spdlog.h>

#include "daemon/scheduling.h"
#include "scheduler/json.h"

namespace flotilla::daemon {

namespace sch = scheduler;

void Scheduling::run_accounting() {
  std::unique_lock lock(stop_mu_);
  const auto interval = std::chrono::milliseconds(opt_.accounting_interval_ms);
  while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    sample_now();
    lock.lock();
  }
}

void Scheduling::sample_now() {
  std::vector<std::pair<std::string, pid_t>> placed;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, h] : held_) {
      if (h.pid > 0) placed.emplace_back(id, h.pid);
    }
  }
  for (const auto& [id, pid] : placed) {
    // The monitor is asked without mu_ held: a slow monitor must not stall starts and stops.
    const nlohmann::json stats = opt_.monitor_stats ? opt_.monitor_stats(id) : nlohmann::json();
    sample_one(id, pid, stats);
  }
}

void Scheduling::sample_one(const std::string& vm_id, pid_t pid, const nlohmann::json& stats) {
  std::lock_guard lock(mu_);
  auto it = held_.find(vm_id);
  if (it == held_.end() || it->second.pid != pid) return;  // stopped or replaced meanwhile
  Held& h = it->second;
  std::optional<sch::ExitCounters> exits;
  if (stats.is_object()) exits = sch::exit_counters_from_stats(stats);
  auto sample =
      sch::sample_vm(pid, enforcer_ ? &enforcer_->cgroups() : nullptr, vm_id, std::move(exits));
  if (!sample) {
    spdlog::debug("vm {}: no accounting sample: {}", vm_id, sample.error().message);
    return;
  }
  if (sample->exits && h.last && sample->exits->reboots != h.reboots) {
    apply_locked(vm_id, h);  // the guest rebooted: new vCPU threads
  }
  if (sample->exits) h.reboots = sample->exits->reboots;
  if (h.last) h.accounting = sch::account(*h.last, *sample);
  h.last = std::move(*sample);
}

nlohmann::json Scheduling::accounting_json(const std::string& vm_id) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(vm_id);
  if (it == held_.end()) return nullptr;
  const Held& h = it->second;
  nlohmann::json j = h.accounting ? sch::to_json(*h.accounting) : nlohmann::json::object();
  j["cores"] = h.demand.cpu.mode == storage::CpuMode::partition ? h.demand.dedicated : shared_;
  j["cgroup"] = enforcer_ && h.pid > 0 ? nlohmann::json(enforcer_->cgroups().vm_path(vm_id))
                                       : nlohmann::json(nullptr);
  return j;
}

std::string Scheduling::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string out = sch::metrics_header();
  for (const auto& [id, h] : held_) {
    if (h.accounting) sch::append_metrics(out, id, h.demand.name, *h.accounting);
  }
  return out;
}

}  // namespace flotilla::daemon
