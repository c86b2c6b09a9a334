// Queue: split virtqueue walking and used-ring updates. Layouts from <linux/virtio_ring.h>.
//
// Memory ordering (the driver runs on other CPUs): the avail index is loaded with acquire
// before ring entries and descriptors are read; each descriptor is copied once and only the
// copy is checked and used. The used element is written before the used index is stored with
// release; a full fence separates that store from reading used_event/flags (and the avail_event
// store from re-reading the avail index), as Linux's virtio_mb() does on the driver side.
#include "vmm/virtio/queue.h"

#include <chrono>

// The legacy vring_init() helper in this header is not valid C++; we only need the layouts.
#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>

#include <bit>
#include <cstring>

namespace flotilla::vmm::virtio {

static_assert(std::endian::native == std::endian::little, "virtio 1.x rings are little-endian");

namespace {
constexpr uint16_t kDefaultMaxSize = 256;
constexpr uint64_t kDescSize = sizeof(vring_desc);           // 16
constexpr uint64_t kUsedElemSize = sizeof(vring_used_elem);  // 8

bool power_of_two(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// SAFETY (all three): p points into a ring that activate() translated whole and found
// 2-aligned on the host; the index arithmetic below stays inside that ring.
uint16_t load16(const uint8_t* p, int order) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), order);
}
void store16(uint8_t* p, uint16_t v, int order) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, order);
}
}  // namespace

const char* describe(QueueErrorKind kind) {
  switch (kind) {
    case QueueErrorKind::kNotActive:
      return "queue not active";
    case QueueErrorKind::kAvailIdxJump:
      return "avail index more than the queue size ahead";
    case QueueErrorKind::kHeadOutOfRange:
      return "head index out of range";
    case QueueErrorKind::kNextOutOfRange:
      return "next index out of range";
    case QueueErrorKind::kAddressOutOfRange:
      return "buffer outside guest memory";
    case QueueErrorKind::kChainTooLong:
      return "descriptor chain too long (loop?)";
    case QueueErrorKind::kIndirectNotNegotiated:
      return "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
    case QueueErrorKind::kIndirectNested:
      return "indirect descriptor inside an indirect table";
    case QueueErrorKind::kIndirectWithNext:
      return "indirect descriptor with NEXT set";
    case QueueErrorKind::kIndirectBadLength:
      return "indirect table length not a non-zero multiple of 16 (or too large)";
    case QueueErrorKind::kReadableAfterWritable:
      return "device-readable descriptor after a device-writable one";
  }
  return "unknown queue error";
}

Queue::Queue(uint16_t max_size)
    : max_size_(power_of_two(max_size) && max_size <= kMaxSize ? max_size : kDefaultMaxSize) {}

void Queue::set_features(bool event_idx, bool indirect) {
  event_idx_ = event_idx;
  indirect_ = indirect;
}

bool Queue::activate(const GuestMemoryView& memory) {
  desc_ = avail_ = used_ = nullptr;
  if (!ready_ || !power_of_two(size_) || size_ > max_size_) return false;
  // Spec 2.7: descriptor table 16-aligned, driver (avail) area 2-aligned, device (used) 4.
  if (desc_table_ % 16 != 0 || avail_ring_ % 2 != 0 || used_ring_ % 4 != 0) return false;
  uint8_t* desc = memory.translate(desc_table_, kDescSize * size_);
  uint8_t* avail = memory.translate(avail_ring_, 6 + 2ULL * size_);         // + used_event
  uint8_t* used = memory.translate(used_ring_, 6 + kUsedElemSize * size_);  // + avail_event
  if (desc == nullptr || avail == nullptr || used == nullptr) return false;
  // The host mapping must keep the guest alignment for the atomic index accesses.
  if (reinterpret_cast<uintptr_t>(avail) % 2 != 0 || reinterpret_cast<uintptr_t>(used) % 4 != 0) {
    return false;
  }
  desc_ = desc;
  avail_ = avail;
  used_ = used;
  return true;
}

void Queue::reset() {
  const uint16_t max = max_size_;
  *this = Queue(max);
}

uint16_t Queue::avail_idx() const {
  return load16(avail_ + 2, __ATOMIC_ACQUIRE);
}

uint16_t Queue::available() const {
  if (!active()) return 0;
  const uint16_t pending = static_cast<uint16_t>(avail_idx() - next_avail_);
  return pending <= size_ ? pending : 0;
}

Result<std::optional<DescriptorChain>, QueueError> Queue::pop(const GuestMemoryView& memory) {
  if (!active()) return fail(QueueError{QueueErrorKind::kNotActive, 0});
  const uint16_t pending = static_cast<uint16_t>(avail_idx() - next_avail_);
  if (pending > size_) return fail(QueueError{QueueErrorKind::kAvailIdxJump, 0});
  if (pending == 0) return std::optional<DescriptorChain>{};
  const uint16_t slot = next_avail_ & (size_ - 1);
  const uint16_t head = load16(avail_ + 4 + 2ULL * slot, __ATOMIC_RELAXED);
  if (head >= size_) return fail(QueueError{QueueErrorKind::kHeadOutOfRange, head});
  ++next_avail_;
  if (event_idx_) store16(used_ + 4 + kUsedElemSize * size_, next_avail_, __ATOMIC_RELAXED);

  DescriptorChain chain;
  chain.head = head;
  auto walked = walk(memory, head, chain);
  if (!walked) return fail(walked.error());
  return std::optional<DescriptorChain>(std::move(chain));
}

void Queue::undo_pop() {
  if (!active()) return;
  --next_avail_;
  if (event_idx_) store16(used_ + 4 + kUsedElemSize * size_, next_avail_, __ATOMIC_RELAXED);
}

Result<void, QueueError> Queue::walk(const GuestMemoryView& memory, uint16_t head,
                                     DescriptorChain& chain) const {
  const uint8_t* table = desc_;
  uint32_t table_size = size_;
  bool in_indirect = false;
  uint32_t index = head;
  uint32_t count = 0;  // descriptors visited in the current table
  for (;;) {
    if (++count > table_size) return fail(QueueError{QueueErrorKind::kChainTooLong, head});
    vring_desc d{};
    std::memcpy(&d, table + kDescSize * index, sizeof(d));  // one copy, then checks on it
    if ((d.flags & VRING_DESC_F_INDIRECT) != 0) {
      if (!indirect_) return fail(QueueError{QueueErrorKind::kIndirectNotNegotiated, head});
      if (in_indirect) return fail(QueueError{QueueErrorKind::kIndirectNested, head});
      if ((d.flags & VRING_DESC_F_NEXT) != 0) {
        return fail(QueueError{QueueErrorKind::kIndirectWithNext, head});
      }
      if (d.len == 0 || d.len % kDescSize != 0 || d.len / kDescSize > kMaxSize) {
        return fail(QueueError{QueueErrorKind::kIndirectBadLength, head});
      }
      const uint8_t* indirect = memory.translate(d.addr, d.len);
      if (indirect == nullptr) return fail(QueueError{QueueErrorKind::kAddressOutOfRange, head});
      table = indirect;
      table_size = static_cast<uint32_t>(d.len / kDescSize);
      in_indirect = true;
      index = 0;
      count = 0;
      continue;
    }
    auto appended = append(memory, head, d.addr, d.len, (d.flags & VRING_DESC_F_WRITE) != 0, chain);
    if (!appended) return appended;
    if ((d.flags & VRING_DESC_F_NEXT) == 0) return {};
    if (d.next >= table_size) return fail(QueueError{QueueErrorKind::kNextOutOfRange, head});
    index = d.next;
  }
}

Result<void, QueueError> Queue::append(const GuestMemoryView& memory, uint16_t head, uint64_t addr,
                                       uint32_t len, bool writable, DescriptorChain& chain) const {
  if (!writable && chain.writable_bytes > 0) {
    return fail(QueueError{QueueErrorKind::kReadableAfterWritable, head});
  }
  if (!chain.descriptors.empty() && !writable && chain.descriptors.back().device_writable) {
    return fail(QueueError{QueueErrorKind::kReadableAfterWritable, head});
  }
  uint8_t* host = nullptr;
  if (len > 0) {
    if (addr + len < addr) return fail(QueueError{QueueErrorKind::kAddressOutOfRange, head});
    host = memory.translate(addr, len);
    if (host == nullptr) return fail(QueueError{QueueErrorKind::kAddressOutOfRange, head});
  }
  chain.descriptors.push_back(Descriptor{addr, len, writable, host});
  (writable ? chain.writable_bytes : chain.readable_bytes) += len;
  return {};
}

bool Queue::add_used(uint16_t head, uint32_t len) {
  if (!active() || head >= size_) return false;
  const vring_used_elem elem{head, len};
  // SAFETY: the slot index is masked to the ring size activate() translated.
  std::memcpy(used_ + 4 + kUsedElemSize * (next_used_ & (size_ - 1)), &elem, sizeof(elem));
  ++next_used_;
  store16(used_ + 2, next_used_, __ATOMIC_RELEASE);
  return true;
}

bool Queue::needs_notification() {
  if (!active()) return false;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);  // used idx visible before reading the driver's view
  const uint16_t old_used = signalled_used_;
  const uint16_t new_used = next_used_;
  signalled_used_ = new_used;
  if (old_used == new_used) return false;
  if (event_idx_) {
    const uint16_t used_event = load16(avail_ + 4 + 2ULL * size_, __ATOMIC_RELAXED);
    return vring_need_event(used_event, new_used, old_used) != 0;
  }
  return (load16(avail_, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT) == 0;
}

void Queue::disable_notification() {
  // With EVENT_IDX, leaving avail_event behind already silences the driver.
  if (active() && !event_idx_) store16(used_, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

void Queue::silence_notification() {
  if (!active()) return;
  if (event_idx_) {
    store16(used_ + 4 + kUsedElemSize * size_, static_cast<uint16_t>(next_avail_ - 1),
            __ATOMIC_RELAXED);
  } else {
    store16(used_, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
  }
}

bool Queue::enable_notification() {
  if (!active()) return false;
  if (event_idx_) {
    store16(used_ + 4 + kUsedElemSize * size_, next_avail_, __ATOMIC_RELAXED);
  } else {
    store16(used_, 0, __ATOMIC_RELAXED);  // clears VRING_USED_F_NO_NOTIFY
  }
  __atomic_thread_fence(__ATOMIC_SEQ_CST);  // avail_event visible before re-reading avail idx
  return avail_idx() != next_avail_;
}

QueueState Queue::state() const {
  return QueueState{max_size_,   size_,      ready_,          desc_table_, avail_ring_, used_ring_,
                    next_avail_, next_used_, signalled_used_, event_idx_,  indirect_};
}

void Queue::restore(const QueueState& state) {
  reset();
  size_ = state.size;
  ready_ = state.ready;
  desc_table_ = state.desc_table;
  avail_ring_ = state.avail_ring;
  used_ring_ = state.used_ring;
  next_avail_ = state.next_avail;
  next_used_ = state.next_used;
  event_idx_ = state.event_idx;
  indirect_ = state.indirect;
  signalled_used_ = state.signalled_used;
}

bool poll_avail_index(const uint8_t* index_address, uint16_t seen, uint64_t ns,
                      const std::function<bool()>& other_work) {
  if (index_address == nullptr) return false;
  const auto ready = [&] {
    return load16(index_address, __ATOMIC_ACQUIRE) != seen || other_work();
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
  do {
    // Several looks between clock reads: the clock costs more than a look.
    for (int i = 0; i < 16; ++i) {
      if (ready()) return true;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
  } while (std::chrono::steady_clock::now() < deadline);
  return ready();
}

}  // namespace flotilla::vmm::virtio
