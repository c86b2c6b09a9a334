/* What the probe keeps from the PVH hvm_start_info (copied before low memory is reused). */
#ifndef PROBE_HW_BOOT_INFO_H
#define PROBE_HW_BOOT_INFO_H

#include <stdint.h>

#define BOOT_MAX_MEMMAP 128
#define BOOT_MAX_CMDLINE 2048

struct boot_mem_region {
  uint64_t addr;
  uint64_t size;
  uint32_t type; /* 1 = RAM, 2 = reserved, 3 = ACPI, ... (e820 types) */
};

struct boot_info {
  int valid; /* magic matched */
  uint32_t version;
  uint64_t rsdp_paddr;
  uint32_t memmap_entries;
  struct boot_mem_region memmap[BOOT_MAX_MEMMAP];
  char cmdline[BOOT_MAX_CMDLINE + 1];
};

extern struct boot_info boot_info;

/* Copies start_info (physical address from %ebx at entry) into boot_info. */
void boot_info_init(uint64_t start_info_paddr);

#endif
