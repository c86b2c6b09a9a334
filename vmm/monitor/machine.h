// Machine: one boot of the guest — VM fd, guest memory, irqchip/PIT, devices, vCPUs. The
// Monitor builds a new Machine for every (re)boot; the console, control socket and device
// thread outlive it. Start order (create): VM → memory + memslots → TSS/identity map →
// irqchip + PIT → kernel + start_info + MP table → devices → vCPUs; start() runs the vCPUs.
// Teardown is the exact reverse (vCPUs joined with a timeout, devices destroyed on the device
// thread, then the VM and its memory). A failure while creating unwinds what was built.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vmm/arch/x86_64/pvh_elf.h"
#include "vmm/devices/virtio/net/rate_limiter.h"
#include "vmm/event/event_loop.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memory/guest_memory.h"
#include "vmm/monitor/config.h"
#include "vmm/monitor/console.h"
#include "vmm/vcpu/exit_stats.h"
#include "vmm/vcpu/vcpu.h"

namespace flotilla::vmm {

struct MachineEnd {
  enum class Kind { kPowerOff, kReset, kStop, kCrash };
  Kind kind = Kind::kStop;
  int exit_code = 0;
  std::string detail;
};

struct MachineDevices;  // machine_devices.h
namespace virtio {
class VirtioDevice;
}

class Machine {
 public:
  using Clock = std::chrono::steady_clock;
  static VmmResult<std::unique_ptr<Machine>> create(const Kvm& kvm, const VmConfig& config,
                                                    const std::vector<uint8_t>& kernel,
                                                    Console& console, EventLoop& loop);
  ~Machine();

  void start();
  // Blocks until the guest or the monitor ends this boot.
  MachineEnd wait();
  // First request wins. Any thread.
  void request_end(MachineEnd end);

  bool pause(Clock::time_point deadline);
  bool resume(Clock::time_point deadline);
  bool paused() const;
  // Queues Ctrl-Alt-Del in the i8042 keyboard buffer (IRQ 1); false when it is full.
  bool send_ctrl_alt_del();
  // Live rate limits of NIC `index`; false when there is no such NIC.
  bool set_nic_limits(size_t index, virtio::RateLimit rx, virtio::RateLimit tx);
  nlohmann::json stats() const;
  std::vector<VcpuState> vcpu_states() const;
  std::vector<uint64_t> vcpu_exits() const;

 private:
  Machine(const VmConfig& config, Console& console, EventLoop& loop, VmFd vm, GuestMemory memory);
  VmmResult<void> setup_vm();
  VmmResult<void> load_kernel(const std::vector<uint8_t>& kernel);
  VmmResult<void> create_devices();
  VmmResult<void> add_virtio(std::shared_ptr<virtio::VirtioDevice> device, const char* name);
  VmmResult<void> add_nic(size_t index);   // config_.nics[index] → virtio-net
  VmmResult<void> add_disk(size_t index);  // config_.disks[index] → virtio-blk "blk<index>"
  VmmResult<void> create_vcpus(const Kvm& kvm);
  void stop_vcpus();
  void on_vcpu_event(const VcpuEvent& ev);

  VmConfig config_;
  Console& console_;
  EventLoop& loop_;
  GuestMemory memory_;  // outlives vm_ (declared first), whose memslots point into it
  VmFd vm_;
  uint32_t entry_ = 0;
  uint64_t start_info_ = 0;
  ExitStats exit_stats_;
  std::unique_ptr<MachineDevices> devices_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<MachineEnd> end_;  // GUARDED_BY(mu_)
  bool paused_ = false;            // GUARDED_BY(mu_)
};

}  // namespace flotilla::vmm
