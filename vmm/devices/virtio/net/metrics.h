// NetMetrics: virtio-net counters per direction. Written on the device thread, read anywhere.
#pragma once

#include <atomic>
#include <cstdint>

namespace flotilla::vmm::virtio {

struct NetMetricsValues {
  uint64_t rx_packets = 0, rx_bytes = 0;  // delivered to the guest (frame bytes, no header)
  uint64_t rx_dropped = 0;                // frames the guest had no room for (too small)
  uint64_t rx_throttled = 0;              // times RX paused on the rate limit
  uint64_t tx_packets = 0, tx_bytes = 0;  // written to the TAP
  uint64_t tx_dropped = 0;                // frames the TAP refused
  uint64_t tx_malformed = 0;              // bad chains, empty or oversized frames, bad headers
  uint64_t tx_throttled = 0;              // times TX paused on the rate limit
};

struct NetMetrics {
  std::atomic<uint64_t> rx_packets{0}, rx_bytes{0}, rx_dropped{0}, rx_throttled{0};
  std::atomic<uint64_t> tx_packets{0}, tx_bytes{0}, tx_dropped{0}, tx_malformed{0}, tx_throttled{0};

  NetMetricsValues values() const {
    constexpr auto r = std::memory_order_relaxed;
    return {rx_packets.load(r),   rx_bytes.load(r),     rx_dropped.load(r),
            rx_throttled.load(r), tx_packets.load(r),   tx_bytes.load(r),
            tx_dropped.load(r),   tx_malformed.load(r), tx_throttled.load(r)};
  }
};

}  // namespace flotilla::vmm::virtio
