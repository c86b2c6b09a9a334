// RateLimiter: token buckets on bytes and on packets for one direction of a NIC. A packet is let
// through while both buckets hold a positive balance; its full size is then taken, so a bucket
// may go negative and the long-run average stays at the rate even for frames larger than the
// burst. Limits change live (set) from the control thread; the device thread consumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace flotilla::vmm::virtio {

struct RateLimit {
  uint64_t bytes_per_sec = 0;    // 0 = unlimited
  uint64_t packets_per_sec = 0;  // 0 = unlimited
  bool operator==(const RateLimit&) const = default;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit = {});

  void set(RateLimit limit);
  RateLimit get() const;
  bool unlimited() const;

  // True (and the packet is charged) when it may pass now; false otherwise, with the time to
  // wait before trying again in *wait.
  bool try_consume(uint64_t bytes, std::chrono::nanoseconds* wait);

 private:
  struct Bucket {
    uint64_t rate = 0;  // per second; 0 = unlimited
    int64_t tokens = 0;
    int64_t burst = 0;  // one tenth of a second's worth, at least one packet's worth
  };
  void refill_locked(uint64_t now_ns);
  static void configure(Bucket& b, uint64_t rate, int64_t minimum_burst);
  static std::chrono::nanoseconds wait_for(const Bucket& b);

  mutable std::mutex mutex_;
  Bucket bytes_;    // GUARDED_BY(mutex_)
  Bucket packets_;  // GUARDED_BY(mutex_)
  uint64_t last_ns_ = 0;
};

}  // namespace flotilla::vmm::virtio
