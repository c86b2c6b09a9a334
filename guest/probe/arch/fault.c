/* Ring 0: an exception the probe did not expect. Print what happened on COM1 and halt this
 * CPU for good (the test driving the console sees the line and fails clearly). */
#include <stdint.h>

#include "hw/io.h"

static void put(char c) {
  while (!(inb(0x3fd) & 0x20)) {
  }
  outb(0x3f8, (uint8_t)c);
}

static void put_str(const char* s) {
  while (*s) put(*s++);
}

static void put_hex(uint64_t v) {
  put_str("0x");
  for (int shift = 60; shift >= 0; shift -= 4) put("0123456789abcdef"[(v >> shift) & 0xf]);
}

/* frame: vector, error code, rip, cs, rflags, rsp, ss (isr.S exc_common). */
__attribute__((noreturn)) void fault_report(const uint64_t* frame) {
  uint64_t cr2;
  __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  put_str("\r\nprobe: FAULT vector=");
  put_hex(frame[0]);
  put_str(" error=");
  put_hex(frame[1]);
  put_str(" rip=");
  put_hex(frame[2]);
  put_str(" cs=");
  put_hex(frame[3]);
  put_str(" rsp=");
  put_hex(frame[5]);
  put_str(" cr2=");
  put_hex(cr2);
  put_str("\r\n");
  for (;;) __asm__ volatile("cli; hlt");
}
