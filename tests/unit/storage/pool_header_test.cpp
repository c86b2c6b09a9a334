// The on-device pool header: round trip, alternating slots, a torn newest slot falls back to
// the older one, corrupt or hostile headers are refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "storage/pools/pool_header.h"
#include "tests/unit/storage/store_test_util.h"

namespace flotilla::storage::pools {
namespace {

using storage::test::TempDir;

constexpr uint64_t M = 1ULL << 20;

std::string make_device(const TempDir& dir, uint64_t size = 64 * M) {
  const std::string path = dir.file("pool.img");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  ::close(fd);
  return path;
}

PoolHeader sample() {
  PoolHeader h;
  h.pool_id = "6b0f6f0e-8a4b-4c55-9d0e-5b8f3b9c2a10";
  h.pool_name = "fast";
  h.device_bytes = 64 * M;
  h.disks.push_back({"d1", "root", "raw", 3 * M, {{M, 2 * M}, {10 * M, M}}});
  h.disks.push_back({"d2", "data", "raw", 4 * M, {{3 * M, 4 * M}}});
  return h;
}

void poke(const std::string& path, uint64_t offset, uint8_t value) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &value, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

TEST(PoolHeaderTest, Crc32MatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32({reinterpret_cast<const uint8_t*>(s.data()), s.size()}), 0xCBF43926u);
}

TEST(PoolHeaderTest, WritesAlternateSlotsAndTheNewestWins) {
  TempDir dir;
  const std::string dev = make_device(dir);
  EXPECT_FALSE(read_pool_header(dev));  // all zeroes: no header
  PoolHeader h = sample();
  ASSERT_TRUE(write_pool_header(dev, h));
  EXPECT_EQ(h.generation, 1u);
  h.disks.pop_back();
  ASSERT_TRUE(write_pool_header(dev, h));
  EXPECT_EQ(h.generation, 2u);
  auto got = read_pool_header(dev);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->generation, 2u);
  EXPECT_EQ(got->pool_id, h.pool_id);
  ASSERT_EQ(got->disks.size(), 1u);
  EXPECT_EQ(got->disks[0], sample().disks[0]);
}

TEST(PoolHeaderTest, ATornNewestSlotFallsBackToTheOlderOne) {
  TempDir dir;
  const std::string dev = make_device(dir);
  PoolHeader h = sample();
  ASSERT_TRUE(write_pool_header(dev, h));  // gen 1 → slot 1
  h.disks.pop_back();
  ASSERT_TRUE(write_pool_header(dev, h));  // gen 2 → slot 0
  poke(dev, kSlotHeadBytes + 10, 'X');     // slot 0's payload: CRC fails
  auto got = read_pool_header(dev);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->generation, 1u);
  EXPECT_EQ(got->disks.size(), 2u);
  // The next write goes past the surviving generation, into the torn slot.
  ASSERT_TRUE(write_pool_header(dev, h));
  EXPECT_EQ(h.generation, 2u);
  EXPECT_EQ(read_pool_header(dev)->disks.size(), 1u);
}

TEST(PoolHeaderTest, BothSlotsCorruptIsRefused) {
  TempDir dir;
  const std::string dev = make_device(dir);
  PoolHeader h = sample();
  ASSERT_TRUE(write_pool_header(dev, h));
  ASSERT_TRUE(write_pool_header(dev, h));
  poke(dev, 20, 0x55);             // slot 0 generation byte: CRC fails
  poke(dev, kSlotBytes + 3, 'x');  // slot 1 magic
  auto got = read_pool_header(dev);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, HeaderError::Code::corrupt);
  EXPECT_NE(got.error().message.find("no valid pool header"), std::string::npos);
}

TEST(PoolHeaderTest, HostileContentIsRefusedEvenWithAGoodChecksum) {
  PoolHeader h = sample();
  h.disks[0].extents[0].host_offset = 0;  // inside the header area
  auto bytes = encode_slot(h);
  ASSERT_TRUE(bytes);
  EXPECT_FALSE(decode_slot(*bytes));
  h = sample();
  h.disks[0].extents[0] = {63 * M, 2 * M};  // past the device
  EXPECT_FALSE(decode_slot(*encode_slot(h)));
  h = sample();
  h.disks[0].size_bytes = 99;  // size disagrees with the extents
  EXPECT_FALSE(decode_slot(*encode_slot(h)));
  // A length field past the slot.
  auto good = *encode_slot(sample());
  good[15] = 0x7f;
  EXPECT_FALSE(decode_slot(good));
  EXPECT_FALSE(decode_slot(std::span<const uint8_t>(good.data(), 10)));
}

TEST(PoolHeaderTest, WipeRemovesBothSlots) {
  TempDir dir;
  const std::string dev = make_device(dir);
  PoolHeader h = sample();
  ASSERT_TRUE(write_pool_header(dev, h));
  ASSERT_TRUE(write_pool_header(dev, h));
  ASSERT_TRUE(wipe_pool_header(dev));
  EXPECT_FALSE(read_pool_header(dev));
}

}  // namespace
}  // namespace flotilla::storage::pools
