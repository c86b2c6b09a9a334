/* probe_main: ring 3 from here on (arch/entry.S iretq's to it with IOPL 3 and IF set). */
#include <stdint.h>

#include "arch/layout.h"
#include "hw/apic.h"
#include "hw/boot_info.h"
#include "hw/clock.h"
#include "hw/kbd.h"
#include "hw/uart.h"
#include "virtio/virtio_net.h"
#include "shell/shell.h"

__attribute__((noreturn)) void probe_main(uint64_t start_info_paddr);

void probe_main(uint64_t start_info_paddr) {
  boot_info_init(start_info_paddr); /* before anything reuses low memory */
  uart_init();
  lapic_init();
  /* The shell is up: say so now, then calibrate the clocks (20 ms) before reading the first
   * command. The boot-time benchmark measures the marker, and typed input waits in the
   * UART meanwhile. */
  shell_banner();
  clock_calibrate();
  lapic_timer_start(clock_info.lapic_timer_hz, 100);
  if (ioapic_pins() > 4) {
    ioapic_route(4, VEC_COM1, lapic_id());
    uart_enable_rx_irq();
  }
  kbd_init();
  /* NICs come up now, so ARP and ICMP echo are answered from the first idle wait on
   * (team/NETWORK.md); a guest without one only pays the slot scan. */
  net_count();
  shell_run();
}
