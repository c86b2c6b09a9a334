// virtio-blk's data paths: the io_uring path (BlkUring) and the synchronous worker pool must
// give the guest the same bytes and statuses. ctest runs this binary twice (FLOTILLA_BLK_IO=uring
// and =sync); these tests check which path ran, then cases only the io_uring path meets: qcow2
// clusters mapped by BlockImage::map_direct, several host segments per request (extents), a
// short transfer that falls back to the synchronous path, and a reset with requests in the ring.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "tests/unit/vmm_devices/blk_fixture.h"

namespace flotilla::vmm::virtio {
namespace {

using testing::BlkFixtureOptions;
using testing::BlkHarness;
using testing::expect_io_uring;
using testing::read_file;

constexpr uint64_t kD = BlkHarness::kData;

void fill_pattern(uint8_t* p, size_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  for (size_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(rng());
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(VirtioBlockDataPath, TheModeAskedForIsTheOneThatRuns) {
  BlkHarness h;
  h.bring_up();
  EXPECT_EQ(h.block->uses_io_uring(), expect_io_uring());
  fill_pattern(h.ram.at(kD), 8192, 1);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 8, kD, 8192).status, VIRTIO_BLK_S_OK);
  auto r = h.request(VIRTIO_BLK_T_IN, 8, kD + 0x10000, 8192);
  ASSERT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(r.used_len, 8193u);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + 0x10000), 8192), 0);
  EXPECT_EQ(h.block->uring_requests(), expect_io_uring() ? 2u : 0u);
  const auto m = h.block->metrics();
  EXPECT_EQ(m.read_ops, 1u);
  EXPECT_EQ(m.write_ops, 1u);
  EXPECT_EQ(m.read_bytes, 8192u);
  EXPECT_EQ(m.write_bytes, 8192u);
}

TEST(VirtioBlockDataPath, ExtentsSplitARequestAndNothingOutsideThemIsTouched) {
  // Host file: 3 MiB of 0x5a. The disk is [2 MiB, 2.5 MiB) then [0.5 MiB, 1 MiB) of it.
  BlkHarness probe_dir;  // only for a temporary folder that outlives the file checks
  const auto path = probe_dir.dir.path() / "pool.raw";
  testing::make_raw_image(path, 3 << 20, 0x5a, 3 << 20);
  BlkFixtureOptions o;
  o.image = path;
  o.extents = {{2 << 20, 512 << 10}, {512 << 10, 512 << 10}};
  BlkHarness h(o);
  h.bring_up();
  EXPECT_EQ(h.block->capacity_sectors(), 2048u);
  // 64 KiB straddling the boundary between the extents (virtual 480 KiB .. 544 KiB).
  fill_pattern(h.ram.at(kD), 64 << 10, 2);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, (480 << 10) / 512, kD, 64 << 10).status, VIRTIO_BLK_S_OK);
  const auto first = read_file(path, (2 << 20) + (480 << 10), 32 << 10);
  const auto second = read_file(path, 512 << 10, 32 << 10);
  EXPECT_EQ(std::memcmp(first.data(), h.ram.at(kD), 32 << 10), 0);
  EXPECT_EQ(std::memcmp(second.data(), h.ram.at(kD) + (32 << 10), 32 << 10), 0);
  // The bytes just outside both pieces are untouched.
  EXPECT_EQ(read_file(path, (2 << 20) + (512 << 10), 1)[0], 0x5a);
  EXPECT_EQ(read_file(path, (512 << 10) + (32 << 10), 1)[0], 0x5a);
  EXPECT_EQ(read_file(path, (2 << 20) + (480 << 10) - 1, 1)[0], 0x5a);
  auto r = h.request(VIRTIO_BLK_T_IN, (480 << 10) / 512, kD + (1 << 20), 64 << 10);
  ASSERT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + (1 << 20)), 64 << 10), 0);
  EXPECT_EQ(h.block->uring_requests(), expect_io_uring() ? 2u : 0u);
  // The last sector is reachable, one past it is not.
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, 2047, kD, 512).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.request(VIRTIO_BLK_T_IN, 2047, kD, 1024).status, VIRTIO_BLK_S_IOERR);
}

TEST(VirtioBlockDataPath, Qcow2AllocatedClustersGoStraightToTheFile) {
  BlkHarness tmp;
  const auto path = tmp.dir.path() / "disk.qcow2";
  ASSERT_EQ(run("qemu-img create -q -f qcow2 -o cluster_size=65536 " + path.string() + " 8M"), 0);
  BlkFixtureOptions o;
  o.image = path;
  o.format = storage::ImageFormat::kQcow2;
  BlkHarness h(o);
  h.bring_up();
  // Unallocated: a read is zeroes (slow path), the first write allocates (slow path).
  std::memset(h.ram.at(kD), 0xee, 128 << 10);
  auto r = h.request(VIRTIO_BLK_T_IN, 0, kD, 128 << 10);
  ASSERT_EQ(r.status, VIRTIO_BLK_S_OK);
  for (size_t i = 0; i < (128 << 10); ++i) ASSERT_EQ(h.ram.at(kD)[i], 0) << i;
  fill_pattern(h.ram.at(kD), 128 << 10, 3);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 128 << 10).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.block->uring_requests(), 0u);
  // Now allocated: the rewrite and the read-back are plain cluster I/O.
  fill_pattern(h.ram.at(kD), 128 << 10, 4);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 128 << 10).status, VIRTIO_BLK_S_OK);
  r = h.request(VIRTIO_BLK_T_IN, 0, kD + (1 << 20), 128 << 10);
  ASSERT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + (1 << 20)), 128 << 10), 0);
  EXPECT_EQ(h.block->uring_requests(), expect_io_uring() ? 2u : 0u);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_FLUSH, 0, 0, 0).status, VIRTIO_BLK_S_OK);
  // An independent reader (qemu-img) sees the rewritten bytes, and the image is clean.
  const auto raw = tmp.dir.path() / "out.raw";
  ASSERT_EQ(run("qemu-img convert -f qcow2 -O raw " + path.string() + " " + raw.string()), 0);
  const auto bytes = read_file(raw, 0, 128 << 10);
  ASSERT_EQ(bytes.size(), size_t{128 << 10});
  EXPECT_EQ(std::memcmp(bytes.data(), h.ram.at(kD), 128 << 10), 0);
  EXPECT_EQ(run("qemu-img check -q " + path.string()), 0);
}

TEST(VirtioBlockDataPath, ShortTransferFallsBackToTheSynchronousPath) {
  // The file shrinks under the open disk: reads past its new end come back short from the
  // kernel; the device must return zeroes (as readv does), never stale guest memory.
  BlkHarness h;
  h.bring_up();
  fill_pattern(h.ram.at(kD), 64 << 10, 5);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 64 << 10).status, VIRTIO_BLK_S_OK);
  ASSERT_EQ(::truncate(h.image_path.c_str(), 32 << 10), 0);
  std::memset(h.ram.at(kD + (1 << 20)), 0xee, 64 << 10);
  auto r = h.request(VIRTIO_BLK_T_IN, 0, kD + (1 << 20), 64 << 10);
  ASSERT_EQ(r.status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + (1 << 20)), 32 << 10), 0);
  for (size_t i = 32 << 10; i < (64 << 10); ++i) {
    ASSERT_EQ(h.ram.at(kD + (1 << 20))[i], 0) << i;
  }
  EXPECT_EQ(h.block->metrics().errors, 0u);
}

// Pinned memory of this process as the kernel counts it (io_uring's registered buffers).
uint64_t pinned_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmPin:", 0) == 0) return std::stoull(line.substr(6));
  }
  return ~0ULL;
}

TEST(VirtioBlockDataPath, DirectTransfersUseGuestRamRegisteredAChunkAtATime) {
  const uint64_t pinned_before = pinned_kib();
  BlkHarness h({.disk_bytes = 4 << 20, .direct = true});
  h.bring_up();
  EXPECT_EQ(pinned_kib(), pinned_before) << "activation alone pins nothing";
  // 64 KiB out of guest RAM at 1 MiB, back into RAM at 1.5 MiB: both in the first 2 MiB chunk.
  fill_pattern(h.ram.at(kD), 64 << 10, 11);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 8, kD, 64 << 10).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(read_file(h.image_path, 8 * 512, 64 << 10),
            std::vector<uint8_t>(h.ram.at(kD), h.ram.at(kD) + (64 << 10)));
  ASSERT_EQ(h.request(VIRTIO_BLK_T_IN, 8, kD + (512 << 10), 64 << 10).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(kD + (512 << 10)), 64 << 10), 0);
  EXPECT_EQ(h.block->uring_fixed_transfers(), expect_io_uring() ? 2u : 0u);
  if (expect_io_uring()) {
    // One 2 MiB chunk pinned, not the harness's 16 MiB of RAM (the kernel counts whole huge
    // pages, so a chunk across two of them may count 4 MiB).
    const uint64_t pinned = pinned_kib() - pinned_before;
    EXPECT_GE(pinned, 2048u);
    EXPECT_LE(pinned, 4096u);
  }
  // A buffer across the 2 MiB chunk boundary goes as a plain iovec, with the same bytes.
  const uint64_t across = (2 << 20) - (8 << 10);
  fill_pattern(h.ram.at(across), 16 << 10, 12);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 64, across, 16 << 10).status, VIRTIO_BLK_S_OK);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_IN, 64, kD, 16 << 10).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(std::memcmp(h.ram.at(kD), h.ram.at(across), 16 << 10), 0);
  EXPECT_EQ(h.block->uring_fixed_transfers(), expect_io_uring() ? 3u : 0u);
  EXPECT_EQ(h.block->uring_requests(), expect_io_uring() ? 4u : 0u);
  // A reset unpins; the next activation registers again on use.
  h.driver->w(VIRTIO_MMIO_STATUS, 0);
  EXPECT_EQ(pinned_kib(), pinned_before);
  std::memset(h.ram.at(0x1000), 0, 0x9000);
  h.vq = std::make_unique<testing::VirtqDriver>(
      h.ram, testing::VirtqLayout{.size = 64, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
  h.bring_up();
  ASSERT_EQ(h.request(VIRTIO_BLK_T_IN, 8, kD + (4 << 20), 64 << 10).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(read_file(h.image_path, 8 * 512, 64 << 10),
            std::vector<uint8_t>(h.ram.at(kD + (4 << 20)), h.ram.at(kD + (4 << 20)) + (64 << 10)));
  EXPECT_EQ(h.block->uring_fixed_transfers(), expect_io_uring() ? 4u : 0u);
}

TEST(VirtioBlockDataPath, FixedBuffersCanBeTurnedOff) {
  // Unset again however the test ends (an ASSERT returns early): later tests expect them on.
  struct FixedOff {
    FixedOff() { ::setenv("FLOTILLA_BLK_FIXED", "0", 1); }
    ~FixedOff() { ::unsetenv("FLOTILLA_BLK_FIXED"); }
  } fixed_off;
  const uint64_t pinned_before = pinned_kib();
  BlkHarness h({.disk_bytes = 4 << 20, .direct = true});
  h.bring_up();
  fill_pattern(h.ram.at(kD), 64 << 10, 13);
  ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 64 << 10).status, VIRTIO_BLK_S_OK);
  EXPECT_EQ(h.block->uring_requests(), expect_io_uring() ? 1u : 0u);
  EXPECT_EQ(h.block->uring_fixed_transfers(), 0u);
  EXPECT_EQ(pinned_kib(), pinned_before);
}

// Requests in flight at a reset, with buffered and with O_DIRECT (fixed-buffer) transfers.
class ResetWithTransfersInFlight : public ::testing::TestWithParam<bool> {};

TEST_P(ResetWithTransfersInFlight, ResetWaitsForEveryQueuedTransfer) {
  BlkHarness h({.disk_bytes = 16 << 20, .direct = GetParam(), .queue_size = 64});
  h.bring_up();
  for (int round = 0; round < 3; ++round) {
    // 20 x 256 KiB reads published at once, then an immediate reset: it must return only
    // once none of them can still write guest RAM, and the device must work after it.
    for (uint16_t slot = 0; slot < 20; ++slot) {
      h.vq->publish(h.prepare(slot, VIRTIO_BLK_T_IN, slot * 512ull, kD + slot * (256ull << 10),
                              256 << 10, true));
    }
    h.driver->notify_ioeventfd(0);
    h.driver->w(VIRTIO_MMIO_STATUS, 0);
    EXPECT_FALSE(h.block->activated());
    EXPECT_EQ(h.block->in_flight(), 0u);
    std::memset(h.ram.at(0x1000), 0, 0x9000);
    h.vq = std::make_unique<testing::VirtqDriver>(
        h.ram, testing::VirtqLayout{.size = 64, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
    h.bring_up();
    fill_pattern(h.ram.at(kD), 4096, 6 + round);
    ASSERT_EQ(h.request(VIRTIO_BLK_T_OUT, 0, kD, 4096).status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(read_file(h.image_path, 0, 4096),
              std::vector<uint8_t>(h.ram.at(kD), h.ram.at(kD) + 4096));
  }
  // How many of the reads started before each reset varies; the writes after it are fixed.
  if (GetParam() && expect_io_uring()) {
    EXPECT_GE(h.block->uring_fixed_transfers(), 3u);
  }
}

INSTANTIATE_TEST_SUITE_P(VirtioBlockDataPath, ResetWithTransfersInFlight, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Direct" : "Buffered"; });

}  // namespace
}  // namespace flotilla::vmm::virtio
