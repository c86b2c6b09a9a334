// hvm_start_info for PVH guests: the structure, its memory map and the command line, written
// at the team/VMM.md addresses. The layouts come from Xen's public/arch-x86/hvm/start_info.h
// (not in any installed uapi header, so they are spelled here, with static_asserts).
#pragma once

#include <cstdint>
#include <string>

#include "vmm/kvm/error.h"
#include "vmm/memory/guest_memory_view.h"
#include "vmm/memory/layout.h"

namespace flotilla::vmm {

constexpr uint32_t kHvmStartMagic = 0x336ec578;

struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

// Writes start_info at layout::kStartInfo, the memmap right after it and the NUL-terminated
// command line at layout::kCmdline. Returns the start_info address (for %ebx).
VmmResult<uint64_t> write_start_info(const GuestMemoryView& memory, const MemoryLayout& layout,
                                     const std::string& cmdline);

}  // namespace flotilla::vmm
