/* SPDX-License-Identifier: MIT */
/* The twin: event order, bandwidth sharing on hand-computed cases, a lone migration against
 * hvf_migrate_estimate, each host dynamic, each fault, determinism. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define GBIT 125e6
#define S HVF_US_PER_S

/* A fleet of @n hosts (64 GiB, 16 cpus, NIC @nic) in racks of @per_rack hosts. */
static hvf_fleet *
t_fleet(int n, double nic, int per_rack)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    char name[16], rack[16];

    for (int i = 0; i < n; i++) {
        hvf_host h = {0};
        snprintf(name, sizeof(name), "h%d", i);
        snprintf(rack, sizeof(rack), "r%d", i / per_rack);
        h.name = name;
        h.zone = hvf_fleet_zone_ensure(f, "z");
        h.rack = hvf_fleet_rack_ensure(f, h.zone, rack);
        h.cpus = 16;
        h.mem_mib = 64 * 1024;
        h.cpu_allocation_ratio = 4;
        h.ram_allocation_ratio = 1;
        h.nic_bytes_per_s = nic;
        assert_true(hvf_fleet_add_host(f, &h, &err) >= 0);
    }
    return f;
}

static int32_t
t_vm(hvf_fleet *f, const char *name, int host, uint64_t mem_mib, double dirty, double load)
{
    hvf_vm v = {.name = (char *)name,
                .host = host,
                .vcpus = 2,
                .mem_mib = mem_mib,
                .dirty_bytes_per_s = dirty,
                .working_set_mib = mem_mib,
                .cpu_load = load,
                .service = -1,
                .migratable = true};
    hvf_error err = HVF_ERROR_INIT;
    int32_t id = hvf_fleet_add_vm(f, &v, HVF_OVERCOMMIT, &err);

    assert_true(id >= 0);
    return id;
}

static void
t_params(hvf_sim_params *p)
{
    hvf_sim_params_default(p);
    p->duration_us = 4 * 3600 * S;
    p->migration_setup_min_us = p->migration_setup_max_us = 0;
    p->migration_cpu_cores = 0;
    p->metrics_interval_us = 60 * S;
}

static int32_t
t_migrate(hvf_sim *sim, int32_t vm, int32_t to)
{
    hvf_error err = HVF_ERROR_INIT;
    int32_t id = hvf_sim_start_migration(sim, vm, to, NULL, &err);

    if (id < 0)
        fail_msg("migration: %s", err.msg);
    return id;
}

static void
test_heap_order(void **state)
{
    sim_heap h;
    sim_event e;
    /* (time, class): ties on time break by class, then by insertion order */
    const int64_t t[] = {50, 10, 10, 10, 30, 10};
    const sim_class c[] = {SIM_CLASS_FLOW,  SIM_CLASS_SAMPLE, SIM_CLASS_FAULT,
                           SIM_CLASS_FAULT, SIM_CLASS_FAULT,  SIM_CLASS_HOST};
    const int32_t want[] = {2, 3, 5, 1, 4, 0};

    sim_heap_init(&h);
    for (int i = 0; i < 6; i++)
        sim_heap_push(&h, t[i], c[i], SIM_EV_TIMER, i, 0, 0);
    for (int i = 0; i < 6; i++) {
        assert_true(sim_heap_pop(&h, &e));
        assert_int_equal(e.obj, want[i]);
    }
    assert_false(sim_heap_pop(&h, &e));
    /* many random keys come out sorted */
    for (int i = 0; i < 1000; i++)
        sim_heap_push(&h, (i * 7919) % 101, (sim_class)(i % 3), SIM_EV_TIMER, i, 0, 0);
    {
        int64_t lt = -1;
        uint64_t lo = 0;
        for (int i = 0; i < 1000; i++) {
            assert_true(sim_heap_pop(&h, &e));
            assert_true(e.t_us > lt || (e.t_us == lt && e.order > lo));
            lt = e.t_us;
            lo = e.order;
        }
    }
    /* pushed in order (into the run) among others pushed out of order (into the heap): the
     * same order as one heap gives; peek shows what pop takes */
    for (int i = 0; i < 2000; i++) {
        bool in_order = i % 3 != 0;
        int64_t at = in_order ? 10 * i : (i * 7919) % 20000;
        sim_heap_push(&h, at, (sim_class)(i % 4), SIM_EV_TIMER, i, 0, 0);
        if (i % 5 == 4) {
            const sim_event *top = sim_heap_peek(&h);
            int32_t first;

            assert_non_null(top);
            first = top->obj;
            assert_true(sim_heap_pop(&h, &e));
            assert_int_equal(e.obj, first);
        }
    }
    {
        int64_t lt = -1;
        uint64_t lo = 0;
        size_t n = 0;
        while (sim_heap_peek(&h)) {
            assert_true(sim_heap_pop(&h, &e));
            assert_true(e.t_us > lt || (e.t_us == lt && e.order > lo));
            lt = e.t_us;
            lo = e.order;
            n++;
        }
        assert_int_equal(n, 2000 - 400);
    }
    assert_false(sim_heap_pop(&h, &e));
    sim_heap_clear(&h);
}

static double
t_rate(hvf_sim *sim, int32_t mig)
{
    return sim->migs[mig].rate;
}

static void
test_share_one_nic(void **state)
{
    hvf_fleet *f = t_fleet(3, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    int32_t a = t_vm(f, "a", 0, 8192, 0, 0.1), b = t_vm(f, "b", 0, 8192, 0, 0.1);
    int32_t ma, mb;

    t_params(&p);
    /* the targets have 10x the NIC: the source NIC is the bottleneck */
    f->hosts[1].nic_bytes_per_s = f->hosts[2].nic_bytes_per_s = 10 * GBIT;
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    ma = t_migrate(sim, a, 1);
    mb = t_migrate(sim, b, 2);
    sim_run_until(sim, 1);
    assert_float_equal(t_rate(sim, ma), GBIT / 2, 1);
    assert_float_equal(t_rate(sim, mb), GBIT / 2, 1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_share_into_one_destination(void **state)
{
    hvf_fleet *f = t_fleet(4, 10 * GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    int32_t v[3] = {t_vm(f, "a", 0, 8192, 0, 0.1), t_vm(f, "b", 1, 8192, 0, 0.1),
                    t_vm(f, "c", 2, 8192, 0, 0.1)};
    int32_t m[3];

    t_params(&p);
    f->hosts[3].nic_bytes_per_s = 3 * GBIT;
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    for (int i = 0; i < 3; i++)
        m[i] = t_migrate(sim, v[i], 3);
    sim_run_until(sim, 1);
    for (int i = 0; i < 3; i++)
        assert_float_equal(t_rate(sim, m[i]), GBIT, 1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_share_uplink_and_caps(void **state)
{
    /* racks of 4; uplink 1 Gbit/s; NICs 10 Gbit/s */
    hvf_fleet *f = t_fleet(8, 10 * GBIT, 4);
    hvf_sim_params p;
    hvf_sim *sim;
    int32_t v[4] = {t_vm(f, "a", 0, 8192, 0, 0.1), t_vm(f, "b", 1, 8192, 0, 0.1),
                    t_vm(f, "c", 2, 8192, 0, 0.1), t_vm(f, "d", 0, 8192, 0, 0.1)};
    hvf_sim_migrate_opts capped = {.max_bytes_per_s = 20e6};
    hvf_error err = HVF_ERROR_INIT;
    int32_t m[4];

    t_params(&p);
    p.rack_uplink_bytes_per_s = GBIT;
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    m[0] = t_migrate(sim, v[0], 4);
    m[1] = t_migrate(sim, v[1], 5);
    m[2] = hvf_sim_start_migration(sim, v[2], 6, &capped, &err);
    m[3] = t_migrate(sim, v[3], 3); /* stays in the rack: only NICs */
    assert_true(m[2] >= 0);
    sim_run_until(sim, 1);
    /* the capped flow takes 20 MB/s; the two others split the rest of the uplink */
    assert_float_equal(t_rate(sim, m[2]), 20e6, 1);
    assert_float_equal(t_rate(sim, m[0]), (GBIT - 20e6) / 2, 1);
    assert_float_equal(t_rate(sim, m[1]), (GBIT - 20e6) / 2, 1);
    /* h0's NIC carries m0 and m3: 10 Gbit/s minus m0's share */
    assert_float_equal(t_rate(sim, m[3]), 10 * GBIT - (GBIT - 20e6) / 2, 1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_share_flow_ends_others_speed_up(void **state)
{
    hvf_fleet *f = t_fleet(3, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    int32_t small = t_vm(f, "small", 0, 1024, 0, 0.1), big = t_vm(f, "big", 0, 16384, 0, 0.1);
    int32_t mb;

    t_params(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    t_migrate(sim, small, 1);
    mb = t_migrate(sim, big, 2);
    sim_run_until(sim, 1);
    assert_float_equal(t_rate(sim, mb), GBIT / 2, 1);
    /* the small VM (1 GiB at 62.5 MB/s) is done after ~17 s; then the big one has the NIC */
    sim_run_until(sim, 30 * S);
    assert_int_equal(hvf_sim_vm_host(sim, small), 1);
    assert_int_equal(hvf_sim_vm_migration(sim, big), mb);
    assert_float_equal(t_rate(sim, mb), GBIT, 1);
    assert_int_equal(sim->links[sim->hosts[0].link_out].nflows, 1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

/* The event-log line of the first migration_end, its duration_s. */
static double
t_first_duration(hvf_sim *sim)
{
    const char *e = strstr(sim->events.buf, "\"type\":\"migration_end\"");
    const char *d = e ? strstr(e, "\"duration_s\":") : NULL;

    assert_non_null(d);
    return strtod(d + 13, NULL);
}

/* Time of the first event of @type in the log. */
static double
t_event_time(hvf_sim *sim, const char *type)
{
    char key[64];
    const char *e, *line;

    snprintf(key, sizeof(key), "\"type\":\"%s\"", type);
    e = strstr(sim->events.buf, key);
    assert_non_null(e);
    line = e;
    while (line > sim->events.buf && line[-1] != '\n')
        line--;
    assert_int_equal(strncmp(line, "{\"t_s\":", 7), 0);
    return strtod(line + 7, NULL);
}

static void
test_lone_migration_matches_estimate(void **state)
{
    const double dirty[] = {0, 30 * 1048576.0, 90 * 1048576.0};

    for (size_t i = 0; i < HVF_ARRAY_LEN(dirty); i++) {
        hvf_fleet *f = t_fleet(2, GBIT, 10);
        hvf_sim_params p;
        hvf_sim *sim;
        hvf_migrate_params mp;
        hvf_migrate_result r;
        hvf_error err = HVF_ERROR_INIT;
        int32_t vm = t_vm(f, "v", 0, 8192, dirty[i], 0.1);
        double twin_s, est_s;

        f->vms[vm].working_set_mib = 2048;
        t_params(&p);
        sim = hvf_sim_new(f, &p, NULL, 0);
        sim_run_until(sim, 0);
        t_migrate(sim, vm, 1);
        sim_run_until(sim, 4 * 3600 * S);
        twin_s = t_first_duration(sim);

        hvf_migrate_params_default(&mp);
        mp.mem_bytes = 8192 * HVF_MIB;
        mp.dirty_bytes_per_s = dirty[i];
        mp.working_set_bytes = 2048 * HVF_MIB;
        mp.bandwidth_bytes_per_s = GBIT;
        assert_int_equal(hvf_migrate_estimate(&mp, &r, &err), 0);
        est_s = (double)r.total_us / 1e6;
        print_message("lone migration, dirty %.0f MiB/s: twin %.3f s, estimate %.3f s\n",
                      dirty[i] / 1048576.0, twin_s, est_s);
        if (fabs(twin_s - est_s) > 0.01 * est_s)
            fail_msg("dirty %g: twin %.3f s, estimate %.3f s", dirty[i], twin_s, est_s);
        hvf_sim_free(sim);
        hvf_fleet_free(f);
    }
}

static void
test_cpu_slows_guests_and_migrations(void **state)
{
    hvf_fleet *f = t_fleet(2, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    int32_t vm = -1, m;
    char name[16];

    /* 12 VMs x 2 vCPUs x 1.0 load = 24 cores on 16 cpus */
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        vm = t_vm(f, name, 0, 1024, 0, 1.0);
    }
    t_params(&p);
    p.migration_max_bytes_per_s = 60e6;
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    assert_float_equal(sim->hosts[0].speed, 16.0 / 24.0, 1e-9);
    assert_float_equal(sim_host_cpu_ratio(sim, 0), 1.5, 1e-9);
    m = t_migrate(sim, vm, 1);
    sim_run_until(sim, 1);
    /* the cap scales with the busy source: 60 MB/s x 16/24 (the VM still runs there) */
    assert_float_equal(t_rate(sim, m), 60e6 * 16.0 / 24.0, 1);
    assert_float_equal(sim->hosts[1].speed, 1.0, 1e-12);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_oom_kills_largest(void **state)
{
    hvf_fleet *f = t_fleet(3, 10 * GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_stats st;
    int32_t fill = t_vm(f, "fill", 1, 40 * 1024, 0, 0.1);
    int32_t a = t_vm(f, "a", 0, 16 * 1024, 0, 0.1), b = t_vm(f, "b", 2, 16 * 1024, 0, 0.1);

    t_params(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    /* both see 24 GiB free on h1 and go there without a claim: 72 GiB on a 64 GiB host */
    assert_true(hvf_sim_host_free_mib(sim, 1, false) >= 16 * 1024);
    t_migrate(sim, a, 1);
    assert_true(hvf_sim_host_free_mib(sim, 1, false) >= 16 * 1024); /* the race */
    assert_true(hvf_sim_host_free_mib(sim, 1, true) < 16 * 1024);   /* a planner would see */
    t_migrate(sim, b, 1);
    sim_run_until(sim, 600 * S);
    hvf_sim_get_stats(sim, &st);
    assert_true(st.peak_host_memory_ratio > 1.0);
    assert_true(strstr(sim->events.buf, "\"vm_oom_killed\"") != NULL);
    /* the largest process was the 40 GiB guest: killed, then restarted where it fits */
    assert_int_equal(st.vms_rebooted, 1);
    assert_true(strstr(sim->events.buf, "\"vm_restarted\",\"host\":\"h0\",\"vm\":\"fill\"") ||
                strstr(sim->events.buf, "\"vm_restarted\",\"host\":\"h2\",\"vm\":\"fill\""));
    assert_int_equal(hvf_sim_vm_state_get(sim, fill), HVF_SIM_VM_RUNNING);
    assert_true(sim_host_resident_mib(sim, 1, NULL) <= 64 * 1024);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

/* A host with swap takes an over-full migration: swap, saturated IO, hung tasks. */
static hvf_sim *
t_swap_sim(hvf_fleet **fp, bool panic)
{
    hvf_fleet *f = t_fleet(2, 10 * GBIT, 10);
    hvf_sim_params p;
    hvf_sim_host_override o = {0};
    int32_t host1 = 1;
    hvf_sim *sim;
    int32_t a;

    t_vm(f, "fill", 1, 60 * 1024, 0, 0.1);
    a = t_vm(f, "a", 0, 16 * 1024, 0, 0.1);
    t_params(&p);
    o.hosts = &host1;
    o.nhosts = 1;
    o.p = p.host;
    o.p.swap_mib = 32 * 1024;
    o.p.disk_io_bytes_per_s = 100e6;
    o.p.hung_task_panic = panic;
    sim = hvf_sim_new(f, &p, &o, 1);
    sim_run_until(sim, 0);
    t_migrate(sim, a, 1);
    *fp = f;
    return sim;
}

static void
test_swap_io_hung_task_panic(void **state)
{
    hvf_fleet *f;
    hvf_sim *sim = t_swap_sim(&f, true);
    hvf_sim_stats st;
    const char *sat, *crash;
    double t_sat, t_crash;

    sim_run_until(sim, 1800 * S);
    hvf_sim_get_stats(sim, &st);
    sat = strstr(sim->events.buf, "\"host_io_saturated\"");
    crash = strstr(sim->events.buf, "\"host_crash\"");
    assert_non_null(strstr(sim->events.buf, "\"host_swap\""));
    assert_non_null(sat);
    assert_non_null(crash);
    /* the crash comes hung_task_timeout after the saturation */
    t_sat = t_event_time(sim, "host_io_saturated");
    t_crash = t_event_time(sim, "host_crash");
    assert_float_equal(t_crash - t_sat, 120.0, 1e-6);
    assert_int_equal(st.hosts_crashed, 1);
    assert_true(st.vms_crashed >= 1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_swap_io_hung_no_panic(void **state)
{
    hvf_fleet *f;
    hvf_sim *sim = t_swap_sim(&f, false);
    hvf_sim_stats st;

    sim_run_until(sim, 1800 * S);
    hvf_sim_get_stats(sim, &st);
    assert_int_equal(st.hosts_crashed, 0);
    assert_int_equal(st.hosts_hung, 1);
    assert_true(sim->hosts[1].io_util >= 1.0);
    assert_true(sim->hosts[1].speed < 1.0); /* guests slowed by swap IO */
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

/* hung_task_timeout 0 disables the check, as kernel.hung_task_timeout_secs=0 does: saturated
 * IO slows the guests, but no task is ever counted hung and the panic never comes. */
static void
test_swap_io_hung_timeout_zero(void **state)
{
    hvf_fleet *f;
    hvf_sim *sim = t_swap_sim(&f, true);
    hvf_sim_stats st;

    sim->p.hung_task_timeout_us = 0;
    sim_run_until(sim, 1800 * S);
    hvf_sim_get_stats(sim, &st);
    assert_true(sim->hosts[1].io_util >= 1.0);
    assert_int_equal(st.hosts_crashed, 0);
    assert_int_equal(st.hosts_hung, 0);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_fault_host_crash(void **state)
{
    hvf_fleet *f = t_fleet(3, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_fault ft = {.type = HVF_SIM_FAULT_HOST_CRASH,
                        .at_us = 100 * S,
                        .host = 0,
                        .rack = -1,
                        .vm = -1,
                        .duration_us = 600 * S,
                        .fixed_after_us = -1};
    hvf_sim_stats st;
    hvf_error err = HVF_ERROR_INIT;
    int32_t a = t_vm(f, "a", 0, 4096, 0, 0.1), b = t_vm(f, "b", 0, 4096, 0, 0.1);
    int32_t c = t_vm(f, "c", 1, 8192, 0, 0.1);

    t_params(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    assert_int_equal(hvf_sim_add_fault(sim, &ft, &err), 0);
    sim_run_until(sim, 95 * S);
    t_migrate(sim, c, 0); /* in flight into the host that crashes */
    sim_run_until(sim, 101 * S);
    hvf_sim_get_stats(sim, &st);
    assert_int_equal(hvf_sim_host_state_get(sim, 0), HVF_SIM_HOST_DOWN);
    assert_int_equal(st.vms_crashed, 2);
    assert_int_equal(st.migrations_aborted, 1);
    assert_int_equal(hvf_sim_vm_state_get(sim, c), HVF_SIM_VM_RUNNING);
    assert_int_equal(hvf_sim_vm_host(sim, c), 1);
    assert_int_equal(hvf_sim_vm_state_get(sim, a), HVF_SIM_VM_CRASHED);
    /* the platform restarts them elsewhere after vm_restart_delay; the host returns later */
    sim_run_until(sim, 100 * S + p.vm_restart_delay_us + 1);
    assert_int_equal(hvf_sim_vm_state_get(sim, a), HVF_SIM_VM_RUNNING);
    assert_int_equal(hvf_sim_vm_state_get(sim, b), HVF_SIM_VM_RUNNING);
    assert_int_not_equal(hvf_sim_vm_host(sim, a), 0);
    sim_run_until(sim, 701 * S);
    assert_int_equal(hvf_sim_host_state_get(sim, 0), HVF_SIM_HOST_ACTIVE);
    assert_int_equal(hvf_sim_check(sim, false, &err), 0);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_fault_reboot_renamed_nics(void **state)
{
    hvf_fleet *f = t_fleet(2, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_fault ft = {.type = HVF_SIM_FAULT_HOST_REBOOT,
                        .at_us = 10 * S,
                        .host = 1,
                        .rack = -1,
                        .vm = -1,
                        .duration_us = 120 * S,
                        .renamed_nics = true,
                        .fixed_after_us = 1800 * S};
    hvf_error err = HVF_ERROR_INIT;

    t_vm(f, "a", 0, 4096, 0, 0.1);
    t_params(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    assert_int_equal(hvf_sim_add_fault(sim, &ft, &err), 0);
    sim_run_until(sim, 200 * S);
    assert_int_equal(hvf_sim_host_state_get(sim, 1), HVF_SIM_HOST_QUARANTINED);
    assert_int_equal(hvf_sim_set_host_state(sim, 1, HVF_SIM_HOST_ACTIVE, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_int_equal(hvf_sim_start_migration(sim, 0, 1, NULL, &err), -1);
    sim_run_until(sim, 2000 * S);
    assert_int_equal(hvf_sim_host_state_get(sim, 1), HVF_SIM_HOST_ACTIVE);
    assert_non_null(strstr(sim->events.buf, "\"host_nic_mismatch\""));
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

static void
test_fault_link_drop_and_dirty_rate(void **state)
{
    hvf_fleet *f = t_fleet(2, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_fault drop = {.type = HVF_SIM_FAULT_LINK_DROP,
                          .at_us = 10 * S,
                          .host = 0,
                          .rack = -1,
                          .vm = -1,
                          .duration_us = 60 * S,
                          .bytes_per_s = 10e6,
                          .dir = HVF_SIM_DIR_OUT,
                          .fixed_after_us = -1};
    hvf_sim_fault dirty = {.type = HVF_SIM_FAULT_DIRTY_RATE,
                           .at_us = 100 * S,
                           .host = -1,
                           .rack = -1,
                           .vm = 0,
                           .bytes_per_s = 500e6,
                           .fixed_after_us = -1};
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_stats st;
    int32_t vm = t_vm(f, "a", 0, 32 * 1024, 1e6, 0.1), m;

    t_params(&p);
    p.completion_timeout_s_per_gib = 20; /* 640 s */
    sim = hvf_sim_new(f, &p, NULL, 0);
    assert_int_equal(hvf_sim_add_fault(sim, &drop, &err), 0);
    assert_int_equal(hvf_sim_add_fault(sim, &dirty, &err), 0);
    sim_run_until(sim, 0);
    m = t_migrate(sim, vm, 1);
    sim_run_until(sim, 5 * S);
    assert_float_equal(t_rate(sim, m), GBIT, 1);
    sim_run_until(sim, 11 * S);
    assert_float_equal(t_rate(sim, m), 10e6, 1);
    sim_run_until(sim, 71 * S);
    assert_float_equal(t_rate(sim, m), GBIT, 1);
    /* dirtying 500 MB/s on a 125 MB/s link: it can no longer converge, so it aborts */
    sim_run_until(sim, 3600 * S);
    hvf_sim_get_stats(sim, &st);
    assert_int_equal(st.migrations_aborted, 1);
    assert_int_equal(st.migrations_completed, 0);
    assert_int_equal(hvf_sim_vm_host(sim, vm), 0);
    assert_float_equal(sim->fleet->vms[vm].dirty_bytes_per_s, 500e6, 1);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

/* A small fleet through the naive scheduler with claims or not, and a fault. */
static char *
t_naive_run(uint64_t seed, bool claims, hvf_sim_stats *st)
{
    hvf_fleet *f = t_fleet(6, GBIT, 3);
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_sim_controller ctl = {0};
    int32_t hosts[6] = {0, 1, 2, 3, 4, 5};
    hvf_sim_naive_opts o = {.hosts = hosts,
                            .nhosts = 6,
                            .start_us = 60 * S,
                            .span_us = 1800 * S,
                            .window_us = 60 * S,
                            .migrations_per_host = 2,
                            .claims = claims,
                            .retry_us = 30 * S,
                            .max_retries = 3};
    hvf_sim_fault ft = {.type = HVF_SIM_FAULT_LINK_DROP,
                        .at_us = 300 * S,
                        .host = 2,
                        .rack = -1,
                        .vm = -1,
                        .duration_us = 300 * S,
                        .bytes_per_s = 20e6,
                        .fixed_after_us = -1};
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    void *ctx;
    char name[16];
    char *sum;

    for (int i = 0; i < 36; i++) {
        snprintf(name, sizeof(name), "v%d", i);
        t_vm(f, name, i % 6, 4096 + 1024 * (uint64_t)(i % 5), 1e6 * (i % 7), 0.2);
    }
    t_params(&p);
    p.seed = seed;
    p.migration_setup_min_us = 1 * S;
    p.migration_setup_max_us = 5 * S;
    sim = hvf_sim_new(f, &p, NULL, 0);
    assert_int_equal(hvf_sim_add_fault(sim, &ft, &err), 0);
    ctx = hvf_sim_naive_new(&o, &ctl);
    hvf_sim_set_controller(sim, &ctl);
    hvf_sim_run(sim);
    hvf_sim_get_stats(sim, st);
    if (claims)
        assert_int_equal(hvf_sim_check(sim, false, &err), 0);
    sum = hvf_sim_summary_json(sim);
    hvf_strbuf_puts(&sb, sum);
    hvf_strbuf_add(&sb, sim->events.buf, sim->events.len);
    assert_int_equal(sim_metrics_read_fleet(sim, &sb, &err), 0);
    free(sum);
    hvf_sim_free(sim);
    hvf_sim_naive_free(ctx);
    hvf_fleet_free(f);
    return hvf_strbuf_steal(&sb);
}

static void
test_naive_and_determinism(void **state)
{
    hvf_sim_stats s1, s2, s3;
    char *a = t_naive_run(7, false, &s1);
    char *b = t_naive_run(7, false, &s2);
    char *c = t_naive_run(8, true, &s3);

    assert_string_equal(a, b);
    assert_true(strcmp(a, c) != 0); /* the seed shifts setup times */
    assert_int_equal(s1.hosts_maintained, 6);
    assert_int_equal(s3.hosts_maintained, 6);
    assert_true(s1.migrations_completed >= 36);
    assert_non_null(strstr(a, "\"seed\":7"));
    free(a);
    free(b);
    free(c);
}

static void
test_api_refusals(void **state)
{
    hvf_fleet *f = t_fleet(2, GBIT, 10);
    hvf_sim_params p;
    hvf_sim *sim;
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_migrate_opts claim = {.claim = true};
    int32_t vm = t_vm(f, "a", 0, 4096, 0, 0.1);

    t_vm(f, "b", 1, 62 * 1024, 0, 0.1);
    t_params(&p);
    sim = hvf_sim_new(f, &p, NULL, 0);
    sim_run_until(sim, 0);
    assert_int_equal(hvf_sim_start_migration(sim, vm, 0, NULL, &err), -1);
    assert_int_equal(hvf_sim_start_migration(sim, vm, 1, &claim, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CAPACITY);
    assert_int_equal(hvf_sim_begin_maintenance(sim, 0, 60 * S, &err), -1);
    assert_int_equal(hvf_sim_set_host_state(sim, 0, HVF_SIM_HOST_EVACUATING, &err), 0);
    assert_true(hvf_sim_host_is_evacuating(sim, 0));
    assert_int_equal(hvf_sim_stop_vm(sim, vm, &err), 0);
    assert_int_equal(hvf_sim_begin_maintenance(sim, 0, 60 * S, &err), 0);
    assert_int_equal(hvf_sim_start_vm(sim, vm, 0, &err), -1);
    sim_run_until(sim, 61 * S);
    assert_int_equal(hvf_sim_host_state_get(sim, 0), HVF_SIM_HOST_ACTIVE);
    assert_int_equal(hvf_sim_start_vm(sim, vm, 0, &err), 0);
    assert_int_equal(hvf_sim_check(sim, true, &err), 0);
    hvf_sim_free(sim);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_order),
        cmocka_unit_test(test_share_one_nic),
        cmocka_unit_test(test_share_into_one_destination),
        cmocka_unit_test(test_share_uplink_and_caps),
        cmocka_unit_test(test_share_flow_ends_others_speed_up),
        cmocka_unit_test(test_lone_migration_matches_estimate),
        cmocka_unit_test(test_cpu_slows_guests_and_migrations),
        cmocka_unit_test(test_oom_kills_largest),
        cmocka_unit_test(test_swap_io_hung_task_panic),
        cmocka_unit_test(test_swap_io_hung_no_panic),
        cmocka_unit_test(test_swap_io_hung_timeout_zero),
        cmocka_unit_test(test_fault_host_crash),
        cmocka_unit_test(test_fault_reboot_renamed_nics),
        cmocka_unit_test(test_fault_link_drop_and_dirty_rate),
        cmocka_unit_test(test_naive_and_determinism),
        cmocka_unit_test(test_api_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
