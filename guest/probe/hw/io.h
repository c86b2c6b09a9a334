/* Port I/O, MMIO and a few instructions, usable from ring 3 (IOPL 3, user mappings). */
#ifndef PROBE_HW_IO_H
#define PROBE_HW_IO_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t mmio_read32(uint64_t addr) {
  return *(volatile uint32_t*)(uintptr_t)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v) {
  *(volatile uint32_t*)(uintptr_t)addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr) {
  return *(volatile uint8_t*)(uintptr_t)addr;
}
/* A pointer to guest-physical memory (identity mapped). Hides the constant from the compiler,
 * which otherwise warns about dereferencing addresses in the first page. */
static inline void* phys(uint64_t addr) {
  __asm__("" : "+r"(addr));
  return (void*)(uintptr_t)addr;
}
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline void cpu_relax(void) {
  __asm__ volatile("pause" ::: "memory");
}
static inline void barrier(void) {
  __asm__ volatile("" ::: "memory");
}
static inline void mb(void) {
  __asm__ volatile("mfence" ::: "memory");
}

/* Ring-0 services (arch/isr.S), entered with int3. idle: wait for the next interrupt with
 * interrupts on. triple_fault: reset the machine the hard way. */
static inline void sys_idle(void) {
  __asm__ volatile("int3" : : "a"(0) : "memory");
}
static inline void sys_triple_fault(void) {
  __asm__ volatile("int3" : : "a"(0x52534554) : "memory"); /* IDLE_RESET_MAGIC */
}

#endif
