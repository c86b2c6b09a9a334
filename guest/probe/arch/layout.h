/* Constants shared by the assembly (entry.S, tables.S, isr.S) and the C code. */
#ifndef PROBE_ARCH_LAYOUT_H
#define PROBE_ARCH_LAYOUT_H

#define MAX_CPUS 16

/* GDT selectors (tables.S builds the GDT in this order). */
#define SEL_KCODE64 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x18   /* used as 0x1b (RPL 3) */
#define SEL_UCODE64 0x20 /* used as 0x23 (RPL 3) */
#define SEL_KCODE32 0x28 /* the AP trampoline's far jump out of real mode */
#define SEL_TSS0 0x30    /* 16-byte TSS descriptors, one per CPU */
#define GDT_SIZE (SEL_TSS0 + 16 * MAX_CPUS)

#define KSTACK_SIZE 4096
#define USTACK_SIZE 65536

/* Interrupt vectors. */
#define VEC_TIMER 0x20              /* LAPIC timer: tick counter + EOI */
#define VEC_COM1 0x21               /* IOAPIC pin 4: EOI only (wakes the idle call) */
#define VEC_KBD 0x22                /* IOAPIC pin 1 (i8042 keyboard): kbd_irq_count++ + EOI */
#define VEC_NET 0x23                /* IOAPIC pin 16 + slot (virtio-net): EOI only (wakes idle) */
#define VEC_IDLE 3                  /* int3 from ring 3 (#BP, DPL 3): sti; hlt; iretq */
#define IDLE_RESET_MAGIC 0x52534554 /* "RSET" in %eax: the int3 call triple-faults instead */
#define VEC_SPURIOUS 0xff

/* The AP real-mode trampoline is copied here at run time (SIPI vector 0x08). */
#define AP_TRAMPOLINE_ADDR 0x8000

#define LAPIC_BASE 0xfee00000
#define LAPIC_EOI 0xb0
#define IOAPIC_BASE 0xfec00000

#endif
