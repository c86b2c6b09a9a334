// Monitors' lives: spawn, watch, exit, restart, and re-attach after a daemon restart.
#include "daemon/supervisor/supervisor_impl.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/scheduling.h"
#include "daemon/supervisor/control_client.h"
#include "network/networks.h"

namespace flotilla::daemon {

Result<std::unique_ptr<Supervisor>, SimpleError> Supervisor::create(storage::StateStore& store,
                                                                    OperationRunner& operations,
                                                                    SupervisorOptions options) {
  if (options.vmm_binary.empty() || ::access(options.vmm_binary.c_str(), X_OK) != 0) {
    return fail(SimpleError{"flotilla-vmm not found or not executable: '" + options.vmm_binary +
                            "' (set vmm_binary in the config or --vmm-binary)"});
  }
  return std::unique_ptr<Supervisor>(
      new supervisor::SupervisorImpl(store, operations, std::move(options)));
}

namespace supervisor {

using storage::VmState;

SupervisorImpl::SupervisorImpl(storage::StateStore& store, OperationRunner& ops,
                               SupervisorOptions options)
    : store_(store), ops_(ops), opt_(std::move(options)), work_(io_.get_executor()) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "supervisor");
    io_.run();
  });
}

SupervisorImpl::~SupervisorImpl() {
  stop();
}

void SupervisorImpl::stop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

size_t SupervisorImpl::watched_monitors() {
  std::lock_guard lock(map_mu_);
  size_t n = 0;
  for (auto& [id, e] : entries_) {
    std::lock_guard el(e->mu);
    if (e->monitor) ++n;
  }
  return n;
}

SupervisorImpl::EntryPtr SupervisorImpl::entry(const std::string& vm_id) {
  std::lock_guard lock(map_mu_);
  auto& slot = entries_[vm_id];
  if (!slot) slot = std::make_shared<Entry>(vm_id, monitor_paths(opt_.state_dir, vm_id));
  return slot;
}

Result<MonitorDevices, SimpleError> SupervisorImpl::plug_devices(const storage::VmRecord& vm) {
  MonitorDevices devices;
  auto disks = monitor_disks(vm);
  if (!disks) return fail(SimpleError{disks.error().message});
  devices.disks = std::move(*disks);
  if (vm.spec.nics.empty()) return devices;
  if (auto ok = check_nics(vm); !ok) return fail(SimpleError{ok.error().message});
  auto plugged = opt_.networks->plug(vm);
  if (!plugged) return fail(SimpleError{plugged.error().message});
  for (const auto& p : *plugged) devices.nics.push_back({p.tap, p.mac, p.limits});
  devices.extra_cmdline = network::guest_address_args(*plugged);
  return devices;
}

void SupervisorImpl::unplug(const std::string& vm_id) {
  if (opt_.networks) opt_.networks->unplug(vm_id);
}

void SupervisorImpl::release_resources(const std::string& vm_id) {
  if (opt_.scheduling != nullptr) opt_.scheduling->release(vm_id);
}

Result<void, SimpleError> SupervisorImpl::launch(const EntryPtr& e, const storage::VmRecord& vm) {
  auto devices = plug_devices(vm);
  if (!devices) return fail(devices.error());
  auto id = spawn_monitor(opt_.vmm_binary, vm, e->paths, opt_.monitor_exit_records, *devices);
  if (!id) {
    unplug(vm.id);
    return fail(id.error());
  }
  auto pidfd = open_pidfd(id->pid);
  if (!pidfd) {
    ::kill(id->pid, SIGKILL);
    unplug(vm.id);
    return fail(pidfd.error());
  }
  attach(e, *id, std::move(*pidfd), true);
  spdlog::info("vm {} ({}): monitor pid {} started", vm.spec.name, vm.id, id->pid);
  return {};
}

void SupervisorImpl::attach(const EntryPtr& e, MonitorIdentity id, UniqueFd pidfd, bool child) {
  e->monitor = id;
  e->child = child;
  e->pidfd = std::move(pidfd);
  e->started = Clock::now();
  watch(e, ++e->run);
}

// The pidfd turns readable when the process exits; Asio waits on a duplicate it owns, so the
// entry's pidfd stays usable for signals and waitid until the exit is handled.
void SupervisorImpl::watch(const EntryPtr& e, uint64_t run) {
  const int dup = ::fcntl(e->pidfd.get(), F_DUPFD_CLOEXEC, 3);
  if (dup < 0) {
    spdlog::error("vm {}: cannot watch monitor: dup pidfd failed", e->vm_id);
    return;
  }
  boost::asio::post(io_, [this, e, run, dup] {
    auto sd = std::make_shared<boost::asio::posix::stream_descriptor>(io_, dup);
    sd->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                   [this, e, run, sd](const boost::system::error_code& ec) {
                     if (!ec) on_exit(e, run);
                   });
  });
}

// The restart policy: while the user wants the VM running, `always` restarts any end and
// `on-crash` restarts crashes (`clean`: the guest powered off).
bool SupervisorImpl::wants_restart(const storage::VmRecord& vm, bool clean) const {
  if (vm.desired != VmState::running) return false;
  return vm.spec.restart == storage::RestartPolicy::always ||
         (!clean && vm.spec.restart == storage::RestartPolicy::on_crash);
}

std::string SupervisorImpl::crash_reason(const Entry& e, const MonitorExit& x) const {
  std::string reason = "monitor " + x.reason;
  if (x.exit_code != 0) {
    const std::string log = last_lines(e.paths.monitor_log, 1);
    if (!log.empty()) reason += "; monitor log: " + log;
  }
  const std::string console = last_lines(e.paths.console_log, 3);
  if (!console.empty()) reason += "; last console lines: " + console;
  return reason;
}

void SupervisorImpl::on_exit(const EntryPtr& e, uint64_t run) {
  std::unique_lock lock(e->mu);
  if (run != e->run || !e->monitor) return;
  const MonitorExit x = collect_exit(e->pidfd.get(), e->child, e->paths);
  const auto up = Clock::now() - e->started;
  e->monitor.reset();
  e->pidfd.reset();
  ::unlink(e->paths.control_socket.c_str());
  ::unlink(e->paths.runtime.c_str());
  unplug(e->vm_id);  // the TAPs go with the monitor, however it ended
  release_resources(e->vm_id);
  e->changed.notify_all();
  auto vm = store_.get_vm(e->vm_id);
  if (!vm) return;  // deleted meanwhile
  spdlog::info("vm {} ({}): monitor {}", vm->spec.name, vm->id, x.reason);
  if (e->stop_requested) {
    e->stop_requested = false;
    return settle(*e, VmState::stopped, "");
  }
  if (x.exit_code == 2) {
    (void)store_.set_vm_desired_state(e->vm_id, VmState::stopped);  // no restart can help
    return settle(*e, VmState::stopped,
                  "flotilla-vmm refused the definition: " + last_lines(e->paths.monitor_log, 1));
  }
  if (up > std::chrono::milliseconds(opt_.stable_after_ms)) e->crash_streak = 0;
  const bool clean = x.clean;
  if (clean) {
    settle(*e, VmState::stopped, "the guest powered off");
  } else {
    settle(*e, VmState::crashed, crash_reason(*e, x));
  }
  auto now = store_.get_vm(e->vm_id);
  if (!now) return;
  const bool wanted = now->desired == VmState::running;
  if (wants_restart(*now, clean)) {
    schedule_restart(e, *now);
  } else if (clean && wanted) {
    (void)store_.set_vm_desired_state(e->vm_id, VmState::stopped);
  }
}

// Walks the lifecycle to `final_state` (running → stopping → stopped), recording `reason` on the
// last step.
void SupervisorImpl::settle(Entry& e, VmState final_state, const std::string& reason) {
  auto vm = store_.get_vm(e.vm_id);
  if (!vm) return;
  if (final_state == VmState::stopped &&
      (vm->actual == VmState::running || vm->actual == VmState::paused)) {
    (void)store_.set_vm_state(e.vm_id, VmState::stopping);
  }
  if (vm->actual == final_state) return;  // already there: keep the first reason
  auto r = store_.record_vm_state(e.vm_id, final_state, reason);
  if (!r)
    spdlog::error("vm {}: cannot record {}: {}", e.vm_id, to_string(final_state),
                  r.error().message);
}

void SupervisorImpl::schedule_restart(const EntryPtr& e, const storage::VmRecord& vm) {
  const int streak = std::min(++e->crash_streak, 16);
  const int64_t delay = std::min<int64_t>(opt_.restart_backoff_max_ms,
                                          int64_t{opt_.restart_backoff_initial_ms} << (streak - 1));
  const uint64_t epoch = e->restart_epoch;
  spdlog::info("vm {} ({}): restart policy {}: restarting in {} ms (attempt {})", vm.spec.name,
               vm.id, vm.spec.restart == storage::RestartPolicy::always ? "always" : "on-crash",
               delay, streak);
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(delay));
  timer->async_wait([this, e, epoch, timer](const boost::system::error_code& ec) {
    if (!ec) restart_now(e, epoch);
  });
}

void SupervisorImpl::restart_now(const EntryPtr& e, uint64_t epoch) {
  std::unique_lock lock(e->mu);
  if (epoch != e->restart_epoch || e->monitor) return;
  auto vm = store_.get_vm(e->vm_id);
  if (!vm || vm->desired != VmState::running) return;
  if (vm->actual != VmState::crashed && vm->actual != VmState::stopped) return;
  if (opt_.scheduling != nullptr) {
    if (auto ok = opt_.scheduling->admit(*vm); !ok) {
      // Its cores or memory went to another VM meanwhile: try again after the next back-off.
      spdlog::warn("vm {} ({}): restart refused: {}", vm->spec.name, vm->id, ok.error().message);
      schedule_restart(e, *vm);
      return;
    }
  }
  auto moved = store_.record_vm_state(e->vm_id, VmState::starting, "");
  if (!moved) {
    release_resources(e->vm_id);
    return;
  }
  if (auto r = launch(e, *moved); !r) {
    release_resources(e->vm_id);
    settle(*e, VmState::crashed, "restart failed: " + r.error().message);
    return;
  }
  const uint64_t run = e->run;
  lock.unlock();
  (void)ops_.submit("vm.restart", e->vm_id, [this, e, run](const OperationRunner::Progress& p) {
    return wait_ready(e, run, p);
  });
}

std::string SupervisorImpl::wait_ready(const EntryPtr& e, uint64_t run,
                                       const OperationRunner::Progress& progress) {
  progress(20);
  const auto deadline = Clock::now() + std::chrono::milliseconds(opt_.start_timeout_ms);
  for (;;) {
    {
      std::unique_lock lock(e->mu);
      if (e->run != run || !e->monitor) {
        auto vm = store_.get_vm(e->vm_id);
        return "the monitor exited while starting" +
               (vm && !vm->state_reason.empty() ? ": " + vm->state_reason : std::string());
      }
    }
    auto status = control_call(e->paths.control_socket, {{"cmd", "status"}}, 500);
    if (status && (*status)["state"] == "running") break;
    if (Clock::now() > deadline) {
      (void)kill_and_wait(e, run);
      return "the monitor did not become ready within " + std::to_string(opt_.start_timeout_ms) +
             " ms";
    }
    std::unique_lock lock(e->mu);
    e->changed.wait_for(lock, std::chrono::milliseconds(2));
  }
  progress(90);
  std::unique_lock lock(e->mu);
  if (e->run != run || !e->monitor) return "the monitor exited while starting";
  auto vm = store_.get_vm(e->vm_id);
  if (vm && vm->actual == VmState::starting) {
    auto r = store_.record_vm_state(e->vm_id, VmState::running, "");
    if (!r) return "cannot record running: " + r.error().message;
  }
  if (opt_.scheduling != nullptr) opt_.scheduling->placed(e->vm_id, e->monitor->pid);
  return "";
}

bool SupervisorImpl::wait_exit(const EntryPtr& e, uint64_t run, std::chrono::milliseconds timeout) {
  std::unique_lock lock(e->mu);
  return e->changed.wait_for(lock, timeout, [&] { return e->run != run || !e->monitor; });
}

// SIGTERM (the monitor powers the guest off and exits 0), then SIGKILL.
std::string SupervisorImpl::kill_and_wait(const EntryPtr& e, uint64_t run) {
  for (int sig : {SIGTERM, SIGKILL}) {
    {
      std::lock_guard lock(e->mu);
      if (e->run != run || !e->monitor) return "";
      signal_pidfd(e->pidfd.get(), sig);
    }
    if (wait_exit(e, run, std::chrono::milliseconds(opt_.force_kill_after_ms))) return "";
  }
  return "the monitor did not exit after SIGKILL";
}

void SupervisorImpl::recover() {
  auto vms = store_.list_vms();
  if (!vms) {
    spdlog::error("recover: cannot list VMs: {}", vms.error().message);
    return;
  }
  for (const auto& vm : *vms) {
    auto e = entry(vm.id);
    std::unique_lock lock(e->mu);
    const auto rt = read_runtime(e->paths.runtime);
    const bool alive = rt && is_alive(*rt);
    const bool active = vm.actual != VmState::stopped && vm.actual != VmState::crashed;
    if (alive && active) {
      auto pidfd = open_pidfd(rt->pid);
      if (pidfd && is_alive(*rt)) {
        attach(e, *rt, std::move(*pidfd), false);
        if (opt_.scheduling != nullptr) opt_.scheduling->adopt(vm, rt->pid);
        auto status = control_call(e->paths.control_socket, {{"cmd", "status"}}, 1000);
        const std::string state = status ? (*status)["state"].get<std::string>() : "";
        if (state == "paused" && vm.actual == VmState::running) {
          (void)store_.set_vm_state(vm.id, VmState::paused);
        } else if (state == "running" && vm.actual != VmState::running) {
          if (vm.actual == VmState::paused || vm.actual == VmState::starting) {
            (void)store_.set_vm_state(vm.id, VmState::running);
          }
        }
        if (vm.actual == VmState::stopping) {
          e->stop_requested = true;
          signal_pidfd(e->pidfd.get(), SIGTERM);
        }
        spdlog::info("vm {} ({}): re-attached to monitor pid {} ({})", vm.spec.name, vm.id, rt->pid,
                     state.empty() ? "no status" : state);
        continue;
      }
    }
    if (alive && !active) {
      // The store says stopped: a monitor it does not know of must not keep running.
      spdlog::warn("vm {}: monitor pid {} runs but the VM is {}; stopping it", vm.id, rt->pid,
                   to_string(vm.actual));
      ::kill(rt->pid, SIGTERM);
    }
    ::unlink(e->paths.control_socket.c_str());
    ::unlink(e->paths.runtime.c_str());
    if (!active) {
      // A restart the previous flotillad had scheduled but not yet run is still owed.
      if (!alive && wants_restart(vm, vm.actual == VmState::stopped)) schedule_restart(e, vm);
      continue;
    }
    const MonitorExit x = collect_exit(-1, false, e->paths);
    if (e->stop_requested || vm.actual == VmState::stopping) {
      settle(*e, VmState::stopped, "");
      continue;
    }
    if (x.clean) {
      settle(*e, VmState::stopped, "the guest powered off while flotillad was down");
    } else {
      settle(*e, VmState::crashed, crash_reason(*e, x) + " (while flotillad was down)");
    }
    auto now = store_.get_vm(vm.id);
    if (now && wants_restart(*now, x.clean)) schedule_restart(e, *now);
  }
  if (opt_.scheduling != nullptr) {
    std::vector<std::string> ids;
    for (const auto& vm : *vms) ids.push_back(vm.id);
    opt_.scheduling->finish_recovery(ids);
  }
}

}  // namespace supervisor
}  // namespace flotilla::daemon
