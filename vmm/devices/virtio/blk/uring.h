// BlkUring: the io_uring data path of one virtio-blk disk. The device thread (process_queue)
// maps a validated IN/OUT request through BlockImage::map_direct and, when the image says the
// bytes are plain host ranges, queues one readv/writev SQE per host segment straight on the
// image's fd (O_DIRECT where offsets and buffers allow), and submits once per batch. The
// device thread also reaps (reap_ready: status bytes written, counted by
// BlkBackend::finish_transfer): the kernel posts a read or write's completion from task work
// run by the thread that submitted it, so that thread is woken for it anyway; the ring's
// eventfd (completion_fd, io_uring_register_eventfd), which its event loop watches, then makes
// the same wake-up return the chains to the guest. A separate reaper thread would be a second
// wake-up per batch (measured: a quarter of a sequential write run with nothing in flight).
// A request whose data is one buffer in guest RAM, on an O_DIRECT fd, goes as READ_FIXED /
// WRITE_FIXED through guest RAM registered with the ring (fixed_buffers.h: no page pinning per
// request); attach_memory/detach_memory bracket an activation.
// A short transfer or EAGAIN re-runs the whole request on the synchronous path (`fallback`):
// both are idempotent for plain reads and writes.
//
// Bounded: at most `max_ops` operations are in flight (the ring's CQ size); a request that
// would exceed it, needs more than kMaxSegments SQEs or finds the SQ full is refused by
// try_queue and takes the synchronous path. Requests the image cannot map (qcow2 holes,
// allocating writes, compressed clusters, metadata busy) take it too.
//
// Threads: every call from the device thread, or whichever thread holds the transport mutex
// (one at a time). Destruction waits for every operation in flight (their buffers are guest
// RAM and the fds the image's).
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmm/devices/virtio/blk/backend.h"
#include "vmm/devices/virtio/blk/fixed_buffers.h"
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
  const io_uring* get() const { return &ring_; }

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
  // From reap_ready/wait_idle: a request that must be re-run synchronously (short transfer,
  // EAGAIN).
  using Fallback = std::function<void(BlkRequest&& request, uint32_t written)>;

  static constexpr unsigned kMaxSegments = 64;  // SQEs per request, else the slow path

  // entries: SQ size (the CQ gets twice that). Fails when io_uring is unusable here.
  static Result<std::unique_ptr<BlkUring>, VirtioError> create(const std::string& name,
                                                               unsigned entries,
                                                               BlkBackend& backend,
                                                               Fallback fallback);
  ~BlkUring();  // stop()
  BlkUring(const BlkUring&) = delete;
  BlkUring& operator=(const BlkUring&) = delete;

  // Device thread. Queues an IN/OUT request (moved from when it returns true); false: the
  // request is untouched and must take the synchronous path. `written`: bytes the guest
  // sees written on success (data for IN, 0 for OUT), the status byte excluded.
  bool try_queue(BlkRequest& request, uint32_t written);
  // Device thread: submits what try_queue queued (one io_uring_enter per batch). false: some
  // stay queued (the kernel was short of resources): call again soon.
  bool submit();
  // Device thread: finishes the transfers whose CQEs are there (status bytes written, counted)
  // and appends them to `batch` for the caller to return to the guest. Never blocks.
  void reap_ready(std::vector<Done>& batch);
  // Readable when the kernel has posted completions: watch it, clear_completion_signal() and
  // reap_ready() when it fires.
  int completion_fd() const { return completion_fd_.get(); }
  // CQEs posted and not reaped yet. Reads the CQ's indices only: any thread, no lock.
  bool completions_ready() const { return io_uring_cq_ready(ring_.get()) > 0; }
  void clear_completion_signal();
  // Blocks until nothing is in flight (reset), reaping and dropping what finishes: the driver
  // forgets these chains.
  void wait_idle();
  // wait_idle(), then refuses new requests. Idempotent.
  void stop();
  // Guest RAM the driver's buffers live in (activate), and its release (reset, after
  // wait_idle).
  void attach_memory(const GuestMemoryView& memory);
  void detach_memory();
  uint64_t queued_total() const { return queued_total_.load(std::memory_order_relaxed); }
  // SQEs that used a registered buffer (tests: proves the fixed path ran).
  uint64_t fixed_total() const { return fixed_total_.load(std::memory_order_relaxed); }

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
    unsigned pending = 0;  // SQEs not yet reaped
    int err = 0;           // first error (positive errno)
    bool retry = false;    // a short transfer or EAGAIN: re-run synchronously
  };
  BlkUring(std::string name, BlkBackend& backend, Fallback fallback)
      : name_(std::move(name)), backend_(backend), fallback_(std::move(fallback)), fixed_(name_) {}
  // Fills sqe with one segment's transfer: a fixed buffer when one covers it.
  void prep(io_uring_sqe* sqe, bool write, int fd, bool direct, const std::vector<iovec>& iov,
            uint64_t offset);
  // Finishes the ready CQEs into batch; returns how many operations it reaped.
  unsigned reap(std::vector<Done>& batch);
  void finish(std::unique_ptr<Op> op, std::vector<Done>& batch);

  const std::string name_;
  BlkBackend& backend_;
  Fallback fallback_;
  UringRing ring_;
  UniqueFd completion_fd_;  // registered with the ring: signalled per posted CQE
  unsigned max_ops_ = 0;
  unsigned unsubmitted_ = 0;  // device thread: SQEs prepared since the last submit
  unsigned ops_ = 0;          // SQEs in flight (prepared, not reaped)
  std::atomic<uint64_t> queued_total_{0};
  std::atomic<uint64_t> fixed_total_{0};
  FixedBuffers fixed_;
  std::vector<storage::HostSegment> map_scratch_;
  bool stopped_ = false;
};

}  // namespace flotilla::vmm::virtio
