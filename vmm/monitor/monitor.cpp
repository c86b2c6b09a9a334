#include "vmm/monitor/monitor.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <chrono>
#include <future>

#include "vmm/event/device_thread.h"

namespace flotilla::vmm {

Monitor::Monitor(VmConfig config, Kvm kvm, std::vector<uint8_t> kernel)
    : config_(std::move(config)), kvm_(std::move(kvm)), kernel_(std::move(kernel)) {}

VmmResult<std::unique_ptr<Monitor>> Monitor::create(VmConfig config, Kvm kvm,
                                                    std::vector<uint8_t> kernel) {
  std::unique_ptr<Monitor> m(new Monitor(std::move(config), std::move(kvm), std::move(kernel)));
  UniqueFd log;
  if (!m->config_.console_log.empty()) {
    log.reset(
        ::open(m->config_.console_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!log) return vmm_errno(VmmErrc::kIo, "console log " + m->config_.console_log);
  }
  m->console_ = std::make_unique<Console>(STDOUT_FILENO, std::move(log));
  auto loop = EventLoop::create();
  if (!loop) return vmm_fail(VmmErrc::kIo, "event loop: " + loop.error().message);
  m->loop_ = std::move(*loop);
  return m;
}

Monitor::~Monitor() {
  stop_services();
}

VmmResult<void> Monitor::start_services() {
  loop_thread_ = std::thread([this] {
    enter_device_thread("devices");
    loop_->run();
  });
  if (auto r = watch_stdin(); !r) return r;
  if (auto r = watch_signals(); !r) return r;
  if (!config_.control_socket.empty()) {
    auto server =
        ControlServer::create(config_.control_socket, *loop_, *console_,
                              [this](const nlohmann::json& req) { return handle_control(req); });
    if (!server) return fail(server.error());
    control_ = std::move(*server);
  }
  return {};
}

void Monitor::stop_services() {
  if (!loop_thread_.joinable()) return;
  // The control server and watched fds are removed on the loop thread, then the loop stops.
  std::promise<void> done;
  loop_->post([this, &done] {
    control_.reset();
    if (signal_fd_) loop_->remove_fd(signal_fd_.get());
    if (stdin_watched_) loop_->remove_fd(STDIN_FILENO);
    done.set_value();
  });
  done.get_future().wait();
  loop_->stop();
  loop_thread_.join();
  restore_terminal(stdin_raw_);
}

void Monitor::request_stop(const std::string& why, ExitReason reason) {
  spdlog::info("stopping: {}", why);
  if (!stop_requested_) stop_reason_ = reason;  // the first request names the reason
  stop_requested_ = true;
  std::lock_guard lock(machine_mu_);
  if (machine_ != nullptr) machine_->request_end({MachineEnd::Kind::kStop, 0, why});
}

ExitRecord Monitor::exit_record(const MachineEnd& end) const {
  // A stop that raced a guest reset still ends the run as that stop.
  if (stop_requested_ && end.kind == MachineEnd::Kind::kReset) {
    return {0, stop_reason_.load(), end.detail};
  }
  switch (end.kind) {
    case MachineEnd::Kind::kPowerOff:
      return {end.exit_code, ExitReason::kPowerOff, end.detail};
    case MachineEnd::Kind::kStop:
      return {0, stop_reason_.load(), end.detail};
    case MachineEnd::Kind::kReset:
      return {0, ExitReason::kResetExit, end.detail};
    case MachineEnd::Kind::kCrash:
      return {1, ExitReason::kGuestCrash, end.detail};
  }
  return {1, ExitReason::kHostError, end.detail};
}

ExitRecord Monitor::run() {
  started_at_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (auto r = start_services(); !r) {
    spdlog::error("{}", r.error().message);
    return {1, ExitReason::kHostError, r.error().message};
  }
  for (;;) {
    auto machine = Machine::create(kvm_, config_, kernel_, *console_, *loop_);
    if (!machine) {
      spdlog::error("cannot start the guest: {}", machine.error().message);
      return {1, ExitReason::kHostError, "cannot start the guest: " + machine.error().message};
    }
    {
      std::lock_guard lock(machine_mu_);
      machine_ = machine->get();
      if (stop_requested_) machine_->request_end({MachineEnd::Kind::kStop, 0, "stop requested"});
    }
    (*machine)->start();
    const MachineEnd end = (*machine)->wait();
    {
      std::lock_guard lock(machine_mu_);
      machine_ = nullptr;
    }
    machine->reset();
    spdlog::info("guest ended: {}", end.detail);
    const bool forced = reboot_requested_.exchange(false);  // a control `reboot` always reboots
    const bool reboot = end.kind == MachineEnd::Kind::kReset &&
                        (config_.on_reset == OnReset::kReboot || forced) && !stop_requested_;
    if (!reboot) {
      if (end.kind == MachineEnd::Kind::kCrash) spdlog::error("guest crashed: {}", end.detail);
      return exit_record(end);
    }
    ++reboots_;
  }
}

}  // namespace flotilla::vmm
