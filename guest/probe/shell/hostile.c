#include "shell/hostile.h"

#include "hw/io.h"
#include "lib/lib.h"
#include "virtio/virtio_mmio.h"

const char* cmd_pio(int argc, char** argv, const char* rest) {
  (void)rest;
  uint64_t n;
  if (argc != 2 || parse_u64(argv[1], &n)) return "usage: pio N";
  for (uint64_t i = 0; i < n; ++i) outb(0x80, (uint8_t)i);
  kprintf("pio writes=%lu\r\n", n);
  return 0;
}

static int port_excluded(unsigned p) {
  return (p >= 0x3f8 && p <= 0x3ff) || p == 0xf4 || (p >= 0x60 && p <= 0x64) || p == 0x70 ||
         p == 0x71;
}

const char* cmd_ports(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  unsigned touched = 0;
  for (unsigned p = 0; p <= 0xffff; ++p) {
    if (port_excluded(p)) continue;
    (void)inb((uint16_t)p);
    outb((uint16_t)p, 0);
    ++touched;
  }
  kprintf("ports touched=%u\r\n", touched);
  return 0;
}

static void touch(uint64_t addr) {
  (void)mmio_read32(addr);
  mmio_write32(addr, 0);
}

const char* cmd_mmio(int argc, char** argv, const char* rest) {
  (void)argc, (void)argv, (void)rest;
  /* Nothing lives here in either monitor: below the 3-4 GiB hole's devices, between the
   * virtio window and the IOAPIC, and an empty virtio slot's device-config half. */
  static const uint64_t holes[] = {0xd0000000, 0xd0001000, 0xe0000000, 0xfe000000,
                                   0xfe001000, 0xfeb10000, 0xfebff000};
  unsigned touched = 0;
  for (unsigned i = 0; i < sizeof holes / sizeof holes[0]; ++i, ++touched) touch(holes[i]);
  uint32_t empty = virtio_empty_slots();
  for (unsigned slot = 0; slot < VIRTIO_MMIO_SLOTS; ++slot) {
    if (!(empty & (1u << slot))) continue;
    uint64_t base = VIRTIO_MMIO_WINDOW + (uint64_t)slot * VIRTIO_MMIO_SLOT_SIZE;
    for (uint64_t off = 0x100; off < VIRTIO_MMIO_SLOT_SIZE; off += 4, ++touched) touch(base + off);
    break;
  }
  kprintf("mmio touched=%u\r\n", touched);
  return 0;
}
