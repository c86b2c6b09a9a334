#include "shell/shell.h"

#include "hw/apic.h"
#include "hw/io.h"
#include "hw/kbd.h"
#include "hw/uart.h"
#include "lib/lib.h"
#include "net/stack.h"

#define LINE_MAX 256

static void run_line(char* line) {
  /* The raw text after the command name, before tokenising cuts it up (echo needs it). */
  static char rest[LINE_MAX];
  const char* r = line;
  while (*r == ' ' || *r == '\t') ++r;
  while (*r && *r != ' ' && *r != '\t') ++r;
  while (*r == ' ' || *r == '\t') ++r;
  memcpy(rest, r, strlen(r) + 1);

  char* argv[SHELL_MAX_ARGS];
  int argc = 0;
  char* p = line;
  while (*p && argc < SHELL_MAX_ARGS) {
    while (*p == ' ' || *p == '\t') ++p;
    if (!*p) break;
    argv[argc++] = p;
    while (*p && *p != ' ' && *p != '\t') ++p;
    if (*p) *p++ = 0;
  }
  if (!argc) return;
  for (unsigned i = 0; i < command_count; ++i) {
    if (strcmp(argv[0], commands[i].name)) continue;
    const char* err = commands[i].fn(argc, argv, rest);
    if (err)
      kprintf("ERR %s\r\n", err);
    else
      uart_puts("OK\r\n");
    return;
  }
  kprintf("ERR unknown command %s\r\n", argv[0]);
}

/* Nothing to read: check the keyboard for Ctrl-Alt-Del (hw/kbd.h: no exit unless its
 * interrupt fired or 25 ticks passed), answer ARP/ICMP on the NICs, then sleep in ring 0 until the
 * next interrupt (COM1 receive, keyboard, a NIC's receive or the 100 Hz tick), so an idle guest
 * costs no host CPU.
 * Without a timer, poll. */
static void wait_for_input(void) {
  if (kbd_ctrl_alt_del()) { /* the host asks for a graceful shutdown */
    uart_puts("\r\nctrl-alt-del: powering off\r\n");
    uart_drain();
    outb(0xf4, 0);
  }
  /* Answer ARP and ICMP echo (team/NETWORK.md): memory reads, no exits when nothing came.
   * Receive interrupts are on while idle, so a frame ends the sleep (virtio_net.c routes the
   * line under flotilla-vmm and QEMU microvm; without a route the next 100 Hz tick does).
   * Busy-polling after answering was tried first: on 2 cores it starved the monitors' I/O
   * threads (round trips 2-8 ms); the interrupt gives 0.2-0.4 ms. */
  net_poll_all();
  net_idle(1); /* interrupts on, and a level line acked if frames came (after that poll) */
  net_poll_all();
  if (lapic_timer_running()) {
    sys_idle();
    /* Answer what woke us before the caller reads the UART: that read is a port exit to the
     * monitor (~35 µs here) which would sit inside every ping's round trip. */
    net_poll_all();
  } else {
    cpu_relax();
  }
}

static char echo_buf[64];
static unsigned echo_len;

static void echo(const char* s, unsigned n) {
  if (echo_len + n > sizeof echo_buf) {
    uart_write(echo_buf, echo_len);
    echo_len = 0;
  }
  memcpy(echo_buf + echo_len, s, n);
  echo_len += n;
}

static void echo_flush(void) {
  if (echo_len) uart_write(echo_buf, echo_len);
  echo_len = 0;
}

void shell_banner(void) {
  uart_puts("flotilla-probe ready\r\nprobe> ");
}

void shell_run(void) {
  static char line[LINE_MAX];
  unsigned len = 0;
  int last_cr = 0;
  for (;;) {
    int c = uart_getc();
    if (c < 0) {
      echo_flush(); /* echo what arrived together in one burst */
      wait_for_input();
      continue;
    }
    if (c == '\n' && last_cr) { /* "\r\n" is one end of line */
      last_cr = 0;
      continue;
    }
    last_cr = c == '\r';
    if (c == '\r' || c == '\n') {
      echo("\r\n", 2);
      echo_flush();
      line[len] = 0;
      net_idle(0); /* commands poll the NICs themselves */
      run_line(line);
      len = 0;
      uart_puts("probe> ");
    } else if (c == 0x7f || c == 0x08) {
      if (len) {
        --len;
        echo("\b \b", 3);
      }
    } else if (c >= 0x20 && c < 0x7f && len < LINE_MAX - 1) {
      line[len++] = (char)c;
      char ch = (char)c;
      echo(&ch, 1);
    }
  }
}
