/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the unit parsers (sizes, rates, durations): any bytes, as a C string,
 * must parse or fail with a message, and what parses must come back from its human form
 * (hvf_units_format_*) within the rounding of that form.
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

/* Unit strings are short; longer inputs only repeat digits. */
#define FUZZ_MAX_INPUT 4096

static void
check_error(const char *what, const char *s, const hvf_error *err)
{
    if (err->code != HVF_ERR_INVALID || err->msg[0] == '\0')
        fuzz_fail("%s('%s') failed without an error", what, s);
}

/* A size's human form ("1.5 GiB") keeps one decimal of its unit: half a tenth of it is lost. */
static void
check_size(const char *s, uint64_t bytes)
{
    hvf_error err = HVF_ERROR_INIT;
    char text[64];
    uint64_t back = 0;
    double unit = 1, v = (double)bytes;

    hvf_units_format_size(bytes, text, sizeof(text));
    for (int i = 0; v >= 1024.0 && i < 5; i++) {
        v /= 1024.0;
        unit *= 1024.0;
    }
    if (hvf_units_parse_size(text, 0, &back, &err) < 0)
        fuzz_fail("size '%s' = %llu B formats as '%s', which does not parse: %s", s,
                  (unsigned long long)bytes, text, err.msg);
    if (fabs((double)back - (double)bytes) > 0.05 * unit * (1 + 1e-9) + 1)
        fuzz_fail("size '%s' = %llu B formats as '%s', which parses as %llu B", s,
                  (unsigned long long)bytes, text, (unsigned long long)back);
}

/* Rates print 3 significant digits at least ("12.5 MB/s", "1.25 GB/s"): 5 % covers them. */
static void
check_rate(const char *s, double bps)
{
    hvf_error err = HVF_ERROR_INIT;
    char text[64];
    double back = 0;

    if (bps < 0 || !isfinite(bps))
        fuzz_fail("rate '%s' parsed as %g B/s", s, bps);
    hvf_units_format_rate(bps, text, sizeof(text));
    if (hvf_units_parse_rate(text, &back, &err) < 0)
        fuzz_fail("rate '%s' = %.17g B/s formats as '%s', which does not parse: %s", s, bps, text,
                  err.msg);
    if (fabs(back - bps) > 0.05 * bps + 0.5)
        fuzz_fail("rate '%s' = %.17g B/s formats as '%s', which parses as %.17g B/s", s, bps, text,
                  back);
}

/* Durations print to 1 us, 1 ms, 0.1 s or 1 s depending on their size. */
static void
check_duration(const char *s, int64_t us)
{
    hvf_error err = HVF_ERROR_INIT;
    char text[64];
    int64_t back = 0;
    double tolerance;

    if (us < 0)
        fuzz_fail("duration '%s' parsed as %lld us", s, (long long)us);
    hvf_units_format_duration(us, text, sizeof(text));
    if (hvf_units_parse_duration(text, &back, &err) < 0)
        fuzz_fail("duration '%s' = %lld us formats as '%s', which does not parse: %s", s,
                  (long long)us, text, err.msg);
    if (us < HVF_US_PER_MS)
        tolerance = 0;
    else if (us < HVF_US_PER_S)
        tolerance = 500;
    else if (us < 60 * HVF_US_PER_S)
        tolerance = 50000;
    else
        tolerance = 500000;
    if (fabs((double)back - (double)us) > tolerance * (1 + 1e-9))
        fuzz_fail("duration '%s' = %lld us formats as '%s', which parses as %lld us", s,
                  (long long)us, text, (long long)back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[FUZZ_MAX_INPUT + 1];
    hvf_error err = HVF_ERROR_INIT;
    uint64_t bytes = 0;
    double bps = 0;
    int64_t us = 0;

    if (size > FUZZ_MAX_INPUT)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    if (hvf_units_parse_size(s, HVF_MIB, &bytes, &err) == 0)
        check_size(s, bytes);
    else
        check_error("hvf_units_parse_size", s, &err);
    hvf_error_clear(&err);
    if (hvf_units_parse_size(s, 0, &bytes, &err) == 0)
        check_size(s, bytes);
    else
        check_error("hvf_units_parse_size", s, &err);
    hvf_error_clear(&err);
    if (hvf_units_parse_rate(s, &bps, &err) == 0)
        check_rate(s, bps);
    else
        check_error("hvf_units_parse_rate", s, &err);
    hvf_error_clear(&err);
    if (hvf_units_parse_duration(s, &us, &err) == 0)
        check_duration(s, us);
    else
        check_error("hvf_units_parse_duration", s, &err);
    return 0;
}
