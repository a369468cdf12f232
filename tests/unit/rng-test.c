/* SPDX-License-Identifier: MIT */
/* RNG: reference vectors for splitmix64 and xoshiro256**, determinism, and range statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "hvfleet/rng.h"

static void
test_splitmix_reference(void **state)
{
    /* The sequence published with splitmix64 for seed 1234567. */
    static const uint64_t want[] = {6457827717110365317ULL, 3203168211198807973ULL,
                                    9817491932198370423ULL, 4593380528125082431ULL,
                                    16408922859458223821ULL};
    uint64_t s = 1234567;

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(hvf_rng_splitmix64(&s) == want[i]);
}

static void
test_xoshiro_reference(void **state)
{
    /* xoshiro256** from state {1, 2, 3, 4}, as computed by the reference C code. */
    static const uint64_t want[] = {11520ULL,
                                    0ULL,
                                    1509978240ULL,
                                    1215971899390074240ULL,
                                    1216172134540287360ULL,
                                    607988272756665600ULL};
    hvf_rng r = {{1, 2, 3, 4}};

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(hvf_rng_next_u64(&r) == want[i]);
}

static void
test_seeding(void **state)
{
    hvf_rng a, b, c;

    hvf_rng_seed(&a, 42);
    assert_true(hvf_rng_next_u64(&a) == 1546998764402558742ULL);
    assert_true(hvf_rng_next_u64(&a) == 6990951692964543102ULL);
    hvf_rng_seed(&a, 0); /* a zero seed must not give the all-zero (stuck) state */
    assert_true(a.s[0] != 0 || a.s[1] != 0 || a.s[2] != 0 || a.s[3] != 0);
    assert_true(hvf_rng_next_u64(&a) == 11091344671253066420ULL);

    hvf_rng_seed(&b, 7);
    hvf_rng_seed(&c, 7);
    for (int i = 0; i < 1000; i++)
        assert_true(hvf_rng_next_u64(&b) == hvf_rng_next_u64(&c));
    hvf_rng_seed(&c, 8);
    assert_true(hvf_rng_next_u64(&b) != hvf_rng_next_u64(&c));
}

static void
test_uniform(void **state)
{
    hvf_rng r;
    double sum = 0, lo = 1, hi = 0;
    const int n = 200000;

    hvf_rng_seed(&r, 1);
    for (int i = 0; i < n; i++) {
        double u = hvf_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    /* mean 0.5, standard error 0.29/sqrt(n) ~ 0.00065: 0.005 is over 7 sigma */
    assert_true(sum / n > 0.495 && sum / n < 0.505);
    assert_true(lo < 0.001 && hi > 0.999);
}

static void
test_range(void **state)
{
    hvf_rng r;
    unsigned counts[7] = {0};
    const int n = 70000;

    hvf_rng_seed(&r, 99);
    for (int i = 0; i < n; i++) {
        uint64_t v = hvf_rng_range(&r, 10, 16);
        assert_true(v >= 10 && v <= 16);
        counts[v - 10]++;
    }
    /* each bucket expects 10000, sd ~ 93: 500 is over 5 sigma */
    for (int i = 0; i < 7; i++)
        assert_true(counts[i] > 9500 && counts[i] < 10500);

    assert_true(hvf_rng_range(&r, 5, 5) == 5);
    /* full width and near-full width must terminate and stay in range */
    (void)hvf_rng_range(&r, 0, UINT64_MAX);
    for (int i = 0; i < 100; i++)
        assert_true(hvf_rng_range(&r, 1, UINT64_MAX) >= 1);
    /* a span just above half of 2^64 rejects about half of the draws: still unbiased */
    for (int i = 0; i < 100; i++)
        assert_true(hvf_rng_range(&r, 0, (UINT64_MAX / 2) + 1) <= (UINT64_MAX / 2) + 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix_reference),
        cmocka_unit_test(test_xoshiro_reference),
        cmocka_unit_test(test_seeding),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
