/*
 * Static descriptor and page tables (no ring-0 loop builds anything at run time).
 * Gate and TSS descriptors split addresses into fields the assembler cannot compute, so the
 * linker script (probe.ld) defines gate_* and tss_desc0 as ready-made descriptor quads.
 */
#include "arch/layout.h"

        .data
/* Identity map of 0..4 GiB with 2 MiB pages, all user-accessible (ring 3 does the work).
 * 0..3 GiB: P|RW|US|PS; 3..4 GiB (MMIO hole: virtio-mmio, IOAPIC, LAPIC) adds PCD|PWT. */
        .balign 4096
        .globl pml4
pml4:
        .quad pdpt + 0x7
        .fill 511, 8, 0
pdpt:
        .quad pd + 0x7, pd + 0x1007, pd + 0x2007, pd + 0x3007
        .fill 508, 8, 0
pd:
        .set page, 0
        .rept 1536
        .quad page + 0x87
        .set page, page + 0x200000
        .endr
        .rept 512
        .quad page + 0x9f
        .set page, page + 0x200000
        .endr

/* GDT; selectors in layout.h. */
        .balign 16
        .globl gdt, gdt_end, gdtr, idtr
gdt:
        .quad 0
        .quad 0x00af9a000000ffff        /* 0x08 kernel code 64 */
        .quad 0x00cf92000000ffff        /* 0x10 kernel data */
        .quad 0x00cff2000000ffff        /* 0x18 user data */
        .quad 0x00affa000000ffff        /* 0x20 user code 64 */
        .quad 0x00cf9a000000ffff        /* 0x28 kernel code 32 (AP trampoline) */
        .quad tss0_desc, 0              /* 0x30: CPU 0's TSS (with an I/O bitmap) */
        .set cpu, 1
        .rept MAX_CPUS - 1              /* 0x30 + 16 * cpu: TSS of AP cpu */
        .quad tss_desc1 + (((cpu - 1) * 104) << 16), 0
        .set cpu, cpu + 1
        .endr
gdt_end:

/* GDTR/IDTR: limit, then a 64-bit base (32-bit lgdt reads the low half). */
        .balign 16
gdtr:
        .word GDT_SIZE - 1
        .quad gdt
        .balign 16
idtr:
        .word idt_end - idt - 1
        .quad idt
        .globl null_idtr
null_idtr:
        .word 0
        .quad 0

/* IDT: 0..31 exception stubs (isr.S, 16 bytes apart in one 512-byte block) except #BP, the
 * ring-3 "idle" call; the timer; COM1; the keyboard; the spurious vector; every other vector EOIs and
 * returns. Ring 3 enters ring 0 through int3 rather than `int $n`: PVM hosts do not deliver
 * software interrupts from ring 3 (they raise #UD), but they do deliver #BP. */
        .balign 16
idt:
        .set vec, 0
        .rept 32
        .if vec == 3
        .quad gate_idle, 0              /* #BP: int3 from ring 3 */
        .else
        .quad gate_exc0 + (vec * 16), 0
        .endif
        .set vec, vec + 1
        .endr
        .quad gate_timer, 0             /* 0x20 */
        .quad gate_eoi, 0               /* 0x21 COM1 */
        .quad gate_kbd, 0               /* 0x22 i8042 keyboard */
        .rept VEC_SPURIOUS - 0x23       /* 0x23 .. 0xfe */
        .quad gate_eoi, 0
        .endr
        .quad gate_spurious, 0          /* 0xff */
idt_end:

/* One 64-bit TSS per CPU (104 bytes): rsp0 = that CPU's kernel stack. CPU 0's carries an
 * all-zero I/O permission bitmap: PVM runs ring 3 with IOPL 0 whatever the guest's RFLAGS
 * say, and its emulator then grants ring-3 port I/O from the TSS bitmap. APs do no I/O. */
        .balign 4096
        .globl tss0, tss_table
tss0:
        .long 0
        .quad kstacks + KSTACK_SIZE     /* rsp0 */
        .fill 11, 8, 0                  /* rsp1, rsp2, reserved, ist1..7, reserved */
        .word 0, 104                    /* reserved, I/O bitmap offset */
        .fill 8192, 1, 0                /* ports 0..0xffff allowed */
        .byte 0xff                      /* the bitmap's terminating byte */
        .balign 4096
tss_table:
        .set cpu, 1
        .rept MAX_CPUS - 1
        .long 0
        .quad kstacks + (cpu + 1) * KSTACK_SIZE /* rsp0 */
        .fill 11, 8, 0
        .word 0, 104                    /* no I/O bitmap */
        .set cpu, cpu + 1
        .endr

        .bss
        .balign 4096
        .globl kstacks, ustack
kstacks:
        .skip MAX_CPUS * KSTACK_SIZE
ustack:
        .skip USTACK_SIZE

        .section .note.GNU-stack, "", @progbits
