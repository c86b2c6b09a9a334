#include "virtio/virtio_net.h"

#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <stddef.h>

#include "arch/layout.h"
#include "hw/apic.h"
#include "hw/boot_info.h"
#include "hw/io.h"
#include "hw/smp.h"
#include "lib/heap.h"
#include "lib/lib.h"

static struct net_dev devs[NET_MAX_DEVS];
static unsigned dev_count;
static int initialised;

static int has(const struct net_dev* d, unsigned feature) {
  return (d->vdev->features >> feature) & 1;
}

/* "a.b.c.d/n" at s (ends at a space or NUL); 0 on success. */
static int parse_cidr(const char* s, uint32_t* ip, uint8_t* prefix) {
  uint32_t v = 0;
  for (int part = 0; part < 4; ++part) {
    uint32_t octet = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4)
      octet = octet * 10 + (uint32_t)(*s++ - '0'), ++digits;
    if (!digits || octet > 255) return -1;
    v = v << 8 | octet;
    if (part < 3 && *s++ != '.') return -1;
  }
  uint32_t n = 32;
  if (*s == '/') {
    ++s;
    n = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 3) n = n * 10 + (uint32_t)(*s++ - '0'), ++digits;
    if (!digits || n > 32) return -1;
  }
  if (*s && *s != ' ' && *s != '\t') return -1;
  *ip = v;
  *prefix = (uint8_t)n;
  return 0;
}

/* The address of NIC i from the command line: `ip=` for NIC 0, `ip1=`, `ip2=`... after. */
static void address_from_cmdline(unsigned i, struct net_dev* d) {
  char key[8];
  if (i == 0)
    memcpy(key, "ip=", 4);
  else
    ksnprintf(key, sizeof key, "ip%u=", i);
  size_t klen = strlen(key);
  const char* c = boot_info.cmdline;
  while (*c) {
    while (*c == ' ' || *c == '\t') ++c;
    if (!memcmp(c, key, klen) && !parse_cidr(c + klen, &d->ip, &d->prefix)) return;
    while (*c && *c != ' ' && *c != '\t') ++c;
  }
}

static void rx_post(struct net_dev* d, int id) {
  struct virtq_buf b = {(uintptr_t)(d->rx_bufs + (uint64_t)id * NET_BUF_BYTES), NET_BUF_BYTES, 1};
  virtq_add(&d->rx, &b, 1);
  d->rx_pending_kick = 1;
}

/* The slot's interrupt line to VEC_NET (EOI only: it just ends the idle hlt). flotilla-vmm:
 * GSI 16 + slot on the IOAPIC at 0xfec00000. QEMU microvm with its 24 transports: GSI 24 + slot,
 * pin `slot` of the second IOAPIC the MADT lists with GSI base 24; its line is level and stays
 * high until InterruptACK, so the idle path acks after frames arrived (net_rx_interrupts). */
static void route_irq(struct virtio_dev* v) {
  uint64_t second = smp_madt_ioapic(24);
  if (second && ioapic_pins_at(second) > v->slot) {
    ioapic_route_at(second, v->slot, VEC_NET, lapic_id());
    return;
  }
  unsigned pin = 16 + v->slot;
  if (ioapic_pins() > pin) ioapic_route(pin, VEC_NET, lapic_id());
}

static int net_init(unsigned index, struct net_dev* d, struct virtio_dev* v) {
  d->vdev = v;
  if (virtio_begin_init(v, NET_WANTED_FEATURES) || virtio_setup_queue(v, 0, &d->rx) ||
      virtio_setup_queue(v, 1, &d->tx)) {
    virtio_fail(v);
    return -1;
  }
  d->rx_bufs = heap_alloc((uint64_t)d->rx.size * NET_BUF_BYTES, 4096);
  d->tx_bufs = heap_alloc((uint64_t)d->tx.size * NET_BUF_BYTES, 4096);
  if (!d->rx_bufs || !d->tx_bufs) {
    virtio_fail(v);
    return -1;
  }
  /* The probe polls; ask the device not to interrupt. */
  d->rx.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
  d->tx.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
  if (has(d, VIRTIO_NET_F_MAC))
    for (unsigned i = 0; i < 6; ++i)
      d->mac[i] = virtio_config_read8(v, offsetof(struct virtio_net_config, mac) + i);
  else
    memcpy(d->mac, "\x02\xf1\x0a\xff\x00", 5), d->mac[5] = (uint8_t)index;
  address_from_cmdline(index, d);
  /* Every receive buffer posted before DRIVER_OK (the device may take frames at once). */
  for (int id = 0; id < d->rx.size; ++id) rx_post(d, id);
  virtio_finish_init(v);
  d->rx_pending_kick = 0;
  virtio_notify(v, 0);
  route_irq(v);
  return 0;
}

unsigned net_count(void) {
  if (initialised) return dev_count;
  initialised = 1;
  struct virtio_dev* all;
  unsigned n = virtio_devices(&all); /* ascending slot order */
  for (unsigned i = 0; i < n && dev_count < NET_MAX_DEVS; ++i) {
    if (all[i].device_id != VIRTIO_ID_NET || all[i].version != 2 || all[i].claimed) continue;
    if (net_init(dev_count, &devs[dev_count], &all[i]) == 0) ++dev_count;
  }
  return dev_count;
}

struct net_dev* net_get(unsigned i) {
  return i < net_count() ? &devs[i] : 0;
}

int net_link_up(struct net_dev* d) {
  if (!has(d, VIRTIO_NET_F_STATUS)) return 1;
  uint32_t off = offsetof(struct virtio_net_config, status);
  uint16_t status =
      (uint16_t)(virtio_config_read8(d->vdev, off) | virtio_config_read8(d->vdev, off + 1) << 8);
  return status & VIRTIO_NET_S_LINK_UP;
}

void net_rx_interrupts(struct net_dev* d, int on) {
  *(volatile uint16_t*)&d->rx.avail->flags = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
  /* Frames came since the last ack: lower a level-triggered line (one exit), so the next used
   * buffer makes a new edge. Done before the caller's last poll, so nothing is missed. */
  if (on && d->rx_frames != d->rx_frames_acked) {
    d->rx_frames_acked = d->rx_frames;
    mmio_write32(d->vdev->base + VIRTIO_MMIO_INTERRUPT_ACK, 3);
  }
  mb(); /* visible before the caller polls the used ring one last time */
}

static int used_pending(const struct virtq* q) {
  return *(volatile uint16_t*)&q->used->idx != q->last_used;
}

void net_sleep(struct net_dev* d, int rx, int tx) {
  if (!lapic_timer_running()) { /* nothing would end the hlt but the device */
    cpu_relax();
    return;
  }
  /* A level line (QEMU) raised during an earlier sleep, or by frames the idle shell saw, stays
   * high until acked: without the ack the device's next used buffer makes no edge. */
  if (d->irq_maybe_high || d->rx_frames != d->rx_frames_acked) {
    d->irq_maybe_high = 0;
    d->rx_frames_acked = d->rx_frames;
    mmio_write32(d->vdev->base + VIRTIO_MMIO_INTERRUPT_ACK, 3);
  }
  if (rx) *(volatile uint16_t*)&d->rx.avail->flags = 0;
  if (tx) *(volatile uint16_t*)&d->tx.avail->flags = 0;
  mb(); /* flags visible before the last look at the used rings */
  if (!((rx && used_pending(&d->rx)) || (tx && used_pending(&d->tx)))) sys_idle();
  if (rx) *(volatile uint16_t*)&d->rx.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
  if (tx) *(volatile uint16_t*)&d->tx.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
  mb(); /* the flags are visible before the used rings are read (else a raise is missed) */
  /* Anything used while the flags were clear may have raised the line. */
  d->irq_maybe_high = (rx && used_pending(&d->rx)) || (tx && used_pending(&d->tx));
}

int net_rx_take(struct net_dev* d, const uint8_t** frame, uint32_t* len) {
  for (;;) {
    uint32_t written = 0;
    int id = virtq_get_used(&d->rx, &written);
    if (id < 0) return -1;
    const uint8_t* buf = d->rx_bufs + (uint64_t)id * NET_BUF_BYTES;
    const struct virtio_net_hdr_v1* h = (const struct virtio_net_hdr_v1*)buf;
    /* Each buffer holds a whole frame, so num_buffers is 1; anything else (or a length the
     * buffer cannot hold) is a device error: drop it and repost. */
    if (written < NET_HDR_BYTES + 14 || written > NET_BUF_BYTES || h->num_buffers > 1) {
      ++d->rx_dropped;
      rx_post(d, id);
      continue;
    }
    ++d->rx_frames;
    *frame = buf + NET_HDR_BYTES;
    *len = written - NET_HDR_BYTES;
    return id;
  }
}

void net_rx_release(struct net_dev* d, int id) {
  rx_post(d, id);
}

static void kick(struct net_dev* d, struct virtq* q, unsigned index) {
  mb(); /* the avail index is visible before the device's flags are read */
  if (!(*(volatile uint16_t*)&q->used->flags & VRING_USED_F_NO_NOTIFY))
    virtio_notify(d->vdev, index);
}

void net_rx_kick(struct net_dev* d) {
  if (!d->rx_pending_kick) return;
  d->rx_pending_kick = 0;
  kick(d, &d->rx, 0);
}

unsigned net_tx_reap(struct net_dev* d) {
  while (virtq_get_used(&d->tx, 0) >= 0) {
  }
  return d->tx.size - d->tx.num_free;
}

uint8_t* net_tx_alloc(struct net_dev* d) {
  if (!d->tx.num_free) net_tx_reap(d);
  if (!d->tx.num_free) return 0;
  return d->tx_bufs + (uint64_t)d->tx.free_head * NET_BUF_BYTES + NET_HDR_BYTES;
}

void net_tx_submit(struct net_dev* d, uint8_t* frame, uint32_t len) {
  uint8_t* buf = frame - NET_HDR_BYTES;
  memset(buf, 0, NET_HDR_BYTES); /* no offloads: flags 0, GSO_NONE, num_buffers 0 */
  struct virtq_buf b = {(uintptr_t)buf, NET_HDR_BYTES + len, 0};
  if (virtq_add(&d->tx, &b, 1) < 0) return;
  ++d->tx_frames;
  d->tx_pending_kick = 1;
}

void net_tx_kick(struct net_dev* d) {
  if (!d->tx_pending_kick) return;
  d->tx_pending_kick = 0;
  kick(d, &d->tx, 1);
}
