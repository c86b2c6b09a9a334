// Queue: the split virtqueue (virtio 1.x, 2.7) shared by every virtio device. The transport
// fills in the driver's configuration (size, ring addresses, ready); activate() checks it
// against guest memory once; then the device pops descriptor chains and returns them used.
//
// Every guest-supplied value is checked before use: the queue size (a power of two, at most
// max_size()), ring alignment and placement, the avail index (never more than size() ahead),
// every head and next index, every descriptor's address and length (translated through
// GuestMemoryView, so a buffer never reaches outside guest RAM), INDIRECT tables (only when
// negotiated, length a non-zero multiple of 16, no nesting, no INDIRECT|NEXT), and the chain
// length (at most size() descriptors, which also catches loops). Readable descriptors must come
// before writable ones.
//
// Threads: none of its own. The owning transport serialises every call (its mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/result.h"
#include "vmm/memory/guest_memory_view.h"

namespace flotilla::vmm::virtio {

// One checked buffer of a chain. host points at len bytes inside guest RAM.
struct Descriptor {
  uint64_t addr = 0;
  uint32_t len = 0;
  bool device_writable = false;
  uint8_t* host = nullptr;
};

struct DescriptorChain {
  uint16_t head = 0;
  std::vector<Descriptor> descriptors;  // readable ones first, then writable ones
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

enum class QueueErrorKind {
  kNotActive,          // pop() before a successful activate()
  kAvailIdxJump,       // avail.idx more than size() ahead of the device: the ring is broken
  kHeadOutOfRange,     // a head index >= size(): the ring is broken
  kNextOutOfRange,     // a next index >= table size
  kAddressOutOfRange,  // a buffer (or indirect table) not wholly inside guest RAM
  kChainTooLong,       // more than size() descriptors: a loop or a hostile chain
  kIndirectNotNegotiated,
  kIndirectNested,
  kIndirectWithNext,
  kIndirectBadLength,
  kReadableAfterWritable,
};
const char* describe(QueueErrorKind kind);

struct QueueError {
  QueueErrorKind kind = QueueErrorKind::kNotActive;
  uint16_t head = 0;
  // true: the ring itself is broken (nothing consumed); the device should stop using the queue
  // and the transport sets DEVICE_NEEDS_RESET. false: one bad chain was consumed; the device
  // returns it with add_used(head, 0) and carries on.
  bool ring_broken() const {
    return kind == QueueErrorKind::kNotActive || kind == QueueErrorKind::kAvailIdxJump ||
           kind == QueueErrorKind::kHeadOutOfRange;
  }
};

// What a snapshot stores about a queue (live pointers are rebuilt by activate()).
struct QueueState {
  uint16_t max_size = 0;
  uint16_t size = 0;
  bool ready = false;
  uint64_t desc_table = 0;
  uint64_t avail_ring = 0;
  uint64_t used_ring = 0;
  uint16_t next_avail = 0;
  uint16_t next_used = 0;
  uint16_t signalled_used = 0;
  bool event_idx = false;
  bool indirect = false;
};

class Queue {
 public:
  static constexpr uint16_t kMaxSize = 1024;  // upper bound for any device's max_size
  // max_size: a power of two in 1..kMaxSize (anything else is clamped to 256).
  explicit Queue(uint16_t max_size);

  // ---- driver configuration (transport, before activation) ----
  uint16_t max_size() const { return max_size_; }
  uint16_t size() const { return size_; }
  void set_size(uint16_t size) { size_ = size; }  // checked by activate()
  bool ready() const { return ready_; }
  void set_ready(bool ready) { ready_ = ready; }
  uint64_t desc_table() const { return desc_table_; }
  uint64_t avail_ring() const { return avail_ring_; }
  uint64_t used_ring() const { return used_ring_; }
  void set_desc_table(uint64_t gpa) { desc_table_ = gpa; }
  void set_avail_ring(uint64_t gpa) { avail_ring_ = gpa; }
  void set_used_ring(uint64_t gpa) { used_ring_ = gpa; }
  // Negotiated ring features (VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC).
  void set_features(bool event_idx, bool indirect);

  // Checks size and ring placement/alignment against memory and caches the ring pointers.
  // false (and the queue stays inactive) when anything is wrong.
  bool activate(const GuestMemoryView& memory);
  bool active() const { return desc_ != nullptr; }
  // Back to the power-on state (configuration and indices cleared, max_size kept).
  void reset();

  // ---- device side (device thread) ----
  // The next available chain, nullopt when the ring is empty, or an error (see QueueError).
  Result<std::optional<DescriptorChain>, QueueError> pop(const GuestMemoryView& memory);
  // Puts the last popped chain back (e.g. a rate limiter said "not yet"); the next pop()
  // returns it again. Only valid right after a successful pop().
  void undo_pop();
  // Returns a chain to the driver: writes the used element, then (release) the used index.
  // false when head >= size() or the queue is not active (nothing written).
  bool add_used(uint16_t head, uint32_t len);
  // Whether the driver wants an interrupt for the chains used since the last true answer
  // (EVENT_IDX used_event, else the avail NO_INTERRUPT flag). Call after a batch of add_used.
  bool needs_notification();
  // Asks the driver not to notify (VRING_USED_F_NO_NOTIFY; nothing to do with EVENT_IDX) while
  // the device is processing anyway; enable_notification() undoes it.
  void disable_notification();
  // Tells the driver to notify for anything past what was popped (EVENT_IDX avail_event, else
  // clearing VRING_USED_F_NO_NOTIFY);
  // returns true if more chains arrived meanwhile (process again before sleeping).
  bool enable_notification();
  // Asks the driver for no notification at all while the device polls the avail ring itself
  // (EVENT_IDX: avail_event one behind what was popped, which no index the driver publishes
  // next crosses; else VRING_USED_F_NO_NOTIFY). enable_notification() undoes it.
  void silence_notification();
  // Where the driver publishes the avail index (inside guest RAM), for poll_avail_index();
  // nullptr while inactive.
  const uint8_t* avail_index_address() const { return avail_ != nullptr ? avail_ + 2 : nullptr; }
  // Chains the driver made available and the device has not popped (0 when inactive/broken).
  uint16_t available() const;

  uint16_t next_avail() const { return next_avail_; }
  uint16_t next_used() const { return next_used_; }
  QueueState state() const;
  // Restores configuration and indices; call activate() afterwards when state.ready.
  void restore(const QueueState& state);

 private:
  Result<void, QueueError> walk(const GuestMemoryView& memory, uint16_t head,
                                DescriptorChain& chain) const;
  Result<void, QueueError> append(const GuestMemoryView& memory, uint16_t head, uint64_t addr,
                                  uint32_t len, bool writable, DescriptorChain& chain) const;
  uint16_t avail_idx() const;

  uint16_t max_size_;
  uint16_t size_ = 0;
  bool ready_ = false;
  uint64_t desc_table_ = 0;
  uint64_t avail_ring_ = 0;
  uint64_t used_ring_ = 0;
  bool event_idx_ = false;
  bool indirect_ = false;
  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
  uint16_t signalled_used_ = 0;  // next_used_ at the last needs_notification()
  // Cached host pointers into guest RAM, set by activate() (null when inactive).
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
};

// Spins until the avail index at `index_address` (Queue::avail_index_address) differs from
// `seen`, `other_work()` says true, or `ns` nanoseconds pass; true unless it timed out. Reads
// one u16 of guest RAM, so it runs without the queue owner's lock: guest RAM stays mapped for
// the VM's life, and the caller re-checks the queue under the lock afterwards.
bool poll_avail_index(const uint8_t* index_address, uint16_t seen, uint64_t ns,
                      const std::function<bool()>& other_work);

}  // namespace flotilla::vmm::virtio
