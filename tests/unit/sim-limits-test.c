/* SPDX-License-Identifier: MIT */
/*
 * The bounds on a run's work (hvf_sim_params_check_work): the duration, and samples x hosts,
 * with the metrics_interval the refusal suggests fitting exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sim-types.h"
#include "hvfleet/units.h"

/* The interval the message suggests, parsed back. */
static int64_t
suggested_us(const char *msg)
{
    const char *at = strstr(msg, "a metrics_interval of at least ");
    char text[32];
    int64_t us = 0;
    hvf_error err = HVF_ERROR_INIT;
    size_t len;

    assert_non_null(at);
    at += strlen("a metrics_interval of at least ");
    len = strcspn(at, "o") - 1; /* up to " or a shorter duration" */
    assert_true(len < sizeof(text));
    memcpy(text, at, len);
    text[len] = '\0';
    for (char *p = strchr(text, ' '); p; p = strchr(text, ' '))
        memmove(p, p + 1, strlen(p));
    assert_int_equal(hvf_units_parse_duration(text, &us, &err), 0);
    return us;
}

static void
test_duration(void **state)
{
    hvf_sim_params p;
    hvf_error err = HVF_ERROR_INIT;
    const char *field = NULL;

    (void)state;
    hvf_sim_params_default(&p);
    p.metrics_interval_us = 0; /* no samples: only the duration counts */
    p.duration_us = HVF_SIM_MAX_DURATION_US;
    assert_int_equal(hvf_sim_params_check_work(&p, 1, &field, &err), 0);
    p.duration_us++;
    assert_int_equal(hvf_sim_params_check_work(&p, 1, &field, &err), -1);
    assert_string_equal(field, "duration");
    assert_non_null(strstr(err.msg, "at most 366d"));
}

/* For any fleet size and duration, the suggested interval fits and a shorter one does not. */
static void
test_samples(void **state)
{
    static const size_t hosts[] = {1, 2, 50, 1000, 30000, 20000000};
    static const int64_t durations[] = {3600, 86400, 30 * 86400, 366 * 86400};
    hvf_sim_params p;

    (void)state;
    hvf_sim_params_default(&p);
    for (size_t i = 0; i < HVF_ARRAY_LEN(hosts); i++) {
        for (size_t j = 0; j < HVF_ARRAY_LEN(durations); j++) {
            hvf_error err = HVF_ERROR_INIT;
            const char *field = NULL;
            int64_t fit;
            p.duration_us = durations[j] * HVF_US_PER_S;
            p.metrics_interval_us = 1;
            assert_int_equal(hvf_sim_params_check_work(&p, hosts[i], &field, &err), -1);
            assert_string_equal(field, "metrics_interval");
            fit = suggested_us(err.msg);
            if (getenv("HVF_TEST_DEBUG"))
                fprintf(stderr, "%zu hosts %lld s: %s -> %lld\n", hosts[i], (long long)durations[j], err.msg, (long long)fit);
            p.metrics_interval_us = fit;
            assert_int_equal(hvf_sim_params_check_work(&p, hosts[i], &field, &err), 0);
            /* samples x hosts within the bound, as the message says */
            assert_true(((uint64_t)(p.duration_us / fit) + 1) * hosts[i] <=
                        HVF_SIM_MAX_HOST_SAMPLES);
            /* the suggestion is near the bound (rounded up to a whole ms or s): half of it
             * does not fit */
            p.metrics_interval_us = fit / 2;
            if (p.metrics_interval_us > 0)
                assert_int_equal(hvf_sim_params_check_work(&p, hosts[i], &field, &err), -1);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
