#include "vmm/memory/layout.h"

#include <algorithm>

namespace flotilla::vmm {

VmmResult<MemoryLayout> compute_layout(uint64_t ram_bytes) {
  using namespace layout;
  if (ram_bytes < kMinMemory) {
    return vmm_fail(VmmErrc::kMemory, "guest memory must be at least 2 MiB");
  }
  if (ram_bytes % 4096 != 0) {
    return vmm_fail(VmmErrc::kMemory, "guest memory must be a multiple of 4 KiB");
  }
  if (ram_bytes > (uint64_t{1} << 46)) {
    return vmm_fail(VmmErrc::kMemory, "guest memory is larger than 64 TiB");
  }
  MemoryLayout out;
  out.ram_bytes = ram_bytes;
  const uint64_t low = std::min(ram_bytes, kLowRamMax);
  out.slots.push_back({0, low, 0});
  out.e820.push_back({0, kMpTable, E820Type::kRam});
  out.e820.push_back({kMpTable, kEbdaEnd - kMpTable, E820Type::kReserved});
  out.e820.push_back({kHighRam, low - kHighRam, E820Type::kRam});
  if (ram_bytes > kLowRamMax) {
    const uint64_t high = ram_bytes - kLowRamMax;
    out.slots.push_back({kHoleEnd, high, kLowRamMax});
    out.e820.push_back({kHoleEnd, high, E820Type::kRam});
  }
  if (!e820_is_valid(out.e820)) std::abort();  // broken invariant of the code above
  return out;
}

bool e820_is_valid(const std::vector<E820Entry>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].size == 0) return false;
    if (entries[i].addr + entries[i].size < entries[i].addr) return false;
    if (i > 0 && entries[i - 1].addr + entries[i - 1].size > entries[i].addr) return false;
  }
  return true;
}

}  // namespace flotilla::vmm
