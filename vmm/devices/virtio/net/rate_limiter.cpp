#include "vmm/devices/virtio/net/rate_limiter.h"

#include <time.h>

#include <algorithm>

namespace flotilla::vmm::virtio {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

RateLimiter::RateLimiter(RateLimit limit) {
  set(limit);
}

void RateLimiter::configure(Bucket& b, uint64_t rate, int64_t minimum_burst) {
  b.rate = rate;
  b.burst = std::max<int64_t>(static_cast<int64_t>(rate / 10), minimum_burst);
  b.tokens = std::min(b.tokens, b.burst);
  if (rate == 0) b.tokens = 0;
}

void RateLimiter::set(RateLimit limit) {
  std::lock_guard lock(mutex_);
  const bool was_unlimited = bytes_.rate == 0 && packets_.rate == 0;
  configure(bytes_, limit.bytes_per_sec, 1514);
  configure(packets_, limit.packets_per_sec, 1);
  if (was_unlimited) {
    bytes_.tokens = bytes_.burst;
    packets_.tokens = packets_.burst;
  }
  last_ns_ = now_ns();
}

RateLimit RateLimiter::get() const {
  std::lock_guard lock(mutex_);
  return RateLimit{bytes_.rate, packets_.rate};
}

bool RateLimiter::unlimited() const {
  std::lock_guard lock(mutex_);
  return bytes_.rate == 0 && packets_.rate == 0;
}

void RateLimiter::refill_locked(uint64_t now) {
  const uint64_t elapsed = std::min<uint64_t>(now - last_ns_, kNsPerSec);
  last_ns_ = now;
  for (Bucket* b : {&bytes_, &packets_}) {
    if (b->rate == 0) continue;
    const auto add =
        static_cast<int64_t>(static_cast<unsigned __int128>(elapsed) * b->rate / kNsPerSec);
    b->tokens = std::min(b->burst, b->tokens + add);
  }
}

std::chrono::nanoseconds RateLimiter::wait_for(const Bucket& b) {
  if (b.rate == 0 || b.tokens > 0) return std::chrono::nanoseconds(0);
  const auto missing = static_cast<uint64_t>(1 - b.tokens);
  return std::chrono::nanoseconds(
      static_cast<int64_t>(static_cast<unsigned __int128>(missing) * kNsPerSec / b.rate) + 1);
}

bool RateLimiter::try_consume(uint64_t bytes, std::chrono::nanoseconds* wait) {
  std::lock_guard lock(mutex_);
  if (bytes_.rate == 0 && packets_.rate == 0) return true;
  refill_locked(now_ns());
  if ((bytes_.rate != 0 && bytes_.tokens <= 0) || (packets_.rate != 0 && packets_.tokens <= 0)) {
    if (wait != nullptr) *wait = std::max(wait_for(bytes_), wait_for(packets_));
    return false;
  }
  if (bytes_.rate != 0) bytes_.tokens -= static_cast<int64_t>(bytes);
  if (packets_.rate != 0) packets_.tokens -= 1;
  return true;
}

}  // namespace flotilla::vmm::virtio
