#include "vmm/vcpu/vcpu.h"

#include <linux/kvm.h>
#include <signal.h>
#include <spdlog/spdlog.h>

namespace flotilla::vmm {

const char* vcpu_state_name(VcpuState s) {
  switch (s) {
    case VcpuState::kCreated:
      return "created";
    case VcpuState::kRunning:
      return "running";
    case VcpuState::kPaused:
      return "paused";
    case VcpuState::kExited:
      return "exited";
  }
  return "?";
}

void install_kick_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};  // only interrupts KVM_RUN
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(SIGRTMIN, &sa, nullptr);
  });
}

Vcpu::Vcpu(VcpuFd fd, VcpuWiring wiring) : fd_(std::move(fd)), wiring_(std::move(wiring)) {
  install_kick_signal();
}

Vcpu::~Vcpu() {
  request_stop();
  if (!join(Clock::now() + std::chrono::seconds(2)) && thread_.joinable()) {
    spdlog::error("vcpu{} did not stop within 2 s; abandoning its thread", id());
    thread_.detach();
  }
}

VcpuState Vcpu::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

void Vcpu::set_state(VcpuState s) {
  state_ = s;  // mu_ held
  cv_.notify_all();
}

void Vcpu::start() {
  std::lock_guard lock(mu_);
  if (thread_started_) return;
  state_ = VcpuState::kRunning;
  thread_ = std::thread([this] { thread_main(); });
  tid_ = thread_.native_handle();
  thread_started_ = true;
}

void Vcpu::kick() {
  // mu_ held: thread_started_ and tid_ are stable.
  fd_.set_immediate_exit(true);
  if (thread_started_ && state_ != VcpuState::kExited) pthread_kill(tid_, SIGRTMIN);
}

bool Vcpu::pause(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (state_ == VcpuState::kExited) return true;
  if (request_ == Request::kStop) return true;
  request_ = Request::kPause;
  if (!thread_started_) return true;
  kick();
  return cv_.wait_until(lock, deadline, [this] {
    return state_ == VcpuState::kPaused || state_ == VcpuState::kExited;
  });
}

bool Vcpu::resume(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  if (request_ == Request::kStop || state_ == VcpuState::kExited) return true;
  request_ = Request::kRun;
  cv_.notify_all();
  if (!thread_started_) return true;
  return cv_.wait_until(lock, deadline, [this] { return state_ != VcpuState::kPaused; });
}

void Vcpu::request_stop() {
  std::lock_guard lock(mu_);
  request_ = Request::kStop;
  cv_.notify_all();
  kick();
}

bool Vcpu::join(Clock::time_point deadline) {
  {
    std::unique_lock lock(mu_);
    if (!thread_started_) return true;
    if (!cv_.wait_until(lock, deadline, [this] { return state_ == VcpuState::kExited; })) {
      return false;
    }
  }
  if (thread_.joinable()) thread_.join();
  return true;
}

bool Vcpu::wait_for_request() {
  std::unique_lock lock(mu_);
  if (request_ == Request::kPause) {
    set_state(VcpuState::kPaused);
    cv_.wait(lock, [this] { return request_ != Request::kPause; });
    if (request_ == Request::kRun) set_state(VcpuState::kRunning);
  }
  return request_ != Request::kStop;
}

void Vcpu::thread_main() {
  const std::string name = "vcpu" + std::to_string(id());
  pthread_setname_np(pthread_self(), name.c_str());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGRTMIN);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  while (wait_for_request()) {
    const int err = fd_.run();
    if (err == EINTR || err == EAGAIN) {
      fd_.set_immediate_exit(false);
      continue;
    }
    if (err != 0) {
      report(VcpuEventKind::kCrash, std::string("KVM_RUN failed: ") + std::strerror(err));
      break;
    }
    if (!dispatch()) break;
  }
  std::lock_guard lock(mu_);
  set_state(VcpuState::kExited);
}

void Vcpu::report(VcpuEventKind kind, std::string detail) {
  if (wiring_.on_event) wiring_.on_event(VcpuEvent{kind, id(), std::move(detail)});
}

}  // namespace flotilla::vmm
