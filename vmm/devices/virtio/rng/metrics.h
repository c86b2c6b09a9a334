// RngMetrics: virtio-rng counters. Written on the device thread, read from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace flotilla::vmm::virtio {

struct RngMetricsValues {
  uint64_t requests = 0;        // chains completed
  uint64_t bytes = 0;           // random bytes written to the guest
  uint64_t bad_requests = 0;    // chains refused (readable buffer, no writable buffer, bad chain)
  uint64_t backend_errors = 0;  // getrandom(2) failures
  uint64_t throttled = 0;       // times processing paused on the rate limit
};

struct RngMetrics {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> backend_errors{0};
  std::atomic<uint64_t> throttled{0};

  RngMetricsValues values() const {
    constexpr auto r = std::memory_order_relaxed;
    return {requests.load(r), bytes.load(r), bad_requests.load(r), backend_errors.load(r),
            throttled.load(r)};
  }
};

}  // namespace flotilla::vmm::virtio
