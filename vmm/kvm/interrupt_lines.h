// The monitor's InterruptLine (vmm/devices/interrupt.h): KVM_IRQ_LINE on a GSI of the
// in-kernel PIC/IOAPIC, for the legacy devices (level: the 8250) and virtio-mmio (edge: a
// pulse). Any thread may call it. It borrows the VmFd, which must outlive it.
//
// Why not an irqfd for virtio: KVM injects an irqfd in the writer's context only for MSI
// routes; a GSI routed through the IOAPIC is handed to a kworker, one more thread switch
// (measured 60 µs of a 385 µs host→guest ping round trip here) before the vCPU is woken.
// The ioctl does the same injection in the calling thread.
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

}  // namespace flotilla::vmm
