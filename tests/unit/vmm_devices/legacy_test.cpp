#include <gtest/gtest.h>

#include <atomic>
#include <ctime>

#include "tests/unit/vmm_devices/fakes.h"
#include "vmm/devices/legacy/exit_device.h"
#include "vmm/devices/legacy/i8042.h"
#include "vmm/devices/legacy/rtc.h"

namespace flotilla::vmm {
namespace {

uint8_t inb(BusDevice& d, uint64_t off) {
  uint8_t v = 0;
  d.read(off, std::span<uint8_t>(&v, 1));
  return v;
}
void outb(BusDevice& d, uint64_t off, uint8_t v) {
  d.write(off, std::span<const uint8_t>(&v, 1));
}

// ---- RTC ----
class RtcTest : public ::testing::Test {
 protected:
  RtcTest() : rtc([this] { return now; }) {
    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;  // November
    tm.tm_mday = 24;
    tm.tm_hour = 18;
    tm.tm_min = 30;
    tm.tm_sec = 45;
    now = ::timegm(&tm);  // a Tuesday
  }
  uint8_t cmos(uint8_t index) {
    outb(rtc, 0, index);
    return inb(rtc, 1);
  }
  void set_cmos(uint8_t index, uint8_t v) {
    outb(rtc, 0, index);
    outb(rtc, 1, v);
  }
  std::time_t now = 0;
  Rtc rtc;
};

TEST_F(RtcTest, BcdTimeFromTheClock) {
  EXPECT_EQ(cmos(0x00), 0x45);
  EXPECT_EQ(cmos(0x02), 0x30);
  EXPECT_EQ(cmos(0x04), 0x18);
  EXPECT_EQ(cmos(0x06), 0x03);  // Tuesday = 3 (Sunday = 1)
  EXPECT_EQ(cmos(0x07), 0x24);
  EXPECT_EQ(cmos(0x08), 0x11);
  EXPECT_EQ(cmos(0x09), 0x26);
  EXPECT_EQ(cmos(0x32), 0x20);
  now += 10;
  EXPECT_EQ(cmos(0x00), 0x55);  // follows the clock
}

TEST_F(RtcTest, BinaryAndTwelveHourModes) {
  set_cmos(0x0b, 0x04);  // binary, 12-hour
  EXPECT_EQ(cmos(0x00), 45);
  EXPECT_EQ(cmos(0x04), 0x80 | 6);  // 18:00 = 6 PM
  EXPECT_EQ(cmos(0x09), 26);
  set_cmos(0x0b, 0x00);  // BCD, 12-hour
  EXPECT_EQ(cmos(0x04), 0x86);
  set_cmos(0x0b, 0x02);
  EXPECT_EQ(cmos(0x04), 0x18);
}

TEST_F(RtcTest, StatusRegistersAndNmiBitMasked) {
  EXPECT_EQ(cmos(0x0a) & 0x80, 0);  // no update in progress
  EXPECT_EQ(cmos(0x0b), 0x02);
  EXPECT_EQ(cmos(0x0c), 0x00);
  EXPECT_EQ(cmos(0x0d), 0x80);  // valid RAM and time
  set_cmos(0x0d, 0x00);         // read-only
  EXPECT_EQ(cmos(0x0d), 0x80);
  // Bit 7 of the index port disables NMI; it selects the same register.
  EXPECT_EQ(cmos(0x80 | 0x00), 0x45);
  EXPECT_EQ(inb(rtc, 0), 0x00);  // index reads back without the NMI bit
}

TEST_F(RtcTest, GuestSetsTheClockAsAnOffset) {
  set_cmos(0x04, 0x09);  // 09 h
  EXPECT_EQ(cmos(0x04), 0x09);
  EXPECT_EQ(cmos(0x02), 0x30);
  now += 60;
  EXPECT_EQ(cmos(0x02), 0x31);  // keeps ticking from the new time
  EXPECT_EQ(cmos(0x04), 0x09);
  set_cmos(0x09, 0x99);
  EXPECT_EQ(cmos(0x09), 0x99);
  EXPECT_EQ(cmos(0x32), 0x20);
  set_cmos(0x00, 0xff);  // hostile BCD: clamped, no crash
  EXPECT_LE(cmos(0x00), 0x59);
}

TEST_F(RtcTest, CmosRamAndMemorySizes) {
  set_cmos(0x40, 0xab);
  EXPECT_EQ(cmos(0x40), 0xab);
  EXPECT_EQ(rtc.cmos_byte(0x40), 0xab);
  const uint64_t mib = 1024ULL * 1024;
  rtc.set_memory_sizes(3072 * mib, 1024 * mib);
  EXPECT_EQ(cmos(0x15) | cmos(0x16) << 8, 640);
  EXPECT_EQ(cmos(0x17) | cmos(0x18) << 8, 0xffff);  // capped
  EXPECT_EQ(cmos(0x34) | cmos(0x35) << 8, (3072 - 16) * 16);
  EXPECT_EQ(cmos(0x5b) | cmos(0x5c) << 8 | cmos(0x5d) << 16, 1024 * 16);
  rtc.set_memory_sizes(32 * mib, 0);
  EXPECT_EQ(cmos(0x34) | cmos(0x35) << 8, (32 - 16) * 16);
  EXPECT_EQ(cmos(0x30) | cmos(0x31) << 8, 31 * 1024);
  EXPECT_EQ(cmos(0x5b), 0);
  rtc.set_cmos_byte(0x5f, 7);
  EXPECT_EQ(cmos(0x5f), 7);
}

TEST_F(RtcTest, WrongSizesAreIgnored) {
  uint8_t wide[2] = {0x04, 0x04};
  rtc.write(0, std::span<const uint8_t>(wide, 2));
  rtc.read(1, std::span<uint8_t>(wide, 2));
  EXPECT_EQ(wide[0], 0xff);
  EXPECT_EQ(cmos(0x00), 0x45);
}

// ---- i8042 ----
TEST(I8042, ResetCommandCallsTheCallback) {
  int resets = 0;
  I8042 kbd([&] { ++resets; });
  EXPECT_EQ(inb(kbd, 4) & 0x01, 0);  // output buffer empty
  outb(kbd, 4, 0xfe);
  EXPECT_EQ(resets, 1);
  EXPECT_EQ(kbd.resets_requested(), 1u);
  outb(kbd, 4, 0xd1);  // write output port with the reset line low
  outb(kbd, 0, 0x00);
  EXPECT_EQ(resets, 2);
  outb(kbd, 4, 0xd1);
  outb(kbd, 0, 0x01);  // reset line high: nothing
  EXPECT_EQ(resets, 2);
}

TEST(I8042, ControllerAnswersWithoutBlocking) {
  testing::RecordingLine irq;
  I8042 kbd([] {}, &irq);
  outb(kbd, 4, 0xaa);  // self test
  EXPECT_EQ(inb(kbd, 4) & 0x01, 0x01);
  EXPECT_EQ(inb(kbd, 0), 0x55);
  EXPECT_EQ(inb(kbd, 4) & 0x01, 0x00);
  outb(kbd, 4, 0x20);  // read command byte
  const uint8_t ctr = inb(kbd, 0);
  outb(kbd, 4, 0x60);  // write command byte
  outb(kbd, 0, static_cast<uint8_t>(ctr | 0x01));
  outb(kbd, 4, 0x20);
  EXPECT_EQ(inb(kbd, 0), ctr | 0x01);
  outb(kbd, 0, 0xff);  // keyboard reset: ack + self test passed
  EXPECT_EQ(inb(kbd, 0), 0xfa);
  EXPECT_EQ(inb(kbd, 0), 0xaa);
  EXPECT_GT(irq.triggers(), 0u);
  outb(kbd, 0, 0xed);  // set LEDs takes a parameter
  outb(kbd, 0, 0x07);
  EXPECT_EQ(inb(kbd, 0), 0xfa);
  EXPECT_EQ(inb(kbd, 0), 0xfa);
  EXPECT_EQ(inb(kbd, 4) & 0x01, 0x00);
}

TEST(I8042, HostileGuestCannotGrowOrBreakIt) {
  int resets = 0;
  I8042 kbd([&] { ++resets; });
  for (int i = 0; i < 10000; ++i) outb(kbd, 0, 0xf2);  // identify, never read
  int n = 0;
  while ((inb(kbd, 4) & 0x01) && n < 100) {
    (void)inb(kbd, 0);
    ++n;
  }
  EXPECT_LE(n, 16);
  for (int v = 0; v < 256; ++v) {
    if (v == 0xfe || v == 0xd1 || (v >= 0xf0 && (v & 1) == 0)) continue;
    outb(kbd, 4, static_cast<uint8_t>(v));
  }
  EXPECT_EQ(resets, 0);
  uint8_t wide[4] = {0xfe, 0xfe, 0xfe, 0xfe};
  kbd.write(4, std::span<const uint8_t>(wide, 4));
  kbd.write(2, std::span<const uint8_t>(wide, 1));
  EXPECT_EQ(inb(kbd, 1), 0xff);
  EXPECT_EQ(resets, 0);
  EXPECT_EQ(kbd.bad_accesses(), 3u);
}

TEST(I8042, InjectedKeysQueueBoundedAndInterruptPerByte) {
  testing::RecordingLine irq;
  I8042 kbd([] {}, &irq);
  const uint8_t cad[] = {0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d};
  outb(kbd, 4, 0x60);  // command byte without the keyboard interrupt
  outb(kbd, 0, 0x60);
  ASSERT_TRUE(kbd.inject_keys(cad));
  EXPECT_EQ(irq.triggers(), 0u) << "interrupt raised although the guest disabled it";
  for (uint8_t want : cad) {
    ASSERT_EQ(inb(kbd, 4) & 0x21, 0x01);  // output full, keyboard (not aux) data
    EXPECT_EQ(inb(kbd, 0), want);
  }
  EXPECT_EQ(inb(kbd, 4) & 0x01, 0x00);

  outb(kbd, 4, 0x60);  // keyboard interrupt on
  outb(kbd, 0, 0x61);
  ASSERT_TRUE(kbd.inject_keys(cad));
  EXPECT_EQ(irq.triggers(), 1u);
  ASSERT_TRUE(kbd.inject_keys(cad));   // 12 of 16 bytes queued
  EXPECT_FALSE(kbd.inject_keys(cad));  // no room for all six: nothing queued
  for (int i = 0; i < 12; ++i) EXPECT_EQ(inb(kbd, 0), cad[i % 6]) << i;
  EXPECT_EQ(inb(kbd, 4) & 0x01, 0x00);
  // One interrupt per injection, then one per byte moving into the output register.
  EXPECT_EQ(irq.triggers(), 2u + 11u);
}

// ---- exit device ----
TEST(ExitDevice, AnyByteWritePowersOffWithTheValue) {
  std::atomic<int> last{-1};
  ExitDevice dev([&](uint8_t v) { last = v; });
  outb(dev, 0, 0x00);
  EXPECT_EQ(last.load(), 0);
  outb(dev, 0, 0x31);
  EXPECT_EQ(last.load(), 0x31);
  uint16_t wide = 7;
  dev.write(0, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&wide), 2));
  EXPECT_EQ(last.load(), 0x31);
  EXPECT_EQ(dev.bad_accesses(), 1u);
  EXPECT_EQ(inb(dev, 0), 0xff);
}

}  // namespace
}  // namespace flotilla::vmm
