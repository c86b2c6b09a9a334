// The guest-physical layout of team/VMM.md as pure data: where RAM goes (memslots), the e820 /
// PVH memory map, and the fixed addresses the boot path writes to. No KVM, no mappings.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/kvm/error.h"

namespace flotilla::vmm {

namespace layout {
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

constexpr uint64_t kStartInfo = 0x6000;  // hvm_start_info, memmap entries right after it
constexpr uint64_t kCmdline = 0x7000;    // kernel command line
constexpr uint64_t kCmdlineMax = 2048;   // bytes, without the NUL
constexpr uint64_t kMaxMemmapEntries = 128;
constexpr uint64_t kMpTable = 0x9fc00;     // MP floating pointer, config table after it
constexpr uint64_t kEbdaEnd = 0x100000;    // end of the reserved 0x9fc00-0xfffff range
constexpr uint64_t kHighRam = 0x100000;    // kernel segments start here
constexpr uint64_t kLowRamMax = 3 * kGiB;  // RAM below the hole
constexpr uint64_t kHoleEnd = 4 * kGiB;    // RAM above the hole starts here
constexpr uint64_t kVirtioBase = 0xfeb00000;
constexpr uint64_t kVirtioSlotSize = 0x200;
constexpr uint32_t kVirtioSlots = 24;
constexpr uint32_t kVirtioFirstGsi = 16;
constexpr uint64_t kIoapic = 0xfec00000;
constexpr uint64_t kLapic = 0xfee00000;
constexpr uint64_t kIdentityMap = 0xfeffc000;
constexpr uint64_t kTss = 0xfeffd000;
constexpr uint64_t kMinMemory = 2 * kMiB;  // below this the fixed addresses do not fit
}  // namespace layout

// e820 / hvm_memmap_table_entry types.
enum class E820Type : uint32_t { kRam = 1, kReserved = 2 };

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  E820Type type;
};

// One KVM memslot: guest [gpa, gpa+size) backed by the memfd at [offset, offset+size).
struct RamSlot {
  uint64_t gpa;
  uint64_t size;
  uint64_t offset;
};

struct MemoryLayout {
  uint64_t ram_bytes = 0;
  std::vector<RamSlot> slots;   // sorted, non-overlapping
  std::vector<E820Entry> e820;  // sorted, non-overlapping
};

// The layout for a guest of ram_bytes (a multiple of 4 KiB, >= layout::kMinMemory).
VmmResult<MemoryLayout> compute_layout(uint64_t ram_bytes);

// True when no two entries overlap and each is non-empty (used by tests and as an assert).
bool e820_is_valid(const std::vector<E820Entry>& entries);

}  // namespace flotilla::vmm
