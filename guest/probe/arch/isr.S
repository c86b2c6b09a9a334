/*
 * Ring-0 interrupt paths (the whole ring-0 surface after the prologue; README lists it):
 *   exception stubs -> fault_report (prints, halts; never returns)
 *   timer  (0x20): tick_count++, LAPIC EOI, iretq
 *   kbd    (0x22, i8042 keyboard): kbd_irq_count++, LAPIC EOI, iretq
 *   eoi    (0x21, 0x23.., COM1 and strays): LAPIC EOI, iretq
 *   idle   (int3 = #BP, DPL 3): sti; hlt; iretq -- returns after the next interrupt;
 *          with %eax = IDLE_RESET_MAGIC: load an empty IDT and ud2 -> triple fault
 *   spurious (0xff): iretq
 */
#include "arch/layout.h"

        .text
        .code64
        .balign 512
        .globl exc_stubs
exc_stubs:
        .set vec, 0
        .rept 32
        .balign 16
        .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        .else
        pushq $0                        /* no CPU error code: push a zero */
        .endif
        pushq $vec
        jmp exc_common
        .set vec, vec + 1
        .endr

exc_common:
        movq %rsp, %rdi                 /* vector, error, rip, cs, rflags, rsp, ss */
        andq $-16, %rsp
        call fault_report

        .globl isr_timer, isr_kbd, isr_eoi, isr_idle, isr_spurious
isr_kbd:
        lock incq kbd_irq_count(%rip)
        jmp isr_eoi
isr_timer:
        lock incq tick_count(%rip)
isr_eoi:
        pushq %rax
        movl $(LAPIC_BASE + LAPIC_EOI), %eax
        movl $0, (%rax)
        popq %rax
isr_spurious:
        iretq

isr_idle:
        cmpl $IDLE_RESET_MAGIC, %eax
        je 1f
        sti
        hlt
        iretq
1:      lidt null_idtr(%rip)
        ud2                             /* #UD with no IDT: #DF, then triple fault */

        .bss
        .balign 8
        .globl tick_count
tick_count:
        .skip 8
        .globl kbd_irq_count
kbd_irq_count:
        .skip 8

        .section .note.GNU-stack, "", @progbits
