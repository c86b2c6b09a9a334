// VirtioNet: the network device (virtio 1.x 5.1) on a TAP (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR with
// a 12-byte header, network/links.h open_tap). Queues: receiveq 0, transmitq 1; no control
// queue. The virtio-net header goes to and from the TAP as is, so the checksum and TSO
// offloads the guest negotiates pass through (TUNSETOFFLOAD follows the GUEST_* features).
//
// TX (guest → TAP): each chain's readable buffers are gathered straight from guest RAM into one
// writev(2) — no copy. Chains that are not a header plus an Ethernet frame of at most 64 KiB,
// or that ask for segmentation that was not negotiated, are counted as malformed and dropped.
// TX completions are handed back (interrupt if the driver asked) each time the ring runs dry,
// before the short poll for the guest's next frame, so a driver asleep on a full ring wakes.
// RX (TAP → guest): a frame is read straight into a chain big enough for any frame, else into a
// bounce buffer, then copied into one chain, or with MRG_RXBUF into as many chains as it needs
// (num_buffers set). When the guest has no room, the frame and the chains already taken wait
// for more buffers; the TAP is not watched meanwhile, so the kernel queues (and past its limit
// drops) frames, never the monitor's memory. The TAP is watched one-shot and re-armed once a
// pass drained it, so frames arriving during a pass wake nobody. Optional coalescing (off by
// default): after a pass that delivered coalesce_min_frames_ or more, the next one runs
// coalesce_ later instead of on the next frame — fewer wake-ups, but bench/net with QEMU as
// the control in the same rounds had guest→guest ahead in 74 % of paired rows without it,
// 56-59 % at 50 µs and 33 % at 150 µs (the timer wake-ups queue behind busy cores too).
// Bounded work per wake-up: at most kBudget frames per direction before yielding.
//
// Limits: a RateLimiter per direction, changed live by set_limits(). A throttled direction
// sleeps on a timerfd and is kicked when tokens are back.
//
// Threads: as VirtioDevice (transport mutex for every call). The TAP and timer callbacks run on
// the loop thread and only kick queues. set_limits/metrics from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "vmm/devices/virtio/net/metrics.h"
#include "vmm/devices/virtio/net/rate_limiter.h"
#include "vmm/event/event_loop.h"
#include "vmm/virtio/device.h"

namespace flotilla::vmm::virtio {

struct VirtioNetConfig {
  std::array<uint8_t, 6> mac{};
  uint16_t queue_size = 256;
  RateLimit rx_limit;  // TAP → guest
  RateLimit tx_limit;  // guest → TAP
};

class VirtioNet : public VirtioDevice {
 public:
  static constexpr uint32_t kHeaderBytes = 12;       // virtio_net_hdr_v1
  static constexpr uint32_t kMaxFrameBytes = 65550;  // 64 KiB GSO frame + Ethernet
  static constexpr uint32_t kMinFrameBytes = 14;
  static constexpr uint32_t kMaxPlainFrameBytes =
      1518;  // without GSO: MTU 1500 + VLAN tag     // an Ethernet header
  static constexpr uint32_t kBudget = 256;  // frames per wake-up and direction
  // How long TX waits for the guest's next frame before asking it to notify again.
  // Only after a pass sent kPollMinFrames or more (env FLOTILLA_NET_TX_POLL_US, _MIN_FRAMES).
  static constexpr std::chrono::microseconds kPollWindow{20};
  static constexpr uint32_t kPollMinFrames = 2;
  // TX completions are offered to the driver (interrupt if it asked) every this many frames.
  static constexpr uint32_t kTxSignalEvery = 32;
  // RX coalescing: a pass that delivered kRxCoalesceMinFrames or more waits kRxCoalesce
  // before the next one; 0 = off (env FLOTILLA_NET_RX_COALESCE_US, _MIN_FRAMES; header).
  static constexpr std::chrono::microseconds kRxCoalesce{0};
  static constexpr uint32_t kRxCoalesceMinFrames = 2;
  static constexpr uint16_t kRxQueue = 0;
  static constexpr uint16_t kTxQueue = 1;

  // tap: an fd from open_tap (non-blocking). loop: where the TAP and timers are watched.
  static Result<std::shared_ptr<VirtioNet>, VirtioError> create(VirtioNetConfig config,
                                                                UniqueFd tap, EventLoop& loop);
  ~VirtioNet() override;

  uint32_t device_type() const override;
  uint64_t device_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override {
    return {config_.queue_size, config_.queue_size};
  }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  void set_acked_features(uint64_t features) override;
  Result<void, VirtioError> activate(const GuestMemoryView& memory, std::span<Queue> queues,
                                     VirtioInterrupt& interrupt) override;
  void reset() override;
  bool process_queue(uint16_t index) override;
  bool activated() const override { return rx_ != nullptr; }

  void set_limits(RateLimit rx, RateLimit tx);
  std::pair<RateLimit, RateLimit> limits() const { return {rx_limiter_.get(), tx_limiter_.get()}; }
  NetMetricsValues metrics() const { return metrics_.values(); }
  uint64_t acked_features() const { return acked_features_; }

 private:
  VirtioNet(VirtioNetConfig config, UniqueFd tap, EventLoop& loop, UniqueFd rx_timer,
            UniqueFd tx_timer);
  bool process_tx();
  bool process_rx();
  enum class DirectRx { kDelivered, kNoBuffers, kBounce, kDrained, kStop };
  DirectRx receive_direct(bool& used, bool& healthy);
  // Copies the pending frame into held chains (popping more as needed); false = wait.
  bool deliver_pending(bool& used, bool& healthy);
  bool send_chain(const DescriptorChain& chain);
  void poll_for_more(const Queue& queue) const;
  void arm(const UniqueFd& timer, std::chrono::nanoseconds wait);
  void arm_tap();                     // watch the TAP for the next readable event (one-shot)
  void on_tap_readable();             // loop thread
  void on_timer(int fd, uint16_t q);  // loop thread

  VirtioNetConfig config_;
  UniqueFd tap_;
  EventLoop& loop_;
  UniqueFd rx_timer_, tx_timer_;
  RateLimiter rx_limiter_, tx_limiter_;
  NetMetrics metrics_;
  uint64_t acked_features_ = 0;
  UniqueFd tap_epoll_;  // the TAP, one-shot (see create())
  // RX coalescing: after a pass that delivered at least coalesce_min_frames_ frames, the next
  // pass runs coalesce_ later (rx_timer_) instead of on the TAP's next frame.
  std::chrono::microseconds poll_window_ = kPollWindow;
  uint32_t poll_min_frames_ = kPollMinFrames;
  std::chrono::microseconds coalesce_ = kRxCoalesce;
  uint32_t coalesce_min_frames_ = kRxCoalesceMinFrames;
  std::vector<int> watched_;  // fds registered with loop_
  // Valid between activate() and reset():
  GuestMemoryView memory_;
  Queue* rx_ = nullptr;
  Queue* tx_ = nullptr;
  VirtioInterrupt* interrupt_ = nullptr;
  std::atomic<VirtioInterrupt*> kick_target_{nullptr};
  // RX: the frame read from the TAP and not yet delivered (rx_len_ bytes incl. header), and
  // the chains popped for it so far.
  std::vector<uint8_t> rx_buffer_;
  size_t rx_len_ = 0;
  bool rx_charged_ = false;  // the pending frame passed the rate limiter
  std::vector<DescriptorChain> rx_held_;
};

}  // namespace flotilla::vmm::virtio
