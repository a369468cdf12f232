/* SPDX-License-Identifier: MIT */
/*
 * Scenario test for seed 002 (Kolab Now): a hypervisor holding the monitors that page staff,
 * their alert relay and the ticketing system reboots with renamed NICs. As it happened no alert
 * reaches anyone and the outage lasts until someone notices the next morning; with hvfleet (the
 * audit's fixes, a heartbeat mesh, a second alert path) the alert fires within two minutes and
 * the host is repaired within the operator's response and repair times. Figures come from the
 * twin; ablations show which part of the fix does what.
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

#include "hvfleet/alloc.h"
#include "hvfleet/audit.h"
#include "hvfleet/incident.h"
#include "hvfleet/inventory.h"
#include "hvfleet/replay-run.h"
#include "hvfleet/replay.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

#define DIR HVF_SRCDIR "/scenarios/"
#define AS_IT_HAPPENED DIR "2002-monitoring-on-one-host.yaml"
#define WITH_HVFLEET DIR "2002-monitoring-hvfleet.yaml"
#define MIN (60 * HVF_US_PER_S)

static hvf_scenario *
t_load(const char *path)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;

    hvf_diags_init(&d);
    sc = hvf_scenario_load(path, &d, &err);
    if (!sc)
        fail_msg("%s: %s", path, d.n ? d.lines[0] : err.msg);
    hvf_diags_clear(&d);
    return sc;
}

static void
t_run(hvf_scenario *sc, hvf_incident_kpis *k)
{
    hvf_error err = HVF_ERROR_INIT;
    void *sched = NULL;
    hvf_sim *sim = hvf_scenario_sim_new(sc, &sched, &err);

    if (!sim)
        fail_msg("%s", err.msg);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, k);
    hvf_sim_free(sim);
    hvf_sim_naive_free(sched);
}

static void
t_print(const char *what, const hvf_incident_kpis *k)
{
    print_message("%-32s detection %8.1f s, decision %8.1f s, resolution %8.1f s after the event; "
                  "%u VMs down, %.1f VM-minutes lost, %u alerts, %u lost\n",
                  what, k->detection_us < 0 ? -1.0 : (double)(k->detection_us - k->event_us) / 1e6,
                  k->decision_us < 0 ? -1.0 : (double)(k->decision_us - k->event_us) / 1e6,
                  k->resolution_us < 0 ? -1.0 : (double)(k->resolution_us - k->event_us) / 1e6,
                  k->vms_down_distinct, k->vm_minutes_lost, k->alerts, k->alerts_lost);
}

static void
test_as_it_happened(void **state)
{
    hvf_scenario *sc = t_load(AS_IT_HAPPENED);
    int64_t notice = sc->monitoring->notice_us, repair = sc->monitoring->repair_us;
    hvf_incident_kpis k;

    t_run(sc, &k);
    t_print("as it happened", &k);
    assert_int_equal(k.event_us, 12 * 60 * MIN);
    /* the monitor elsewhere saw it, but its only path to staff was on the failed host */
    assert_int_equal(k.detection_us, -1);
    assert_int_equal(k.alerts, 0);
    assert_true(k.alerts_lost >= 1);
    /* someone notices the next morning (test_detection_follows_the_schedule shows the
     * decision follows the outage, not an alert); the host is put right after the repair */
    assert_true(k.decision_us > k.event_us);
    assert_true(k.resolution_us - k.event_us >= notice + repair);
    assert_true(k.resolution_us - k.event_us < notice + repair + 5 * MIN);
    assert_int_equal(k.hosts_crashed, 1);
    /* every VM of hv03 waited for it: 10 VMs for about 20 hours */
    assert_int_equal(k.vms_down_distinct, 10);
    assert_true(k.vm_minutes_lost > 10 * 20 * 60);
    hvf_scenario_free(sc);
}

static void
test_with_hvfleet(void **state)
{
    hvf_scenario *old = t_load(AS_IT_HAPPENED), *sc = t_load(WITH_HVFLEET);
    int64_t response = sc->monitoring->response_us, repair = sc->monitoring->repair_us;
    hvf_incident_kpis k, was;

    t_run(old, &was);
    t_run(sc, &k);
    t_print("with hvfleet", &k);
    assert_int_equal(k.event_us, 12 * 60 * MIN);
    /* two failed checks a minute apart, then the path's delay: under two minutes */
    assert_true(k.detection_us >= k.event_us);
    assert_true(k.detection_us - k.event_us < 2 * MIN);
    assert_true(k.decision_us - k.detection_us >= response);
    /* repaired after the operator's times, the VMs back within a restart delay */
    assert_true(k.resolution_us - k.decision_us >= repair);
    assert_true(k.resolution_us - k.decision_us <= repair + 2 * MIN);
    assert_int_equal(k.actions_queued, 1);
    /* far less lost: from about 20 hours of outage to about one */
    assert_true(k.vm_minutes_lost * 10 < was.vm_minutes_lost);
    assert_true(k.vms_down_distinct < was.vms_down_distinct); /* mon1, relay1 moved away */
    assert_true(k.resolution_us - k.event_us < 2 * 60 * MIN);
    hvf_scenario_free(sc);
    hvf_scenario_free(old);
}

/* Detection comes from the monitors' schedule, not from the fault's time plus a constant: the
 * same fault at any second of a minute is detected at a check of some monitor (its phase in the
 * interval) plus an alert path's delay, the detection time moves in steps as the fault does, and
 * the operator's decision follows the alert. As it happened (no alert), the decision follows
 * the outage instead. */
static void
test_detection_follows_the_schedule(void **state)
{
    hvf_scenario *sc = t_load(WITH_HVFLEET), *old = t_load(AS_IT_HAPPENED);
    const hvf_sim_monitor_opts *o = sc->monitoring;
    int64_t at = sc->faults[0].at_us, old_at = old->faults[0].at_us;
    int64_t prev_detection = -1, after_min = INT64_MAX, after_max = -1;
    int64_t react = -1, notice = -1;
    bool react_same = true, decide_moves = false, notice_same = true;

    assert_int_equal(sc->nfaults, 1);
    assert_int_equal(old->nfaults, 1);
    for (int64_t off = 0; off < o->interval_us; off += 3 * HVF_US_PER_S) {
        hvf_incident_kpis k, was;
        bool on_schedule = false;

        sc->faults[0].at_us = at + off;
        old->faults[0].at_us = old_at + off;
        t_run(sc, &k);
        t_run(old, &was);
        assert_int_equal(k.event_us, at + off);
        assert_true(k.detection_us >= k.event_us);
        /* a check of some monitor, then some path's delay */
        for (size_t m = 0; m < o->nmonitors; m++) {
            int64_t phase = o->interval_us * (int64_t)m / (int64_t)o->nmonitors;
            for (size_t p = 0; p < o->npaths; p++) {
                int64_t check = k.detection_us - o->paths[p].delay_us - phase;
                on_schedule |= check % o->interval_us == 0;
            }
        }
        if (!on_schedule)
            fail_msg("fault at +%" PRId64 " s: detection at %" PRId64 " us is no check plus a "
                     "path's delay", (int64_t)(off / HVF_US_PER_S), (int64_t)k.detection_us);
        /* a later fault is never detected earlier */
        assert_true(k.detection_us >= prev_detection);
        prev_detection = k.detection_us;
        if (k.detection_us - k.event_us < after_min)
            after_min = k.detection_us - k.event_us;
        if (k.detection_us - k.event_us > after_max)
            after_max = k.detection_us - k.event_us;
        /* the operator reacts to the alert */
        if (react < 0)
            react = k.decision_us - k.detection_us;
        react_same &= k.decision_us - k.detection_us == react;
        decide_moves |= k.decision_us - k.event_us != react + after_min;
        /* as it happened nothing alerts: someone notices the outage itself */
        assert_int_equal(was.detection_us, -1);
        if (notice < 0)
            notice = was.decision_us - was.event_us;
        notice_same &= was.decision_us - was.event_us == notice;
    }
    print_message("detection %.0f to %.0f s after the fault over a minute of fault times\n",
                  (double)after_min / 1e6, (double)after_max / 1e6);
    /* steps of the schedule: the delay after the fault varies, by less than one interval */
    assert_true(after_max > after_min);
    assert_true(after_max - after_min < o->interval_us);
    assert_true(react_same);
    assert_true(decide_moves);
    assert_true(notice_same);
    hvf_scenario_free(sc);
    hvf_scenario_free(old);
}

/* Each part of the fix on its own. */
static void
test_ablations(void **state)
{
    hvf_scenario *sc = t_load(AS_IT_HAPPENED);
    hvf_sim_monitor_opts *o = sc->monitoring;
    hvf_incident_kpis k;

    /* as it happened plus an external pager: watch1 on hv07 gets through at once */
    o->paths = hvf_realloc(o->paths, (o->npaths + 1) * sizeof(hvf_sim_alert_path));
    o->paths[o->npaths++] =
        (hvf_sim_alert_path){hvf_strdup("pager"), true, -1, -1, 30 * HVF_US_PER_S};
    t_run(sc, &k);
    t_print("as it happened + pager", &k);
    /* its checks run 40 s after the minute: two checks and the delay, 130 s */
    assert_true(k.detection_us >= 0 && k.detection_us - k.event_us < 3 * MIN);
    hvf_scenario_free(sc);

    /* the spread fleet without the pager nor the heartbeat: the second relay is enough here */
    sc = t_load(WITH_HVFLEET);
    o = sc->monitoring;
    o->heartbeat = false;
    free(o->paths[1].name);
    o->npaths = 1;
    t_run(sc, &k);
    t_print("spread, one path, no heartbeat", &k);
    assert_true(k.detection_us >= 0 && k.detection_us - k.event_us < 2 * MIN);
    hvf_scenario_free(sc);

    /* as it happened without watch1 either: no monitor runs, nothing is even lost */
    sc = t_load(AS_IT_HAPPENED);
    sc->monitoring->nmonitors = 2; /* mon1, mon2: both on hv03 */
    t_run(sc, &k);
    t_print("as it happened, hv03 monitors only", &k);
    assert_int_equal(k.detection_us, -1);
    assert_int_equal(k.alerts_lost, 0);
    hvf_scenario_free(sc);
}

/* The "with hvfleet" fleet is what hvfleet audit prescribes, plus a second relay. */
static void
test_fleet_is_the_audit_fix(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *before, *after;
    hvf_audit *a, *b;

    hvf_diags_init(&d);
    before = hvf_inventory_load(DIR "2002-fleet.yaml", &d, &err);
    after = hvf_inventory_load(DIR "2002-fleet-hvfleet.yaml", &d, &err);
    assert_non_null(before);
    assert_non_null(after);
    a = hvf_audit_run(before, NULL);
    b = hvf_audit_run(after, NULL);
    assert_true(a->nfindings > 0);
    assert_true(a->nmoves > 0);
    assert_int_equal(b->nfindings, 0);
    for (size_t i = 0; i < a->nmoves; i++) {
        const char *vm = before->vms[a->moves[i].vm].name;
        int32_t v = hvf_fleet_find_vm(after, vm);
        assert_true(v >= 0);
        assert_string_equal(after->hosts[after->vms[v].host].name,
                            before->hosts[a->moves[i].to].name);
    }
    /* what the moves could not fix was the relay's single replica: the fleet adds one */
    assert_true(a->nremaining > 0);
    assert_int_equal(a->remaining[0].service, hvf_fleet_find_service(before, "alert-relay"));
    assert_true(hvf_fleet_find_vm(after, "relay2") >= 0);
    assert_true(hvf_fleet_find_vm(before, "relay2") < 0);
    hvf_audit_free(a);
    hvf_audit_free(b);
    hvf_fleet_free(before);
    hvf_fleet_free(after);
    hvf_diags_clear(&d);
}

static void
test_replay_deterministic(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_replay *rp;
    hvf_replay_outcome o1, o2;
    hvf_replay_opts opts = {0};

    hvf_diags_init(&d);
    rp = hvf_replay_load(DIR "2002-monitoring-on-one-host.replay.yaml", &d, &err);
    if (!rp)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    assert_int_equal(hvf_replay_run(rp, &opts, &o1, &d, &err), 0);
    assert_int_equal(hvf_replay_run(rp, &opts, &o2, &d, &err), 0);
    assert_memory_equal(o1.kpis, o2.kpis, o1.n * sizeof(hvf_incident_kpis));
    assert_int_equal(o1.kpis[0].detection_us, -1);
    assert_true(o1.kpis[1].detection_us >= 0);
    hvf_replay_outcome_clear(&o1);
    hvf_replay_outcome_clear(&o2);
    hvf_replay_free(rp);
    hvf_diags_clear(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_it_happened),
        cmocka_unit_test(test_with_hvfleet),
        cmocka_unit_test(test_detection_follows_the_schedule),
        cmocka_unit_test(test_ablations),
        cmocka_unit_test(test_fleet_is_the_audit_fix),
        cmocka_unit_test(test_replay_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
