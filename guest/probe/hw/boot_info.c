#include "hw/boot_info.h"

#include "lib/lib.h"

/* The PVH ABI's struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
struct hvm_start_info {
  uint32_t magic; /* 0x336ec578 */
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr; /* version >= 1 */
  uint32_t memmap_entries;
  uint32_t reserved;
};

struct hvm_memmap_table_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};

struct boot_info boot_info;

void boot_info_init(uint64_t paddr) {
  const struct hvm_start_info* si = (const struct hvm_start_info*)(uintptr_t)paddr;
  if (!si || si->magic != 0x336ec578) return;
  boot_info.valid = 1;
  boot_info.version = si->version;
  boot_info.rsdp_paddr = si->rsdp_paddr;
  if (si->cmdline_paddr) {
    const char* c = (const char*)(uintptr_t)si->cmdline_paddr;
    size_t n = 0;
    while (n < BOOT_MAX_CMDLINE && c[n]) ++n;
    memcpy(boot_info.cmdline, c, n);
  }
  if (si->version >= 1 && si->memmap_paddr) {
    const struct hvm_memmap_table_entry* e =
        (const struct hvm_memmap_table_entry*)(uintptr_t)si->memmap_paddr;
    uint32_t n = si->memmap_entries < BOOT_MAX_MEMMAP ? si->memmap_entries : BOOT_MAX_MEMMAP;
    for (uint32_t i = 0; i < n; ++i) {
      boot_info.memmap[i].addr = e[i].addr;
      boot_info.memmap[i].size = e[i].size;
      boot_info.memmap[i].type = e[i].type;
    }
    boot_info.memmap_entries = n;
  }
}
