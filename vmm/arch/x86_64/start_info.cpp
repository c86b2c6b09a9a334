#include "vmm/arch/x86_64/start_info.h"

#include <vector>

namespace flotilla::vmm {

VmmResult<uint64_t> write_start_info(const GuestMemoryView& memory, const MemoryLayout& layout,
                                     const std::string& cmdline) {
  if (cmdline.size() > layout::kCmdlineMax) {
    return vmm_fail(VmmErrc::kConfig, "command line is longer than 2048 bytes");
  }
  if (layout.e820.size() > layout::kMaxMemmapEntries) {
    return vmm_fail(VmmErrc::kMemory, "too many memory map entries");
  }
  std::vector<HvmMemmapEntry> map;
  for (const E820Entry& e : layout.e820) {
    map.push_back({e.addr, e.size, static_cast<uint32_t>(e.type), 0});
  }
  const uint64_t map_addr = layout::kStartInfo + sizeof(HvmStartInfo);
  HvmStartInfo info{};
  info.magic = kHvmStartMagic;
  info.version = 1;
  info.cmdline_paddr = layout::kCmdline;
  info.memmap_paddr = map_addr;
  info.memmap_entries = static_cast<uint32_t>(map.size());
  const bool ok = memory.write_obj(layout::kStartInfo, info) &&
                  memory.write(map_addr, map.data(), map.size() * sizeof(HvmMemmapEntry)) &&
                  memory.write(layout::kCmdline, cmdline.c_str(), cmdline.size() + 1);
  if (!ok) return vmm_fail(VmmErrc::kMemory, "boot area below 64 KiB is not in guest RAM");
  return layout::kStartInfo;
}

}  // namespace flotilla::vmm
