// PVH ELF loader: an ELF64 or ELF32 executable with a XEN_ELFNOTE_PHYS32_ENTRY note (type 18,
// name "Xen") is loaded by its PT_LOAD segments at their physical addresses and entered in
// 32-bit protected mode at the note's address (the Xen PVH boot ABI, as QEMU, Cloud
// Hypervisor and Linux's vmlinux use it). Everything is checked against the file's size and
// guest RAM before a byte is copied.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmm/kvm/error.h"
#include "vmm/memory/guest_memory_view.h"
#include "vmm/memory/layout.h"

namespace flotilla::vmm {

constexpr uint32_t kXenElfnotePhys32Entry = 18;

struct ElfSegment {
  uint64_t paddr = 0;
  uint64_t file_offset = 0;
  uint64_t file_size = 0;
  uint64_t mem_size = 0;
};

struct PvhImage {
  uint32_t entry = 0;  // 32-bit physical entry point from the PVH note
  std::vector<ElfSegment> segments;
};

// Parses and validates `file` (headers, segment bounds within the file, the PVH note) and
// checks every segment lies inside guest RAM of `layout`, outside the boot area below 1 MiB.
VmmResult<PvhImage> parse_pvh_elf(std::span<const uint8_t> file, const MemoryLayout& layout);

// Copies the segments of a parsed image into guest memory (zero-filling memsz beyond filesz).
VmmResult<void> load_pvh_elf(std::span<const uint8_t> file, const PvhImage& image,
                             const GuestMemoryView& memory);

// Reads a whole kernel file (refusing files above max_bytes) for parse/load.
VmmResult<std::vector<uint8_t>> read_kernel_file(const std::string& path, uint64_t max_bytes);

}  // namespace flotilla::vmm
