#include "lib/heap.h"

#include "hw/boot_info.h"

extern char _end[]; /* arch/probe.ld: end of .bss */

static uint64_t next, limit;
static int ready;

static void heap_init(void) {
  ready = 1;
  uint64_t start = ((uint64_t)(uintptr_t)_end + 0xfff) & ~0xfffull;
  for (uint32_t i = 0; i < boot_info.memmap_entries; ++i) {
    const struct boot_mem_region* r = &boot_info.memmap[i];
    if (r->type != 1 || start < r->addr || start >= r->addr + r->size) continue;
    uint64_t end = r->addr + r->size;
    if (end > 0xc0000000ull) end = 0xc0000000ull; /* 3 GiB: RAM mapped cacheable */
    next = start;
    limit = end;
  }
}

void* heap_alloc(size_t bytes, size_t align) {
  if (!ready) heap_init();
  uint64_t p = (next + align - 1) & ~(uint64_t)(align - 1);
  if (!next || p + bytes > limit || p + bytes < p) return 0;
  next = p + bytes;
  return (void*)(uintptr_t)p;
}

uint64_t heap_free_bytes(void) {
  if (!ready) heap_init();
  uint64_t p = (next + 0xfff) & ~0xfffull;
  return next && p < limit ? limit - p : 0;
}
