// I8042: controller commands (port 0x64) and keyboard commands (port 0x60), answered at once.
#include "vmm/devices/legacy/i8042.h"

#include <algorithm>

namespace flotilla::vmm {

namespace {
// Status register bits.
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;
constexpr uint8_t kStatusCommand = 0x08;  // last write went to the command port
constexpr uint8_t kStatusUnlocked = 0x10;
constexpr uint8_t kStatusAuxData = 0x20;
// Command byte bits.
constexpr uint8_t kCtrKbdInterrupt = 0x01;
constexpr uint8_t kCtrSystemFlag = 0x04;
constexpr uint8_t kCtrKbdDisabled = 0x10;
constexpr uint8_t kCtrAuxDisabled = 0x20;
// Keyboard answers.
constexpr uint8_t kAck = 0xfa;
constexpr uint8_t kSelfTestPassed = 0xaa;
}  // namespace

I8042::I8042(std::function<void()> on_reset, InterruptLine* keyboard_irq)
    : on_reset_(std::move(on_reset)), keyboard_irq_(keyboard_irq) {}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  bool irq = false;
  {
    std::lock_guard lock(mutex_);
    std::fill(data.begin(), data.end(), 0xff);
    if (data.size() != 1 || (offset != 0 && offset != 4)) {
      ++bad_accesses_;
      return;
    }
    if (offset == 4) {
      data[0] = status();
      return;
    }
    if (output_.empty()) {
      data[0] = 0;  // an empty buffer reads as the last value on real parts; 0 is fine
      return;
    }
    data[0] = output_.front().first;
    output_.pop_front();
    // The next keyboard byte moves into the output register: interrupt again, as the real
    // part does per byte (a guest that reads one byte per interrupt still sees them all).
    irq = !output_.empty() && !output_.front().second && (command_byte_ & kCtrKbdInterrupt) != 0;
  }
  if (irq && keyboard_irq_ != nullptr) keyboard_irq_->trigger();
}

bool I8042::inject_keys(std::span<const uint8_t> scancodes) {
  bool irq = false;
  {
    std::lock_guard lock(mutex_);
    if (output_.size() + scancodes.size() > kMaxOutput) return false;
    for (uint8_t b : scancodes) push_output(b, false);
    irq = std::exchange(raise_irq_, false);
  }
  if (irq && keyboard_irq_ != nullptr) keyboard_irq_->trigger();
  return true;
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  bool reset = false;
  bool irq = false;
  {
    std::lock_guard lock(mutex_);
    if (data.size() != 1 || (offset != 0 && offset != 4)) {
      ++bad_accesses_;
      return;
    }
    reset = offset == 4 ? command(data[0]) : this->data(data[0]);
    last_was_command_ = offset == 4;
    if (reset) ++resets_;
    irq = std::exchange(raise_irq_, false);
  }
  if (irq && keyboard_irq_ != nullptr) keyboard_irq_->trigger();
  if (reset && on_reset_) on_reset_();
}

uint64_t I8042::resets_requested() const {
  std::lock_guard lock(mutex_);
  return resets_;
}

uint64_t I8042::bad_accesses() const {
  std::lock_guard lock(mutex_);
  return bad_accesses_;
}

I8042State I8042::state() const {
  std::lock_guard lock(mutex_);
  return I8042State{{output_.begin(), output_.end()},
                    static_cast<uint8_t>(pending_),
                    command_byte_,
                    output_port_,
                    last_was_command_};
}

void I8042::restore(const I8042State& state) {
  std::lock_guard lock(mutex_);
  output_.assign(state.output.begin(),
                 state.output.begin() +
                     static_cast<std::ptrdiff_t>(std::min(kMaxOutput, state.output.size())));
  pending_ = state.pending <= static_cast<uint8_t>(Pending::kKbdParam)
                 ? static_cast<Pending>(state.pending)
                 : Pending::kNone;
  command_byte_ = state.command_byte;
  output_port_ = state.output_port;
  last_was_command_ = state.last_was_command;
}

uint8_t I8042::status() const {
  uint8_t s = kStatusUnlocked;
  if ((command_byte_ & kCtrSystemFlag) != 0) s |= kStatusSystemFlag;
  if (last_was_command_) s |= kStatusCommand;
  if (!output_.empty()) {
    s |= kStatusOutputFull;
    if (output_.front().second) s |= kStatusAuxData;
  }
  return s;
}

void I8042::push_output(uint8_t byte, bool aux) {
  if (output_.size() >= kMaxOutput) return;  // a guest that never reads loses answers
  output_.emplace_back(byte, aux);
  if (!aux && (command_byte_ & kCtrKbdInterrupt) != 0) raise_irq_ = true;
}

bool I8042::command(uint8_t cmd) {
  pending_ = Pending::kNone;
  switch (cmd) {
    case 0x20:  // read command byte
      push_output(command_byte_, false);
      return false;
    case 0x60:  // write command byte (next data byte)
      pending_ = Pending::kWriteCommandByte;
      return false;
    case 0xa7:  // disable aux
      command_byte_ |= kCtrAuxDisabled;
      return false;
    case 0xa8:  // enable aux
      command_byte_ &= static_cast<uint8_t>(~kCtrAuxDisabled);
      return false;
    case 0xa9:  // aux interface test: passed
    case 0xab:  // keyboard interface test: passed
      push_output(0x00, false);
      return false;
    case 0xaa:  // controller self test
      push_output(0x55, false);
      return false;
    case 0xad:  // disable keyboard
      command_byte_ |= kCtrKbdDisabled;
      return false;
    case 0xae:  // enable keyboard
      command_byte_ &= static_cast<uint8_t>(~kCtrKbdDisabled);
      return false;
    case 0xc0:  // read input port
      push_output(0x00, false);
      return false;
    case 0xd0:  // read output port
      push_output(output_port_, false);
      return false;
    case 0xd1:  // write output port (next data byte; bit 0 clear = reset)
      pending_ = Pending::kWriteOutputPort;
      return false;
    case 0xd2:  // write keyboard output buffer
      pending_ = Pending::kKbdData;
      return false;
    case 0xd3:  // write aux output buffer
      pending_ = Pending::kAuxData;
      return false;
    case 0xd4:  // next data byte goes to the aux device
      pending_ = Pending::kAuxCommand;
      return false;
    default:
      // 0xf0..0xff pulse output lines low; bit 0 is the CPU reset line (0xfe = reset).
      return cmd >= 0xf0 && (cmd & 0x01) == 0;
  }
}

bool I8042::data(uint8_t value) {
  const Pending pending = std::exchange(pending_, Pending::kNone);
  switch (pending) {
    case Pending::kWriteCommandByte:
      command_byte_ = value;
      return false;
    case Pending::kWriteOutputPort:
      output_port_ = value;
      return (value & 0x01) == 0;
    case Pending::kKbdData:
      push_output(value, false);
      return false;
    case Pending::kAuxData:
      push_output(value, true);
      return false;
    case Pending::kAuxCommand:
      push_output(0xfe, true);  // no mouse: resend/not present
      return false;
    case Pending::kKbdParam:
      push_output(kAck, false);
      return false;
    case Pending::kNone:
      keyboard_command(value);
      return false;
  }
  return false;
}

void I8042::keyboard_command(uint8_t cmd) {
  switch (cmd) {
    case 0xff:  // reset: ack, then self-test passed
      push_output(kAck, false);
      push_output(kSelfTestPassed, false);
      return;
    case 0xf2:  // identify: MF2 keyboard
      push_output(kAck, false);
      push_output(0xab, false);
      push_output(0x83, false);
      return;
    case 0xed:  // set LEDs
    case 0xf0:  // scan code set
    case 0xf3:  // typematic rate
      push_output(kAck, false);
      pending_ = Pending::kKbdParam;
      return;
    case 0xee:  // echo
      push_output(0xee, false);
      return;
    default:  // enable, disable, defaults... all acknowledged
      push_output(kAck, false);
      return;
  }
}

}  // namespace flotilla::vmm
