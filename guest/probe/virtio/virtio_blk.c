#include "virtio/virtio_blk.h"

#include <linux/virtio_ids.h>
#include <stddef.h>

#include "hw/clock.h"
#include "hw/io.h"
#include "lib/lib.h"

static struct blk_dev devs[BLK_MAX_DEVS];
static unsigned dev_count;
static int initialised;

#define CFG(field) offsetof(struct virtio_blk_config, field)

static int has(const struct blk_dev* d, unsigned feature) {
  return (d->vdev->features >> feature) & 1;
}

/* EVENT_IDX: the device interrupts when its used index passes used_event (the avail ring's
 * extra entry); keeping it 0x7fff past what the driver has consumed means never. */
static void set_used_event(struct blk_dev* d) {
  if (d->event_idx)
    *(volatile uint16_t*)&d->q.avail->ring[d->q.size] = (uint16_t)(d->q.last_used + 0x7fff);
}

/* GET_ID: the serial, up to 20 bytes, NUL-padded when shorter. */
static void read_id(struct blk_dev* d) {
  static uint8_t id[VIRTIO_BLK_ID_BYTES] __attribute__((aligned(64)));
  memset(id, 0, sizeof id);
  d->id[0] = 0;
  if (blk_submit(d, VIRTIO_BLK_T_GET_ID, 0, id, sizeof id, 0)) return;
  blk_kick(d);
  struct blk_done done;
  if (!blk_wait(d, &done, 1000000) || done.status != VIRTIO_BLK_S_OK) return;
  unsigned n = 0;
  for (; n < sizeof id && id[n]; ++n) d->id[n] = id[n] > 0x20 && id[n] < 0x7f ? (char)id[n] : '?';
  d->id[n] = 0;
}

static int blk_init(struct blk_dev* d, struct virtio_dev* v) {
  d->vdev = v;
  if (virtio_begin_init(v, BLK_WANTED_FEATURES) || virtio_setup_queue(v, 0, &d->q)) {
    virtio_fail(v);
    return -1;
  }
  /* The probe polls: ask the device not to interrupt (it may anyway; the pin is not routed).
   * With EVENT_IDX the flag is ignored and used_event is kept half the index space ahead. */
  d->q.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
  d->event_idx = has(d, VIRTIO_RING_F_EVENT_IDX);
  set_used_event(d);
  d->sectors = virtio_config_read64(v, CFG(capacity));
  d->size_max = has(d, VIRTIO_BLK_F_SIZE_MAX) ? virtio_config_read32(v, CFG(size_max)) : 0;
  d->seg_max = has(d, VIRTIO_BLK_F_SEG_MAX) ? virtio_config_read32(v, CFG(seg_max)) : 0;
  d->blk_size = has(d, VIRTIO_BLK_F_BLK_SIZE) ? virtio_config_read32(v, CFG(blk_size)) : 512;
  d->max_discard_sectors =
      has(d, VIRTIO_BLK_F_DISCARD) ? virtio_config_read32(v, CFG(max_discard_sectors)) : 0;
  d->max_write_zeroes_sectors = has(d, VIRTIO_BLK_F_WRITE_ZEROES)
                                    ? virtio_config_read32(v, CFG(max_write_zeroes_sectors))
                                    : 0;
  d->ro = has(d, VIRTIO_BLK_F_RO);
  virtio_finish_init(v);
  read_id(d);
  return 0;
}

unsigned blk_count(void) {
  if (initialised) return dev_count;
  initialised = 1;
  struct virtio_dev* all;
  unsigned n = virtio_devices(&all); /* ascending slot order */
  for (unsigned i = 0; i < n && dev_count < BLK_MAX_DEVS; ++i) {
    if (all[i].device_id != VIRTIO_ID_BLOCK || all[i].version != 2 || all[i].claimed) continue;
    if (blk_init(&devs[dev_count], &all[i]) == 0) ++dev_count;
  }
  return dev_count;
}

struct blk_dev* blk_get(unsigned i) {
  return i < blk_count() ? &devs[i] : 0;
}

static unsigned max_segs(const struct blk_dev* d) {
  unsigned segs = BLK_MAX_SEGS;
  if (d->seg_max && d->seg_max < segs) segs = d->seg_max;
  if (segs + 2 > d->q.size) segs = d->q.size - 2;
  return segs;
}

uint32_t blk_max_request_bytes(const struct blk_dev* d) {
  uint64_t bytes = BLK_MAX_REQUEST_BYTES;
  if (d->size_max) {
    uint64_t seg = d->size_max & ~(uint64_t)(BLK_SECTOR - 1); /* whole sectors per segment */
    if (!seg) seg = BLK_SECTOR;
    if (seg * max_segs(d) < bytes) bytes = seg * max_segs(d);
  }
  return (uint32_t)bytes;
}

static unsigned segs_for(const struct blk_dev* d, uint32_t bytes) {
  if (!bytes) return 0;
  if (!d->size_max) return 1;
  uint32_t seg = d->size_max & ~(BLK_SECTOR - 1);
  if (!seg) seg = BLK_SECTOR;
  return (bytes + seg - 1) / seg;
}

unsigned blk_max_depth(const struct blk_dev* d, uint32_t bytes) {
  return d->q.size / (2 + segs_for(d, bytes));
}

static int add_chain(struct blk_dev* d, const struct virtq_buf* bufs, unsigned n,
                     struct blk_slot** slot_out) {
  int head = virtq_add(&d->q, bufs, n);
  if (head < 0) return -1;
  *slot_out = &d->slots[head];
  ++d->inflight;
  d->pending_kick = 1;
  return 0;
}

int blk_submit(struct blk_dev* d, uint32_t type, uint64_t lba, void* buf, uint32_t bytes,
               uint64_t tag) {
  unsigned segs = segs_for(d, bytes);
  if (segs > max_segs(d) || segs + 2 > d->q.num_free) return -1;
  /* The slot is chosen by the head descriptor, which is known before the chain is added. */
  struct blk_slot* s = &d->slots[d->q.free_head];
  s->hdr.type = type;
  s->hdr.ioprio = 0;
  s->hdr.sector = type == VIRTIO_BLK_T_FLUSH ? 0 : lba;
  s->tag = tag;
  s->bytes = bytes;
  s->status = 0xff;
  struct virtq_buf b[BLK_MAX_SEGS + 2];
  unsigned n = 0;
  b[n++] = (struct virtq_buf){(uintptr_t)&s->hdr, sizeof s->hdr, 0};
  int writable = type != VIRTIO_BLK_T_OUT; /* IN and GET_ID: the device fills the data */
  uint32_t seg = d->size_max ? (d->size_max & ~(BLK_SECTOR - 1)) : bytes;
  if (!seg) seg = BLK_SECTOR;
  for (uint32_t off = 0; off < bytes; off += seg) {
    uint32_t len = bytes - off < seg ? bytes - off : seg;
    b[n++] = (struct virtq_buf){(uintptr_t)buf + off, len, writable};
  }
  b[n++] = (struct virtq_buf){(uintptr_t)&s->status, 1, 1};
  struct blk_slot* added;
  if (add_chain(d, b, n, &added)) return -1;
  return 0;
}

int blk_submit_range(struct blk_dev* d, uint32_t type, uint64_t lba, uint32_t sectors,
                     uint64_t tag) {
  if (d->q.num_free < 3) return -1;
  struct blk_slot* s = &d->slots[d->q.free_head];
  s->hdr.type = type;
  s->hdr.ioprio = 0;
  s->hdr.sector = 0; /* the range carries the sector (5.2.6) */
  s->range.sector = lba;
  s->range.num_sectors = sectors;
  s->range.flags = 0;
  s->tag = tag;
  s->bytes = 0;
  s->status = 0xff;
  struct virtq_buf b[3] = {{(uintptr_t)&s->hdr, sizeof s->hdr, 0},
                           {(uintptr_t)&s->range, sizeof s->range, 0},
                           {(uintptr_t)&s->status, 1, 1}};
  struct blk_slot* added;
  return add_chain(d, b, 3, &added);
}

void blk_kick(struct blk_dev* d) {
  if (!d->pending_kick) return;
  d->pending_kick = 0;
  mb(); /* the avail index is visible before we read the device's avail_event / flags */
  uint16_t old = d->kicked_idx, now = d->q.avail_idx;
  d->kicked_idx = now;
  int notify;
  if (d->event_idx) {
    uint16_t avail_event = *(volatile uint16_t*)&d->q.used->ring[d->q.size];
    notify = (uint16_t)(now - avail_event - 1) < (uint16_t)(now - old); /* vring_need_event */
  } else {
    notify = !(*(volatile uint16_t*)&d->q.used->flags & VRING_USED_F_NO_NOTIFY);
  }
  if (notify) virtio_notify(d->vdev, 0);
}

int blk_reap(struct blk_dev* d, struct blk_done* out) {
  uint32_t len = 0;
  int head = virtq_get_used(&d->q, &len);
  if (head < 0) return 0;
  struct blk_slot* s = &d->slots[head];
  --d->inflight;
  set_used_event(d);
  out->tag = s->tag;
  out->lba = s->hdr.type == VIRTIO_BLK_T_DISCARD || s->hdr.type == VIRTIO_BLK_T_WRITE_ZEROES
                 ? s->range.sector
                 : s->hdr.sector;
  out->bytes = s->bytes;
  out->status = *(volatile uint8_t*)&s->status;
  return 1;
}

int blk_wait(struct blk_dev* d, struct blk_done* out, uint64_t timeout_us) {
  if (blk_reap(d, out)) return 1;
  uint64_t deadline = rdtsc() + clock_info.tsc_hz / 1000000 * timeout_us;
  for (;;) {
    if (blk_reap(d, out)) return 1;
    if ((int64_t)(rdtsc() - deadline) > 0) return 0;
    cpu_relax();
  }
}
