// VirtioRng: pops request chains, fills them from the backend, returns them used.
#include "vmm/devices/virtio/rng/rng.h"

#include <linux/virtio_ids.h>
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vmm/devices/virtio/rng/request.h"

namespace flotilla::vmm::virtio {

namespace {
constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint64_t kMinTimerNs = 1'000'000;  // 1 ms

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

Result<std::shared_ptr<VirtioRng>, VirtioError> VirtioRng::create(
    VirtioRngConfig config, EventLoop* loop, std::unique_ptr<RngBackend> backend) {
  const uint16_t qs = config.queue_size;
  if (qs == 0 || (qs & (qs - 1)) != 0 || qs > Queue::kMaxSize) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                            "virtio-rng queue_size must be a power of two <= 1024"});
  }
  UniqueFd timer;
  if (config.rate_bytes_per_sec > 0) {
    if (loop == nullptr) {
      return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                              "virtio-rng rate limit needs an event loop"});
    }
    if (config.burst_bytes == 0) config.burst_bytes = config.rate_bytes_per_sec;
    timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer) {
      return fail(VirtioError{VirtioErrorCode::kSystem,
                              std::string("timerfd_create: ") + std::strerror(errno)});
    }
  }
  if (backend == nullptr) backend = std::make_unique<GetrandomBackend>();
  std::shared_ptr<VirtioRng> rng(new VirtioRng(config, loop, std::move(backend), std::move(timer)));
  if (rng->timer_) {
    VirtioRng* raw = rng.get();
    auto added = loop->add_fd(rng->timer_.get(), [raw] { raw->on_timer(); });
    if (!added) {
      rng->loop_ = nullptr;  // nothing registered: the destructor must not remove it
      return fail(VirtioError{VirtioErrorCode::kSystem, added.error().message});
    }
  }
  return rng;
}

VirtioRng::VirtioRng(VirtioRngConfig config, EventLoop* loop, std::unique_ptr<RngBackend> backend,
                     UniqueFd timer)
    : config_(config), loop_(loop), backend_(std::move(backend)), timer_(std::move(timer)) {
  tokens_ = config_.burst_bytes;
}

VirtioRng::~VirtioRng() {
  if (timer_ && loop_ != nullptr) loop_->remove_fd(timer_.get());
}

uint32_t VirtioRng::device_type() const {
  return VIRTIO_ID_RNG;
}

void VirtioRng::read_config(uint64_t /*offset*/, std::span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0);  // virtio-rng has no config space
}

void VirtioRng::write_config(uint64_t /*offset*/, std::span<const uint8_t> /*data*/) {}

Result<void, VirtioError> VirtioRng::activate(const GuestMemoryView& memory,
                                              std::span<Queue> queues, VirtioInterrupt& interrupt) {
  if (queues.size() != 1 || !queues[0].active()) {
    return fail(VirtioError{VirtioErrorCode::kQueueInvalid, "virtio-rng: requestq not ready"});
  }
  memory_ = memory;
  queue_ = &queues[0];
  interrupt_ = &interrupt;
  kick_target_.store(&interrupt, std::memory_order_release);
  last_refill_ns_ = now_ns();
  return {};
}

void VirtioRng::reset() {
  queue_ = nullptr;
  interrupt_ = nullptr;
  kick_target_.store(nullptr, std::memory_order_release);
  memory_ = GuestMemoryView();
  acked_features_ = 0;
  if (timer_) {
    const itimerspec off{};
    ::timerfd_settime(timer_.get(), 0, &off, nullptr);
  }
}

bool VirtioRng::process_queue(uint16_t index) {
  if (index != 0 || queue_ == nullptr) return true;
  bool used = false;
  bool healthy = true;
  bool throttled = false;
  uint64_t missing = 1;
  do {
    for (;;) {
      if (timer_) {
        refill_tokens();
        if (tokens_ == 0) {
          throttled = true;
          break;
        }
      }
      auto popped = queue_->pop(memory_);
      if (!popped) {
        const QueueError& e = popped.error();
        if (e.ring_broken()) {
          spdlog::warn("virtio-rng: {}", describe(e.kind));
          healthy = false;
          break;
        }
        metrics_.bad_requests.fetch_add(1, std::memory_order_relaxed);
        used |= queue_->add_used(e.head, 0);
        continue;
      }
      if (!popped->has_value()) break;
      const DescriptorChain& chain = **popped;
      if (timer_) {
        // Wait until the whole request (up to one bucket) can be served, rather than
        // trickling a few bytes per timer tick.
        const uint64_t need = std::min<uint64_t>(
            std::min<uint64_t>(chain.writable_bytes, kMaxRequestBytes), config_.burst_bytes);
        if (tokens_ < need) {
          queue_->undo_pop();
          missing = need - tokens_;
          throttled = true;
          break;
        }
      }
      used |= queue_->add_used(chain.head, handle(chain));
    }
  } while (healthy && !throttled && queue_->enable_notification());
  if (throttled) {
    metrics_.throttled.fetch_add(1, std::memory_order_relaxed);
    arm_timer(missing);
  }
  if (used && queue_->needs_notification()) interrupt_->signal_used_queue(0);
  return healthy;
}

uint32_t VirtioRng::handle(const DescriptorChain& chain) {
  uint32_t limit = kMaxRequestBytes;
  if (timer_) limit = static_cast<uint32_t>(std::min<uint64_t>(limit, tokens_));
  auto request = parse_rng_request(chain, limit);
  if (!request) {
    metrics_.bad_requests.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  for (const auto& b : request->buffers) {
    // SAFETY: b.host covers b.len bytes of guest RAM (checked by Queue::pop).
    auto filled = backend_->fill(std::span<uint8_t>(b.host, b.len));
    if (!filled) {
      metrics_.backend_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("virtio-rng: {}", filled.error().message);
      return 0;
    }
  }
  if (timer_) tokens_ -= request->total;
  metrics_.requests.fetch_add(1, std::memory_order_relaxed);
  metrics_.bytes.fetch_add(request->total, std::memory_order_relaxed);
  return request->total;
}

void VirtioRng::refill_tokens() {
  const uint64_t now = now_ns();
  const uint64_t elapsed = std::min<uint64_t>(now - last_refill_ns_, 60 * kNsPerSec);
  const auto add = static_cast<uint64_t>(static_cast<unsigned __int128>(elapsed) *
                                         config_.rate_bytes_per_sec / kNsPerSec);
  if (add == 0) return;
  tokens_ = std::min(config_.burst_bytes, tokens_ + add);
  last_refill_ns_ = now;
}

void VirtioRng::arm_timer(uint64_t missing) {
  const auto ns = std::max<uint64_t>(
      kMinTimerNs, static_cast<uint64_t>(static_cast<unsigned __int128>(missing) * kNsPerSec /
                                         config_.rate_bytes_per_sec));
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / kNsPerSec);
  spec.it_value.tv_nsec = static_cast<long>(ns % kNsPerSec);
  ::timerfd_settime(timer_.get(), 0, &spec, nullptr);
}

void VirtioRng::on_timer() {
  uint64_t expirations = 0;
  // SAFETY: our own non-blocking timerfd; EAGAIN is fine.
  [[maybe_unused]] ssize_t n = ::read(timer_.get(), &expirations, sizeof(expirations));
  if (VirtioInterrupt* target = kick_target_.load(std::memory_order_acquire)) {
    target->kick_queue(0);
  }
}

VirtioRngState VirtioRng::state() const {
  return VirtioRngState{acked_features_, activated(), tokens_};
}

void VirtioRng::restore(const VirtioRngState& state) {
  acked_features_ = state.acked_features;
  tokens_ = std::min(state.rate_tokens, config_.burst_bytes);
}

}  // namespace flotilla::vmm::virtio
