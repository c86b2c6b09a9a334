/* i8042 keyboard: just enough to see Ctrl-Alt-Del, the host's graceful shutdown request
 * (flotilla-vmm `ctrl_alt_del`, Firecracker's SendCtrlAltDel, QEMU's `sendkey
 * ctrl-alt-delete`). The shell checks the controller only when the keyboard interrupt fired
 * (IOAPIC pin 1 -> VEC_KBD counts kbd_irq_count) or, as a fallback, every 25 timer ticks:
 * each status read is an exit, so it is never on the 100 Hz path. */
#ifndef PROBE_HW_KBD_H
#define PROBE_HW_KBD_H

/* Detects the controller (status 0xff = none), drains it, turns on set-1 translation and the
 * keyboard interrupt, routes IOAPIC pin 1. Returns 1 if a controller is present. */
int kbd_init(void);
/* Cheap unless there is something to read: returns 1 once the Ctrl-Alt-Del make sequence
 * (Ctrl and Alt held, then Delete; 0xe0 prefixes ignored) has been seen. */
int kbd_ctrl_alt_del(void);

#endif
