// Vcpu: one thread ("vcpu<N>") running the KVM_RUN loop, which is the exit dispatcher: one
// switch on exit_reason into the port bus and the MMIO bus (vmm/devices/bus.h), a counter per
// reason (ExitStats). A small state machine driven by requests from the machine:
//
//   Created --start()--> Running <--pause()/resume()--> Paused
//   Running/Paused --stop()--> Exited;  Running --guest reset/crash--> Exited (+ on_event)
//
// pause()/stop() kick the thread out of KVM_RUN (kvm_run.immediate_exit + SIGRTMIN, whose
// handler does nothing and is installed without SA_RESTART) and wait for the acknowledgement
// with a deadline. All ioctls on the VcpuFd happen on the vCPU thread.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "vmm/devices/bus.h"
#include "vmm/kvm/vcpu_fd.h"
#include "vmm/vcpu/exit_stats.h"

namespace flotilla::vmm {

enum class VcpuState { kCreated, kRunning, kPaused, kExited };
const char* vcpu_state_name(VcpuState s);

// What a vCPU reports to its machine when the guest ends its run.
enum class VcpuEventKind { kReset, kPowerOff, kCrash };
struct VcpuEvent {
  VcpuEventKind kind;
  uint32_t vcpu;
  std::string detail;
};

struct VcpuWiring {
  Bus* pio = nullptr;
  Bus* mmio = nullptr;
  ExitStats* stats = nullptr;
  std::function<void(const VcpuEvent&)> on_event;  // called on the vCPU thread
};

// Installs the no-op SIGRTMIN handler (once per process; idempotent).
void install_kick_signal();

class Vcpu {
 public:
  using Clock = std::chrono::steady_clock;
  Vcpu(VcpuFd fd, VcpuWiring wiring);
  ~Vcpu();  // stops and joins (with a timeout; a stuck thread is detached and reported)
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  uint32_t id() const { return fd_.id(); }
  VcpuState state() const;
  // KVM_RUN returns this vCPU dispatched (every exit reason, as ExitStats counts them). Any thread.
  uint64_t exits() const { return exits_.load(std::memory_order_relaxed); }

  void start();
  // Each returns false if the vCPU did not acknowledge before the deadline.
  bool pause(Clock::time_point deadline);
  bool resume(Clock::time_point deadline);
  // Asks the thread to exit; does not wait.
  void request_stop();
  // Waits for the thread to exit (after request_stop()); false on timeout.
  bool join(Clock::time_point deadline);

 private:
  enum class Request { kRun, kPause, kStop };
  void thread_main();
  bool wait_for_request();  // false when the thread must exit
  void kick();
  bool dispatch();  // false when the vCPU must stop running
  void handle_io();
  void handle_mmio();
  bool handle_system_event();
  void report(VcpuEventKind kind, std::string detail);
  void set_state(VcpuState s);

  VcpuFd fd_;
  VcpuWiring wiring_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Request request_ = Request::kRun;        // GUARDED_BY(mu_)
  VcpuState state_ = VcpuState::kCreated;  // GUARDED_BY(mu_)
  bool thread_started_ = false;            // GUARDED_BY(mu_)
  pthread_t tid_{};                        // set before thread_started_
  std::atomic<uint64_t> exits_{0};         // written by the vCPU thread only
  std::thread thread_;
};

}  // namespace flotilla::vmm
