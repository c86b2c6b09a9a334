#include "hw/uart.h"

#include "hw/io.h"

enum {
  kCom1 = 0x3f8,
  kRbrThr = 0, /* receive buffer / transmit holding */
  kIer = 1,
  kFcr = 2,
  kLcr = 3,
  kMcr = 4,
  kLsr = 5,
  kLsrDataReady = 0x01,
  kLsrThrEmpty = 0x20,
  kLsrTxIdle = 0x40,
  kFifoDepth = 16,
};

void uart_init(void) {
  outb(kCom1 + kIer, 0);
  outb(kCom1 + kLcr, 0x80); /* DLAB */
  outb(kCom1 + 0, 1);       /* divisor 1: 115200 */
  outb(kCom1 + 1, 0);
  outb(kCom1 + kLcr, 0x03); /* 8N1 */
  outb(kCom1 + kFcr, 0x07); /* FIFOs on and cleared, RX interrupt at 1 byte */
  outb(kCom1 + kMcr, 0x0b); /* DTR, RTS, OUT2 (IRQ enable on PCs) */
}

void uart_write(const char* s, size_t n) {
  while (n) {
    /* Every port access is an exit: poll LSR once per 16-byte burst, not per byte. */
    for (unsigned spins = 0; !(inb(kCom1 + kLsr) & kLsrThrEmpty) && spins < 1000000; ++spins)
      cpu_relax();
    size_t burst = n < kFifoDepth ? n : kFifoDepth;
    for (size_t i = 0; i < burst; ++i) outb(kCom1 + kRbrThr, (uint8_t)s[i]);
    s += burst;
    n -= burst;
  }
}

void uart_puts(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  uart_write(s, n);
}

int uart_getc(void) {
  if (!(inb(kCom1 + kLsr) & kLsrDataReady)) return -1;
  return inb(kCom1 + kRbrThr);
}

void uart_enable_rx_irq(void) {
  outb(kCom1 + kIer, 0x01);
}

void uart_drain(void) {
  for (unsigned spins = 0; !(inb(kCom1 + kLsr) & kLsrTxIdle) && spins < 1000000; ++spins)
    cpu_relax();
}
