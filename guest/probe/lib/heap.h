/* A bump allocator for large buffers (virtio-blk data): the RAM above the image, in the boot
 * memory map's RAM region that holds the image's end, below 3 GiB (identity mapped). Never
 * freed. Physical = virtual, so what it returns can be handed to a device as is. */
#ifndef PROBE_LIB_HEAP_H
#define PROBE_LIB_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* `bytes` at `align` (a power of two), or 0 when the region is too small. */
void* heap_alloc(size_t bytes, size_t align);
/* Bytes still free (at 4 KiB alignment). */
uint64_t heap_free_bytes(void);

#endif
