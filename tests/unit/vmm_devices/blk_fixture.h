// Test fixture for virtio-blk: a real raw image file in a temporary folder, the real
// VirtioBlock behind the real virtio-mmio transport, a Linux-like driver (mmio_driver.h) and
// guest RAM over a plain buffer. Requests are built the way Linux's virtio_blk does: header
// (readable), data (readable for OUT, writable for IN), status byte (writable).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/image/block_image.h"
#include "tests/unit/vmm_devices/mmio_driver.h"
#include "vmm/devices/virtio/blk/block.h"

// The tests name only the BlkFixtureOptions fields they change (designated initialisers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace flotilla::vmm::testing {

constexpr uint64_t kBlkVersion1 = 1ULL << VIRTIO_F_VERSION_1;
constexpr uint64_t kBlkEventIdx = 1ULL << VIRTIO_RING_F_EVENT_IDX;
constexpr uint64_t kBlkIndirect = 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
constexpr uint64_t kBlkAllFeatures = ~0ULL;

// A fresh temporary folder, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "flotilla-blk-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Creates a raw image of `bytes` bytes (sparse) filled with `fill` in its first fill_bytes.
inline void make_raw_image(const std::filesystem::path& p, uint64_t bytes, uint8_t fill = 0,
                           uint64_t fill_bytes = 0) {
  const int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
  std::vector<uint8_t> buf(fill_bytes, fill);
  if (fill_bytes > 0) {
    ASSERT_EQ(::pwrite(fd, buf.data(), buf.size(), 0), static_cast<ssize_t>(buf.size()));
  }
  ::close(fd);
}

inline std::vector<uint8_t> read_file(const std::filesystem::path& p, uint64_t offset, size_t len) {
  std::vector<uint8_t> out(len, 0xee);
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  const ssize_t n = ::pread(fd, out.data(), len, static_cast<off_t>(offset));
  ::close(fd);
  if (n != static_cast<ssize_t>(len)) out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

struct BlkFixtureOptions {
  uint64_t disk_bytes = 1 << 20;
  bool read_only = false;
  bool direct = false;  // O_DIRECT (a disk's `direct` option): io_uring then uses fixed buffers
  std::string serial = "flotilla-test-disk";
  uint16_t queue_size = 64;
  unsigned workers = 2;
  uint32_t poll_us = virtio::VirtioBlockConfig{}.poll_us;  // the production default
  std::filesystem::path image;  // empty: <tmp>/disk.raw created with disk_bytes
  storage::ImageFormat format = storage::ImageFormat::kRaw;
  std::vector<storage::HostExtent> extents;  // raw only: a partitioned-pool disk
};

// The data path the device is expected to use: ctest runs vmm_blk_test twice, with
// FLOTILLA_BLK_IO=uring and =sync (VirtioBlock reads it; kAuto config).
inline bool expect_io_uring() {
  const char* env = std::getenv("FLOTILLA_BLK_IO");
  return env == nullptr || std::string(env) != "sync";
}

// Guest RAM layout: rings at 0x1000.., request slot i uses descriptors 3i..3i+2, its header
// at 0x10000 + 32 i, its status byte at 0x18000 + i; data buffers are the caller's.
class BlkHarness {
 public:
  static constexpr uint64_t kRamBytes = 16ULL << 20;
  static constexpr uint64_t kHeaders = 0x10000;
  static constexpr uint64_t kStatus = 0x18000;
  static constexpr uint64_t kData = 0x100000;  // 1 MiB onwards: data buffers

  explicit BlkHarness(BlkFixtureOptions o = {})
      : options(std::move(o)), ram(0, kRamBytes), loop(std::move(EventLoop::create().value())) {
    image_path = options.image.empty() ? dir.path() / "disk.raw" : options.image;
    if (options.image.empty()) make_raw_image(image_path, options.disk_bytes);
    storage::OpenOptions open;
    open.path = image_path.string();
    open.read_only = options.read_only;
    open.direct = options.direct;
    open.format = options.format;
    open.extents = options.extents;
    auto img = storage::open_image(open);
    if (!img) {
      ADD_FAILURE() << img.error().message;
      std::abort();
    }
    virtio::VirtioBlockConfig config;
    config.name = "blkt";
    config.serial = options.serial;
    config.queue_size = options.queue_size;
    config.min_workers = 1;
    config.max_workers = options.workers;
    config.poll_us = options.poll_us;
    block = std::move(virtio::VirtioBlock::create(config, std::move(*img), *loop).value());
    transport = std::move(virtio::MmioTransport::create(block, ram.view(), line, *loop).value());
    driver = std::make_unique<MmioDriver>(*transport);
    vq = std::make_unique<VirtqDriver>(
        ram,
        VirtqLayout{.size = options.queue_size, .desc = 0x1000, .avail = 0x6000, .used = 0x8000});
    thread = std::thread([this] { loop->run(); });
  }
  ~BlkHarness() {
    loop->stop();
    thread.join();
    transport.reset();
    block.reset();
  }

  void bring_up(uint64_t features = kBlkVersion1 | kBlkAllFeatures) {
    ASSERT_EQ(driver->r(VIRTIO_MMIO_DEVICE_ID), static_cast<uint32_t>(VIRTIO_ID_BLOCK));
    ASSERT_TRUE(driver->negotiate(features));
    ASSERT_TRUE(driver->setup_queue(0, vq->layout()));
    driver->driver_ok();
    ASSERT_TRUE(block->activated());
  }

  // Lays out request slot `slot` (header, one data buffer, status) and returns its head.
  uint16_t prepare(uint16_t slot, uint32_t type, uint64_t sector, uint64_t data_gpa,
                   uint32_t data_len, bool data_writable) {
    const uint64_t hdr = kHeaders + 32ULL * slot;
    ram.put(hdr, virtio_blk_outhdr{type, 0, sector});
    ram.put<uint8_t>(kStatus + slot, 0xff);
    const auto d = static_cast<uint16_t>(3 * slot);
    constexpr uint16_t kN = VRING_DESC_F_NEXT, kW = VRING_DESC_F_WRITE;
    if (data_len == 0) {
      vq->set_desc(d, hdr, 16, kN, d + 1);
      vq->set_desc(d + 1, kStatus + slot, 1, kW);
      return d;
    }
    vq->set_desc(d, hdr, 16, kN, d + 1);
    vq->set_desc(d + 1, data_gpa, data_len, static_cast<uint16_t>(kN | (data_writable ? kW : 0)),
                 d + 2);
    vq->set_desc(d + 2, kStatus + slot, 1, kW);
    return d;
  }

  struct Done {
    uint8_t status = 0xff;
    uint32_t used_len = 0;
  };

  // Publishes head, notifies like KVM's ioeventfd, waits for its used entry.
  Done submit(uint16_t head, uint16_t slot) {
    const uint16_t want = static_cast<uint16_t>(vq->used_idx() + 1);
    vq->publish(head);
    driver->notify_ioeventfd(0);
    Done d;
    if (!wait_for([&] { return vq->used_idx() == want; })) {
      ADD_FAILURE() << "request in slot " << slot << " never completed";
      return d;
    }
    const auto elem = vq->used_elem(static_cast<uint16_t>(want - 1));
    EXPECT_EQ(elem.id, head);
    d.used_len = elem.len;
    d.status = ram.get<uint8_t>(kStatus + slot);
    return d;
  }

  Done request(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t data_len,
               uint16_t slot = 0) {
    const bool writable = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    return submit(prepare(slot, type, sector, data_gpa, data_len, writable), slot);
  }

  // One discard / write-zeroes segment at `seg_gpa`.
  Done range_request(uint32_t type, uint64_t sector, uint32_t sectors, uint32_t flags,
                     uint16_t slot = 0) {
    const uint64_t seg = kData - 0x1000 + 16ULL * slot;
    ram.put(seg, virtio_blk_discard_write_zeroes{sector, sectors, flags});
    return submit(prepare(slot, type, 0, seg, 16, false), slot);
  }

  BlkFixtureOptions options;
  TempDir dir;
  std::filesystem::path image_path;
  GuestRam ram;
  RecordingLine line;
  std::unique_ptr<EventLoop> loop;
  std::shared_ptr<virtio::VirtioBlock> block;
  std::shared_ptr<virtio::MmioTransport> transport;
  std::unique_ptr<MmioDriver> driver;
  std::unique_ptr<VirtqDriver> vq;
  std::thread thread;
};

}  // namespace flotilla::vmm::testing
