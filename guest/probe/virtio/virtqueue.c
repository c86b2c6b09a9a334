#include "virtio/virtqueue.h"

#include "hw/clock.h"
#include "hw/io.h"
#include "lib/lib.h"

#define POOL_PAGES 32

static uint8_t pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static unsigned pool_used;

int virtq_alloc(struct virtq* q) {
  if (pool_used >= POOL_PAGES) return -1;
  uint8_t* page = pool[pool_used++];
  memset(page, 0, 4096);
  /* desc: 16 * 128 = 2 KiB at 0; avail (6 + 2 * 128 = 262 bytes) at 2 KiB; used
   * (6 + 8 * 128 = 1030 bytes) at 2.5 KiB. */
  q->desc = (struct vring_desc*)page;
  q->avail = (struct vring_avail*)(page + 2048);
  q->used = (struct vring_used*)(page + 2560);
  q->size = 0;
  return 0;
}

void virtq_reset(struct virtq* q, uint16_t size) {
  q->size = size;
  for (uint16_t i = 0; i < size; ++i) q->desc[i].next = (uint16_t)(i + 1);
  q->free_head = 0;
  q->num_free = size;
  q->last_used = 0;
  q->avail_idx = 0;
}

int virtq_add(struct virtq* q, const struct virtq_buf* bufs, unsigned n) {
  if (!n || n > q->num_free) return -1;
  uint16_t head = q->free_head, id = head, last = head;
  for (unsigned i = 0; i < n; ++i) {
    struct vring_desc* d = &q->desc[id];
    d->addr = bufs[i].addr;
    d->len = bufs[i].len;
    d->flags = (bufs[i].writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
    last = id;
    id = d->next;
  }
  q->free_head = q->desc[last].next;
  q->num_free -= n;
  q->avail->ring[q->avail_idx & (q->size - 1)] = head;
  barrier(); /* x86 keeps stores in order; stop the compiler reordering them */
  q->avail_idx++;
  *(volatile uint16_t*)&q->avail->idx = q->avail_idx;
  mb();
  return head;
}

int virtq_get_used(struct virtq* q, uint32_t* len) {
  uint16_t used_idx = *(volatile uint16_t*)&q->used->idx;
  if (used_idx == q->last_used) return -1;
  barrier();
  struct vring_used_elem* e = &q->used->ring[q->last_used & (q->size - 1)];
  uint32_t id = e->id;
  if (len) *len = e->len;
  q->last_used++;
  if (id >= q->size) return -1; /* a device bug; never follow it */
  /* Return the chain to the free list. */
  uint16_t tail = (uint16_t)id;
  unsigned count = 1;
  while ((q->desc[tail].flags & VRING_DESC_F_NEXT) && count < q->size) {
    tail = q->desc[tail].next;
    ++count;
  }
  q->desc[tail].next = q->free_head;
  q->free_head = (uint16_t)id;
  q->num_free += count;
  return (int)id;
}

int virtq_wait_used(struct virtq* q, uint32_t* len, uint64_t timeout_us) {
  uint64_t deadline = rdtsc() + clock_info.tsc_hz / 1000000 * timeout_us;
  for (;;) {
    int id = virtq_get_used(q, len);
    if (id >= 0 || (int64_t)(rdtsc() - deadline) > 0) return id;
    cpu_relax();
  }
}
