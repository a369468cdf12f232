/* SPDX-License-Identifier: MIT */
/*
 * Benchmark guest for real QEMU live migrations: fills its RAM with non-zero data, then dirties one
 * word per 4 KiB page across a working set at a set rate, and reports on COM1.
 *
 * Command line (multiboot, from `-append`): key=value words, all optional.
 *   ws=MiB       working set, the first MiB of RAM above the image (default: all of it)
 *   rate=MiB/s   dirty rate, decimals allowed (default 0: fill, then idle)
 *   fill=addr|rand|zero|0xHEX  content of RAM (default addr: each word is its address ^ a mask)
 *   zero=PCT     share of pages left zero, spread evenly (default 0), to check zero-page handling
 *   hz=N         pacing timer (PIT) frequency (default 1000)
 *   report=MS    period of the rate reports (default 1000)
 *
 * Serial lines all start with "hvf-guest: " and carry key=value words; the bench parses "ready"
 * (fill done, dirtying starts) and "rate" (achieved dirty rate over the last period).
 *
 * Pacing: the TSC, calibrated against PIT channel 2, says how many pages are due; the guest writes
 * them after each timer tick and halts in between (a spinning guest would burn a host core). When
 * it falls behind by more than one tick (QEMU's auto-converge sleeps the vCPU), the backlog is
 * dropped, not caught up: a throttled guest must dirty less, as a CPU-bound workload would.
 */
#include <stdint.h>

#define PAGE_SIZE 4096u
#define MIB (1024u * 1024u)
#define PIT_HZ 1193182u
#define COM1 0x3f8
#define MB_LOADER_MAGIC 0x2BADB002u

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

static void
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

static void
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

static void
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
extern char _end[];

volatile uint32_t guest_ticks;
static struct idt_gate idt[256];

void guest_fault(uint32_t vector) __attribute__((noreturn));
void guest_main(uint32_t magic, const uint32_t *mbi) __attribute__((noreturn));

static void __attribute__((noreturn))
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

static void
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

/* TSC ticks per second, from a 50 ms one-shot of PIT channel 2 (its output is bit 5 of port 0x61). */
static uint64_t
tsc_calibrate(void)
{
    const uint32_t count = PIT_HZ / 20;
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
    return (t1 - t0) * 20;
}

/* ---- command line --------------------------------------------------------------------------- */

enum fill_kind { FILL_ADDR, FILL_RAND, FILL_ZERO, FILL_CONST };

struct params {
    uint32_t ws_mib; /* 0: all */
    uint32_t rate_kib_s;
    enum fill_kind fill;
    uint32_t fill_word;
    uint32_t zero_pct;
    uint32_t hz;
    uint32_t report_ms;
};

static char cmdline[512];

static int
word_eq(const char *w, const char *key, const char **val)
{
    while (*key && *w == *key) {
        w++;
        key++;
    }
    if (*key == 0 && *w == '=') {
        *val = w + 1;
        return 1;
    }
    return 0;
}

/* Decimal with an optional fraction, scaled by @scale (rate=12.5 with scale 1024 gives 12800). */
static uint32_t
parse_scaled(const char *s, uint32_t scale)
{
    uint64_t whole = 0;
    uint64_t frac = 0;
    uint64_t div = 1;

    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9' && div < 1000000; s++) {
            frac = frac * 10 + (uint64_t)(*s - '0');
            div *= 10;
        }
    }
    return (uint32_t)(whole * scale + frac * scale / div);
}

static uint32_t
parse_hex(const char *s)
{
    uint32_t v = 0;

    for (; *s; s++) {
        char c = *s;
        uint32_t d;
        if (c >= '0' && c <= '9') {
            d = (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (uint32_t)(c - 'A' + 10);
        } else {
            break;
        }
        v = (v << 4) | d;
    }
    return v;
}

static int
str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static void
parse_params(struct params *p)
{
    char *s = cmdline;

    /* QEMU passes "<kernel path> <append>": the first word is skipped like any unknown word. */
    while (*s) {
        char *w;
        const char *v;
        while (*s == ' ') {
            s++;
        }
        w = s;
        while (*s && *s != ' ') {
            s++;
        }
        if (*s) {
            *s++ = 0;
        }
        if (word_eq(w, "ws", &v)) {
            p->ws_mib = parse_scaled(v, 1);
        } else if (word_eq(w, "rate", &v)) {
            p->rate_kib_s = parse_scaled(v, 1024);
        } else if (word_eq(w, "zero", &v)) {
            p->zero_pct = parse_scaled(v, 1);
        } else if (word_eq(w, "hz", &v)) {
            p->hz = parse_scaled(v, 1);
        } else if (word_eq(w, "report", &v)) {
            p->report_ms = parse_scaled(v, 1);
        } else if (word_eq(w, "fill", &v)) {
            if (str_eq(v, "rand")) {
                p->fill = FILL_RAND;
            } else if (str_eq(v, "zero")) {
                p->fill = FILL_ZERO;
            } else if (v[0] == '0' && v[1] == 'x') {
                p->fill = FILL_CONST;
                p->fill_word = parse_hex(v + 2);
            } else {
                p->fill = FILL_ADDR;
            }
        }
    }
    if (p->hz < 10 || p->hz > 10000) {
        p->hz = 1000;
    }
    if (p->report_ms == 0) {
        p->report_ms = 1000;
    }
    if (p->zero_pct > 100) {
        p->zero_pct = 100;
    }
}

/* ---- RAM fill and dirtying -------------------------------------------------------------------- */

static int
page_stays_zero(uint32_t page, uint32_t zero_pct)
{
    /* Bresenham-like spread: page i is zero when floor((i+1)p/100) > floor(ip/100). */
    return (page + 1) * zero_pct / 100 != page * zero_pct / 100;
}

static void
fill_ram(uint32_t base, uint32_t top, const struct params *p)
{
    uint32_t x = 0x9e3779b9u;

    for (uint32_t addr = base, page = 0; addr < top; addr += PAGE_SIZE, page++) {
        volatile uint32_t *w = (volatile uint32_t *)addr;
        int zero = p->fill == FILL_ZERO || page_stays_zero(page, p->zero_pct);

        for (uint32_t i = 0; i < PAGE_SIZE / 4; i++) {
            uint32_t v;
            if (zero) {
                v = 0;
            } else if (p->fill == FILL_RAND) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                v = x;
            } else if (p->fill == FILL_CONST) {
                v = p->fill_word;
            } else {
                v = (addr + 4 * i) ^ 0xa5a5a5a4u; /* never 0: the low bits of an address are 00 */
            }
            w[i] = v;
        }
    }
}

void
guest_main(uint32_t magic, const uint32_t *mbi)
{
    struct params p = {0, 0, FILL_ADDR, 0, 0, 1000, 1000};
    uint32_t mem_top;
    uint32_t base;
    uint32_t ws_pages;
    uint64_t tsc_hz;
    uint64_t t_fill;
    uint64_t t0;
    uint64_t last_report;
    uint64_t report_tsc;
    uint64_t pages_per_s;
    uint64_t done = 0;       /* pages due so far: written + dropped */
    uint64_t written = 0;
    uint64_t dropped = 0;
    uint64_t written_at_report = 0;
    uint64_t backlog_cap;
    uint32_t cursor = 0;
    uint32_t stamp = 1;

    serial_init();
    if (magic != MB_LOADER_MAGIC || (mbi[0] & 1) == 0) {
        puts_serial("hvf-guest: error not booted by a multiboot loader with memory info\n");
        halt_forever();
    }
    if (mbi[0] & 4) {
        const char *src = (const char *)mbi[4];
        uint32_t i = 0;
        for (; src[i] && i < sizeof(cmdline) - 1; i++) {
            cmdline[i] = src[i];
        }
        cmdline[i] = 0;
    }
    mem_top = 1 * MIB + mbi[2] * 1024u; /* mem_upper: KiB above 1 MiB */
    parse_params(&p);

    tsc_hz = tsc_calibrate();
    base = ((uint32_t)_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (mem_top <= base + PAGE_SIZE) {
        puts_serial("hvf-guest: error no RAM above the image\n");
        halt_forever();
    }
    ws_pages = (mem_top - base) / PAGE_SIZE;
    if (p.ws_mib != 0 && (uint64_t)p.ws_mib * (MIB / PAGE_SIZE) < ws_pages) {
        ws_pages = p.ws_mib * (MIB / PAGE_SIZE);
    }

    puts_serial("hvf-guest: boot");
    put_kv("mem_top", mem_top);
    put_kv("base", base);
    put_kv("tsc_khz", tsc_hz / 1000);
    puts_serial("\n");

    t_fill = rdtsc();
    fill_ram(base, mem_top, &p);
    t_fill = rdtsc() - t_fill;

    pages_per_s = p.rate_kib_s / 4;
    backlog_cap = pages_per_s / p.hz + 1;
    puts_serial("hvf-guest: ready");
    put_kv("filled_kib", (mem_top - base) / 1024);
    put_kv("fill_ms", t_fill * 1000 / tsc_hz);
    put_kv("ws_kib", (uint64_t)ws_pages * 4);
    put_kv("rate_kib_s", pages_per_s * 4);
    put_kv("zero_pct", p.zero_pct);
    put_kv("hz", p.hz);
    puts_serial("\n");

    interrupts_init(p.hz);
    report_tsc = tsc_hz * p.report_ms / 1000;
    t0 = rdtsc();
    last_report = t0;
    __asm__ volatile("sti");

    for (;;) {
        uint64_t now = rdtsc();

        if (pages_per_s != 0) {
            uint64_t target = (now - t0) * pages_per_s / tsc_hz;
            uint64_t due = target > done ? target - done : 0;
            if (due > backlog_cap) {
                dropped += due - backlog_cap;
                done += due - backlog_cap;
                due = backlog_cap;
            }
            for (uint64_t i = 0; i < due; i++) {
                volatile uint32_t *w = (volatile uint32_t *)(base + cursor * PAGE_SIZE);
                w[stamp & (PAGE_SIZE / 4 - 1)] = stamp;
                if (++cursor == ws_pages) {
                    cursor = 0;
                    stamp++;
                }
            }
            done += due;
            written += due;
        }
        if (now - last_report >= report_tsc) {
            uint64_t period = now - last_report;
            puts_serial("hvf-guest: rate");
            put_kv("t_ms", (now - t0) * 1000 / tsc_hz);
            put_kv("kib_s", (written - written_at_report) * 4 * tsc_hz / period);
            put_kv("written", written);
            put_kv("dropped", dropped);
            puts_serial("\n");
            last_report = now;
            written_at_report = written;
        }
        __asm__ volatile("hlt");
    }
}
