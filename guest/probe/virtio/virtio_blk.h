/* virtio-blk (device id 2, virtio 1.x 5.2): every disk found in the virtio-mmio slots, one
 * request queue each, driven by polling from ring 3.
 *
 * The driver is an engine, not a block layer: callers submit requests (several may be in
 * flight), kick the device once per batch and reap completions from the used ring. A request
 * is the header, up to BLK_MAX_SEGS data segments (each at most size_max bytes when the device
 * sets VIRTIO_BLK_F_SIZE_MAX) and the status byte, so it takes 2 + segments descriptors.
 *
 * The probe is a test tool: it sends what it is asked to even when the device says it cannot
 * take it (a write to a read-only disk, a range past the capacity, discard without the
 * feature), so the device's own checks are what the tests see. */
#ifndef PROBE_VIRTIO_VIRTIO_BLK_H
#define PROBE_VIRTIO_VIRTIO_BLK_H

#include <linux/virtio_blk.h>
#include <stdint.h>

#include "virtio/virtio_mmio.h"
#include "virtio/virtqueue.h"

#define BLK_MAX_DEVS 16
#define BLK_MAX_SEGS 32
#define BLK_SECTOR 512u
/* The largest request the probe builds (and the seq bench's request size). */
#define BLK_MAX_REQUEST_BYTES (1u << 20)

/* Per request: indexed by the head descriptor of its chain. Lives in guest memory because the
 * header, the discard/write-zeroes range and the status byte are buffers the device reads or
 * writes. */
struct blk_slot {
  struct virtio_blk_outhdr hdr;
  struct virtio_blk_discard_write_zeroes range;
  uint64_t tag;
  uint32_t bytes;
  uint8_t status;
};

struct blk_dev {
  struct virtio_dev* vdev;
  struct virtq q;
  uint64_t sectors;  /* capacity in 512-byte sectors */
  uint32_t size_max; /* 0 = no per-segment limit */
  uint32_t seg_max;  /* 0 = not offered */
  uint32_t blk_size;
  uint32_t max_discard_sectors;      /* 0 = not offered */
  uint32_t max_write_zeroes_sectors; /* 0 = not offered */
  int ro;
  char id[VIRTIO_BLK_ID_BYTES + 1]; /* serial from GET_ID, "" if none */
  unsigned inflight;
  int pending_kick;
  int event_idx;       /* VIRTIO_RING_F_EVENT_IDX negotiated */
  uint16_t kicked_idx; /* avail idx at the last blk_kick (EVENT_IDX's "old") */
  struct blk_slot slots[VIRTQ_MAX_SIZE];
};

struct blk_done {
  uint64_t tag;
  uint64_t lba;
  uint32_t bytes;
  uint8_t status; /* VIRTIO_BLK_S_OK / IOERR / UNSUPP, or 0xff: the device broke the protocol */
};

/* The features the driver asks for (the device's offer is ANDed in). */
#define BLK_WANTED_FEATURES                                                                       \
  ((1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_RO) | \
   (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |                               \
   (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |                         \
   (1ull << VIRTIO_RING_F_EVENT_IDX))

/* Finds and initialises every modern virtio-blk device once (ascending slot order); returns
 * how many work. Disk i is blk_get(i). */
unsigned blk_count(void);
struct blk_dev* blk_get(unsigned i);
/* How many data bytes one request may carry (a multiple of 512, at most
 * BLK_MAX_REQUEST_BYTES), and how many requests of `bytes` fit in the ring at once. */
uint32_t blk_max_request_bytes(const struct blk_dev* d);
unsigned blk_max_depth(const struct blk_dev* d, uint32_t bytes);
/* Queues a read (VIRTIO_BLK_T_IN), write (OUT), flush (FLUSH: lba and buf ignored) request.
 * Returns 0, or -1 when the ring has no room. Nothing reaches the device before blk_kick. */
int blk_submit(struct blk_dev* d, uint32_t type, uint64_t lba, void* buf, uint32_t bytes,
               uint64_t tag);
/* Queues a DISCARD or WRITE_ZEROES of `sectors` from lba (one range). */
int blk_submit_range(struct blk_dev* d, uint32_t type, uint64_t lba, uint32_t sectors,
                     uint64_t tag);
/* Notifies the device of what was queued, unless it said it is polling (VRING_USED_F_NO_NOTIFY). */
void blk_kick(struct blk_dev* d);
/* Takes one completion: 1 and *out filled, or 0 when none is ready. */
int blk_reap(struct blk_dev* d, struct blk_done* out);
/* Spins on blk_reap for up to timeout_us (TSC): 1, or 0 on timeout. */
int blk_wait(struct blk_dev* d, struct blk_done* out, uint64_t timeout_us);

#endif
