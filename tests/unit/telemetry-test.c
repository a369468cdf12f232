/* SPDX-License-Identifier: MIT */
/*
 * Telemetry agents in the twin (src/platform/telemetry.c), on a small fleet whose figures follow from
 * the rules by hand: a buffer outgrowing the guest's free memory at the computed instant, the
 * thrashing IO saturating one host into a hung-task panic and not the other, each buffer policy
 * (unbounded, block, drop_newest, spill) with its exact amounts, the guest's OOM killer, buffers
 * lost with their VM or its redeployed copy, and bad options.
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
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define S HVF_US_PER_S

/* h0: four 256 MiB VMs (p1-p4) and a 4 GiB one; h1: two 256 MiB VMs. Disks of 100 MB/s. The
 * bus stops at 100 s. */
#define T_HEAD                                                                                     \
    "name: t\n"                                                                                    \
    "duration: 1h\n"                                                                               \
    "inventory:\n"                                                                                 \
    "  hosts:\n"                                                                                   \
    "    - {name: h0, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "    - {name: h1, cpus: 16, memory: 64GiB, nic: 10Gbit}\n"                                     \
    "  vms:\n"                                                                                     \
    "    - {name: p1, host: h0, vcpus: 1, memory: 256MiB, cpu_load: 0.1}\n"                        \
    "    - {name: p2, host: h0, vcpus: 1, memory: 256MiB, cpu_load: 0.1}\n"                        \
    "    - {name: p3, host: h0, vcpus: 1, memory: 256MiB, cpu_load: 0.1}\n"                        \
    "    - {name: p4, host: h0, vcpus: 1, memory: 256MiB, cpu_load: 0.1}\n"                        \
    "    - {name: big, host: h0, vcpus: 2, memory: 4GiB, cpu_load: 0.1}\n"                         \
    "    - {name: q1, host: h1, vcpus: 1, memory: 256MiB, cpu_load: 0.1}\n"                        \
    "    - {name: q2, host: h1, vcpus: 1, memory: 256MiB, cpu_load: 0.1}\n"

static hvf_sim *
t_sim(const char *text)
{
    void *sched = NULL;
    hvf_sim *sim = hvf_test_scenario_sim(text, &sched);

    assert_null(sched);
    return sim;
}

static int64_t
t_first(hvf_sim *sim, const char *type, const char *host)
{
    const char *log = sim->events.buf ? sim->events.buf : "";
    char pat[96];
    const char *p;

    snprintf(pat, sizeof(pat), "\"type\":\"%s\",\"host\":\"%s\"", type, host);
    p = strstr(log, pat);
    if (!p)
        return -1;
    while (p > log && p[-1] != '\n')
        p--;
    return (int64_t)llround(strtod(p + strlen("{\"t_s\":"), NULL) * 1e6);
}

static void
test_unbounded_panic(void **state)
{
    hvf_sim *sim = t_sim(T_HEAD "params: {disk_io: 100MB/s, hung_task_panic: true}\n"
                                "faults: [{at: 100s, type: service_down, service: bus, until: "
                                "40m}]\n"
                                "telemetry: {rate: 64KiB/s, guest_used: 0.75, thrash_io: 30MB/s,"
                                " thrash_speed: 0.1, guest_swap_io_fraction: 0.05, tick: 10s}\n");
    hvf_telemetry_stats st;
    double excess;

    /* 64 MiB free in each small guest (a quarter of 256): 64 KiB/s fills it in 1024 s, so at
     * 1124 s; the tick after is 1130 s */
    sim_run_until(sim, 1120 * S);
    for (int32_t v = 0; v < 7; v++)
        assert_true(hvf_sim_vm_guest_io(sim, v) == 0);
    sim_run_until(sim, 1130 * S);
    excess = 64.0 * 1030 / 1024 - 64; /* MiB beyond the free memory at 1130 s */
    assert_true(fabs(hvf_sim_vm_guest_io(sim, 0) - (30e6 + excess * HVF_MIB * 0.05)) < 1);
    assert_true(hvf_sim_vm_guest_io(sim, 4) == 0);            /* 1 GiB free in the big one */
    assert_true(fabs(hvf_sim_vm_speed(sim, 5) - 0.1) < 1e-9); /* h1 is not saturated */
    /* h0: 4 x 30 MB/s on 100 MB/s disks; h1: 2 x 30 */
    assert_true(hvf_sim_host_io_util(sim, 0) > 1.2);
    assert_true(hvf_sim_host_io_util(sim, 1) < 0.7);
    sim_run_until(sim, 1800 * S);
    assert_int_equal(t_first(sim, "host_io_saturated", "h0"), 1130 * S);
    assert_int_equal(t_first(sim, "host_crash", "h0"), 1250 * S); /* hung_task_timeout */
    assert_int_equal(t_first(sim, "host_crash", "h1"), -1);
    assert_true(hvf_telemetry_stats_get(sim, &st));
    assert_int_equal(st.agents, 7);
    assert_int_equal(st.vms_pressured, 6);
    assert_int_equal(st.peak_vms_pressured, 6);
    /* the five VMs of h0 lost their buffers with it: 1150 s of telemetry each (71.875 MiB),
     * the first one to go down as of the tick before (the twin tells after the fact) */
    assert_true(fabs(st.dropped_mib - 5 * 71.875) <= 0.625 + 1e-9);
    assert_int_equal(st.agents_oom_killed, 0);
    hvf_sim_free(sim);
}

static void
t_policy(const char *policy, hvf_telemetry_stats *st, double *io_500, double *io_1130)
{
    HVF_AUTOFREE char *text =
        hvf_asprintf(T_HEAD "faults: [{at: 100s, type: service_down, service: bus, "
                            "duration: 1000s}]\n"
                            "telemetry: {rate: 64KiB/s, buffer: %s, buffer_max: 16MiB, spill_max: "
                            "32MiB, drain: 1MiB/s, thrash_io: 30MB/s}\n",
                     policy);
    hvf_sim *sim = t_sim(text);

    sim_run_until(sim, 500 * S);
    *io_500 = hvf_sim_vm_guest_io(sim, 0);
    sim_run_until(sim, 1130 * S);
    *io_1130 = hvf_sim_vm_guest_io(sim, 0);
    hvf_sim_run(sim);
    assert_true(hvf_telemetry_stats_get(sim, st));
    hvf_sim_free(sim);
}

static void
test_policies(void **state)
{
    hvf_telemetry_stats st;
    double io_500, io_1130;
    const double made = 62.5; /* MiB each agent makes in the 1000 s the bus is down */

    /* drop_newest: 16 MiB kept, the rest lost; no pressure (64 MiB free) */
    t_policy("drop_newest", &st, &io_500, &io_1130);
    assert_true(fabs(st.peak_buffer_mib - 16) < 1e-9);
    assert_true(fabs(st.dropped_mib - 7 * (made - 16)) < 1e-6);
    assert_true(st.blocked_mib == 0 && st.spilled_mib == 0);
    assert_int_equal(st.vms_pressured, 0);
    assert_true(io_500 == 0 && io_1130 == 0);

    /* block: the same bound; the source keeps the rest, nothing lost */
    t_policy("block", &st, &io_500, &io_1130);
    assert_true(fabs(st.peak_buffer_mib - 16) < 1e-9);
    assert_true(fabs(st.blocked_mib - 7 * (made - 16)) < 1e-6);
    assert_true(st.dropped_mib == 0);

    /* spill: 16 MiB in memory, then 32 MiB on disk (written at the telemetry rate: guest IO),
     * then dropped; once the bus is back the memory ships first (16 s), then the spill is read
     * back at the drain rate */
    t_policy("spill", &st, &io_500, &io_1130);
    assert_true(fabs(st.peak_buffer_mib - 16) < 1e-9);
    assert_true(fabs(st.peak_spill_mib - 32) < 1e-9);
    assert_true(fabs(st.spilled_mib - 7 * 32) < 1e-6);
    assert_true(fabs(st.dropped_mib - 7 * (made - 48)) < 1e-6);
    assert_true(fabs(io_500 - 64 * 1024) < 1e-6);
    assert_true(fabs(io_1130 - HVF_MIB) < 1e-6);

    /* unbounded: everything kept, the small guests swap */
    t_policy("unbounded", &st, &io_500, &io_1130);
    assert_true(fabs(st.peak_buffer_mib - made) < 1e-6 || st.peak_buffer_mib > made);
    assert_true(st.dropped_mib == 0);
    assert_int_equal(st.vms_pressured, 0); /* 62.5 MiB: just under the 64 MiB free */
}

static void
test_guest_oom(void **state)
{
    hvf_sim *sim = t_sim(T_HEAD "faults: [{at: 100s, type: service_down, service: bus}]\n"
                                "telemetry: {rate: 64KiB/s, guest_swap: 4MiB, thrash_io: 1MB/s}\n");
    hvf_telemetry_stats st;

    /* 64 MiB free plus 4 MiB of swap: beyond 68 MiB, i.e. after 1088 s, the guest kills the
     * agent (tick at 1190 s) and its buffer is lost; it starts again from nothing */
    sim_run_until(sim, 1180 * S);
    assert_true(hvf_telemetry_stats_get(sim, &st));
    assert_int_equal(st.agents_oom_killed, 0);
    sim_run_until(sim, 1190 * S);
    assert_true(hvf_telemetry_stats_get(sim, &st));
    assert_int_equal(st.agents_oom_killed, 6);
    assert_true(fabs(st.dropped_mib - 6 * 68.125) < 1e-6);
    assert_true(hvf_sim_vm_guest_io(sim, 0) == 0);
    assert_non_null(strstr(sim->events.buf, "\"type\":\"agent_oom_killed\",\"host\":\"h0\","
                                            "\"vm\":\"p1\""));
    hvf_sim_free(sim);
}

static void
test_redeploy_and_crash(void **state)
{
    hvf_sim *sim = t_sim(T_HEAD "faults: [{at: 100s, type: service_down, service: bus},\n"
                                "         {at: 1500s, type: host_crash, host: h1, duration: 5m}]\n"
                                "telemetry: {rate: 64KiB/s, thrash_io: 1MB/s}\n");
    hvf_telemetry_stats st;
    hvf_error err = HVF_ERROR_INIT;
    double before;

    sim_run_until(sim, 1200 * S);
    assert_true(hvf_sim_vm_guest_io(sim, 0) > 1e6);
    assert_true(hvf_telemetry_stats_get(sim, &st));
    before = st.dropped_mib;
    /* a new copy of p1 elsewhere: its agent starts with an empty buffer */
    assert_int_equal(hvf_sim_redeploy_vm(sim, 0, 1, "test", &err), 0);
    sim_run_until(sim, 1210 * S);
    assert_true(hvf_sim_vm_guest_io(sim, 0) == 0);
    assert_true(fabs(hvf_sim_vm_speed(sim, 0) - 1.0) < 1e-9);
    assert_true(hvf_telemetry_stats_get(sim, &st));
    assert_true(fabs(st.dropped_mib - before - 64.0 * 1100 / 1024) < 1e-6);
    /* h1 crashes: q1, q2 and the new p1 lose theirs */
    before = st.dropped_mib;
    sim_run_until(sim, 1500 * S);
    assert_true(hvf_telemetry_stats_get(sim, &st));
    assert_true(st.dropped_mib - before > 2 * 87);
    assert_true(hvf_sim_vm_guest_io(sim, 5) == 0);
    hvf_sim_free(sim);
}

static void
test_bad_options(void **state)
{
    hvf_sim *sim = t_sim(T_HEAD);
    hvf_telemetry_opts o;
    hvf_error err = HVF_ERROR_INIT;
    int32_t bad = 99;

    hvf_telemetry_opts_default(&o);
    o.rate_spread = 2.5;
    assert_int_equal(hvf_telemetry_attach(sim, &o, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_telemetry_opts_default(&o);
    o.vms = &bad;
    o.nvms = 1;
    assert_int_equal(hvf_telemetry_attach(sim, &o, &err), -1);
    assert_non_null(strstr(err.msg, "99"));
    hvf_telemetry_opts_default(&o);
    o.guest_used = 1.0;
    assert_int_equal(hvf_telemetry_attach(sim, &o, &err), -1);
    hvf_telemetry_opts_default(&o);
    assert_true(hvf_telemetry_attach(sim, &o, &err) >= 0);
    hvf_sim_free(sim);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unbounded_panic), cmocka_unit_test(test_policies),
        cmocka_unit_test(test_guest_oom),       cmocka_unit_test(test_redeploy_and_crash),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
