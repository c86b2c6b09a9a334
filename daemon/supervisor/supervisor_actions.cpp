// Lifecycle actions, console and stats: what the API asks of the supervisor (api/vm_control.h).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>

#include "daemon/scheduling.h"
#include "daemon/supervisor/control_client.h"
#include "daemon/supervisor/supervisor_impl.h"
#include "network/networks.h"
#include "storage/image/block_image.h"

namespace flotilla::daemon::supervisor {

using api::api_error;
using api::ApiErrc;
using storage::VmState;

namespace {

api::ApiError wrong_state(const storage::VmRecord& vm, std::string_view action,
                          std::string_view needs) {
  return api_error(ApiErrc::invalid_state,
                   "VM '" + vm.spec.name + "' is " + std::string(to_string(vm.actual)) + "; " +
                       std::string(action) + " needs it " + std::string(needs));
}

api::ApiError monitor_error(const std::string& what, const SimpleError& e) {
  return api_error(ApiErrc::unavailable, what + ": " + e.message);
}

bool is_elf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' &&
         magic[3] == 'F';
}

}  // namespace

api::ApiResult<storage::VmRecord> SupervisorImpl::current(Entry& e) {
  auto vm = store_.get_vm(e.vm_id);
  if (!vm) return fail(api_error(ApiErrc::not_found, "no VM with id '" + e.vm_id + "'"));
  return std::move(vm).value();
}

// What the monitor would refuse, refused here first (422) so nothing starts.
api::ApiResult<void> SupervisorImpl::check_definition(const storage::VmRecord& vm) const {
  const auto& s = vm.spec;
  struct stat st {};
  if (s.boot.kernel.empty() || ::stat(s.boot.kernel.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(api_error(ApiErrc::validation_failed,
                          "boot.kernel: '" + s.boot.kernel + "' is not a readable file",
                          "boot.kernel"));
  }
  if (!is_elf(s.boot.kernel)) {
    return fail(api_error(ApiErrc::validation_failed,
                          "boot.kernel: '" + s.boot.kernel + "' is not an ELF (PVH) kernel",
                          "boot.kernel"));
  }
  if (!s.boot.initrd.empty()) {
    return fail(api_error(ApiErrc::validation_failed,
                          "boot.initrd: flotilla-vmm does not load an initrd yet", "boot.initrd"));
  }
  if (auto disks = monitor_disks(vm); !disks) return fail(disks.error());
  if (auto nics = check_nics(vm); !nics) return nics;
  if (!s.nics.empty()) {
    // Asked once per start here for the 409; plug() asks again under its lock as the guard.
    if (auto names = opt_.networks->check_tap_names(vm); !names) {
      return fail(api_error(ApiErrc::invalid_state, names.error().message, "nics"));
    }
  }
  if (s.vcpus > opt_.max_vcpus) {
    return fail(api_error(ApiErrc::validation_failed,
                          "vcpus: " + std::to_string(s.vcpus) + " is above KVM's limit of " +
                              std::to_string(opt_.max_vcpus),
                          "vcpus"));
  }
  if (opt_.host_memory_bytes != 0 && (s.memory_mib << 20) > opt_.host_memory_bytes) {
    return fail(api_error(ApiErrc::validation_failed,
                          "memory_mib: " + std::to_string(s.memory_mib) +
                              " MiB is more than the host's " +
                              std::to_string(opt_.host_memory_bytes >> 20) + " MiB",
                          "memory_mib"));
  }
  return {};
}

api::ApiResult<void> SupervisorImpl::check_nics(const storage::VmRecord& vm) const {
  constexpr size_t kMonitorMaxNics = 8;  // virtio slots that interrupt (vmm/monitor/nic_config.h)
  const auto& nics = vm.spec.nics;
  if (nics.empty()) return {};
  if (opt_.networks == nullptr) {
    return fail(api_error(
        ApiErrc::validation_failed,
        "nics: this flotillad manages no networks, so a VM with NICs cannot start", "nics"));
  }
  if (nics.size() > kMonitorMaxNics) {
    return fail(api_error(ApiErrc::validation_failed,
                          "nics: flotilla-vmm runs at most " + std::to_string(kMonitorMaxNics) +
                              " NICs; this VM has " + std::to_string(nics.size()),
                          "nics"));
  }
  for (size_t i = 0; i < nics.size(); ++i) {
    const std::string field = "nics[" + std::to_string(i) + "]";
    if (nics[i].network_id.empty() || !store_.get_network(nics[i].network_id)) {
      return fail(api_error(ApiErrc::validation_failed,
                            field + ": network '" + nics[i].network +
                                "' does not exist; give the VM its NICs again (PATCH nics)",
                            field + ".network"));
    }
  }
  return {};
}

api::ApiResult<std::vector<MonitorDisk>> SupervisorImpl::monitor_disks(
    const storage::VmRecord& vm) const {
  constexpr size_t kMaxSerial = 20;
  std::vector<MonitorDisk> out;
  for (size_t i = 0; i < vm.spec.disks.size(); ++i) {
    const auto& a = vm.spec.disks[i];
    const std::string field = "disks[" + std::to_string(i) + "]";
    MonitorDisk d;
    d.read_only = a.read_only;
    if (!a.disk_id.empty()) {
      auto rec = store_.get_disk(a.disk_id);
      if (!rec) {
        return fail(api_error(ApiErrc::validation_failed,
                              field + ": pool disk " + a.disk_id + ": " + rec.error().message,
                              field));
      }
      d.path = rec->path;
      d.format = rec->format;
      d.serial = rec->name.substr(0, kMaxSerial);
      d.extents = rec->extents;
    } else {
      d.path = a.path;
      auto format = storage::detect_image_format(a.path);
      if (!format) {
        return fail(api_error(ApiErrc::validation_failed,
                              field + ".path: " + format.error().message, field + ".path"));
      }
      d.format = storage::to_string(*format);
      d.serial = a.path.substr(a.path.find_last_of('/') + 1).substr(0, kMaxSerial);
    }
    struct stat st {};
    if (::stat(d.path.c_str(), &st) != 0) {
      return fail(
          api_error(ApiErrc::validation_failed, field + ": " + d.path + " does not exist", field));
    }
    out.push_back(std::move(d));
  }
  return out;
}

SupervisorImpl::Outcome SupervisorImpl::submitted(const char* kind, const storage::VmRecord& vm,
                                                  OperationRunner::Work work) {
  auto op = ops_.submit(kind, vm.id, std::move(work));
  if (!op)
    return fail(api_error(ApiErrc::internal, "cannot record operation: " + op.error().message));
  auto now = store_.get_vm(vm.id);
  return api::ActionOutcome{*op, now ? *now : vm};
}

api::ApiResult<api::ActionOutcome> SupervisorImpl::act(const storage::VmRecord& vm,
                                                       api::VmAction action,
                                                       const api::ActionOptions& options) {
  auto e = entry(vm.id);
  switch (action) {
    case api::VmAction::start:
      return start(e);
    case api::VmAction::stop:
      return stop_vm(e, options.stop_timeout_seconds);
    case api::VmAction::force_stop:
      return force_stop(e);
    case api::VmAction::pause:
      return pause_or_resume(e, true);
    case api::VmAction::resume:
      return pause_or_resume(e, false);
    case api::VmAction::reboot:
      return reboot(e);
  }
  return fail(api_error(ApiErrc::bad_request, "unknown action"));
}

SupervisorImpl::Outcome SupervisorImpl::start(const EntryPtr& e) {
  std::unique_lock lock(e->mu);
  auto vm = current(*e);
  if (!vm) return fail(vm.error());
  if (vm->actual != VmState::stopped && vm->actual != VmState::crashed) {
    return fail(wrong_state(*vm, "start", "stopped or crashed"));
  }
  if (e->monitor) return fail(api_error(ApiErrc::invalid_state, "a monitor still runs for it"));
  if (auto ok = check_definition(*vm); !ok) return fail(ok.error());
  if (opt_.scheduling != nullptr) {
    if (auto ok = opt_.scheduling->admit(*vm); !ok) return fail(ok.error());
  }
  ++e->restart_epoch;
  e->stop_requested = false;
  e->crash_streak = 0;
  auto starting = store_.record_vm_state(vm->id, VmState::starting, "");
  if (!starting) {
    release_resources(vm->id);
    return fail(api_error(ApiErrc::internal, starting.error().message));
  }
  (void)store_.set_vm_desired_state(vm->id, VmState::running);
  if (auto r = launch(e, *starting); !r) {
    release_resources(vm->id);
    (void)store_.record_vm_state(vm->id, VmState::stopped, "cannot start: " + r.error().message);
    return fail(api_error(ApiErrc::internal, "cannot start the monitor: " + r.error().message));
  }
  const uint64_t run = e->run;
  lock.unlock();
  return submitted("vm.start", *starting, [this, e, run](const OperationRunner::Progress& p) {
    return wait_ready(e, run, p);
  });
}

std::string SupervisorImpl::graceful_stop(const EntryPtr& e, uint64_t run, int timeout_s,
                                          const OperationRunner::Progress& progress) {
  progress(10);
  auto asked =
      control_call(e->paths.control_socket, {{"cmd", "ctrl_alt_del"}}, opt_.control_timeout_ms);
  if (!asked) {
    spdlog::warn("vm {}: cannot ask the guest to shut down ({}); forcing", e->vm_id,
                 asked.error().message);
  } else if (wait_exit(e, run, std::chrono::seconds(timeout_s))) {
    progress(100);
    return "";
  } else {
    spdlog::info("vm {}: the guest did not power off within {} s; forcing", e->vm_id, timeout_s);
  }
  progress(60);
  return kill_and_wait(e, run);
}

SupervisorImpl::Outcome SupervisorImpl::stop_vm(const EntryPtr& e, int timeout_s) {
  std::unique_lock lock(e->mu);
  auto vm = current(*e);
  if (!vm) return fail(vm.error());
  if (vm->actual != VmState::running && vm->actual != VmState::paused) {
    return fail(wrong_state(*vm, "stop", "running or paused (force-stop stops any other)"));
  }
  ++e->restart_epoch;
  e->stop_requested = true;
  (void)store_.set_vm_desired_state(vm->id, VmState::stopped);
  if (vm->actual == VmState::paused) {
    // A paused guest cannot hear the request: let it run to handle it.
    (void)control_call(e->paths.control_socket, {{"cmd", "resume"}}, opt_.control_timeout_ms);
  }
  auto stopping = store_.record_vm_state(vm->id, VmState::stopping, "");
  if (!stopping) return fail(api_error(ApiErrc::internal, stopping.error().message));
  const uint64_t run = e->run;
  lock.unlock();
  return submitted("vm.stop", *stopping,
                   [this, e, run, timeout_s](const OperationRunner::Progress& p) {
                     return graceful_stop(e, run, timeout_s, p);
                   });
}

SupervisorImpl::Outcome SupervisorImpl::force_stop(const EntryPtr& e) {
  std::unique_lock lock(e->mu);
  auto vm = current(*e);
  if (!vm) return fail(vm.error());
  if (vm->actual == VmState::stopped || vm->actual == VmState::crashed) {
    return fail(wrong_state(*vm, "force-stop", "starting, running, paused or stopping"));
  }
  ++e->restart_epoch;
  e->stop_requested = true;
  (void)store_.set_vm_desired_state(vm->id, VmState::stopped);
  if (vm->actual == VmState::running || vm->actual == VmState::paused) {
    (void)store_.set_vm_state(vm->id, VmState::stopping);
  }
  if (!e->monitor) {
    // Nothing runs (a start that never spawned): settle at once.
    settle(*e, VmState::stopped, "");
    e->stop_requested = false;
  }
  const uint64_t run = e->run;
  auto now = current(*e);
  lock.unlock();
  return submitted("vm.force-stop", now ? *now : *vm,
                   [this, e, run](const OperationRunner::Progress& p) {
                     p(10);
                     return kill_and_wait(e, run);
                   });
}

SupervisorImpl::Outcome SupervisorImpl::pause_or_resume(const EntryPtr& e, bool pause) {
  std::unique_lock lock(e->mu);
  auto vm = current(*e);
  if (!vm) return fail(vm.error());
  const VmState from = pause ? VmState::running : VmState::paused;
  const VmState to = pause ? VmState::paused : VmState::running;
  const char* verb = pause ? "pause" : "resume";
  if (vm->actual != from || !e->monitor) {
    return fail(wrong_state(*vm, verb, std::string(to_string(from))));
  }
  auto r = control_call(e->paths.control_socket, {{"cmd", verb}}, opt_.control_timeout_ms);
  if (!r) return fail(monitor_error(std::string(verb) + " failed", r.error()));
  auto moved = store_.record_vm_state(vm->id, to, "");
  if (!moved) return fail(api_error(ApiErrc::internal, moved.error().message));
  return api::ActionOutcome{std::nullopt, *moved};
}

std::string SupervisorImpl::reboot_and_wait(const EntryPtr& e, uint64_t run,
                                            const OperationRunner::Progress& progress) {
  const auto& sock = e->paths.control_socket;
  auto before = control_call(sock, {{"cmd", "status"}}, opt_.control_timeout_ms);
  if (!before) return "cannot read the monitor's status: " + before.error().message;
  const int64_t reboots = before->value("reboots", int64_t{0});
  if (auto r = control_call(sock, {{"cmd", "reboot"}}, opt_.control_timeout_ms); !r) {
    return "reboot refused: " + r.error().message;
  }
  progress(50);
  const auto deadline = Clock::now() + std::chrono::milliseconds(opt_.start_timeout_ms);
  while (Clock::now() < deadline) {
    if (wait_exit(e, run, std::chrono::milliseconds(5))) return "the monitor exited during reboot";
    auto s = control_call(sock, {{"cmd", "status"}}, 500);
    if (s && s->value("reboots", int64_t{0}) > reboots && (*s)["state"] == "running") {
      std::lock_guard lock(e->mu);
      auto vm = store_.get_vm(e->vm_id);
      if (vm && vm->actual == VmState::paused)
        (void)store_.set_vm_state(e->vm_id, VmState::running);
      // New vCPU threads: pinned again at once (the accounting thread would within its interval).
      if (opt_.scheduling != nullptr && e->monitor)
        opt_.scheduling->placed(e->vm_id, e->monitor->pid);
      return "";
    }
  }
  return "the guest did not come back within " + std::to_string(opt_.start_timeout_ms) + " ms";
}

SupervisorImpl::Outcome SupervisorImpl::reboot(const EntryPtr& e) {
  std::unique_lock lock(e->mu);
  auto vm = current(*e);
  if (!vm) return fail(vm.error());
  if ((vm->actual != VmState::running && vm->actual != VmState::paused) || !e->monitor) {
    return fail(wrong_state(*vm, "reboot", "running or paused"));
  }
  const uint64_t run = e->run;
  lock.unlock();
  return submitted("vm.reboot", *vm, [this, e, run](const OperationRunner::Progress& p) {
    return reboot_and_wait(e, run, p);
  });
}

api::ApiResult<std::string> SupervisorImpl::console_tail(const storage::VmRecord& vm,
                                                         size_t bytes) {
  auto e = entry(vm.id);
  bool running = false;
  {
    std::lock_guard lock(e->mu);
    running = e->monitor.has_value();
  }
  if (running) {
    auto r = control_call(e->paths.control_socket, {{"cmd", "console_tail"}, {"bytes", bytes}},
                          opt_.control_timeout_ms);
    if (r && (*r)["data"].is_string()) return (*r)["data"].get<std::string>();
  }
  return file_tail(e->paths.console_log, bytes);  // the last run's output
}

api::ApiResult<nlohmann::json> SupervisorImpl::stats(const storage::VmRecord& vm) {
  auto e = entry(vm.id);
  std::optional<MonitorIdentity> id;
  Clock::time_point started;
  {
    std::lock_guard lock(e->mu);
    id = e->monitor;
    started = e->started;
  }
  if (!id) return fail(wrong_state(vm, "stats", "running or paused"));
  auto r = control_call(e->paths.control_socket, {{"cmd", "stats"}}, opt_.control_timeout_ms);
  if (!r) return fail(monitor_error("stats failed", r.error()));
  nlohmann::json out = (*r)["stats"];
  out["monitor_pid"] = id->pid;
  if (opt_.scheduling != nullptr) out["scheduler"] = opt_.scheduling->accounting_json(vm.id);
  out["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count() /
      1000.0;
  return out;
}

api::ApiResult<void> SupervisorImpl::apply_nic_limits(const storage::VmRecord& vm, size_t index,
                                                      const storage::NicLimits& limits) {
  auto e = entry(vm.id);
  {
    std::lock_guard lock(e->mu);
    if (!e->monitor) return {};  // the next start passes the stored limits
  }
  auto r = control_call(e->paths.control_socket, nic_limits_request(index, limits),
                        opt_.control_timeout_ms);
  if (!r) {
    return fail(monitor_error("the limits are stored, but the running monitor did not take them",
                              r.error()));
  }
  return {};
}

api::ApiResult<void> SupervisorImpl::check_policy(const storage::VmSpec& spec,
                                                  const storage::VmRecord* current) {
  if (opt_.scheduling == nullptr) return {};
  if (current == nullptr) return opt_.scheduling->validate(spec);
  return opt_.scheduling->check_change(*current, spec);
}

api::ApiResult<void> SupervisorImpl::apply_policy(const storage::VmRecord& vm) {
  if (opt_.scheduling == nullptr) return {};
  return opt_.scheduling->change(vm);
}

api::ApiResult<std::string> SupervisorImpl::control_socket(const storage::VmRecord& vm) {
  auto e = entry(vm.id);
  std::lock_guard lock(e->mu);
  if (!e->monitor) return fail(wrong_state(vm, "the console", "running or paused"));
  return e->paths.control_socket;
}

}  // namespace flotilla::daemon::supervisor
