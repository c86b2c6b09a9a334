/* Split virtqueue (virtio 1.x 2.7): descriptor table, available and used rings in one page
 * from a static pool; the driver polls the used ring. Shared by every virtio driver. */
#ifndef PROBE_VIRTIO_VIRTQUEUE_H
#define PROBE_VIRTIO_VIRTQUEUE_H

#include <linux/virtio_ring.h>
#include <stdint.h>

#define VIRTQ_MAX_SIZE 128 /* rings of 128 entries fit one 4 KiB page (layout in virtqueue.c) */

struct virtq {
  uint16_t size; /* entries, a power of two <= VIRTQ_MAX_SIZE */
  uint16_t free_head;
  uint16_t num_free;
  uint16_t last_used;
  uint16_t avail_idx;
  struct vring_desc* desc;
  struct vring_avail* avail;
  struct vring_used* used;
};

/* One buffer of a chain: guest-physical address (= virtual here), length, device-writable. */
struct virtq_buf {
  uint64_t addr;
  uint32_t len;
  int writable;
};

/* Gives q a zeroed page for its rings; size is fixed later by virtio_setup_queue. */
int virtq_alloc(struct virtq* q);
/* Initialises the free list for `size` entries. */
void virtq_reset(struct virtq* q, uint16_t size);
/* Adds a chain (device-readable buffers first, then writable ones) and publishes it in the
 * available ring. Returns the head descriptor id, or -1 if the ring is full. */
int virtq_add(struct virtq* q, const struct virtq_buf* bufs, unsigned n);
/* Takes the next used element: returns its head id and stores the written length, or -1. */
int virtq_get_used(struct virtq* q, uint32_t* len);
/* Polls the used ring for up to `timeout_us` (TSC); returns like virtq_get_used. */
int virtq_wait_used(struct virtq* q, uint32_t* len, uint64_t timeout_us);

#endif
