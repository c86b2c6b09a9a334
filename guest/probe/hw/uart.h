/* COM1 8250/16550A at 0x3f8: polled TX (16-byte FIFO bursts), RX polled or by IRQ 4. */
#ifndef PROBE_HW_UART_H
#define PROBE_HW_UART_H

#include <stddef.h>

void uart_init(void);
void uart_write(const char* s, size_t n);
void uart_puts(const char* s);
/* Returns the next received byte, or -1 if none is waiting. */
int uart_getc(void);
/* Enables the "received data" interrupt (IER bit 0); the IOAPIC routes it (apic.c). */
void uart_enable_rx_irq(void);
/* Waits until the transmitter is empty (before power-off/reset). */
void uart_drain(void);

#endif
