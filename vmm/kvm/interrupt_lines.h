// The monitor's InterruptLine implementations (vmm/devices/interrupt.h). Both borrow the VmFd,
// which must outlive them, and may be called from any thread.
// - KvmIrqLine: KVM_IRQ_LINE on a GSI of the in-kernel PIC/IOAPIC (legacy, level: the 8250).
// - VirtioIrqLine: the edge of a virtio-mmio slot, by one of two paths to the same GSI:
//   * KVM_IRQ_LINE (a pulse, two ioctls): KVM injects in the calling thread and wakes the vCPU.
//   * an irqfd (one eventfd write): for a GSI routed through the IOAPIC, KVM hands the
//     injection to a kworker, so the caller is back to work at once, but the vCPU wakes one
//     thread switch later.
//   An interrupt after a quiet spell (kQuietNs since the last one) takes the first path: the
//   guest is most likely idle and waiting for it (a ping's reply: host→guest round trip
//   325 → 307 µs, guest→guest 447 → 411 µs here). Interrupts in a stream take the second:
//   the device thread keeps moving frames while the kworker injects (with the ioctl on every
//   interrupt, streaming throughput fell by 8-20 %).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "common/unique_fd.h"
#include "vmm/devices/interrupt.h"
#include "vmm/kvm/error.h"
#include "vmm/kvm/vm_fd.h"

namespace flotilla::vmm {

class KvmIrqLine final : public InterruptLine {
 public:
  KvmIrqLine(VmFd& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool high) override;
  void trigger() override;
  uint32_t gsi() const { return gsi_; }

 private:
  VmFd& vm_;
  uint32_t gsi_;
};

class VirtioIrqLine final : public InterruptLine {
 public:
  static constexpr int64_t kQuietNs = 200'000;

  static VmmResult<std::unique_ptr<VirtioIrqLine>> create(VmFd& vm, uint32_t gsi);
  ~VirtioIrqLine() override;
  void set_level(bool high) override;
  void trigger() override;
  uint32_t gsi() const { return gsi_; }

 private:
  VirtioIrqLine(VmFd& vm, uint32_t gsi, UniqueFd efd) : vm_(vm), gsi_(gsi), efd_(std::move(efd)) {}
  VmFd& vm_;
  uint32_t gsi_;
  UniqueFd efd_;
  std::atomic<int64_t> last_ns_{0};  // CLOCK_MONOTONIC of the last trigger
};

}  // namespace flotilla::vmm
