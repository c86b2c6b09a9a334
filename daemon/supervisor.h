// Supervisor: flotillad's side of every running guest. It spawns one flotilla-vmm per running
// VM (its own session: monitors outlive the daemon), drives it over its control socket, learns
// of its end at once through a pidfd, records crashes with their reason, applies the VM's
// restart policy with back-off, and after a daemon restart re-attaches to the monitors still
// running and reconciles the store with what it finds.
//
// Threads: one "supervisor" thread runs an Asio io_context (pidfd watches, restart timers).
// Actions arrive on API threads and long waits run as operations (daemon/operations.h). Each VM
// has one mutex that serialises its actions and its exit handling; no VM waits on another.
#pragma once

#include <memory>
#include <string>

#include "api/vm_control.h"
#include "common/result.h"
#include "daemon/operations.h"
#include "storage/state_store.h"

namespace flotilla::network {
class NetworkManager;
}  // namespace flotilla::network

namespace flotilla::daemon {

class Scheduling;

struct SupervisorOptions {
  std::string state_dir;
  std::string vmm_binary;          // flotilla-vmm
  uint64_t host_memory_bytes = 0;  // definitions above are refused (422)
  uint32_t max_vcpus = 254;        // KVM's limit (422 above)
  int start_timeout_ms = 10000;    // spawn → the monitor's control socket answers
  int control_timeout_ms = 3000;   // one control request
  int force_kill_after_ms = 3000;  // force stop: SIGTERM, then SIGKILL after this
  int restart_backoff_initial_ms = 1000;
  int restart_backoff_max_ms = 60000;
  int stable_after_ms = 60000;       // a guest up this long resets the back-off
  bool monitor_exit_records = true;  // pass exit_file to the monitor (vmm/README.md)
  // Bridges and TAPs for VMs with NICs (not owned; outlives the supervisor). Null: a VM with
  // NICs cannot start (422).
  network::NetworkManager* networks = nullptr;
  // Admission, CPU placement and accounting (not owned; outlives the supervisor). Null: every
  // VM starts with the kernel's defaults and no policy is checked.
  Scheduling* scheduling = nullptr;
};

class Supervisor : public api::VmControl {
 public:
  static Result<std::unique_ptr<Supervisor>, SimpleError> create(storage::StateStore& store,
                                                                 OperationRunner& operations,
                                                                 SupervisorOptions options);
  ~Supervisor() override = default;

  // Re-attaches to monitors a previous flotillad left running; VMs whose monitor is gone become
  // crashed (or stopped, if it left a clean exit record) and stale sockets are removed.
  virtual void recover() = 0;
  // Stops watching and joins the thread. Monitors keep running: they outlive the daemon.
  virtual void stop() = 0;
  // Monitors currently watched (tests check for leaks).
  virtual size_t watched_monitors() = 0;
};

}  // namespace flotilla::daemon
