#include "virtio/virtio_rng.h"

#include <linux/virtio_ids.h>

#include "virtio/virtio_mmio.h"

static struct virtio_dev* dev;
static struct virtq requestq;
static int state; /* 0 not tried, 1 ready, -1 absent, -2 broken */
static uint8_t bounce[4096] __attribute__((aligned(64)));

static int rng_init(void) {
  dev = virtio_find(VIRTIO_ID_RNG);
  if (!dev) return virtio_find_legacy(VIRTIO_ID_RNG) ? -3 : -1;
  if (virtio_begin_init(dev, 0) || virtio_setup_queue(dev, 0, &requestq)) {
    virtio_fail(dev);
    return -2;
  }
  virtio_finish_init(dev);
  return 1;
}

int virtio_rng_read(uint8_t* buf, size_t n) {
  if (!state) state = rng_init();
  if (state < 0) return state;
  size_t got = 0;
  unsigned empty_replies = 0;
  while (got < n) {
    size_t want = n - got < sizeof bounce ? n - got : sizeof bounce;
    struct virtq_buf b = {(uintptr_t)bounce, (uint32_t)want, 1};
    if (virtq_add(&requestq, &b, 1) < 0) return -2;
    virtio_notify(dev, 0);
    /* Poll the used ring; give the device a second before calling it broken. */
    uint32_t len = 0;
    if (virtq_wait_used(&requestq, &len, 1000000) < 0) {
      state = -2;
      return -2;
    }
    if (len > want || (!len && ++empty_replies > 100)) {
      state = -2; /* a device that lies about lengths or never fills is broken */
      return -2;
    }
    for (uint32_t i = 0; i < len; ++i) buf[got + i] = bounce[i];
    got += len;
  }
  return (int)n;
}
