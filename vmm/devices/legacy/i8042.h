// I8042: the PS/2 controller, just enough for Linux's probe and for a guest reset (kvmtool,
// Firecracker's i8042). One BusDevice at base 0x60, length 5: offset 0 = data port (0x60),
// offset 4 = status/command port (0x64); offsets 1..3 (0x61..0x63 belong to the PIT/speaker,
// handled in the kernel when the in-kernel PIT exists) read 0xff and ignore writes.
// Command 0xFE (pulse reset line) or 0xD1 with bit 0 clear calls the reset callback. Nothing
// blocks: the controller answers at once; answers queue in a small output buffer.
//
// Threads: vCPU threads; state guarded by mutex_. The reset callback and the optional
// keyboard interrupt are called without mutex_ held.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "vmm/devices/bus.h"
#include "vmm/devices/interrupt.h"

namespace flotilla::vmm {

struct I8042State {
  std::vector<std::pair<uint8_t, bool>> output;  // (byte, from aux), ≤ 16
  uint8_t pending = 0;                           // I8042's internal "next data byte" state
  uint8_t command_byte = 0x61;
  uint8_t output_port = 0x01;
  bool last_was_command = false;
};

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kBase = 0x60;
  static constexpr uint64_t kLength = 5;
  static constexpr uint32_t kKeyboardIrq = 1;

  // keyboard_irq may be null (no interrupt; the guest polls); it must outlive the device.
  explicit I8042(std::function<void()> on_reset, InterruptLine* keyboard_irq = nullptr);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Host keyboard input (Ctrl-Alt-Del from the control socket): queues `scancodes` as
  // keyboard bytes, as the guest reads them through translation (set 1), and raises the
  // keyboard interrupt if the guest enabled it (command byte bit 0). All or nothing: false,
  // nothing queued, when the bounded output buffer (kMaxOutput) has no room for them all.
  bool inject_keys(std::span<const uint8_t> scancodes);
  static constexpr size_t kMaxOutput = 16;

  uint64_t resets_requested() const;
  uint64_t bad_accesses() const;
  I8042State state() const;
  void restore(const I8042State& state);

 private:
  enum class Pending : uint8_t {
    kNone,
    kWriteCommandByte,
    kWriteOutputPort,
    kKbdData,
    kAuxData,
    kAuxCommand,
    kKbdParam
  };
  // Each returns true when the reset callback must run (mutex_ held; caller calls it after).
  bool command(uint8_t cmd);
  bool data(uint8_t value);
  void keyboard_command(uint8_t cmd);
  void push_output(uint8_t byte, bool aux);
  uint8_t status() const;

  mutable std::mutex mutex_;
  std::function<void()> on_reset_;
  InterruptLine* keyboard_irq_;
  std::deque<std::pair<uint8_t, bool>> output_;  // GUARDED_BY(mutex_): (byte, from aux)
  Pending pending_ = Pending::kNone;             // GUARDED_BY(mutex_)
  uint8_t command_byte_ = 0x61;  // GUARDED_BY(mutex_): kbd irq on, system flag, translate
  uint8_t output_port_ = 0x01;   // GUARDED_BY(mutex_): bit 0 = reset line (1 = running)
  bool last_was_command_ = false;
  bool raise_irq_ = false;  // GUARDED_BY(mutex_): an answer wants the keyboard irq
  uint64_t resets_ = 0;
  uint64_t bad_accesses_ = 0;
};

}  // namespace flotilla::vmm
