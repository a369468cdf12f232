/* SPDX-License-Identifier: MIT */
/*
 * Scenario test for seed 000: the 2017 maintenance storm must show the cascade the report
 * describes (many hosts evacuating at once, targets over-committed, guests slowed, VMs rebooted
 * or crashed), with figures read from the twin rather than a recorded trace; it must be
 * byte-identical across runs; claiming memory on targets must remove the over-commitment; and
 * the same maintenance run by hvfleet's planner (2017-maintenance-hvfleet.yaml) must maintain
 * every host with no over-commitment and no VM down, after a person approved its plan.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"
#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define STORM HVF_SRCDIR "/scenarios/2017-maintenance-storm.yaml"
#define HVFLEET HVF_SRCDIR "/scenarios/2017-maintenance-hvfleet.yaml"

static hvf_sim *
storm_run(bool claims, void **ctx)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;

    hvf_diags_init(&d);
    sc = hvf_scenario_load(STORM, &d, &err);
    if (!sc)
        fail_msg("%s: %s", STORM, d.n ? d.lines[0] : err.msg);
    sc->naive.claims = claims;
    sim = hvf_scenario_sim_new(sc, ctx, &err);
    assert_non_null(sim);
    hvf_sim_run(sim);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
    return sim;
}

/* The highest host CPU ratio sampled: the last column of the fleet's metric rows. */
static double
storm_max_cpu_ratio(hvf_sim *sim)
{
    hvf_strbuf rows = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    double m = 0;

    assert_int_equal(sim_metrics_read_fleet(sim, &rows, &err), 0);
    for (char *line = rows.buf; line && *line;) {
        char *nl = strchr(line, '\n');
        char *comma = NULL;
        if (nl)
            *nl = '\0';
        comma = strrchr(line, ',');
        if (comma && strtod(comma + 1, NULL) > m)
            m = strtod(comma + 1, NULL);
        line = nl ? nl + 1 : NULL;
    }
    hvf_strbuf_clear(&rows);
    return m;
}

static void
test_storm_cascade(void **state)
{
    void *ctx = NULL;
    hvf_sim *sim = storm_run(false, &ctx);
    hvf_sim_stats st;
    hvf_error err = HVF_ERROR_INIT;

    hvf_sim_get_stats(sim, &st);
    print_message("storm: %u hosts evacuating at peak, memory %.2f, %u hosts over, %u VMs "
                  "rebooted, %u crashed, %u hosts crashed, cpu %.2f\n",
                  st.peak_concurrent_evacuations, st.peak_host_memory_ratio,
                  st.hosts_over_committed, st.vms_rebooted, st.vms_crashed, st.hosts_crashed,
                  storm_max_cpu_ratio(sim));
    assert_true(st.peak_concurrent_evacuations >= 5);
    assert_true(st.peak_host_memory_ratio > 1.0);
    assert_true(st.hosts_over_committed >= 1);
    assert_true(st.vms_rebooted + st.vms_crashed >= 1);
    assert_true(storm_max_cpu_ratio(sim) > 1.0); /* guests slowed somewhere */
    /* windows were 1 minute each over 2 hours; evacuations took far longer */
    assert_true(st.makespan_us > 2 * 3600 * HVF_US_PER_S);
    /* accounting stays consistent whatever happened */
    assert_int_equal(hvf_sim_check(sim, true, &err), 0);
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
}

static void
test_storm_with_claims(void **state)
{
    void *ctx = NULL;
    hvf_sim *sim = storm_run(true, &ctx);
    hvf_sim_stats st;
    hvf_error err = HVF_ERROR_INIT;

    hvf_sim_get_stats(sim, &st);
    /* the race fixed: no target ever holds more than it can */
    assert_true(st.peak_host_memory_ratio <= 1.0 + 1e-9);
    assert_int_equal(st.vms_rebooted, 0);
    if (hvf_sim_check(sim, false, &err) < 0)
        fail_msg("%s", err.msg);
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
}

static char *
storm_slurp(const char *dir, const char *file, size_t *len)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, file);
    FILE *fp = fopen(path, "rb");
    char *buf;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = hvf_malloc(*len + 1);
    assert_int_equal(fread(buf, 1, *len, fp), *len);
    fclose(fp);
    return buf;
}

static void
test_storm_deterministic(void **state)
{
    char tmpl[] = "/tmp/hvf-storm-XXXXXX";
    const char *files[] = {"summary.json", "events.jsonl", "metrics-fleet.csv",
                           "metrics-hosts.csv"};
    char *root = mkdtemp(tmpl);
    HVF_AUTOFREE char *d1 = NULL;
    HVF_AUTOFREE char *d2 = NULL;
    hvf_error err = HVF_ERROR_INIT;

    assert_non_null(root);
    d1 = hvf_asprintf("%s/a", root);
    d2 = hvf_asprintf("%s/b/nested", root);
    for (int run = 0; run < 2; run++) {
        void *ctx = NULL;
        hvf_sim *sim = storm_run(false, &ctx);
        assert_int_equal(hvf_sim_write_outputs(sim, run ? d2 : d1, &err), 0);
        hvf_sim_free(sim);
        hvf_sim_naive_free(ctx);
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(files); i++) {
        size_t l1, l2;
        HVF_AUTOFREE char *a = storm_slurp(d1, files[i], &l1);
        HVF_AUTOFREE char *b = storm_slurp(d2, files[i], &l2);
        assert_true(l1 > 0);
        assert_int_equal(l1, l2);
        assert_memory_equal(a, b, l1);
    }
    {
        size_t l;
        HVF_AUTOFREE char *s = storm_slurp(d1, "summary.json", &l);
        assert_non_null(strstr(s, "\"seed\": 2017"));
    }
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static hvf_sim *
storm_run_hvfleet(void)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;

    hvf_diags_init(&d);
    sc = hvf_scenario_load(HVFLEET, &d, &err);
    if (!sc)
        fail_msg("%s: %s", HVFLEET, d.n ? d.lines[0] : err.msg);
    assert_int_equal(sc->scheduler, HVF_SCENARIO_SCHED_HVFLEET);
    sim = hvf_scenario_sim_new(sc, NULL, &err);
    if (!sim)
        fail_msg("%s", err.msg);
    hvf_incident_set_event_type(sim, "maintenance_window");
    hvf_sim_run(sim);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
    return sim;
}

static void
test_storm_with_hvfleet(void **state)
{
    hvf_sim *sim = storm_run_hvfleet();
    hvf_sim *again = storm_run_hvfleet();
    void *ctx = NULL;
    hvf_sim *storm = storm_run(false, &ctx);
    hvf_sim_stats st, ss;
    hvf_incident_kpis k;
    hvf_error err = HVF_ERROR_INIT;
    HVF_AUTOFREE char *s1 = hvf_sim_summary_json(sim);
    HVF_AUTOFREE char *s2 = hvf_sim_summary_json(again);

    hvf_sim_get_stats(sim, &st);
    hvf_sim_get_stats(storm, &ss);
    hvf_incident_kpis_get(sim, &k);
    print_message("with hvfleet: %u hosts maintained in %.1f h, %u evacuating at peak, memory "
                  "%.3f, %u VMs down; storm: %u maintained, %u evacuating, memory %.3f\n",
                  st.hosts_maintained, (double)st.makespan_us / 3600e6,
                  st.peak_concurrent_evacuations, st.peak_host_memory_ratio, k.vms_down_distinct,
                  ss.hosts_maintained, ss.peak_concurrent_evacuations, ss.peak_host_memory_ratio);
    /* every host maintained, within the policy's limits, nothing over-committed, no VM down */
    assert_int_equal(st.hosts_maintained, 30);
    assert_true(st.peak_concurrent_evacuations <= 3);
    assert_int_equal(st.hosts_over_committed, 0);
    assert_true(st.peak_host_memory_ratio <= 1.0);
    assert_int_equal(st.vms_rebooted + st.vms_crashed + st.hosts_crashed + st.hosts_hung, 0);
    assert_int_equal(st.migrations_aborted, 0);
    assert_int_equal(k.vms_down_distinct, 0);
    if (hvf_sim_check(sim, false, &err) < 0)
        fail_msg("%s", err.msg);
    /* the plan needed a person (30 hosts, throttled VMs): their approval is the decision,
     * after the plan was made, and no VM moved before it */
    assert_int_equal(k.event_us, 30 * 60 * HVF_US_PER_S);
    assert_true(k.decision_us > k.event_us);
    assert_true(hvf_test_event_first_us(sim, "approval_requested", NULL) == k.event_us);
    assert_true(hvf_test_event_first_us(sim, "migration_start", NULL) >= k.decision_us);
    /* where the storm, from the same request, piled hosts up and over-committed targets */
    assert_true(ss.peak_concurrent_evacuations > 3 * st.peak_concurrent_evacuations);
    assert_true(ss.hosts_over_committed > 0);
    assert_true(ss.hosts_maintained < st.hosts_maintained);
    /* deterministic */
    assert_string_equal(s1, s2);
    hvf_sim_free(sim);
    hvf_sim_free(again);
    hvf_sim_free(storm);
    hvf_sim_naive_free(ctx);
}

/* One run of @file with the twin's seed @seed; its KPIs from the first window. */
static void
storm_kpis(const char *file, uint64_t seed, hvf_incident_kpis *k, int64_t *duration_us)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;
    void *ctx = NULL;

    hvf_diags_init(&d);
    sc = hvf_scenario_load(file, &d, &err);
    if (!sc)
        fail_msg("%s: %s", file, d.n ? d.lines[0] : err.msg);
    sc->params.seed = seed;
    *duration_us = sc->params.duration_us;
    sim = hvf_scenario_sim_new(sc, &ctx, &err);
    if (!sim)
        fail_msg("%s", err.msg);
    hvf_incident_set_event_type(sim, "maintenance_window");
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, k);
    hvf_sim_free(sim);
    if (sc->scheduler == HVF_SCENARIO_SCHED_NAIVE)
        hvf_sim_naive_free(ctx);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

/* The claims and the pace, not a lucky seed: over a range of the twin's seeds (setup times,
 * the order of ties), the same request run by hvfleet loses fewer VM-minutes than the storm,
 * over runs of the same length. */
static void
test_fewer_vm_minutes_over_seeds(void **state)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        hvf_incident_kpis storm, hv;
        int64_t storm_len, hv_len;

        storm_kpis(STORM, seed, &storm, &storm_len);
        storm_kpis(HVFLEET, seed, &hv, &hv_len);
        print_message("seed %" PRIu64 ": storm %.1f VM-minutes (%u VMs), hvfleet %.1f (%u)\n",
                      seed, storm.vm_minutes_lost, storm.vms_down_distinct, hv.vm_minutes_lost,
                      hv.vms_down_distinct);
        assert_int_equal(storm_len, hv_len);
        assert_true(storm.vm_minutes_lost > 0);
        assert_true(hv.vm_minutes_lost < storm.vm_minutes_lost);
        assert_true(hv.vms_down_distinct < storm.vms_down_distinct);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm_cascade),
        cmocka_unit_test(test_storm_with_claims),
        cmocka_unit_test(test_storm_deterministic),
        cmocka_unit_test(test_fewer_vm_minutes_over_seeds),
        cmocka_unit_test(test_storm_with_hvfleet),
    };

    hvf_maintenance_register_scheduler();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
