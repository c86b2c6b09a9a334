/* virtio-rng (device id 4): one request queue of device-writable buffers. */
#ifndef PROBE_VIRTIO_VIRTIO_RNG_H
#define PROBE_VIRTIO_VIRTIO_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n random bytes from the device (initialised on first use).
 * Returns n, -1 if there is no virtio-rng device, -2 if the device misbehaves, -3 if there
 * is only a legacy (virtio-mmio version 1) one. */
int virtio_rng_read(uint8_t* buf, size_t n);

#endif
