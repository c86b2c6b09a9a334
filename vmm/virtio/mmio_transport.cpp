// MmioTransport: virtio-mmio v2 registers, the device status protocol and notification
// routing. See mmio_transport.h for the threading contract (one mutex, mutex_).
#include "vmm/virtio/mmio_transport.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
// The legacy vring_init() helper in this header is not valid C++; we only need the layouts.
#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace flotilla::vmm::virtio {

namespace {
constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVersion = 2;         // modern only
constexpr size_t kMaxQueues = 64;
constexpr uint32_t kKnownStatus = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                                  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK |
                                  VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED;

uint64_t bit(unsigned n) {
  return uint64_t{1} << n;
}

void kick_fd(int fd) {
  // SAFETY: fd is an eventfd we own; a failed add only means a wake-up is already pending.
  [[maybe_unused]] int rc = ::eventfd_write(fd, 1);
}
}  // namespace

Result<std::shared_ptr<MmioTransport>, VirtioError> MmioTransport::create(
    std::shared_ptr<VirtioDevice> device, GuestMemoryView memory, InterruptLine& irq,
    EventLoop& loop) {
  if (device == nullptr) return fail(VirtioError{VirtioErrorCode::kInvalidArgument, "no device"});
  const auto sizes = device->queue_max_sizes();
  if (sizes.empty() || sizes.size() > kMaxQueues) {
    return fail(VirtioError{VirtioErrorCode::kInvalidArgument, "device queue count out of range"});
  }
  for (uint16_t s : sizes) {
    if (s == 0 || (s & (s - 1)) != 0 || s > Queue::kMaxSize) {
      return fail(VirtioError{VirtioErrorCode::kInvalidArgument,
                              "queue size " + std::to_string(s) +
                                  " not a power of two <= " + std::to_string(Queue::kMaxSize)});
    }
  }
  std::shared_ptr<MmioTransport> t(
      new MmioTransport(std::move(device), std::move(memory), irq, loop));
  for (uint16_t s : sizes) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) {
      return fail(
          VirtioError{VirtioErrorCode::kSystem, std::string("eventfd: ") + std::strerror(errno)});
    }
    t->notify_fds_.push_back(std::move(fd));
    t->queues_.emplace_back(s);
  }
  MmioTransport* raw = t.get();
  for (size_t q = 0; q < t->notify_fds_.size(); ++q) {
    auto added = loop.add_fd(t->notify_fds_[q].get(),
                             [raw, q] { raw->on_notify(static_cast<uint16_t>(q)); });
    if (!added) return fail(VirtioError{VirtioErrorCode::kSystem, added.error().message});
  }
  return t;
}

MmioTransport::MmioTransport(std::shared_ptr<VirtioDevice> device, GuestMemoryView memory,
                             InterruptLine& irq, EventLoop& loop)
    : device_(std::move(device)), memory_(std::move(memory)), irq_(irq), loop_(loop) {}

MmioTransport::~MmioTransport() {
  for (const auto& fd : notify_fds_) loop_.remove_fd(fd.get());
  std::lock_guard lock(mutex_);
  if (activated_) device_->reset();
}

int MmioTransport::notify_eventfd(uint16_t queue) const {
  return queue < notify_fds_.size() ? notify_fds_[queue].get() : -1;
}

uint32_t MmioTransport::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

MmioTransportMetrics MmioTransport::metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}

uint64_t MmioTransport::offered_features() const {
  return device_->device_features() | bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_RING_F_INDIRECT_DESC) |
         bit(VIRTIO_RING_F_EVENT_IDX);
}

Queue* MmioTransport::selected_queue() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
  if (offset == VIRTIO_MMIO_INTERRUPT_STATUS && data.size() == 4) {  // lock-free (header)
    const uint32_t value = interrupt_status_.load(std::memory_order_acquire);
    std::memcpy(data.data(), &value, sizeof(value));
    return;
  }
  std::lock_guard lock(mutex_);
  std::fill(data.begin(), data.end(), 0);
  if (offset >= VIRTIO_MMIO_CONFIG) {
    if (offset >= kSlotSize || data.size() > kSlotSize - offset) {
      ++metrics_.bad_accesses;
      return;
    }
    device_->read_config(offset - VIRTIO_MMIO_CONFIG, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    ++metrics_.bad_accesses;
    return;
  }
  const uint32_t value = read_register(offset);
  std::memcpy(data.data(), &value, sizeof(value));  // little-endian host and device
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == VIRTIO_MMIO_INTERRUPT_ACK && data.size() == 4) {  // lock-free (header)
    uint32_t value = 0;
    std::memcpy(&value, data.data(), sizeof(value));
    interrupt_status_.fetch_and(~value, std::memory_order_acq_rel);
    return;
  }
  std::lock_guard lock(mutex_);
  if (offset >= VIRTIO_MMIO_CONFIG) {
    if (offset >= kSlotSize || data.size() > kSlotSize - offset) {
      ++metrics_.bad_accesses;
      return;
    }
    device_->write_config(offset - VIRTIO_MMIO_CONFIG, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    ++metrics_.bad_accesses;
    return;
  }
  uint32_t value = 0;
  std::memcpy(&value, data.data(), sizeof(value));
  write_register(offset, value);
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  Queue* q = selected_queue();
  switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
      return kMagic;
    case VIRTIO_MMIO_VERSION:
      return kVersion;
    case VIRTIO_MMIO_DEVICE_ID:
      return device_->device_type();
    case VIRTIO_MMIO_VENDOR_ID:
      return kVendorId;
    case VIRTIO_MMIO_DEVICE_FEATURES:
      return device_features_sel_ < 2
                 ? static_cast<uint32_t>(offered_features() >> (32 * device_features_sel_))
                 : 0;
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
      return q != nullptr ? q->max_size() : 0;
    case VIRTIO_MMIO_QUEUE_NUM:
      return q != nullptr ? q->size() : 0;
    case VIRTIO_MMIO_QUEUE_READY:
      return q != nullptr && q->ready() ? 1 : 0;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
      return q != nullptr ? static_cast<uint32_t>(q->desc_table()) : 0;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
      return q != nullptr ? static_cast<uint32_t>(q->desc_table() >> 32) : 0;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
      return q != nullptr ? static_cast<uint32_t>(q->avail_ring()) : 0;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
      return q != nullptr ? static_cast<uint32_t>(q->avail_ring() >> 32) : 0;
    case VIRTIO_MMIO_QUEUE_USED_LOW:
      return q != nullptr ? static_cast<uint32_t>(q->used_ring()) : 0;
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
      return q != nullptr ? static_cast<uint32_t>(q->used_ring() >> 32) : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
      return interrupt_status_.load(std::memory_order_acquire);
    case VIRTIO_MMIO_STATUS:
      return status_;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
      return 0xffffffff;  // no shared memory regions
    case VIRTIO_MMIO_CONFIG_GENERATION:
      return config_generation_;
    default:
      ++metrics_.bad_accesses;  // write-only, legacy-only or reserved
      return 0;
  }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
      device_features_sel_ = value;
      return;
    case VIRTIO_MMIO_DRIVER_FEATURES: {
      const bool negotiating =
          (status_ & VIRTIO_CONFIG_S_DRIVER) != 0 && (status_ & VIRTIO_CONFIG_S_FEATURES_OK) == 0;
      if (!negotiating || driver_features_sel_ >= 2) {
        ++metrics_.bad_accesses;
        return;
      }
      const unsigned shift = 32 * driver_features_sel_;
      driver_features_ =
          (driver_features_ & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift);
      return;
    }
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
      driver_features_sel_ = value;
      return;
    case VIRTIO_MMIO_QUEUE_SEL:
      queue_sel_ = value;
      return;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_READY:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
    case VIRTIO_MMIO_QUEUE_USED_LOW:
    case VIRTIO_MMIO_QUEUE_USED_HIGH:
      write_queue_register(offset, value);
      return;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
      // No ioeventfd caught this write: route it through the same eventfd, so the queue is
      // processed on the loop thread like every other notification.
      if (value < notify_fds_.size()) {
        kick_fd(notify_fds_[value].get());
      } else {
        ++metrics_.bad_accesses;
      }
      return;
    case VIRTIO_MMIO_INTERRUPT_ACK:
      interrupt_status_.fetch_and(~value, std::memory_order_acq_rel);
      return;
    case VIRTIO_MMIO_STATUS:
      write_status(value);
      return;
    case VIRTIO_MMIO_SHM_SEL:
      shm_sel_ = value;
      return;
    default:
      ++metrics_.bad_accesses;  // read-only, legacy-only or reserved
      return;
  }
}

void MmioTransport::write_queue_register(uint64_t offset, uint32_t value) {
  Queue* q = selected_queue();
  if (q == nullptr) {
    ++metrics_.bad_accesses;
    return;
  }
  // Linux's del_vq writes QueueReady=0 after a reset: a no-op, not an error.
  if (offset == VIRTIO_MMIO_QUEUE_READY && value == 0 && !q->ready()) return;
  // Queues are configured between FEATURES_OK and DRIVER_OK, and only while not ready.
  const bool configuring =
      (status_ & VIRTIO_CONFIG_S_FEATURES_OK) != 0 && (status_ & VIRTIO_CONFIG_S_DRIVER_OK) == 0;
  if (!configuring || (q->ready() && offset != VIRTIO_MMIO_QUEUE_READY)) {
    ++metrics_.bad_accesses;
    return;
  }
  auto set_low = [value](uint64_t old) { return (old & ~uint64_t{0xffffffff}) | value; };
  auto set_high = [value](uint64_t old) { return (old & 0xffffffff) | (uint64_t{value} << 32); };
  switch (offset) {
    case VIRTIO_MMIO_QUEUE_NUM:
      if (value > 0xffff) ++metrics_.bad_accesses;
      q->set_size(value > 0xffff ? 0 : static_cast<uint16_t>(value));  // checked at DRIVER_OK
      return;
    case VIRTIO_MMIO_QUEUE_READY:
      if (value > 1) ++metrics_.bad_accesses;
      q->set_ready(value == 1);
      return;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
      q->set_desc_table(set_low(q->desc_table()));
      return;
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
      q->set_desc_table(set_high(q->desc_table()));
      return;
    case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
      q->set_avail_ring(set_low(q->avail_ring()));
      return;
    case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
      q->set_avail_ring(set_high(q->avail_ring()));
      return;
    case VIRTIO_MMIO_QUEUE_USED_LOW:
      q->set_used_ring(set_low(q->used_ring()));
      return;
    default:  // VIRTIO_MMIO_QUEUE_USED_HIGH
      q->set_used_ring(set_high(q->used_ring()));
      return;
  }
}

void MmioTransport::write_status(uint32_t value) {
  if (value == 0) {
    reset_device();
    return;
  }
  const uint32_t old = status_;
  // The driver only adds bits (clearing needs a reset), knows every bit it sets, and follows
  // ACKNOWLEDGE → DRIVER → FEATURES_OK → DRIVER_OK. NEEDS_RESET is the device's: sticky.
  value |= old & VIRTIO_CONFIG_S_NEEDS_RESET;
  const bool refused =
      (value & ~kKnownStatus) != 0 || (value & old) != old ||
      ((value & VIRTIO_CONFIG_S_DRIVER) && !(value & VIRTIO_CONFIG_S_ACKNOWLEDGE)) ||
      ((value & VIRTIO_CONFIG_S_FEATURES_OK) && !(value & VIRTIO_CONFIG_S_DRIVER)) ||
      ((value & VIRTIO_CONFIG_S_DRIVER_OK) && !(value & VIRTIO_CONFIG_S_FEATURES_OK));
  if (refused) {
    ++metrics_.bad_status_writes;
    return;
  }
  const uint32_t added = value & ~old;
  if ((added & VIRTIO_CONFIG_S_FEATURES_OK) != 0) {
    const bool subset = (driver_features_ & ~offered_features()) == 0;
    const bool modern = (driver_features_ & bit(VIRTIO_F_VERSION_1)) != 0;
    if (!subset || !modern) {
      // FEATURES_OK stays clear: the driver reads the status back and gives up (spec 3.1.1).
      ++metrics_.bad_status_writes;
      status_ = value & ~(VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
      return;
    }
    device_->set_acked_features(driver_features_);
    for (auto& q : queues_) {
      q.set_features((driver_features_ & bit(VIRTIO_RING_F_EVENT_IDX)) != 0,
                     (driver_features_ & bit(VIRTIO_RING_F_INDIRECT_DESC)) != 0);
    }
  }
  status_ = value;
  const bool failed = (value & (VIRTIO_CONFIG_S_FAILED | VIRTIO_CONFIG_S_NEEDS_RESET)) != 0;
  if ((added & VIRTIO_CONFIG_S_DRIVER_OK) != 0 && !failed) activate_device();
}

void MmioTransport::activate_device() {
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i].ready() && !queues_[i].activate(memory_)) {
      if (warn_budget_ > 0) {
        --warn_budget_;
        spdlog::warn("virtio-mmio (type {}): queue {} configuration invalid at DRIVER_OK",
                     device_->device_type(), i);
      }
      set_needs_reset();
      return;
    }
  }
  auto activated = device_->activate(memory_, queues_, *this);
  if (!activated) {
    if (warn_budget_ > 0) {
      --warn_budget_;
      spdlog::warn("virtio-mmio (type {}): activation failed: {}", device_->device_type(),
                   activated.error().message);
    }
    set_needs_reset();
    return;
  }
  activated_ = true;
  ++metrics_.activations;
  // Buffers the driver made available before DRIVER_OK: look at them now.
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i].active()) kick_fd(notify_fds_[i].get());
  }
}

void MmioTransport::reset_device() {
  if (activated_) device_->reset();
  activated_ = false;
  for (auto& q : queues_) q.reset();
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_.store(0, std::memory_order_release);
  shm_sel_ = 0;
  ++metrics_.resets;
}

void MmioTransport::set_needs_reset() {
  if ((status_ & VIRTIO_CONFIG_S_NEEDS_RESET) != 0) return;
  status_ |= VIRTIO_CONFIG_S_NEEDS_RESET;
  ++metrics_.needs_reset;
  if ((status_ & VIRTIO_CONFIG_S_DRIVER_OK) != 0) signal_config_change();
}

void MmioTransport::on_notify(uint16_t queue) {
  eventfd_t count = 0;
  // SAFETY: our own non-blocking eventfd; EAGAIN (nothing pending) leaves count at 0.
  if (::eventfd_read(notify_fds_[queue].get(), &count) != 0 || count == 0) return;
  process_notified(queue, count);
}

void MmioTransport::run_queue(uint16_t queue) {
  if (queue < notify_fds_.size()) process_notified(queue, 1);
}

void MmioTransport::process_notified(uint16_t queue, uint64_t count) {
  std::unique_lock lock(mutex_);
  if (!queue_usable(queue)) {
    metrics_.inactive_notifications += count;
    return;
  }
  metrics_.notifications += count;
  for (unsigned pass = 1;; ++pass) {
    if (!device_->process_queue(queue)) {
      set_needs_reset();
      return;
    }
    const uint64_t poll_ns = device_->poll_after_ns(queue);
    if (poll_ns == 0) return;
    Queue& q = queues_[queue];
    if (pass == kMaxPassesPerWakeup) {
      // The loop thread serves every device: give the others their turn. Notifications back
      // on; whatever is already there comes back through our own eventfd, after them.
      if (q.enable_notification()) kick_fd(notify_fds_[queue].get());
      return;
    }
    const uint8_t* index = q.avail_index_address();
    const uint16_t seen = q.next_avail();
    q.silence_notification();
    lock.unlock();  // vCPUs may touch the transport meanwhile, even reset it
    const bool arrived =
        poll_avail_index(index, seen, poll_ns, [this] { return device_->has_ready_work(); });
    lock.lock();
    if (!queue_usable(queue)) return;  // reset meanwhile: its notification state is fresh
    // Nothing came: ask for notifications again, unless something slipped in before that.
    if (!arrived && !q.enable_notification()) return;
    ++metrics_.polled_passes;
  }
}

bool MmioTransport::queue_usable(uint16_t queue) const {
  return activated_ && (status_ & VIRTIO_CONFIG_S_NEEDS_RESET) == 0 && queues_[queue].active();
}

void MmioTransport::signal_used_queue(uint16_t /*queue*/) {
  interrupt_status_.fetch_or(VIRTIO_MMIO_INT_VRING, std::memory_order_acq_rel);
  ++metrics_.interrupts;
  irq_.trigger();
}

void MmioTransport::signal_config_change() {
  interrupt_status_.fetch_or(VIRTIO_MMIO_INT_CONFIG, std::memory_order_acq_rel);
  ++config_generation_;
  ++metrics_.interrupts;
  irq_.trigger();
}

void MmioTransport::kick_queue(uint16_t queue) {
  if (queue < notify_fds_.size()) kick_fd(notify_fds_[queue].get());
}

}  // namespace flotilla::vmm::virtio
