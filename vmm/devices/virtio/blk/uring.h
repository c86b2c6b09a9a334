// BlkUring: the io_uring data path of one virtio-blk disk. The device thread (process_queue)
// maps a validated IN/OUT request through BlockImage::map_direct and, when the image says the
// bytes are plain host ranges, queues one readv/writev SQE per host segment straight on the
// image's fd (O_DIRECT where offsets and buffers allow), and submits once per batch. The
// reaper thread ("<name>u") waits for completions, writes the status bytes, counts them
// (BlkBackend::finish_transfer) and hands a whole batch of finished requests to `on_done` at
// once; the device thread also takes completions that are already there whenever it runs
// (reap_ready), so a busy queue is often completed without waking anyone. A short transfer or
// EAGAIN re-runs the whole request on the synchronous path
// (`fallback`): both are idempotent for plain reads and writes.
//
// Bounded: at most `max_ops` operations are in flight (the ring's CQ size); a request that
// would exceed it, needs more than kMaxSegments SQEs or finds the SQ full is refused by
// try_queue and takes the synchronous path. Requests the image cannot map (qcow2 holes,
// allocating writes, compressed clusters, metadata busy) take it too.
//
// Threads: try_queue/submit/wait_idle/stop on the device thread (or whichever thread holds
// the transport mutex: one submitter at a time); the reaper only reaps. Destruction waits for
// every operation in flight (their buffers are guest RAM and the fds the image's).
#pragma once

#include <liburing.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "vmm/devices/virtio/blk/backend.h"
#include "vmm/devices/virtio/blk/request.h"
#include "vmm/virtio/device.h"

namespace flotilla::vmm::virtio {

// An io_uring instance (RAII: io_uring_queue_exit on destruction).
class UringRing {
 public:
  UringRing() = default;
  ~UringRing();
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;
  // 0 or -errno (ENOSYS on kernels without io_uring, EPERM under a seccomp filter).
  int init(unsigned entries);
  bool valid() const { return valid_; }
  io_uring* get() { return &ring_; }

 private:
  io_uring ring_{};
  bool valid_ = false;
};

class BlkUring {
 public:
  struct Done {
    uint16_t head;
    uint32_t used_len;
  };
  // Reaper thread: one call per batch of finished requests (status bytes already written).
  using OnDone = std::function<void(std::vector<Done>& batch)>;
  // Reaper thread: a request that must be re-run synchronously (short transfer, EAGAIN).
  using Fallback = std::function<void(BlkRequest&& request, uint32_t written)>;

  static constexpr unsigned kMaxSegments = 64;  // SQEs per request, else the slow path

  // entries: SQ size (the CQ gets twice that). Fails when io_uring is unusable here.
  static Result<std::unique_ptr<BlkUring>, VirtioError> create(const std::string& name,
                                                               unsigned entries,
                                                               BlkBackend& backend, OnDone on_done,
                                                               Fallback fallback);
  ~BlkUring();  // stop()
  BlkUring(const BlkUring&) = delete;
  BlkUring& operator=(const BlkUring&) = delete;

  // Device thread. Queues an IN/OUT request (moved from when it returns true); false: the
  // request is untouched and must take the synchronous path. `written`: bytes the guest
  // sees written on success (data for IN, 0 for OUT), the status byte excluded.
  bool try_queue(BlkRequest& request, uint32_t written);
  // Device thread: submits what try_queue queued (one io_uring_enter per batch).
  void submit();
  // Device thread: finishes the transfers whose CQEs are already there (status bytes written,
  // counted) and appends them to `batch` for the caller to return to the guest itself — no
  // reaper wake-up and no kick for them. Never blocks: if the reaper is reaping, it does nothing.
  void reap_ready(std::vector<Done>& batch);
  // Any thread: CQEs are waiting to be reaped.
  bool ready() { return io_uring_cq_ready(ring_.get()) > 0; }
  // Blocks until nothing is in flight (reset).
  void wait_idle();
  // Waits for what is in flight, stops and joins the reaper. Idempotent.
  void stop();
  uint64_t queued_total() const { return queued_total_.load(std::memory_order_relaxed); }

 private:
  struct Op;
  struct Segment {
    Op* op = nullptr;
    uint64_t length = 0;
    std::vector<iovec> iov;  // empty: the request's own data iovecs
  };
  struct Op {
    BlkRequest request;
    uint32_t written = 0;
    std::vector<Segment> segments;
    unsigned pending = 0;  // reaper only, after submission
    int err = 0;           // first error (positive errno)
    bool retry = false;    // a short transfer or EAGAIN: re-run synchronously
  };
  BlkUring(std::string name, BlkBackend& backend, OnDone on_done, Fallback fallback)
      : name_(std::move(name)),
        backend_(backend),
        on_done_(std::move(on_done)),
        fallback_(std::move(fallback)) {}
  void run();
  // cq_mutex_ held: finishes the ready CQEs into batch; returns how many operations it reaped
  // (still counted in ops_ until release_ops).
  unsigned reap_locked(std::vector<Done>& batch);
  void release_ops(unsigned count);
  void finish(std::unique_ptr<Op> op, std::vector<Done>& batch);

  const std::string name_;
  BlkBackend& backend_;
  OnDone on_done_;
  Fallback fallback_;
  UringRing ring_;
  unsigned max_ops_ = 0;
  unsigned unsubmitted_ = 0;      // device thread: SQEs prepared since the last submit
  std::atomic<unsigned> ops_{0};  // SQEs in flight (prepared, not reaped)
  std::atomic<uint64_t> queued_total_{0};
  std::vector<storage::HostSegment> map_scratch_;  // device thread
  std::mutex cq_mutex_;     // one reaper of the CQ at a time: the reaper or the device thread
  bool stop_seen_ = false;  // GUARDED_BY(cq_mutex_)
  std::mutex idle_mutex_;
  std::condition_variable idle_cv_;
  bool stopped_ = false;  // device thread
  std::thread reaper_;
};

}  // namespace flotilla::vmm::virtio
