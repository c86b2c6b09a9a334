/* Time: the TSC and the LAPIC timer, calibrated once at boot against PIT channel 0. */
#ifndef PROBE_HW_CLOCK_H
#define PROBE_HW_CLOCK_H

#include <stdint.h>

struct clock_info {
  uint64_t tsc_hz;
  uint64_t lapic_timer_hz; /* LAPIC timer input after divide-by-16 */
  const char* source;      /* "pit", "cpuid" or "guess" */
};

extern struct clock_info clock_info;

void clock_calibrate(void);
/* Busy-waits (ring 3, TSC) for `us` microseconds. */
void udelay(uint64_t us);
/* Ticks of the 100 Hz LAPIC timer since boot (arch/isr.S increments it). */
uint64_t ticks(void);

#endif
