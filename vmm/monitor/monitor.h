// Monitor: the flotilla-vmm process. Owns what lives across reboots — KVM, the console, the
// device thread ("devices", running the EventLoop: stdin, signals, control socket, virtio
// notifications) — and runs one Machine per boot until the guest powers off, the policy says
// a reset ends the run, or it is stopped (control socket `stop`, SIGTERM/SIGINT).
// Start: loop thread → console/stdin → signals → control socket → machine(s).
// Stop: machine → control socket → signals/stdin → loop thread, the reverse.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "vmm/event/event_loop.h"
#include "vmm/kvm/kvm.h"
#include "vmm/monitor/config.h"
#include "vmm/monitor/console.h"
#include "vmm/monitor/control_server.h"
#include "vmm/monitor/exit_record.h"
#include "vmm/monitor/machine.h"

namespace flotilla::vmm {

// Blocks SIGTERM/SIGINT/SIGHUP in the calling thread (call first in main, before any thread
// starts, so every thread inherits it; the loop reads them from a signalfd) and ignores SIGPIPE.
void block_monitor_signals();
void restore_terminal(bool was_raw);

class Monitor {
 public:
  // kernel: the validated kernel file's bytes.
  static VmmResult<std::unique_ptr<Monitor>> create(VmConfig config, Kvm kvm,
                                                    std::vector<uint8_t> kernel);
  ~Monitor();
  // Runs the guest; returns the process exit status and why (the exit record).
  ExitRecord run();

 private:
  Monitor(VmConfig config, Kvm kvm, std::vector<uint8_t> kernel);
  VmmResult<void> start_services();
  void stop_services();
  VmmResult<void> watch_stdin();
  VmmResult<void> watch_signals();
  void request_stop(const std::string& why, ExitReason reason);
  nlohmann::json handle_control(const nlohmann::json& req);
  nlohmann::json set_nic_limits(const nlohmann::json& req);  // machine_mu_ held
  nlohmann::json status_json();
  ExitRecord exit_record(const MachineEnd& end) const;

  VmConfig config_;
  Kvm kvm_;
  std::vector<uint8_t> kernel_;
  std::unique_ptr<EventLoop> loop_;
  std::thread loop_thread_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<ControlServer> control_;
  UniqueFd signal_fd_;
  bool stdin_watched_ = false;
  bool stdin_raw_ = false;

  std::mutex machine_mu_;       // held while a control command uses machine_
  Machine* machine_ = nullptr;  // GUARDED_BY(machine_mu_): the running boot, if any
  std::atomic<bool> stop_requested_{false};
  std::atomic<ExitReason> stop_reason_{ExitReason::kStop};  // set before stop_requested_
  std::atomic<bool> reboot_requested_{false};  // control `reboot`: reset whatever on_reset says
  std::atomic<uint64_t> reboots_{0};
  int64_t started_at_ms_ = 0;  // Unix ms when the monitor started running the guest
};

}  // namespace flotilla::vmm
