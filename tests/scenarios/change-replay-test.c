/* SPDX-License-Identifier: MIT */
/*
 * Scenario tests for seeds 004 and 003, the rolling changes: as it happened the cascade happens
 * (every 4.15 storage node drops its clients' connections and every VM's disk IO blocks for a
 * quarter of an hour; every broker stops answering and every agent loses the bus for hours);
 * with hvfleet it does not (the canary covers both kernels and the gate halts and rolls it
 * back; the functional gate catches the canary's brokers). Figures come from the twin; the
 * operator's investigation and revert times of the "as it happened" variants are fitted to the
 * reports and checked only loosely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/incident.h"
#include "hvfleet/replay-run.h"
#include "hvfleet/replay.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-change.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define DIR HVF_SRCDIR "/scenarios/"
#define MIN(x) ((int64_t)(x)*60 * HVF_US_PER_S)

typedef struct run {
    hvf_scenario *sc;
    hvf_sim *sim;
    const hvf_sim_change_outcome *o;
    hvf_sim_svc_stats st;
    hvf_incident_kpis k;
} run;

static void
run_scenario(run *r, const char *file)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    void *ctx = NULL;

    memset(r, 0, sizeof(*r));
    hvf_diags_init(&d);
    r->sc = hvf_scenario_load(file, &d, &err);
    if (!r->sc)
        fail_msg("%s: %s", file, d.n ? d.lines[0] : err.msg);
    hvf_diags_clear(&d);
    r->sim = hvf_scenario_sim_new(r->sc, &ctx, &err);
    assert_non_null(r->sim);
    hvf_incident_set_event_type(r->sim, "change_start");
    hvf_sim_run(r->sim);
    assert_int_equal(hvf_sim_change_outcomes(r->sim, &r->o), 1);
    hvf_sim_svc_get_stats(r->sim, &r->st);
    hvf_incident_kpis_get(r->sim, &r->k);
}

static void
run_free(run *r)
{
    hvf_sim_free(r->sim);
    hvf_scenario_free(r->sc);
}

/* Hosts with a given kernel among the storage nodes of a fleet. */
static size_t
count_kernel(const hvf_fleet *f, const char *kernel)
{
    size_t n = 0;

    for (size_t h = 0; h < f->nhosts; h++)
        n += f->hosts[h].kernel && strcmp(f->hosts[h].kernel, kernel) == 0 && f->hosts[h].ntags &&
             strcmp(f->hosts[h].tags[0], "storage") == 0;
    return n;
}

static void
test_2019(void **state)
{
    run as, hv;
    hvf_change_plan *plan;
    hvf_change_plan_opts opts = {{0, 0, 0}, false};
    hvf_error err = HVF_ERROR_INIT;
    bool k44 = false, k415 = false;
    const char *p;

    (void)state;
    run_scenario(&as, DIR "2019-firewall-conntrack.yaml");
    run_scenario(&hv, DIR "2019-firewall-conntrack-hvfleet.yaml");

    /* as it happened: every storage node at once; every 4.15 node drops; every VM hangs */
    assert_true(as.o->completed && as.o->reverted);
    assert_int_equal(as.o->waves_planned, 1);
    assert_int_equal(hvf_test_event_count(as.sim, "host_conn_dropped"),
                     count_kernel(as.sc->fleet, "4.15"));
    assert_true(count_kernel(as.sc->fleet, "4.15") >= 2);
    assert_int_equal(as.st.peak_vms_io_blocked, as.sc->fleet->nvms);
    /* the report: 10:50 to 11:06 */
    assert_true(as.k.resolution_us - as.k.event_us >= MIN(15) &&
                as.k.resolution_us - as.k.event_us <= MIN(17));
    assert_true(as.k.detection_us - as.k.event_us <= MIN(3)); /* monitoring, from the twin */
    assert_int_equal(as.k.vms_down_peak, as.sc->fleet->nvms);

    /* with hvfleet: the canary covers both kernels */
    hvf_change_limits_from_policy(&hv.sc->changes[0].policy, &opts.limits);
    plan = hvf_change_plan_build(hv.sc->fleet, hv.sc->changes[0].change, &opts, &err);
    assert_non_null(plan);
    assert_true(plan->waves[0].canary);
    for (size_t i = 0; i < plan->waves[0].nunits; i++) {
        const char *k = hv.sc->fleet->hosts[plan->units[plan->waves[0].units[i]].host].kernel;
        k44 = k44 || strcmp(k, "4.4") == 0;
        k415 = k415 || strcmp(k, "4.15") == 0;
    }
    assert_true(k44 && k415);
    hvf_change_plan_free(plan);
    /* the client IO latency gate halts after the first wave and rolls it back */
    assert_true(hv.o->halted && hv.o->rolled_back);
    assert_false(hv.o->completed);
    assert_int_equal(hv.o->waves_done, 0);
    assert_int_equal(hv.o->units_changed, 0);
    assert_non_null(strstr(hv.o->halt_reason, "client_io_latency"));
    /* impact limited to the canary: one node dropped, for about a minute */
    assert_int_equal(hvf_test_event_count(hv.sim, "host_conn_dropped"), 1);
    assert_true(hv.k.detection_us - hv.k.event_us < MIN(1));
    assert_true(hv.k.resolution_us - hv.k.event_us < MIN(3));
    assert_true(hv.k.vm_minutes_lost * 10 < as.k.vm_minutes_lost);
    assert_true(hv.st.vm_io_blocked_s * 10 < as.st.vm_io_blocked_s);
    /* the rollback: one storage node per rack at once */
    for (p = hv.sim->events.buf; (p = strstr(p, "\"change_rollback_batch\"")); p++) {
        const char *end = strchr(p, '\n');
        HVF_AUTOFREE int *per_rack = hvf_calloc(hv.sc->fleet->nracks + 1, sizeof(int));
        for (size_t h = 0; h < hv.sc->fleet->nhosts; h++) {
            const char *name = hv.sc->fleet->hosts[h].name;
            const char *at = strstr(p, name);
            if (at && at < end && (at[strlen(name)] == ',' || at[strlen(name)] == '"'))
                assert_true(++per_rack[hv.sc->fleet->hosts[h].rack] <= 1);
        }
    }
    run_free(&as);
    run_free(&hv);
}

static void
test_2024(void **state)
{
    run as, hv;
    size_t brokers, agents;

    (void)state;
    run_scenario(&as, DIR "2024-bus-upgrade.yaml");
    run_scenario(&hv, DIR "2024-bus-upgrade-hvfleet.yaml");
    brokers = as.o->units;
    agents = as.sc->svcs[0].nclients;
    assert_int_equal(brokers, 6);
    assert_int_equal(agents, as.sc->fleet->nhosts);

    /* as it happened: the liveness gate never fails, the rollout goes through every broker */
    assert_true(as.o->completed);
    assert_int_equal(as.o->waves_done, brokers);
    assert_int_equal(hvf_test_event_count(as.sim, "change_gate_failed"), 0);
    assert_int_equal(hvf_test_event_count(as.sim, "change_effect"), brokers);
    /* messaging stops fleet-wide: no broker answers, no agent can publish */
    assert_int_equal(as.st.peak_replicas_not_serving, brokers);
    assert_int_equal(as.st.peak_clients_failing, agents);
    /* the report: detected at 10:08, decided at 10:58, messaging back at 12:54 */
    assert_true(as.k.detection_us - as.k.event_us <= MIN(3));
    assert_true(as.k.resolution_us - as.k.event_us >= MIN(160));

    /* with hvfleet: the functional gate halts after the canary and rolls it back */
    assert_true(hv.o->halted && hv.o->rolled_back);
    assert_int_equal(hv.o->waves_done, 0);
    assert_non_null(strstr(hv.o->halt_reason, "service_answers"));
    assert_true(hvf_test_event_count(hv.sim, "change_effect") < brokers);
    assert_true(hv.st.peak_replicas_not_serving <= 2); /* min_available 4 of 6 */
    assert_true(hv.st.peak_clients_failing < agents);
    assert_true(hv.k.resolution_us - hv.k.event_us < MIN(5));
    assert_true(hv.k.vm_minutes_lost * 100 < as.k.vm_minutes_lost);
    assert_true(hv.st.client_failing_s * 100 < as.st.client_failing_s);
    run_free(&as);
    run_free(&hv);
}

/* The replay files run both variants with one seed; the KPIs tell the same story. */
static void
test_replays(void **state)
{
    static const char *const files[] = {DIR "2019-firewall-conntrack.replay.yaml",
                                        DIR "2024-bus-upgrade.replay.yaml"};

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(files); i++) {
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_replay_opts opts = {NULL, false, 0};
        hvf_replay_outcome out = {0};
        hvf_replay *rp;
        const hvf_incident_kpis *as, *hv;

        hvf_diags_init(&d);
        rp = hvf_replay_load(files[i], &d, &err);
        if (!rp)
            fail_msg("%s: %s", files[i], d.n ? d.lines[0] : err.msg);
        if (hvf_replay_run(rp, &opts, &out, &d, &err) < 0)
            fail_msg("%s: %s", files[i], d.n ? d.lines[0] : err.msg);
        assert_int_equal(out.n, 2);
        as = &out.kpis[0];
        hv = &out.kpis[1];
        assert_true(as->event_us >= 0 && as->event_us == hv->event_us);
        assert_true(hv->detection_us <= as->detection_us);
        assert_true(hv->decision_us < as->decision_us);
        assert_true(hv->resolution_us >= 0 && as->resolution_us >= 0);
        assert_true((hv->resolution_us - hv->event_us) * 10 < as->resolution_us - as->event_us);
        assert_true(hv->vm_minutes_lost * 10 < as->vm_minutes_lost);
        assert_true(as->resolved_declared && hv->resolved_declared);
        hvf_replay_outcome_clear(&out);
        hvf_replay_free(rp);
        hvf_diags_clear(&d);
    }
}

/* Same scenario, same seed: the same events, byte for byte. */
static void
test_determinism(void **state)
{
    run a, b;

    (void)state;
    run_scenario(&a, DIR "2024-bus-upgrade-hvfleet.yaml");
    run_scenario(&b, DIR "2024-bus-upgrade-hvfleet.yaml");
    assert_int_equal(a.sim->events.len, b.sim->events.len);
    assert_memory_equal(a.sim->events.buf, b.sim->events.buf, a.sim->events.len);
    run_free(&a);
    run_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2019),
        cmocka_unit_test(test_2024),
        cmocka_unit_test(test_replays),
        cmocka_unit_test(test_determinism),
    };

    hvf_change_register_planner(); /* the twin plans its changes with it, as in the CLI */

    return cmocka_run_group_tests(tests, NULL, NULL);
}
