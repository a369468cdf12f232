/* SPDX-License-Identifier: MIT */
/* Unit parsing and formatting: good forms, bad forms, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/units.h"

static void
test_size_good(void **state)
{
    static const struct {
        const char *in;
        uint64_t want;
    } cases[] = {
        {"512GiB", 512 * HVF_GIB}, {"8 GiB", 8 * HVF_GIB},   {"1.5TB", 1500000000000ULL},
        {"50MiB", 50 * HVF_MIB},   {"4096", 4096 * HVF_MIB}, {"1K", 1024},
        {"0", 0},                  {"2gib", 2 * HVF_GIB},    {" 3 MB ", 3000000},
        /* above 2^63 bytes, where llround overflowed */
        {"15000PiB", 15000ULL << 50},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = 0;
        hvf_error err = HVF_ERROR_INIT;
        assert_int_equal(hvf_units_parse_size(cases[i].in, HVF_MIB, &got, &err), 0);
        assert_int_equal(got, cases[i].want);
    }
}

static void
test_size_bad(void **state)
{
    static const char *const bad[] = {"", "GiB", "-1GiB", "12XB", "1e3GiB", "0x10", "nan",
                                      "inf", "1..2G", "1 2 GiB", "99999999999PiB", "."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t got = 0;
        hvf_error err = HVF_ERROR_INIT;
        assert_int_equal(hvf_units_parse_size(bad[i], HVF_MIB, &got, &err), -1);
        assert_int_equal(err.code, HVF_ERR_INVALID);
        assert_non_null(strstr(err.msg, "is not a size"));
    }
    {
        uint64_t got = 0;
        hvf_error err = HVF_ERROR_INIT;
        /* a bare number is refused when the caller has no default unit */
        assert_int_equal(hvf_units_parse_size("42", 0, &got, &err), -1);
    }
}

static void
test_rate(void **state)
{
    double r = 0;
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_units_parse_rate("10Gbit", &r, &err), 0);
    assert_float_equal(r, 1.25e9, 1);
    assert_int_equal(hvf_units_parse_rate("1.25GB/s", &r, &err), 0);
    assert_float_equal(r, 1.25e9, 1);
    assert_int_equal(hvf_units_parse_rate("50MiB/s", &r, &err), 0);
    assert_float_equal(r, 50.0 * 1048576, 1e-6);
    assert_int_equal(hvf_units_parse_rate("1 Gbit/s", &r, &err), 0);
    assert_float_equal(r, 1.25e8, 1);
    assert_int_equal(hvf_units_parse_rate("100Mbps", &r, &err), 0);
    assert_float_equal(r, 1.25e7, 1);
    /* SI "k", as hvf_units_format_rate prints it */
    assert_int_equal(hvf_units_parse_rate("1.2 kB/s", &r, &err), 0);
    assert_float_equal(r, 1200, 1e-9);
    assert_int_equal(hvf_units_parse_rate("64kbit", &r, &err), 0);
    assert_float_equal(r, 8000, 1e-9);

    r = 5;
    assert_int_equal(hvf_units_parse_rate("0", &r, &err), 0); /* zero needs no unit */
    assert_float_equal(r, 0, 0);
    assert_int_equal(hvf_units_parse_rate("10", &r, &err), -1);
    assert_non_null(strstr(err.msg, "'10' is not a rate"));
    assert_int_equal(hvf_units_parse_rate("10GiB", &r, &err), -1);
    assert_int_equal(hvf_units_parse_rate("-5MB/s", &r, &err), -1);
    assert_int_equal(hvf_units_parse_rate("5 parsecs", &r, &err), -1);
    /* the bound: 8 Ebit/s reads, more does not (its printed form overflowed buffers) */
    assert_int_equal(hvf_units_parse_rate("8000000Tbit", &r, &err), 0);
    assert_int_equal(hvf_units_parse_rate("8000001Tbit", &r, &err), -1);
    assert_int_equal(hvf_units_parse_rate("2222222222222222222222222223kB/s", &r, &err), -1);
}

static void
test_duration(void **state)
{
    int64_t us = 0;
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_units_parse_duration("300ms", &us, &err), 0);
    assert_int_equal(us, 300000);
    assert_int_equal(hvf_units_parse_duration("2h", &us, &err), 0);
    assert_int_equal(us, 7200LL * 1000000);
    assert_int_equal(hvf_units_parse_duration("1h30m", &us, &err), 0);
    assert_int_equal(us, 5400LL * 1000000);
    assert_int_equal(hvf_units_parse_duration("90", &us, &err), 0);
    assert_int_equal(us, 90LL * 1000000);
    assert_int_equal(hvf_units_parse_duration("1.5s", &us, &err), 0);
    assert_int_equal(us, 1500000);

    assert_int_equal(hvf_units_parse_duration("", &us, &err), -1);
    assert_int_equal(hvf_units_parse_duration("5 fortnights", &us, &err), -1);
    assert_int_equal(hvf_units_parse_duration("1h 30", &us, &err), -1);
    assert_int_equal(hvf_units_parse_duration("-3s", &us, &err), -1);
    assert_non_null(strstr(err.msg, "is not a duration"));
}

static void
test_format(void **state)
{
    char buf[64];

    assert_string_equal(hvf_units_format_size(512 * HVF_GIB, buf, sizeof(buf)), "512 GiB");
    assert_string_equal(hvf_units_format_size(1536 * HVF_MIB, buf, sizeof(buf)), "1.5 GiB");
    assert_string_equal(hvf_units_format_duration(300000, buf, sizeof(buf)), "300 ms");
    assert_string_equal(hvf_units_format_duration(3723LL * 1000000, buf, sizeof(buf)),
                        "1h 02m 03s");
    assert_string_equal(hvf_units_format_rate(1.25e9, buf, sizeof(buf)), "1.25 GB/s");
}

/* hvf_units_decimal gives strtod's double for every plain decimal it takes, and takes no other. */
static void
test_decimal(void **state)
{
    static const char *const refused[] = {"", ".", "-1", "+1", "1e3", "1.2.3", "0x1", "inf",
                                          " 1", "1 ", "1234567890123456", "0.0000000000000001"};
    uint64_t x = 88172645463325252ULL;
    char buf[40];
    double d;

    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_false(hvf_units_decimal(refused[i], strlen(refused[i]), &d));
    assert_true(hvf_units_decimal("5.", 2, &d) && d == 5.0);
    assert_true(hvf_units_decimal(".5", 2, &d) && d == 0.5);
    for (int i = 0; i < 200000; i++) {
        int digits, point;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        digits = 1 + (int)(x % 15);
        point = (int)((x >> 8) % (uint64_t)(digits + 1));
        snprintf(buf, sizeof(buf), "%0*llu", digits,
                 (unsigned long long)((x >> 16) % 1000000000000000ULL));
        buf[digits] = '\0';
        memmove(buf + point + 1, buf + point, (size_t)(digits - point) + 1);
        buf[point] = '.';
        assert_true(hvf_units_decimal(buf, strlen(buf), &d));
        if (d != strtod(buf, NULL))
            fail_msg("'%s': %.17g, strtod %.17g", buf, d, strtod(buf, NULL));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_good), cmocka_unit_test(test_size_bad),
        cmocka_unit_test(test_rate),      cmocka_unit_test(test_duration),
        cmocka_unit_test(test_format),    cmocka_unit_test(test_decimal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
