#include "vmm/devices/bus.h"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <array>
#include <sstream>

namespace flotilla::vmm {
namespace {

// Remembers the last access it saw; reads return the offset's low byte.
class EchoDevice : public BusDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    last_offset = offset;
    last_size = data.size();
  }
  uint64_t last_offset = ~0ULL;
  size_t last_size = 0;
};

TEST(Bus, InsertRefusesZeroLengthOverflowAndOverlap) {
  Bus bus("pio");
  auto dev = std::make_shared<EchoDevice>();
  EXPECT_TRUE(bus.insert(0x3f8, 8, dev, "com1").ok());
  EXPECT_FALSE(bus.insert(0x100, 0, dev, "zero").ok());
  EXPECT_FALSE(bus.insert(~0ULL - 1, 4, dev, "wrap").ok());
  EXPECT_FALSE(bus.insert(0x3f0, 9, dev, "overlap-low").ok());   // ends at 0x3f8
  EXPECT_FALSE(bus.insert(0x3ff, 1, dev, "overlap-high").ok());  // last byte
  EXPECT_FALSE(bus.insert(0x3f0, 0x20, dev, "cover").ok());
  EXPECT_FALSE(bus.insert(0x3f8, 8, nullptr, "null").ok());
  EXPECT_TRUE(bus.insert(0x3f0, 8, dev, "below").ok());  // ends at 0x3f7: adjacent is fine
  EXPECT_TRUE(bus.insert(0x400, 1, dev, "above").ok());
  EXPECT_EQ(bus.stats().size(), 3u);
  EXPECT_EQ(bus.stats()[0].name, "below");  // sorted by base
}

TEST(Bus, DispatchesWithOffsetAndCountsPerRange) {
  Bus bus("mmio");
  auto a = std::make_shared<EchoDevice>();
  auto b = std::make_shared<EchoDevice>();
  ASSERT_TRUE(bus.insert(0xfeb00000, 0x200, a, "slot0").ok());
  ASSERT_TRUE(bus.insert(0xfeb00200, 0x200, b, "slot1").ok());
  std::array<uint8_t, 4> buf{};
  EXPECT_TRUE(bus.read(0xfeb00204, buf));
  EXPECT_EQ(b->last_offset, 4u);
  EXPECT_EQ(buf[0], 4);
  EXPECT_TRUE(bus.write(0xfeb001fc, buf));
  EXPECT_EQ(a->last_offset, 0x1fcu);
  EXPECT_EQ(a->last_size, 4u);
  auto stats = bus.stats();
  EXPECT_EQ(stats[0].writes, 1u);
  EXPECT_EQ(stats[0].reads, 0u);
  EXPECT_EQ(stats[1].reads, 1u);
  EXPECT_EQ(bus.unknown_accesses(), 0u);
}

TEST(Bus, UnknownAccessesAreCountedAndReadAsOnes) {
  Bus bus("pio");
  auto dev = std::make_shared<EchoDevice>();
  ASSERT_TRUE(bus.insert(0x70, 2, dev, "rtc").ok());
  std::array<uint8_t, 2> buf{0, 0};
  EXPECT_FALSE(bus.read(0x60, buf));
  EXPECT_EQ(buf[0], 0xff);
  EXPECT_EQ(buf[1], 0xff);
  EXPECT_FALSE(bus.write(0x1234, buf));
  // Straddling the end of a range is not the device's business.
  std::array<uint8_t, 4> wide{};
  EXPECT_FALSE(bus.read(0x71, wide));
  EXPECT_FALSE(bus.read(0, std::span<uint8_t>()));
  EXPECT_FALSE(bus.read(~0ULL, wide));
  EXPECT_EQ(bus.unknown_accesses(), 5u);
  // Many distinct unknown addresses: counted, logging capped, nothing breaks.
  for (uint64_t port = 0x1000; port < 0x2000; ++port) bus.write(port, buf);
  EXPECT_EQ(bus.unknown_accesses(), 5u + 0x1000);
  EXPECT_EQ(bus.stats()[0].reads, 0u);
}

TEST(Bus, QuietRangesCountUnknownAccessesWithoutLogging) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  Bus bus("mmio");
  bus.set_quiet(0xfeb00000, 0x3000);
  std::array<uint8_t, 4> data{};
  EXPECT_FALSE(bus.read(0xfeb00200, data));  // an empty virtio slot: expected
  EXPECT_EQ(data[0], 0xff);
  EXPECT_FALSE(bus.read(0xd0000000, data));  // elsewhere: logged
  spdlog::default_logger()->flush();
  spdlog::set_default_logger(previous);
  EXPECT_EQ(bus.unknown_accesses(), 2u);
  EXPECT_EQ(log.str().find("0xfeb00200"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("0xd0000000"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace flotilla::vmm
