/* SPDX-License-Identifier: MIT */
/*
 * Incident KPIs from the twin: time of event, detection, decision and resolution on hand-built
 * runs whose answers follow from the fault and restart rules; VMs down, VM-minutes lost; events
 * emitted by a component; host repair and VM crashes; the table and its JSON.
 */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

#define S HVF_US_PER_S

static hvf_sim *
t_sim(bool same_host)
{
    hvf_fleet *f = hvf_test_fleet_3h6v(0.1);
    hvf_sim_params p;
    hvf_sim *sim;

    hvf_sim_params_default(&p);
    p.duration_us = 3600 * S;
    p.vm_restart_same_host = same_host;
    sim = hvf_sim_new(f, &p, NULL, 0);
    /* records incident events (and writes "incident" to summary.json) from now */
    hvf_incident_set_event_type(sim, NULL);
    hvf_fleet_free(f);
    return sim;
}

static void
t_fault(hvf_sim *sim, hvf_sim_fault_type type, int64_t at_s, int64_t dur_s, bool renamed,
        int64_t fixed_s)
{
    hvf_sim_fault fa = {.type = type,
                        .at_us = at_s * S,
                        .host = 0,
                        .rack = -1,
                        .vm = -1,
                        .duration_us = dur_s * S,
                        .renamed_nics = renamed,
                        .fixed_after_us = fixed_s < 0 ? -1 : fixed_s * S};
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_sim_add_fault(sim, &fa, &err), 0);
}

static void
test_crash_same_host(void **state)
{
    hvf_sim *sim = t_sim(true);
    hvf_incident_kpis k;

    /* h0 crashes at 600 s for 300 s; its four VMs wait for it (retried every 60 s) and boot at
     * 900 s when it is back: 4 x 5 VM-minutes */
    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 600, 300, false, -1);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.event_us, 600 * S);
    assert_int_equal(k.detection_us, -1);
    assert_int_equal(k.decision_us, -1);
    assert_int_equal(k.resolution_us, 900 * S);
    assert_false(k.resolved_declared);
    assert_int_equal(k.vms_down_peak, 4);
    assert_int_equal(k.vms_down_distinct, 4);
    assert_true(fabs(k.vm_minutes_lost - 20.0) < 1e-9);
    assert_int_equal(k.hosts_crashed, 1);
    assert_int_equal(k.actions_queued, 0);
    hvf_sim_free(sim);
}

static void
test_crash_restart_elsewhere(void **state)
{
    hvf_sim *sim = t_sim(false);
    hvf_incident_kpis k;
    HVF_AUTOFREE char *summary = NULL;

    /* the platform restarts them after restart_delay (60 s) on the other hosts, but the
     * incident lasts until h0 is back */
    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 600, 300, false, -1);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_true(fabs(k.vm_minutes_lost - 4.0) < 1e-9);
    assert_int_equal(k.resolution_us, 900 * S);
    summary = hvf_sim_summary_json(sim);
    assert_non_null(strstr(summary, "\"incident\":{\"event_type\":\"fault\",\"event_s\":600.0,"));
    assert_non_null(strstr(summary, "\"vm_minutes_lost\":4.0"));
    hvf_sim_free(sim);
}

/* A component that plays monitors and an operator on fixed timers. */
enum { T_EARLY_ALERT = 1, T_ALERT, T_DECIDE, T_REPAIR, T_RESOLVE, T_MARK };

typedef struct t_ops {
    int32_t id;
    bool resolve;
    int64_t repair_s;
} t_ops;

static void
t_ops_start(hvf_sim *sim, void *ctx)
{
    t_ops *o = ctx;

    hvf_sim_component_timer(sim, o->id, 100 * S, T_EARLY_ALERT);
    hvf_sim_component_timer(sim, o->id, 300 * S, T_MARK);
    hvf_sim_component_timer(sim, o->id, 700 * S, T_ALERT);
    hvf_sim_component_timer(sim, o->id, 800 * S, T_DECIDE);
    if (o->repair_s > 0)
        hvf_sim_component_timer(sim, o->id, o->repair_s * S, T_REPAIR);
    if (o->resolve)
        hvf_sim_component_timer(sim, o->id, 1000 * S, T_RESOLVE);
}

static void
t_ops_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    hvf_error err = HVF_ERROR_INIT;

    (void)ctx;
    switch (tag) {
    case T_EARLY_ALERT:
        hvf_incident_log(sim, HVF_INCIDENT_ALERT, 1, -1, "via pager: a false alarm");
        break;
    case T_MARK:
        hvf_sim_log(sim, "change_start", -1, -1, "a change begins");
        break;
    case T_ALERT:
        hvf_incident_log(sim, HVF_INCIDENT_ALERT, 0, -1, "via %s: host %s down", "pager", "h0");
        break;
    case T_DECIDE:
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, 0, -1, "operator repairs the host");
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_QUEUED, 0, -1, "fix NIC names");
        break;
    case T_REPAIR:
        assert_int_equal(hvf_sim_repair_host(sim, 0, "NIC names fixed", &err), 0);
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_RUN, 0, -1, "fix NIC names");
        break;
    case T_RESOLVE:
        hvf_incident_log(sim, HVF_INCIDENT_RESOLVED, -1, -1, NULL);
        break;
    default:
        fail();
    }
}

static hvf_sim *
t_sim_ops(t_ops *o, bool renamed)
{
    hvf_sim *sim = t_sim(true);
    hvf_sim_component c = {
        .name = "ops", .ctx = o, .on_start = t_ops_start, .on_timer = t_ops_timer};

    /* reboot at 600 s, up at 900 s with renamed NICs, never fixed by itself */
    t_fault(sim, HVF_SIM_FAULT_HOST_REBOOT, 600, 300, renamed, -1);
    o->id = hvf_sim_add_component(sim, &c);
    return sim;
}

static void
test_component_events(void **state)
{
    t_ops o = {.repair_s = 1200};
    hvf_sim *sim = t_sim_ops(&o, true);
    hvf_incident_kpis k;

    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.event_us, 600 * S);
    /* the alert at 100 s came before the event: counted, not a detection */
    assert_int_equal(k.alerts, 2);
    assert_int_equal(k.detection_us, 700 * S);
    assert_int_equal(k.decision_us, 800 * S);
    assert_int_equal(k.actions_queued, 1);
    assert_int_equal(k.actions_run, 1);
    /* repaired at 1200 s, after the VMs' restart attempt of that instant (hosts act before
     * controllers): they boot at the next attempt, 1260 s */
    assert_int_equal(k.resolution_us, 1260 * S);
    assert_true(fabs(k.vm_minutes_lost - 4 * 11.0) < 1e-9);
    hvf_sim_free(sim);
}

static void
test_never_resolved(void **state)
{
    t_ops o = {0};
    hvf_sim *sim = t_sim_ops(&o, true);
    hvf_incident_kpis k;
    char v[64];

    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.resolution_us, -1);
    /* the VMs stay down from 600 s to the end (3600 s) */
    assert_true(fabs(k.vm_minutes_lost - 4 * 50.0) < 1e-9);
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_RESOLUTION, v, sizeof(v)),
                        "never");
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_DETECTION, v, sizeof(v)),
                        "+1m 40s");
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_EVENT, v, sizeof(v)),
                        "0:10:00");
    hvf_sim_free(sim);
}

static void
test_declared_resolved(void **state)
{
    t_ops o = {.resolve = true};
    hvf_sim *sim = t_sim_ops(&o, false);
    hvf_incident_kpis k;

    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    /* the reboot without renamed NICs is over at 900 s, but a declared end wins */
    assert_int_equal(k.resolution_us, 1000 * S);
    assert_true(k.resolved_declared);
    hvf_sim_free(sim);
}

static void
test_event_type(void **state)
{
    t_ops o = {0};
    hvf_sim *sim = t_sim_ops(&o, false);
    hvf_incident_kpis k;
    char v[64];

    hvf_incident_set_event_type(sim, "change_start");
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.event_us, 300 * S);
    assert_int_equal(k.detection_us, 700 * S);
    hvf_sim_free(sim);

    sim = t_sim_ops(&o, false);
    hvf_incident_set_event_type(sim, "no_such_event");
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.event_us, -1);
    assert_int_equal(k.detection_us, -1);
    assert_int_equal(k.resolution_us, -1);
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_EVENT, v, sizeof(v)),
                        "none");
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_DETECTION, v, sizeof(v)),
                        "-");
    /* the VMs still went down: impact does not depend on the event */
    assert_int_equal(k.vms_down_distinct, 4);
    hvf_sim_free(sim);
}

static void
t_alert_start(hvf_sim *sim, void *ctx)
{
    hvf_sim_component_timer(sim, *(int32_t *)ctx, 90 * S, 0);
}

static void
t_alert_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    (void)tag;
    (void)ctx;
    hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1, "pager: dirty rate high");
}

static void
test_no_impact(void **state)
{
    hvf_sim *sim = t_sim(true);
    hvf_sim_fault fa = {.type = HVF_SIM_FAULT_DIRTY_RATE,
                        .at_us = 60 * S,
                        .host = -1,
                        .rack = -1,
                        .vm = 0,
                        .bytes_per_s = 1e6};
    hvf_error err = HVF_ERROR_INIT;
    hvf_incident_kpis k;
    int32_t id = 0;
    hvf_sim_component c = {
        .name = "pager", .ctx = &id, .on_start = t_alert_start, .on_timer = t_alert_timer};
    HVF_AUTOFREE char *raw = NULL;
    char v[64];

    assert_int_equal(hvf_sim_add_fault(sim, &fa, &err), 0);
    id = hvf_sim_add_component(sim, &c);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    /* nothing went down: there was nothing to resolve, so no resolution, and certainly none
     * before the alert 30 s after the event */
    assert_int_equal(k.event_us, 60 * S);
    assert_int_equal(k.detection_us, 90 * S);
    assert_int_equal(k.vms_down_peak, 0);
    assert_int_equal(k.resolution_us, -1);
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_DETECTION, v, sizeof(v)),
                        "+30.0 s");
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_RESOLUTION, v, sizeof(v)),
                        "never");
    assert_string_equal(hvf_incident_format_value(&k, HVF_INCIDENT_ROW_DECISION, v, sizeof(v)),
                        "never");
    raw = hvf_incident_raw_json(&k, NULL);
    assert_non_null(strstr(raw, "\"decision_s\":null,\"resolution_s\":null,"));
    hvf_sim_free(sim);
}

static void
t_crash_start(hvf_sim *sim, void *ctx)
{
    hvf_sim_component_timer(sim, *(int32_t *)ctx, 120 * S, 1);
    hvf_sim_component_timer(sim, *(int32_t *)ctx, 400 * S, 2);
}

static void
t_crash_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    hvf_error err = HVF_ERROR_INIT;

    (void)tag;
    assert_int_equal(hvf_sim_crash_vm(sim, 4, "qemu: cannot create thread", &err), 0);
    /* crashed already: refused */
    assert_int_equal(hvf_sim_crash_vm(sim, 4, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_int_equal(hvf_sim_crash_vm(sim, 99, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_int_equal(hvf_sim_repair_host(sim, 1, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
}

static void
test_crash_vm(void **state)
{
    hvf_sim *sim = t_sim(true);
    int32_t id = 0;
    hvf_sim_component c = {
        .name = "crasher", .ctx = &id, .on_start = t_crash_start, .on_timer = t_crash_timer};
    hvf_incident_kpis k;
    hvf_sim_stats st;

    id = hvf_sim_add_component(sim, &c);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    hvf_sim_get_stats(sim, &st);
    /* one VM down twice, 60 s each (restart_delay) */
    assert_int_equal(k.vms_down_peak, 1);
    assert_int_equal(k.vms_down_distinct, 1);
    assert_true(fabs(k.vm_minutes_lost - 2.0) < 1e-9);
    assert_int_equal(st.vms_crashed, 2);
    assert_int_equal(k.event_us, -1); /* no fault: no incident timeline */
    hvf_sim_free(sim);
}

static void
test_table_and_json(void **state)
{
    hvf_incident_kpis k[2] = {{.event_us = 1800 * S,
                               .detection_us = -1,
                               .decision_us = 90000 * S,
                               .resolution_us = 93600 * S,
                               .vms_down_peak = 12,
                               .vms_down_distinct = 12,
                               .vm_minutes_lost = 15120.04,
                               .hosts_crashed = 1},
                              {.event_us = 1800 * S,
                               .detection_us = 1890 * S,
                               .decision_us = 2700 * S,
                               .resolution_us = 3600 * S,
                               .vms_down_peak = 12,
                               .vms_down_distinct = 12,
                               .vm_minutes_lost = 360,
                               .hosts_crashed = 1,
                               .actions_queued = 3}};
    const char *cols[] = {"as it happened", "with hvfleet"};
    hvf_strbuf sb = HVF_STRBUF_INIT;
    HVF_AUTOFREE char *js = NULL;
    json_t *root, *rows;
    json_error_t jerr;

    hvf_incident_format_table(&sb, cols, k, 2);
    assert_non_null(strstr(sb.buf, "as it happened  with hvfleet\n"));
    assert_non_null(strstr(sb.buf, "  detection      "));
    assert_non_null(strstr(sb.buf, "never"));
    assert_non_null(strstr(sb.buf, "+1m 30s\n"));
    assert_non_null(strstr(sb.buf, "+24h 30m 00s"));
    assert_non_null(strstr(sb.buf, "15120.0"));
    assert_null(strstr(sb.buf, " \n")); /* no trailing blanks */
    hvf_strbuf_clear(&sb);

    js = hvf_incident_kpis_json(cols, k, 2);
    root = json_loads(js, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "columns")), 2);
    rows = json_object_get(root, "rows");
    assert_int_equal(json_array_size(rows), HVF_INCIDENT_ROW_LAST);
    for (size_t r = 0; r < HVF_INCIDENT_ROW_LAST; r++) {
        json_t *row = json_array_get(rows, r);
        assert_string_equal(json_string_value(json_object_get(row, "label")),
                            hvf_incident_row_labels[r]);
        assert_int_equal(json_array_size(json_object_get(row, "values")), 2);
    }
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_array_get(rows, 1), "values"), 0)),
        "never");
    assert_int_equal(
        json_integer_value(json_array_get(
            json_object_get(json_array_get(rows, HVF_INCIDENT_ROW_ACTIONS_QUEUED), "values"), 1)),
        3);
    assert_true(
        fabs(json_real_value(json_array_get(
                 json_object_get(json_array_get(rows, HVF_INCIDENT_ROW_VM_MINUTES), "values"), 0)) -
             15120.0) < 1e-9);
    json_decref(root);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_same_host),   cmocka_unit_test(test_crash_restart_elsewhere),
        cmocka_unit_test(test_component_events),  cmocka_unit_test(test_never_resolved),
        cmocka_unit_test(test_declared_resolved), cmocka_unit_test(test_event_type),
        cmocka_unit_test(test_no_impact),         cmocka_unit_test(test_crash_vm),
        cmocka_unit_test(test_table_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
