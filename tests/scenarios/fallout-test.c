/* SPDX-License-Identifier: MIT */
/*
 * Scenario tests for seeds 001 and 003: the replays must show the cascade as it happened and
 * not with hvfleet, with figures read from the twin rather than a recorded trace.
 *
 *   2024 as it happened   small guests swap under unbounded telemetry buffers, hypervisors
 *                         panic, VMs crash, redeploys pile up (more than the fleet's VMs),
 *                         zombies, the decision comes hours later
 *   2024 with hvfleet     bounded buffers: no guest swaps, no host crash, no VM down; one
 *                         incident at detection, remediation paused, actions de-duplicated and
 *                         rate-limited, no zombie
 *   2024 correlation only the remediation half alone: one incident, no storm, no zombie, but the
 *                         buffers still crash hosts
 *   2022 as it happened   the agent's processes fill the task limit, qemu crashes, operators
 *                         revert: detection, decision and resolution in the report's order
 *   2022 with hvfleet     the pooled agent holds 1 + workers tasks; nothing crashes
 *
 * Every run is also checked for the claims ledger and for determinism.
 */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/fallout.h"
#include "hvfleet/incident.h"
#include "hvfleet/replay-run.h"
#include "hvfleet/replay.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define DIR HVF_SRCDIR "/scenarios/"
#define S HVF_US_PER_S
#define MIN (60 * S)

typedef struct t_out {
    hvf_incident_kpis k;
    hvf_sim_stats st;
    hvf_telemetry_stats tel;
    hvf_remediation_stats rem;
    hvf_hvagent_stats ag;
    bool has_tel, has_rem, has_ag;
    size_t nvms, nhosts;
    bool bus_down_by_replicas; /* a dependency_down naming the bus's replicas */
    int64_t first_crash_us;    /* the first vm_crashed event, -1 */
    int64_t last_crash_us;     /* the last one, -1 */
    int64_t last_revert_us;    /* the last agent_reverted event, -1 */
    char *summary;             /* owned */
} t_out;

static void
t_run(const char *file, const char *event_type, t_out *o)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;
    void *sched = NULL;

    memset(o, 0, sizeof(*o));
    hvf_diags_init(&d);
    sc = hvf_scenario_load(file, &d, &err);
    if (!sc)
        fail_msg("%s: %s", file, d.n ? d.lines[0] : err.msg);
    sim = hvf_scenario_sim_new(sc, &sched, &err);
    assert_non_null(sim);
    if (event_type)
        hvf_incident_set_event_type(sim, event_type);
    hvf_sim_run(sim);
    assert_int_equal(hvf_sim_check(sim, true, &err), 0);
    hvf_incident_kpis_get(sim, &o->k);
    hvf_sim_get_stats(sim, &o->st);
    o->has_tel = hvf_telemetry_stats_get(sim, &o->tel);
    o->has_rem = hvf_remediation_stats_get(sim, &o->rem);
    o->has_ag = hvf_hvagent_stats_get(sim, &o->ag);
    o->nvms = hvf_sim_fleet(sim)->nvms;
    o->nhosts = hvf_sim_fleet(sim)->nhosts;
    o->summary = hvf_sim_summary_json(sim);
    o->bus_down_by_replicas =
        sim->events.buf && strstr(sim->events.buf, "replicas of service 'bus'");
    o->first_crash_us = o->last_crash_us = o->last_revert_us = -1;
    for (const char *p = sim->events.buf; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        int64_t t = llround(strtod(p + strlen("{\"t_s\":"), NULL) * 1e6);
        if (memmem(p, len, "\"type\":\"vm_crashed\"", 19)) {
            if (o->first_crash_us < 0)
                o->first_crash_us = t;
            o->last_crash_us = t;
        }
        if (memmem(p, len, "\"type\":\"agent_reverted\"", 23))
            o->last_revert_us = t;
        p = nl ? nl + 1 : NULL;
    }
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

static void
test_2024_as_it_happened(void **state)
{
    t_out o, again;

    t_run(DIR "2024-bus-fallout.yaml", NULL, &o);
    assert_true(o.has_tel && o.has_rem);
    print_message("2024 as it happened: %u hosts crashed, %u VMs down (%.0f VM-min), %u guests "
                  "swapped (buffers up to %.0f MiB), %u redeploys for %zu VMs, backlog %zu, "
                  "%u zombies, decision +%.0f min\n",
                  o.k.hosts_crashed, o.k.vms_down_distinct, o.k.vm_minutes_lost,
                  o.tel.vms_pressured, o.tel.peak_buffer_mib, o.rem.redeploys, o.nvms,
                  o.rem.peak_backlog, o.rem.zombies,
                  (double)(o.k.decision_us - o.k.event_us) / MIN);
    /* buffers outgrow the smallest guests' free memory (64 MiB of 256) and they swap */
    assert_true(o.tel.peak_buffer_mib > 64);
    assert_true(o.tel.vms_pressured >= 100);
    /* hypervisors panic on hung tasks, their VMs with them */
    assert_true(o.k.hosts_crashed >= 3);
    assert_true(o.st.vms_crashed >= 100);
    assert_true(o.k.vms_down_distinct >= 100);
    /* per-VM remediation: more redeploys than the fleet has VMs, thousands waiting at once,
     * zombies left behind */
    assert_true(o.rem.redeploys > o.nvms);
    assert_true(o.rem.peak_backlog >= 1000);
    assert_true(o.rem.zombies >= 10);
    assert_int_equal(o.rem.incidents, 0);
    assert_int_equal(o.rem.actions_merged, 0);
    assert_true(o.k.actions_queued >= 1000);
    /* detected a minute after the bus failed, decided hours later (13:35 in the report) */
    assert_int_equal(o.k.event_us, 8 * MIN);
    assert_int_equal(o.k.detection_us, 9 * MIN);
    assert_true(o.k.decision_us - o.k.event_us >= 3 * 60 * MIN);
    assert_true(o.k.resolution_us > o.k.decision_us);

    t_run(DIR "2024-bus-fallout.yaml", NULL, &again);
    assert_string_equal(o.summary, again.summary);
    free(again.summary);
    free(o.summary);
}

static void
test_2024_with_hvfleet(void **state)
{
    t_out o, old;

    t_run(DIR "2024-bus-fallout-hvfleet.yaml", NULL, &o);
    t_run(DIR "2024-bus-fallout.yaml", NULL, &old);
    print_message("2024 with hvfleet: %u hosts crashed, %u VMs down, buffers up to %.0f MiB, "
                  "%u incident, %" PRIu64 " queued, %" PRIu64 " merged, %" PRIu64
                  " rate-limited, %u redeploys, %u zombies\n",
                  o.k.hosts_crashed, o.k.vms_down_distinct, o.tel.peak_buffer_mib, o.rem.incidents,
                  o.rem.actions_queued, o.rem.actions_merged, o.rem.rate_limited, o.rem.redeploys,
                  o.rem.zombies);
    /* bounded memory: no guest swaps, nothing crashes */
    assert_true(o.tel.peak_buffer_mib <= 32 + 1e-9);
    assert_int_equal(o.tel.vms_pressured, 0);
    assert_true(o.tel.dropped_mib > 0); /* the price: telemetry beyond the bound is lost */
    assert_int_equal(o.k.hosts_crashed, 0);
    assert_int_equal(o.k.vms_down_distinct, 0);
    /* one infrastructure incident, decided at detection: per-VM remediation paused */
    assert_int_equal(o.rem.incidents, 1);
    assert_int_equal(o.k.detection_us, o.k.event_us + MIN);
    assert_int_equal(o.k.decision_us, o.k.detection_us);
    assert_true(o.rem.paused_us >= 2 * 60 * MIN);
    /* de-duplicated (one queued per VM, every later report merged) and rate-limited */
    assert_true(o.rem.actions_merged >= 10 * o.rem.actions_queued);
    assert_true(o.rem.actions_queued <= 2 * 40); /* the 40 apps on the bus */
    assert_true(o.rem.rate_limited > 0);
    assert_true(o.rem.redeploys <= 2 * 40);
    assert_int_equal(o.rem.zombies, 0);
    assert_true(o.k.resolved_declared);
    /* against the same outage as it happened */
    assert_true(o.k.actions_queued * 20 < old.k.actions_queued);
    assert_true(o.k.resolution_us < old.k.resolution_us);
    free(o.summary);
    free(old.summary);
}

static void
test_2024_correlation_only(void **state)
{
    t_out o, old;

    t_run(DIR "2024-bus-fallout-correlated.yaml", NULL, &o);
    t_run(DIR "2024-bus-fallout.yaml", NULL, &old);
    print_message("2024 correlation only: %u hosts crashed, %u VMs down, %u redeploys, %u "
                  "zombies, %" PRIu64 " stale\n",
                  o.k.hosts_crashed, o.k.vms_down_distinct, o.rem.redeploys, o.rem.zombies,
                  o.rem.actions_stale);
    /* remediation alone stops the storm and the zombies... */
    assert_int_equal(o.rem.incidents, 1);
    assert_int_equal(o.rem.zombies, 0);
    assert_true(o.rem.redeploys * 10 < old.rem.redeploys);
    assert_true(o.rem.actions_stale > 0); /* VMs that came back by themselves */
    /* ...but not the swapping: hosts still crash, no more than as it happened */
    assert_true(o.k.hosts_crashed > 0);
    assert_true(o.k.hosts_crashed <= old.k.hosts_crashed);
    assert_true(o.k.vm_minutes_lost < old.k.vm_minutes_lost);
    free(o.summary);
    free(old.summary);
}

static void
test_2022(void **state)
{
    t_out o, h;

    t_run(DIR "2022-agent-process-storm.yaml", "proxy_saturated", &o);
    t_run(DIR "2022-agent-process-storm-hvfleet.yaml", "proxy_saturated", &h);
    assert_true(o.has_ag && h.has_ag);
    print_message("2022 as it happened: %u/%zu hosts at their task limit (agent up to %u tasks), "
                  "%u qemu crashes, %u failed starts, %u VMs down; detected +%.1f min, decided "
                  "+%.1f, resolved +%.1f\n",
                  o.ag.hosts_exhausted, o.nhosts, o.ag.peak_agent_threads, o.ag.vm_crashes,
                  o.ag.deploy_failures, o.k.vms_down_distinct,
                  (double)(o.k.detection_us - o.k.event_us) / MIN,
                  (double)(o.k.decision_us - o.k.event_us) / MIN,
                  (double)(o.k.resolution_us - o.k.event_us) / MIN);
    /* the per-notification agent fills every host's task limit, qemu crashes, restarts fail */
    assert_int_equal(o.ag.hosts_exhausted, o.nhosts);
    assert_true(o.ag.peak_agent_threads > 4000);
    assert_true(o.ag.vm_crashes >= 10);
    assert_true(o.ag.deploy_failures >= 10);
    assert_true(o.k.vms_down_distinct >= 50);
    assert_int_equal(o.k.hosts_crashed, 0); /* hosts survive; their VMs do not */
    /* the report's order, from the crashes: operators are alerted because VMs crash (after
     * the first crash, hours after the proxy saturated), decide, revert; the revert ends the
     * storm: no VM crashes once the last agent is reverted, and everything is declared fine
     * after that */
    assert_true(o.first_crash_us > o.k.event_us);
    assert_true(o.k.detection_us > o.first_crash_us);
    assert_true(o.k.detection_us - o.k.event_us >= 2 * 60 * MIN);
    assert_true(o.k.decision_us > o.k.detection_us);
    assert_true(o.last_revert_us > o.k.decision_us);
    assert_true(o.last_crash_us <= o.last_revert_us);
    assert_true(o.k.resolution_us >= o.last_revert_us);
    assert_true(o.k.resolved_declared);

    /* hvfleet's agent: 1 + 4 tasks whatever comes, nothing crashes, nobody is paged */
    print_message("2022 with hvfleet: agent %u tasks, host peak %u of 4915\n",
                  h.ag.peak_agent_threads, h.ag.peak_threads);
    assert_int_equal(h.ag.peak_agent_threads, 5);
    assert_true(h.ag.peak_threads < 4915 / 2);
    assert_int_equal(h.ag.hosts_exhausted, 0);
    assert_int_equal(h.ag.vm_crashes + h.ag.deploy_failures, 0);
    assert_int_equal(h.k.vms_down_distinct, 0);
    assert_int_equal(h.k.detection_us, -1);
    assert_int_equal(h.ag.notifications, o.ag.notifications);
    free(o.summary);
    free(h.summary);
}

/* The whole of seed 003 in one run: the upgrade's brokers serve nothing, the bus (a dependency
 * following them) stops, the fallout follows; hvfleet's gated rollout stops at the canary and
 * nothing downstream notices. */
static void
test_2024_chain(void **state)
{
    t_out o, h;

    t_run(DIR "2024-bus-chain.yaml", "change_start", &o);
    t_run(DIR "2024-bus-chain-hvfleet.yaml", "change_start", &h);
    print_message("2024 chain: as it happened %u hosts crashed, %u VMs down, resolved +%.0f min; "
                  "with hvfleet %u hosts crashed, %u VMs down, resolved +%.0f min\n",
                  o.k.hosts_crashed, o.k.vms_down_distinct,
                  (double)(o.k.resolution_us - o.k.event_us) / MIN, h.k.hosts_crashed,
                  h.k.vms_down_distinct, (double)(h.k.resolution_us - h.k.event_us) / MIN);
    assert_true(o.k.hosts_crashed >= 3);
    assert_true(o.tel.vms_pressured >= 100);
    assert_true(o.rem.redeploys > o.nvms);
    /* the report's 10:08 detection and 10:58 decision come from the upgrade's operators */
    assert_int_equal(o.k.event_us, 6 * MIN);
    assert_int_equal(o.k.detection_us, 8 * MIN);
    assert_int_equal(o.k.decision_us, 58 * MIN);
    /* resolved when the fallout is over, not when the bus is back */
    assert_true(o.k.resolution_us > 3 * 60 * MIN);

    assert_int_equal(h.k.hosts_crashed, 0);
    assert_true(h.k.vms_down_distinct <= 2); /* the canary's brokers restarting */
    assert_true(h.tel.peak_buffer_mib == 0); /* the bus never stopped */
    assert_int_equal(h.rem.incidents, 0);
    assert_int_equal(h.rem.actions_queued, 0);
    assert_true(h.k.resolution_us - h.k.event_us < 10 * MIN);
    free(o.summary);
    free(h.summary);

    /* the bus went down by its brokers in one, never in the other */
    assert_true(o.bus_down_by_replicas);
    assert_false(h.bus_down_by_replicas);
}

/* The replay files name these scenarios and run as the CLI runs them. */
static void
test_replay_files(void **state)
{
    const char *files[] = {DIR "2024-bus-fallout.replay.yaml", DIR "2024-bus-chain.replay.yaml",
                           DIR "2022-agent-process-storm.replay.yaml"};

    for (size_t i = 0; i < HVF_ARRAY_LEN(files); i++) {
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_replay_outcome out;
        hvf_replay *rp;

        hvf_diags_init(&d);
        rp = hvf_replay_load(files[i], &d, &err);
        if (!rp)
            fail_msg("%s: %s", files[i], d.n ? d.lines[0] : err.msg);
        if (hvf_replay_run(rp, NULL, &out, &d, &err) < 0)
            fail_msg("%s: %s", files[i], d.n ? d.lines[0] : err.msg);
        assert_true(out.n >= 2);
        /* first column: as it happened; second: with hvfleet (the demo's summary relies on it) */
        assert_string_equal(rp->variants[1].label, "with hvfleet");
        assert_true(out.kpis[0].vms_down_distinct > 0);
        /* (the chain's canary restarts two brokers) */
        assert_true(out.kpis[1].vms_down_distinct * 100 < out.kpis[0].vms_down_distinct);
        assert_int_equal(out.kpis[1].hosts_crashed, 0);
        hvf_replay_outcome_clear(&out);
        hvf_replay_free(rp);
        hvf_diags_clear(&d);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2024_as_it_happened),
        cmocka_unit_test(test_2024_with_hvfleet),
        cmocka_unit_test(test_2024_correlation_only),
        cmocka_unit_test(test_2024_chain),
        cmocka_unit_test(test_2022),
        cmocka_unit_test(test_replay_files),
    };

    hvf_change_register_planner(); /* the twin plans its changes with it, as in the CLI */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
