// ExitDevice: QEMU isa-debug-exit compatible power-off port (0xf4, length 1). Any 1-byte
// write calls the power-off callback with the value written (the monitor exits 0 for 0x00).
// Reads return 0xff. Other sizes are counted and ignored. Called from vCPU threads; the
// callback must be thread-safe (several vCPUs may write at once).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "vmm/devices/bus.h"

namespace flotilla::vmm {

class ExitDevice : public BusDevice {
 public:
  static constexpr uint64_t kPort = 0xf4;
  static constexpr uint64_t kLength = 1;

  explicit ExitDevice(std::function<void(uint8_t)> on_power_off);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  uint64_t bad_accesses() const { return bad_accesses_.load(std::memory_order_relaxed); }

 private:
  std::function<void(uint8_t)> on_power_off_;
  std::atomic<uint64_t> bad_accesses_{0};
};

}  // namespace flotilla::vmm
