/* SPDX-License-Identifier: MIT */
/*
 * The naive scheduler's target index against the scan it replaced: on random generated fleets
 * (sizes, memory pressure, claims or not, 1-4 migrations per host, host crashes and reboots in
 * the middle), every target the index picks is checked against a scan of every host
 * (hvf_sim_naive_set_verify aborts on a difference), and whole runs are compared.
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
#include "hvfleet/generate.h"
#include "hvfleet/rng.h"
#include "hvfleet/sim.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/strbuf.h"
#include "platform/naive-priv.h"
#include "sim/sim-priv.h"

#define S 1000000LL

typedef struct run_result {
    hvf_sim_stats st;
    char *out; /* owned: summary, events and metrics of the run */
} run_result;

/* One random maintenance of every host by the naive scheduler; @seed decides everything. */
static void
run_random(uint64_t seed, bool verify, run_result *res)
{
    hvf_rng rng;
    hvf_generate_params gp;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_controller ctl = {0};
    hvf_sim_naive_opts o = {0};
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int32_t *hosts;
    void *ctx;
    char *sum;

    hvf_rng_seed(&rng, seed);
    hvf_generate_params_init(&gp);
    gp.hosts = (uint32_t)hvf_rng_range(&rng, 8, 60);
    gp.vms_per_host = (uint32_t)hvf_rng_range(&rng, 2, 12);
    gp.seed = seed;
    /* small hosts: VMs often find no host with room, and ties in free memory are common */
    gp.host_mem_mib = 1024 * hvf_rng_range(&rng, 64, 256);
    f = hvf_generate_fleet(&gp, &err);
    assert_non_null(f);
    hosts = hvf_calloc(f->nhosts, sizeof(int32_t));
    for (size_t i = 0; i < f->nhosts; i++)
        hosts[i] = (int32_t)i;
    /* a random order of windows */
    for (size_t i = f->nhosts; i > 1; i--) {
        size_t j = (size_t)hvf_rng_range(&rng, 0, i - 1);
        int32_t t = hosts[i - 1];
        hosts[i - 1] = hosts[j];
        hosts[j] = t;
    }
    o.hosts = hosts;
    o.nhosts = f->nhosts;
    o.start_us = 60 * S;
    o.span_us = (int64_t)hvf_rng_range(&rng, 600, 7200) * S;
    o.window_us = (int64_t)hvf_rng_range(&rng, 60, 900) * S;
    o.migrations_per_host = (uint32_t)hvf_rng_range(&rng, 1, 4);
    o.claims = hvf_rng_range(&rng, 0, 1) == 1;
    o.retry_us = 30 * S;
    o.max_retries = 3;
    hvf_sim_params_default(&p);
    p.seed = seed;
    p.duration_us = 24 * 3600 * S;
    p.metrics_interval_us = 600 * S;
    sim = hvf_sim_new(f, &p, NULL, 0);
    if (hvf_rng_range(&rng, 0, 1) == 1) {
        hvf_sim_fault ft = {.type = hvf_rng_range(&rng, 0, 1) ? HVF_SIM_FAULT_HOST_CRASH
                                                              : HVF_SIM_FAULT_HOST_REBOOT,
                            .at_us = (int64_t)hvf_rng_range(&rng, 60, 3600) * S,
                            .host = (int32_t)hvf_rng_range(&rng, 0, f->nhosts - 1),
                            .rack = -1,
                            .vm = -1,
                            .duration_us = 900 * S,
                            .fixed_after_us = -1};
        assert_int_equal(hvf_sim_add_fault(sim, &ft, &err), 0);
    }
    hvf_sim_naive_set_verify(verify);
    ctx = hvf_sim_naive_new(&o, &ctl);
    hvf_sim_set_controller(sim, &ctl);
    hvf_sim_run(sim);
    hvf_sim_naive_set_verify(false);
    hvf_sim_get_stats(sim, &res->st);
    sum = hvf_sim_summary_json(sim);
    hvf_strbuf_puts(&sb, sum);
    hvf_strbuf_add(&sb, sim->events.buf, sim->events.len);
    free(sum);
    res->out = hvf_strbuf_steal(&sb);
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
    free(hosts);
    hvf_fleet_free(f);
}

/* Every pick of the index is the scan's pick, over many random fleets and schedules. */
static void
test_index_picks_as_scan(void **state)
{
    uint64_t migrations = 0;

    (void)state;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        run_result r = {0};

        run_random(seed, true, &r);
        migrations += r.st.migrations_completed + r.st.migrations_aborted;
        free(r.out);
    }
    /* the runs did pick targets: thousands of them */
    assert_true(migrations > 1000);
}

/* Checking changes nothing: a run is the same with and without the scan beside the index. */
static void
test_same_run_with_or_without_check(void **state)
{
    (void)state;
    for (uint64_t seed = 100; seed < 104; seed++) {
        run_result a = {0}, b = {0};

        run_random(seed, true, &a);
        run_random(seed, false, &b);
        assert_string_equal(a.out, b.out);
        free(a.out);
        free(b.out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_picks_as_scan),
        cmocka_unit_test(test_same_run_with_or_without_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
