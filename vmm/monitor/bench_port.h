// BenchPort: port 0x80 (team/VMM.md "bench port"). Counts writes and does nothing else, so a
// guest loop of `out` to it measures one PIO exit round trip through the dispatcher and bus.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "vmm/devices/bus.h"

namespace flotilla::vmm {

class BenchPort : public BusDevice {
 public:
  static constexpr uint64_t kPort = 0x80;
  void read(uint64_t, std::span<uint8_t> data) override {
    for (auto& b : data) b = 0xff;
  }
  void write(uint64_t, std::span<const uint8_t>) override {
    writes_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t writes() const { return writes_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> writes_{0};
};

}  // namespace flotilla::vmm
