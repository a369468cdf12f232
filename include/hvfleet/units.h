/* SPDX-License-Identifier: MIT */
/* Units people write in files and flags: sizes (512GiB), rates (10Gbit, 50MiB/s), durations (90s, 2h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

#define HVF_KIB 1024ULL
#define HVF_MIB (1024ULL * 1024)
#define HVF_GIB (1024ULL * 1024 * 1024)
#define HVF_TIB (1024ULL * 1024 * 1024 * 1024)

#define HVF_RATE_MAX_BYTES_PER_S 1e18 /* 1 EB/s */

#define HVF_US_PER_MS 1000LL
#define HVF_US_PER_S 1000000LL

/*
 * hvf_units_decimal: @len bytes of plain decimal ("123", "0.15625", "5.", ".5") with at most 15
 * digits, as a double: exactly what strtod gives, without its cost (an integer below 2^53 over an
 * exact power of ten is one correctly rounded division, Clinger's fast path). Returns false for
 * anything else - a sign, an exponent, more digits, no digit - which the caller gives to strtod.
 */
bool hvf_units_decimal(const char *s, size_t len, double *out);

/*
 * Sizes: a non-negative number, optional spaces, and a unit: B, KB/MB/GB/TB/PB (powers of 1000),
 * KiB/MiB/GiB/TiB/PiB and the QEMU-style K/M/G/T/P (powers of 1024). A bare number is multiplied
 * by @bare_unit bytes, or rejected when @bare_unit is 0. Sets *@bytes; -1 with @err on bad input.
 */
int hvf_units_parse_size(const char *s, uint64_t bare_unit, uint64_t *bytes, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * Rates: bits per second (bit, Kbit or kbit, Mbit, Gbit, Tbit, with or without "/s", and bps,
 * Kbps or kbps, Mbps, Gbps, Tbps; powers of 1000 as in networking) or bytes per second (any size
 * unit, or kB, followed by "/s": 1.25GB/s, 50MiB/s, 3.2 kB/s). A unit is required, except for 0. Sets
 * *@bytes_per_s, at most HVF_RATE_MAX_BYTES_PER_S. Whatever hvf_units_format_rate prints
 * reads back.
 */
int hvf_units_parse_rate(const char *s, double *bytes_per_s, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * Durations: one or more number+unit terms (us, ms, s, m or min, h, d), e.g. 300ms, 90s, 1h30m.
 * A bare number means seconds. Sets *@us (microseconds); fractions below 1 us are rounded.
 */
int hvf_units_parse_duration(const char *s, int64_t *us, hvf_error *err)
    __attribute__((warn_unused_result));

/* Human forms for text output; @buf is always terminated. Return @buf. */
char *hvf_units_format_size(uint64_t bytes, char *buf, size_t size);
char *hvf_units_format_rate(double bytes_per_s, char *buf, size_t size);
char *hvf_units_format_duration(int64_t us, char *buf, size_t size);
