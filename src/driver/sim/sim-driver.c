/* SPDX-License-Identifier: MIT */
/*
 * The sim driver: the twin behind the driver table. The twin runs in virtual time (or scaled
 * wall time); jobs map onto the twin's migrations; deviations from a file are injected at their
 * times. Its world (placement, host and VM states, jobs, clock) is written to a file after
 * every change, so that a caller killed at any instant finds the fleet as it was left, as it
 * would find real hosts: in-flight migrations restart their model from the first pass on
 * reopen, with the same job id and claim (the twin's internal state is not serialised).
 * A VM defined or undefined changes the world: the twin, whose arrays are fixed, is built again
 * from it as on reopen, so neither is allowed while a migration is in flight.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver/sim/sim-driver.h"
#include "driver/sim/sim-world.h"
#include "hvfleet/alloc.h"
#include "hvfleet/generate.h"
#include "hvfleet/inventory.h"
#include "hvfleet/sim.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"

/* The twin's run length: far beyond any maintenance, small enough for integer microseconds. */
#define SD_HORIZON_US (3650LL * 86400 * 1000000)
#define SD_DEFAULT_MAINT_US (300LL * 1000000)

static sd_priv *
sd(hvf_conn *conn)
{
    return conn->priv;
}

/* ---- events from the twin ---- */

static void
sd_queue(sd_priv *p, const hvf_drv_event *ev)
{
    hvf_grow(&p->q, &p->qcap, p->nq + 1, sizeof(*p->q));
    p->q[p->nq++] = *ev;
    p->dirty = true;
}

static sd_job *
sd_job_of_mig(sd_priv *p, int32_t mig)
{
    /* the twin reuses migration ids: a job keeps its id until its end event clears it */
    for (size_t i = 0; i < p->njobs; i++) {
        if (p->jobs[i].mig == mig && mig >= 0)
            return &p->jobs[i];
    }
    return NULL;
}

static void
sd_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    sd_priv *p = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_drv_event out;
    sd_job *j;

    memset(&out, 0, sizeof(out));
    out.t_us = p->base_us + ev->t_us;
    out.job = -1;
    switch (ev->type) {
    case HVF_SIM_EV_MIGRATION_END:
    case HVF_SIM_EV_MIGRATION_ABORT:
        if (!(j = sd_job_of_mig(p, ev->migration)))
            return;
        if (ev->type == HVF_SIM_EV_MIGRATION_END) {
            hvf_sim_migration_info info;
            hvf_error err = HVF_ERROR_INIT;

            j->state = HVF_JOB_COMPLETED;
            if (hvf_sim_migration_result(sim, ev->migration, &info, &err) == 0) {
                j->downtime_us = info.downtime_us;
                j->transferred = info.bytes_sent;
            }
        } else if (j->state != HVF_JOB_CANCELLED && j->state != HVF_JOB_FAILED) {
            j->state = HVF_JOB_FAILED;
            if (!j->error[0])
                snprintf(j->error, sizeof(j->error), "%s",
                         hvf_sim_vm_state_get(sim, j->vm) == HVF_SIM_VM_CRASHED
                             ? "the VM crashed"
                             : "the migration was aborted (completion timeout or a host lost)");
        }
        j->ended_us = out.t_us;
        j->mig = -1;
        out.type = HVF_DRV_EV_JOB_DONE;
        out.job = j->id;
        out.job_state = j->state;
        hvf_strlcpy(out.vm, f->vms[j->vm].name, sizeof(out.vm));
        hvf_strlcpy(out.host, f->hosts[j->dst].name, sizeof(out.host));
        sd_queue(p, &out);
        return;
    case HVF_SIM_EV_HOST_CRASH:
        out.type = HVF_DRV_EV_HOST_LOST;
        hvf_strlcpy(out.host, f->hosts[ev->host].name, sizeof(out.host));
        p->maint_until[ev->host] = -1;
        if (sd_reachable(p, ev->host)) /* else the controller lost it already */
            sd_queue(p, &out);
        return;
    case HVF_SIM_EV_HOST_IN_SERVICE:
        out.type = HVF_DRV_EV_HOST_BACK;
        hvf_strlcpy(out.host, f->hosts[ev->host].name, sizeof(out.host));
        p->maint_until[ev->host] = -1;
        if (sd_reachable(p, ev->host)) /* else it is back once in reach */
            sd_queue(p, &out);
        return;
    case HVF_SIM_EV_VM_DOWN:
        out.type = HVF_DRV_EV_VM_STATE;
        hvf_strlcpy(out.vm, f->vms[ev->vm].name, sizeof(out.vm));
        hvf_strlcpy(out.host, f->hosts[hvf_sim_vm_host(sim, ev->vm)].name, sizeof(out.host));
        out.vm_state = HVF_DRV_VM_CRASHED;
        sd_queue(p, &out);
        return;
    case HVF_SIM_EV_VM_UP:
        out.type = HVF_DRV_EV_VM_STATE;
        hvf_strlcpy(out.vm, f->vms[ev->vm].name, sizeof(out.vm));
        hvf_strlcpy(out.host, f->hosts[ev->host].name, sizeof(out.host));
        out.vm_state = HVF_DRV_VM_RUNNING;
        sd_queue(p, &out);
        return;
    default:
        return;
    }
}

/* ---- controller partitions ---- */

static bool
sd_twin_host_up(sd_priv *p, int32_t h)
{
    hvf_sim_host_state st = hvf_sim_host_state_get(p->sim, h);

    return st != HVF_SIM_HOST_DOWN && st != HVF_SIM_HOST_QUARANTINED;
}

static void
sd_host_event(sd_priv *p, hvf_drv_event_type type, int32_t h)
{
    hvf_drv_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.t_us = p->base_us + hvf_sim_now(p->sim);
    ev.job = -1;
    hvf_strlcpy(ev.host, p->fleet->hosts[h].name, sizeof(ev.host));
    sd_queue(p, &ev);
}

void
sd_partition(sd_priv *p, int32_t h, int64_t until_us)
{
    bool was = sd_reachable(p, h);

    if (!was && p->unreach_until[h] >= until_us)
        return; /* a partition that holds longer is in force */
    p->unreach_until[h] = until_us;
    p->dirty = true;
    if (was && sd_twin_host_up(p, h))
        sd_host_event(p, HVF_DRV_EV_HOST_LOST, h);
}

void
sd_partitions_heal(sd_priv *p)
{
    int64_t now = p->base_us + hvf_sim_now(p->sim);

    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        if (p->unreach_until[h] < 0 || p->unreach_until[h] > now)
            continue;
        p->unreach_until[h] = -1;
        p->dirty = true;
        if (sd_twin_host_up(p, (int32_t)h) &&
            hvf_sim_host_state_get(p->sim, (int32_t)h) != HVF_SIM_HOST_MAINTENANCE)
            sd_host_event(p, HVF_DRV_EV_HOST_BACK, (int32_t)h);
    }
}

/* HVF_ERR_CONFLICT for a host out of the controller's reach: no command gets to it. */
static int
sd_check_reach(sd_priv *p, int32_t h, hvf_error *err)
{
    if (sd_reachable(p, h))
        return 0;
    hvf_error_set(err, HVF_ERR_CONFLICT,
                  "host '%s' is out of the controller's reach (a controller partition)",
                  p->fleet->hosts[h].name);
    return -1;
}

/* ---- the twin, built from the world ---- */

int
sd_twin_build(sd_priv *p, hvf_error *err)
{
    hvf_sim_controller ctl = {.name = "sim-driver", .ctx = p, .on_event = sd_on_event};
    hvf_sim_params prm;

    hvf_sim_params_default(&prm);
    prm.duration_us = SD_HORIZON_US;
    prm.metrics_interval_us = 0;
    prm.record_events = false;
    prm.record_host_series = false;
    prm.seed = p->seed;
    if (p->nic_share > 0)
        prm.migration_nic_share = p->nic_share;
    prm.vm_restart_off = p->controller_restarts;
    p->sim = hvf_sim_new(p->fleet, &prm, NULL, 0);
    hvf_sim_set_name(p->sim, "sim-driver");
    hvf_sim_set_controller(p->sim, &ctl);
    return sd_world_restore_twin(p, err);
}

static int64_t
sd_now(hvf_conn *conn)
{
    sd_priv *p = sd(conn);

    return p->base_us + hvf_sim_now(p->sim);
}

/* ---- deviations due now ---- */

static void
sd_apply_deviations(sd_priv *p)
{
    int64_t now = p->base_us + hvf_sim_now(p->sim);

    while (p->next_dev < p->ndevs && p->devs[p->next_dev].at_us <= now) {
        sd_deviation_apply(p, &p->devs[p->next_dev]);
        p->next_dev++;
        p->dirty = true;
    }
}

/* Changes whose apply time is over: applied (or rolled back), and said so. */
static void
sd_finish_applies(sd_priv *p)
{
    int64_t now = p->base_us + hvf_sim_now(p->sim);

    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        hvf_drv_event ev;

        if (p->apply_until[h] < 0 || p->apply_until[h] > now)
            continue;
        p->apply_until[h] = -1;
        if (p->applying_rollback[h])
            p->change[h][0] = '\0';
        p->applying_rollback[h] = false;
        memset(&ev, 0, sizeof(ev));
        ev.type = HVF_DRV_EV_CHANGE_DONE;
        ev.t_us = now;
        ev.job = -1;
        hvf_strlcpy(ev.host, p->fleet->hosts[h].name, sizeof(ev.host));
        sd_queue(p, &ev);
    }
}

/* Planned failures: a job of a VM marked to fail is cancelled once set up, reported FAILED. */
static void
sd_fail_planned(sd_priv *p)
{
    size_t pending = 0;

    if (p->nfail_pending == 0)
        return;
    for (size_t i = 0; i < p->njobs; i++) {
        sd_job *j = &p->jobs[i];
        hvf_error err = HVF_ERROR_INIT;

        if (sd_job_ended(j) || !j->fail_at_us)
            continue;
        if (p->base_us + hvf_sim_now(p->sim) < j->fail_at_us) {
            pending++;
            continue;
        }
        snprintf(j->error, sizeof(j->error), "injected failure (deviation migration-fail)");
        j->state = HVF_JOB_FAILED; /* the abort event keeps FAILED */
        if (j->mig >= 0 && hvf_sim_cancel_migration(p->sim, j->mig, "injected failure", &err) < 0)
            j->fail_at_us = 0;
    }
    p->nfail_pending = pending;
}

static int64_t
sd_next_wake(sd_priv *p)
{
    int64_t t = hvf_sim_next_event_us(p->sim);

    t = t == INT64_MAX ? INT64_MAX : p->base_us + t;
    if (p->next_dev < p->ndevs && p->devs[p->next_dev].at_us < t)
        t = p->devs[p->next_dev].at_us;
    for (size_t i = 0; p->nfail_pending && i < p->njobs; i++) {
        if (!sd_job_ended(&p->jobs[i]) && p->jobs[i].fail_at_us && p->jobs[i].fail_at_us < t)
            t = p->jobs[i].fail_at_us;
    }
    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        if (p->apply_until[h] >= 0 && p->apply_until[h] < t)
            t = p->apply_until[h];
        if (p->unreach_until[h] >= 0 && p->unreach_until[h] < t)
            t = p->unreach_until[h];
    }
    return t;
}

static void
sd_sleep_us(int64_t us)
{
    struct timespec ts;

    if (us <= 0)
        return;
    ts.tv_sec = (time_t)(us / 1000000);
    ts.tv_nsec = (long)(us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int
sd_poll(hvf_conn *conn, int64_t max_wait_us, hvf_drv_event *evs, size_t cap, size_t *nevs,
        hvf_error *err)
{
    sd_priv *p = sd(conn);
    int64_t now = sd_now(conn), until = now + max_wait_us;

    sd_apply_deviations(p);
    sd_fail_planned(p);
    sd_finish_applies(p);
    sd_partitions_heal(p);
    /* Event by event, so that the caller hears of the first one without the clock running on. */
    while (p->nq == 0) {
        int64_t next = sd_next_wake(p);
        int64_t to = next < until ? next : until;

        if (p->speed > 0)
            sd_sleep_us((int64_t)((double)(to - sd_now(conn)) / p->speed));
        hvf_sim_run_until(p->sim, to - p->base_us);
        sd_apply_deviations(p);
        sd_fail_planned(p);
        sd_finish_applies(p);
        sd_partitions_heal(p);
        if (to >= until)
            break;
    }
    *nevs = p->nq < cap ? p->nq : cap;
    if (*nevs) {
        memcpy(evs, p->q, *nevs * sizeof(*evs));
        memmove(p->q, p->q + *nevs, (p->nq - *nevs) * sizeof(*p->q));
        p->nq -= *nevs;
    }
    return sd_world_save(p, err);
}

/* ---- queries ---- */

static hvf_drv_host_state
sd_host_state(sd_priv *p, int32_t h)
{
    switch (hvf_sim_host_state_get(p->sim, h)) {
    case HVF_SIM_HOST_ACTIVE:
        return HVF_DRV_HOST_ACTIVE;
    case HVF_SIM_HOST_EVACUATING:
        return HVF_DRV_HOST_DRAINING;
    case HVF_SIM_HOST_MAINTENANCE:
        return HVF_DRV_HOST_MAINTENANCE;
    default:
        return HVF_DRV_HOST_DOWN;
    }
}

static hvf_drv_vm_state
sd_vm_state(sd_priv *p, int32_t v)
{
    switch (hvf_sim_vm_state_get(p->sim, v)) {
    case HVF_SIM_VM_RUNNING:
        return HVF_DRV_VM_RUNNING;
    case HVF_SIM_VM_MIGRATING:
        return HVF_DRV_VM_MIGRATING;
    case HVF_SIM_VM_PAUSED:
        return HVF_DRV_VM_PAUSED;
    case HVF_SIM_VM_STOPPED:
        return HVF_DRV_VM_STOPPED;
    default:
        return HVF_DRV_VM_CRASHED;
    }
}

static long
sd_list_hosts(hvf_conn *conn, hvf_drv_host **out, hvf_error *err)
{
    sd_priv *p = sd(conn);
    const hvf_fleet *f = hvf_sim_fleet(p->sim);
    hvf_drv_host *a = hvf_calloc(f->nhosts ? f->nhosts : 1, sizeof(*a));

    for (size_t i = 0; i < f->nhosts; i++) {
        hvf_resources u = hvf_host_usable(&f->hosts[i]);

        hvf_strlcpy(a[i].name, f->hosts[i].name, sizeof(a[i].name));
        /* a crashed host is powered off: down, and known to run nothing; one out of reach is
         * down to the controller, whatever it runs */
        a[i].off = !sd_twin_host_up(p, (int32_t)i);
        a[i].state = sd_reachable(p, (int32_t)i) ? sd_host_state(p, (int32_t)i)
                                                 : HVF_DRV_HOST_DOWN;
        a[i].usable_mib = u.mem_mib;
        a[i].vcpus = u.vcpus;
        a[i].used_mib = f->hosts[i].used.mem_mib;
        a[i].used_vcpus = f->hosts[i].used.vcpus;
        hvf_strlcpy(a[i].change, p->change[i], sizeof(a[i].change));
        a[i].applying = p->apply_until[i] >= 0;
    }
    *out = a;
    return (long)f->nhosts;
}

static long
sd_list_vms(hvf_conn *conn, hvf_drv_vm **out, hvf_error *err)
{
    sd_priv *p = sd(conn);
    const hvf_fleet *f = hvf_sim_fleet(p->sim);
    hvf_drv_vm *a = hvf_calloc(f->nvms ? f->nvms : 1, sizeof(*a));

    for (size_t i = 0; i < f->nvms; i++) {
        int32_t h = hvf_sim_vm_host(p->sim, (int32_t)i);
        sd_job *j = sd_job_of_vm(p, (int32_t)i);

        hvf_strlcpy(a[i].name, f->vms[i].name, sizeof(a[i].name));
        hvf_strlcpy(a[i].host, h >= 0 ? f->hosts[h].name : "", sizeof(a[i].host));
        a[i].state = sd_vm_state(p, (int32_t)i);
        a[i].mem_mib = f->vms[i].mem_mib;
        a[i].vcpus = f->vms[i].vcpus;
        a[i].job = j ? j->id : -1;
    }
    *out = a;
    return (long)f->nvms;
}

static hvf_fleet *
sd_fleet(hvf_conn *conn, hvf_error *err)
{
    sd_priv *p = sd(conn);

    return sd_world_fleet_now(p);
}

static int32_t
sd_host(sd_priv *p, const char *name, hvf_error *err)
{
    int32_t h = hvf_fleet_find_host(hvf_sim_fleet(p->sim), name);

    if (h < 0)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "host '%s' is not in the sim driver's fleet", name);
    return h;
}

static int32_t
sd_vm(sd_priv *p, const char *name, hvf_error *err)
{
    int32_t v = hvf_fleet_find_vm(hvf_sim_fleet(p->sim), name);

    if (v < 0)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "VM '%s' is not in the sim driver's fleet", name);
    return v;
}

/* ---- actions ---- */

static int
sd_done(sd_priv *p, int rc, hvf_error *err)
{
    if (rc < 0)
        return -1;
    p->dirty = true;
    return sd_world_save(p, err);
}

static int
sd_host_set_state(hvf_conn *conn, const char *host, hvf_drv_host_state state, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t h = sd_host(p, host, err);
    hvf_sim_host_state want;

    if (h < 0 || sd_check_reach(p, h, err) < 0)
        return -1;
    switch (state) {
    case HVF_DRV_HOST_ACTIVE:
        want = HVF_SIM_HOST_ACTIVE;
        break;
    case HVF_DRV_HOST_DRAINING:
        want = HVF_SIM_HOST_EVACUATING;
        break;
    default:
        hvf_error_set(err, HVF_ERR_INVALID,
                      "host '%s': only active and draining can be set; maintenance comes with "
                      "its action",
                      host);
        return -1;
    }
    if (hvf_sim_host_state_get(p->sim, h) == HVF_SIM_HOST_MAINTENANCE &&
        want == HVF_SIM_HOST_ACTIVE)
        return 0; /* it returns by itself when its maintenance ends */
    return sd_done(p, hvf_sim_set_host_state(p->sim, h, want, err), err);
}

static int
sd_host_maintain(hvf_conn *conn, const char *host, const char *command, int64_t expected_us,
                 int64_t timeout_us, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t h = sd_host(p, host, err);
    int64_t d;

    if (h < 0 || sd_check_reach(p, h, err) < 0)
        return -1;
    d = expected_us > 0 ? expected_us : p->maint_default_us;
    d = (int64_t)llround((double)d * p->maint_factor[h]);
    if (hvf_sim_begin_maintenance(p->sim, h, d, err) < 0)
        return -1;
    p->maint_until[h] = sd_now(conn) + d;
    return sd_done(p, 0, err);
}

static int
sd_vm_start(hvf_conn *conn, const char *vm, const char *host, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t v = sd_vm(p, vm, err), h = v < 0 ? -1 : sd_host(p, host, err);
    bool crashed;

    if (h < 0 || sd_check_reach(p, h, err) < 0)
        return -1;
    crashed = hvf_sim_vm_state_get(p->sim, v) == HVF_SIM_VM_CRASHED;
    if (hvf_sim_start_vm(p->sim, v, h, err) < 0)
        return -1;
    if (crashed) { /* restarted, as the twin's own restarts say it */
        hvf_drv_event ev;

        memset(&ev, 0, sizeof(ev));
        ev.type = HVF_DRV_EV_VM_STATE;
        ev.t_us = sd_now(conn);
        ev.job = -1;
        hvf_strlcpy(ev.vm, vm, sizeof(ev.vm));
        hvf_strlcpy(ev.host, host, sizeof(ev.host));
        ev.vm_state = HVF_DRV_VM_RUNNING;
        sd_queue(p, &ev);
    }
    return sd_done(p, 0, err);
}

static int
sd_vm_stop(hvf_conn *conn, const char *vm, int64_t timeout_us, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t v = sd_vm(p, vm, err);

    if (v < 0 || sd_check_reach(p, hvf_sim_vm_host(p->sim, v), err) < 0)
        return -1;
    if (hvf_sim_vm_state_get(p->sim, v) == HVF_SIM_VM_STOPPED)
        return 0;
    return sd_done(p, hvf_sim_stop_vm(p->sim, v, err), err);
}

static int
sd_vm_destroy(hvf_conn *conn, const char *vm, hvf_error *err)
{
    return sd_vm_stop(conn, vm, 0, err); /* the twin has no clean shutdown to skip */
}

static int64_t
sd_migrate(hvf_conn *conn, const char *vm, const char *target, const hvf_migrate_job_params *mp,
           hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t v = sd_vm(p, vm, err), h = v < 0 ? -1 : sd_host(p, target, err);
    hvf_sim_migrate_opts o = {0};
    int32_t mig;
    sd_job *j;

    if (h < 0 || sd_check_reach(p, h, err) < 0 ||
        sd_check_reach(p, hvf_sim_vm_host(p->sim, v), err) < 0)
        return -1;
    o.claim = true;
    o.max_bytes_per_s = mp->max_bytes_per_s;
    o.downtime_limit_us = mp->downtime_limit_us;
    o.strategy = mp->auto_converge ? HVF_SIM_STRATEGY_AUTO_CONVERGE : HVF_SIM_STRATEGY_PRECOPY;
    mig = hvf_sim_start_migration(p->sim, v, h, &o, err);
    if (mig < 0)
        return -1;
    j = sd_job_add(p, v, hvf_sim_vm_host(p->sim, v), h, mp);
    j->mig = mig;
    j->started_us = sd_now(conn);
    if (p->fail_next[v]) {
        /* a deviation: this migration fails a little after its setup */
        j->fail_at_us = j->started_us + 2000000;
        p->fail_next[v] = false;
        p->nfail_pending++;
    }
    if (sd_done(p, 0, err) < 0)
        return -1;
    return j->id;
}

static int
sd_job_info(hvf_conn *conn, int64_t job, hvf_job_info *out, hvf_error *err)
{
    sd_priv *p = sd(conn);
    const hvf_fleet *f = hvf_sim_fleet(p->sim);
    sd_job *j = sd_job_get(p, job, err);

    if (!j)
        return -1;
    out->id = j->id;
    out->state = j->state;
    hvf_strlcpy(out->vm, f->vms[j->vm].name, sizeof(out->vm));
    hvf_strlcpy(out->source, f->hosts[j->src].name, sizeof(out->source));
    hvf_strlcpy(out->target, f->hosts[j->dst].name, sizeof(out->target));
    out->started_us = j->started_us;
    out->ended_us = sd_job_ended(j) ? j->ended_us : -1;
    out->total_bytes = f->vms[j->vm].mem_mib * (uint64_t)HVF_MIB;
    out->downtime_us = j->downtime_us;
    out->transferred_bytes = j->transferred;
    hvf_strlcpy(out->error, j->error, sizeof(out->error));
    if (!sd_job_ended(j) && j->mig >= 0) {
        hvf_sim_migration_progress pr;

        if (hvf_sim_migration_progress_get(p->sim, j->mig, &pr, err) < 0)
            return -1;
        out->state = pr.postcopy ? HVF_JOB_POSTCOPY
                                 : (pr.bytes_per_s > 0 || pr.transferred_bytes ? HVF_JOB_ACTIVE
                                                                                : HVF_JOB_SETUP);
        out->total_bytes = pr.total_bytes;
        out->remaining_bytes = pr.remaining_bytes;
        out->transferred_bytes = pr.transferred_bytes;
        out->dirty_bytes_per_s = pr.dirty_bytes_per_s;
        out->bytes_per_s = pr.bytes_per_s;
        out->dirty_sync_count = pr.dirty_sync_count;
        out->expected_downtime_us = pr.expected_downtime_us;
        out->throttle_pct = pr.throttle_pct;
    }
    return 0;
}

static int
sd_job_postcopy(hvf_conn *conn, int64_t job, hvf_error *err)
{
    sd_priv *p = sd(conn);
    sd_job *j = sd_job_get(p, job, err);

    if (!j)
        return -1;
    if (sd_job_ended(j) || j->mig < 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " is %s: nothing to switch", job,
                      hvf_job_state_names[j->state]);
        return -1;
    }
    if (!j->postcopy_allowed) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "job %" PRId64 " was started without post-copy allowed", job);
        return -1;
    }
    return sd_done(p, hvf_sim_migration_start_postcopy(p->sim, j->mig, err), err);
}

static int
sd_job_cancel(hvf_conn *conn, int64_t job, hvf_error *err)
{
    sd_priv *p = sd(conn);
    sd_job *j = sd_job_get(p, job, err);

    if (!j)
        return -1;
    if (sd_job_ended(j) || j->mig < 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " is %s: nothing to cancel", job,
                      hvf_job_state_names[j->state]);
        return -1;
    }
    j->state = HVF_JOB_CANCELLED;
    snprintf(j->error, sizeof(j->error), "cancelled");
    return sd_done(p, hvf_sim_cancel_migration(p->sim, j->mig, "cancelled by the executor", err),
                   err);
}

static int
sd_host_apply(hvf_conn *conn, const char *host, const char *change, bool rollback,
              int64_t expected_us, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t h = sd_host(p, host, err);
    hvf_sim_host_state st;

    if (h < 0 || sd_check_reach(p, h, err) < 0)
        return -1;
    st = hvf_sim_host_state_get(p->sim, h);
    if (st != HVF_SIM_HOST_ACTIVE && st != HVF_SIM_HOST_EVACUATING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: no change can be applied", host,
                      hvf_sim_host_state_names[st]);
        return -1;
    }
    if (p->apply_until[h] >= 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is already applying '%s'", host,
                      p->change[h]);
        return -1;
    }
    if (strlen(change) >= sizeof(p->change[h])) {
        hvf_error_set(err, HVF_ERR_INVALID, "change name '%s': expected at most %zu characters",
                      change, sizeof(p->change[h]) - 1);
        return -1;
    }
    if (!rollback)
        hvf_strlcpy(p->change[h], change, sizeof(p->change[h]));
    p->applying_rollback[h] = rollback;
    p->apply_until[h] = sd_now(conn) + expected_us;
    p->applies[h]++;
    return sd_done(p, 0, err);
}

/* Healthy clients see a couple of milliseconds; a change that breaks the host (a deviation)
 * blocks their IO and answers nothing until it is rolled back. */
static int
sd_host_health(hvf_conn *conn, const char *host, hvf_drv_health *out, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t h = sd_host(p, host, err);
    bool broken;

    if (h < 0)
        return -1;
    broken = p->change_breaks[h] && p->change[h][0] && !p->applying_rollback[h];
    out->up = sd_reachable(p, h) && (hvf_sim_host_state_get(p->sim, h) == HVF_SIM_HOST_ACTIVE ||
                                     hvf_sim_host_state_get(p->sim, h) == HVF_SIM_HOST_EVACUATING);
    out->client_io_latency_us = !out->up ? INT64_MAX : broken ? 30LL * 1000000 : 2000;
    out->answered = out->up && !broken ? 1.0 : 0.0;
    return 0;
}

static int
sd_job_forget(hvf_conn *conn, int64_t job, hvf_error *err)
{
    sd_priv *p = sd(conn);
    sd_job *j = sd_job_get(p, job, err);

    if (!j)
        return -1;
    if (!sd_job_ended(j)) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " is still %s: it cannot be forgotten",
                      job, hvf_job_state_names[j->state]);
        return -1;
    }
    if (!j->forgotten) {
        j->forgotten = true;
        p->dirty = true;
    }
    return 0;
}

/* ---- VMs defined and undefined ---- */

/*
 * A new VM, stopped on an active host with room for it now (running VMs and claims; a stopped
 * VM holds nothing in the twin). The twin cannot grow, so it is built again from the world with
 * the VM in it, as a reopen would build it: refused while a migration is in flight (and while a
 * host is down that a deviation brings back later), see sd_world_vm_add.
 */
static int
sd_vm_define(hvf_conn *conn, const hvf_drv_vm_spec *spec, const char *host, hvf_error *err)
{
    sd_priv *p = sd(conn), *n;
    const hvf_fleet *f = hvf_sim_fleet(p->sim);
    int32_t h, v;
    hvf_drv_host_state st;
    hvf_resources room;
    char lacks[160] = "";

    if (!hvf_name_is_valid(spec->name)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "VM name '%s': expected 1 to %d characters of A-Z a-z 0-9 . _ -", spec->name,
                      HVF_NAME_MAX);
        return -1;
    }
    if ((v = hvf_fleet_find_vm(f, spec->name)) >= 0) {
        int32_t on = hvf_sim_vm_host(p->sim, v);

        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' already exists (on host '%s')", spec->name,
                      on >= 0 ? f->hosts[on].name : "");
        return -1;
    }
    if ((h = sd_host(p, host, err)) < 0)
        return -1;
    if (spec->service[0] && hvf_fleet_find_service(f, spec->service) < 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND,
                      "VM '%s': service '%s' is not in the sim driver's fleet", spec->name,
                      spec->service);
        return -1;
    }
    if ((st = sd_host_state(p, h)) != HVF_DRV_HOST_ACTIVE) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "host '%s' is %s: it takes no new VM ('%s'); expected an active host", host,
                      hvf_drv_host_state_names[st], spec->name);
        return -1;
    }
    room = hvf_host_free(&f->hosts[h]);
    if (spec->mem_mib > room.mem_mib)
        snprintf(lacks, sizeof(lacks), "%" PRIu64 " MiB of memory free, %" PRIu64 " needed",
                 room.mem_mib, spec->mem_mib);
    if (spec->vcpus > room.vcpus)
        snprintf(lacks + strlen(lacks), sizeof(lacks) - strlen(lacks),
                 "%s%" PRIu32 " vCPUs free, %" PRIu32 " needed", lacks[0] ? " and " : "",
                 room.vcpus, spec->vcpus);
    if (lacks[0]) {
        hvf_error_set(err, HVF_ERR_CAPACITY, "host '%s' has no room for VM '%s': %s", host,
                      spec->name, lacks);
        return -1;
    }
    if (!(n = sd_world_vm_add(p, spec, h, err)))
        return -1;
    conn->priv = n;
    return sd_done(n, 0, err);
}

/* Removes a stopped VM: the twin is built again without it (see sd_vm_define). */
static int
sd_vm_undefine(hvf_conn *conn, const char *vm, hvf_error *err)
{
    sd_priv *p = sd(conn), *n;
    int32_t v = sd_vm(p, vm, err);
    hvf_drv_vm_state st;

    if (v < 0)
        return -1;
    if ((st = sd_vm_state(p, v)) != HVF_DRV_VM_STOPPED) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "VM '%s' is %s: only a stopped VM can be undefined (stop it first)", vm,
                      hvf_drv_vm_state_names[st]);
        return -1;
    }
    if (!(n = sd_world_vm_remove(p, v, err)))
        return -1;
    conn->priv = n;
    return sd_done(n, 0, err);
}

/*
 * @host was fenced (a fence command succeeded): a host the twin runs is powered off now, its
 * VMs crashed (each a vm_state event); one already off stays so. HVF_ERR_CONFLICT for a host
 * the controller sees up.
 */
static int
sd_host_fenced(hvf_conn *conn, const char *host, hvf_error *err)
{
    sd_priv *p = sd(conn);
    int32_t h = sd_host(p, host, err);
    hvf_sim_fault fault;

    if (h < 0)
        return -1;
    if (sd_reachable(p, h) && sd_twin_host_up(p, h)) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s, not down: nothing to fence", host,
                      hvf_drv_host_state_names[sd_host_state(p, h)]);
        return -1;
    }
    if (!sd_twin_host_up(p, h))
        return 0;
    memset(&fault, 0, sizeof(fault));
    fault.type = HVF_SIM_FAULT_HOST_CRASH;
    fault.host = h;
    fault.rack = fault.vm = -1;
    fault.duration_us = -1;
    fault.fixed_after_us = -1;
    return sd_done(p, hvf_sim_inject_fault(p->sim, &fault, err), err);
}

/* ---- open and close ---- */

static int
sd_open(hvf_conn *conn, const char *uri, const hvf_driver_opts *opts, hvf_error *err)
{
    sd_priv *p = HVF_NEW(sd_priv);

    conn->priv = p;
    p->speed = opts->speed;
    p->nic_share = opts->migration_nic_share > 0 && opts->migration_nic_share <= 1
                       ? opts->migration_nic_share
                       : 0;
    p->maint_default_us = SD_DEFAULT_MAINT_US;
    p->controller_restarts = opts->controller_restarts;
    p->may_act = opts->may_act;
    p->may_act_ctx = opts->may_act_ctx;
    if (sd_uri_parse(p, uri, opts, err) < 0 || sd_world_open(p, err) < 0) {
        sd_priv_free(p);
        conn->priv = NULL;
        return -1;
    }
    return 0;
}

static void
sd_close(hvf_conn *conn)
{
    sd_priv *p = sd(conn);
    hvf_error err = HVF_ERROR_INIT;

    if (!p)
        return;
    (void)sd_world_save(p, &err);
    sd_priv_free(p);
    conn->priv = NULL;
}

const hvf_driver hvf_sim_driver = {
    .scheme = "sim",
    .open = sd_open,
    .close = sd_close,
    .now_us = sd_now,
    .poll = sd_poll,
    .list_hosts = sd_list_hosts,
    .list_vms = sd_list_vms,
    .fleet = sd_fleet,
    .host_set_state = sd_host_set_state,
    .host_maintain = sd_host_maintain,
    .vm_start = sd_vm_start,
    .vm_stop = sd_vm_stop,
    .vm_destroy = sd_vm_destroy,
    .migrate = sd_migrate,
    .job_info = sd_job_info,
    .job_postcopy = sd_job_postcopy,
    .job_cancel = sd_job_cancel,
    .job_forget = sd_job_forget,
    .host_apply = sd_host_apply,
    .host_health = sd_host_health,
    .vm_define = sd_vm_define,
    .vm_undefine = sd_vm_undefine,
    .host_fenced = sd_host_fenced,
};
