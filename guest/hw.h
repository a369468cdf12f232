/* SPDX-License-Identifier: MIT */
/* The benchmark guest's hardware helpers (hw.c): serial output, timer, interrupts, TSC. */
#pragma once

#include <stdint.h>

/* ---- port I/O, TSC -------------------------------------------------------------------------- */

static inline void
outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t
rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

void serial_init(void);
void puts_serial(const char *s);
/* Writes " KEY=VALUE" in decimal. */
void put_kv(const char *key, uint64_t v);
void halt_forever(void) __attribute__((noreturn));
/* IDT with exception reporters, PICs remapped with only IRQ0 unmasked, PIT channel 0 at @hz. */
void interrupts_init(uint32_t hz);
/* TSC ticks per second, measured against PIT channel 2. */
uint64_t tsc_calibrate(void);

/* Called from boot.S. */
void guest_fault(uint32_t vector) __attribute__((noreturn));
void guest_main(uint32_t magic, const uint32_t *mbi) __attribute__((noreturn));
