// VirtioRng: the entropy device (virtio 1.x 5.4): one request queue, no config space, no
// device features. Each request chain's writable buffers are filled from the backend (at most
// kMaxRequestBytes per request). Optional rate cap: a token bucket in bytes/s; when it runs
// dry the device stops popping and a timerfd on the EventLoop kicks the queue once refilled.
//
// Threads: driven by its MmioTransport (transport mutex held for every call); the refill
// timer callback runs on the loop thread and only kicks the queue. Destroy after the loop
// stopped (or on its thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmm/devices/virtio/rng/backend.h"
#include "vmm/devices/virtio/rng/metrics.h"
#include "vmm/devices/virtio/rng/state.h"
#include "vmm/event/event_loop.h"
#include "vmm/virtio/device.h"

namespace flotilla::vmm::virtio {

struct VirtioRngConfig {
  uint16_t queue_size = 256;
  // 0 = unlimited. Otherwise bytes per second, with a bucket of burst_bytes (default: one
  // second's worth).
  uint64_t rate_bytes_per_sec = 0;
  uint64_t burst_bytes = 0;
};

class VirtioRng : public VirtioDevice {
 public:
  static constexpr uint32_t kMaxRequestBytes = 64 * 1024;

  // backend defaults to GetrandomBackend. loop is required only with a rate cap.
  static Result<std::shared_ptr<VirtioRng>, VirtioError> create(
      VirtioRngConfig config, EventLoop* loop = nullptr,
      std::unique_ptr<RngBackend> backend = nullptr);
  ~VirtioRng() override;

  uint32_t device_type() const override;
  uint64_t device_features() const override { return 0; }
  std::vector<uint16_t> queue_max_sizes() const override { return {config_.queue_size}; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void set_acked_features(uint64_t features) override { acked_features_ = features; }
  Result<void, VirtioError> activate(const GuestMemoryView& memory, std::span<Queue> queues,
                                     VirtioInterrupt& interrupt) override;
  void reset() override;
  bool process_queue(uint16_t index) override;
  bool activated() const override { return queue_ != nullptr; }

  RngMetricsValues metrics() const { return metrics_.values(); }
  VirtioRngState state() const;
  void restore(const VirtioRngState& state);

 private:
  VirtioRng(VirtioRngConfig config, EventLoop* loop, std::unique_ptr<RngBackend> backend,
            UniqueFd timer);
  // Completes one popped chain; returns bytes written (0 for a refused request).
  uint32_t handle(const DescriptorChain& chain);
  void refill_tokens();
  void arm_timer(uint64_t missing);
  void on_timer();  // loop thread

  VirtioRngConfig config_;
  EventLoop* loop_;
  std::unique_ptr<RngBackend> backend_;
  UniqueFd timer_;  // timerfd, only with a rate cap
  uint64_t acked_features_ = 0;
  // Valid between activate() and reset():
  GuestMemoryView memory_;
  Queue* queue_ = nullptr;
  VirtioInterrupt* interrupt_ = nullptr;
  std::atomic<VirtioInterrupt*> kick_target_{nullptr};  // read by the timer callback
  uint64_t tokens_ = 0;
  uint64_t last_refill_ns_ = 0;
  RngMetrics metrics_;
};

}  // namespace flotilla::vmm::virtio
