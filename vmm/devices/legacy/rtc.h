// Rtc: the MC146818 CMOS real-time clock (ports 0x70 index / 0x71 data: base 0x70, length 2).
// Time registers follow the host clock (plus an offset the guest may set by writing them),
// in BCD or binary and 12/24-hour per register B. Status A (no update in progress), B
// (guest-writable mode bits), C (no interrupt sources: reads 0), D (valid RAM). Bit 7 of the
// index (NMI disable) is masked off. 128 bytes of CMOS RAM; the monitor sets the memory-size
// fields with set_memory_sizes() (0x15/0x16, 0x17/0x18, 0x30/0x31, 0x34/0x35, 0x5b-0x5d).
// No periodic/alarm/update interrupts (IRQ 8 is never raised).
//
// Threads: vCPU threads and the monitor; everything guarded by mutex_.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/devices/bus.h"

namespace flotilla::vmm {

struct RtcState {
  std::array<uint8_t, 128> cmos{};
  uint8_t index = 0;
  int64_t offset_seconds = 0;  // guest time - host time
};

class Rtc : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0x70;
  static constexpr uint64_t kLength = 2;
  using Clock = std::function<std::time_t()>;  // seconds since the epoch, UTC

  // clock defaults to the host's ::time(); tests inject their own.
  explicit Rtc(Clock clock = {});

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // below_4g: RAM bytes below 4 GiB (including the first MiB); above_4g: RAM bytes from 4 GiB.
  void set_memory_sizes(uint64_t below_4g, uint64_t above_4g);
  // Raw CMOS byte access for the monitor (index masked to 0..127).
  void set_cmos_byte(uint8_t index, uint8_t value);
  uint8_t cmos_byte(uint8_t index) const;
  RtcState state() const;
  void restore(const RtcState& state);

 private:
  uint8_t read_index(uint8_t index) const;  // mutex_ held
  void write_index(uint8_t index, uint8_t value);
  std::tm guest_time() const;
  uint8_t encode(int value) const;
  int decode(uint8_t value) const;
  uint8_t encode_hour(int hour) const;
  int decode_hour(uint8_t value) const;

  mutable std::mutex mutex_;
  Clock clock_;
  std::array<uint8_t, 128> cmos_{};  // GUARDED_BY(mutex_)
  uint8_t index_ = 0;                // GUARDED_BY(mutex_)
  std::time_t offset_ = 0;           // GUARDED_BY(mutex_): guest time - host time, seconds
};

}  // namespace flotilla::vmm
