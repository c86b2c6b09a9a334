// virtio-blk end to end against a real raw image file: a Linux-like driver brings the device
// up through the virtio-mmio transport, posts requests, notifies as KVM's ioeventfd would, and
// checks the status bytes, the used lengths, guest RAM and the file on the host.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "tests/unit/vmm_devices/blk_fixture.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::BlkFixtureOptions;
using testing::BlkHarness;
using testing::kBlkEventIdx;
using testing::kBlkVersion1;
using testing::read_file;
using testing::wait_for;

constexpr uint64_t kD = BlkHarness::kData;

uint64_t bit(unsigned n) {
  return uint64_t{1} << n;
}

void fill_pattern(uint8_t* p, size_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(rng());
}

TEST(VirtioBlock, OffersFeaturesAndConfigSpace) {
  BlkHarness h;
  const uint64_t f = h.driver->device_features();
  EXPECT_TRUE(f & bit(VIRTIO_F_VERSION_1));
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_SEG_MAX));
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_BLK_SIZE));
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_FLUSH));
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_WRITE_ZEROES));
  EXPECT_TRUE(f & bit(VIRTIO_RING_F_EVENT_IDX));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_RO));
  virtio_blk_config c{};
  for (size_t off = 0; off < sizeof(c); off += 4) {
    const uint32_t v = h.driver->r(VIRTIO_MMIO_CONFIG + off);
    std::memcpy(reinterpret_cast<uint8_t*>(&c) + off, &v, std::min<size_t>(4, sizeof(c) - off));
  }
  EXPECT_EQ(c.capacity, (1u << 20) / 512);
  EXPECT_EQ(c.seg_max, 62u);  // queue 64 - header - status
  EXPECT_EQ(c.blk_size, 512u);
  EXPECT_EQ(c.max_discard_sectors, VirtioBlock::kMaxDiscardSectors);
  EXPECT_EQ(c.max_discard_seg, VirtioBlock::kMaxDiscardSegments);
  EXPECT_EQ(c.discard_sector_alignment, VirtioBlock::kDiscardAlignment);
  EXPECT_EQ(c.max_write_zeroes_sectors, VirtioBlock::kMaxDiscardSectors);
  EXPECT_EQ(c.write_zeroes_may_unmap, 1);
  // Byte reads of the capacity (Linux reads config fields at their own width).
  uint8_t b = 0xff;
  h.transport->read(VIRTIO_MMIO_CONFIG + 1, std::span<uint8_t>(&b, 1));
  EXPECT_EQ(b, ((1u << 20) / 512) >> 8);
}

TEST(VirtioBlock, WritesReachTheFileAndReadsComeBack) {
  BlkHarness h;
  h.bring_up();
  fill_pattern(h.ram.at(kD), 8192, 1);
  auto w = h.request(VIRTIO_BLK_T_OUT, 10, kD, 8192);
  EXPECT_EQ(w.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(w.used_len, 1u);
  const auto on_disk = read_file(h.image_path, 10 * 512, 8192);
  ASSERT_EQ(on_disk.size(), 8192u);
  EXPECT_EQ(std::memcmp(on_disk.data(), h.ram.at(kD), 8192), 0);

  std::memset(h.ram.at(kD + 0x10000), 0, 8192);
  auto r = h.request(VIRTIO_BLK_T_IN, 10, kD + 0x10000, 8192);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(r.used_len, 8192u + 1);
  EXPECT_EQ(std::memcmp(h.ram.at(kD + 0x10000), h.ram.at(kD), 8192), 0);
  // EVENT_IDX with used_event 0: the driver asked for an interrupt after the first only.
  EXPECT_TRUE(wait_for([&] { return h.line.triggers() >= 1; }));

  const auto m = h.block->metrics();
  EXPECT_EQ(m.read_ops, 1u);
  EXPECT_EQ(m.write_ops, 1u);
  EXPECT_EQ(m.read_bytes, 8192u);
  EXPECT_EQ(m.write_bytes, 8192u);
  EXPECT_EQ(m.errors, 0u);
}

TEST(VirtioBlock, ScatteredBuffersAndSplitHeader) {
  BlkHarness h;
  h.bring_up();
  // OUT: header split 10 + 6 bytes, the second piece sharing its descriptor with 512 data
  // bytes, then 3 more data descriptors; status in a 4-byte writable buffer (last byte).
  constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
  const uint64_t hdr = 0x20000;
  h.ram.put(hdr, virtio_blk_outhdr{VIRTIO_BLK_T_OUT, 0, 4});
  std::memcpy(h.ram.at(0x30000), h.ram.at(hdr + 10), 6);
  fill_pattern(h.ram.at(0x30006), 512, 2);
  fill_pattern(h.ram.at(0x40000), 1024, 3);
  fill_pattern(h.ram.at(0x50000), 1536, 4);
  h.vq->set_desc(0, hdr, 10, kN, 1);
  h.vq->set_desc(1, 0x30000, 6 + 512, kN, 2);
  h.vq->set_desc(2, 0x40000, 1024, kN, 3);
  h.vq->set_desc(3, 0x50000, 1536, kN, 4);
  h.vq->set_desc(4, 0x60000, 4, kW);
  h.ram.put<uint8_t>(0x60003, 0xff);
  h.vq->publish(0);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == 1; }));
  EXPECT_EQ(h.ram.get<uint8_t>(0x60003), VIRTIO_BLK_S_OK);
  auto file = read_file(h.image_path, 4 * 512, 3072);
  EXPECT_EQ(std::memcmp(file.data(), h.ram.at(0x30006), 512), 0);
  EXPECT_EQ(std::memcmp(file.data() + 512, h.ram.at(0x40000), 1024), 0);
  EXPECT_EQ(std::memcmp(file.data() + 1536, h.ram.at(0x50000), 1536), 0);

  // IN into three writable buffers, the last one also holding the status byte.
  h.vq->set_desc(5, hdr + 64, 16, kN, 6);
  h.ram.put(hdr + 64, virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, 4});
  h.vq->set_desc(6, 0x70000, 1000, kW | kN, 7);
  h.vq->set_desc(7, 0x71000, 2072, kW | kN, 8);
  h.vq->set_desc(8, 0x72000, 1, kW);
  h.vq->publish(5);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == 2; }));
  EXPECT_EQ(h.vq->used_elem(1).len, 3073u);
  EXPECT_EQ(h.ram.get<uint8_t>(0x72000), VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(0x70000), file.data(), 1000), 0);
  EXPECT_EQ(std::memcmp(h.ram.at(0x71000), file.data() + 1000, 2072), 0);
}

TEST(VirtioBlock, LargeReadsAcrossBuffersMatchTheFile) {
  // 256 KiB..4 MiB reads go through the huge-page bounce buffer, larger ones straight to guest
  // RAM: both must put the file's bytes, in order, into scattered guest buffers.
  BlkHarness h(BlkFixtureOptions{.disk_bytes = 8 << 20});
  {
    std::vector<uint8_t> content(8 << 20);
    fill_pattern(content.data(), content.size(), 77);
    const int fd = ::open(h.image_path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_EQ(::pwrite(fd, content.data(), content.size(), 0),
              static_cast<ssize_t>(content.size()));
    ::close(fd);
  }
  h.bring_up();
  constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
  const auto file = read_file(h.image_path, 0, 8 << 20);
  uint16_t used = 0;
  for (const uint64_t len : {uint64_t{256 * 1024}, uint64_t{1 << 20}, uint64_t{(4 << 20) + 512}}) {
    const uint64_t sector = 3;
    h.ram.put(0x20000, virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, sector});
    // Three buffers: 4 KiB + 512, the middle, and the last 512 bytes plus the status byte.
    const uint64_t a = 4096 + 512, c = 512, b = len - a - c;
    std::memset(h.ram.at(kD), 0, 6 << 20);
    h.vq->set_desc(0, 0x20000, 16, kN, 1);
    h.vq->set_desc(1, kD, static_cast<uint32_t>(a), kN | kW, 2);
    h.vq->set_desc(2, kD + 0x10000, static_cast<uint32_t>(b), kN | kW, 3);
    h.vq->set_desc(3, kD + 0x10000 + b + 4096, static_cast<uint32_t>(c + 1), kW);
    h.vq->publish(0);
    h.driver->notify_ioeventfd(0);
    ++used;
    ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == used; }));
    EXPECT_EQ(h.ram.get<uint8_t>(kD + 0x10000 + b + 4096 + c), VIRTIO_BLK_S_OK) << len;
    const uint8_t* want = file.data() + sector * 512;
    EXPECT_EQ(std::memcmp(h.ram.at(kD), want, a), 0) << len;
    EXPECT_EQ(std::memcmp(h.ram.at(kD + 0x10000), want + a, b), 0) << len;
    EXPECT_EQ(std::memcmp(h.ram.at(kD + 0x10000 + b + 4096), want + a + b, c), 0) << len;
  }
}

TEST(VirtioBlock, IndirectDescriptors) {
  BlkHarness h;
  h.bring_up();
  constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
  h.ram.put(0x20000, virtio_blk_outhdr{VIRTIO_BLK_T_OUT, 0, 100});
  fill_pattern(h.ram.at(kD), 4096, 5);
  h.ram.put(0x40000, vring_desc{0x20000, 16, kN, 1});
  h.ram.put(0x40010, vring_desc{kD, 4096, kN, 2});
  h.ram.put(0x40020, vring_desc{0x60000, 1, kW, 0});
  h.vq->set_desc(0, 0x40000, 48, VRING_DESC_F_INDIRECT);
  h.vq->publish(0);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == 1; }));
  EXPECT_EQ(h.ram.get<uint8_t>(0x60000), VIRTIO_BLK_S_OK);
  auto file = read_file(h.image_path, 100 * 512, 4096);
  EXPECT_EQ(std::memcmp(file.data(), h.ram.at(kD), 4096), 0);
}

TEST(VirtioBlock, FlushMakesWritesDurable) {
  BlkHarness h;
  h.bring_up();
  fill_pattern(h.ram.at(kD), 4096, 6);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 4096).status, VIRTIO_BLK_S_OK);
  auto f = h.request(VIRTIO_BLK_T_FLUSH, 0, 0, 0);
  EXPECT_EQ(f.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(f.used_len, 1u);
  EXPECT_EQ(h.block->metrics().flush_ops, 1u);
}

TEST(VirtioBlock, GetIdReturnsTheSerial) {
  BlkHarness h;
  h.bring_up();
  std::memset(h.ram.at(kD), 0xaa, 64);
  auto r = h.request(VIRTIO_BLK_T_GET_ID, 0, kD, 20);
  EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(r.used_len, 21u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h.ram.at(kD))), "flotilla-test-disk");
  EXPECT_EQ(h.ram.get<uint8_t>(kD + 19), 0);
  EXPECT_EQ(h.ram.get<uint8_t>(kD + 20), 0xaa);  // nothing past the 20 bytes
  // A 20-byte serial fills the buffer without a terminator; a bigger buffer gets 20 bytes.
  BlkHarness h20(BlkFixtureOptions{.serial = "12345678901234567890"});
  h20.bring_up();
  std::memset(h20.ram.at(kD), 0xaa, 64);
  auto r20 = h20.request(VIRTIO_BLK_T_GET_ID, 0, kD, 512);
  EXPECT_EQ(r20.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(r20.used_len, 21u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(h20.ram.at(kD)), 20), "12345678901234567890");
  EXPECT_EQ(h20.ram.get<uint8_t>(kD + 20), 0xaa);
}

TEST(VirtioBlock, WriteZeroesAndDiscard) {
  BlkHarness h;
  h.bring_up();
  fill_pattern(h.ram.at(kD), 65536, 7);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 65536).status, VIRTIO_BLK_S_OK);
  // Zero sectors 8..15 (keep allocated) and 64..71 (may unmap).
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 0).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(
      h.range_request(VIRTIO_BLK_T_WRITE_ZEROES, 64, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP).status,
      VIRTIO_BLK_S_OK);
  auto file = read_file(h.image_path, 0, 65536);
  const std::vector<uint8_t> zero(4096, 0);
  EXPECT_EQ(std::memcmp(file.data() + 8 * 512, zero.data(), 4096), 0);
  EXPECT_EQ(std::memcmp(file.data() + 64 * 512, zero.data(), 4096), 0);
  EXPECT_EQ(std::memcmp(file.data(), h.ram.at(kD), 8 * 512), 0);  // neighbours untouched
  EXPECT_EQ(std::memcmp(file.data() + 16 * 512, h.ram.at(kD + 16 * 512), 48 * 512), 0);
  // Discard: a hint (reads may return old data or zeroes), must succeed and stay in range.
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_DISCARD, 32, 16, 0).status, VIRTIO_BLK_S_OK);
  file = read_file(h.image_path, 0, 65536);
  EXPECT_EQ(std::memcmp(file.data() + 48 * 512, h.ram.at(kD + 48 * 512), 16 * 512), 0);
  // Several segments in one request.
  const uint64_t seg = BlkHarness::kData - 0x1000;
  h.ram.put(seg, virtio_blk_discard_write_zeroes{100, 8, 0});
  h.ram.put(seg + 16, virtio_blk_discard_write_zeroes{120, 8, 0});
  auto multi = h.submit(h.prepare(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 32, false), 0);
  EXPECT_EQ(multi.status, VIRTIO_BLK_S_OK);
  const auto m = h.block->metrics();
  EXPECT_EQ(m.write_zeroes_ops, 3u);
  EXPECT_EQ(m.discard_ops, 1u);
  EXPECT_EQ(m.errors, 0u);
}

TEST(VirtioBlock, DiscardWithoutTheFeatureIsUnsupported) {
  BlkHarness h;
  h.bring_up(kBlkVersion1);  // no DISCARD / WRITE_ZEROES acked
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_DISCARD, 0, 8, 0).status, VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0).status, VIRTIO_BLK_S_UNSUPP);
}

TEST(VirtioBlock, BadRequestsGetErrorsAndTheDeviceCarriesOn) {
  BlkHarness h;
  h.bring_up();
  const uint64_t sectors = (1u << 20) / 512;
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, sectors, kD, 512).status, VIRTIO_BLK_S_IOERR);  // past end
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, sectors - 1, kD, 1024).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, ~0ULL, kD, 512).status, VIRTIO_BLK_S_IOERR);  // overflow
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, ~0ULL / 512, kD, 1024).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 100).status, VIRTIO_BLK_S_IOERR);  // not 512n
  EXPECT_EQ(h.request(42, 0, kD, 512).status, VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_SCSI_CMD, 0, kD, 512).status, VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP).status,
            VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0x80).status, VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_WRITE_ZEROES, sectors - 4, 8, 0).status,
            VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_DISCARD, 0, VirtioBlock::kMaxDiscardSectors + 1, 0).status,
            VIRTIO_BLK_S_IOERR);
  // Header too short (8 readable bytes), then no writable byte at all (returned with len 0).
  constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
  h.vq->set_desc(0, 0x20000, 8, kN, 1);
  h.vq->set_desc(1, 0x60000, 1, kW);
  h.ram.put<uint8_t>(0x60000, 0xff);
  auto shorthdr = h.submit(0, 0);
  EXPECT_EQ(h.ram.get<uint8_t>(0x60000), VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(shorthdr.used_len, 1u);
  h.ram.put(0x20000, virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, 0});
  h.vq->set_desc(2, 0x20000, 16, 0);
  const uint16_t want = static_cast<uint16_t>(h.vq->used_idx() + 1);
  h.vq->publish(2);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want; }));
  EXPECT_EQ(h.vq->used_elem(static_cast<uint16_t>(want - 1)).len, 0u);
  // Buffer outside guest RAM: the queue refuses the chain, the device returns it unused.
  h.vq->set_desc(3, 0x20000, 16, kN, 4);
  h.vq->set_desc(4, 1ULL << 40, 512, kN | kW, 5);
  h.vq->set_desc(5, 0x60000, 1, kW);
  const uint16_t want2 = static_cast<uint16_t>(h.vq->used_idx() + 1);
  h.vq->publish(3);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == want2; }));
  EXPECT_EQ(h.vq->used_elem(static_cast<uint16_t>(want2 - 1)).len, 0u);

  EXPECT_EQ(h.transport->status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0u);
  const auto m = h.block->metrics();
  EXPECT_EQ(m.bad_requests, 14u);
  EXPECT_EQ(m.read_ops + m.write_ops, 0u);
  // Still serving, and nothing was written.
  fill_pattern(h.ram.at(kD), 512, 9);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, sectors - 1, kD, 512).status, VIRTIO_BLK_S_OK);
  const auto head = read_file(h.image_path, 0, 4096);
  EXPECT_EQ(head, std::vector<uint8_t>(4096, 0));
}

TEST(VirtioBlock, TooManySegmentsIsAnError) {
  BlkHarness h(BlkFixtureOptions{.queue_size = 16});  // seg_max 14
  h.bring_up();
  constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
  h.ram.put(0x20000, virtio_blk_outhdr{VIRTIO_BLK_T_IN, 0, 0});
  h.vq->set_desc(0, 0x20000, 16, kN, 1);
  for (uint16_t i = 1; i <= 15; ++i) h.vq->set_desc(i, kD + 512ULL * i, 512, kN | kW, i + 1);
  // 15 data segments + status would need 17 descriptors: use the status inside the last one.
  h.vq->set_desc(15, kD + 512ULL * 15, 513, kW);
  h.ram.put<uint8_t>(kD + 512ULL * 15 + 512, 0xff);
  h.vq->publish(0);
  h.driver->notify_ioeventfd(0);
  ASSERT_TRUE(wait_for([&] { return h.vq->used_idx() == 1; }));
  EXPECT_EQ(h.ram.get<uint8_t>(kD + 512ULL * 15 + 512), VIRTIO_BLK_S_IOERR);
}

TEST(VirtioBlock, ReadOnlyDiskRefusesWrites) {
  BlkHarness h(BlkFixtureOptions{.read_only = true});
  const uint64_t f = h.driver->device_features();
  EXPECT_TRUE(f & bit(VIRTIO_BLK_F_RO));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_DISCARD));
  EXPECT_FALSE(f & bit(VIRTIO_BLK_F_WRITE_ZEROES));
  h.bring_up();
  fill_pattern(h.ram.at(kD), 512, 10);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 512).status, VIRTIO_BLK_S_IOERR);
  EXPECT_EQ(h.range_request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0).status, VIRTIO_BLK_S_UNSUPP);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, 0, kD, 512).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_FLUSH, 0, 0, 0).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(read_file(h.image_path, 0, 512), std::vector<uint8_t>(512, 0));
}

TEST(VirtioBlock, ManyConcurrentRequestsWithEventIdx) {
  BlkHarness h(BlkFixtureOptions{.disk_bytes = 8 << 20, .queue_size = 64, .workers = 4});
  h.bring_up();
  ASSERT_TRUE(h.driver->device_features() & kBlkEventIdx);
  // Round 1: 20 writes of 64 KiB at once; round 2: 20 reads of the same into other buffers.
  constexpr uint16_t kSlots = 20;
  constexpr uint32_t kLen = 64 * 1024;
  for (int round = 0; round < 2; ++round) {
    const bool write = round == 0;
    const uint16_t start = h.vq->used_idx();
    for (uint16_t s = 0; s < kSlots; ++s) {
      const uint64_t buf = kD + (write ? 0 : (4ULL << 20)) + uint64_t{kLen} * s;
      if (write) fill_pattern(h.ram.at(buf), kLen, 100 + s);
      h.vq->publish(
          h.prepare(s, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 128ULL * s, buf, kLen, !write));
    }
    h.driver->notify_ioeventfd(0);
    ASSERT_TRUE(
        wait_for([&] { return h.vq->used_idx() == static_cast<uint16_t>(start + kSlots); }));
    for (uint16_t s = 0; s < kSlots; ++s) EXPECT_EQ(h.ram.get<uint8_t>(BlkHarness::kStatus + s), 0);
  }
  for (uint16_t s = 0; s < kSlots; ++s) {
    EXPECT_EQ(std::memcmp(h.ram.at(kD + uint64_t{kLen} * s),
                          h.ram.at(kD + (4ULL << 20) + uint64_t{kLen} * s), kLen),
              0)
        << "slot " << s;
  }
  EXPECT_EQ(h.block->in_flight(), 0u);
}

TEST(VirtioBlock, ResetWithRequestsInFlightAndRestart) {
  BlkHarness h(BlkFixtureOptions{.disk_bytes = 32 << 20, .queue_size = 64, .workers = 1});
  h.bring_up();
  for (uint16_t s = 0; s < 20; ++s) {
    h.vq->publish(h.prepare(s, VIRTIO_BLK_T_OUT, 2048ULL * s, kD, 1 << 20, false));
  }
  h.driver->notify_ioeventfd(0);
  h.driver->w(VIRTIO_MMIO_STATUS, 0);  // reset while the worker is busy
  EXPECT_FALSE(h.block->activated());
  EXPECT_EQ(h.block->in_flight(), 0u);
  // A fresh driver instance over fresh rings works.
  std::memset(h.ram.at(0x1000), 0, 0x9000);
  h.vq = std::make_unique<testing::VirtqDriver>(
      h.ram, testing::VirtqLayout{.size = 64, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
  h.bring_up();
  fill_pattern(h.ram.at(kD), 512, 11);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, 1, kD, 512).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, 1, kD + 4096, 512).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + 4096), 512), 0);
}

TEST(BlkWorkerPool, BoundedStoppableAndNamed) {
  auto pool = std::move(BlkWorkerPool::create("blkp", 2, 2, 3).value());
  EXPECT_EQ(pool->thread_count(), 2u);
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> ran{0};
  std::atomic<int> named{0};
  auto blocker = [&] {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    if (std::string(name).rfind("blkpw", 0) == 0) named.fetch_add(1);
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return release; });
    ran.fetch_add(1);
  };
  EXPECT_TRUE(pool->submit(blocker));
  EXPECT_TRUE(pool->submit(blocker));
  ASSERT_TRUE(wait_for([&] { return named.load() == 2; }));  // both threads busy
  EXPECT_TRUE(pool->submit(blocker));
  EXPECT_TRUE(pool->submit(blocker));
  EXPECT_TRUE(pool->submit(blocker));
  EXPECT_FALSE(pool->submit(blocker));  // FIFO holds 3
  EXPECT_EQ(pool->discard_queued(), 3u);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  pool->wait_idle();
  EXPECT_EQ(ran.load(), 2);
  pool->stop();
  EXPECT_FALSE(pool->submit(blocker));
}

TEST(BlkWorkerPool, GrowsWithTheQueueDepthUpToItsMaximum) {
  auto pool = std::move(BlkWorkerPool::create("blkg", 1, 3, 16).value());
  EXPECT_EQ(pool->thread_count(), 1u);
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> started{0};
  auto blocker = [&] {
    started.fetch_add(1);
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return release; });
  };
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(pool->submit(blocker));
  ASSERT_TRUE(wait_for([&] { return started.load() == 3; }));  // three run at once
  EXPECT_EQ(pool->thread_count(), 3u);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  pool->wait_idle();
  EXPECT_EQ(started.load(), 5);
  EXPECT_EQ(pool->thread_count(), 3u);
}

}  // namespace
}  // namespace flotilla::vmm::virtio
