// GuestMemory: the owner of guest RAM, mapped once; the layout (layout.h) says which parts
// become which memslots and what the e820 map looks like. Hands out GuestMemoryView for
// devices and the boot path.
//
// Backing (RamBacking): kAnonymous (default) is private anonymous memory, 2 MiB-aligned and
// madvise(MADV_HUGEPAGE), so the host backs it with transparent huge pages where THP is
// `madvise` or `always` (this host: anonymous THP `madvise`, shmem THP `never`). Huge pages
// matter for virtio-blk: an O_DIRECT 1 MiB transfer into 4 KiB pages is 256 segments, which a
// virtio/NVMe host disk splits (max_segments 254 here), and measured seq reads run at about half
// speed (bench/disk/README.md). kMemfd is one memfd (MFD_CLOEXEC) mapped MAP_SHARED, for a
// future user that needs a file-backed view of RAM (snapshots sharing pages with another
// process); nothing uses it today, and it gets 4 KiB pages on hosts without shmem THP.
// Lifecycle: create() → register_slots(vm) → view() users → destroyed after the VM fd.
#pragma once

#include <cstdint>

#include "common/unique_fd.h"
#include "vmm/kvm/error.h"
#include "vmm/kvm/vm_fd.h"
#include "vmm/memory/guest_memory_view.h"
#include "vmm/memory/layout.h"

namespace flotilla::vmm {

enum class RamBacking { kAnonymous, kMemfd };

class GuestMemory {
 public:
  static VmmResult<GuestMemory> create(uint64_t ram_bytes,
                                       RamBacking backing = RamBacking::kAnonymous);
  GuestMemory(GuestMemory&& o) noexcept;
  GuestMemory& operator=(GuestMemory&& o) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  // Memslots 0.. for every RamSlot of the layout.
  VmmResult<void> register_slots(VmFd& vm) const;

  GuestMemoryView view() const;
  const MemoryLayout& layout() const { return layout_; }
  uint64_t size() const { return layout_.ram_bytes; }
  // The memfd of RamBacking::kMemfd; -1 for anonymous RAM.
  int memfd() const { return memfd_.valid() ? memfd_.get() : -1; }
  RamBacking backing() const {
    return memfd_.valid() ? RamBacking::kMemfd : RamBacking::kAnonymous;
  }
  // Prefaults every page of guest RAM and locks it in host memory (mlock): reserved memory that
  // is never swapped, reclaimed or faulted in later. Fails with ENOMEM/EAGAIN when the host
  // cannot spare it or RLIMIT_MEMLOCK forbids it (root has no limit).
  VmmResult<void> lock();
  // Bytes of guest RAM that are resident (touched), from mincore() over the mapping.
  uint64_t resident_bytes() const;

 private:
  GuestMemory() = default;
  void unmap();
  UniqueFd memfd_;
  uint8_t* base_ = nullptr;
  MemoryLayout layout_;
};

}  // namespace flotilla::vmm
