// GuestMemory: the owner of guest RAM. One memfd (MFD_CLOEXEC, so a snapshot can map it later)
// mapped MAP_SHARED once; the layout (layout.h) says which parts become which memslots and
// what the e820 map looks like. Hands out GuestMemoryView for devices and the boot path.
// Lifecycle: create() → register_slots(vm) → view() users → destroyed after the VM fd.
#pragma once

#include <cstdint>

#include "common/unique_fd.h"
#include "vmm/kvm/error.h"
#include "vmm/kvm/vm_fd.h"
#include "vmm/memory/guest_memory_view.h"
#include "vmm/memory/layout.h"

namespace flotilla::vmm {

class GuestMemory {
 public:
  static VmmResult<GuestMemory> create(uint64_t ram_bytes);
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
  int memfd() const { return memfd_.get(); }
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
