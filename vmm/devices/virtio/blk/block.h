// VirtioBlock: the block device (virtio 1.x 5.2): one request queue, served off the vCPU
// threads. The device thread (process_queue, transport mutex held) pops chains and validates
// them (request.h). IN/OUT whose bytes the image maps to plain host ranges
// (BlockImage::map_direct) go to io_uring (uring.h), submitted and reaped on the device
// thread: the ring's eventfd sits in the event loop, so the wake-up the kernel's completion
// work causes returns the chains at once. Everything else goes to this disk's worker
// pool (threads "<name>w<i>", readv/writev straight into guest RAM), whose completions are
// returned in batches on the device thread: a worker kicks the queue
// (VirtioInterrupt::kick_queue) when the completion list goes from empty to non-empty; the
// next process_queue pushes every finished chain to the used ring and raises one interrupt
// (if the driver wants it).
//
// Features: VERSION_1 (transport), SEG_MAX, BLK_SIZE (512), FLUSH (fdatasync before the
// completion), RO for read-only images, DISCARD and WRITE_ZEROES (writable images),
// EVENT_IDX and INDIRECT_DESC (transport). GET_ID returns the serial.
//
// Reset (driver writes status 0, or the transport goes away): requests not started are
// dropped, running ones are waited for, their completions discarded, before reset() returns.
//
// Threads: as VirtioDevice (transport mutex) plus the workers, which only touch the request
// they run, the metrics, completions_ (completion_mutex_) and kick_target_.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/image/block_image.h"
#include "vmm/devices/virtio/blk/backend.h"
#include "vmm/devices/virtio/blk/metrics.h"
#include "vmm/devices/virtio/blk/request.h"
#include "vmm/devices/virtio/blk/state.h"
#include "vmm/devices/virtio/blk/uring.h"
#include "vmm/event/event_loop.h"
#include "vmm/virtio/device.h"

namespace flotilla::vmm::virtio {

// How IN/OUT data moves: io_uring from the device thread (uring.h) with the worker pool for
// everything else, or the worker pool alone. kAuto: io_uring when the kernel allows it, else the
// pool (logged once); the environment variable FLOTILLA_BLK_IO=uring|sync overrides kAuto
// (benchmarks and tests compare the two). kUring: create() fails without io_uring.
enum class BlkIoMode { kAuto, kUring, kSync };

struct VirtioBlockConfig {
  std::string name = "blk0";  // log lines; worker threads are "<name>w<i>"
  std::string serial;         // ≤ 20 bytes (VIRTIO_BLK_ID_BYTES), returned by GET_ID
  uint16_t queue_size = 256;  // power of two ≤ 1024
  // I/O threads for this disk: min_workers at start, more while the guest keeps more requests
  // in flight than there are idle threads, up to max_workers (host-side queue depth).
  unsigned min_workers = 2;
  unsigned max_workers = 32;
  BlkIoMode io_mode = BlkIoMode::kAuto;
  // After returning requests to the driver, how long the transport polls the avail ring for
  // its refill before sleeping (VirtioDevice::poll_after_ns): the refill then needs no
  // notification exit and no wake-up. At most this much CPU per completion batch, nothing
  // while the disk is idle. FLOTILLA_BLK_POLL_US in the monitor's environment overrides it;
  // 0 turns polling off.
  uint32_t poll_us = 30;
};

class VirtioBlock : public VirtioDevice {
 public:
  static constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per segment
  static constexpr uint32_t kMaxDiscardSegments = 32;
  static constexpr uint32_t kDiscardAlignment = 8;  // sectors (4 KiB): hole-punch granularity

  static Result<std::shared_ptr<VirtioBlock>, VirtioError> create(
      VirtioBlockConfig config, std::unique_ptr<storage::BlockImage> image, EventLoop& loop);
  ~VirtioBlock() override;

  uint32_t device_type() const override;
  uint64_t device_features() const override { return features_; }
  std::vector<uint16_t> queue_max_sizes() const override { return {config_.queue_size}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void set_acked_features(uint64_t features) override;
  Result<void, VirtioError> activate(const GuestMemoryView& memory, std::span<Queue> queues,
                                     VirtioInterrupt& interrupt) override;
  void reset() override;
  bool process_queue(uint16_t index) override;
  uint64_t poll_after_ns(uint16_t index) const override;
  bool has_ready_work() const override;
  bool activated() const override { return queue_ != nullptr; }

  BlockMetricsValues metrics() const { return metrics_.values(); }
  const BlkLimits& limits() const { return limits_; }
  uint64_t capacity_sectors() const { return limits_.capacity_sectors; }
  bool read_only() const { return limits_.read_only; }
  const std::string& serial() const { return config_.serial; }
  // Requests handed to the workers and not yet returned to the driver (device thread).
  uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // True when IN/OUT requests go through io_uring (the mode create() settled on).
  bool uses_io_uring() const { return uring_ != nullptr; }
  // IN/OUT requests submitted through io_uring so far (tests: proves which path ran).
  uint64_t uring_requests() const { return uring_ ? uring_->queued_total() : 0; }
  // io_uring transfers that used guest RAM registered as a fixed buffer (fixed_buffers.h).
  uint64_t uring_fixed_transfers() const { return uring_ ? uring_->fixed_total() : 0; }
  VirtioBlockState state() const;
  // false when the state belongs to a disk of another size.
  bool restore(const VirtioBlockState& state);

 private:
  struct Completion {
    uint16_t head;
    uint32_t used_len;
  };
  VirtioBlock(VirtioBlockConfig config, std::unique_ptr<storage::BlockImage> image,
              EventLoop& loop);
  void on_uring_completion();  // loop thread: the ring's eventfd fired
  // Validates one chain and completes it now (refused, GET_ID) or hands it to the workers.
  // Returns true when something was added to the used ring.
  bool handle(DescriptorChain&& chain);
  // Hands a request to the worker pool; false when its FIFO is full (cannot happen while
  // in_flight_ < queue size). Any thread.
  bool run_on_pool(BlkRequest&& request, uint32_t written);
  void complete_from_worker(uint16_t head, uint32_t used_len);
  bool drain_completions();  // device thread: completions → used ring
  bool reap_uring();         // device thread: CQEs already there → used ring (no kick)

  EventLoop& loop_;  // watches the io_uring completion eventfd
  VirtioBlockConfig config_;
  BlockMetrics metrics_;
  BlkBackend backend_;
  std::unique_ptr<BlkWorkerPool> pool_;
  std::unique_ptr<BlkUring> uring_;     // null: worker pool only; stopped before pool_
  std::vector<BlkUring::Done> reaped_;  // device thread: scratch for reap_uring
  uint64_t features_ = 0;
  BlkLimits limits_;  // negotiated view (discard/write_zeroes follow the acked features)
  uint64_t acked_features_ = 0;
  int warn_budget_ = 8;             // a hostile driver cannot flood the log (device thread)
  uint64_t poll_ns_ = 0;            // config_.poll_us, or FLOTILLA_BLK_POLL_US
  bool returned_requests_ = false;  // the last process_queue put chains in the used ring
  // Valid between activate() and reset():
  GuestMemoryView memory_;
  Queue* queue_ = nullptr;
  VirtioInterrupt* interrupt_ = nullptr;
  std::atomic<uint32_t> in_flight_{0};  // written on the device thread (transport mutex)
  std::atomic<VirtioInterrupt*> kick_target_{nullptr};
  std::mutex completion_mutex_;
  std::vector<Completion> completions_;           // GUARDED_BY(completion_mutex_)
  std::atomic<bool> completions_waiting_{false};  // completions_ non-empty (lock-free peek)
};

}  // namespace flotilla::vmm::virtio
