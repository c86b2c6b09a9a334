/* Local APIC (xAPIC MMIO at 0xfee00000) and IOAPIC (0xfec00000), programmed from ring 3. */
#ifndef PROBE_HW_APIC_H
#define PROBE_HW_APIC_H

#include <stdint.h>

enum {
  kLapicId = 0x20,
  kLapicTpr = 0x80,
  kLapicSvr = 0xf0,
  kLapicIcrLow = 0x300,
  kLapicIcrHigh = 0x310,
  kLapicLvtTimer = 0x320,
  kLapicLvtLint0 = 0x350,
  kLapicLvtLint1 = 0x360,
  kLapicLvtError = 0x370,
  kLapicTimerInit = 0x380,
  kLapicTimerCurrent = 0x390,
  kLapicTimerDivide = 0x3e0,
};

uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
uint32_t lapic_id(void);

/* Software-enables the BSP's LAPIC (SVR, TPR 0) and masks the legacy PIC. */
void lapic_init(void);
/* Periodic LAPIC timer at `hz` on VEC_TIMER, given the timer's input clock (after divide). */
void lapic_timer_start(uint64_t timer_hz, uint32_t hz);
int lapic_timer_running(void);

/* Sends an IPI; waits for the delivery-status bit to clear. */
void lapic_send_ipi(uint32_t dest_apic_id, uint32_t icr_low);

/* Number of IOAPIC redirection entries (0 if no IOAPIC answers). */
unsigned ioapic_pins(void);
/* Routes pin to vector on `dest_apic_id`: fixed, physical, edge, active high, unmasked. */
void ioapic_route(unsigned pin, uint8_t vector, uint32_t dest_apic_id);
/* The same for an IOAPIC at `base` (a second one, e.g. QEMU microvm's at 0xfec10000). */
unsigned ioapic_pins_at(uint64_t base);
void ioapic_route_at(uint64_t base, unsigned pin, uint8_t vector, uint32_t dest_apic_id);

#endif
