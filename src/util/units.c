/* SPDX-License-Identifier: MIT */
/* Parsing and formatting of the units people write: sizes, rates, durations. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <inttypes.h>
#include <strings.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

typedef struct units_entry {
    const char *name;
    double mult;
} units_entry;

/* "kB" and "kbit" are the SI spellings, and the ones hvf_units_format_rate prints. */
static const units_entry size_units[] = {
    {"B", 1.0},       {"KB", 1e3},  {"kB", 1e3},       {"MB", 1e6},         {"GB", 1e9},
    {"TB", 1e12},     {"PB", 1e15},        {"KiB", 1024.0},     {"MiB", 1048576.0},
    {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}, {"PiB", 1125899906842624.0},
    {"K", 1024.0},    {"M", 1048576.0},    {"G", 1073741824.0}, {"T", 1099511627776.0},
    {"P", 1125899906842624.0},
};

/* Network rates are in bits; the multiplier here converts to bytes per second. */
static const units_entry bit_units[] = {
    {"bit", 1.0 / 8},  {"Kbit", 1e3 / 8},  {"kbit", 1e3 / 8}, {"Mbit", 1e6 / 8},
    {"Gbit", 1e9 / 8}, {"Tbit", 1e12 / 8}, {"bps", 1.0 / 8},   {"Kbps", 1e3 / 8},
    {"kbps", 1e3 / 8}, {"Mbps", 1e6 / 8},  {"Gbps", 1e9 / 8},  {"Tbps", 1e12 / 8},
};

static const units_entry time_units[] = {
    {"us", 1.0}, {"ms", 1e3}, {"s", 1e6}, {"sec", 1e6}, {"m", 60e6}, {"min", 60e6},
    {"h", 3600e6}, {"d", 86400e6},
};

bool
hvf_units_decimal(const char *s, size_t len, double *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    uint64_t m = 0;
    size_t digits = 0, frac = 0;
    bool dot = false;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' && !dot) {
            dot = true;
        } else if (s[i] >= '0' && s[i] <= '9') {
            if (++digits > 15) /* below 10^15 < 2^53: m is exact */
                return false;
            m = m * 10 + (uint64_t)(s[i] - '0');
            frac += dot;
        } else {
            return false;
        }
    }
    if (digits == 0)
        return false;
    *out = (double)m / pow10[frac]; /* both exact: the quotient is correctly rounded */
    return true;
}

/* Reads a non-negative decimal number; returns the position after it, or NULL. */
static const char *
units_read_number(const char *p, double *val)
{
    const char *start = p;
    char *end = NULL;

    /* strtod would accept hex, inf, nan and a sign: none of them are sizes. */
    while (isdigit((unsigned char)*p) || *p == '.')
        p++;
    if (p == start || (p == start + 1 && *start == '.'))
        return NULL;
    if (hvf_units_decimal(start, (size_t)(p - start), val))
        return p;
    errno = 0;
    *val = strtod(start, &end);
    if (end != p || errno != 0 || !isfinite(*val))
        return NULL;
    return p;
}

static const units_entry *
units_lookup(const units_entry *table, size_t n, const char *name, size_t len, int fold_case)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(table[i].name) != len)
            continue;
        if (fold_case ? strncasecmp(table[i].name, name, len) == 0
                      : strncmp(table[i].name, name, len) == 0)
            return &table[i];
    }
    return NULL;
}

static const char *
units_skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Splits "NUMBER UNIT", blanks around either: the number goes to @val, the unit (trailing blanks
 * cut) is returned with its length in @len, empty when there is none. NULL without a number. */
static const char *
units_split(const char *s, double *val, size_t *len)
{
    const char *p = units_read_number(units_skip_space(s), val);

    if (!p)
        return NULL;
    p = units_skip_space(p);
    *len = strlen(p);
    while (*len > 0 && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
        (*len)--;
    return p;
}

int
hvf_units_parse_size(const char *s, uint64_t bare_unit, uint64_t *bytes, hvf_error *err)
{
    const char *p;
    const units_entry *u = NULL;
    double val = 0, mult;
    size_t len;

    p = units_split(s, &val, &len);
    if (!p)
        goto bad;
    if (len == 0) {
        if (bare_unit == 0)
            goto bad;
        mult = (double)bare_unit;
    } else {
        /* Exact case first (M vs m is not ambiguous for sizes, but MB vs Mb would be). */
        u = units_lookup(size_units, HVF_ARRAY_LEN(size_units), p, len, 0);
        if (!u)
            u = units_lookup(size_units, HVF_ARRAY_LEN(size_units), p, len, 1);
        if (!u)
            goto bad;
        mult = u->mult;
    }
    /* The bound is 2^64 as a double. llround would overflow from 2^63 (8 EiB) on. */
    if (val * mult >= 18446744073709551615.0)
        goto bad;
    *bytes = (uint64_t)round(val * mult);
    return 0;

bad:
    hvf_error_set(err, HVF_ERR_INVALID,
                  "'%s' is not a size: expected a non-negative number and a unit such as 512GiB, "
                  "8 MiB or 1.5TB",
                  s);
    return -1;
}

int
hvf_units_parse_rate(const char *s, double *bytes_per_s, hvf_error *err)
{
    const char *p;
    const units_entry *u = NULL;
    double val = 0;
    size_t len;

    p = units_split(s, &val, &len);
    if (!p)
        goto bad;
    if (len == 0) {
        /* Zero is zero in every unit: "dirty_rate: 0" needs none. */
        if (val != 0)
            goto bad;
        *bytes_per_s = 0;
        return 0;
    }
    if (len > 2 && strncmp(p + len - 2, "/s", 2) == 0) {
        u = units_lookup(bit_units, HVF_ARRAY_LEN(bit_units), p, len - 2, 0);
        if (!u)
            u = units_lookup(size_units, HVF_ARRAY_LEN(size_units), p, len - 2, 0);
    } else {
        u = units_lookup(bit_units, HVF_ARRAY_LEN(bit_units), p, len, 0);
    }
    /*
     * Bounded like sizes and durations: 1e300 Tbit is infinite as bytes per second, and anything
     * above 1 EB/s (8 Ebit/s, 10^5 times any NIC) is a typo that no output format can show.
     */
    if (!u || !(val * u->mult <= HVF_RATE_MAX_BYTES_PER_S))
        goto bad;
    *bytes_per_s = val * u->mult;
    return 0;

bad:
    hvf_error_set(err, HVF_ERR_INVALID,
                  "'%s' is not a rate: expected a number and a unit such as 10Gbit, 1.25GB/s or "
                  "50MiB/s",
                  s);
    return -1;
}

int
hvf_units_parse_duration(const char *s, int64_t *us, hvf_error *err)
{
    const char *p = units_skip_space(s);
    double total = 0;
    int terms = 0;

    while (*p) {
        const units_entry *u;
        const char *unit;
        double val = 0;

        p = units_read_number(p, &val);
        if (!p)
            goto bad;
        p = units_skip_space(p);
        unit = p;
        while (isalpha((unsigned char)*p))
            p++;
        if (p == unit) {
            /* A bare number is seconds, but only on its own. */
            if (terms > 0 || *units_skip_space(p) != '\0')
                goto bad;
            total += val * 1e6;
        } else {
            u = units_lookup(time_units, HVF_ARRAY_LEN(time_units), unit, (size_t)(p - unit), 0);
            if (!u)
                goto bad;
            total += val * u->mult;
        }
        terms++;
        p = units_skip_space(p);
    }
    if (terms == 0 || total > 9.2e18)
        goto bad;
    *us = (int64_t)llround(total);
    return 0;

bad:
    hvf_error_set(err, HVF_ERR_INVALID,
                  "'%s' is not a duration: expected a number and a unit such as 300ms, 90s, 30m "
                  "or 2h",
                  s);
    return -1;
}

char *
hvf_units_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t i = 0;

    while (v >= 1024.0 && i + 1 < HVF_ARRAY_LEN(names)) {
        v /= 1024.0;
        i++;
    }
    if (v == floor(v))
        snprintf(buf, size, "%.0f %s", v, names[i]);
    else
        snprintf(buf, size, "%.1f %s", v, names[i]);
    return buf;
}

char *
hvf_units_format_rate(double bytes_per_s, char *buf, size_t size)
{
    if (bytes_per_s >= 1e9)
        snprintf(buf, size, "%.2f GB/s", bytes_per_s / 1e9);
    else if (bytes_per_s >= 1e6)
        snprintf(buf, size, "%.1f MB/s", bytes_per_s / 1e6);
    else if (bytes_per_s >= 1e3)
        snprintf(buf, size, "%.1f kB/s", bytes_per_s / 1e3);
    else
        snprintf(buf, size, "%.0f B/s", bytes_per_s);
    return buf;
}

char *
hvf_units_format_duration(int64_t us, char *buf, size_t size)
{
    int64_t s;

    if (us < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    if (us < HVF_US_PER_MS)
        snprintf(buf, size, "%" PRId64 " us", us);
    else if (us < HVF_US_PER_S)
        snprintf(buf, size, "%.0f ms", (double)us / 1e3);
    else if (us < 60 * HVF_US_PER_S)
        snprintf(buf, size, "%.1f s", (double)us / 1e6);
    else {
        s = (us + HVF_US_PER_S / 2) / HVF_US_PER_S;
        if (s < 3600)
            snprintf(buf, size, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
        else
            snprintf(buf, size, "%" PRId64 "h %02" PRId64 "m %02" PRId64 "s", s / 3600,
                     (s / 60) % 60, s % 60);
    }
    return buf;
}
