#include "hw/clock.h"

#include "hw/apic.h"
#include "hw/io.h"

struct clock_info clock_info;
extern volatile uint64_t tick_count;

enum {
  kPitHz = 1193182,
  kWindowTicks = 23864, /* 20 ms */
};

/* Fallback when the PIT does not answer: CPUID leaf 0x15 / 0x16, else a guess. */
static uint64_t tsc_hz_from_cpuid(void) {
  uint32_t r[4];
  cpuid(0, 0, r);
  uint32_t max = r[0];
  if (max >= 0x15) {
    cpuid(0x15, 0, r);
    if (r[0] && r[1] && r[2]) return (uint64_t)r[2] * r[1] / r[0];
  }
  if (max >= 0x16) {
    cpuid(0x16, 0, r);
    if (r[0]) return (uint64_t)r[0] * 1000000;
  }
  return 0;
}

/* Latches and reads PIT channel 0's current count. */
static uint16_t pit0_read(void) {
  outb(0x43, 0x00);
  uint8_t lo = inb(0x40);
  return (uint16_t)(lo | inb(0x40) << 8);
}

/* One reading of a device counter and the TSC at the moment it was taken. Every read is an
 * exit (tens of microseconds on PVM, and the host may stall us in the middle), so take a few
 * and keep the one whose TSC bracket is tightest; its midpoint is the time stamp. */
struct sample {
  uint32_t count;
  uint64_t tsc;
};

static struct sample take_sample(int pit) {
  struct sample best = {0, 0};
  uint64_t best_bracket = ~0ull;
  for (int i = 0; i < 4; ++i) {
    uint64_t ta = rdtsc();
    uint32_t c = pit ? pit0_read() : lapic_read(kLapicTimerCurrent);
    uint64_t tb = rdtsc();
    if (tb - ta < best_bracket) {
      best_bracket = tb - ta;
      best.count = c;
      best.tsc = ta + (tb - ta) / 2;
    }
  }
  return best;
}

/* One measurement window. Returns 1 on success, 0 if the host stalled us past the end of the
 * PIT's 55 ms count (try again), -1 if the PIT does not count at all. */
static int calibrate_once(void) {
  /* PIT channel 0 in mode 0 from 0xffff counts down once (55 ms; its single IRQ 0 is masked
   * at the PIC and the IOAPIC). Port 0x61 (channel 2's gate) is not used: QEMU microvm has no
   * speaker port. The LAPIC timer counts down one-shot, masked, over the same window. */
  outb(0x43, 0x30);
  outb(0x40, 0xff);
  outb(0x40, 0xff);
  lapic_write(kLapicTimerDivide, 0x3);
  lapic_write(kLapicLvtTimer, 1u << 16);
  lapic_write(kLapicTimerInit, 0xffffffffu);
  struct sample p0 = take_sample(1), l0 = take_sample(0), p1 = p0;
  /* Gives up after 1e9 TSC cycles (0.17-1 s) if the PIT does not count. */
  while ((uint16_t)(p0.count - p1.count) < kWindowTicks && p1.tsc - p0.tsc < 1000000000ull)
    p1 = take_sample(1);
  struct sample l1 = take_sample(0);
  lapic_write(kLapicTimerInit, 0);
  uint16_t elapsed = (uint16_t)(p0.count - p1.count);
  if (elapsed < kWindowTicks) return elapsed ? 0 : -1;
  if (elapsed > 0xf000) return 0; /* may have wrapped */
  clock_info.tsc_hz = (p1.tsc - p0.tsc) * kPitHz / elapsed;
  clock_info.lapic_timer_hz =
      (uint64_t)(l0.count - l1.count) * clock_info.tsc_hz / (l1.tsc - l0.tsc);
  clock_info.source = "pit";
  return 1;
}

void clock_calibrate(void) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    int r = calibrate_once();
    if (r > 0) return;
    if (r < 0) break;
  }
  clock_info.tsc_hz = tsc_hz_from_cpuid();
  clock_info.source = "cpuid";
  if (!clock_info.tsc_hz) {
    clock_info.tsc_hz = 2000000000ull;
    clock_info.source = "guess";
  }
  clock_info.lapic_timer_hz = 1000000000ull / 16; /* KVM's LAPIC clock is 1 GHz */
}

void udelay(uint64_t us) {
  uint64_t end = rdtsc() + clock_info.tsc_hz / 1000000 * us;
  while ((int64_t)(rdtsc() - end) < 0) cpu_relax();
}

uint64_t ticks(void) {
  return tick_count;
}
