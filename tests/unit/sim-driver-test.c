/* SPDX-License-Identifier: MIT */
/*
 * The sim driver's VMs defined and undefined through the driver table: listed at once, kept by
 * its world across a reopen (and by a second connection, as a killed caller's successor finds
 * it), gone for good once undefined, and each refusal with its code and a message naming what
 * is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/driver.h"
#include "hvfleet/fleet.h"

/* h1 has 64 GiB and 64 vCPUs usable, 16 GiB used; h3 is full of memory. */
static const char inventory[] =
    "hosts:\n"
    "  - {name: h1, zone: z1, rack: r1, cpus: 16, memory: 64GiB, reserved_memory: 0GiB}\n"
    "  - {name: h2, zone: z1, rack: r2, cpus: 16, memory: 64GiB, reserved_memory: 0GiB}\n"
    "  - {name: h3, zone: z2, rack: r3, cpus: 16, memory: 16GiB, reserved_memory: 0GiB}\n"
    "vms:\n"
    "  - {name: a1, host: h1, vcpus: 2, memory: 8GiB, service: web}\n"
    "  - {name: a2, host: h1, vcpus: 2, memory: 8GiB, dirty_rate: 10MiB/s}\n"
    "  - {name: b1, host: h2, vcpus: 2, memory: 8GiB, service: web}\n"
    "  - {name: c1, host: h3, vcpus: 2, memory: 16GiB}\n"
    "services:\n"
    "  - {name: web, min_available: 1, spread: host}\n";

typedef struct st {
    char dir[64];
    char inv[96];
    char state[96];
    char uri[256];
} st;

static void
st_init(st *t, const char *deviations)
{
    FILE *fp;

    snprintf(t->dir, sizeof(t->dir), "/tmp/hvf-sim-driver-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->inv, sizeof(t->inv), "%s/fleet.yaml", t->dir);
    snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
    assert_non_null(fp = fopen(t->inv, "w"));
    fputs(inventory, fp);
    fclose(fp);
    assert_int_equal(mkdir(t->state, 0700), 0);
    if (deviations) {
        HVF_AUTOFREE char *dev = hvf_asprintf("%s/dev.json", t->dir);

        assert_non_null(fp = fopen(dev, "w"));
        fprintf(fp, "{\"schema\":\"hvfleet.sim-deviations/v1\",\"deviations\":[%s]}", deviations);
        fclose(fp);
        snprintf(t->uri, sizeof(t->uri), "sim://%s?deviations=%s", t->inv, dev);
    } else {
        snprintf(t->uri, sizeof(t->uri), "sim://%s", t->inv);
    }
}

static hvf_conn *
st_open(st *t)
{
    hvf_driver_opts o = {.state_dir = t->state};
    hvf_error err = HVF_ERROR_INIT;
    hvf_conn *conn = hvf_driver_open(t->uri, &o, &err);

    if (!conn)
        fail_msg("open: %s", err.msg);
    return conn;
}

static void
st_free(st *t)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", t->dir);

    if (system(cmd) != 0)
        fail_msg("cannot remove %s", t->dir);
}

static hvf_drv_vm_spec
spec(const char *name, uint64_t mem_mib, uint32_t vcpus, const char *service)
{
    hvf_drv_vm_spec s;

    memset(&s, 0, sizeof(s));
    snprintf(s.name, sizeof(s.name), "%s", name);
    s.mem_mib = mem_mib;
    s.vcpus = vcpus;
    s.dirty_mib_per_s = 20;
    snprintf(s.service, sizeof(s.service), "%s", service ? service : "");
    s.migratable = true;
    return s;
}

/* @name as the driver lists it (copied into @out), false when it is not listed. */
static bool
find_vm(hvf_conn *conn, const char *name, hvf_drv_vm *out)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm *vms = NULL;
    long n = hvf_driver_list_vms(conn, &vms, &err);
    bool found = false;

    assert_true(n >= 0);
    for (long i = 0; i < n; i++) {
        if (strcmp(vms[i].name, name) == 0) {
            *out = vms[i];
            found = true;
        }
    }
    free(vms);
    return found;
}

static hvf_drv_host
host_of(hvf_conn *conn, const char *name)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_host *hosts = NULL, h;
    long n = hvf_driver_list_hosts(conn, &hosts, &err);

    memset(&h, 0, sizeof(h));
    for (long i = 0; i < n; i++) {
        if (strcmp(hosts[i].name, name) == 0)
            h = hosts[i];
    }
    free(hosts);
    assert_string_equal(h.name, name);
    return h;
}

static long
count_vms(hvf_conn *conn)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm *vms = NULL;
    long n = hvf_driver_list_vms(conn, &vms, &err);

    free(vms);
    return n;
}

/* Polls until job @id ended (bounded by the twin's virtual time); returns its info. */
static hvf_job_info
wait_job(hvf_conn *conn, int64_t id)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_job_info info;

    for (int i = 0; i < 1000; i++) {
        hvf_drv_event evs[8];
        size_t n;

        assert_int_equal(hvf_driver_job_info(conn, id, &info, &err), 0);
        if (info.state == HVF_JOB_COMPLETED || info.state == HVF_JOB_FAILED ||
            info.state == HVF_JOB_CANCELLED)
            return info;
        if (hvf_driver_poll(conn, 10000000, evs, 8, &n, &err) < 0)
            fail_msg("poll: %s", err.msg);
    }
    fail_msg("job %lld did not end", (long long)id);
    return info;
}

/* Defined stopped, listed with its size, started: it runs and its host accounts for it; the
 * fleet the planners read has it with its service; it migrates like any VM. */
static void
test_define_start_list(void **state)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec s = spec("n1", 4096, 3, "web");
    hvf_drv_vm vm;
    hvf_drv_host before, after;
    hvf_fleet *f;
    int32_t v;
    hvf_job_info info;

    (void)state;
    st_init(&t, NULL);
    conn = st_open(&t);
    assert_false(find_vm(conn, "n1", &vm));
    before = host_of(conn, "h2");
    if (hvf_driver_vm_define(conn, &s, "h2", &err) < 0)
        fail_msg("define: %s", err.msg);
    assert_int_equal(count_vms(conn), 5);
    assert_true(find_vm(conn, "n1", &vm));
    assert_string_equal(vm.host, "h2");
    assert_int_equal(vm.state, HVF_DRV_VM_STOPPED);
    assert_int_equal(vm.mem_mib, 4096);
    assert_int_equal(vm.vcpus, 3);
    assert_int_equal(vm.job, -1);
    /* stopped, it holds nothing on its host yet */
    assert_int_equal(host_of(conn, "h2").used_mib, before.used_mib);
    if (hvf_driver_vm_start(conn, "n1", "h2", &err) < 0)
        fail_msg("start: %s", err.msg);
    assert_true(find_vm(conn, "n1", &vm));
    assert_int_equal(vm.state, HVF_DRV_VM_RUNNING);
    after = host_of(conn, "h2");
    assert_int_equal(after.used_mib, before.used_mib + 4096);
    assert_int_equal(after.used_vcpus, before.used_vcpus + 3);
    /* the other VMs are as they were */
    assert_true(find_vm(conn, "a2", &vm));
    assert_string_equal(vm.host, "h1");
    assert_int_equal(vm.state, HVF_DRV_VM_RUNNING);

    assert_non_null(f = hvf_driver_fleet(conn, &err));
    assert_true((v = hvf_fleet_find_vm(f, "n1")) >= 0);
    assert_string_equal(f->hosts[f->vms[v].host].name, "h2");
    assert_int_equal(f->vms[v].mem_mib, 4096);
    assert_true(f->vms[v].service >= 0);
    assert_string_equal(f->services[f->vms[v].service].name, "web");
    assert_true(f->vms[v].dirty_bytes_per_s == 20.0 * 1048576);
    assert_true(f->vms[v].migratable);
    assert_int_equal(hvf_fleet_check(f, true, &err), 0);
    hvf_fleet_free(f);

    info = wait_job(conn, hvf_driver_migrate(conn, "n1", "h1", NULL, &err));
    assert_int_equal(info.state, HVF_JOB_COMPLETED);
    assert_string_equal(info.vm, "n1");
    assert_true(find_vm(conn, "n1", &vm));
    assert_string_equal(vm.host, "h1");
    hvf_driver_close(conn);
    st_free(&t);
}

/* The world keeps a defined VM: a reopen finds it where it ran, and so does a second
 * connection opened while the first is still open (what a killed caller's successor finds). */
static void
test_define_persists(void **state)
{
    st t;
    hvf_conn *conn, *other;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec s = spec("n1", 2048, 1, NULL);
    hvf_drv_vm vm;
    hvf_fleet *f;

    (void)state;
    st_init(&t, NULL);
    conn = st_open(&t);
    /* a few saves first, so the world has a log beside its snapshot */
    assert_int_equal(hvf_driver_vm_stop(conn, "a2", 0, &err), 0);
    assert_int_equal(hvf_driver_vm_start(conn, "a2", "h2", &err), 0);
    if (hvf_driver_vm_define(conn, &s, "h1", &err) < 0)
        fail_msg("define: %s", err.msg);
    assert_int_equal(hvf_driver_vm_start(conn, "n1", "h1", &err), 0);
    assert_int_equal(hvf_driver_vm_stop(conn, "c1", 0, &err), 0);

    other = st_open(&t);
    assert_true(find_vm(other, "n1", &vm));
    assert_string_equal(vm.host, "h1");
    assert_int_equal(vm.state, HVF_DRV_VM_RUNNING);
    assert_true(find_vm(other, "c1", &vm));
    assert_int_equal(vm.state, HVF_DRV_VM_STOPPED);
    hvf_driver_close(other);
    hvf_driver_close(conn);

    conn = st_open(&t);
    assert_int_equal(count_vms(conn), 5);
    assert_true(find_vm(conn, "n1", &vm));
    assert_string_equal(vm.host, "h1");
    assert_int_equal(vm.state, HVF_DRV_VM_RUNNING);
    assert_int_equal(vm.mem_mib, 2048);
    assert_true(find_vm(conn, "a2", &vm));
    assert_string_equal(vm.host, "h2");
    assert_non_null(f = hvf_driver_fleet(conn, &err));
    assert_true(hvf_fleet_find_vm(f, "n1") >= 0);
    assert_true(f->vms[hvf_fleet_find_vm(f, "n1")].service < 0);
    hvf_fleet_free(f);
    hvf_driver_close(conn);
    st_free(&t);
}

/* A defined VM's ha (issue 13) is kept by the world, set or not: a reopen finds what was
 * defined, and a VM that set none still takes its service's. */
static void
test_define_keeps_ha(void **state)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec on = spec("n1", 1024, 1, NULL), off = spec("n2", 1024, 1, "web");
    hvf_drv_vm_spec unset = spec("n3", 1024, 1, "web");
    hvf_fleet *f;

    (void)state;
    on.ha = on.ha_set = true;
    off.ha_set = true;
    st_init(&t, NULL);
    conn = st_open(&t);
    assert_int_equal(hvf_driver_vm_define(conn, &on, "h1", &err), 0);
    assert_int_equal(hvf_driver_vm_define(conn, &off, "h2", &err), 0);
    assert_int_equal(hvf_driver_vm_define(conn, &unset, "h2", &err), 0);
    hvf_driver_close(conn);

    conn = st_open(&t);
    assert_non_null(f = hvf_driver_fleet(conn, &err));
    {
        const hvf_vm *n1 = &f->vms[hvf_fleet_find_vm(f, "n1")];
        const hvf_vm *n2 = &f->vms[hvf_fleet_find_vm(f, "n2")];
        const hvf_vm *n3 = &f->vms[hvf_fleet_find_vm(f, "n3")];

        assert_true(n1->ha_set && n1->ha);
        assert_true(n2->ha_set && !n2->ha);
        assert_false(n3->ha_set);
        assert_true(hvf_vm_is_ha(f, n1));
        assert_false(hvf_vm_is_ha(f, n2));
        /* the service decides for n3, and only for it */
        f->services[n3->service].ha = true;
        assert_true(hvf_vm_is_ha(f, n3));
        assert_false(hvf_vm_is_ha(f, n2));
    }
    hvf_fleet_free(f);
    hvf_driver_close(conn);
    st_free(&t);
}

/* Undefined, a VM is gone, and stays gone after a reopen; the name can be defined again. An
 * inventory VM can be undefined too: the jobs of the VMs after it keep naming theirs. */
static void
test_undefine(void **state)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec s = spec("n1", 2048, 1, NULL);
    hvf_drv_vm vm;
    hvf_job_info info;
    int64_t job;

    (void)state;
    st_init(&t, NULL);
    conn = st_open(&t);
    assert_int_equal(hvf_driver_vm_define(conn, &s, "h1", &err), 0);
    assert_int_equal(hvf_driver_vm_undefine(conn, "n1", &err), 0);
    assert_false(find_vm(conn, "n1", &vm));
    assert_int_equal(count_vms(conn), 4);

    /* a job of b1 (after a1 in the list), ended and not forgotten */
    job = hvf_driver_migrate(conn, "b1", "h1", NULL, &err);
    assert_true(job >= 0);
    assert_int_equal(wait_job(conn, job).state, HVF_JOB_COMPLETED);
    assert_int_equal(hvf_driver_vm_stop(conn, "a1", 0, &err), 0);
    if (hvf_driver_vm_undefine(conn, "a1", &err) < 0)
        fail_msg("undefine: %s", err.msg);
    assert_false(find_vm(conn, "a1", &vm));
    assert_int_equal(hvf_driver_job_info(conn, job, &info, &err), 0);
    assert_string_equal(info.vm, "b1");
    assert_string_equal(info.target, "h1");
    hvf_driver_close(conn);

    conn = st_open(&t);
    assert_int_equal(count_vms(conn), 3);
    assert_false(find_vm(conn, "a1", &vm));
    assert_false(find_vm(conn, "n1", &vm));
    assert_int_equal(hvf_driver_job_info(conn, job, &info, &err), 0);
    assert_string_equal(info.vm, "b1");
    assert_true(find_vm(conn, "b1", &vm));
    assert_string_equal(vm.host, "h1");
    /* the names are free again, a1's too (now defined through the driver) */
    s = spec("a1", 1024, 1, NULL);
    assert_int_equal(hvf_driver_vm_define(conn, &s, "h2", &err), 0);
    hvf_driver_close(conn);
    conn = st_open(&t);
    assert_true(find_vm(conn, "a1", &vm));
    assert_string_equal(vm.host, "h2");
    assert_int_equal(vm.mem_mib, 1024);
    assert_int_equal(vm.state, HVF_DRV_VM_STOPPED);
    hvf_driver_close(conn);
    st_free(&t);
}

static void
expect_define(hvf_conn *conn, const hvf_drv_vm_spec *s, const char *host, hvf_errcode code,
              const char *part1, const char *part2)
{
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_driver_vm_define(conn, s, host, &err), -1);
    if (err.code != code || !strstr(err.msg, part1) || (part2 && !strstr(err.msg, part2)))
        fail_msg("define '%s' on '%s': got %s: %s", s->name, host, hvf_errcode_to_string(err.code),
                 err.msg);
}

static void
expect_undefine(hvf_conn *conn, const char *vm, hvf_errcode code, const char *part)
{
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_driver_vm_undefine(conn, vm, &err), -1);
    if (err.code != code || !strstr(err.msg, part))
        fail_msg("undefine '%s': got %s: %s", vm, hvf_errcode_to_string(err.code), err.msg);
}

/* Each refusal: its code, a message naming the VM, host or state, and nothing changed. */
static void
test_errors(void **state)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec s = spec("n1", 2048, 1, NULL);
    hvf_drv_vm vm;
    int64_t job;

    (void)state;
    st_init(&t, NULL);
    conn = st_open(&t);
    s = spec("a1", 1024, 1, NULL);
    expect_define(conn, &s, "h2", HVF_ERR_CONFLICT, "'a1' already exists", "'h1'");
    s = spec("n1", 1024, 1, NULL);
    expect_define(conn, &s, "nohost", HVF_ERR_NOT_FOUND, "'nohost'", NULL);
    s = spec("n1", 1024, 1, "nosvc");
    expect_define(conn, &s, "h1", HVF_ERR_NOT_FOUND, "'nosvc'", NULL);
    s = spec("bad name", 1024, 1, NULL);
    expect_define(conn, &s, "h1", HVF_ERR_INVALID, "'bad name'", NULL);
    s = spec("n1", 0, 1, NULL);
    expect_define(conn, &s, "h1", HVF_ERR_INVALID, "'n1'", "more than 0");
    s = spec("n1", 1024, 1, NULL);
    s.dirty_mib_per_s = -1;
    expect_define(conn, &s, "h1", HVF_ERR_INVALID, "dirty rate", NULL);
    /* h3's 16 GiB are all used by c1; h1 has 48 GiB and 60 vCPUs free */
    s = spec("n1", 1024, 1, NULL);
    expect_define(conn, &s, "h3", HVF_ERR_CAPACITY, "host 'h3'", "0 MiB of memory free, 1024");
    s = spec("n1", 48 * 1024 + 1, 61, NULL);
    expect_define(conn, &s, "h1", HVF_ERR_CAPACITY, "49152 MiB of memory free, 49153",
                  "60 vCPUs free, 61");
    s = spec("n1", 1024, 61, NULL);
    expect_define(conn, &s, "h1", HVF_ERR_CAPACITY, "host 'h1'", "60 vCPUs free, 61");
    /* exactly what is free fits */
    s = spec("n1", 48 * 1024, 60, NULL);
    assert_int_equal(hvf_driver_vm_define(conn, &s, "h1", &err), 0);
    assert_int_equal(hvf_driver_vm_undefine(conn, "n1", &err), 0);
    assert_int_equal(hvf_driver_host_set_state(conn, "h2", HVF_DRV_HOST_DRAINING, &err), 0);
    s = spec("n1", 1024, 1, NULL);
    expect_define(conn, &s, "h2", HVF_ERR_CONFLICT, "host 'h2' is draining", NULL);
    assert_int_equal(hvf_driver_host_set_state(conn, "h2", HVF_DRV_HOST_ACTIVE, &err), 0);

    expect_undefine(conn, "a1", HVF_ERR_CONFLICT, "'a1' is running");
    expect_undefine(conn, "nope", HVF_ERR_NOT_FOUND, "'nope'");
    /* a migration in flight: the twin is not built again under it */
    assert_int_equal(hvf_driver_vm_stop(conn, "a2", 0, &err), 0);
    job = hvf_driver_migrate(conn, "b1", "h1", NULL, &err);
    assert_true(job >= 0);
    expect_undefine(conn, "b1", HVF_ERR_CONFLICT, "'b1' is migrating");
    expect_undefine(conn, "a2", HVF_ERR_CONFLICT, "still migrating");
    expect_define(conn, &s, "h1", HVF_ERR_CONFLICT, "still migrating", "'b1'");
    assert_int_equal(wait_job(conn, job).state, HVF_JOB_COMPLETED);
    assert_int_equal(hvf_driver_vm_undefine(conn, "a2", &err), 0);
    assert_int_equal(hvf_driver_vm_define(conn, &s, "h1", &err), 0);

    assert_int_equal(count_vms(conn), 4);
    assert_true(find_vm(conn, "a1", &vm));
    assert_int_equal(vm.state, HVF_DRV_VM_RUNNING);
    hvf_driver_close(conn);
    st_free(&t);
}

/* Deviations name the inventory's VMs: once a VM before it is undefined, a deviation still
 * reaches its own VM (b1's planned failure fails b1's migration, not another's). */
static void
test_deviation_after_undefine(void **state)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_event evs[8];
    size_t n;
    hvf_job_info info;

    (void)state;
    st_init(&t, "{\"at\":\"10s\",\"kind\":\"migration-fail\",\"vm\":\"b1\"}");
    conn = st_open(&t);
    assert_int_equal(hvf_driver_vm_stop(conn, "a2", 0, &err), 0);
    assert_int_equal(hvf_driver_vm_undefine(conn, "a2", &err), 0);
    assert_int_equal(hvf_driver_poll(conn, 20000000, evs, 8, &n, &err), 0);
    hvf_driver_close(conn);
    conn = st_open(&t);
    info = wait_job(conn, hvf_driver_migrate(conn, "c1", "h2", NULL, &err));
    assert_int_equal(info.state, HVF_JOB_COMPLETED);
    info = wait_job(conn, hvf_driver_migrate(conn, "b1", "h1", NULL, &err));
    assert_int_equal(info.state, HVF_JOB_FAILED);
    assert_non_null(strstr(info.error, "injected"));
    hvf_driver_close(conn);
    st_free(&t);
}

/* A host down that a deviation brings back: the twin is not built again under it (the host
 * would stay down), and once it is back a VM can be defined on it. */
static void
test_host_due_back(void **state)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec s = spec("n1", 1024, 1, NULL);
    hvf_drv_event evs[8];
    size_t n;

    (void)state;
    st_init(&t, "{\"at\":\"10s\",\"kind\":\"host-crash\",\"host\":\"h2\",\"for\":\"5m\"}");
    conn = st_open(&t);
    assert_int_equal(hvf_driver_poll(conn, 20000000, evs, 8, &n, &err), 0);
    assert_int_equal(host_of(conn, "h2").state, HVF_DRV_HOST_DOWN);
    expect_define(conn, &s, "h1", HVF_ERR_CONFLICT, "host 'h2' is down until", NULL);
    expect_undefine(conn, "b1", HVF_ERR_CONFLICT, "is crashed");
    for (int i = 0; i < 100 && host_of(conn, "h2").state != HVF_DRV_HOST_ACTIVE; i++)
        assert_int_equal(hvf_driver_poll(conn, 60000000, evs, 8, &n, &err), 0);
    assert_int_equal(host_of(conn, "h2").state, HVF_DRV_HOST_ACTIVE);
    if (hvf_driver_vm_define(conn, &s, "h2", &err) < 0)
        fail_msg("define: %s", err.msg);
    hvf_driver_close(conn);
    st_free(&t);
}

/* Without a world file (no state directory): defined and undefined all the same. */
static void
test_no_world_file(void **state)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_conn *conn = hvf_driver_open("sim:///default", NULL, &err);
    hvf_drv_vm_spec s = spec("n1", 1024, 1, NULL);
    hvf_drv_vm vm;
    long n;

    (void)state;
    assert_non_null(conn);
    n = count_vms(conn);
    assert_true(n > 0);
    if (hvf_driver_vm_define(conn, &s, "kvm0001", &err) < 0)
        fail_msg("define: %s", err.msg);
    assert_int_equal(hvf_driver_vm_start(conn, "n1", "kvm0001", &err), 0);
    assert_int_equal(count_vms(conn), n + 1);
    assert_true(find_vm(conn, "n1", &vm));
    assert_int_equal(vm.state, HVF_DRV_VM_RUNNING);
    assert_int_equal(hvf_driver_vm_stop(conn, "n1", 0, &err), 0);
    assert_int_equal(hvf_driver_vm_undefine(conn, "n1", &err), 0);
    assert_int_equal(count_vms(conn), n);
    hvf_driver_close(conn);
}

/* The same calls give the same world, byte for byte. */
static char *
world_after_calls(void)
{
    st t;
    hvf_conn *conn;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm_spec s = spec("n1", 2048, 2, "web");
    HVF_AUTOFREE char *cmd = NULL;
    char *text = NULL;
    size_t cap = 0;
    FILE *fp;

    st_init(&t, NULL);
    conn = st_open(&t);
    assert_int_equal(hvf_driver_vm_define(conn, &s, "h2", &err), 0);
    assert_int_equal(hvf_driver_vm_start(conn, "n1", "h2", &err), 0);
    assert_int_equal(wait_job(conn, hvf_driver_migrate(conn, "n1", "h1", NULL, &err)).state,
                     HVF_JOB_COMPLETED);
    assert_int_equal(hvf_driver_vm_stop(conn, "c1", 0, &err), 0);
    assert_int_equal(hvf_driver_vm_undefine(conn, "c1", &err), 0);
    hvf_driver_close(conn);
    cmd = hvf_asprintf("cat %s/sim-world-*.json", t.state);
    assert_non_null(fp = popen(cmd, "r"));
    assert_true(getdelim(&text, &cap, '\0', fp) > 0);
    pclose(fp);
    st_free(&t);
    return text;
}

static void
test_deterministic(void **state)
{
    HVF_AUTOFREE char *a = world_after_calls();
    HVF_AUTOFREE char *b = world_after_calls();

    (void)state;
    assert_non_null(strstr(a, "\"spec\""));
    assert_string_equal(a, b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_define_start_list),
        cmocka_unit_test(test_define_persists),
        cmocka_unit_test(test_define_keeps_ha),
        cmocka_unit_test(test_undefine),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_deviation_after_undefine),
        cmocka_unit_test(test_host_due_back),
        cmocka_unit_test(test_no_world_file),
        cmocka_unit_test(test_deterministic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
