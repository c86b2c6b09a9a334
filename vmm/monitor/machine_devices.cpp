// Machine::create_devices: the legacy devices on the port bus, the virtio-mmio transports on
// the MMIO bus, and their wiring to KVM (IRQ lines, irqfds, ioeventfds).
#include "vmm/monitor/machine_devices.h"

#include <spdlog/spdlog.h>

#include <array>

#include "network/links.h"
#include "vmm/devices/virtio/rng/rng.h"
#include "vmm/monitor/machine.h"

namespace flotilla::vmm {
namespace {

VmmResult<void> insert(Bus& bus, uint64_t base, uint64_t len, std::shared_ptr<BusDevice> dev,
                       const char* name) {
  auto r = bus.insert(base, len, std::move(dev), name);
  if (!r) return vmm_fail(VmmErrc::kDevice, std::string(name) + ": " + r.error().message);
  return {};
}

}  // namespace

VmmResult<void> Machine::create_devices() {
  devices_ = std::make_unique<MachineDevices>();
  MachineDevices& d = *devices_;
  d.com1_irq = std::make_unique<KvmIrqLine>(vm_, Serial::kCom1Irq);
  Console* console = &console_;
  d.serial = std::make_shared<Serial>(
      *d.com1_irq, [console](std::span<const uint8_t> bytes) { console->output(bytes); });
  d.kbd_irq = std::make_unique<KvmIrqLine>(vm_, I8042::kKeyboardIrq);
  d.i8042 = std::make_shared<I8042>(
      [this] {
        request_end(MachineEnd{MachineEnd::Kind::kReset, 0, "i8042 reset (0xFE)"});
      },
      d.kbd_irq.get());
  d.rtc = std::make_shared<Rtc>();
  const uint64_t ram = memory_.size();
  d.rtc->set_memory_sizes(std::min(ram, layout::kLowRamMax),
                          ram > layout::kLowRamMax ? ram - layout::kLowRamMax : 0);
  d.exit_device = std::make_shared<ExitDevice>([this](uint8_t value) {
    request_end(MachineEnd{MachineEnd::Kind::kPowerOff, value,
                           "guest power-off (port 0xf4 value " + std::to_string(value) + ")"});
  });
  d.bench_port = std::make_shared<BenchPort>();
  if (auto r = insert(d.pio, Serial::kCom1Base, Serial::kLength, d.serial, "com1"); !r) return r;
  if (auto r = insert(d.pio, I8042::kBase, I8042::kLength, d.i8042, "i8042"); !r) return r;
  if (auto r = insert(d.pio, Rtc::kBase, Rtc::kLength, d.rtc, "rtc"); !r) return r;
  if (auto r = insert(d.pio, ExitDevice::kPort, ExitDevice::kLength, d.exit_device, "exit"); !r) {
    return r;
  }
  if (auto r = insert(d.pio, BenchPort::kPort, 1, d.bench_port, "bench"); !r) return r;
  std::shared_ptr<Serial> serial = d.serial;
  console_.set_input_sink(
      [serial](std::span<const uint8_t> b) { return serial->enqueue_input(b); });
  if (config_.rng) {
    auto rng = virtio::VirtioRng::create(virtio::VirtioRngConfig{}, &loop_);
    if (!rng) return vmm_fail(VmmErrc::kDevice, "virtio-rng: " + rng.error().message);
    if (auto r = add_virtio(*rng, "virtio-rng"); !r) return r;
  }
  for (size_t i = 0; i < config_.disks.size(); ++i) {
    if (auto r = add_disk(i); !r) return r;
  }
  for (size_t i = 0; i < config_.nics.size(); ++i) {
    if (auto r = add_nic(i); !r) return r;
  }
  // Guests scan every virtio slot for devices (team/VMM.md); the empty ones are no news.
  d.mmio.set_quiet(layout::kVirtioBase, layout::kVirtioSlots * layout::kVirtioSlotSize);
  return {};
}

VmmResult<void> Machine::add_nic(size_t index) {
  const NicConfig& nic = config_.nics[index];
  const std::string name = "virtio-net" + std::to_string(index);
  auto tap = network::open_tap(nic.tap);
  if (!tap) {
    return vmm_fail(VmmErrc::kDevice,
                    "nic " + std::to_string(index) + " (" + nic.tap + "): " + tap.error().message);
  }
  virtio::VirtioNetConfig nc;
  nc.mac = nic.mac.bytes;
  nc.rx_limit = nic.rx;
  nc.tx_limit = nic.tx;
  auto net = virtio::VirtioNet::create(nc, std::move(*tap), loop_);
  if (!net) return vmm_fail(VmmErrc::kDevice, name + ": " + net.error().message);
  devices_->nics.push_back(*net);
  return add_virtio(*net, name.c_str());
}

bool Machine::set_nic_limits(size_t index, virtio::RateLimit rx, virtio::RateLimit tx) {
  if (!devices_ || index >= devices_->nics.size()) return false;
  devices_->nics[index]->set_limits(rx, tx);
  return true;
}

VmmResult<void> Machine::add_disk(size_t index) {
  const DiskConfig& disk = config_.disks[index];
  const std::string name = "blk" + std::to_string(index);
  auto image = storage::open_image(open_options(disk));
  if (!image) {
    return vmm_fail(VmmErrc::kDevice, "disk " + std::to_string(index) + " (" + disk.path +
                                          "): " + image.error().message);
  }
  virtio::VirtioBlockConfig bc;
  bc.name = name;
  bc.serial = disk.serial;
  auto block = virtio::VirtioBlock::create(bc, std::move(*image), loop_);
  if (!block) return vmm_fail(VmmErrc::kDevice, name + ": " + block.error().message);
  devices_->disks.push_back(*block);
  const std::string bus_name = "virtio-blk" + std::to_string(index);
  return add_virtio(*block, bus_name.c_str());
}

VmmResult<void> Machine::add_virtio(std::shared_ptr<virtio::VirtioDevice> device,
                                    const char* name) {
  MachineDevices& d = *devices_;
  const auto slot = static_cast<uint32_t>(d.transports.size());
  if (slot >= layout::kVirtioSlots) return vmm_fail(VmmErrc::kDevice, "no free virtio slot");
  const uint64_t base = layout::kVirtioBase + slot * layout::kVirtioSlotSize;
  auto irq = VirtioIrqLine::create(vm_, layout::kVirtioFirstGsi + slot);
  if (!irq) return fail(irq.error());
  auto transport = virtio::MmioTransport::create(std::move(device), memory_.view(), **irq, loop_);
  if (!transport)
    return vmm_fail(VmmErrc::kDevice, std::string(name) + ": " + transport.error().message);
  d.virtio_irqs.push_back(std::move(*irq));
  for (size_t q = 0; q < (*transport)->queue_count(); ++q) {
    auto r =
        vm_.register_ioeventfd((*transport)->notify_eventfd(static_cast<uint16_t>(q)),
                               IoSpace::kMmio, base + virtio::MmioTransport::kNotifyOffset, 4, q);
    if (!r) return r;
  }
  if (auto r = insert(d.mmio, base, layout::kVirtioSlotSize, *transport, name); !r) return r;
  d.transports.push_back(std::move(*transport));
  return {};
}

namespace {
// Ctrl-Alt-Del as the guest reads it through the i8042's translation (scancode set 1): make
// Ctrl, Alt, Delete, then the breaks in reverse order (Firecracker's SendCtrlAltDel).
constexpr std::array<uint8_t, 6> kCtrlAltDel = {0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d};
}  // namespace

bool Machine::send_ctrl_alt_del() {
  return devices_ && devices_->i8042->inject_keys(kCtrlAltDel);
}

}  // namespace flotilla::vmm
