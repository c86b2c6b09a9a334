#include "hw/apic.h"

#include "arch/layout.h"
#include "hw/io.h"

static int timer_running;

uint32_t lapic_read(uint32_t reg) {
  return mmio_read32(LAPIC_BASE + reg);
}
void lapic_write(uint32_t reg, uint32_t v) {
  mmio_write32(LAPIC_BASE + reg, v);
}
uint32_t lapic_id(void) {
  return lapic_read(kLapicId) >> 24;
}

void lapic_init(void) {
  outb(0x21, 0xff); /* mask both 8259s: the IOAPIC delivers everything we use */
  outb(0xa1, 0xff);
  /* LINT0/LINT1 masked: a monitor may have set them to ExtINT/NMI, and the `ports` command
   * reprograms the 8259s (vector base 0 would land on #DE). */
  lapic_write(kLapicLvtLint0, 1u << 16);
  lapic_write(kLapicLvtLint1, 1u << 16);
  lapic_write(kLapicSvr, 0x100 | VEC_SPURIOUS);
  lapic_write(kLapicTpr, 0);
}

void lapic_timer_start(uint64_t timer_hz, uint32_t hz) {
  uint64_t count = timer_hz / hz;
  if (!count || count > 0xffffffffu) return;
  lapic_write(kLapicTimerDivide, 0x3);                 /* divide by 16 */
  lapic_write(kLapicLvtTimer, (1u << 17) | VEC_TIMER); /* periodic */
  lapic_write(kLapicTimerInit, (uint32_t)count);
  timer_running = 1;
}

int lapic_timer_running(void) {
  return timer_running;
}

void lapic_send_ipi(uint32_t dest_apic_id, uint32_t icr_low) {
  lapic_write(kLapicIcrHigh, dest_apic_id << 24);
  lapic_write(kLapicIcrLow, icr_low);
  for (unsigned i = 0; i < 100000 && (lapic_read(kLapicIcrLow) & (1u << 12)); ++i) cpu_relax();
}

static uint32_t ioapic_read(uint64_t base, uint32_t index) {
  mmio_write32(base, index);
  return mmio_read32(base + 0x10);
}

static void ioapic_write(uint64_t base, uint32_t index, uint32_t v) {
  mmio_write32(base, index);
  mmio_write32(base + 0x10, v);
}

unsigned ioapic_pins_at(uint64_t base) {
  uint32_t ver = ioapic_read(base, 1);
  if (ver == 0xffffffffu || ver == 0) return 0;
  return ((ver >> 16) & 0xff) + 1;
}

void ioapic_route_at(uint64_t base, unsigned pin, uint8_t vector, uint32_t dest_apic_id) {
  ioapic_write(base, 0x11 + 2 * pin, dest_apic_id << 24);
  ioapic_write(base, 0x10 + 2 * pin, vector);
}

unsigned ioapic_pins(void) {
  return ioapic_pins_at(IOAPIC_BASE);
}

void ioapic_route(unsigned pin, uint8_t vector, uint32_t dest_apic_id) {
  ioapic_route_at(IOAPIC_BASE, pin, vector, dest_apic_id);
}
