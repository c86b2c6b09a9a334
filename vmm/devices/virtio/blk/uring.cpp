// BlkUring: IN/OUT requests as io_uring readv/writev on the image's fds; reaper thread.
#include "vmm/devices/virtio/blk/uring.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "storage/image/iov.h"

namespace flotilla::vmm::virtio {
namespace {

constexpr uint64_t kDirectAlign = 4096;
constexpr uint64_t kStopMarker = 0;  // user_data of the NOP that ends the reaper

}  // namespace

UringRing::~UringRing() {
  if (valid_) io_uring_queue_exit(&ring_);
}

int UringRing::init(unsigned entries) {
  if (valid_) return -EBUSY;
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 2;
  const int rc = io_uring_queue_init_params(entries, &ring_, &params);
  if (rc < 0) return rc;
  valid_ = true;
  return 0;
}

Result<std::unique_ptr<BlkUring>, VirtioError> BlkUring::create(const std::string& name,
                                                                unsigned entries,
                                                                BlkBackend& backend, OnDone on_done,
                                                                Fallback fallback) {
  if (entries == 0 || entries > 4096) {
    return fail(
        VirtioError{VirtioErrorCode::kInvalidArgument, "virtio-blk io_uring: 1..4096 entries"});
  }
  std::unique_ptr<BlkUring> u(new BlkUring(name, backend, std::move(on_done), std::move(fallback)));
  if (const int rc = u->ring_.init(entries); rc < 0) {
    return fail(VirtioError{VirtioErrorCode::kSystem,
                            std::string("io_uring_queue_init: ") + std::strerror(-rc)});
  }
  // Leave room for the stop NOP: never more operations in flight than the CQ holds.
  u->max_ops_ = entries * 2 - 1;
  try {
    u->reaper_ = std::thread([p = u.get()] { p->run(); });
  } catch (const std::system_error&) {
    return fail(VirtioError{VirtioErrorCode::kSystem, "virtio-blk: cannot start the reaper"});
  }
  return u;
}

BlkUring::~BlkUring() {
  stop();
}

bool BlkUring::try_queue(BlkRequest& r, uint32_t written) {
  if (stopped_ || (r.type != VIRTIO_BLK_T_IN && r.type != VIRTIO_BLK_T_OUT) || r.data_len == 0) {
    return false;
  }
  const bool write = r.type == VIRTIO_BLK_T_OUT;
  map_scratch_.clear();
  auto mapped = backend_.image().map_direct(r.offset(), r.data_len, write, map_scratch_);
  // An error (out of range, read-only, corrupt metadata): the synchronous path reports it the
  // way it always has (readv/writev fail the same way).
  if (!mapped || !*mapped || map_scratch_.empty() || map_scratch_.size() > kMaxSegments) {
    return false;
  }
  const auto count = static_cast<unsigned>(map_scratch_.size());
  io_uring* ring = ring_.get();
  if (ops_.load(std::memory_order_acquire) + count > max_ops_) return false;
  if (io_uring_sq_space_left(ring) < count) {
    submit();
    if (io_uring_sq_space_left(ring) < count) return false;
  }
  auto op = std::make_unique<Op>();
  op->request = std::move(r);
  op->written = written;
  op->segments.resize(count);
  const bool whole = count == 1;
  for (unsigned i = 0; i < count; ++i) {
    const storage::HostSegment& hs = map_scratch_[i];
    Segment& seg = op->segments[i];
    seg.op = op.get();
    seg.length = hs.length;
    if (!whole) seg.iov = storage::iov_slice(op->request.data, hs.request_offset, hs.length);
  }
  ops_.fetch_add(count, std::memory_order_acq_rel);
  for (unsigned i = 0; i < count; ++i) {
    const storage::HostSegment& hs = map_scratch_[i];
    Segment& seg = op->segments[i];
    const std::vector<iovec>& iov = whole ? op->request.data : seg.iov;
    const bool direct = hs.direct_fd >= 0 && hs.host_offset % kDirectAlign == 0 &&
                        hs.length % kDirectAlign == 0 && storage::iov_aligned(iov, kDirectAlign);
    const int fd = direct ? hs.direct_fd : hs.fd;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);  // space checked above
    if (write) {
      io_uring_prep_writev(sqe, fd, iov.data(), static_cast<unsigned>(iov.size()), hs.host_offset);
    } else {
      io_uring_prep_readv(sqe, fd, iov.data(), static_cast<unsigned>(iov.size()), hs.host_offset);
    }
    io_uring_sqe_set_data(sqe, &seg);
  }
  op->pending = count;
  op.release();  // owned by its SQEs until the reaper sees the last one
  unsubmitted_ += count;
  queued_total_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void BlkUring::submit() {
  while (unsubmitted_ > 0) {
    const int rc = io_uring_submit(ring_.get());
    if (rc >= 0) {
      unsubmitted_ -= std::min<unsigned>(unsubmitted_, static_cast<unsigned>(rc));
      if (rc == 0) break;  // nothing taken (cannot happen with SQEs queued): do not spin
      continue;
    }
    if (rc == -EINTR) continue;
    if (rc == -EAGAIN || rc == -EBUSY) {
      // The kernel is short of resources or the CQ is full: the reaper frees room; the SQEs
      // stay queued and go with the next submit (the next batch, or now after a yield).
      std::this_thread::yield();
      continue;
    }
    spdlog::error("{}: io_uring_submit: {}", name_, std::strerror(-rc));
    break;
  }
}

void BlkUring::run() {
  std::string thread_name = name_ + "u";
  thread_name.resize(std::min<size_t>(thread_name.size(), 15));
  pthread_setname_np(pthread_self(), thread_name.c_str());
  io_uring* ring = ring_.get();
  std::vector<Done> batch;
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe(ring, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) {
      spdlog::error("{}: io_uring_wait_cqe: {}; the reaper stops", name_, std::strerror(-rc));
      return;
    }
    std::unique_lock lock(cq_mutex_);
    const unsigned reaped = reap_locked(batch);
    const bool stopping = stop_seen_;
    lock.unlock();
    if (!batch.empty()) {
      on_done_(batch);
      batch.clear();
    }
    // Only now: wait_idle (a reset) must not return while a batch is on its way to on_done.
    release_ops(reaped);
    if (stopping) return;
  }
}

void BlkUring::reap_ready(std::vector<Done>& batch) {
  if (ops_.load(std::memory_order_acquire) == 0) return;
  std::unique_lock lock(cq_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // the reaper is at it
  // The caller (device thread, transport mutex held) returns the batch before a reset can
  // run, so the operations can be released at once.
  release_ops(reap_locked(batch));
}

void BlkUring::release_ops(unsigned count) {
  if (count > 0 && ops_.fetch_sub(count, std::memory_order_acq_rel) == count) {
    std::lock_guard idle(idle_mutex_);
    idle_cv_.notify_all();
  }
}

unsigned BlkUring::reap_locked(std::vector<Done>& batch) {
  io_uring* ring = ring_.get();
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  unsigned seen = 0;
  unsigned reaped_ops = 0;
  io_uring_for_each_cqe(ring, head, cqe) {
    ++seen;
    const uint64_t data = io_uring_cqe_get_data64(cqe);
    if (data == kStopMarker) {
      stop_seen_ = true;
      continue;
    }
    ++reaped_ops;
    auto* seg = reinterpret_cast<Segment*>(static_cast<uintptr_t>(data));
    Op* op = seg->op;
    const int res = cqe->res;
    if (res < 0) {
      if (res == -EAGAIN || res == -EINTR) {
        op->retry = true;
      } else if (op->err == 0) {
        op->err = -res;
      }
    } else if (static_cast<uint64_t>(res) != seg->length) {
      op->retry = true;  // short: at the end of a shrunk file, or a partial transfer
    }
    if (--op->pending == 0) finish(std::unique_ptr<Op>(op), batch);
  }
  if (seen > 0) io_uring_cq_advance(ring, seen);
  return reaped_ops;
}

void BlkUring::finish(std::unique_ptr<Op> op, std::vector<Done>& batch) {
  if (op->retry && op->err == 0) {
    fallback_(std::move(op->request), op->written);
    return;
  }
  const uint8_t status = backend_.finish_transfer(op->request, op->err);
  // SAFETY: the status byte lies in guest RAM; the driver reads it only after the chain is
  // returned in the used ring (ordered by on_done's lock and the used-index release).
  *op->request.status = status;
  batch.push_back(Done{op->request.head, status == VIRTIO_BLK_S_OK ? op->written + 1 : 1});
}

void BlkUring::wait_idle() {
  submit();  // anything still queued must reach the kernel to ever complete
  std::unique_lock lock(idle_mutex_);
  idle_cv_.wait(lock, [this] { return ops_.load(std::memory_order_acquire) == 0; });
}

void BlkUring::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!reaper_.joinable()) return;
  wait_idle();
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) {  // cannot be: nothing is queued once idle
    submit();
    sqe = io_uring_get_sqe(ring_.get());
  }
  if (sqe != nullptr) {
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, kStopMarker);
    ++unsubmitted_;
    submit();
  }
  reaper_.join();
}

}  // namespace flotilla::vmm::virtio
