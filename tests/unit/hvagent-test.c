/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor agent and the host's task limit (src/platform/hvagent.c) on one host whose figures
 * follow by hand: the leaking per-notification agent exhausts the tasks at the computed tick,
 * qemu crashes and restarts fail, operators revert and VMs come back; without the leak nothing
 * piles up; hvfleet's pooled agent stays at 1 + workers tasks under a flood, with its queue
 * bounded, each overflow policy, its own alert, decision and resolution; bad options.
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

/* One host, five VMs of 2 vCPUs: 5 x (2 + 3 qemu threads) = 25 tasks, plus 100 of the host's
 * own and the agent's 1: 126 of 1000. */
#define T_HEAD                                                                                     \
    "name: t\n"                                                                                    \
    "duration: 1h\n"                                                                               \
    "params: {restart_delay: 60s}\n"                                                               \
    "inventory:\n"                                                                                 \
    "  hosts:\n"                                                                                   \
    "    - {name: h0, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "  vms:\n"                                                                                     \
    "    - {name: v1, host: h0, vcpus: 2, memory: 2GiB}\n"                                         \
    "    - {name: v2, host: h0, vcpus: 2, memory: 2GiB}\n"                                         \
    "    - {name: v3, host: h0, vcpus: 2, memory: 2GiB}\n"                                         \
    "    - {name: v4, host: h0, vcpus: 2, memory: 2GiB}\n"                                         \
    "    - {name: v5, host: h0, vcpus: 2, memory: 2GiB}\n"                                         \
    "hv_agent:\n"                                                                                  \
    "  threads_max: 1000\n"                                                                        \
    "  base_threads: 100\n"                                                                        \
    "  qemu_threads: 3\n"                                                                          \
    "  qemu_spawns_per_min: 6\n"                                                                   \
    "  start: 100s\n"                                                                              \
    "  tick: 10s\n"

static hvf_sim *
t_run(const char *text)
{
    void *sched = NULL;
    hvf_sim *sim = hvf_test_scenario_sim(text, &sched);

    hvf_incident_set_event_type(sim, "proxy_saturated");
    hvf_sim_run(sim);
    return sim;
}

static void
test_leak_exhausts(void **state)
{
    hvf_sim *sim = t_run(T_HEAD "  model: per_notification\n"
                                "  notifications_per_min: 60\n"
                                "  proxy_leaks: true\n"
                                "  operator: {alert_after_crashes: 1, alert_delay: 60s, "
                                "diagnose_after: 60s, decide_after: 120s, revert_duration: 60s, "
                                "confirm_after: 60s}\n");
    hvf_hvagent_stats st;
    hvf_incident_kpis k;

    assert_true(hvf_hvagent_stats_get(sim, &st));
    /* ten forks a tick from 110 s, each held for good: 126 + 10 k reaches 1000 at the 88th
     * tick, 980 s (4 forks fit, 6 fail); qemu cannot start its next thread there */
    assert_int_equal(hvf_test_event_first_us(sim, "host_tasks_exhausted", NULL), 980 * S);
    assert_int_equal(hvf_test_event_first_us(sim, "vm_crashed", "cannot create a thread"), 980 * S);
    assert_true(hvf_test_event_first_us(sim, "vm_crashed", "could not start") > 980 * S);
    assert_int_equal(st.hosts_exhausted, 1);
    assert_true(st.forks_failed >= 6);
    assert_true(st.vm_crashes >= 1);
    assert_true(st.deploy_failures >= 1);
    assert_true(st.peak_threads <= 1000);
    assert_true(st.peak_agent_threads >= 870);
    /* operators: alerted a minute after the first crash, revert from 1160 s to 1220 s, fine at
     * 1280 s; the agent restarted without its processes, the VMs boot again */
    hvf_incident_kpis_get(sim, &k);
    assert_int_equal(k.event_us, 100 * S);
    assert_int_equal(k.detection_us, 1040 * S);
    assert_int_equal(hvf_test_event_first_us(sim, "diagnosis", NULL), 1100 * S);
    assert_int_equal(k.decision_us, 1160 * S);
    assert_int_equal(hvf_test_event_first_us(sim, "agent_reverted", NULL), 1220 * S);
    assert_int_equal(k.resolution_us, 1280 * S);
    assert_true(k.resolved_declared);
    assert_true(k.vms_down_distinct >= 1);
    assert_int_equal(k.hosts_crashed, 0);
    assert_true(hvf_test_event_first_us(sim, "vm_crashed", "could not start") < 1300 * S);
    for (int32_t v = 0; v < 5; v++)
        assert_int_equal(hvf_sim_vm_state_get(sim, v), HVF_SIM_VM_RUNNING);
    assert_non_null(strstr(sim->events.buf, "\"type\":\"proxy_saturated\""));
    hvf_sim_free(sim);
}

static void
test_no_leak(void **state)
{
    hvf_sim *sim = t_run(T_HEAD "  model: per_notification\n"
                                "  notifications_per_min: 60\n"
                                "  proxy_leaks: false\n"
                                "  handle_time: 2s\n");
    hvf_hvagent_stats st;

    assert_true(hvf_hvagent_stats_get(sim, &st));
    /* each process ends 2 s after its fork: never more than one tick's worth at once */
    assert_true(st.peak_agent_threads <= 11);
    assert_int_equal(st.hosts_exhausted, 0);
    assert_int_equal(st.vm_crashes, 0);
    assert_int_equal(st.forks_failed, 0);
    assert_int_equal(st.notifications, 3500); /* 1/s from 100 s to 3600 s */
    hvf_sim_free(sim);
}

static void
t_pool(const char *overflow, hvf_hvagent_stats *st, hvf_incident_kpis *k)
{
    HVF_AUTOFREE char *text =
        hvf_asprintf(T_HEAD "  model: pooled\n"
                            "  notifications_per_min: 30\n"
                            "  burst: {at: 200s, duration: 100s, per_min: 6000}\n"
                            "  proxy_leaks: true\n"
                            "  workers: 2\n"
                            "  handle_time: 1s\n"
                            "  queue_max: 50\n"
                            "  overflow: %s\n",
                     overflow);
    hvf_sim *sim = t_run(text);

    assert_true(hvf_hvagent_stats_get(sim, st));
    hvf_incident_kpis_get(sim, k);
    hvf_sim_free(sim);
}

static void
test_pooled_flood(void **state)
{
    hvf_hvagent_stats st;
    hvf_incident_kpis k;

    /* 100 notifications a second for 100 s into 2 workers of 1 s each: whatever arrives, the
     * agent holds 1 + 2 tasks and 50 queued notifications at most */
    t_pool("drop_oldest", &st, &k);
    assert_int_equal(st.peak_agent_threads, 3);
    assert_int_equal(st.peak_queue, 50);
    assert_int_equal(st.vm_crashes + st.deploy_failures, 0);
    assert_int_equal(st.hosts_exhausted, 0);
    assert_int_equal(st.peak_threads, 100 + 25 + 3);
    /* 10,050 arrive in the burst, 2 x 100 are handled, 50 stay queued */
    assert_true(st.dropped >= 9700 && st.dropped <= 9850);
    /* it reports itself: alerted and shedding at the first full tick, over once drained */
    assert_int_equal(k.detection_us, 210 * S);
    assert_int_equal(k.decision_us, 210 * S);
    /* after the burst: 5 arrive and 20 are handled a tick, 50 -> 35 -> 20 -> 5 -> 0 */
    assert_int_equal(k.resolution_us, 340 * S);
    assert_true(k.resolved_declared);
    assert_int_equal(k.vms_down_distinct, 0);

    t_pool("drop_newest", &st, &k);
    assert_true(st.dropped >= 9700 && st.dropped <= 9850);
    assert_int_equal(st.peak_agent_threads, 3);

    /* block: the sender keeps what does not fit; nothing is lost here */
    t_pool("block", &st, &k);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.peak_queue, 50);
    assert_int_equal(st.peak_agent_threads, 3);
}

static void
test_bad_options(void **state)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_hvagent_opts o;
    hvf_error err = HVF_ERROR_INIT;
    int32_t bad = 3;

    hvf_sim_params_default(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    hvf_hvagent_opts_default(&o);
    o.workers = 0;
    assert_int_equal(hvf_hvagent_attach(sim, &o, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_hvagent_opts_default(&o);
    o.hosts = &bad;
    o.nhosts = 1;
    assert_int_equal(hvf_hvagent_attach(sim, &o, &err), -1);
    assert_non_null(strstr(err.msg, "host index 3"));
    hvf_hvagent_opts_default(&o);
    o.handle_time_us = 0;
    assert_int_equal(hvf_hvagent_attach(sim, &o, &err), -1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leak_exhausts),
        cmocka_unit_test(test_no_leak),
        cmocka_unit_test(test_pooled_flood),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
