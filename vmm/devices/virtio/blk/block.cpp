// VirtioBlock: pops chains, validates them, runs them on the worker pool, returns them used.
#include "vmm/devices/virtio/blk/block.h"

#include <linux/virtio_ids.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace flotilla::vmm::virtio {
namespace {

// FLOTILLA_BLK_POLL_US: a number of µs (≤ 1000) replaces the configured value.
uint32_t poll_us_from_env(uint32_t configured) {
  const char* env = std::getenv("FLOTILLA_BLK_POLL_US");
  if (env == nullptr || *env == '\0') return configured;
  char* end = nullptr;
  const unsigned long v = std::strtoul(env, &end, 10);
  return *end == '\0' && v <= 1000 ? static_cast<uint32_t>(v) : configured;
}

uint64_t bit(unsigned n) {
  return uint64_t{1} << n;
}

}  // namespace

Result<std::shared_ptr<VirtioBlock>, VirtioError> VirtioBlock::create(
    VirtioBlockConfig config, std::unique_ptr<storage::BlockImage> image, EventLoop& loop) {
  const uint16_t qs = config.queue_size;
  if (qs < 4 || (qs & (qs - 1)) != 0 || qs > Queue::kMaxSize) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                            "virtio-blk queue_size must be a power of two in 4..1024"});
  }
  if (image == nullptr) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument, "virtio-blk needs an image"});
  }
  if (config.serial.size() > VIRTIO_BLK_ID_BYTES) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                            "virtio-blk serial is longer than 20 bytes"});
  }
  std::shared_ptr<VirtioBlock> block(new VirtioBlock(std::move(config), std::move(image), loop));
  auto pool = BlkWorkerPool::create(block->config_.name, block->config_.min_workers,
                                    block->config_.max_workers, qs);
  if (!pool) return fail(pool.error());
  block->pool_ = std::move(*pool);
  block->poll_ns_ = uint64_t{poll_us_from_env(block->config_.poll_us)} * 1000;
  BlkIoMode mode = block->config_.io_mode;
  if (mode == BlkIoMode::kAuto) {
    const char* env = std::getenv("FLOTILLA_BLK_IO");
    const std::string want = env != nullptr ? env : "";
    if (want == "sync") mode = BlkIoMode::kSync;
    if (want == "uring") mode = BlkIoMode::kUring;
  }
  if (mode != BlkIoMode::kSync) {
    VirtioBlock* self = block.get();
    // SQ: one SQE per request in the common case; room for a few multi-segment ones.
    auto uring = BlkUring::create(block->config_.name, 2u * qs, block->backend_,
                                  [self](BlkRequest&& request, uint32_t written) {
                                    const uint16_t head = request.head;
                                    uint8_t* const status = request.status;
                                    if (!self->run_on_pool(std::move(request), written)) {
                                      BlockMetrics::add(self->metrics_.errors);
                                      // SAFETY: the status byte lies in guest RAM (see
                                      // run_on_pool's job).
                                      *status = VIRTIO_BLK_S_IOERR;
                                      self->complete_from_worker(head, 1);
                                    }
                                  });
    if (uring) {
      const int fd = (*uring)->completion_fd();
      if (auto added = loop.add_fd(fd, [self] { self->on_uring_completion(); }); !added) {
        return fail(VirtioError{VirtioErrorCode::kSystem, added.error().message});
      }
      block->uring_ = std::move(*uring);
    } else if (mode == BlkIoMode::kUring) {
      return fail(uring.error());
    } else {
      static std::once_flag logged;
      std::call_once(logged, [&] {
        spdlog::warn("virtio-blk: {}; disks use the synchronous worker pool",
                     uring.error().message);
      });
    }
  }
  return block;
}

VirtioBlock::VirtioBlock(VirtioBlockConfig config, std::unique_ptr<storage::BlockImage> image,
                         EventLoop& loop)
    : loop_(loop),
      config_(std::move(config)),
      backend_(config_.name, config_.serial, std::move(image), metrics_) {
  const storage::BlockImage& img = backend_.image();
  limits_.capacity_sectors = img.size_bytes() / kBlkSectorSize;
  limits_.read_only = img.read_only();
  limits_.seg_max = config_.queue_size - 2u;  // header and status take a descriptor each
  limits_.max_discard_sectors = kMaxDiscardSectors;
  limits_.max_discard_seg = kMaxDiscardSegments;
  limits_.max_write_zeroes_sectors = kMaxDiscardSectors;
  limits_.max_write_zeroes_seg = kMaxDiscardSegments;
  limits_.write_zeroes_may_unmap = true;
  features_ = bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH);
  if (limits_.read_only) {
    features_ |= bit(VIRTIO_BLK_F_RO);
  } else {
    features_ |= bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
  }
}

VirtioBlock::~VirtioBlock() {
  // Reaping may still hand short transfers to the pool: stop io_uring first.
  if (uring_) {
    loop_.remove_fd(uring_->completion_fd());
    uring_->stop();
  }
  if (pool_) pool_->stop();
}

void VirtioBlock::on_uring_completion() {
  uring_->clear_completion_signal();
  // Return the chains now, on this wake-up (the one the kernel's completion work caused).
  if (VirtioInterrupt* target = kick_target_.load(std::memory_order_acquire)) {
    target->run_queue(0);
  }
}

uint32_t VirtioBlock::device_type() const {
  return VIRTIO_ID_BLOCK;
}

void VirtioBlock::read_config(uint64_t offset, std::span<uint8_t> data) const {
  virtio_blk_config c{};
  c.capacity = limits_.capacity_sectors;
  c.seg_max = limits_.seg_max;
  c.blk_size = kBlkSectorSize;
  c.num_queues = 1;
  c.max_discard_sectors = limits_.max_discard_sectors;
  c.max_discard_seg = limits_.max_discard_seg;
  c.discard_sector_alignment = kDiscardAlignment;
  c.max_write_zeroes_sectors = limits_.max_write_zeroes_sectors;
  c.max_write_zeroes_seg = limits_.max_write_zeroes_seg;
  c.write_zeroes_may_unmap = limits_.write_zeroes_may_unmap ? 1 : 0;
  std::fill(data.begin(), data.end(), 0);
  if (offset >= sizeof(c)) return;
  const size_t n = std::min<size_t>(data.size(), sizeof(c) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&c) + offset, n);
}

void VirtioBlock::write_config(uint64_t /*offset*/, std::span<const uint8_t> /*data*/) {
  // Nothing writable: no CONFIG_WCE (the cache is always write-back, honoured by FLUSH).
}

void VirtioBlock::set_acked_features(uint64_t features) {
  acked_features_ = features;
  limits_.discard = (features & bit(VIRTIO_BLK_F_DISCARD)) != 0;
  limits_.write_zeroes = (features & bit(VIRTIO_BLK_F_WRITE_ZEROES)) != 0;
}

Result<void, VirtioError> VirtioBlock::activate(const GuestMemoryView& memory,
                                                std::span<Queue> queues,
                                                VirtioInterrupt& interrupt) {
  if (queues.size() != 1 || !queues[0].active()) {
    return fail(VirtioError{VirtioErrorCode::kQueueInvalid, "virtio-blk: requestq not ready"});
  }
  memory_ = memory;
  queue_ = &queues[0];
  interrupt_ = &interrupt;
  in_flight_ = 0;
  kick_target_.store(&interrupt, std::memory_order_release);
  if (uring_) uring_->attach_memory(memory);
  return {};
}

void VirtioBlock::reset() {
  kick_target_.store(nullptr, std::memory_order_release);
  // Chains the driver is about to forget: not started → dropped; running → waited for (their
  // buffers stay valid guest RAM; the driver does not look at them after a reset). io_uring
  // first: reaping may still hand a short transfer to the pool.
  if (uring_) {
    uring_->wait_idle();
    uring_->detach_memory();  // nothing in flight uses a registered buffer any more
  }
  pool_->discard_queued();
  pool_->wait_idle();
  {
    std::lock_guard lock(completion_mutex_);
    completions_.clear();
    completions_waiting_.store(false, std::memory_order_relaxed);
  }
  in_flight_ = 0;
  queue_ = nullptr;
  interrupt_ = nullptr;
  memory_ = GuestMemoryView();
  acked_features_ = 0;
  limits_.discard = limits_.write_zeroes = false;
}

bool VirtioBlock::process_queue(uint16_t index) {
  returned_requests_ = false;
  if (index != 0 || queue_ == nullptr) return true;
  bool used = drain_completions();
  used |= reap_uring();
  bool healthy = true;
  do {
    // in_flight_ never exceeds the ring (each chain holds a descriptor until used), so the
    // pool's FIFO (capacity = queue size) cannot overflow.
    while (in_flight_ < queue_->size()) {
      auto popped = queue_->pop(memory_);
      if (!popped) {
        const QueueError& e = popped.error();
        if (e.ring_broken()) {
          if (warn_budget_ > 0) {
            --warn_budget_;
            spdlog::warn("{}: {}; the device needs a reset", config_.name, describe(e.kind));
          }
          healthy = false;
          break;
        }
        BlockMetrics::add(metrics_.bad_requests);
        BlockMetrics::add(metrics_.errors);
        used |= queue_->add_used(e.head, 0);
        continue;
      }
      if (!popped->has_value()) break;
      used |= handle(std::move(**popped));
    }
    // One io_uring_enter for the whole batch; what the kernel could not take yet goes with
    // the next pass, which a kick makes sure comes.
    if (uring_ && !uring_->submit()) interrupt_->kick_queue(0);
  } while (healthy && in_flight_ < queue_->size() && queue_->enable_notification());
  used |= drain_completions();  // whatever finished meanwhile shares the interrupt
  used |= reap_uring();
  if (used && queue_->needs_notification()) interrupt_->signal_used_queue(0);
  returned_requests_ = used;
  return healthy;
}

bool VirtioBlock::has_ready_work() const {
  return completions_waiting_.load(std::memory_order_acquire) ||
         (uring_ && uring_->completions_ready());
}

uint64_t VirtioBlock::poll_after_ns(uint16_t index) const {
  // The driver refills when it gets requests back; otherwise there is nothing to wait for.
  return index == 0 && returned_requests_ && queue_ != nullptr ? poll_ns_ : 0;
}

bool VirtioBlock::handle(DescriptorChain&& chain) {
  auto parsed = parse_blk_request(chain, limits_);
  if (!parsed) {
    const BlkRequestError& e = parsed.error();
    BlockMetrics::add(metrics_.errors);
    BlockMetrics::add(metrics_.bad_requests);
    if (e.status == nullptr) return queue_->add_used(chain.head, 0);
    const uint8_t status = status_for(e.code);
    if (status == VIRTIO_BLK_S_UNSUPP) BlockMetrics::add(metrics_.unsupported);
    // SAFETY: e.status is the chain's last device-writable byte, inside guest RAM.
    *e.status = status;
    return queue_->add_used(chain.head, 1);
  }
  BlkRequest& r = *parsed;
  const uint32_t written = r.type == VIRTIO_BLK_T_IN || r.type == VIRTIO_BLK_T_GET_ID
                               ? static_cast<uint32_t>(r.data_len)
                               : 0;
  if (r.type == VIRTIO_BLK_T_GET_ID) {  // a memcpy: not worth a thread hop
    *r.status = backend_.execute(r);
    return queue_->add_used(r.head, written + 1);
  }
  if (uring_ && uring_->try_queue(r, written)) {
    ++in_flight_;
    return false;
  }
  const uint16_t head = r.head;
  uint8_t* const status_byte = r.status;
  if (!run_on_pool(std::move(r), written)) {
    // Cannot happen while in_flight_ < queue size; fail the request rather than block.
    BlockMetrics::add(metrics_.errors);
    metrics_.set_last_error(config_.name + ": worker queue full");
    *status_byte = VIRTIO_BLK_S_IOERR;
    return queue_->add_used(head, 1);
  }
  ++in_flight_;
  return false;
}

bool VirtioBlock::run_on_pool(BlkRequest&& r, uint32_t written) {
  auto job = [this, req = std::move(r), written]() {
    const uint8_t status = backend_.execute(req);
    // SAFETY: the status byte lies in guest RAM; the driver reads it only after the chain is
    // returned in the used ring (ordered by completion_mutex_ and the used-index release).
    *req.status = status;
    complete_from_worker(req.head, status == VIRTIO_BLK_S_OK ? written + 1 : 1);
  };
  return pool_->submit(std::move(job));
}

void VirtioBlock::complete_from_worker(uint16_t head, uint32_t used_len) {
  bool first = false;
  {
    std::lock_guard lock(completion_mutex_);
    first = completions_.empty();
    completions_.push_back(Completion{head, used_len});
    completions_waiting_.store(true, std::memory_order_release);
  }
  // One kick per batch: the device thread takes the whole list at once.
  if (first) {
    if (VirtioInterrupt* target = kick_target_.load(std::memory_order_acquire)) {
      target->kick_queue(0);
    }
  }
}

bool VirtioBlock::reap_uring() {
  if (!uring_) return false;
  reaped_.clear();
  uring_->reap_ready(reaped_);
  bool used = false;
  for (const BlkUring::Done& d : reaped_) {
    used |= queue_->add_used(d.head, d.used_len);
    if (in_flight_ > 0) --in_flight_;
  }
  return used;
}

bool VirtioBlock::drain_completions() {
  std::vector<Completion> done;
  {
    std::lock_guard lock(completion_mutex_);
    if (completions_.empty()) return false;
    done.swap(completions_);
    completions_waiting_.store(false, std::memory_order_relaxed);
    completions_.reserve(done.capacity());
  }
  bool used = false;
  for (const Completion& c : done) {
    used |= queue_->add_used(c.head, c.used_len);
    if (in_flight_ > 0) --in_flight_;
  }
  return used;
}

VirtioBlockState VirtioBlock::state() const {
  return VirtioBlockState{acked_features_, activated(), limits_.capacity_sectors};
}

bool VirtioBlock::restore(const VirtioBlockState& state) {
  if (state.capacity_sectors != limits_.capacity_sectors) return false;
  set_acked_features(state.acked_features & (features_ | ~uint64_t{0xffffff}));
  return true;
}

}  // namespace flotilla::vmm::virtio
