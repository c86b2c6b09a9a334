// An interrupt line as a device sees it. The monitor provides the implementations
// (KVM_IRQ_LINE for the legacy devices, an irqfd eventfd for virtio); tests may provide a
// recording line, which is pure logic.
#pragma once

namespace flotilla::vmm {

class InterruptLine {
 public:
  virtual ~InterruptLine() = default;
  virtual void set_level(bool high) = 0;  // level-triggered devices (8250)
  virtual void trigger() = 0;             // edge: one interrupt (virtio-mmio, irqfd)
};

}  // namespace flotilla::vmm
