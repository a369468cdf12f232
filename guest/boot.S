/* SPDX-License-Identifier: MIT */
/* Multiboot v1 entry of the benchmark guest: own GDT, a stack, interrupt stubs, then guest_main(). */

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: page-aligned modules, bit 1: memory map in the boot info */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .align 16
stack_bottom:
    .skip 16384
stack_top:

    .section .rodata
    .align 8
/* The loader's GDT may be anywhere (the spec says so), so we load a flat one of our own. */
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff /* 0x08: code, base 0, limit 4 GiB, 32-bit */
    .quad 0x00cf92000000ffff /* 0x10: data */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .section .text
    .code32
    .global _start
_start:
    cli
    mov $stack_top, %esp
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  mov $0x10, %cx
    mov %cx, %ds
    mov %cx, %es
    mov %cx, %fs
    mov %cx, %gs
    mov %cx, %ss
    push %ebx /* multiboot info */
    push %eax /* loader magic */
    call guest_main
2:  cli
    hlt
    jmp 2b

/* IRQ0 (PIT): count the tick, acknowledge the PIC; the pacing runs in the main loop. */
    .global irq0_stub
irq0_stub:
    pushal
    incl guest_ticks
    movb $0x20, %al
    outb %al, $0x20
    popal
    iret

/* Other PIC lines are masked; if one fires anyway, acknowledge both PICs and go on. */
    .global irq_other_stub
irq_other_stub:
    pushal
    movb $0x20, %al
    outb %al, $0xa0
    outb %al, $0x20
    popal
    iret

/* CPU exceptions: report the vector on the serial port and stop, so a bug is visible, not silent. */
    .macro exc_stub n
exc\n:
    cli
    push $\n
    call guest_fault
    .endm
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    exc_stub \n
    .endr

    .section .rodata
    .align 4
    .global exc_stubs
exc_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .long exc\n
    .endr

    .section .note.GNU-stack, "", @progbits
