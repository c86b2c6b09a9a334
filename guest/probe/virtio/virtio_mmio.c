#include "virtio/virtio_mmio.h"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "hw/io.h"

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */

static struct virtio_dev devices[VIRTIO_MMIO_SLOTS];
static unsigned device_count;
static uint32_t empty_slots;
static int scanned;

static uint32_t rd(struct virtio_dev* d, uint32_t off) {
  return mmio_read32(d->base + off);
}
static void wr(struct virtio_dev* d, uint32_t off, uint32_t v) {
  mmio_write32(d->base + off, v);
}

static void scan(void) {
  if (scanned) return;
  scanned = 1;
  for (unsigned i = 0; i < VIRTIO_MMIO_SLOTS; ++i) {
    uint64_t base = VIRTIO_MMIO_WINDOW + (uint64_t)i * VIRTIO_MMIO_SLOT_SIZE;
    uint32_t id = 0;
    if (mmio_read32(base + VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC)
      id = mmio_read32(base + VIRTIO_MMIO_DEVICE_ID);
    if (!id) {
      empty_slots |= 1u << i;
      continue;
    }
    struct virtio_dev* d = &devices[device_count++];
    d->base = base;
    d->slot = i;
    d->device_id = id;
    d->version = mmio_read32(base + VIRTIO_MMIO_VERSION);
  }
}

unsigned virtio_devices(struct virtio_dev** out) {
  scan();
  if (out) *out = devices;
  return device_count;
}

struct virtio_dev* virtio_find(uint32_t device_id) {
  scan();
  for (unsigned i = 0; i < device_count; ++i)
    if (devices[i].device_id == device_id && devices[i].version == 2 && !devices[i].claimed)
      return &devices[i];
  return 0;
}

struct virtio_dev* virtio_find_legacy(uint32_t device_id) {
  scan();
  for (unsigned i = 0; i < device_count; ++i)
    if (devices[i].device_id == device_id && devices[i].version == 1) return &devices[i];
  return 0;
}

uint32_t virtio_empty_slots(void) {
  scan();
  return empty_slots;
}

void virtio_fail(struct virtio_dev* d) {
  wr(d, VIRTIO_MMIO_STATUS, rd(d, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_FAILED);
}

int virtio_begin_init(struct virtio_dev* d, uint64_t wanted) {
  wr(d, VIRTIO_MMIO_STATUS, 0);
  for (unsigned i = 0; i < 1000 && rd(d, VIRTIO_MMIO_STATUS); ++i) cpu_relax();
  if (rd(d, VIRTIO_MMIO_STATUS)) return -1;
  uint32_t status = VIRTIO_CONFIG_S_ACKNOWLEDGE;
  wr(d, VIRTIO_MMIO_STATUS, status);
  status |= VIRTIO_CONFIG_S_DRIVER;
  wr(d, VIRTIO_MMIO_STATUS, status);

  wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  uint64_t offered = rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
  wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  offered |= (uint64_t)rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
  uint64_t version1 = 1ull << VIRTIO_F_VERSION_1;
  if (!(offered & version1)) {
    virtio_fail(d);
    return -1;
  }
  d->features = (wanted & offered) | version1;
  wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
  wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
  wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
  status |= VIRTIO_CONFIG_S_FEATURES_OK;
  wr(d, VIRTIO_MMIO_STATUS, status);
  if (!(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK)) {
    virtio_fail(d);
    return -1;
  }
  d->claimed = 1;
  return 0;
}

int virtio_setup_queue(struct virtio_dev* d, unsigned index, struct virtq* q) {
  wr(d, VIRTIO_MMIO_QUEUE_SEL, index);
  if (rd(d, VIRTIO_MMIO_QUEUE_READY)) return -1;
  uint32_t max = rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
  if (!max) return -1;
  uint16_t size = VIRTQ_MAX_SIZE;
  while (size > max) size >>= 1; /* a power of two the device accepts */
  if (!q->desc && virtq_alloc(q)) return -1;
  virtq_reset(q, size);
  wr(d, VIRTIO_MMIO_QUEUE_NUM, size);
  uint64_t desc = (uintptr_t)q->desc, avail = (uintptr_t)q->avail, used = (uintptr_t)q->used;
  wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
  wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
  wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
  wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
  wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
  wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
  wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
  return 0;
}

void virtio_finish_init(struct virtio_dev* d) {
  wr(d, VIRTIO_MMIO_STATUS, rd(d, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

void virtio_notify(struct virtio_dev* d, unsigned queue_index) {
  wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, queue_index);
}

uint32_t virtio_config_read32(struct virtio_dev* d, uint32_t off) {
  return rd(d, VIRTIO_MMIO_CONFIG + off);
}

uint8_t virtio_config_read8(struct virtio_dev* d, uint32_t off) {
  return mmio_read8(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint64_t virtio_config_read64(struct virtio_dev* d, uint32_t off) {
  for (;;) {
    uint32_t gen = rd(d, VIRTIO_MMIO_CONFIG_GENERATION);
    uint64_t v = rd(d, VIRTIO_MMIO_CONFIG + off) | (uint64_t)rd(d, VIRTIO_MMIO_CONFIG + off + 4)
                                                       << 32;
    if (rd(d, VIRTIO_MMIO_CONFIG_GENERATION) == gen) return v;
  }
}
