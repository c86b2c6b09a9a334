/* virtio-mmio transport (virtio 1.x "modern", version register 2): discovery across the 24
 * slots at 0xfeb00000 + i * 0x200 and the device initialisation sequence. Device drivers
 * (virtio_rng.c; blk, net, console later) sit on top of this and virtqueue.h. */
#ifndef PROBE_VIRTIO_VIRTIO_MMIO_H
#define PROBE_VIRTIO_VIRTIO_MMIO_H

#include <stdint.h>

#include "virtio/virtqueue.h"

#define VIRTIO_MMIO_WINDOW 0xfeb00000ull
#define VIRTIO_MMIO_SLOT_SIZE 0x200
#define VIRTIO_MMIO_SLOTS 24

struct virtio_dev {
  uint64_t base;
  unsigned slot;
  uint32_t device_id; /* VIRTIO_ID_* from <linux/virtio_ids.h> */
  uint32_t version;   /* 2 = modern; legacy (1) devices are listed but not driven */
  uint64_t features;  /* negotiated */
  int claimed;        /* a driver owns it */
};

/* Scans every slot once (cached); returns the devices found (magic ok, device id != 0). */
unsigned virtio_devices(struct virtio_dev** out);
/* First unclaimed modern device with this id, or 0. */
struct virtio_dev* virtio_find(uint32_t device_id);
/* A legacy (version 1) device with this id, which the probe does not drive, or 0. */
struct virtio_dev* virtio_find_legacy(uint32_t device_id);
/* Bitmask of slots whose magic/device id read as empty (for the hostile `mmio` command). */
uint32_t virtio_empty_slots(void);

/* Reset, ACKNOWLEDGE, DRIVER, feature negotiation (VERSION_1 | wanted & offered),
 * FEATURES_OK. Returns 0, or -1 (the device is then marked FAILED). */
int virtio_begin_init(struct virtio_dev* d, uint64_t wanted_features);
/* Sizes queue `index` (at most the device's maximum and q's capacity), gives its rings to the
 * device and enables it. Returns 0 or -1. */
int virtio_setup_queue(struct virtio_dev* d, unsigned index, struct virtq* q);
/* DRIVER_OK: the device is live. */
void virtio_finish_init(struct virtio_dev* d);
void virtio_fail(struct virtio_dev* d);
void virtio_notify(struct virtio_dev* d, unsigned queue_index);
/* Device-specific configuration space (offset 0x100 + off). read64 retries until the
 * ConfigGeneration register is stable around both halves. */
uint8_t virtio_config_read8(struct virtio_dev* d, uint32_t off);
uint32_t virtio_config_read32(struct virtio_dev* d, uint32_t off);
uint64_t virtio_config_read64(struct virtio_dev* d, uint32_t off);

#endif
