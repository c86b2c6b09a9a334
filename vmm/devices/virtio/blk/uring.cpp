// BlkUring: IN/OUT requests as io_uring readv/writev on the image's fds, reaped by the device
// thread when the ring's eventfd fires.
#include "vmm/devices/virtio/blk/uring.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "storage/image/iov.h"

namespace flotilla::vmm::virtio {
namespace {

constexpr uint64_t kDirectAlign = 4096;

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
                                                                BlkBackend& backend,
                                                                Fallback fallback) {
  if (entries == 0 || entries > 4096) {
    return fail(
        VirtioError{VirtioErrorCode::kInvalidArgument, "virtio-blk io_uring: 1..4096 entries"});
  }
  std::unique_ptr<BlkUring> u(new BlkUring(name, backend, std::move(fallback)));
  if (const int rc = u->ring_.init(entries); rc < 0) {
    return fail(VirtioError{VirtioErrorCode::kSystem,
                            std::string("io_uring_queue_init: ") + std::strerror(-rc)});
  }
  u->completion_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!u->completion_fd_) {
    return fail(
        VirtioError{VirtioErrorCode::kSystem, std::string("eventfd: ") + std::strerror(errno)});
  }
  if (const int rc = io_uring_register_eventfd(u->ring_.get(), u->completion_fd_.get()); rc < 0) {
    return fail(VirtioError{VirtioErrorCode::kSystem,
                            std::string("io_uring_register_eventfd: ") + std::strerror(-rc)});
  }
  // Never more operations in flight than the CQ holds.
  u->max_ops_ = entries * 2;
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
  if (ops_ + count > max_ops_) return false;
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
  ops_ += count;
  for (unsigned i = 0; i < count; ++i) {
    const storage::HostSegment& hs = map_scratch_[i];
    Segment& seg = op->segments[i];
    const std::vector<iovec>& iov = whole ? op->request.data : seg.iov;
    const bool direct = hs.direct_fd >= 0 && hs.host_offset % kDirectAlign == 0 &&
                        hs.length % kDirectAlign == 0 && storage::iov_aligned(iov, kDirectAlign);
    const int fd = direct ? hs.direct_fd : hs.fd;
    io_uring_sqe* sqe = io_uring_get_sqe(ring);  // space checked above
    prep(sqe, write, fd, direct, iov, hs.host_offset);
    io_uring_sqe_set_data(sqe, &seg);
  }
  op->pending = count;
  (void)op.release();  // owned by its SQEs until the last one is reaped
  unsubmitted_ += count;
  queued_total_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void BlkUring::prep(io_uring_sqe* sqe, bool write, int fd, bool direct,
                    const std::vector<iovec>& iov, uint64_t offset) {
  // Only O_DIRECT pins per request; a buffered transfer copies either way.
  const int slot =
      direct && iov.size() == 1 ? fixed_.slot_for(iov[0].iov_base, iov[0].iov_len) : -1;
  if (slot >= 0) {
    // iov_len ≤ one chunk ≤ FixedBuffers::kMaxChunk (1 GiB).
    const auto len = static_cast<unsigned>(iov[0].iov_len);
    if (write) {
      io_uring_prep_write_fixed(sqe, fd, iov[0].iov_base, len, offset, slot);
    } else {
      io_uring_prep_read_fixed(sqe, fd, iov[0].iov_base, len, offset, slot);
    }
    fixed_total_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto count = static_cast<unsigned>(iov.size());
  if (write) {
    io_uring_prep_writev(sqe, fd, iov.data(), count, offset);
  } else {
    io_uring_prep_readv(sqe, fd, iov.data(), count, offset);
  }
}

void BlkUring::attach_memory(const GuestMemoryView& memory) {
  if (!stopped_) fixed_.attach(ring_.get(), memory.regions());
}

void BlkUring::detach_memory() {
  fixed_.detach();
}

bool BlkUring::submit() {
  while (unsubmitted_ > 0) {
    const int rc = io_uring_submit(ring_.get());
    if (rc > 0) {
      unsubmitted_ -= std::min<unsigned>(unsubmitted_, static_cast<unsigned>(rc));
      continue;
    }
    if (rc == -EINTR) continue;
    // EAGAIN/EBUSY: the kernel is short of resources (the CQ cannot overflow: ops_ ≤ its
    // size). The SQEs stay queued for the caller's next try.
    if (rc != -EAGAIN && rc != -EBUSY) {
      spdlog::error("{}: io_uring_submit: {}", name_, std::strerror(-rc));
    }
    break;
  }
  return unsubmitted_ == 0;
}

void BlkUring::clear_completion_signal() {
  eventfd_t count = 0;
  // SAFETY: our own non-blocking eventfd; EAGAIN (nothing signalled) is fine.
  (void)::eventfd_read(completion_fd_.get(), &count);
}

void BlkUring::reap_ready(std::vector<Done>& batch) {
  if (ops_ > 0) ops_ -= reap(batch);
}

unsigned BlkUring::reap(std::vector<Done>& batch) {
  io_uring* ring = ring_.get();
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  unsigned seen = 0;
  unsigned reaped_ops = 0;
  io_uring_for_each_cqe(ring, head, cqe) {
    ++seen;
    ++reaped_ops;
    auto* seg = static_cast<Segment*>(io_uring_cqe_get_data(cqe));
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
  // returned in the used ring (the used-index release orders it).
  *op->request.status = status;
  batch.push_back(Done{op->request.head, status == VIRTIO_BLK_S_OK ? op->written + 1 : 1});
}

void BlkUring::wait_idle() {
  std::vector<Done> dropped;
  while (ops_ > 0) {
    // Anything still queued must reach the kernel to ever complete.
    if (!submit() && ops_ == unsubmitted_) {
      std::this_thread::yield();
      continue;
    }
    io_uring_cqe* cqe = nullptr;
    // The CQEs are posted by task work of the thread that submitted (the device thread), which
    // runs it even while it waits for the transport mutex this caller holds.
    const int rc = io_uring_wait_cqe(ring_.get(), &cqe);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
      spdlog::error("{}: io_uring_wait_cqe: {}; {} operations abandoned", name_, std::strerror(-rc),
                    ops_);
      return;
    }
    reap_ready(dropped);
    dropped.clear();
  }
}

void BlkUring::stop() {
  if (stopped_) return;
  stopped_ = true;
  wait_idle();
  detach_memory();
}

}  // namespace flotilla::vmm::virtio
