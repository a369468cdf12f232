/* SPDX-License-Identifier: MIT */
/*
 * The monitoring model: when an alert fires (failed checks in a row, the path's delay), what a
 * monitor sees (down hosts, out-of-service hosts, crashed VMs, silent peers with a heartbeat), an
 * alert whose path dies before delivery and is sent again, the operator's decision and repair,
 * the outage noticed without an alert; and every bad input of the scenario's monitoring section.
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
#include "hvfleet/incident.h"
#include "hvfleet/monitor-run.h"
#include "hvfleet/monitor.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

#define S HVF_US_PER_S

/* Hosts h0..h3; VMs: m0 (service mon) on h0, m1 (mon) on h1, relay (service relay) on h2,
 * app on h3. */
static hvf_fleet *
t_fleet(void)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    static const struct {
        const char *name;
        int host;
        int svc;
    } vms[] = {{"m0", 0, 0}, {"m1", 1, 0}, {"relay", 2, 1}, {"app", 3, -1}};
    hvf_service s = {0};

    s.name = (char *)"mon";
    assert_int_equal(hvf_fleet_add_service(f, &s, &err), 0);
    s.name = (char *)"relay";
    assert_int_equal(hvf_fleet_add_service(f, &s, &err), 1);
    hvf_test_hosts_add(f, 4, 8, 16384);
    for (size_t i = 0; i < HVF_ARRAY_LEN(vms); i++) {
        hvf_vm v = {.name = (char *)vms[i].name,
                    .host = vms[i].host,
                    .vcpus = 1,
                    .mem_mib = 1024,
                    .working_set_mib = 1024,
                    .cpu_load = 0.1,
                    .service = vms[i].svc,
                    .migratable = true};
        assert_true(hvf_fleet_add_vm(f, &v, 0, &err) >= 0);
    }
    return f;
}

typedef struct t_setup {
    int32_t monitors[2];
    size_t nmonitors;
    int32_t watched[4];
    size_t nwatched;
    hvf_sim_alert_path paths[2];
    size_t npaths;
    uint32_t checks;
    bool heartbeat;
    int64_t notice_us;
} t_setup;

static hvf_sim *
t_sim(const t_setup *t, int64_t restart_delay_us)
{
    hvf_fleet *f = t_fleet();
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_monitor_opts o = {.monitors = (int32_t *)t->monitors,
                              .nmonitors = t->nmonitors,
                              .watched = (int32_t *)t->watched,
                              .nwatched = t->nwatched,
                              .interval_us = 60 * S,
                              .checks_to_alert = t->checks,
                              .heartbeat = t->heartbeat,
                              .paths = (hvf_sim_alert_path *)t->paths,
                              .npaths = t->npaths,
                              .response_us = 600 * S,
                              .repair_us = 1200 * S,
                              .notice_us = t->notice_us};

    hvf_sim_params_default(&p);
    p.duration_us = 6 * 3600 * S;
    p.vm_restart_same_host = true;
    p.vm_restart_delay_us = restart_delay_us;
    sim = hvf_sim_new(f, &p, NULL, 0);
    hvf_fleet_free(f);
    assert_int_equal(hvf_sim_monitor_attach(sim, &o, &err), 0);
    return sim;
}

static void
t_fault(hvf_sim *sim, hvf_sim_fault_type type, int32_t host, int64_t at_s, int64_t dur_s,
        bool renamed)
{
    hvf_sim_fault fa = {.type = type,
                        .at_us = at_s * S,
                        .host = host,
                        .rack = -1,
                        .vm = -1,
                        .duration_us = dur_s < 0 ? -1 : dur_s * S,
                        .renamed_nics = renamed,
                        .fixed_after_us = -1};
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_sim_add_fault(sim, &fa, &err), 0);
}

static hvf_sim_alert_path
t_path(const char *name, bool external, int32_t service, int32_t vm, int64_t delay_s)
{
    hvf_sim_alert_path p = {(char *)name, external, service, vm, delay_s * S};
    return p;
}

static void
test_checks_and_delay(void **state)
{
    /* one monitor on h0 (checks at 0, 60, ...), 3 failed checks, pager 10 s */
    t_setup t = {.monitors = {0},
                 .nmonitors = 1,
                 .watched = {3},
                 .nwatched = 1,
                 .paths = {t_path("pager", true, -1, -1, 10)},
                 .npaths = 1,
                 .checks = 3,
                 .notice_us = -1};
    hvf_sim *sim = t_sim(&t, 60 * S);
    hvf_incident_kpis k;

    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 3, 100, 3600, false);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    /* fails at 120, 180, 240: sent at 240, delivered at 250 */
    assert_int_equal(k.detection_us, 250 * S);
    /* the operator decides after response (600 s) and brings the host back after repair
     * (1200 s), before it would have come back by itself (3700 s) */
    assert_int_equal(k.decision_us, 850 * S);
    assert_int_equal(k.actions_queued, 1);
    assert_int_equal(k.actions_run, 1);
    assert_int_equal(k.resolution_us, 2080 * S); /* app's next restart attempt */
    hvf_sim_free(sim);
}

static void
test_repair_quarantined(void **state)
{
    t_setup t = {.monitors = {0},
                 .nmonitors = 1,
                 .watched = {3},
                 .nwatched = 1,
                 .paths = {t_path("pager", true, -1, -1, 0)},
                 .npaths = 1,
                 .checks = 1,
                 .notice_us = -1};
    hvf_sim *sim = t_sim(&t, 60 * S);
    hvf_incident_kpis k;

    /* h3 reboots at 30 s, back at 330 s with renamed NICs: out of service until repaired */
    t_fault(sim, HVF_SIM_FAULT_HOST_REBOOT, 3, 30, 300, true);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.detection_us, 60 * S);
    assert_int_equal(k.decision_us, 660 * S);
    /* repaired at 1860 s; app restarts at its next attempt (every 60 s from 30 s): 1890 s */
    assert_int_equal(k.resolution_us, 1890 * S);
    assert_int_equal(hvf_sim_host_state_get(sim, 3), HVF_SIM_HOST_ACTIVE);
    hvf_sim_free(sim);
}

static void
test_path_on_failed_host(void **state)
{
    /* the only path is the relay VM on h2; h2 and h3 fail together: the alert is lost */
    t_setup t = {.monitors = {0},
                 .nmonitors = 1,
                 .watched = {2, 3},
                 .nwatched = 2,
                 .paths = {t_path("relay", false, 1, -1, 30)},
                 .npaths = 1,
                 .checks = 1,
                 .notice_us = 3 * 3600 * S};
    hvf_sim *sim = t_sim(&t, 60 * S);
    hvf_incident_kpis k;

    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 2, 100, -1, false);
    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 3, 100, -1, false);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.detection_us, -1);
    assert_int_equal(k.alerts_lost, 2); /* once per target, not every minute */
    /* someone notices 3 h later, the operator repairs both 20 min after; the VMs' restart
     * attempt of that instant comes first (hosts before controllers), the next one boots them */
    assert_int_equal(k.decision_us, (100 + 3 * 3600) * S);
    assert_int_equal(k.actions_run, 2);
    assert_int_equal(k.resolution_us, (100 + 3 * 3600 + 1200 + 60) * S);
    hvf_sim_free(sim);
}

static void
test_path_dies_in_flight(void **state)
{
    /* sent at 120 s through the relay (h2), which dies at 130 s; back at 430 s */
    t_setup t = {.monitors = {0},
                 .nmonitors = 1,
                 .watched = {3},
                 .nwatched = 1,
                 .paths = {t_path("relay", false, -1, 2, 60)},
                 .npaths = 1,
                 .checks = 1,
                 .notice_us = -1};
    hvf_sim *sim = t_sim(&t, 60 * S);
    hvf_incident_kpis k;

    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 3, 90, -1, false);
    t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 2, 130, 300, false);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    /* lost at 180 s; the relay VM boots with h2 at 430 s; the monitor sends again at its next
     * check (480 s), delivered at 540 s */
    assert_int_equal(k.alerts_lost, 1);
    assert_int_equal(k.detection_us, 540 * S);
    hvf_sim_free(sim);
}

static void
test_heartbeat(void **state)
{
    /* m0 (h0) and m1 (h1) watch only h3; h1 crashes: only the heartbeat notices */
    for (int hb = 0; hb < 2; hb++) {
        t_setup t = {.monitors = {0, 1},
                     .nmonitors = 2,
                     .watched = {3},
                     .nwatched = 1,
                     .paths = {t_path("pager", true, -1, -1, 0)},
                     .npaths = 1,
                     .checks = 2,
                     .heartbeat = hb == 1,
                     .notice_us = -1};
        hvf_sim *sim = t_sim(&t, 3600 * S);
        hvf_incident_kpis k;

        t_fault(sim, HVF_SIM_FAULT_HOST_CRASH, 1, 100, 600, false);
        hvf_sim_run(sim);
        hvf_incident_kpis_get(sim, &k);
        if (hb)
            assert_int_equal(k.detection_us, 180 * S); /* m0 fails it at 120 and 180 s */
        else
            assert_int_equal(k.detection_us, -1);
        hvf_sim_free(sim);
    }
}

static void
t_crash_start(hvf_sim *sim, void *ctx)
{
    hvf_sim_component_timer(sim, *(int32_t *)ctx, 100 * S, 0);
}

static void
t_crash_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    hvf_error err = HVF_ERROR_INIT;

    (void)tag;
    (void)ctx;
    assert_int_equal(hvf_sim_crash_vm(sim, 3, "qemu died", &err), 0);
}

static void
test_crashed_vm(void **state)
{
    t_setup t = {.monitors = {0},
                 .nmonitors = 1,
                 .watched = {3},
                 .nwatched = 1,
                 .paths = {t_path("pager", true, -1, -1, 0)},
                 .npaths = 1,
                 .checks = 2,
                 .notice_us = -1};
    hvf_sim *sim = t_sim(&t, 600 * S);
    int32_t id = 0;
    hvf_sim_component c = {
        .name = "crash", .ctx = &id, .on_start = t_crash_start, .on_timer = t_crash_timer};
    hvf_incident_kpis k;

    id = hvf_sim_add_component(sim, &c);
    hvf_incident_set_event_type(sim, "vm_crashed");
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.event_us, 100 * S);
    assert_int_equal(k.detection_us, 180 * S);
    /* no host to repair: the decision queues nothing */
    assert_int_equal(k.actions_queued, 0);
    hvf_sim_free(sim);
}

static void
test_attach_bad(void **state)
{
    hvf_fleet *f = t_fleet();
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_error err = HVF_ERROR_INIT;
    int32_t bad_vm = 99, good = 0;
    hvf_sim_monitor_opts o = {
        .monitors = &good, .nmonitors = 1, .interval_us = 0, .checks_to_alert = 1};

    hvf_sim_params_default(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    assert_int_equal(hvf_sim_monitor_attach(sim, &o, &err), -1);
    o.interval_us = S;
    o.monitors = &bad_vm;
    assert_int_equal(hvf_sim_monitor_attach(sim, &o, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

/* ---- the scenario's monitoring section ---- */

#define SC_HEAD                                                                                    \
    "name: s\nduration: 1h\ninventory:\n"                                                          \
    "  services: [{name: mon}, {name: relay}]\n"                                                   \
    "  hosts: [{name: h1, cpus: 8, memory: 16GiB}, {name: h2, cpus: 8, memory: 16GiB}]\n"          \
    "  vms:\n"                                                                                     \
    "    - {name: m1, host: h1, vcpus: 1, memory: 1GiB, service: mon}\n"                           \
    "    - {name: r1, host: h2, vcpus: 1, memory: 1GiB, service: relay}\n"                         \
    "    - {name: e1, host: h2, vcpus: 1, memory: 1GiB}\n"                                         \
    "monitoring:\n"

static hvf_scenario *
t_parse(const char *body, hvf_diags *d, hvf_error *err)
{
    HVF_AUTOFREE char *text = hvf_asprintf(SC_HEAD "%s", body);

    hvf_diags_init(d);
    return hvf_scenario_parse("s.yaml", text, strlen(text), NULL, d, err);
}

static void
test_section_good(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc = t_parse("  monitors: [service:mon, e1]\n  watch: h2\n  interval: 30s\n"
                               "  checks_to_alert: 3\n  heartbeat: true\n"
                               "  alert_paths:\n"
                               "    - {name: relay, service: relay, delay: 20s}\n"
                               "    - {name: pager, external: true}\n"
                               "  response: 5m\n  repair: 1h\n  notice_without_alert: 8h\n",
                               &d, &err);

    if (!sc)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    assert_non_null(sc->monitoring);
    assert_int_equal(sc->monitoring->nmonitors, 2);
    assert_int_equal(sc->monitoring->nwatched, 1);
    assert_int_equal(sc->monitoring->interval_us, 30 * S);
    assert_int_equal(sc->monitoring->checks_to_alert, 3);
    assert_true(sc->monitoring->heartbeat);
    assert_int_equal(sc->monitoring->npaths, 2);
    assert_int_equal(sc->monitoring->paths[0].service, 1);
    assert_int_equal(sc->monitoring->paths[0].delay_us, 20 * S);
    assert_true(sc->monitoring->paths[1].external);
    assert_int_equal(sc->monitoring->notice_us, 8 * 3600 * S);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);

    /* defaults: every host watched, 1m, 2 checks, never noticed without an alert */
    sc = t_parse("  monitors: m1\n", &d, &err);
    assert_non_null(sc);
    assert_int_equal(sc->monitoring->nwatched, 2);
    assert_int_equal(sc->monitoring->interval_us, 60 * S);
    assert_int_equal(sc->monitoring->checks_to_alert, 2);
    assert_int_equal(sc->monitoring->notice_us, -1);
    assert_int_equal(sc->monitoring->npaths, 0);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

static void
test_section_bad(void **state)
{
    static const struct {
        const char *body, *expect;
    } cases[] = {
        {"  interval: 1m\n", "monitoring.monitors: (missing): a value is required"},
        {"  monitors: nobody\n", "s.yaml:11: monitoring.monitors: 'nobody': expected a VM name"},
        {"  monitors: service:nope\n", "monitoring.monitors: 'service:nope': expected the name of "
                                       "a service"},
        {"  monitors: [m1, service:mon]\n", "monitoring.monitors[1]: 'service:mon': expected each "
                                            "monitor once"},
        {"  monitors: [{vm: m1}]\n", "monitoring.monitors[0]: "},
        {"  monitors: m1\n  interval: 0s\n",
         "monitoring.interval: '0s': expected a duration above 0"},
        {"  monitors: m1\n  checks_to_alert: 0\n", "monitoring.checks_to_alert: '0': "},
        {"  monitors: m1\n  watch: h9\n", "monitoring.watch: 'h9': expected a host name"},
        {"  monitors: m1\n  notice_without_alert: tomorrow\n",
         "monitoring.notice_without_alert: 'tomorrow': expected a duration"},
        {"  monitors: m1\n  alert_paths: pager\n",
         "monitoring.alert_paths: 'pager': expected a list of up to 16 alert paths"},
        {"  monitors: m1\n  alert_paths: [{name: p}]\n",
         "monitoring.alert_paths[0].name: 'p': expected exactly one of service, vm or external"},
        {"  monitors: m1\n  alert_paths: [{name: p, service: relay, external: true}]\n",
         "expected exactly one of service, vm or external"},
        {"  monitors: m1\n  alert_paths: [{name: p, service: nope}]\n",
         "monitoring.alert_paths[0].service: 'nope': expected the name of a service"},
        {"  monitors: m1\n  alert_paths: [{name: p, vm: nope}]\n",
         "monitoring.alert_paths[0].vm: 'nope': expected the name of a VM"},
        {"  monitors: m1\n  alert_paths: [{name: p, external: true}, {name: p, vm: r1}]\n",
         "monitoring.alert_paths[1].name: 'p': expected a name no other alert path has"},
        {"  monitors: m1\n  alert_paths: [{name: p, external: true, delay: soon}]\n",
         "monitoring.alert_paths[0].delay: 'soon': expected a duration"},
        {"  monitors: m1\n  pager: true\n", "monitoring.pager: "},
        {"  - m1\n", "monitoring: "},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_scenario *sc = t_parse(cases[i].body, &d, &err);
        bool found = false;

        for (size_t k = 0; k < d.n; k++)
            found |= strstr(d.lines[k], cases[i].expect) != NULL;
        if (sc || !found)
            fail_msg("case %zu: expected '%s', got '%s'", i, cases[i].expect,
                     d.n ? d.lines[0] : "nothing");
        assert_int_equal(err.code, HVF_ERR_INVALID);
        hvf_diags_clear(&d);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks_and_delay),    cmocka_unit_test(test_repair_quarantined),
        cmocka_unit_test(test_path_on_failed_host), cmocka_unit_test(test_path_dies_in_flight),
        cmocka_unit_test(test_heartbeat),           cmocka_unit_test(test_crashed_vm),
        cmocka_unit_test(test_attach_bad),          cmocka_unit_test(test_section_good),
        cmocka_unit_test(test_section_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
