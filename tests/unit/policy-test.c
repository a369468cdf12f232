/* SPDX-License-Identifier: MIT */
/* Policy files: defaults, every field read, round trip, and one bad case per kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/policy.h"
#include "hvfleet/units.h"

static int
policy_parse_text(const char *text, hvf_policy *p, hvf_diags *d)
{
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(d);
    return hvf_policy_parse("p.yaml", text, strlen(text), p, d, &err);
}

static void
test_defaults(void **state)
{
    hvf_policy p, q;
    hvf_diags d;

    hvf_policy_default(&p);
    assert_int_equal(p.max_migrations_out_per_host, 2);
    assert_int_equal(p.max_migrations_in_per_host, 2);
    assert_int_equal(p.downtime_limit_us, 300 * HVF_US_PER_MS);
    assert_int_equal(p.non_converging, HVF_NON_CONVERGING_AUTO_CONVERGE);
    assert_int_equal(p.seatbelt.max_hosts_without_approval, 1);
    /* An empty mapping keeps every default. */
    assert_int_equal(policy_parse_text("{}", &q, &d), 0);
    assert_memory_equal(&p, &q, sizeof(p));
    hvf_diags_clear(&d);
    assert_int_equal(hvf_policy_headroom_mib(&p, 1000), 50);
}

static void
test_every_field(void **state)
{
    static const char text[] = "schema: hvfleet.policy/v1\n"
                               "max_parallel_hosts: 4\n"
                               "max_parallel_per_rack: 2\n"
                               "max_parallel_per_zone: 3\n"
                               "max_migrations_out_per_host: 1\n"
                               "max_migrations_in_per_host: 3\n"
                               "migration_bandwidth: 1Gbit\n"
                               "migration_share: 80%\n"
                               "headroom: 16GiB\n"
                               "downtime_limit: 500ms\n"
                               "maintenance_time: 20m\n"
                               "return_vms: true\n"
                               "non_converging: shutdown\n"
                               "window: {start: 1h, end: 7h}\n"
                               "seatbelt:\n"
                               "  max_hosts_without_approval: 10\n"
                               "  max_capacity_offline: 0.3\n"
                               "  max_plan_duration: 6h\n";
    hvf_policy p;
    hvf_diags d;

    assert_int_equal(policy_parse_text(text, &p, &d), 0);
    assert_int_equal(p.max_parallel_hosts, 4);
    assert_int_equal(p.max_parallel_per_rack, 2);
    assert_int_equal(p.max_parallel_per_zone, 3);
    assert_int_equal(p.max_migrations_out_per_host, 1);
    assert_int_equal(p.max_migrations_in_per_host, 3);
    assert_true(p.migration_bandwidth_bytes_per_s == 1.25e8);
    assert_true(p.migration_share == 0.8);
    assert_int_equal(p.headroom_mib, 16384);
    assert_int_equal(hvf_policy_headroom_mib(&p, 1000), 16384);
    assert_int_equal(p.downtime_limit_us, 500 * HVF_US_PER_MS);
    assert_int_equal(p.maintenance_time_us, 1200 * HVF_US_PER_S);
    assert_true(p.return_vms);
    assert_int_equal(p.non_converging, HVF_NON_CONVERGING_SHUTDOWN);
    assert_int_equal(p.window_start_us, 3600 * HVF_US_PER_S);
    assert_int_equal(p.window_end_us, 7 * 3600 * HVF_US_PER_S);
    assert_int_equal(p.seatbelt.max_hosts_without_approval, 10);
    assert_true(p.seatbelt.max_capacity_offline == 0.3);
    assert_int_equal(p.seatbelt.max_plan_duration_us, 6 * 3600 * HVF_US_PER_S);
    hvf_diags_clear(&d);
}

static void
test_round_trip(void **state)
{
    hvf_policy p, q;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_diags d;
    double shares[] = {0.05, 0.07, 0.333, 0.123456789};

    for (size_t i = 0; i < HVF_ARRAY_LEN(shares); i++) {
        hvf_policy_default(&p);
        p.headroom_share = shares[i];
        p.migration_share = shares[i];
        p.migration_bandwidth_bytes_per_s = i ? 3.3e8 : 0;
        p.downtime_limit_us = 1234 + (int64_t)i;
        p.window_end_us = 5 * HVF_US_PER_MS;
        p.return_vms = i % 2;
        p.non_converging = (hvf_non_converging)(i % HVF_NON_CONVERGING_LAST);
        hvf_policy_format(&p, &sb);
        assert_int_equal(policy_parse_text(sb.buf, &q, &d), 0);
        assert_memory_equal(&p, &q, sizeof(p));
        hvf_diags_clear(&d);
        hvf_strbuf_clear(&sb);
    }
    p.headroom_mib = 2048;
    p.headroom_share = 0;
    hvf_policy_format(&p, &sb);
    assert_int_equal(policy_parse_text(sb.buf, &q, &d), 0);
    assert_memory_equal(&p, &q, sizeof(p));
    hvf_diags_clear(&d);
    hvf_strbuf_clear(&sb);
}

static void
test_bad(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* a substring of the first problem */
    } cases[] = {
        {"max_parallel_host: 2\n",
         "p.yaml:1: max_parallel_host: 'max_parallel_host': unknown field"},
        {"return_vms: false\nmax_parallel_hosts: 0\n",
         "p.yaml:2: max_parallel_hosts: '0': expected a whole number between 1"},
        {"migration_share: 150%\n", "p.yaml:1: migration_share: '150%': expected a share"},
        {"migration_share: 0\n", "expected a share such as 0.5 or 50%, above 0"},
        {"headroom: lots\n", "p.yaml:1: headroom: 'lots': expected a size such as 16GiB"},
        {"headroom: 100%\n", "expected a share below 100%"},
        {"migration_bandwidth: 10\n", "expected a rate such as 1Gbit"},
        {"downtime_limit: 0s\n", "downtime_limit: '0s': expected more than 0"},
        {"non_converging: pray\n",
         "non_converging: 'pray': expected one of auto-converge | post-copy | shutdown | refuse"},
        {"window:\n  start: 2h\n  end: 1h\n",
         "p.yaml:3: window.end: '1h': expected a time after window.start"},
        {"seatbelt: {max_capacity_offline: 2}\n", "seatbelt.max_capacity_offline: '2'"},
        {"seatbelt: {max_hosts: 2}\n", "seatbelt.max_hosts: 'max_hosts': unknown field"},
        {"schema: hvfleet.policy/v2\n",
         "schema: 'hvfleet.policy/v2': expected 'hvfleet.policy/v1'"},
        {"- 1\n", "expected a mapping"},
        {"max_parallel_hosts: [1\n", "syntax"},
        {"return_vms: yes please\n", "expected true or false"},
        {"%s\xfe", "p.yaml:1: syntax: expected UTF-8 text, found the byte 0xFE"},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_policy p;
        hvf_diags d;

        assert_int_equal(policy_parse_text(cases[i].text, &p, &d), -1);
        assert_true(d.n >= 1);
        if (!strstr(d.lines[0], cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, d.lines[0], cases[i].want);
        /* A failed parse leaves the defaults, never a half-read policy. */
        assert_int_equal(p.max_parallel_hosts, 2);
        hvf_diags_clear(&d);
    }
}

static void
test_missing_file(void **state)
{
    hvf_policy p;
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(&d);
    assert_int_equal(hvf_policy_load("/nonexistent/policy.yaml", &p, &d, &err), -1);
    assert_int_equal(err.code, HVF_ERR_IO);
    hvf_diags_clear(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_bad),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
