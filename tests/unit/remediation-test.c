/* SPDX-License-Identifier: MIT */
/*
 * Monitoring and remediation in the twin (src/platform/remediation*.c) on a small fleet where every
 * figure follows by hand: apps that need a dependency, redeployed again and again per VM versus
 * one incident, a paused queue, one action per VM at a rate limit; slow VMs left as zombies and
 * found by reconciling; an incident opened by a fleet-wide symptom whose queued actions turn out
 * stale; operators pausing and cleaning by hand; upscales; bad options.
 */
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
#include "hvfleet/fallout.h"
#include "hvfleet/incident.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define S HVF_US_PER_S

/* Four hosts; an app using the bus on each (a1-a4, service apps), two other VMs each (w*). */
#define T_INV                                                                                      \
    "name: t\n"                                                                                    \
    "duration: 1h\n"                                                                               \
    "inventory:\n"                                                                                 \
    "  services: [{name: apps}]\n"                                                                 \
    "  hosts:\n"                                                                                   \
    "    - {name: h0, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "    - {name: h1, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "    - {name: h2, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "    - {name: h3, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "  vms:\n"                                                                                     \
    "    - {name: a1, host: h0, vcpus: 2, memory: 4GiB, service: apps}\n"                          \
    "    - {name: a2, host: h1, vcpus: 2, memory: 4GiB, service: apps}\n"                          \
    "    - {name: a3, host: h2, vcpus: 2, memory: 4GiB, service: apps}\n"                          \
    "    - {name: a4, host: h3, vcpus: 2, memory: 4GiB, service: apps}\n"                          \
    "    - {name: w1, host: h0, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w2, host: h0, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w3, host: h1, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w4, host: h1, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w5, host: h2, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w6, host: h2, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w7, host: h3, vcpus: 2, memory: 4GiB}\n"                                         \
    "    - {name: w8, host: h3, vcpus: 2, memory: 4GiB}\n"

#define T_REM                                                                                      \
    "  check_interval: 30s\n"                                                                      \
    "  unreachable_after: 2\n"                                                                     \
    "  renotify: 60s\n"                                                                            \
    "  slow_speed: 0.3\n"                                                                          \
    "  orchestrator: {deploys_per_min: 60, deploy_time: 20s, deploy_cpu: 0, deploy_io: 0MB/s}\n"

/* A guest that slows down by itself (a thrashing VM) from @from_s to @to_s. */
typedef struct t_slow {
    int32_t id;
    int32_t vms[8];
    size_t n;
    double speed;
    int64_t from_s, to_s;
} t_slow;

static void
t_slow_start(hvf_sim *sim, void *ctx)
{
    t_slow *t = ctx;

    hvf_sim_component_timer(sim, t->id, t->from_s * S, 1);
    if (t->to_s > 0)
        hvf_sim_component_timer(sim, t->id, t->to_s * S, 0);
}

static void
t_slow_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    t_slow *t = ctx;

    for (size_t i = 0; i < t->n; i++)
        hvf_sim_vm_set_guest_load(sim, t->vms[i], 0, tag ? t->speed : 1.0);
}

static hvf_sim *
t_run(const char *text, t_slow *slow)
{
    void *sched = NULL;
    hvf_sim *sim = hvf_test_scenario_sim(text, &sched);

    if (slow) {
        hvf_sim_component c = {
            .name = "slow", .ctx = slow, .on_start = t_slow_start, .on_timer = t_slow_timer};
        slow->id = hvf_sim_add_component(sim, &c);
    }
    hvf_sim_run(sim);
    return sim;
}

#define T_BUS "faults: [{at: 100s, type: service_down, service: bus, until: 1300s}]\n"
#define T_DEPS "  dependents: {vms: \"service:apps\", on: bus, need_restart: true}\n"

static void
test_dependents_per_vm(void **state)
{
    hvf_sim *sim =
        t_run(T_INV T_BUS "remediation:\n  mode: per_vm\n  alert_delay: 60s\n" T_REM T_DEPS, NULL);
    hvf_remediation_stats st;
    hvf_incident_kpis k;

    assert_true(hvf_remediation_stats_get(sim, &st));
    hvf_incident_kpis_get(sim, &k);
    /* the apps fail with the bus at 100 s: unreachable at the second check (150 s), asked for
     * every 60 s until 1290 s (20 times each); every copy started while the bus is down fails
     * too; the copies of 1290 s start at 1310 s, after the bus is back (1300 s), and work */
    assert_int_equal(st.actions_queued, 80);
    assert_int_equal(st.actions_merged, 0);
    assert_int_equal(st.redeploys, 80);
    assert_int_equal(st.incidents, 0);
    assert_int_equal(st.zombies, 0);
    assert_int_equal(st.peak_unreachable, 4);
    assert_int_equal(hvf_test_event_first_us(sim, "action_queued", NULL), 150 * S);
    assert_int_equal(k.detection_us, 160 * S); /* the bus alert */
    assert_int_equal(k.decision_us, -1);       /* nobody decided anything */
    /* the last redeploys end at 1290 + 3 + 20 s: the next check finds everything answering */
    assert_int_equal(k.resolution_us, 1320 * S);
    assert_int_equal(k.actions_queued, 80);
    hvf_sim_free(sim);
}

static void
test_dependents_correlated(void **state)
{
    hvf_sim *sim =
        t_run(T_INV T_BUS "remediation:\n  mode: correlated\n  alert_delay: 0s\n" T_REM T_DEPS
                          "  correlation: {dependencies: [bus], clear_after: "
                          "120s}\n"
                          "  queue: {redeploy_per_min: 6, redeploy_burst: 2, "
                          "cooldown: 10m}\n",
              NULL);
    hvf_remediation_stats st;
    hvf_incident_kpis k;

    assert_true(hvf_remediation_stats_get(sim, &st));
    hvf_incident_kpis_get(sim, &k);
    /* the bus's failure is one incident at once: remediation paused before anything runs */
    assert_int_equal(st.incidents, 1);
    assert_int_equal(k.detection_us, 100 * S);
    assert_int_equal(k.decision_us, 100 * S);
    /* one queued action per app; every later report merges into it */
    assert_int_equal(st.actions_queued, 4);
    assert_true(st.actions_merged >= 4 * 19);
    /* the bus is back at 1300 s; clear from the check at 1320 s for 120 s: resumed at 1440 s,
     * two at once (the burst), then one every 10 s */
    assert_int_equal(hvf_test_event_first_us(sim, "decision", "resumes"), 1440 * S);
    assert_int_equal(hvf_test_event_first_us(sim, "action_run", NULL), 1440 * S);
    assert_int_equal(st.redeploys, 4);
    assert_int_equal(st.actions_run, 4);
    assert_true(st.rate_limited >= 2);
    assert_int_equal(st.zombies, 0);
    assert_int_equal(st.paused_us, 1340 * S);
    /* the last redeploy starts at 1460 s and ends at 1480 s: all fine at the check of 1500 s */
    assert_int_equal(k.resolution_us, 1500 * S);
    assert_true(k.resolved_declared);
    assert_int_equal(k.actions_queued, 4);
    hvf_sim_free(sim);
}

static void
test_zombies(void **state)
{
    t_slow slow = {.vms = {4}, .n = 1, .speed = 0.05, .from_s = 100, .to_s = 0};
    hvf_sim *sim = t_run(T_INV "remediation:\n  mode: per_vm\n" T_REM, &slow);
    hvf_remediation_stats st;
    uint64_t free_h0;

    assert_true(hvf_remediation_stats_get(sim, &st));
    /* w1 thrashes from 100 s: redeployed at 150 s; its old copy does not answer the stop and
     * keeps running on h0 (its 4 GiB too) */
    assert_int_equal(st.redeploys, 1);
    assert_int_equal(st.zombies, 1);
    assert_int_equal(hvf_test_event_first_us(sim, "vm_zombie", NULL), 170 * S);
    assert_int_equal(hvf_sim_vm_host(sim, 4), 1); /* h1: the fewest deployments, then free */
    free_h0 = hvf_sim_host_free_mib(sim, 0, true);
    assert_int_equal(free_h0, 64 * 1024 - 4096 - 4096 - 4096); /* a1, w2 and the zombie */
    hvf_sim_free(sim);

    /* correlated: the same, but reconciling finds the second copy and stops it */
    sim = t_run(T_INV "remediation:\n  mode: correlated\n  correlation: {fleet_share: 0.5}\n" T_REM,
                &slow);
    assert_true(hvf_remediation_stats_get(sim, &st));
    assert_int_equal(st.incidents, 0); /* one VM of twelve is no fleet-wide symptom */
    assert_int_equal(st.zombies, 1);
    assert_int_equal(st.zombies_stopped, 1);
    assert_int_equal(hvf_test_event_first_us(sim, "action_run", "stop_zombie"), 180 * S);
    assert_int_equal(hvf_sim_host_free_mib(sim, 0, true), 64 * 1024 - 8192);
    hvf_sim_free(sim);
}

static void
test_fleet_share(void **state)
{
    t_slow slow = {.vms = {4, 6, 8, 10}, .n = 4, .speed = 0.05, .from_s = 100, .to_s = 400};
    hvf_sim *sim = t_run(T_INV "remediation:\n  mode: correlated\n" T_REM
                               "  correlation: {fleet_share: 0.2, clear_after: 120s}\n",
                         &slow);
    hvf_remediation_stats st;
    hvf_incident_kpis k;

    assert_true(hvf_remediation_stats_get(sim, &st));
    hvf_incident_kpis_get(sim, &k);
    /* 4 of 12 VMs turn unreachable at 150 s: more than 20 %, one incident, paused */
    assert_int_equal(st.incidents, 1);
    assert_int_equal(hvf_test_event_first_us(sim, "alert", "4 of 12 VMs"), 150 * S);
    assert_int_equal(hvf_test_event_first_us(sim, "decision", "fleet-wide"), 150 * S);
    /* they answer again from 400 s (check at 420 s): resumed at 540 s, every queued redeploy is
     * found stale, nothing ran */
    assert_int_equal(hvf_test_event_first_us(sim, "decision", "resumes"), 540 * S);
    assert_int_equal(st.actions_queued, 4);
    assert_int_equal(st.actions_stale, 4);
    assert_int_equal(st.redeploys, 0);
    assert_int_equal(st.zombies, 0);
    assert_int_equal(k.event_us, -1); /* no fault: the KPIs have no time of event */
    assert_int_equal(hvf_test_event_first_us(sim, "resolved", NULL), 540 * S);
    hvf_sim_free(sim);

    /* per VM, the same four get redeployed at once and leave four zombies */
    sim = t_run(T_INV "remediation:\n  mode: per_vm\n" T_REM, &slow);
    assert_true(hvf_remediation_stats_get(sim, &st));
    assert_int_equal(st.redeploys, 4);
    assert_int_equal(st.zombies, 4);
    assert_int_equal(st.incidents, 0);
    hvf_sim_free(sim);
}

static void
test_operators_and_upscale(void **state)
{
    t_slow slow = {.vms = {4}, .n = 1, .speed = 0.05, .from_s = 100, .to_s = 0};
    t_slow lag = {.vms = {6}, .n = 1, .speed = 0.4, .from_s = 100, .to_s = 0};
    hvf_sim *sim = t_run(T_INV "faults: [{at: 200s, type: host_crash, host: h3, duration: 5m}]\n"
                               "remediation:\n  mode: per_vm\n  alert_delay: 0s\n"
                               "  upscale_speed: 0.5\n" T_REM
                               "  operator: {pause_after: 5m, zombies_after: 10m}\n",
                         &slow);
    hvf_remediation_stats st;
    hvf_incident_kpis k;

    assert_true(hvf_remediation_stats_get(sim, &st));
    hvf_incident_kpis_get(sim, &k);
    /* h3 crashes at 200 s: alerted at the check of 210 s; operators pause at 510 s and stop
     * the zombie w1 left on h0 at 810 s */
    assert_int_equal(k.detection_us, 210 * S);
    assert_int_equal(k.decision_us, 510 * S);
    assert_int_equal(hvf_test_event_first_us(sim, "decision", "clean zombie"), 810 * S);
    assert_int_equal(st.zombies, 1);
    assert_int_equal(st.zombies_stopped, 1);
    assert_true(st.paused_us == (3600 - 510) * S);
    hvf_sim_free(sim);

    /* a VM at 40 % speed answers, but looks busy: per VM it gets an instance more, every
     * renotify, for good */
    sim = t_run(T_INV "remediation:\n  mode: per_vm\n  upscale_speed: 0.5\n" T_REM, &lag);
    assert_true(hvf_remediation_stats_get(sim, &st));
    /* asked every minute from 120 s (59 times); each instance takes 4 GiB on another host until
     * the other three are full: 3 x 13 of them, the rest find no host */
    assert_int_equal(st.actions_pushed, 59);
    assert_int_equal(st.upscales, 39);
    assert_int_equal(hvf_test_event_first_us(sim, "action_dropped", "no host"),
                     (120 + 39 * 60) * S);
    assert_int_equal(st.redeploys, 0);
    hvf_sim_free(sim);
}

static void
test_bad_options(void **state)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_remediation_opts o;
    hvf_error err = HVF_ERROR_INIT;
    int32_t bad = 0;

    hvf_sim_params_default(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    hvf_remediation_opts_default(&o);
    o.deploys_per_min = 0;
    assert_int_equal(hvf_remediation_attach(sim, &o, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_remediation_opts_default(&o);
    o.vms = &bad; /* the fleet is empty */
    o.nvms = 1;
    assert_int_equal(hvf_remediation_attach(sim, &o, &err), -1);
    assert_non_null(strstr(err.msg, "VM index 0"));
    hvf_remediation_opts_default(&o);
    o.dependents = &bad;
    o.ndependents = 0;
    o.fleet_share = 1.5;
    assert_int_equal(hvf_remediation_attach(sim, &o, &err), -1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dependents_per_vm),
        cmocka_unit_test(test_dependents_correlated),
        cmocka_unit_test(test_zombies),
        cmocka_unit_test(test_fleet_share),
        cmocka_unit_test(test_operators_and_upscale),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
