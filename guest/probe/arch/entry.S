/*
 * Ring-0 prologue. The PVH loader enters _start32 in 32-bit protected mode, paging off,
 * %ebx = hvm_start_info. We switch to long mode with the static tables of tables.S and
 * iretq straight into ring 3 (probe_main). APs arrive through the real-mode trampoline,
 * take the same path to long mode, load their own TSS, count themselves and park.
 * Every instruction here runs emulated on PVM hosts (~0.5 us each): keep it short.
 */
#include "arch/layout.h"

/* PVH entry note: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen". The descriptor is 8 bytes
 * because QEMU reads a 64-bit value for ELF64 images. */
        .section .note.Xen, "a", @note
        .balign 4
        .long 4, 8, 18
        .asciz "Xen"
        .balign 4
        .quad _start32

        .section .text.entry, "ax"
        .code32
        .globl _start32
_start32:
        cli
        movl %ebx, pvh_start_info
        xorl %ebp, %ebp                 /* 0 = BSP */
common32:
        lgdt gdtr
        movl $0x20, %eax                /* CR4.PAE */
        movl %eax, %cr4
        movl $pml4, %eax
        movl %eax, %cr3
        movl $0xc0000080, %ecx          /* EFER.LME */
        rdmsr
        orl $0x100, %eax
        wrmsr
        movl %cr0, %eax
        orl $0x80000001, %eax           /* PG | PE */
        movl %eax, %cr0
        ljmp $SEL_KCODE64, $entry64

        .globl ap_entry32
ap_entry32:
        movl $SEL_KDATA, %eax
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %ss
        movl $1, %ebp                   /* 1 = AP */
        jmp common32

        .code64
entry64:
        movl $SEL_KDATA, %eax
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %ss
        lidt idtr
        testl %ebp, %ebp
        jnz ap64
        movl $SEL_TSS0, %eax
        ltr %ax
        movq $kstacks + KSTACK_SIZE, %rsp
        pushq $(SEL_UDATA | 3)
        pushq $ustack + USTACK_SIZE - 8   /* as if called: rsp % 16 == 8 */
        pushq $0x3202                   /* IOPL 3, IF, reserved bit 1 */
        pushq $(SEL_UCODE64 | 3)
        pushq $probe_main
        movl pvh_start_info(%rip), %edi
        iretq

ap64:
        movl $1, %eax
        lock xaddl %eax, ap_next_index(%rip) /* 1, 2, ... */
        cmpl $MAX_CPUS, %eax
        jae ap_park
        movl %eax, %ecx
        shll $4, %ecx
        addl $SEL_TSS0, %ecx
        ltr %cx
        incl %eax
        shll $12, %eax                  /* KSTACK_SIZE */
        addq $kstacks, %rax
        movq %rax, %rsp
        lock incl cpus_online(%rip)
ap_park:
        cli
        hlt
        jmp ap_park

/* Real-mode trampoline, copied to AP_TRAMPOLINE_ADDR by ring 3 (smp.c) before the SIPIs. */
        .section .rodata.trampoline, "a"
        .code16
        .globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
        cli
        movw %cs, %ax
        movw %ax, %ds
        lgdtl ap_trampoline_gdtr - ap_trampoline_start
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $SEL_KCODE32, $(AP_TRAMPOLINE_ADDR + ap_trampoline32 - ap_trampoline_start)
        .code32
ap_trampoline32:
        movl $ap_entry32, %eax
        jmp *%eax
        .balign 8
ap_trampoline_gdtr:
        .word GDT_SIZE - 1
        .long gdt
ap_trampoline_end:

        .data
        .balign 8
        .globl pvh_start_info, cpus_online
pvh_start_info:
        .quad 0
ap_next_index:
        .long 1
cpus_online:
        .long 1                         /* the BSP */

        .section .note.GNU-stack, "", @progbits
