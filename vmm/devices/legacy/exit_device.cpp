// ExitDevice: one port, one callback.
#include "vmm/devices/legacy/exit_device.h"

#include <algorithm>

namespace flotilla::vmm {

ExitDevice::ExitDevice(std::function<void(uint8_t)> on_power_off)
    : on_power_off_(std::move(on_power_off)) {}

void ExitDevice::read(uint64_t /*offset*/, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

void ExitDevice::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0 || data.size() != 1) {
    bad_accesses_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (on_power_off_) on_power_off_(data[0]);
}

}  // namespace flotilla::vmm
