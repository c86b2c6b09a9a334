// A guest-side split virtqueue writer for the tests: lays out the rings in GuestRam and
// publishes chains the way a driver does.
#pragma once

#define VIRTIO_RING_NO_LEGACY
#include <linux/virtio_ring.h>

#include <atomic>
#include <cstdint>

#include "tests/unit/vmm_devices/fakes.h"

namespace flotilla::vmm::testing {

struct VirtqLayout {
  uint16_t size = 16;
  uint64_t desc = 0x1000;
  uint64_t avail = 0x2000;
  uint64_t used = 0x3000;
};

class VirtqDriver {
 public:
  VirtqDriver(GuestRam& ram, VirtqLayout layout) : ram_(ram), l_(layout) {}

  const VirtqLayout& layout() const { return l_; }
  void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    vring_desc d{addr, len, flags, next};
    ram_.put(l_.desc + 16ULL * i, d);
  }
  // Puts head in the next avail slot and bumps avail.idx (release, as a driver would).
  void publish(uint16_t head) {
    ram_.put<uint16_t>(l_.avail + 4 + 2ULL * (avail_idx_ % l_.size), head);
    ++avail_idx_;
    set_avail_idx(avail_idx_);
  }
  void set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    __atomic_store_n(reinterpret_cast<uint16_t*>(ram_.at(l_.avail + 2)), idx, __ATOMIC_RELEASE);
  }
  void set_avail_flags(uint16_t flags) { ram_.put<uint16_t>(l_.avail, flags); }
  void set_used_event(uint16_t v) { ram_.put<uint16_t>(l_.avail + 4 + 2ULL * l_.size, v); }
  uint16_t avail_event() { return ram_.get<uint16_t>(l_.used + 4 + 8ULL * l_.size); }
  uint16_t used_idx() {
    return __atomic_load_n(reinterpret_cast<uint16_t*>(ram_.at(l_.used + 2)), __ATOMIC_ACQUIRE);
  }
  vring_used_elem used_elem(uint16_t i) {
    return ram_.get<vring_used_elem>(l_.used + 4 + 8ULL * (i % l_.size));
  }
  uint16_t avail_idx() const { return avail_idx_; }

 private:
  GuestRam& ram_;
  VirtqLayout l_;
  uint16_t avail_idx_ = 0;
};

}  // namespace flotilla::vmm::testing
