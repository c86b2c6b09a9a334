// virtio-blk against hostile drivers and a full host disk: randomised rings (fixed seeds, so a
// failure reproduces) never write outside the image, never stop the device for good, and a
// full file system (ENOSPC, on a 1 MiB tmpfs this test mounts) is an I/O error to the guest.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "tests/unit/vmm_devices/blk_fixture.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::BlkFixtureOptions;
using testing::BlkHarness;
using testing::wait_for;

constexpr uint64_t kD = BlkHarness::kData;
constexpr uint64_t kDisk = 1 << 20;

uint64_t random_addr(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0:
      return rng();  // anywhere
    case 1:
      return BlkHarness::kRamBytes - rng() % 4096;  // straddling the end of RAM
    default:
      return kD + rng() % (8 << 20);  // data area
  }
}

uint32_t random_type(std::mt19937_64& rng) {
  static constexpr uint32_t kTypes[] = {VIRTIO_BLK_T_IN,
                                        VIRTIO_BLK_T_OUT,
                                        VIRTIO_BLK_T_FLUSH,
                                        VIRTIO_BLK_T_GET_ID,
                                        VIRTIO_BLK_T_DISCARD,
                                        VIRTIO_BLK_T_WRITE_ZEROES,
                                        14,
                                        0x80000000};
  return rng() % 8 == 0 ? static_cast<uint32_t>(rng()) : kTypes[rng() % 8];
}

uint64_t random_sector(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return rng();
    case 1:
      return kDisk / 512 - rng() % 16;
    default:
      return rng() % (kDisk / 512);
  }
}

// Every notification the device thread took, processed or not: a poll left over from the last
// round may already have processed this round's ring (and found it broken), so the round's own
// notification can arrive to a device that needs a reset and count as inactive.
uint64_t notifications_taken(BlkHarness& h) {
  const auto m = h.transport->metrics();
  return m.notifications + m.inactive_notifications;
}

// Waits until the device took the notification and every request it started finished.
bool settle(BlkHarness& h, uint64_t notifications_before) {
  return wait_for(
      [&] { return notifications_taken(h) > notifications_before && h.block->in_flight() == 0; });
}

TEST(VirtioBlockHostile, RandomRingsNeverEscapeTheDiskAndTheDeviceRecovers) {
  BlkHarness h(BlkFixtureOptions{.disk_bytes = kDisk, .queue_size = 32, .workers = 2});
  std::mt19937_64 rng(0xb10cde7);
  const uint16_t size = 32;
  uint64_t completed = 0;
  for (int round = 0; round < 150; ++round) {
    h.driver->w(VIRTIO_MMIO_STATUS, 0);
    std::memset(h.ram.at(0x1000), 0, 0x9000);
    h.vq = std::make_unique<testing::VirtqDriver>(
        h.ram, testing::VirtqLayout{.size = size, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
    h.bring_up(rng() % 2 ? testing::kBlkAllFeatures
                         : testing::kBlkVersion1 | testing::kBlkIndirect);
    // Headers: random types and sectors, some at random places in the data area.
    for (uint16_t i = 0; i < size; ++i) {
      h.ram.put(BlkHarness::kHeaders + 32ULL * i,
                virtio_blk_outhdr{random_type(rng), 0, random_sector(rng)});
      h.ram.put(kD - 0x1000 + 16ULL * i, virtio_blk_discard_write_zeroes{
                                             random_sector(rng), static_cast<uint32_t>(rng() % 64),
                                             static_cast<uint32_t>(rng() % 3)});
    }
    if (rng() % 2 == 0) {
      // Well-formed shapes (header, data, status) with hostile values: every chain gets through
      // the queue and reaches the request parser and the image.
      constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
      for (uint16_t c = 0; c < size / 3; ++c) {
        const auto d = static_cast<uint16_t>(3 * c);
        const bool in = rng() % 2;
        const uint32_t len =
            static_cast<uint32_t>(rng() % 3 == 0 ? rng() % 9000 : 512 * (rng() % 17));
        h.vq->set_desc(d, rng() % 4 ? BlkHarness::kHeaders + 32ULL * c : kD - 0x1000 + 16ULL * c,
                       static_cast<uint32_t>(rng() % 4 ? 16 : rng() % 48), kN, d + 1);
        h.vq->set_desc(d + 1, kD + 0x10000ULL * c, len, static_cast<uint16_t>(kN | (in ? kW : 0)),
                       d + 2);
        h.vq->set_desc(d + 2, BlkHarness::kStatus + c, static_cast<uint32_t>(rng() % 4 ? 1 : 0),
                       kW);
      }
      for (uint16_t i = 0; i < size; ++i) {
        h.ram.put<uint16_t>(0x6000 + 4 + 2ULL * i, static_cast<uint16_t>(3 * (rng() % (size / 3))));
      }
    } else {
      for (uint16_t i = 0; i < size; ++i) {
        uint64_t addr;
        uint32_t len;
        switch (rng() % 4) {
          case 0:  // a header
            addr = BlkHarness::kHeaders + 32ULL * (rng() % size);
            len = static_cast<uint32_t>(rng() % 2 ? 16 : rng() % 40);
            break;
          case 1:  // a segment
            addr = kD - 0x1000 + 16ULL * (rng() % size);
            len = static_cast<uint32_t>(16 * (rng() % 3));
            break;
          default:
            addr = random_addr(rng);
            len =
                rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : static_cast<uint32_t>(rng() % 4097);
        }
        const auto flags = static_cast<uint16_t>(rng() % 8);
        h.vq->set_desc(i, addr, len, flags, static_cast<uint16_t>(rng() % (size + 2)));
      }
      for (uint16_t i = 0; i < size; ++i) {
        h.ram.put<uint16_t>(0x6000 + 4 + 2ULL * i, static_cast<uint16_t>(rng() % (size + 1)));
      }
    }
    const uint64_t before = notifications_taken(h);
    h.vq->set_avail_idx(static_cast<uint16_t>(rng() % 16 == 0 ? rng() : rng() % (size + 1)));
    h.driver->notify_ioeventfd(0);
    ASSERT_TRUE(settle(h, before)) << "round " << round;
    completed += h.vq->used_idx();
    struct stat st {};
    ASSERT_EQ(::stat(h.image_path.c_str(), &st), 0);
    ASSERT_EQ(static_cast<uint64_t>(st.st_size), kDisk) << "round " << round;
  }
  EXPECT_GT(completed, 100u);
  const auto m = h.block->metrics();
  EXPECT_GT(m.bad_requests, 0u);
  EXPECT_GT(m.read_ops + m.write_ops, 0u);
  // After all that, a clean driver still gets correct service.
  h.driver->w(VIRTIO_MMIO_STATUS, 0);
  std::memset(h.ram.at(0x1000), 0, 0x9000);
  h.vq = std::make_unique<testing::VirtqDriver>(
      h.ram, testing::VirtqLayout{.size = size, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
  h.bring_up();
  std::memset(h.ram.at(kD), 0x5a, 4096);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, 8, kD, 4096).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, 8, kD + 8192, 4096).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + 8192), 4096), 0);
}

// A 1 MiB tmpfs mounted for the test (root only), unmounted afterwards.
class SmallTmpfs {
 public:
  SmallTmpfs() {
    ok_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") == 0;
    if (!ok_) error_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (ok_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::filesystem::path path() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
  bool ok_ = false;
  std::string error_;
};

TEST(VirtioBlockHostile, FullHostDiskIsAnIoErrorNotACrash) {
  SmallTmpfs fs;
  ASSERT_TRUE(fs.ok()) << "mounting a 1 MiB tmpfs needs root (CAP_SYS_ADMIN): " << fs.error();
  const auto image = fs.path() / "full.raw";
  testing::make_raw_image(image, 8 << 20);  // sparse 8 MiB on a 1 MiB file system
  {
    BlkHarness h(BlkFixtureOptions{.queue_size = 64, .image = image});
    h.bring_up();
    std::memset(h.ram.at(kD), 0x77, 2 << 20);
    auto first = h.request(VIRTIO_BLK_T_OUT, 0, kD, 512 * 1024);  // fits
    EXPECT_EQ(first.status, VIRTIO_BLK_S_OK);
    auto full = h.request(VIRTIO_BLK_T_OUT, 2048, kD, 2 << 20);  // does not
    EXPECT_EQ(full.status, VIRTIO_BLK_S_IOERR);
    auto again = h.request(VIRTIO_BLK_T_OUT, 8192, kD, 1 << 20);
    EXPECT_EQ(again.status, VIRTIO_BLK_S_IOERR);
    const auto m = h.block->metrics();
    EXPECT_EQ(m.no_space_errors, 2u);
    EXPECT_EQ(m.errors, 2u);
    EXPECT_NE(m.last_error.find("No space left"), std::string::npos) << m.last_error;
    // The device keeps serving: reads and the already-written data are intact.
    auto r = h.request(VIRTIO_BLK_T_IN, 0, kD + (4 << 20), 512 * 1024);
    EXPECT_EQ(r.status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(std::memcmp(h.ram.at(kD + (4 << 20)), h.ram.at(kD), 512 * 1024), 0);
    EXPECT_EQ(h.transport->status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0u);
    // Space freed on the host (a discard punches the hole): writes work again.
    EXPECT_EQ(h.range_request(VIRTIO_BLK_T_DISCARD, 0, 1024, 0).status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(h.request(VIRTIO_BLK_T_OUT, 4096, kD, 256 * 1024).status, VIRTIO_BLK_S_OK);
  }
}

}  // namespace
}  // namespace flotilla::vmm::virtio
