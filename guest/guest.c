/* SPDX-License-Identifier: MIT */
/*
 * Benchmark guest for real QEMU live migrations: fills its RAM with non-zero data, then dirties one
 * word per 4 KiB page across a working set at a set rate, and reports on COM1.
 *
 * Command line (multiboot, from `-append`): key=value words, all optional.
 *   ws=MiB       working set: that many MiB of pages spread evenly over the RAM above the image
 *                (default: all of it)
 *   walk=stride|seq  order of the writes (default stride, see below)
 *   rate=MiB/s   dirty rate, decimals allowed (default 0: fill, then idle)
 *   fill=addr|rand|zero|0xHEX  content of RAM (default addr: each word is its address ^ a mask)
 *   zero=PCT     share of pages left zero, spread evenly (default 0), to check zero-page handling
 *   hz=N         pacing timer (PIT) frequency (default 1000)
 *   report=MS    period of the rate reports (default 1000)
 *
 * Serial lines all start with "hvf-guest: " and carry key=value words; the bench parses "ready"
 * (fill done, dirtying starts) and "rate" (achieved dirty rate over the last period). Each rate
 * line also says how many working-set pages do not hold their last write ("stale"): always 0
 * on the source, and on the destination unless the migration lost a dirty page.
 *
 * Order: each page of the working set is written once per pass (W/D seconds), so the pages dirtied
 * in any interval shorter than a pass are all distinct: D x t of them. By default a pass visits
 * the pages with a fixed stride coprime to their number (about 0.618 of it), so the order of the
 * writes is unrelated to addresses; QEMU scans RAM in address order, and a sequential writer
 * (walk=seq) would make how often both meet depend on where the guest happened to be.
 *
 * Pacing: the TSC, calibrated against PIT channel 2, says how many pages are due; the guest writes
 * them after each timer tick and halts in between (a spinning guest would burn a host core). Late
 * ticks are caught up, but when the vCPU did not run for more than two ticks (QEMU's auto-converge
 * puts it to sleep for 2.5 ms and more per 10 ms it runs) the pages due for that gap are dropped,
 * not caught up: a throttled guest must dirty less, as a CPU-bound workload would.
 */
#include <stdint.h>

#include "hw.h"

#define PAGE_SIZE 4096u
#define MIB (1024u * 1024u)
#define MB_LOADER_MAGIC 0x2BADB002u

extern char _end[];

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
    int sequential;
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
        } else if (word_eq(w, "walk", &v)) {
            p->sequential = str_eq(v, "seq");
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

/* ---- RAM fill and dirtying --------------------------------------------------------------------
 */

static int
page_stays_zero(uint32_t page, uint32_t zero_pct)
{
    /* Bresenham-like spread: page i is zero when floor((i+1)p/100) > floor(ip/100). */
    return (page + 1) * zero_pct / 100 != page * zero_pct / 100;
}

static uint32_t
gcd32(uint32_t a, uint32_t b)
{
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* A stride near 0.618 of @n that is coprime with it, so that stepping by it visits every page. */
static uint32_t
walk_stride(uint32_t n)
{
    uint32_t s = (uint32_t)((uint64_t)n * 2654435769u >> 32);

    if (s == 0) {
        s = 1;
    }
    while (gcd32(s, n) != 1) {
        s++;
    }
    return s;
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

/*
 * Pages of the working set whose last write is missing. The page at walk position i got the
 * stamp of the current pass if i < visited, else the one of the previous pass, each time in the
 * word the stamp selects.
 */
/*
 * The working set's pages are spread evenly over RAM, as a guest's hot pages are scattered over
 * its memory: page i of the set is RAM page i * spread / 2^16. QEMU scans RAM in address order,
 * so a set packed at one end would meet the unsent tail of its first pass always or never.
 */
static uint32_t ws_spread; /* RAM pages per working-set page, 16.16 fixed point, >= 1.0 */

static volatile uint32_t *
ws_page(uint32_t base, uint32_t i)
{
    return (volatile uint32_t *)(base + (uint32_t)(((uint64_t)i * ws_spread) >> 16) * PAGE_SIZE);
}

static uint32_t
count_stale(uint32_t base, uint32_t ws_pages, uint32_t step, uint32_t visited, uint32_t stamp)
{
    uint32_t pos = 0;
    uint32_t stale = 0;

    for (uint32_t i = 0; i < ws_pages; i++) {
        uint32_t want = i < visited ? stamp : stamp - 1;
        volatile uint32_t *w = ws_page(base, pos);
        if (want != 0 && w[want & (PAGE_SIZE / 4 - 1)] != want) {
            stale++;
        }
        pos += step;
        if (pos >= ws_pages) {
            pos -= ws_pages;
        }
    }
    return stale;
}

void
guest_main(uint32_t magic, const uint32_t *mbi)
{
    struct params p = {0, 0, FILL_ADDR, 0, 0, 1000, 1000, 0};
    uint32_t mem_top;
    uint32_t base;
    uint32_t ws_pages;
    uint64_t tsc_hz;
    uint64_t t_fill;
    uint64_t t0;
    uint64_t last_report;
    uint64_t report_tsc;
    uint64_t pages_per_s;
    uint64_t done = 0; /* pages due so far: written + dropped */
    uint64_t written = 0;
    uint64_t dropped = 0;
    uint64_t written_at_report = 0;
    uint64_t tick_tsc;
    uint64_t last_now;
    uint32_t cursor = 0;
    uint32_t step;
    uint32_t visited = 0;
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
    ws_spread = 1u << 16;
    if (p.ws_mib != 0 && (uint64_t)p.ws_mib * (MIB / PAGE_SIZE) < ws_pages) {
        uint32_t ram_pages = ws_pages;
        ws_pages = p.ws_mib * (MIB / PAGE_SIZE);
        ws_spread = (uint32_t)(((uint64_t)ram_pages << 16) / ws_pages);
    }

    puts_serial("hvf-guest: boot");
    put_kv("mem_top", mem_top);
    put_kv("base", base);
    put_kv("tsc_khz", tsc_hz / 1000);
    puts_serial("\n");

    t_fill = rdtsc();
    fill_ram(base, mem_top, &p);
    t_fill = rdtsc() - t_fill;

    step = p.sequential ? 1 : walk_stride(ws_pages);
    pages_per_s = p.rate_kib_s / 4;
    tick_tsc = tsc_hz / p.hz;
    puts_serial("hvf-guest: ready");
    put_kv("filled_kib", (mem_top - base) / 1024);
    put_kv("fill_ms", t_fill * 1000 / tsc_hz);
    put_kv("ws_kib", (uint64_t)ws_pages * 4);
    put_kv("rate_kib_s", pages_per_s * 4);
    put_kv("zero_pct", p.zero_pct);
    put_kv("stride", step);
    put_kv("hz", p.hz);
    puts_serial("\n");

    interrupts_init(p.hz);
    report_tsc = tsc_hz * p.report_ms / 1000;
    t0 = rdtsc();
    last_report = t0;
    last_now = t0;
    __asm__ volatile("sti");

    for (;;) {
        uint64_t now = rdtsc();

        if (pages_per_s != 0) {
            uint64_t target = (now - t0) * pages_per_s / tsc_hz;
            uint64_t due = target > done ? target - done : 0;
            uint64_t gap = now - last_now;
            if (gap > 2 * tick_tsc) {
                /* The vCPU was stopped: half a tick of the gap is ours on average, the rest
                 * was sleep. */
                uint64_t lost = (gap - tick_tsc / 2) * pages_per_s / tsc_hz;
                if (lost > due)
                    lost = due;
                dropped += lost;
                done += lost;
                due -= lost;
            }
            for (uint64_t i = 0; i < due; i++) {
                volatile uint32_t *w = ws_page(base, cursor);
                w[stamp & (PAGE_SIZE / 4 - 1)] = stamp;
                cursor += step;
                if (cursor >= ws_pages) {
                    cursor -= ws_pages;
                }
                if (++visited == ws_pages) {
                    visited = 0;
                    stamp++;
                }
            }
            done += due;
            written += due;
        }
        last_now = now;
        if (now - last_report >= report_tsc) {
            uint64_t period = now - last_report;
            puts_serial("hvf-guest: rate");
            put_kv("t_ms", (now - t0) * 1000 / tsc_hz);
            put_kv("kib_s", (written - written_at_report) * 4 * tsc_hz / period);
            put_kv("written", written);
            put_kv("dropped", dropped);
            if (pages_per_s != 0) {
                put_kv("stale", count_stale(base, ws_pages, step, visited, stamp));
            }
            puts_serial("\n");
            last_report = now;
            written_at_report = written;
        }
        __asm__ volatile("hlt");
    }
}
