/* SPDX-License-Identifier: MIT */
/*
 * What components add to the twin (src/sim/ext.c): shared dependencies and the service_down
 * fault (overlapping outages), a dependency following the replicas of a service the twin models
 * (they can run and serve nothing), guest IO saturating a host into a hung-task panic, load beyond
 * the fleet's VMs (CPU slows guests, memory swaps), redeploys keeping the ledger, summary
 * sections, and bad faults.
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
#include "hvfleet/sim-svc.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

#define S HVF_US_PER_S

/* hvf_test_fleet_3h6v at half load, on 100 MB/s disks. */
static hvf_sim *
t_sim(bool panic, uint64_t swap_mib)
{
    hvf_fleet *f = hvf_test_fleet_3h6v(0.5);
    hvf_sim_params p;
    hvf_sim *sim;

    hvf_sim_params_default(&p);
    p.duration_us = 3600 * S;
    p.host.disk_io_bytes_per_s = 100e6;
    p.host.hung_task_panic = panic;
    p.host.swap_mib = swap_mib;
    sim = hvf_sim_new(f, &p, NULL, 0);
    hvf_fleet_free(f);
    return sim;
}

typedef struct t_rec {
    int64_t t_us[16];
    int64_t tag[16];
    bool serving[16];
    size_t n;
    int64_t crash_us;
} t_rec;

static void
t_rec_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    t_rec *r = ctx;

    if (ev->type == HVF_SIM_EV_HOST_CRASH && r->crash_us < 0)
        r->crash_us = ev->t_us;
    if (ev->type != HVF_SIM_EV_DEPENDENCY || r->n >= 16)
        return;
    r->t_us[r->n] = ev->t_us;
    r->tag[r->n] = ev->tag;
    r->serving[r->n++] = hvf_sim_dependency_serving(sim, (int32_t)ev->tag);
}

static void
t_add_rec(hvf_sim *sim, t_rec *r)
{
    hvf_sim_component c = {.name = "rec", .ctx = r, .on_event = t_rec_event};

    r->n = 0;
    r->crash_us = -1;
    hvf_sim_add_component(sim, &c);
}

static void
t_service_down(hvf_sim *sim, const char *svc, int64_t at_s, int64_t dur_s)
{
    hvf_sim_fault f = {.type = HVF_SIM_FAULT_SERVICE_DOWN,
                       .at_us = at_s * S,
                       .host = -1,
                       .rack = -1,
                       .vm = -1,
                       .duration_us = dur_s < 0 ? -1 : dur_s * S};
    hvf_error err = HVF_ERROR_INIT;

    hvf_strlcpy(f.service, svc, sizeof(f.service));
    assert_int_equal(hvf_sim_add_fault(sim, &f, &err), 0);
}

static void
test_dependency_fault(void **state)
{
    hvf_sim *sim = t_sim(false, 0);
    t_rec r;
    int32_t bus, other;

    t_add_rec(sim, &r);
    bus = hvf_sim_dependency_id(sim, "bus");
    other = hvf_sim_dependency_id(sim, "db");
    assert_int_equal(hvf_sim_dependency_id(sim, "bus"), bus);
    assert_int_equal(hvf_sim_dependency_find(sim, "nope"), -1);
    assert_string_equal(hvf_sim_dependency_name(sim, other), "db");
    /* two overlapping outages of the bus: down from 100 s until the later end, 1300 s; a
     * third inside them changes nothing; the db goes down for good */
    t_service_down(sim, "bus", 100, 300);
    t_service_down(sim, "bus", 200, 1100);
    t_service_down(sim, "bus", 250, 10);
    t_service_down(sim, "db", 2000, -1);
    hvf_sim_run(sim);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.t_us[0], 100 * S);
    assert_int_equal(r.tag[0], bus);
    assert_false(r.serving[0]);
    assert_int_equal(r.t_us[1], 1300 * S);
    assert_true(r.serving[1]);
    assert_int_equal(r.t_us[2], 2000 * S);
    assert_int_equal(r.tag[2], other);
    assert_false(hvf_sim_dependency_serving(sim, other));
    assert_true(hvf_sim_dependency_serving(sim, bus));
    {
        HVF_AUTOFREE char *log = hvf_strbuf_steal(&sim->events);
        assert_non_null(strstr(log, "\"type\":\"dependency_down\",\"detail\":\"bus: injected"));
        assert_non_null(strstr(log, "\"t_s\":1300.000000,\"type\":\"dependency_up\""));
    }
    hvf_sim_free(sim);
}

/* A dependency named after a modelled service follows its replicas: v0-v3 form service "db"
 * (min_available 3); it serves while 3 of them run and answer. */
static void
test_dependency_follows_service(void **state)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    hvf_service svc = {.name = "db", .min_available = 3, .spread = HVF_SPREAD_HOST};
    hvf_sim_svc_spec spec = {.kind = HVF_SIM_SVC_REPLICATED};
    hvf_sim_params p;
    hvf_sim *sim;
    t_rec r;
    int32_t db, other, s;
    char name[16];

    for (int i = 0; i < 2; i++) {
        hvf_host h = {.cpus = 16,
                      .mem_mib = 64 * 1024,
                      .cpu_allocation_ratio = 4,
                      .ram_allocation_ratio = 1,
                      .nic_bytes_per_s = 125e6};
        snprintf(name, sizeof(name), "h%d", i);
        h.name = name;
        h.zone = hvf_fleet_zone_ensure(f, "z");
        h.rack = hvf_fleet_rack_ensure(f, h.zone, "r");
        assert_true(hvf_fleet_add_host(f, &h, &err) >= 0);
    }
    s = hvf_fleet_add_service(f, &svc, &err);
    assert_true(s >= 0);
    for (int i = 0; i < 4; i++) {
        hvf_vm v = {.host = i % 2,
                    .vcpus = 1,
                    .mem_mib = 1024,
                    .working_set_mib = 1024,
                    .cpu_load = 0.1,
                    .service = s,
                    .migratable = true};
        snprintf(name, sizeof(name), "v%d", i);
        v.name = name;
        assert_true(hvf_fleet_add_vm(f, &v, 0, &err) >= 0);
    }
    hvf_sim_params_default(&p);
    p.duration_us = 3600 * S;
    sim = hvf_sim_new(f, &p, NULL, 0);
    hvf_fleet_free(f);
    spec.name = "db";
    spec.service = s;
    assert_true(hvf_sim_add_svc(sim, &spec, &err) >= 0);
    t_add_rec(sim, &r);
    db = hvf_sim_dependency_id(sim, "db");
    other = hvf_sim_dependency_id(sim, "cache"); /* no such service: plain */
    sim_run_until(sim, 100 * S);
    assert_true(hvf_sim_dependency_serving(sim, db));
    /* one replica answers nothing: 3 of 4 still do */
    hvf_sim_vm_set_serving(sim, 0, false, "test");
    sim_run_until(sim, 200 * S);
    assert_true(hvf_sim_dependency_serving(sim, db));
    /* a second: 2 of 4, under min_available */
    hvf_sim_vm_set_serving(sim, 1, false, "test");
    sim_run_until(sim, 300 * S);
    assert_false(hvf_sim_dependency_serving(sim, db));
    assert_int_equal(r.n, 1);
    assert_int_equal(r.t_us[0], 200 * S);
    assert_int_equal(r.tag[0], db);
    /* stopped by a component as well: it serves again only when both are over */
    hvf_sim_dependency_set(sim, db, false, "operator stops it");
    hvf_sim_vm_set_serving(sim, 0, true, "test");
    hvf_sim_vm_set_serving(sim, 1, true, "test");
    sim_run_until(sim, 500 * S);
    assert_false(hvf_sim_dependency_serving(sim, db));
    hvf_sim_dependency_set(sim, db, true, "operator starts it");
    assert_true(hvf_sim_dependency_serving(sim, db));
    assert_true(hvf_sim_dependency_serving(sim, other));
    assert_non_null(strstr(sim->events.buf, "2 of 4 replicas of service 'db' answer (3 needed)"));
    hvf_sim_free(sim);
}

static void
test_guest_io_panic(void **state)
{
    hvf_sim *sim = t_sim(true, 0);
    t_rec r;

    t_add_rec(sim, &r);
    sim_run_until(sim, 60 * S);
    /* two guests on h0 swapping inside themselves at 60 MB/s each: the 100 MB/s disks
     * saturate; a stopped VM's IO does not count */
    hvf_sim_vm_set_guest_load(sim, 0, 60e6, 0.2);
    hvf_sim_vm_set_guest_load(sim, 1, 60e6, 1.0);
    sim_flush(sim);
    assert_true(fabs(hvf_sim_host_io_util(sim, 0) - 1.2) < 1e-9);
    assert_true(fabs(hvf_sim_vm_guest_io(sim, 0) - 60e6) < 1e-6);
    /* guests slow by 1 / io_util; v0 is also thrashing itself */
    assert_true(fabs(hvf_sim_host_speed(sim, 0) - 1 / 1.2) < 1e-9);
    assert_true(fabs(hvf_sim_vm_speed(sim, 0) - 0.2 / 1.2) < 1e-9);
    assert_true(fabs(hvf_sim_vm_speed(sim, 4) - 1.0) < 1e-9);
    sim_run_until(sim, 179 * S);
    assert_int_equal(r.crash_us, -1);
    sim_run_until(sim, 181 * S);
    assert_int_equal(r.crash_us, 180 * S); /* hung_task_timeout after saturation */
    assert_true(hvf_sim_host_speed(sim, 0) == 0);
    assert_true(hvf_sim_vm_speed(sim, 0) == 0);
    hvf_sim_free(sim);

    /* the same IO from a stopped guest: nothing */
    sim = t_sim(true, 0);
    t_add_rec(sim, &r);
    sim_run_until(sim, 60 * S);
    hvf_sim_vm_set_guest_load(sim, 0, 60e6, 1.0);
    hvf_sim_vm_set_guest_load(sim, 1, 60e6, 1.0);
    {
        hvf_error err = HVF_ERROR_INIT;
        assert_int_equal(hvf_sim_stop_vm(sim, 1, &err), 0);
    }
    sim_flush(sim);
    assert_true(fabs(hvf_sim_host_io_util(sim, 0) - 0.6) < 1e-9);
    sim_run_until(sim, 3600 * S);
    assert_int_equal(r.crash_us, -1);
    hvf_sim_free(sim);
}

static void
test_host_load(void **state)
{
    hvf_sim *sim = t_sim(false, 32 * 1024);
    uint64_t free0;

    sim_run_until(sim, 10 * S);
    free0 = hvf_sim_host_free_mib(sim, 1, true);
    /* h1: two VMs of 2 vCPUs at 0.5 = 2 cores; 30 more cores of deployments = 32 on 16 */
    hvf_sim_host_add_load(sim, 1, 30, 0, 0);
    sim_flush(sim);
    assert_true(fabs(hvf_sim_host_speed(sim, 1) - 0.5) < 1e-9);
    assert_true(fabs(hvf_sim_vm_speed(sim, 4) - 0.5) < 1e-9);
    hvf_sim_host_add_load(sim, 1, -30, 0, 0);
    sim_flush(sim);
    assert_true(hvf_sim_host_speed(sim, 1) == 1.0);
    /* 60 GiB of zombie copies on h1 (64 GiB, 8 GiB of VMs): 4 GiB swapped; its IO is 5 % of
     * that per second = 204.8 MiB/s on 100 MB/s disks */
    hvf_sim_host_add_load(sim, 1, 0, 0, 60 * 1024);
    sim_flush(sim);
    assert_int_equal(hvf_sim_host_free_mib(sim, 1, true), 0);
    assert_true(fabs(sim->hosts[1].swap_mib - 4096) < 1e-6);
    assert_true(fabs(hvf_sim_host_io_util(sim, 1) - 4096 * 0.05 * HVF_MIB / 100e6) < 1e-9);
    hvf_sim_host_add_load(sim, 1, 0, 50e6, -60 * 1024);
    sim_flush(sim);
    assert_int_equal(hvf_sim_host_free_mib(sim, 1, true), free0);
    assert_true(fabs(hvf_sim_host_io_util(sim, 1) - 0.5) < 1e-9);
    hvf_sim_free(sim);
}

static void
test_redeploy(void **state)
{
    hvf_sim *sim = t_sim(false, 0);
    hvf_error err = HVF_ERROR_INIT;

    sim_run_until(sim, 10 * S);
    hvf_sim_vm_set_guest_load(sim, 0, 10e6, 0.1);
    assert_int_equal(hvf_sim_redeploy_vm(sim, 0, 2, "unreachable", &err), 0);
    sim_flush(sim);
    assert_int_equal(hvf_sim_vm_host(sim, 0), 2);
    assert_int_equal(sim->fleet->hosts[2].used.mem_mib, 4096);
    assert_int_equal(sim->fleet->hosts[0].used.mem_mib, 3 * 4096);
    assert_int_equal(hvf_sim_check(sim, false, &err), 0);
    /* the new copy starts fresh */
    assert_true(hvf_sim_vm_guest_io(sim, 0) == 0);
    assert_true(fabs(hvf_sim_vm_speed(sim, 0) - 1.0) < 1e-9);
    assert_int_equal(hvf_sim_vm_state_get(sim, 0), HVF_SIM_VM_RUNNING);

    assert_int_equal(hvf_sim_redeploy_vm(sim, 0, 2, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_int_equal(hvf_sim_redeploy_vm(sim, 99, 2, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_int_equal(hvf_sim_redeploy_vm(sim, 1, -1, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_int_equal(hvf_sim_stop_vm(sim, 1, &err), 0);
    assert_int_equal(hvf_sim_redeploy_vm(sim, 1, 2, NULL, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "stopped"));
    {
        HVF_AUTOFREE char *log = hvf_strbuf_steal(&sim->events);
        assert_non_null(strstr(log, "\"type\":\"vm_redeployed\",\"vm\":\"v0\",\"from\":\"h0\","
                                    "\"to\":\"h2\",\"detail\":\"unreachable\""));
    }
    hvf_sim_free(sim);
}

static void
test_summary_part(void **state)
{
    hvf_sim *sim = t_sim(false, 0);
    HVF_AUTOFREE char *s = NULL;

    hvf_sim_add_summary(sim, "agents", "{\"x\":1}");
    hvf_sim_add_summary(sim, "queue", "[1,2]");
    hvf_sim_add_summary(sim, "agents", "{\"x\":2}");
    hvf_sim_run(sim);
    s = hvf_sim_summary_json(sim);
    assert_non_null(strstr(s, "\"agents\":{\"x\":2}"));
    assert_non_null(strstr(s, "\"queue\":[1,2]"));
    assert_null(strstr(s, "\"x\":1"));
    hvf_sim_free(sim);
}

static void
test_bad_fault(void **state)
{
    hvf_sim *sim = t_sim(false, 0);
    hvf_sim_fault f = {.type = HVF_SIM_FAULT_SERVICE_DOWN,
                       .at_us = 10 * S,
                       .host = -1,
                       .rack = -1,
                       .vm = -1,
                       .duration_us = -1};
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_sim_add_fault(sim, &f, &err), -1);
    assert_non_null(strstr(err.msg, "service"));
    hvf_sim_free(sim);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dependency_fault), cmocka_unit_test(test_dependency_follows_service),
        cmocka_unit_test(test_guest_io_panic),   cmocka_unit_test(test_host_load),
        cmocka_unit_test(test_redeploy),         cmocka_unit_test(test_summary_part),
        cmocka_unit_test(test_bad_fault),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
