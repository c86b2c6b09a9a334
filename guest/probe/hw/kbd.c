#include "hw/kbd.h"

#include "arch/layout.h"
#include "hw/apic.h"
#include "hw/clock.h"
#include "hw/io.h"

extern volatile uint64_t kbd_irq_count; /* arch/isr.S */

enum {
  kData = 0x60,
  kStatus = 0x64,
  kStatusOutputFull = 0x01,
  kStatusAux = 0x20,
  kCmdWriteCommandByte = 0x60,
  /* keyboard interrupt, system flag, aux disabled, set-1 translation */
  kCommandByte = 0x01 | 0x04 | 0x20 | 0x40,
  kPollTicks = 25, /* fallback poll: 4 Hz at the 100 Hz tick */
  kMaxBytes = 32,  /* per check: the monitor's buffer holds 16 */
};

static int present;
static uint64_t irqs_seen;
static uint64_t last_poll;
static int ctrl, alt;

static void wait_input_empty(void) {
  for (unsigned i = 0; i < 1000 && (inb(kStatus) & 0x02); ++i) cpu_relax();
}

int kbd_init(void) {
  if (inb(kStatus) == 0xff) return 0; /* nothing decodes the port */
  for (unsigned i = 0; i < kMaxBytes && (inb(kStatus) & kStatusOutputFull); ++i) (void)inb(kData);
  wait_input_empty();
  outb(kStatus, kCmdWriteCommandByte);
  wait_input_empty();
  outb(kData, kCommandByte);
  if (ioapic_pins() > 1) ioapic_route(1, VEC_KBD, lapic_id());
  present = 1;
  return 1;
}

/* One scancode (set 1); returns 1 on Delete with Ctrl and Alt held. */
static int feed(uint8_t code) {
  switch (code) {
    case 0x1d:
      ctrl = 1;
      return 0;
    case 0x9d:
      ctrl = 0;
      return 0;
    case 0x38:
      alt = 1;
      return 0;
    case 0xb8:
      alt = 0;
      return 0;
    case 0x53:
      return ctrl && alt;
    default: /* 0xe0 prefixes, other keys */
      return 0;
  }
}

int kbd_ctrl_alt_del(void) {
  if (!present) return 0;
  const uint64_t irqs = kbd_irq_count;
  const uint64_t now = ticks();
  if (irqs == irqs_seen && now - last_poll < kPollTicks) return 0;
  irqs_seen = irqs;
  last_poll = now;
  int seen = 0;
  for (unsigned i = 0; i < kMaxBytes; ++i) {
    const uint8_t st = inb(kStatus);
    if (!(st & kStatusOutputFull)) break;
    const uint8_t code = inb(kData);
    if (!(st & kStatusAux) && feed(code)) seen = 1;
  }
  return seen;
}
