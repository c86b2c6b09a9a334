// FixedBuffers: guest RAM as io_uring registered ("fixed") buffers for one ring, registered a
// chunk at a time, the first time a request's data buffer lies in that chunk.
//
// Why: an O_DIRECT readv/writev through a plain iovec pins its pages (get_user_pages) at every
// submission and unpins them at completion; a registered buffer was pinned once, so
// READ_FIXED/WRITE_FIXED skip that work on the device thread. bench/disk's host column
// (host_io) already uses registered buffers; bench/disk/README.md has the A/B figures.
//
// Why a chunk at a time rather than all of RAM at activation: registering pins, and pinning
// faults in. Registering every page would make a guest's whole RAM resident at boot. This way a
// chunk is pinned only once the guest has used it as a disk buffer (its pages are then resident
// anyway). It stays pinned, which means it cannot be swapped, migrated or merged (KSM), until
// detach() (device reset or stop). FLOTILLA_BLK_FIXED=0 in the monitor's environment turns this
// off (plain iovecs, nothing pinned beyond each request).
//
// Bounded: at most kMaxSlots table entries (the kernel allows 16384); the chunk size doubles
// from 2 MiB until RAM fits. A buffer straddling two chunks, or a failed registration
// (RLIMIT_MEMLOCK without CAP_IPC_LOCK, a kernel without sparse tables), takes the plain path;
// after a failed registration no new chunk is asked for until the next attach (logged once).
//
// Invariant the caller keeps: the regions' host mappings do not change while attached (a
// registered chunk keeps the pages it pinned; a remap would leave I/O landing in the old ones).
//
// Threads: the ring's owner (BlkUring: the device thread, or whoever holds the transport mutex).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/memory/guest_memory_view.h"

namespace flotilla::vmm::virtio {

class FixedBuffers {
 public:
  static constexpr uint64_t kMinChunk = 2ULL << 20;  // one huge page of guest RAM
  static constexpr uint64_t kMaxChunk = 1ULL << 30;  // the kernel's largest registered buffer
  static constexpr unsigned kMaxSlots = 16384;       // IORING_MAX_REG_BUFFERS

  explicit FixedBuffers(std::string name) : name_(std::move(name)) {}
  ~FixedBuffers() = default;
  FixedBuffers(const FixedBuffers&) = delete;
  FixedBuffers& operator=(const FixedBuffers&) = delete;

  // Creates an empty (sparse) table covering `regions` on `ring`; replaces any earlier one.
  // false: no table (turned off, or the kernel refused); slot_for() then always answers -1.
  bool attach(io_uring* ring, const std::vector<MemoryRegion>& regions);
  // Drops the table (unpins every chunk). Only with nothing in flight that uses a slot.
  void detach();
  // The table slot whose buffer covers [p, p+len), its chunk registered on first use; -1: use a
  // plain iovec (not in guest RAM, straddles chunks, or registration failed).
  int slot_for(const void* p, size_t len);

 private:
  struct Span {
    uint8_t* host = nullptr;
    uint64_t size = 0;
    unsigned first_slot = 0;
  };
  bool register_chunk(unsigned slot, const Span& span, uint64_t chunk_index);

  const std::string name_;
  io_uring* ring_ = nullptr;  // non-null while a table is registered
  std::vector<Span> spans_;
  std::vector<bool> registered_;  // per slot
  bool refused_ = false;          // a registration failed: register nothing more until attach()
  uint64_t chunk_ = kMinChunk;
};

}  // namespace flotilla::vmm::virtio
