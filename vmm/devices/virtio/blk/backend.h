// The host side of virtio-blk: BlkBackend executes validated requests against a BlockImage
// (zero-copy: the iovecs point into guest RAM), and BlkWorkerPool runs them off the vCPU and
// device threads on a few named threads with a bounded FIFO.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "storage/image/block_image.h"
#include "vmm/devices/virtio/blk/metrics.h"
#include "vmm/devices/virtio/blk/request.h"
#include "vmm/virtio/device.h"

namespace flotilla::vmm::virtio {

class BlkBackend {
 public:
  // name: for log lines ("blk0"). serial: ≤ 20 bytes, returned by GET_ID.
  BlkBackend(std::string name, std::string serial, std::unique_ptr<storage::BlockImage> image,
             BlockMetrics& metrics);

  // Runs one request to completion and returns its status byte (VIRTIO_BLK_S_*). Counts it.
  // An ENOSPC is an IOERR, counted in no_space_errors and logged once per disk. Thread-safe.
  uint8_t execute(const BlkRequest& request);

  // Completes an IN/OUT request whose data some other path moved (io_uring): err 0 counts it
  // and returns VIRTIO_BLK_S_OK; an errno is handled like a failed readv/writev (IOERR,
  // ENOSPC/EDQUOT counted as no-space). Thread-safe.
  uint8_t finish_transfer(const BlkRequest& request, int err);

  storage::BlockImage& image() { return *image_; }
  const storage::BlockImage& image() const { return *image_; }
  const std::string& name() const { return name_; }

 private:
  uint8_t failed(const storage::ImageError& error);
  storage::ImageResult<void> read_into_guest(const BlkRequest& request);

  std::string name_;
  std::string serial_;
  std::unique_ptr<storage::BlockImage> image_;
  BlockMetrics& metrics_;
  std::once_flag no_space_logged_;
  int warn_budget_ = 16;  // other I/O errors: a few log lines, then counters only
  std::mutex warn_mutex_;
};

// Threads named "<prefix>w<i>" taking jobs from one FIFO of at most `capacity` entries. Starts
// with min_threads and adds one (up to max_threads) whenever a job is queued while every thread
// is busy, so a deep guest queue becomes as many concurrent host I/Os (O_DIRECT on a fast device
// needs them) while an idle or shallow disk costs a thread or two. Threads stay until stop().
class BlkWorkerPool {
 public:
  using Job = std::function<void()>;

  static Result<std::unique_ptr<BlkWorkerPool>, VirtioError> create(const std::string& prefix,
                                                                    unsigned min_threads,
                                                                    unsigned max_threads,
                                                                    size_t capacity);
  ~BlkWorkerPool();  // stop()
  BlkWorkerPool(const BlkWorkerPool&) = delete;
  BlkWorkerPool& operator=(const BlkWorkerPool&) = delete;

  // false when the FIFO is full or the pool stopped (the job is not run).
  bool submit(Job job);
  // Drops the jobs not started yet; returns how many.
  size_t discard_queued();
  // Blocks until no job is queued or running.
  void wait_idle();
  // Finishes the running jobs, drops the queued ones, joins the threads. Idempotent.
  void stop();
  size_t thread_count() const;

 private:
  BlkWorkerPool(std::string prefix, unsigned max_threads, size_t capacity)
      : prefix_(std::move(prefix)), max_threads_(max_threads), capacity_(capacity) {}
  bool spawn_locked();  // mutex_ held
  void run(std::string name);

  const std::string prefix_;
  const unsigned max_threads_;
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<Job> jobs_;              // GUARDED_BY(mutex_)
  size_t running_ = 0;                // GUARDED_BY(mutex_)
  size_t idle_ = 0;                   // GUARDED_BY(mutex_): threads waiting for a job
  bool stopping_ = false;             // GUARDED_BY(mutex_)
  std::vector<std::thread> threads_;  // GUARDED_BY(mutex_); stop() joins them outside it
};

}  // namespace flotilla::vmm::virtio
