/* SPDX-License-Identifier: MIT */
/* The benchmark guest's hardware: COM1 output, the PIC, the PIT, TSC calibration, interrupts. */
#include <stdint.h>

#include "hw.h"

#define PIT_HZ 1193182u
#define COM1 0x3f8

/* ---- 64-bit division: gcc -m32 calls these, and there is no 32-bit libgcc to link ------------ */

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);

uint64_t
__udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0;
    uint64_t r = 0;

    if (d == 0) {
        __asm__ volatile("ud2"); /* a bug: the fault handler reports it */
    }
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= (uint64_t)1 << i;
        }
    }
    if (rem) {
        *rem = r;
    }
    return q;
}

uint64_t
__udivdi3(uint64_t n, uint64_t d)
{
    return __udivmoddi4(n, d, 0);
}

uint64_t
__umoddi3(uint64_t n, uint64_t d)
{
    uint64_t r;
    __udivmoddi4(n, d, &r);
    return r;
}

/* ---- serial output -------------------------------------------------------------------------- */

void
serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no UART interrupts: we poll */
    outb(COM1 + 3, 0x80); /* DLAB on */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
}

static void
putc_serial(char c)
{
    while ((inb(COM1 + 5) & 0x20) == 0) {
    }
    outb(COM1, (uint8_t)c);
}

void
puts_serial(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            putc_serial('\r');
        }
        putc_serial(*s);
    }
}

static void
put_u64(uint64_t v)
{
    char buf[24];
    int i = 0;

    do {
        buf[i++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v != 0);
    while (i > 0) {
        putc_serial(buf[--i]);
    }
}

void
put_kv(const char *key, uint64_t v)
{
    putc_serial(' ');
    puts_serial(key);
    putc_serial('=');
    put_u64(v);
}

/* ---- interrupts ----------------------------------------------------------------------------- */

struct idt_gate {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t zero;
    uint8_t type;
    uint16_t off_hi;
} __attribute__((packed));

struct idt_desc {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

extern void irq0_stub(void);
extern void irq_other_stub(void);
extern const uint32_t exc_stubs[32];
volatile uint32_t guest_ticks;
static struct idt_gate idt[256];

void
halt_forever(void)
{
    for (;;) {
        __asm__ volatile("cli; hlt");
    }
}

void
guest_fault(uint32_t vector)
{
    puts_serial("hvf-guest: fault");
    put_kv("vector", vector);
    puts_serial("\n");
    halt_forever();
}

static void
idt_set(int n, uint32_t handler)
{
    idt[n].off_lo = (uint16_t)(handler & 0xffff);
    idt[n].sel = 0x08;
    idt[n].zero = 0;
    idt[n].type = 0x8e; /* present, ring 0, 32-bit interrupt gate */
    idt[n].off_hi = (uint16_t)(handler >> 16);
}

void
interrupts_init(uint32_t hz)
{
    struct idt_desc desc;
    uint32_t divisor = PIT_HZ / hz;

    for (int i = 0; i < 256; i++) {
        idt_set(i, i < 32 ? exc_stubs[i] : (uint32_t)irq_other_stub);
    }
    idt_set(32, (uint32_t)irq0_stub);
    desc.limit = sizeof(idt) - 1;
    desc.base = (uint32_t)idt;
    __asm__ volatile("lidt %0" : : "m"(desc));

    /* PICs: IRQ 0-7 to vectors 32-39, 8-15 to 40-47; everything masked but the PIT. */
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, 32);
    outb(0xa1, 40);
    outb(0x21, 4);
    outb(0xa1, 2);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xfe);
    outb(0xa1, 0xff);

    outb(0x43, 0x34); /* channel 0, lo/hi byte, mode 2 (rate generator) */
    outb(0x40, (uint8_t)(divisor & 0xff));
    outb(0x40, (uint8_t)(divisor >> 8));
}

/* TSC ticks per second, from a 50 ms one-shot of PIT channel 2 (its output is bit 5 of port 0x61).
 */
uint64_t
tsc_calibrate(void)
{
    const uint32_t count = PIT_HZ / 500;
    uint64_t best = ~0ULL;

    /*
     * 2 ms one-shots, the shortest of 32: a vCPU descheduled by a loaded host reads the TSC
     * late and makes a measure too long (4x was seen with one 50 ms shot, 1.4x with the best
     * of eight 10 ms ones), never too short. A TSC frequency too high would slow the guest's
     * clock, and its pacing, by as much.
     */
    for (int i = 0; i < 32; i++) {
        uint64_t t0;
        uint64_t t1;
        outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01)); /* gate on, speaker off */
        outb(0x43, 0xb0);                                  /* channel 2, lo/hi, mode 0 */
        outb(0x42, (uint8_t)(count & 0xff));
        outb(0x42, (uint8_t)(count >> 8));
        t0 = rdtsc();
        while ((inb(0x61) & 0x20) == 0) {
        }
        t1 = rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
        }
    }
    return best * 500;
}
