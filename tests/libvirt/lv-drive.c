/* SPDX-License-Identifier: MIT */
/*
 * lv-drive: the libvirt driver's table, called from the tests of tests/libvirt, against real
 * libvirtd daemons. Prints what the driver says, one JSON object a line; the test asserts.
 *
 *   lv-drive DRIVER_URI list
 *   lv-drive DRIVER_URI migrate VM TARGET [--bandwidth MIB_S] [--cancel-after MS]
 *                                          [--kill PID --kill-after MS] [--wait-host-back]
 *                                          [--postcopy-after MS]
 *   lv-drive DRIVER_URI start VM HOST | stop VM | destroy VM
 *   lv-drive DRIVER_URI dirty VM MS      (polls MS, then prints the fleet's dirty rate of VM)
 *
 * Exit: 0 when the calls went through (whatever the job's end), 2 on bad usage or a refusal.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvfleet/driver.h"
#include "hvfleet/fleet.h"

static void
print_lists(hvf_conn *c)
{
    hvf_drv_host *hs = NULL;
    hvf_drv_vm *vs = NULL;
    hvf_error err = HVF_ERROR_INIT;
    long nh = hvf_driver_list_hosts(c, &hs, &err), nv = hvf_driver_list_vms(c, &vs, &err);

    for (long i = 0; i < nh; i++)
        printf("{\"host\":\"%s\",\"state\":\"%s\",\"used_mib\":%" PRIu64 "}\n", hs[i].name,
               hvf_drv_host_state_names[hs[i].state], hs[i].used_mib);
    for (long i = 0; i < nv; i++)
        printf("{\"vm\":\"%s\",\"on\":\"%s\",\"state\":\"%s\"}\n", vs[i].name, vs[i].host,
               hvf_drv_vm_state_names[vs[i].state]);
    free(hs);
    free(vs);
    fflush(stdout);
}

static void
print_event(const hvf_drv_event *e)
{
    printf("{\"event\":\"%s\",\"host\":\"%s\",\"vm\":\"%s\",\"vm_state\":\"%s\",\"job\":%" PRId64
           ",\"job_state\":\"%s\"}\n",
           hvf_drv_event_type_names[e->type], e->host, e->vm, hvf_drv_vm_state_names[e->vm_state],
           e->job, hvf_job_state_names[e->job_state]);
    fflush(stdout);
}

static int
fail(const hvf_error *err)
{
    fprintf(stderr, "lv-drive: %s\n", err->msg);
    return 2;
}

/* Polls until @done says so or @limit_us passes; prints every event. */
static int
poll_until(hvf_conn *c, int64_t limit_us, bool (*done)(const hvf_drv_event *, void *), void *ctx)
{
    int64_t until = hvf_driver_now_us(c) + limit_us;
    hvf_error err = HVF_ERROR_INIT;

    while (hvf_driver_now_us(c) < until) {
        hvf_drv_event evs[16];
        size_t n = 0;

        if (hvf_driver_poll(c, 200000, evs, 16, &n, &err) < 0)
            return fail(&err);
        for (size_t i = 0; i < n; i++) {
            print_event(&evs[i]);
            if (done(&evs[i], ctx))
                return 0;
        }
    }
    printf("{\"timeout\":true}\n");
    return 1;
}

static bool
is_vm_state(const hvf_drv_event *e, void *ctx)
{
    return e->type == HVF_DRV_EV_VM_STATE && strcmp(e->vm, (const char *)ctx) == 0;
}

static bool
is_host_back(const hvf_drv_event *e, void *ctx)
{
    (void)ctx;
    return e->type == HVF_DRV_EV_HOST_BACK;
}

static int
migrate(hvf_conn *c, int argc, char **argv)
{
    hvf_migrate_job_params prm = {0};
    hvf_error err = HVF_ERROR_INIT;
    long cancel_ms = -1, kill_ms = -1, pid = 0, postcopy_ms = -1;
    bool wait_back = false, killed = false, cancelled = false;
    int64_t job, t0;
    hvf_job_info info;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--bandwidth") == 0 && i + 1 < argc)
            prm.max_bytes_per_s = atof(argv[++i]) * 1048576.0;
        else if (strcmp(argv[i], "--cancel-after") == 0 && i + 1 < argc)
            cancel_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--kill") == 0 && i + 1 < argc)
            pid = atol(argv[++i]);
        else if (strcmp(argv[i], "--kill-after") == 0 && i + 1 < argc)
            kill_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--postcopy-after") == 0 && i + 1 < argc)
            postcopy_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--wait-host-back") == 0)
            wait_back = true;
        else {
            fprintf(stderr, "lv-drive: migrate: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    prm.postcopy_allowed = postcopy_ms >= 0;
    if ((job = hvf_driver_migrate(c, argv[0], argv[1], &prm, &err)) < 0)
        return fail(&err);
    t0 = hvf_driver_now_us(c);
    for (;;) {
        hvf_drv_event evs[16];
        size_t n = 0;
        int64_t el = (hvf_driver_now_us(c) - t0) / 1000;

        if (hvf_driver_poll(c, 250000, evs, 16, &n, &err) < 0)
            return fail(&err);
        if (hvf_driver_job_info(c, job, &info, &err) < 0)
            return fail(&err);
        printf("{\"progress\":{\"state\":\"%s\",\"total\":%" PRIu64 ",\"remaining\":%" PRIu64
               ",\"transferred\":%" PRIu64 ",\"bytes_per_s\":%.0f,\"iteration\":%u}}\n",
               hvf_job_state_names[info.state], info.total_bytes, info.remaining_bytes,
               info.transferred_bytes, info.bytes_per_s, info.dirty_sync_count);
        for (size_t i = 0; i < n; i++)
            print_event(&evs[i]);
        fflush(stdout);
        if (info.ended_us >= 0)
            break;
        if (cancel_ms >= 0 && !cancelled && el >= cancel_ms && info.state == HVF_JOB_ACTIVE &&
            info.transferred_bytes > 0) {
            cancelled = true;
            if (hvf_driver_job_cancel(c, job, &err) < 0)
                return fail(&err);
            printf("{\"cancelled_at_ms\":%ld}\n", (long)el);
        }
        if (postcopy_ms >= 0 && el >= postcopy_ms && info.state == HVF_JOB_ACTIVE &&
            info.transferred_bytes > 0) {
            postcopy_ms = -1;
            if (hvf_driver_job_postcopy(c, job, &err) < 0)
                return fail(&err);
            printf("{\"postcopy_at_ms\":%ld}\n", (long)el);
        }
        if (pid > 0 && !killed && kill_ms >= 0 && el >= kill_ms && info.transferred_bytes > 0) {
            killed = true;
            kill((pid_t)pid, SIGKILL);
            printf("{\"killed_at_ms\":%ld}\n", (long)el);
        }
        if (el > 300000) {
            printf("{\"timeout\":true}\n");
            return 1;
        }
    }
    printf("{\"job_end\":\"%s\",\"error\":\"%s\"}\n", hvf_job_state_names[info.state], info.error);
    fflush(stdout);
    if (wait_back && poll_until(c, 200000000, is_host_back, NULL) != 0)
        return 1;
    print_lists(c);
    return 0;
}

int
main(int argc, char **argv)
{
    hvf_driver_opts opts = {0};
    hvf_error err = HVF_ERROR_INIT;
    hvf_conn *c;
    int rc = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: lv-drive DRIVER_URI list|migrate|start|stop|destroy ...\n");
        return 2;
    }
    if (!(c = hvf_driver_open(argv[1], &opts, &err)))
        return fail(&err);
    if (strcmp(argv[2], "list") == 0) {
        print_lists(c);
    } else if (strcmp(argv[2], "migrate") == 0 && argc >= 5) {
        rc = migrate(c, argc - 3, argv + 3);
    } else if (strcmp(argv[2], "dirty") == 0 && argc == 5) {
        int64_t until = hvf_driver_now_us(c) + atol(argv[4]) * 1000;
        hvf_fleet *f;
        int32_t v;

        while (rc == 0 && hvf_driver_now_us(c) < until) {
            hvf_drv_event evs[16];
            size_t n = 0;

            if (hvf_driver_poll(c, 200000, evs, 16, &n, &err) < 0)
                rc = fail(&err);
        }
        if (rc == 0 && !(f = hvf_driver_fleet(c, &err)))
            rc = fail(&err);
        if (rc == 0) {
            v = hvf_fleet_find_vm(f, argv[3]);
            printf("{\"vm\":\"%s\",\"dirty_bytes_per_s\":%.0f}\n", argv[3],
                   v >= 0 ? f->vms[v].dirty_bytes_per_s : -1.0);
            hvf_fleet_free(f);
        }
    } else if (strcmp(argv[2], "start") == 0 && argc == 5) {
        if (hvf_driver_vm_start(c, argv[3], argv[4], &err) < 0)
            rc = fail(&err);
        else
            rc = poll_until(c, 120000000, is_vm_state, argv[3]);
        print_lists(c);
    } else if ((strcmp(argv[2], "stop") == 0 || strcmp(argv[2], "destroy") == 0) && argc == 4) {
        int r = argv[2][0] == 's' ? hvf_driver_vm_stop(c, argv[3], 2000000, &err)
                                  : hvf_driver_vm_destroy(c, argv[3], &err);

        rc = r < 0 ? fail(&err) : poll_until(c, 60000000, is_vm_state, argv[3]);
        print_lists(c);
    } else {
        fprintf(stderr, "lv-drive: unknown command '%s' or wrong arguments\n", argv[2]);
        rc = 2;
    }
    hvf_driver_close(c);
    return rc;
}
