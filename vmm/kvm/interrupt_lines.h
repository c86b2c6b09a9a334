// The monitor's InterruptLine implementations (vmm/devices/interrupt.h):
// - KvmIrqLine: KVM_IRQ_LINE on a GSI of the in-kernel PIC/IOAPIC (legacy, level: the 8250).
// - IrqfdLine: an eventfd registered with KVM_IRQFD (edge: virtio-mmio); trigger() is one
//   write(2), no ioctl, so any thread may call it.
// Both borrow the VmFd, which must outlive them.
#pragma once

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

class IrqfdLine final : public InterruptLine {
 public:
  static VmmResult<std::unique_ptr<IrqfdLine>> create(VmFd& vm, uint32_t gsi);
  ~IrqfdLine() override;
  void set_level(bool high) override;
  void trigger() override;
  uint32_t gsi() const { return gsi_; }
  int eventfd() const { return efd_.get(); }

 private:
  IrqfdLine(VmFd& vm, uint32_t gsi, UniqueFd efd) : vm_(vm), gsi_(gsi), efd_(std::move(efd)) {}
  VmFd& vm_;
  uint32_t gsi_;
  UniqueFd efd_;
};

}  // namespace flotilla::vmm
