/* SPDX-License-Identifier: MIT */
/*
 * Rolling changes in the twin: the service model (storage clients' IO, replicas' serving flags,
 * reconnects, percentiles), effects on variants, each gate type deciding from the twin's state,
 * rollbacks that keep the limits, the seatbelt and the operator model, and one-line errors for
 * bad `services:` and `changes:` sections.
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
#include "hvfleet/inventory.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim-change.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define S(x) ((int64_t)(x)*HVF_US_PER_S)

/* 8 storage nodes in 4 racks (s1..s4); s4's two run kernel 4.15, one of them with the sysctl
 * set; 2 compute hosts with 3 VMs each; 3 web replicas. */
#define INV                                                                                        \
    "inventory:\n"                                                                                 \
    "  services: [{name: web, min_available: 2}]\n"                                                \
    "  hosts:\n"                                                                                   \
    "    - {name: st1, rack: s1, cpus: 8, memory: 32GiB, kernel: '4.4', hw: ssd, tags: "           \
    "[storage]}\n"                                                                                 \
    "    - {name: st2, rack: s1, cpus: 8, memory: 32GiB, kernel: '4.4', hw: ssd, tags: "           \
    "[storage]}\n"                                                                                 \
    "    - {name: st3, rack: s2, cpus: 8, memory: 32GiB, kernel: '4.4', hw: ssd, tags: "           \
    "[storage]}\n"                                                                                 \
    "    - {name: st4, rack: s2, cpus: 8, memory: 32GiB, kernel: '4.4', hw: ssd, tags: "           \
    "[storage]}\n"                                                                                 \
    "    - {name: st5, rack: s3, cpus: 8, memory: 32GiB, kernel: '4.4', hw: ssd, tags: "           \
    "[storage]}\n"                                                                                 \
    "    - {name: st6, rack: s3, cpus: 8, memory: 32GiB, kernel: '4.4', hw: ssd, tags: "           \
    "[storage]}\n"                                                                                 \
    "    - {name: st7, rack: s4, cpus: 8, memory: 32GiB, kernel: '4.15.0-45', hw: nvme, tags: "    \
    "[storage, late]}\n"                                                                           \
    "    - {name: st8, rack: s4, cpus: 8, memory: 32GiB, kernel: '4.15.0-45', hw: nvme, tags: "    \
    "[storage, late, nf_conntrack_tcp_be_liberal=1]}\n"                                            \
    "    - {name: cn1, rack: c1, cpus: 16, memory: 64GiB, kernel: '5.10', tags: [compute]}\n"      \
    "    - {name: cn2, rack: c1, cpus: 16, memory: 64GiB, kernel: '5.10', tags: [compute]}\n"      \
    "  vms:\n"                                                                                     \
    "    - {name: v1, host: cn1, vcpus: 1, memory: 1GiB}\n"                                        \
    "    - {name: v2, host: cn1, vcpus: 1, memory: 1GiB}\n"                                        \
    "    - {name: v3, host: cn1, vcpus: 1, memory: 1GiB}\n"                                        \
    "    - {name: v4, host: cn2, vcpus: 1, memory: 1GiB}\n"                                        \
    "    - {name: w1, host: cn1, vcpus: 1, memory: 1GiB, service: web}\n"                          \
    "    - {name: w2, host: cn2, vcpus: 1, memory: 1GiB, service: web}\n"                          \
    "    - {name: w3, host: st1, vcpus: 1, memory: 1GiB, service: web}\n"

#define SERVICES                                                                                   \
    "services:\n"                                                                                  \
    "  - {name: ceph, kind: storage, nodes: tag:storage, clients: tag:compute, latency: 2ms,\n"    \
    "     reconnect: 20s}\n"                                                                       \
    "  - {name: web, clients: [st2, st3, st4, st5, st6, st7]}\n"

#define DROP_EFFECT                                                                                \
    "    effects:\n"                                                                               \
    "      - when: {kernel: '>=4.10', sysctl_missing: nf_conntrack_tcp_be_liberal}\n"              \
    "        effect: drop_established_connections\n"

static hvf_scenario *
sc_parse(const char *text)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;

    hvf_diags_init(&d);
    sc = hvf_scenario_parse("t.yaml", text, strlen(text), NULL, &d, &err);
    if (!sc) {
        hvf_diags_print(&d, stderr);
        fail_msg("%s", err.msg);
    }
    hvf_diags_clear(&d);
    return sc;
}

static char *
sc_error(const char *text)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    char *msg;

    hvf_diags_init(&d);
    sc = hvf_scenario_parse("t.yaml", text, strlen(text), NULL, &d, &err);
    assert_null(sc);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_true(d.n >= 1);
    msg = hvf_strdup(d.lines[0]);
    hvf_diags_clear(&d);
    return msg;
}

static hvf_sim *
sim_of(const hvf_scenario *sc)
{
    hvf_error err = HVF_ERROR_INIT;
    void *ctx = NULL;
    hvf_sim *sim = hvf_scenario_sim_new(sc, &ctx, &err);

    assert_non_null(sim);
    assert_null(ctx);
    return sim;
}

/* ---- the planner ------------------------------------------------------------------------ */

static size_t
t_pack_none(const hvf_change_plan *plan, const uint32_t *units, size_t n, uint32_t cap,
            uint32_t *batch_of)
{
    return 0;
}

/* Runs first: nothing has set the change planner yet (the twin lies below the planner). */
static void
test_planner_registry(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 1h\n"
                                "changes:\n"
                                "  - change: {name: k, kind: kernel, targets: {hosts: cn2}, "
                                "gates: [{type: service_answers, service: web}]}\n");
    hvf_sim_change_planner partial = {.pack = t_pack_none};
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim *sim;

    (void)state;
    assert_null(hvf_sim_change_get_planner());
    sim = hvf_scenario_sim_new(sc, NULL, &err);
    assert_null(sim);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_string_equal(err.msg, "scenario 't': rolling changes are not available in this "
                                 "program (no change planner is registered)");
    hvf_error_clear(&err);
    assert_int_equal(hvf_sim_change_set_planner(&partial, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_null(hvf_sim_change_get_planner());

    /* the CLI's start-up call; twice changes nothing */
    hvf_change_register_planner();
    hvf_change_register_planner();
    assert_non_null(hvf_sim_change_get_planner());
    assert_ptr_equal(hvf_sim_change_get_planner()->build, hvf_change_plan_build);
    sim = sim_of(sc);
    hvf_sim_run(sim);
    assert_int_equal(hvf_test_event_count(sim, "change_plan"), 1);
    assert_int_equal(hvf_test_event_count(sim, "change_done"), 1);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* ---- the service model -------------------------------------------------------------------- */

static void
test_storage_block_and_reconnect(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 1h\n" SERVICES);
    hvf_sim *sim = sim_of(sc);
    int32_t ceph = hvf_sim_find_svc(sim, "ceph"), st7 = hvf_fleet_find_host(sc->fleet, "st7");
    int32_t v1 = hvf_fleet_find_vm(sc->fleet, "v1"), w3 = hvf_fleet_find_vm(sc->fleet, "w3");
    hvf_sim_svc_stats st;

    (void)state;
    assert_true(ceph >= 0);
    assert_int_equal(hvf_sim_find_svc(sim, "nope"), -1);
    sim_run_until(sim, S(60));
    assert_int_equal(hvf_sim_vm_io_latency_us(sim, v1), 2000);
    assert_int_equal(hvf_sim_vm_io_latency_us(sim, w3), -1); /* on a storage node: no client */
    assert_int_equal(hvf_sim_client_io_latency_us(sim, ceph, 99), 2000);
    hvf_sim_host_set_dropping(sim, st7, true, "test");
    assert_true(hvf_sim_host_is_dropping(sim, st7));
    /* 6 clients (the VMs on cn1 and cn2), every one spread over every node */
    assert_int_equal(hvf_sim_degraded(sim), 6);
    sim_run_until(sim, S(90));
    assert_int_equal(hvf_sim_vm_io_latency_us(sim, v1), S(30));
    assert_int_equal(hvf_sim_client_io_latency_us(sim, -1, 50), S(30));
    hvf_sim_host_set_dropping(sim, st7, false, "test");
    /* the clients reconnect 20 s after the cause is gone, not before */
    sim_run_until(sim, S(109));
    assert_int_equal(hvf_sim_degraded(sim), 6);
    sim_run_until(sim, S(110));
    assert_int_equal(hvf_sim_degraded(sim), 0);
    assert_int_equal(hvf_sim_vm_io_latency_us(sim, v1), 2000);
    hvf_sim_svc_get_stats(sim, &st);
    assert_int_equal(st.peak_vms_io_blocked, 6);
    assert_true(st.vm_io_blocked_s > 6 * 50 - 1e-6 && st.vm_io_blocked_s < 6 * 50 + 1e-6);
    assert_int_equal(st.first_impact_us, S(60));
    assert_int_equal(st.last_clear_us, S(110));
    assert_int_equal(hvf_test_event_count(sim, "vm_io_blocked"), 6);
    assert_int_equal(hvf_test_event_count(sim, "impact_end"), 1);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* With a span, a client's data is on @span nodes: one node dropping blocks only some. */
static void
test_storage_span_and_percentile(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 1h\n"
                                "services:\n"
                                "  - {name: ceph, kind: storage, nodes: tag:storage, clients: "
                                "tag:compute, span: 2, reconnect: 0s}\n");
    hvf_sim *sim = sim_of(sc);
    uint32_t blocked;

    (void)state;
    sim_run_until(sim, S(10));
    hvf_sim_host_set_dropping(sim, hvf_fleet_find_host(sc->fleet, "st1"), true, NULL);
    blocked = hvf_sim_degraded(sim);
    assert_true(blocked > 0 && blocked < 6);
    sim_run_until(sim, S(20));
    /* p100 sees a blocked client, p1 a healthy one */
    assert_int_equal(hvf_sim_client_io_latency_us(sim, 0, 100), S(10));
    assert_int_equal(hvf_sim_client_io_latency_us(sim, 0, 1), 2000);
    hvf_sim_host_set_dropping(sim, hvf_fleet_find_host(sc->fleet, "st1"), false, NULL);
    assert_int_equal(hvf_sim_degraded(sim), 0); /* reconnect 0: at once */
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

static void
test_replicas_and_clients(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 1h\n" SERVICES);
    hvf_sim *sim = sim_of(sc);
    int32_t web = hvf_fleet_find_service(sc->fleet, "web");
    int32_t w2 = hvf_fleet_find_vm(sc->fleet, "w2");
    hvf_sim_svc_stats st;

    (void)state;
    sim_run_until(sim, S(10));
    assert_true(hvf_sim_service_success(sim, web) == 1.0);
    hvf_sim_vm_set_serving(sim, w2, false, "test");
    assert_false(hvf_sim_vm_is_serving(sim, w2));
    assert_true(hvf_sim_service_success(sim, web) > 0.66 &&
                hvf_sim_service_success(sim, web) < 0.67);
    /* 6 clients, round robin over 3 replicas: 2 bound to w2; plus the replica itself */
    assert_int_equal(hvf_sim_degraded(sim), 3);
    sim_run_until(sim, S(70));
    hvf_sim_vm_set_serving(sim, w2, true, "test");
    assert_int_equal(hvf_sim_degraded(sim), 0);
    hvf_sim_svc_get_stats(sim, &st);
    assert_int_equal(st.peak_clients_failing, 2);
    assert_int_equal(st.peak_replicas_not_serving, 1);
    assert_true(st.client_failing_s > 119.9 && st.client_failing_s < 120.1);
    assert_true(st.replica_not_serving_s > 59.9 && st.replica_not_serving_s < 60.1);
    /* a service without replicas answers everything; an impaired VM counts as down */
    {
        hvf_incident_kpis k;
        hvf_incident_kpis_get(sim, &k);
        assert_int_equal(k.vms_down_peak, 1);
        assert_true(k.vm_minutes_lost > 0.99 && k.vm_minutes_lost < 1.01);
    }
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* ---- effects ------------------------------------------------------------------------------- */

static void
test_effect_matching(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 1h\n");
    const hvf_fleet *f = sc->fleet;
    hvf_change ch;
    char *settings[] = {(char *)"new_balancer"};
    struct {
        const char *kernel;
        hvf_sim_cmp cmp;
        const char *host;
        bool want;
    } k[] = {
        {"4.10", HVF_SIM_CMP_GE, "st7", true}, {"4.10", HVF_SIM_CMP_GE, "st1", false},
        {"4.10", HVF_SIM_CMP_LT, "st1", true}, {"4.4", HVF_SIM_CMP_EQ, "st1", true},
        {"4.15", HVF_SIM_CMP_GT, "st7", true}, {"4.15.0-45", HVF_SIM_CMP_EQ, "st7", true},
        {"4.16", HVF_SIM_CMP_LE, "st7", true}, {"5", HVF_SIM_CMP_GE, "st7", false},
        {"5.9", HVF_SIM_CMP_GT, "cn1", true},
    };

    (void)state;
    hvf_change_init(&ch);
    ch.settings = settings;
    ch.nsettings = 1;
    for (size_t i = 0; i < HVF_ARRAY_LEN(k); i++) {
        hvf_sim_change_effect e = {0};
        e.kernel = (char *)k[i].kernel;
        e.kernel_cmp = k[i].cmp;
        if (hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, k[i].host), &ch) != k[i].want)
            fail_msg("case %zu: kernel %s vs %s", i, k[i].host, k[i].kernel);
    }
    {
        hvf_sim_change_effect e = {.sysctl_missing = (char *)"nf_conntrack_tcp_be_liberal"};
        assert_true(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st7"), &ch));
        assert_false(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st8"), &ch));
        e.sysctl_missing = NULL;
        e.hw = (char *)"nvme";
        assert_true(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st8"), &ch));
        assert_false(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "cn1"), &ch));
        e.hw = NULL;
        e.tag = (char *)"late";
        assert_true(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st7"), &ch));
        assert_false(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st6"), &ch));
        e.tag = NULL;
        e.setting = (char *)"new_balancer";
        assert_true(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st6"), &ch));
        ch.nsettings = 0;
        assert_false(hvf_sim_effect_matches(&e, f, hvf_fleet_find_host(f, "st6"), &ch));
        /* a host without a kernel matches no kernel condition */
        e.setting = NULL;
        e.kernel = (char *)"1";
        e.kernel_cmp = HVF_SIM_CMP_GE;
    }
    ch.settings = NULL;
    hvf_scenario_free(sc);
}

/* ---- gates in the twin --------------------------------------------------------------------- */

static const hvf_sim_change_outcome *
run_one(hvf_sim *sim)
{
    const hvf_sim_change_outcome *o = NULL;

    hvf_sim_run(sim);
    assert_int_equal(hvf_sim_change_outcomes(sim, &o), 1);
    return o;
}

/* client_io_latency on the named storage: the 4.15 node without the sysctl (st7) is in the
 * canary; its clients block; the gate halts after the canary and it is rolled back. */
static void
test_gate_client_io_latency(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 2h\n" SERVICES "changes:\n"
                                "  - change:\n"
                                "      name: fw\n"
                                "      kind: firewall_rule\n"
                                "      targets: {hosts: tag:storage}\n"
                                "      variants_by: [kernel]\n"
                                "      waves: {apply: 30s, bake: 5m, gate_interval: 15s}\n"
                                "      gates: [{type: client_io_latency, service: ceph, max: "
                                "50ms}]\n"
                                "    approved: true\n"
                                "    start: 1m\n" DROP_EFFECT);
    hvf_sim *sim = sim_of(sc);
    const hvf_sim_change_outcome *o = run_one(sim);

    (void)state;
    assert_true(o->started && o->halted && o->rolled_back);
    assert_false(o->completed);
    assert_int_equal(o->waves_done, 0);
    assert_int_equal(o->units_changed, 0);
    assert_non_null(strstr(o->halt_reason, "client_io_latency"));
    assert_int_equal(o->t_start_us, S(60));
    assert_int_equal(o->t_event_us, S(90));
    assert_int_equal(o->t_detect_us, S(105)); /* the first check, 15 s into the bake */
    assert_int_equal(o->t_decide_us, S(105));
    /* rollback (30 s) then the clients reconnect (20 s) */
    assert_int_equal(o->t_resolve_us, S(155));
    assert_int_equal(hvf_test_event_count(sim, "host_conn_dropped"), 1);
    assert_int_equal(hvf_test_event_count(sim, "alert"), 1);
    assert_int_equal(hvf_test_event_count(sim, "resolved"), 1);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* The lesson of seed 003: replicas up and answering nothing pass process_up wave after wave;
 * service_answers catches them after the canary. */
static void
test_gate_process_up_vs_service_answers(void **state)
{
#define UP_FMT                                                                                     \
    "name: t\n" INV "duration: 2h\n" SERVICES "changes:\n"                                         \
    "  - change:\n"                                                                                \
    "      name: up\n"                                                                             \
    "      kind: package\n"                                                                        \
    "      targets: {service: web}\n"                                                              \
    "      settings: [new_balancer]\n"                                                             \
    "      waves: {apply: 1m, bake: 2m, max_per_wave: 1}\n"                                        \
    "      gates: [%s]\n"                                                                          \
    "    approved: true\n"                                                                         \
    "    effects: [{when: {setting: new_balancer}, effect: service_stops_serving}]\n"
    HVF_AUTOFREE char *weak = hvf_asprintf(UP_FMT, "{type: process_up}");
    HVF_AUTOFREE char *functional =
        hvf_asprintf(UP_FMT, "{type: service_answers, service: web, min_success: 0.99}");
    hvf_scenario *sc = sc_parse(weak);
    hvf_sim *sim = sim_of(sc);
    const hvf_sim_change_outcome *o = run_one(sim);
    hvf_sim_svc_stats st;

    (void)state;
    assert_true(o->completed);
    assert_false(o->halted);
    assert_int_equal(o->units_changed, 3);
    hvf_sim_svc_get_stats(sim, &st);
    assert_int_equal(st.peak_replicas_not_serving, 3);
    assert_int_equal(hvf_sim_degraded(sim), 3 + 6); /* every replica and every client */
    hvf_sim_free(sim);
    hvf_scenario_free(sc);

    sc = sc_parse(functional);
    sim = sim_of(sc);
    o = run_one(sim);
    assert_true(o->halted && o->rolled_back);
    assert_int_equal(o->units_changed, 0);
    hvf_sim_svc_get_stats(sim, &st);
    assert_int_equal(st.peak_replicas_not_serving, 1);
    assert_int_equal(hvf_sim_degraded(sim), 0);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* process_up does catch a unit that is down: its host crashes during the bake. */
static void
test_gate_process_up_down(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 2h\n"
                                "faults: [{at: 3m, type: host_crash, host: cn1, duration: 5m}]\n"
                                "changes:\n"
                                "  - change:\n"
                                "      name: up\n"
                                "      kind: config_reload\n"
                                "      targets: {service: web}\n"
                                "      variants_by: []\n"
                                "      waves: {apply: 1m, bake: 10m, max_per_wave: 1, "
                                "canary_units: [w1]}\n"
                                "      gates: [{type: process_up}]\n"
                                "    approved: true\n");
    hvf_sim *sim = sim_of(sc);
    const hvf_sim_change_outcome *o = run_one(sim);

    (void)state;
    assert_true(o->halted);
    assert_non_null(strstr(o->halt_reason, "process_up: w1 is down"));
    assert_int_equal(o->t_detect_us, S(180)); /* the crash at 3m, seen by the check then */
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* A rollback of several waves goes in reverse, in batches that keep one node per rack. */
static void
test_rollback_keeps_redundancy(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 4h\n" SERVICES "changes:\n"
                                "  - change:\n"
                                "      name: fw\n"
                                "      kind: firewall_rule\n"
                                "      targets: {hosts: tag:storage}\n"
                                "      variants_by: []\n"
                                "      waves: {apply: 30s, bake: 2m, factor: 4, max_per_wave: 8}\n"
                                "      redundancy: {per: rack, max_down: 1}\n"
                                "      gates: [{type: client_io_latency, max: 50ms}]\n"
                                "    approved: true\n"
                                "    policy: " HVF_SRCDIR "/tests/unit/change-policy.yaml\n"
                                "    effects: [{when: {tag: late, sysctl_missing: "
                                "nf_conntrack_tcp_be_liberal}, effect: "
                                "drop_established_connections}]\n");
    hvf_sim *sim = sim_of(sc);
    const hvf_sim_change_outcome *o = run_one(sim);
    const char *p = sim->events.buf;
    size_t batches = 0;

    (void)state;
    assert_true(o->halted && o->rolled_back);
    assert_true(o->waves_done >= 1);
    assert_int_equal(o->units_changed, 0);
    /* every batch: at most one storage node per rack */
    while ((p = strstr(p, "\"change_rollback_batch\""))) {
        const char *d = strstr(p, ": batch ");
        const char *end = strchr(p, '\n');
        int per_rack[8] = {0};
        batches++;
        for (const char *q = strchr(d, ':') + 1; q < end; q++) {
            if (q[0] == 's' && q[1] == 't' && q[2] >= '1' && q[2] <= '8') {
                int rack = (q[2] - '1') / 2;
                assert_true(++per_rack[rack] <= 1);
                q += 2;
            }
        }
        p = end;
    }
    assert_true(batches >= 2);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* The seatbelt: a plan that needs approval and has none does not start; a refused one neither. */
static void
test_seatbelt_in_the_twin(void **state)
{
#define SB_FMT                                                                                     \
    "name: t\n" INV "duration: 1h\n"                                                               \
    "changes:\n"                                                                                   \
    "  - change: {name: k, kind: kernel, targets: {hosts: %s}, waves: {strategy: %s}, gates: "     \
    "[{type: service_answers, service: web}]}\n"                                                   \
    "    approved: %s\n"
    struct {
        const char *hosts, *strategy, *approved;
        bool started;
        hvf_plan_verdict verdict;
    } cases[] = {
        {"tag:compute", "rolling", "false", false, HVF_PLAN_VERDICT_NEEDS_APPROVAL},
        {"tag:compute", "rolling", "true", true, HVF_PLAN_VERDICT_NEEDS_APPROVAL},
        {"cn2", "rolling", "false", true, HVF_PLAN_VERDICT_AUTO},
        /* both compute hosts share rack c1: at once breaks max_parallel_per_rack */
        {"tag:compute", "all_at_once", "true", false, HVF_PLAN_VERDICT_REFUSED},
    };

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *text =
            hvf_asprintf(SB_FMT, cases[i].hosts, cases[i].strategy, cases[i].approved);
        hvf_scenario *sc = sc_parse(text);
        hvf_sim *sim = sim_of(sc);
        const hvf_sim_change_outcome *o = run_one(sim);
        assert_int_equal(o->started, cases[i].started);
        assert_int_equal(o->verdict, cases[i].verdict);
        assert_int_equal(hvf_test_event_count(sim, "change_refused"), !cases[i].started);
        hvf_sim_free(sim);
        hvf_scenario_free(sc);
    }
}

/* People: monitoring alerts after `for`, people decide after `decide_after`, revert everything
 * at once; a rolling change as written stops where it is. */
static void
test_operator_model(void **state)
{
    hvf_scenario *sc = sc_parse("name: t\n" INV "duration: 4h\n" SERVICES "changes:\n"
                                "  - change:\n"
                                "      name: fw\n"
                                "      kind: firewall_rule\n"
                                "      targets: {hosts: tag:storage}\n"
                                "      waves: {canary_units: [st7], factor: 1, max_per_wave: 1, "
                                "apply: 30s, bake: 1m}\n"
                                "    executor: as_written\n"
                                "    start: 1m\n" DROP_EFFECT "    operator:\n"
                                "      alert: {type: client_io_latency, max: 1s}\n"
                                "      for: 1m\n"
                                "      every: 30s\n"
                                "      decide_after: 3m\n"
                                "      revert: 40s\n"
                                "      action: disable the firewall\n");
    hvf_sim *sim = sim_of(sc);
    const hvf_sim_change_outcome *o;
    hvf_incident_kpis k;

    (void)state;
    hvf_incident_set_event_type(sim, "change_start");
    o = run_one(sim);
    assert_true(o->as_written && o->started && o->reverted);
    assert_false(o->completed);
    assert_true(o->waves_done < o->waves_planned);
    assert_int_equal(o->t_event_us, S(90));
    /* checks at 1m30 (fine: blocked 0 s), 2m (failing since), 2m30, 3m (for 1m): alert */
    assert_int_equal(o->t_detect_us, S(180));
    assert_int_equal(o->t_decide_us, S(360));
    assert_int_equal(o->t_resolve_us, S(360 + 40 + 20));
    assert_int_equal(o->units_changed, 0);
    assert_int_equal(hvf_test_event_count(sim, "decision"), 1);
    assert_non_null(strstr(sim->events.buf, "disable the firewall"));
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.detection_us, S(180));
    assert_int_equal(k.resolution_us, S(420));
    assert_int_equal(k.vms_down_peak, 6);
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
}

/* ---- bad sections ---------------------------------------------------------------------------- */

static void
test_bad_sections(void **state)
{
    struct {
        const char *tail, *want;
    } cases[] = {
        {"services: [{name: ceph, kind: storage, clients: all}]\n",
         "services[0].nodes: (a mapping): expected the storage nodes"},
        {"services: [{name: web, kind: storage, nodes: tag:storage}]\n",
         "services[0].name: 'web': expected a storage name that is not an inventory service"},
        {"services: [{name: bus}]\n",
         "services[0].name: 'bus': expected a service of the inventory"},
        {"services: [{name: web, nodes: st1}]\n", "services[0].nodes: 'st1': expected only with"},
        {"services: [{name: ceph, kind: storage, nodes: tag:gpu}]\n",
         "services[0].nodes: 'tag:gpu': no host has the tag 'gpu'"},
        {"services:\n  - {name: a, kind: storage, nodes: st1, clients: cn1}\n"
         "  - {name: b, kind: storage, nodes: st2, clients: cn1}\n",
         "expected VMs of no other storage (v1 already uses a)"},
        {"changes: [{start: 1m}]\n", "changes[0].change: (missing): a value is required"},
        {"changes: [{change: nope.change.yaml}]\n",
         "changes[0].change: 'nope.change.yaml': cannot"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: gpu1}}}]\n",
         "changes[0].change: (a mapping): targets.hosts: 'gpu1'"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}}, start: 2h}]\n",
         "changes[0].start: '2h': expected a time within the scenario's duration"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}},\n"
         "  effects: [{effect: melt}]}]\n",
         "changes[0].effects[0].effect: 'melt': expected one of drop_established_connections"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}},\n"
         "  effects: [{when: {kernel: new}, effect: service_stops_serving}]}]\n",
         "changes[0].effects[0].when.kernel: 'new': expected a version"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}},\n"
         "  effects: [{when: {colour: red}, effect: service_stops_serving}]}]\n",
         "changes[0].effects[0].when.colour: 'colour': unknown field"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}},\n"
         "  operator: {alert: {type: process_up}, revert: 1m}}]\n",
         "changes[0].operator.decide_after: (missing)"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}},\n"
         "  operator: {alert: {type: client_io_latency}, decide_after: 1m, revert: 1m}}]\n",
         "changes[0].operator.alert.max"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}, gates: [{type: "
         "client_io_latency, service: nfs, max: 1s}]}}]\n",
         "a client_io_latency gate names 'nfs': expected a storage of services:"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}}, executor: people}]\n",
         "changes[0].executor: 'people': expected one of hvfleet | as_written"},
        {"changes: [{change: {name: x, kind: kernel, targets: {hosts: all}}, policy: nope.yaml}]\n",
         "changes[0].policy: 'nope.yaml': cannot"},
    };

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *text = hvf_asprintf("name: t\n" INV "duration: 1h\n%s", cases[i].tail);
        HVF_AUTOFREE char *msg = sc_error(text);
        if (!strstr(msg, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, msg, cases[i].want);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planner_registry), /* first: it registers the planner */
        cmocka_unit_test(test_storage_block_and_reconnect),
        cmocka_unit_test(test_storage_span_and_percentile),
        cmocka_unit_test(test_replicas_and_clients),
        cmocka_unit_test(test_effect_matching),
        cmocka_unit_test(test_gate_client_io_latency),
        cmocka_unit_test(test_gate_process_up_vs_service_answers),
        cmocka_unit_test(test_gate_process_up_down),
        cmocka_unit_test(test_rollback_keeps_redundancy),
        cmocka_unit_test(test_seatbelt_in_the_twin),
        cmocka_unit_test(test_operator_model),
        cmocka_unit_test(test_bad_sections),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
