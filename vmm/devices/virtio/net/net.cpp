#include "vmm/devices/virtio/net/net.h"

#include "vmm/devices/virtio/net/abi.h"

#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flotilla::vmm::virtio {
namespace {

constexpr uint64_t bit(unsigned n) {
  return uint64_t{1} << n;
}

constexpr uint64_t kOffered =
    bit(net_abi::kFCsum) | bit(net_abi::kFGuestCsum) | bit(net_abi::kFMac) |
    bit(net_abi::kFGuestTso4) | bit(net_abi::kFGuestTso6) | bit(net_abi::kFHostTso4) |
    bit(net_abi::kFHostTso6) | bit(net_abi::kFMrgRxbuf) | bit(net_abi::kFStatus);

Unexpected<VirtioError> system_error(const char* what) {
  return fail(
      VirtioError{VirtioErrorCode::kSystem, std::string(what) + ": " + std::strerror(errno)});
}

// The TX header's requests must match what was negotiated; the kernel would refuse the rest.
bool header_allowed(const net_abi::NetHeader& h, uint64_t acked) {
  const uint8_t gso = h.gso_type & static_cast<uint8_t>(~net_abi::kGsoEcn);
  if ((h.flags & net_abi::kHdrFNeedsCsum) != 0 && (acked & bit(net_abi::kFCsum)) == 0) {
    return false;
  }
  switch (gso) {
    case net_abi::kGsoNone:
      return true;
    case net_abi::kGsoTcpV4:
      return (acked & bit(net_abi::kFHostTso4)) != 0;
    case net_abi::kGsoTcpV6:
      return (acked & bit(net_abi::kFHostTso6)) != 0;
    default:
      return false;
  }
}

}  // namespace

Result<std::shared_ptr<VirtioNet>, VirtioError> VirtioNet::create(VirtioNetConfig config,
                                                                  UniqueFd tap, EventLoop& loop) {
  const uint16_t qs = config.queue_size;
  if (qs == 0 || (qs & (qs - 1)) != 0 || qs > Queue::kMaxSize) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                            "virtio-net queue_size must be a power of two <= 1024"});
  }
  if (!tap) return fail(VirtioError{VirtioErrorCode::kInvalidArgument, "virtio-net needs a TAP"});
  if ((config.mac[0] & 1) != 0) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument, "virtio-net MAC is multicast"});
  }
  UniqueFd rx_timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  UniqueFd tx_timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!rx_timer || !tx_timer) return system_error("timerfd_create");
  std::shared_ptr<VirtioNet> net(
      new VirtioNet(config, std::move(tap), loop, std::move(rx_timer), std::move(tx_timer)));
  VirtioNet* raw = net.get();
  // Overrides for measuring (bench/net); the defaults are what the figures were taken with.
  if (const char* env = std::getenv("FLOTILLA_NET_RX_COALESCE_US")) {
    net->coalesce_ = std::chrono::microseconds(std::min(std::strtoul(env, nullptr, 10), 100'000UL));
  }
  if (const char* env = std::getenv("FLOTILLA_NET_TX_POLL_US")) {
    net->poll_window_ = std::chrono::microseconds(std::min(std::strtoul(env, nullptr, 10), 1000UL));
  }
  if (const char* env = std::getenv("FLOTILLA_NET_TX_POLL_MIN_FRAMES")) {
    net->poll_min_frames_ = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
  }
  if (const char* env = std::getenv("FLOTILLA_NET_RX_COALESCE_MIN_FRAMES")) {
    net->coalesce_min_frames_ = static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
  }
  // The TAP sits one-shot in an epoll set of its own, which the loop watches: one readable
  // event, then nothing until process_rx() re-arms it after draining the TAP. So a TAP with
  // frames the guest has no room for does not keep the loop spinning, frames arriving while
  // RX is busy or coalescing wake nobody, and nothing needs to be removed from the loop under
  // the transport's mutex.
  net->tap_epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!net->tap_epoll_) return system_error("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  if (::epoll_ctl(net->tap_epoll_.get(), EPOLL_CTL_ADD, net->tap_.get(), &ev) != 0) {
    return system_error("epoll_ctl(TAP)");
  }
  const std::pair<int, std::function<void()>> watches[] = {
      {net->tap_epoll_.get(), [raw] { raw->on_tap_readable(); }},
      {net->rx_timer_.get(), [raw] { raw->on_timer(raw->rx_timer_.get(), kRxQueue); }},
      {net->tx_timer_.get(), [raw] { raw->on_timer(raw->tx_timer_.get(), kTxQueue); }},
  };
  for (const auto& [fd, fn] : watches) {
    if (auto added = loop.add_fd(fd, fn); !added) {
      return fail(VirtioError{VirtioErrorCode::kSystem, added.error().message});
    }
    net->watched_.push_back(fd);
  }
  return net;
}

VirtioNet::VirtioNet(VirtioNetConfig config, UniqueFd tap, EventLoop& loop, UniqueFd rx_timer,
                     UniqueFd tx_timer)
    : config_(config),
      tap_(std::move(tap)),
      loop_(loop),
      rx_timer_(std::move(rx_timer)),
      tx_timer_(std::move(tx_timer)),
      rx_limiter_(config.rx_limit),
      tx_limiter_(config.tx_limit),
      rx_buffer_(kHeaderBytes + kMaxFrameBytes) {}

VirtioNet::~VirtioNet() {
  for (int fd : watched_) loop_.remove_fd(fd);
}

uint32_t VirtioNet::device_type() const {
  return VIRTIO_ID_NET;
}

uint64_t VirtioNet::device_features() const {
  return kOffered;
}

void VirtioNet::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint8_t space[8] = {};  // mac[6], status (le16)
  std::memcpy(space, config_.mac.data(), 6);
  space[6] = net_abi::kStatusLinkUp;
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = offset + i < sizeof space ? space[offset + i] : 0;
  }
}

void VirtioNet::write_config(uint64_t, std::span<const uint8_t>) {
  // The MAC is the host's to choose (legacy drivers wrote it; virtio 1.x ones do not).
}

void VirtioNet::set_acked_features(uint64_t features) {
  acked_features_ = features & (kOffered | bit(VIRTIO_F_VERSION_1));
  unsigned offload = 0;
  if ((features & bit(net_abi::kFGuestCsum)) != 0) {
    offload |= TUN_F_CSUM;
    if ((features & bit(net_abi::kFGuestTso4)) != 0) offload |= TUN_F_TSO4;
    if ((features & bit(net_abi::kFGuestTso6)) != 0) offload |= TUN_F_TSO6;
  }
  // What the guest can take is what the TAP may hand us; without GUEST_CSUM the kernel
  // completes checksums before a frame reaches the guest.
  if (::ioctl(tap_.get(), TUNSETOFFLOAD, offload) != 0) {
    spdlog::warn("virtio-net: TUNSETOFFLOAD {:#x}: {}", offload, std::strerror(errno));
  }
}

Result<void, VirtioError> VirtioNet::activate(const GuestMemoryView& memory,
                                              std::span<Queue> queues, VirtioInterrupt& interrupt) {
  if (queues.size() != 2 || !queues[0].active() || !queues[1].active()) {
    return fail(VirtioError{VirtioErrorCode::kQueueInvalid, "virtio-net: queues not ready"});
  }
  memory_ = memory;
  rx_ = &queues[kRxQueue];
  tx_ = &queues[kTxQueue];
  interrupt_ = &interrupt;
  rx_len_ = 0;
  rx_held_.clear();
  kick_target_.store(&interrupt, std::memory_order_release);
  interrupt.kick_queue(kRxQueue);  // frames may be waiting in the TAP already
  return {};
}

void VirtioNet::reset() {
  kick_target_.store(nullptr, std::memory_order_release);
  rx_ = nullptr;
  tx_ = nullptr;
  interrupt_ = nullptr;
  memory_ = GuestMemoryView();
  rx_len_ = 0;
  rx_held_.clear();
  acked_features_ = 0;
  const itimerspec off{};
  ::timerfd_settime(rx_timer_.get(), 0, &off, nullptr);
  ::timerfd_settime(tx_timer_.get(), 0, &off, nullptr);
}

bool VirtioNet::process_queue(uint16_t index) {
  if (rx_ == nullptr) return true;
  if (index == kTxQueue) return process_tx();
  if (index == kRxQueue) return process_rx();
  return true;
}

void VirtioNet::set_limits(RateLimit rx, RateLimit tx) {
  rx_limiter_.set(rx);
  tx_limiter_.set(tx);
  // A direction that was waiting for tokens may go now.
  if (VirtioInterrupt* target = kick_target_.load(std::memory_order_acquire)) {
    target->kick_queue(kRxQueue);
    target->kick_queue(kTxQueue);
  }
}

void VirtioNet::arm(const UniqueFd& timer, std::chrono::nanoseconds wait) {
  const int64_t ns = std::max<int64_t>(wait.count(), 100'000);  // no busier than 10 kHz
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  ::timerfd_settime(timer.get(), 0, &spec, nullptr);
}

void VirtioNet::on_tap_readable() {
  // Harvesting the one event disarms the TAP (EPOLLONESHOT) until process_rx() re-arms it.
  epoll_event events[1];
  [[maybe_unused]] int n = ::epoll_wait(tap_epoll_.get(), events, 1, 0);
  // On the loop thread already: receive now rather than through the RX notify eventfd, which
  // would cost three more system calls and an epoll round before the guest sees the frame.
  if (VirtioInterrupt* target = kick_target_.load(std::memory_order_acquire)) {
    target->run_queue(kRxQueue);
  }
}

void VirtioNet::on_timer(int fd, uint16_t queue) {
  uint64_t expirations = 0;
  [[maybe_unused]] ssize_t n = ::read(fd, &expirations, sizeof expirations);
  if (VirtioInterrupt* target = kick_target_.load(std::memory_order_acquire)) {
    target->run_queue(queue);
  }
}

// ---- TX ----

void VirtioNet::poll_for_more(const Queue& queue) const {
  const auto until = std::chrono::steady_clock::now() + poll_window_;
  while (queue.available() == 0 && std::chrono::steady_clock::now() < until) {
    __builtin_ia32_pause();
  }
}

bool VirtioNet::send_chain(const DescriptorChain& chain) {
  if (chain.readable_bytes < kHeaderBytes + kMinFrameBytes ||
      chain.readable_bytes > kHeaderBytes + kMaxFrameBytes) {
    metrics_.tx_malformed.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  iovec iov[Queue::kMaxSize];
  size_t count = 0;
  net_abi::NetHeader header{};
  size_t header_copied = 0;
  for (const Descriptor& d : chain.descriptors) {
    if (d.device_writable) break;  // readable ones come first (Queue checked)
    if (d.len == 0) continue;
    // SAFETY: d.host covers d.len bytes of guest RAM (checked by Queue::pop).
    iov[count++] = iovec{d.host, d.len};
    if (header_copied < sizeof header) {
      const size_t take = std::min<size_t>(sizeof header - header_copied, d.len);
      std::memcpy(reinterpret_cast<uint8_t*>(&header) + header_copied, d.host, take);
      header_copied += take;
    }
  }
  if (!header_allowed(header, acked_features_)) {
    metrics_.tx_malformed.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ssize_t n;
  do {
    n = ::writev(tap_.get(), iov, static_cast<int>(count));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    // EINVAL: the kernel refused the header; anything else is the TAP being full or gone.
    auto& counter = errno == EINVAL ? metrics_.tx_malformed : metrics_.tx_dropped;
    counter.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  metrics_.tx_packets.fetch_add(1, std::memory_order_relaxed);
  metrics_.tx_bytes.fetch_add(chain.readable_bytes - kHeaderBytes, std::memory_order_relaxed);
  return true;
}

bool VirtioNet::process_tx() {
  bool used = false;
  bool healthy = true;
  bool throttled = false;
  std::chrono::nanoseconds wait{0};
  uint32_t frames = 0;
  // No notifications while this runs: each one is a guest exit, which costs tens of
  // microseconds on PVM. Before sleeping, poll briefly for the guest's next frame.
  tx_->disable_notification();
  do {
    while (frames < kBudget) {
      if (tx_->available() == 0) {
        // Hand the finished chains back before waiting: a driver with a full ring may be
        // asleep until they come (an interrupt only if it asked for one).
        if (used && tx_->needs_notification()) interrupt_->signal_used_queue(kTxQueue);
        used = false;
        // Only while a stream is on: a lone frame (ping) must not hold a core the receiving
        // side may need.
        if (frames >= poll_min_frames_) poll_for_more(*tx_);
      }
      auto popped = tx_->pop(memory_);
      if (!popped) {
        if (popped.error().ring_broken()) {
          spdlog::warn("virtio-net tx: {}", describe(popped.error().kind));
          healthy = false;
          break;
        }
        metrics_.tx_malformed.fetch_add(1, std::memory_order_relaxed);
        used |= tx_->add_used(popped.error().head, 0);
        continue;
      }
      if (!popped->has_value()) break;
      const DescriptorChain& chain = **popped;
      const uint64_t frame =
          chain.readable_bytes > kHeaderBytes ? chain.readable_bytes - kHeaderBytes : 0;
      if (!tx_limiter_.try_consume(frame, &wait)) {
        tx_->undo_pop();
        throttled = true;
        break;
      }
      send_chain(chain);
      used |= tx_->add_used(chain.head, 0);
      // A driver asleep on a full ring gets its first buffers back while the rest are still
      // being sent, so it refills the ring before it runs dry (no bubble per ring's worth).
      if (++frames % kTxSignalEvery == 0 && used) {
        if (tx_->needs_notification()) interrupt_->signal_used_queue(kTxQueue);
        used = false;
      }
    }
  } while (healthy && !throttled && frames < kBudget && tx_->enable_notification());
  if (throttled) {
    metrics_.tx_throttled.fetch_add(1, std::memory_order_relaxed);
    arm(tx_timer_, wait);
  } else if (healthy && frames >= kBudget) {
    interrupt_->kick_queue(kTxQueue);  // yield to the other queues, then carry on
  }
  if (used && tx_->needs_notification()) interrupt_->signal_used_queue(kTxQueue);
  return healthy;
}

// ---- RX ----

bool VirtioNet::deliver_pending(bool& used, bool& healthy) {
  const bool mergeable = (acked_features_ & bit(net_abi::kFMrgRxbuf)) != 0;
  uint64_t capacity = 0;
  for (const DescriptorChain& c : rx_held_) capacity += c.writable_bytes;
  while (capacity < rx_len_ && (mergeable || rx_held_.empty())) {
    auto popped = rx_->pop(memory_);
    if (!popped) {
      if (popped.error().ring_broken()) {
        spdlog::warn("virtio-net rx: {}", describe(popped.error().kind));
        healthy = false;
        return false;
      }
      used |= rx_->add_used(popped.error().head, 0);
      continue;
    }
    if (!popped->has_value()) return false;  // wait for the guest to post buffers
    if ((*popped)->writable_bytes == 0) {
      used |= rx_->add_used((*popped)->head, 0);
      continue;
    }
    capacity += (*popped)->writable_bytes;
    rx_held_.push_back(std::move(**popped));
  }
  if (capacity < rx_len_) {  // one chain without MRG_RXBUF, too small for the frame
    metrics_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
    for (const DescriptorChain& c : rx_held_) used |= rx_->add_used(c.head, 0);
    rx_held_.clear();
    rx_len_ = 0;
    return true;
  }
  const auto buffers = static_cast<uint16_t>(rx_held_.size());
  rx_buffer_[10] = static_cast<uint8_t>(buffers & 0xff);  // num_buffers (le16)
  rx_buffer_[11] = static_cast<uint8_t>(buffers >> 8);
  size_t offset = 0;
  for (const DescriptorChain& c : rx_held_) {
    uint32_t written = 0;
    for (const Descriptor& d : c.descriptors) {
      if (!d.device_writable || offset == rx_len_) continue;
      const size_t take = std::min<size_t>(d.len, rx_len_ - offset);
      // SAFETY: d.host covers d.len bytes of guest RAM (checked by Queue::pop).
      std::memcpy(d.host, rx_buffer_.data() + offset, take);
      offset += take;
      written += static_cast<uint32_t>(take);
    }
    used |= rx_->add_used(c.head, written);
  }
  metrics_.rx_packets.fetch_add(1, std::memory_order_relaxed);
  metrics_.rx_bytes.fetch_add(rx_len_ - kHeaderBytes, std::memory_order_relaxed);
  rx_held_.clear();
  rx_len_ = 0;
  return true;
}

// The fast path: one chain big enough for any frame the guest can be sent, read into straight
// from the TAP (no bounce, no copy).
VirtioNet::DirectRx VirtioNet::receive_direct(bool& used, bool& healthy) {
  const bool gso = (acked_features_ & (bit(net_abi::kFGuestTso4) | bit(net_abi::kFGuestTso6))) != 0;
  const uint64_t largest = kHeaderBytes + (gso ? kMaxFrameBytes : kMaxPlainFrameBytes);
  for (;;) {
    auto popped = rx_->pop(memory_);
    if (!popped) {
      if (popped.error().ring_broken()) {
        spdlog::warn("virtio-net rx: {}", describe(popped.error().kind));
        healthy = false;
        return DirectRx::kStop;
      }
      used |= rx_->add_used(popped.error().head, 0);
      continue;
    }
    if (!popped->has_value()) return DirectRx::kNoBuffers;
    DescriptorChain& chain = **popped;
    if (chain.writable_bytes < largest) {
      rx_held_.push_back(std::move(chain));
      return DirectRx::kBounce;
    }
    iovec iov[Queue::kMaxSize];
    int count = 0;
    for (const Descriptor& d : chain.descriptors) {
      // SAFETY: d.host covers d.len bytes of guest RAM (checked by Queue::pop).
      if (d.device_writable && d.len > 0) iov[count++] = iovec{d.host, d.len};
    }
    ssize_t n;
    do {
      n = ::readv(tap_.get(), iov, count);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      rx_->undo_pop();
      if (errno == EAGAIN) return DirectRx::kDrained;
      spdlog::warn("virtio-net: TAP read: {}", std::strerror(errno));
      return DirectRx::kStop;
    }
    if (static_cast<size_t>(n) < kHeaderBytes + kMinFrameBytes) {
      metrics_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
      rx_->undo_pop();  // the buffer is reused for the next frame
      continue;
    }
    const uint8_t one[2] = {1, 0};  // num_buffers = 1 (le16) at header offset 10
    size_t at = 10;
    for (int i = 0, done = 0; i < count && done < 2; ++i) {
      for (; at < iov[i].iov_len && done < 2; ++at, ++done) {
        static_cast<uint8_t*>(iov[i].iov_base)[at] = one[done];
      }
      at = at >= iov[i].iov_len ? at - iov[i].iov_len : 0;
    }
    used |= rx_->add_used(chain.head, static_cast<uint32_t>(n));
    metrics_.rx_packets.fetch_add(1, std::memory_order_relaxed);
    metrics_.rx_bytes.fetch_add(static_cast<uint64_t>(n) - kHeaderBytes, std::memory_order_relaxed);
    return DirectRx::kDelivered;
  }
}

bool VirtioNet::process_rx() {
  bool used = false;
  bool healthy = true;
  bool throttled = false;
  std::chrono::nanoseconds wait{0};
  uint32_t frames = 0;
  bool drained = false;         // the TAP said EAGAIN: re-arm it, or come back after a pause
  rx_->disable_notification();  // buffers the guest reposts meanwhile need no kick
  while (healthy && frames < kBudget) {
    if (rx_len_ == 0 && rx_held_.empty() && rx_limiter_.unlimited()) {
      const DirectRx r = receive_direct(used, healthy);
      if (r == DirectRx::kDelivered) {
        ++frames;
        continue;
      }
      if (r == DirectRx::kDrained) {
        drained = true;
        break;
      }
      if (r == DirectRx::kStop) break;
      if (r == DirectRx::kNoBuffers) {
        if (rx_->enable_notification()) continue;
        break;
      }
      // kBounce: the chain is held; read through the bounce buffer below.
    }
    if (rx_len_ == 0) {
      if (rx_held_.empty() && rx_->available() == 0) {
        if (rx_->enable_notification()) continue;  // buffers arrived meanwhile
        break;  // frames stay in the TAP until the guest posts buffers (it notifies)
      }
      const ssize_t n = ::read(tap_.get(), rx_buffer_.data(), rx_buffer_.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        drained = errno == EAGAIN;
        if (!drained) spdlog::warn("virtio-net: TAP read: {}", std::strerror(errno));
        break;
      }
      if (static_cast<size_t>(n) < kHeaderBytes + kMinFrameBytes) {
        metrics_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      rx_len_ = static_cast<size_t>(n);
      rx_charged_ = false;
    }
    if (!rx_charged_) {
      if (!rx_limiter_.try_consume(rx_len_ - kHeaderBytes, &wait)) {
        throttled = true;
        break;
      }
      rx_charged_ = true;
    }
    if (!deliver_pending(used, healthy)) {
      if (healthy && rx_->enable_notification()) continue;
      break;
    }
    ++frames;
  }
  if (throttled) {
    metrics_.rx_throttled.fetch_add(1, std::memory_order_relaxed);
    arm(rx_timer_, wait);
  } else if (healthy && frames >= kBudget) {
    interrupt_->kick_queue(kRxQueue);
  } else if (healthy && drained) {
    // With coalescing on (see the header) and a burst on, let the next frames gather in the
    // TAP and take them in one wake-up; otherwise (and for a lone frame) re-arm at once.
    if (coalesce_.count() > 0 && frames >= coalesce_min_frames_) {
      itimerspec spec{};
      spec.it_value.tv_nsec = static_cast<long>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(coalesce_).count());
      ::timerfd_settime(rx_timer_.get(), 0, &spec, nullptr);
    } else {
      arm_tap();
    }
  }
  if (used && rx_->needs_notification()) interrupt_->signal_used_queue(kRxQueue);
  return healthy;
}

void VirtioNet::arm_tap() {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  // Frames that arrived since the last read make the TAP ready at once (no lost wake-up).
  if (::epoll_ctl(tap_epoll_.get(), EPOLL_CTL_MOD, tap_.get(), &ev) != 0) {
    spdlog::warn("virtio-net: re-arming the TAP: {}", std::strerror(errno));
  }
}

}  // namespace flotilla::vmm::virtio
