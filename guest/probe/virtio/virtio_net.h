/* virtio-net (device id 1, virtio 1.x 5.1): every NIC found in the virtio-mmio slots (ascending
 * slot order), one receive queue (0) and one transmit queue (1) each, driven by polling from
 * ring 3. No offloads: the driver asks for VERSION_1, MAC, STATUS and MRG_RXBUF only, so every
 * frame is preceded by the 12-byte virtio_net_hdr_v1 and carries a complete checksum.
 *
 * RX: every descriptor of the receive ring holds one 2 KiB buffer (12-byte header + a
 * 1514-byte frame fit), kept posted; a consumed buffer goes straight back to the ring.
 * TX: one 2 KiB buffer per descriptor, header and frame in one device-readable descriptor
 * (VERSION_1 implies any layout); slots are reused once the device has returned them. */
#ifndef PROBE_VIRTIO_VIRTIO_NET_H
#define PROBE_VIRTIO_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <stdint.h>

#include "virtio/virtio_mmio.h"
#include "virtio/virtqueue.h"

#define NET_MAX_DEVS 4
#define NET_BUF_BYTES 2048u
#define NET_HDR_BYTES 12u /* sizeof(struct virtio_net_hdr_v1) */
#define NET_MAX_FRAME 1514u

#define NET_WANTED_FEATURES \
  ((1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MRG_RXBUF))

struct net_dev {
  struct virtio_dev* vdev;
  struct virtq rx, tx;
  uint8_t* rx_bufs; /* rx.size buffers of NET_BUF_BYTES, indexed by descriptor id */
  uint8_t* tx_bufs; /* tx.size buffers, indexed by descriptor id */
  uint8_t mac[6];
  uint32_t ip;    /* host byte order, 0 = none */
  uint8_t prefix; /* ip's prefix length */
  int rx_pending_kick, tx_pending_kick;
  uint64_t rx_frames, tx_frames, rx_dropped;
  uint64_t rx_frames_acked; /* rx_frames at the last InterruptACK */
  int irq_maybe_high;       /* the device may have raised its line during net_sleep */
};

/* Finds and initialises every modern virtio-net device once; returns how many work. */
unsigned net_count(void);
struct net_dev* net_get(unsigned i);
/* Link state from the config space (up when STATUS was not negotiated). */
int net_link_up(struct net_dev* d);

/* Takes the next received frame: returns its buffer id (>= 0) and points *frame and *len at the
 * Ethernet frame (header stripped), or -1 when none is ready. Give it back with
 * net_rx_release; net_rx_kick tells the device about released buffers. */
int net_rx_take(struct net_dev* d, const uint8_t** frame, uint32_t* len);
void net_rx_release(struct net_dev* d, int id);
void net_rx_kick(struct net_dev* d);

/* Idle wake-up: with `on`, the device may interrupt when it fills a receive buffer (the idle
 * shell sleeps in hlt until then); off while commands run, which poll. net_count() routes IOAPIC
 * pin 16 + slot (flotilla-vmm's virtio-mmio lines), or pin `slot` of a second IOAPIC with GSI
 * base 24 in the MADT (QEMU microvm), to VEC_NET; without either the next timer tick wakes. */
void net_rx_interrupts(struct net_dev* d, int on);

/* Sleeps in ring 0 (hlt) until the device returns a buffer on the receive ring (rx) and/or the
 * transmit ring (tx), or the next timer tick: the rings ask for interrupts only meanwhile.
 * Returns at once when something is already there. For waits inside commands: a spinning
 * vCPU takes the host CPU the monitor's I/O thread needs to make progress (2 cores). */
void net_sleep(struct net_dev* d, int rx, int tx);

/* A free transmit buffer to build a frame of up to NET_MAX_FRAME bytes in (reaping what the
 * device finished first), or 0 when the ring is full. net_tx_submit queues it (it must be the
 * buffer net_tx_alloc just returned); net_tx_kick notifies the device once per batch. */
uint8_t* net_tx_alloc(struct net_dev* d);
void net_tx_submit(struct net_dev* d, uint8_t* frame, uint32_t len);
void net_tx_kick(struct net_dev* d);
/* Reaps finished transmissions; returns how many are still with the device. */
unsigned net_tx_reap(struct net_dev* d);

#endif
