// Rtc: MC146818 time registers computed from the host clock on every read.
#include "vmm/devices/legacy/rtc.h"

#include <algorithm>

namespace flotilla::vmm {

namespace {
constexpr uint8_t kRegSeconds = 0x00;
constexpr uint8_t kRegMinutes = 0x02;
constexpr uint8_t kRegHours = 0x04;
constexpr uint8_t kRegWeekday = 0x06;
constexpr uint8_t kRegDay = 0x07;
constexpr uint8_t kRegMonth = 0x08;
constexpr uint8_t kRegYear = 0x09;
constexpr uint8_t kRegA = 0x0a;
constexpr uint8_t kRegB = 0x0b;
constexpr uint8_t kRegC = 0x0c;
constexpr uint8_t kRegD = 0x0d;
constexpr uint8_t kRegCentury = 0x32;
constexpr uint8_t kAUpdateInProgress = 0x80;
constexpr uint8_t kB24Hour = 0x02;
constexpr uint8_t kBBinary = 0x04;
constexpr uint8_t kDValidRam = 0x80;
constexpr uint8_t kIndexMask = 0x7f;  // bit 7 of the index port is the NMI disable bit
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kBlock = 64 * kKiB;

void put16(std::array<uint8_t, 128>& cmos, uint8_t index, uint64_t value) {
  value = std::min<uint64_t>(value, 0xffff);
  cmos[index] = static_cast<uint8_t>(value);
  cmos[index + 1] = static_cast<uint8_t>(value >> 8);
}
}  // namespace

Rtc::Rtc(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return ::time(nullptr); };
  cmos_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz rate
  cmos_[kRegB] = kB24Hour;
  cmos_[kRegD] = kDValidRam;
}

void Rtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (data.size() != 1 || offset >= kLength) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  data[0] = offset == 0 ? index_ : read_index(index_);
}

void Rtc::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (data.size() != 1 || offset >= kLength) return;
  if (offset == 0) {
    index_ = data[0] & kIndexMask;
  } else {
    write_index(index_, data[0]);
  }
}

void Rtc::set_memory_sizes(uint64_t below_4g, uint64_t above_4g) {
  std::lock_guard lock(mutex_);
  put16(cmos_, 0x15, 640);  // base memory, KiB
  const uint64_t extended_kib = below_4g > kMiB ? (below_4g - kMiB) / kKiB : 0;
  put16(cmos_, 0x17, extended_kib);
  put16(cmos_, 0x30, extended_kib);
  put16(cmos_, 0x34, below_4g > 16 * kMiB ? (below_4g - 16 * kMiB) / kBlock : 0);
  const uint64_t high = std::min<uint64_t>(above_4g / kBlock, 0xffffff);
  cmos_[0x5b] = static_cast<uint8_t>(high);
  cmos_[0x5c] = static_cast<uint8_t>(high >> 8);
  cmos_[0x5d] = static_cast<uint8_t>(high >> 16);
}

void Rtc::set_cmos_byte(uint8_t index, uint8_t value) {
  std::lock_guard lock(mutex_);
  cmos_[index & kIndexMask] = value;
}

uint8_t Rtc::cmos_byte(uint8_t index) const {
  std::lock_guard lock(mutex_);
  return cmos_[index & kIndexMask];
}

RtcState Rtc::state() const {
  std::lock_guard lock(mutex_);
  return RtcState{cmos_, index_, static_cast<int64_t>(offset_)};
}

void Rtc::restore(const RtcState& state) {
  std::lock_guard lock(mutex_);
  cmos_ = state.cmos;
  index_ = state.index & kIndexMask;
  // Keep the guest clock within a century of the host's: a corrupt offset cannot overflow.
  constexpr int64_t kMaxOffset = 100LL * 366 * 24 * 3600;
  offset_ = static_cast<std::time_t>(std::clamp(state.offset_seconds, -kMaxOffset, kMaxOffset));
}

std::tm Rtc::guest_time() const {
  const std::time_t t = clock_() + offset_;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

uint8_t Rtc::encode(int value) const {
  value = std::clamp(value, 0, 99);
  if ((cmos_[kRegB] & kBBinary) != 0) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int Rtc::decode(uint8_t value) const {
  if ((cmos_[kRegB] & kBBinary) != 0) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

uint8_t Rtc::encode_hour(int hour) const {
  if ((cmos_[kRegB] & kB24Hour) != 0) return encode(hour);
  const int h12 = hour % 12 == 0 ? 12 : hour % 12;
  return static_cast<uint8_t>(encode(h12) | (hour >= 12 ? 0x80 : 0x00));
}

int Rtc::decode_hour(uint8_t value) const {
  if ((cmos_[kRegB] & kB24Hour) != 0) return decode(value);
  const int h12 = decode(value & 0x7f);
  return h12 % 12 + ((value & 0x80) != 0 ? 12 : 0);
}

uint8_t Rtc::read_index(uint8_t index) const {
  switch (index) {
    case kRegSeconds:
      return encode(guest_time().tm_sec);
    case kRegMinutes:
      return encode(guest_time().tm_min);
    case kRegHours:
      return encode_hour(guest_time().tm_hour);
    case kRegWeekday:
      return encode(guest_time().tm_wday + 1);
    case kRegDay:
      return encode(guest_time().tm_mday);
    case kRegMonth:
      return encode(guest_time().tm_mon + 1);
    case kRegYear:
      return encode((guest_time().tm_year + 1900) % 100);
    case kRegCentury:
      return encode((guest_time().tm_year + 1900) / 100);
    case kRegA:
      return cmos_[kRegA] & static_cast<uint8_t>(~kAUpdateInProgress);
    case kRegC:
      return 0;  // no interrupt sources
    case kRegD:
      return kDValidRam;
    default:
      return cmos_[index];
  }
}

void Rtc::write_index(uint8_t index, uint8_t value) {
  std::tm tm = guest_time();
  switch (index) {
    case kRegSeconds:
      tm.tm_sec = std::clamp(decode(value), 0, 59);
      break;
    case kRegMinutes:
      tm.tm_min = std::clamp(decode(value), 0, 59);
      break;
    case kRegHours:
      tm.tm_hour = std::clamp(decode_hour(value), 0, 23);
      break;
    case kRegDay:
      tm.tm_mday = std::clamp(decode(value), 1, 31);
      break;
    case kRegMonth:
      tm.tm_mon = std::clamp(decode(value), 1, 12) - 1;
      break;
    case kRegYear:
      tm.tm_year = ((tm.tm_year + 1900) / 100) * 100 + std::clamp(decode(value), 0, 99) - 1900;
      break;
    case kRegCentury:
      tm.tm_year = std::clamp(decode(value), 19, 99) * 100 + (tm.tm_year + 1900) % 100 - 1900;
      break;
    case kRegWeekday:
      return;  // derived from the date
    case kRegA:
      cmos_[kRegA] = value & static_cast<uint8_t>(~kAUpdateInProgress);
      return;
    case kRegC:
    case kRegD:
      return;  // read-only
    default:
      cmos_[index] = value;
      return;
  }
  offset_ = ::timegm(&tm) - clock_();
}

}  // namespace flotilla::vmm
