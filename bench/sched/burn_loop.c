/* The probe's `burn` loop (guest/probe/shell/commands.c cmd_burn), byte for byte the same C,
 * compiled for the host: 4096 dependent adds between two TSC reads. Returns iterations. */
#include <stdint.h>

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

uint64_t host_burn(uint64_t tsc_ticks) {
  uint64_t iterations = 0;
  uint64_t end = rdtsc() + tsc_ticks;
  do {
    for (unsigned i = 0; i < 4096; ++i) {
      ++iterations;
      __asm__ volatile("" : "+r"(iterations)); /* one real add per iteration */
    }
  } while ((int64_t)(rdtsc() - end) < 0);
  return iterations;
}
