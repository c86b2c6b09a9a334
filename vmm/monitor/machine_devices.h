// MachineDevices: the buses and device models of one Machine, and the interrupt lines and
// notifications that wire them to KVM. Built by Machine::create_devices(); destroyed on the
// device thread after the vCPUs stopped (the virtio transports require it).
#pragma once

#include <memory>
#include <vector>

#include "vmm/devices/bus.h"
#include "vmm/devices/legacy/exit_device.h"
#include "vmm/devices/legacy/i8042.h"
#include "vmm/devices/legacy/rtc.h"
#include "vmm/devices/legacy/serial.h"
#include "vmm/devices/virtio/blk/block.h"
#include "vmm/devices/virtio/net/net.h"
#include "vmm/kvm/interrupt_lines.h"
#include "vmm/monitor/bench_port.h"
#include "vmm/virtio/mmio_transport.h"

namespace flotilla::vmm {

// Declaration order is destruction order reversed: the buses (which hold the last references
// to the devices) go first, the interrupt lines the devices use go last.
struct MachineDevices {
  std::unique_ptr<KvmIrqLine> com1_irq;
  std::unique_ptr<KvmIrqLine> kbd_irq;                      // i8042 keyboard, IRQ 1
  std::vector<std::unique_ptr<VirtioIrqLine>> virtio_irqs;  // one per slot in use
  std::shared_ptr<Serial> serial;
  std::shared_ptr<I8042> i8042;
  std::shared_ptr<Rtc> rtc;
  std::shared_ptr<ExitDevice> exit_device;
  std::shared_ptr<BenchPort> bench_port;
  std::vector<std::shared_ptr<virtio::VirtioBlock>> disks;  // config order (stats)
  std::vector<std::shared_ptr<virtio::VirtioNet>> nics;     // config order (stats, limits)
  std::vector<std::shared_ptr<virtio::MmioTransport>> transports;
  Bus pio{"pio"};
  Bus mmio{"mmio"};
};

}  // namespace flotilla::vmm
