/* SPDX-License-Identifier: MIT */
/* What the drivers of real hosts share (driver-world.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/driver-world.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"

int64_t
hvf_drv_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
hvf_drv_evq_push(hvf_drv_evq *q, int64_t t_us, hvf_drv_event_type type, const char *host,
                 const char *vm, hvf_drv_vm_state vs, int64_t job, hvf_job_state js)
{
    hvf_drv_event *e;

    hvf_grow(&q->evs, &q->cap, q->n + 1, sizeof(*q->evs));
    e = &q->evs[q->n++];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->t_us = t_us;
    e->job = job;
    e->job_state = js;
    e->vm_state = vs;
    hvf_strlcpy(e->host, host ? host : "", sizeof(e->host));
    hvf_strlcpy(e->vm, vm ? vm : "", sizeof(e->vm));
}

size_t
hvf_drv_evq_take(hvf_drv_evq *q, hvf_drv_event *evs, size_t cap)
{
    size_t n = q->n < cap ? q->n : cap;

    if (!n)
        return 0;
    memcpy(evs, q->evs, n * sizeof(*evs));
    memmove(q->evs, q->evs + n, (q->n - n) * sizeof(*evs));
    q->n -= n;
    return n;
}

void
hvf_drv_evq_clear(hvf_drv_evq *q)
{
    free(q->evs);
    memset(q, 0, sizeof(*q));
}

long
hvf_drv_world_list_hosts(hvf_conn *conn, hvf_drv_host **out, hvf_error *err)
{
    const hvf_drv_world_view *w = conn->priv;
    const hvf_fleet *f = w->fleet;
    hvf_drv_host *a = hvf_calloc(f->nhosts ? f->nhosts : 1, sizeof(*a));

    (void)err;
    for (size_t i = 0; i < f->nhosts; i++) {
        hvf_resources u = hvf_host_usable(&f->hosts[i]);

        hvf_strlcpy(a[i].name, f->hosts[i].name, sizeof(a[i].name));
        a[i].state = w->host_state(w->ctx, i);
        a[i].usable_mib = u.mem_mib;
        a[i].vcpus = u.vcpus;
        a[i].used_mib = f->hosts[i].used.mem_mib;
        a[i].used_vcpus = f->hosts[i].used.vcpus;
    }
    *out = a;
    return (long)f->nhosts;
}

long
hvf_drv_world_list_vms(hvf_conn *conn, hvf_drv_vm **out, hvf_error *err)
{
    const hvf_drv_world_view *w = conn->priv;
    const hvf_fleet *f = w->fleet;
    hvf_drv_vm *a = hvf_calloc(f->nvms ? f->nvms : 1, sizeof(*a));

    (void)err;
    for (size_t i = 0; i < f->nvms; i++) {
        hvf_strlcpy(a[i].name, f->vms[i].name, sizeof(a[i].name));
        hvf_strlcpy(a[i].host, f->vms[i].host >= 0 ? f->hosts[f->vms[i].host].name : "",
                    sizeof(a[i].host));
        a[i].job = w->vm_job(w->ctx, i);
        a[i].state = a[i].job >= 0 ? HVF_DRV_VM_MIGRATING : w->vm_state(w->ctx, i);
        a[i].mem_mib = f->vms[i].mem_mib;
        a[i].vcpus = f->vms[i].vcpus;
    }
    *out = a;
    return (long)f->nvms;
}

hvf_fleet *
hvf_drv_world_fleet(hvf_conn *conn, hvf_error *err)
{
    const hvf_drv_world_view *w = conn->priv;
    hvf_fleet *f = hvf_fleet_dup(w->fleet);

    (void)err;

    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_drv_host_state s = w->host_state(w->ctx, h);

        f->hosts[h].state = s == HVF_DRV_HOST_MAINTENANCE ? HVF_HOST_STATE_MAINTENANCE
                            : s == HVF_DRV_HOST_DOWN      ? HVF_HOST_STATE_DOWN
                                                          : HVF_HOST_STATE_ACTIVE;
    }
    /* the twin predicts with what the hosts measured, not the inventory's guess */
    for (size_t v = 0; v < f->nvms; v++) {
        double d = w->vm_dirty(w->ctx, v);

        if (d >= 0)
            f->vms[v].dirty_bytes_per_s = d;
    }
    return f;
}

int
hvf_drv_host_transition(const char *host, hvf_drv_host_state cur, hvf_drv_host_state want,
                        hvf_error *err)
{
    if ((cur == HVF_DRV_HOST_ACTIVE && want == HVF_DRV_HOST_DRAINING) ||
        (cur == HVF_DRV_HOST_DRAINING && want == HVF_DRV_HOST_ACTIVE) ||
        (cur == HVF_DRV_HOST_MAINTENANCE && want == HVF_DRV_HOST_ACTIVE) || cur == want)
        return 0;
    hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: it cannot go %s", host,
                  hvf_drv_host_state_names[cur], hvf_drv_host_state_names[want]);
    return -1;
}

int
hvf_drv_world_may_maintain(const hvf_drv_world_view *w, int32_t h, hvf_error *err)
{
    const hvf_fleet *f = w->fleet;
    hvf_drv_host_state s = w->host_state(w->ctx, (size_t)h);

    if (s != HVF_DRV_HOST_DRAINING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: maintenance takes a drained host",
                      f->hosts[h].name, hvf_drv_host_state_names[s]);
        return -1;
    }
    for (size_t v = 0; v < f->nvms; v++) {
        hvf_drv_vm_state vs = w->vm_state(w->ctx, v);

        if (f->vms[v].host == h && vs != HVF_DRV_VM_STOPPED) {
            hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is not empty: VM '%s' is %s there",
                          f->hosts[h].name, f->vms[v].name, hvf_drv_vm_state_names[vs]);
            return -1;
        }
    }
    return 0;
}

int
hvf_drv_world_fence(const hvf_drv_world_view *w, int32_t h, void (*crash)(void *ctx, size_t v),
                    void *ctx, hvf_error *err)
{
    const hvf_fleet *f = w->fleet;
    hvf_drv_host_state s = w->host_state(w->ctx, (size_t)h);

    if (s != HVF_DRV_HOST_DOWN) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: only a lost host is fenced",
                      f->hosts[h].name, hvf_drv_host_state_names[s]);
        return -1;
    }
    for (size_t v = 0; v < f->nvms; v++) {
        hvf_drv_vm_state vs = w->vm_state(w->ctx, v);

        if (f->vms[v].host == h && vs != HVF_DRV_VM_STOPPED && vs != HVF_DRV_VM_CRASHED)
            crash(ctx, v);
    }
    return 0;
}

void
hvf_drv_vm_place(hvf_fleet *f, int32_t vm, int32_t host)
{
    hvf_vm *v = &f->vms[vm];
    hvf_resources r = hvf_vm_resources(v);
    hvf_error err = HVF_ERROR_INIT;

    if (v->host == host)
        return;
    /* the fleet counts what it holds: a release it holds cannot fail, a use overcommits */
    HVF_ASSERT(v->host < 0 || hvf_host_release_used(&f->hosts[v->host], &r, &err) == 0);
    HVF_ASSERT(hvf_host_use(&f->hosts[host], &r, HVF_OVERCOMMIT, &err) == 0);
    hvf_vm_moved(v, host);
}
