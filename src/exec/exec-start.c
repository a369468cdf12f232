/* SPDX-License-Identifier: MIT */
/*
 * Starting the executor's actions: the checks before each (freeze, approval, operator), then
 * hosts to drain, migrations, stops, maintenances, in the plan's order and under its limits.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"

/* ---- checks before every action ---- */

/* 0 when actions may start; -1 with x->note set (frozen, approval gone, operator). */
int
x_may_act(x_run *x, const char *action)
{
    hvf_store_freeze fz;
    hvf_store_run cur;
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_store_freeze_get(x->st, &fz, &err) < 0 || fz.frozen) {
        snprintf(x->note, sizeof(x->note),
                 "%s refused: the fleet is frozen by %.60s (%.200s); migrations in flight finish, "
                 "nothing new starts (state in %s)",
                 action, fz.frozen ? fz.by : "an unreadable store",
                 fz.frozen ? fz.reason : err.msg, hvf_store_path(x->st));
        x->note[sizeof(x->note) - 1] = '\0';
        return -1;
    }
    if (hvf_store_run_get(x->st, x->run.id, &cur, &err) == 1 &&
        cur.control != HVF_STORE_CONTROL_NONE) {
        x->run.control = cur.control;
        snprintf(x->note, sizeof(x->note), "%s refused: an operator asked the run to %s", action,
                 hvf_store_control_names[cur.control]);
        return -1;
    }
    if (x->approval_verdict == HVF_PLAN_VERDICT_REFUSED) {
        snprintf(x->note, sizeof(x->note), "%s refused: the seatbelt refused the plan", action);
        return -1;
    }
    if (x->approval_verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL) {
        hvf_store_approval *a = NULL;
        long n = hvf_store_approvals(x->st, x->approval_hash, &a, &err);

        free(a);
        if (n <= 0) {
            snprintf(x->note, sizeof(x->note),
                     "%s refused: plan %.12s needs an approval and has none (hvfleet approve; "
                     "state in %s)",
                     action, x->approval_hash, hvf_store_path(x->st));
            return -1;
        }
    }
    return 0;
}

/* ---- starting work ---- */

static bool
x_window_open(x_run *x)
{
    return x->policy.window_end_us <= 0 || x->now_us < x->policy.window_end_us;
}

static int
x_start_host(x_run *x, x_host *h, hvf_error *err)
{
    hvf_store_entry in;

    if (x_intent(x, "drain", NULL, h->name, NULL, h - x->hosts, &in, err) < 0)
        return -1;
    if (hvf_driver_host_set_state(x->conn, h->name, HVF_DRV_HOST_DRAINING, err) < 0) {
        char why[512];

        snprintf(why, sizeof(why), "%s", err->msg);
        hvf_error_clear(err);
        h->st = XH_FAILED;
        snprintf(h->reason, sizeof(h->reason), "could not start draining: %.200s", why);
        x_event(x, "host_failed", "\"host\":\"%s\",\"reason\":\"could not start draining\"",
                h->name);
        return x_outcome(x, &in, "failed", -1, why, err);
    }
    h->st = XH_DRAINING;
    h->evac_start_us = x->now_us;
    x_event(x, "host_draining", "\"host\":\"%s\"", h->name);
    return x_outcome(x, &in, "ok", -1, NULL, err);
}

/* The share of usable memory that may be offline at once: the seatbelt's threshold, or the
 * approved plan's own peak when a person approved more. */
static double
x_offline_limit(const x_run *x)
{
    /* the plan states its peak in whole ppm, rounded: one more keeps a third of a fleet of
     * three (333,333 ppm) from refusing the very host the plan approved */
    double approved = (double)(x->plan->summary.peak_capacity_offline_ppm + 1) / 1e6;

    return approved > x->policy.seatbelt.max_capacity_offline
               ? approved
               : x->policy.seatbelt.max_capacity_offline;
}

/* Hosts start in the plan's order while the limits allow. */
static const x_run *x_sort_run; /* for qsort's comparison; one executor per thread */

static int
x_host_cmp(const void *a, const void *b)
{
    const x_host *p = &x_sort_run->hosts[*(const size_t *)a];
    const x_host *q = &x_sort_run->hosts[*(const size_t *)b];

    if (p->pred_evac_start_us != q->pred_evac_start_us)
        return p->pred_evac_start_us < q->pred_evac_start_us ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int
x_start_hosts(x_run *x, hvf_error *err)
{
    const hvf_policy *pol = &x->policy;
    HVF_AUTOFREE size_t *order = hvf_calloc(x->nhosts + 1, sizeof(size_t));

    /* the plan in force's order (a re-plan may reorder the hosts left) */
    for (size_t i = 0; i < x->nhosts; i++)
        order[i] = i;
    x_sort_run = x;
    qsort(order, x->nhosts, sizeof(size_t), x_host_cmp);
    for (size_t oi = 0; oi < x->nhosts; oi++) {
        size_t i = order[oi];
        x_host *h = &x->hosts[i];
        const hvf_host *fh;
        uint32_t all, in_rack, in_zone;
        uint64_t offline;

        if (h->st != XH_PENDING)
            continue;
        if (h->idx < 0) {
            h->st = XH_FAILED;
            snprintf(h->reason, sizeof(h->reason), "not in the fleet the driver reports");
            continue;
        }
        /* the plan's order between hosts: one whose evacuation ended, in the plan, before this
         * one's started has ended it here too (it may run later than predicted) */
        for (size_t k = 0; k < x->nhosts; k++) {
            if (k != i && x->hosts[k].pred_evac_end_us <= h->pred_evac_start_us &&
                (x->hosts[k].st == XH_PENDING || x->hosts[k].st == XH_DRAINING))
                return 0;
        }
        /* a host the drains in progress still move VMs onto waits for them, as in the plan */
        for (size_t k = 0; k < x->nmigs; k++) {
            const x_mig *m = &x->migs[k];

            if (m->to_idx == h->idx && m->host >= 0 && m->host != (int32_t)i &&
                (m->st == XM_PENDING || m->st == XM_RUNNING) &&
                x->hosts[m->host].st == XH_DRAINING)
                return 0;
        }
        if (x->aborting || !x_window_open(x) || x->now_us < pol->window_start_us)
            return 0;
        fh = &x->fleet->hosts[h->idx];
        x_out_of_service(x, fh->rack, fh->zone, &all, &in_rack, &in_zone, &offline);
        if (all + 1 > pol->max_parallel_hosts ||
            (pol->max_parallel_per_rack && in_rack + 1 > pol->max_parallel_per_rack) ||
            (pol->max_parallel_per_zone && in_zone + 1 > pol->max_parallel_per_zone) ||
            (x->total_usable_mib &&
             (double)(offline + x->ledger[h->idx].usable_mib) / (double)x->total_usable_mib >
                 x_offline_limit(x) + 1e-9))
            return 0; /* the plan's order: the next host waits for this one */
        if (x_may_act(x, "draining a host") < 0)
            return 0;
        if (x_start_host(x, h, err) < 0)
            return -1;
    }
    return 0;
}

void
x_host_fail(x_run *x, x_host *h, const char *fmt, ...)
{
    va_list ap;

    if (h->st == XH_DONE || h->st == XH_FAILED)
        return;
    h->undrain = h->st == XH_DRAINING;
    if (h->st == XH_DRAINING && h->evac_end_us < 0)
        h->evac_end_us = x->now_us;
    h->st = XH_FAILED;
    va_start(ap, fmt);
    vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];

        if (m->st == XM_PENDING && m->host == (int32_t)(h - x->hosts)) {
            m->st = XM_SKIPPED;
            snprintf(m->reason, sizeof(m->reason), "its host is not maintained");
        }
    }
    for (size_t i = 0; i < x->nstops; i++) {
        if (x->stops[i].st == XS_PENDING && x->stops[i].host_x == (int32_t)(h - x->hosts)) {
            x->stops[i].st = XS_FAILED;
            snprintf(x->stops[i].reason, sizeof(x->stops[i].reason),
                     "not stopped: its host is not maintained");
        }
    }
    x_event(x, "host_failed", "\"host\":\"%s\",\"reason\":\"%s\"", h->name, h->reason);
}

/* Hosts that failed while draining go back into service: nothing is left half-done. */
int
x_return_failed(x_run *x, hvf_error *err)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *h = &x->hosts[i];
        hvf_store_entry in;
        int rc;

        if (!h->undrain || x->ledger[h->idx].mig_out)
            continue;
        if (x_intent(x, "undrain", NULL, h->name, NULL, (int64_t)i, &in, err) < 0)
            return -1;
        rc = hvf_driver_host_set_state(x->conn, h->name, HVF_DRV_HOST_ACTIVE, err);
        if (rc < 0 && err->code != HVF_ERR_CONFLICT)
            return -1;
        hvf_error_clear(err);
        h->undrain = false;
        x_event(x, "host_returned", "\"host\":\"%s\"", h->name);
        if (x_outcome(x, &in, rc == 0 ? "ok" : "failed", -1, NULL, err) < 0)
            return -1;
    }
    return 0;
}

/* May @m start now? (its source is draining, the VM's earlier moves are done, the target
 * takes VMs). */
static bool
x_mig_ready(x_run *x, size_t i)
{
    x_mig *m = &x->migs[i];

    if (m->host >= 0 && x->hosts[m->host].st != XH_DRAINING)
        return false;
    for (size_t k = 0; k < i; k++) {
        if (x->migs[k].vm_idx == m->vm_idx &&
            (x->migs[k].st == XM_PENDING || x->migs[k].st == XM_RUNNING))
            return false;
    }
    if (m->host < 0 && x->aborting)
        return false;
    /* the plan's order on the hosts it shares with others: a migration that ended, in the
     * plan, before this one started, from or to one of its hosts, has ended here too */
    for (size_t k = 0; k < x->nmigs; k++) {
        const x_mig *o = &x->migs[k];

        if ((o->st == XM_PENDING || o->st == XM_RUNNING) && k != i &&
            o->pred_end_us <= m->pred_start_us &&
            (o->from_idx == m->from_idx || o->to_idx == m->to_idx ||
             o->to_idx == m->from_idx || o->from_idx == m->to_idx))
            return false;
    }
    /* a target the plan maintains takes VMs before it drains or once it is back */
    for (size_t k = 0; k < x->nhosts; k++) {
        if (x->hosts[k].idx == m->to_idx &&
            (x->hosts[k].st == XH_DRAINING || x->hosts[k].st == XH_MAINTAINING ||
             x->hosts[k].undrain))
            return false;
    }
    return true;
}

void
x_mig_fail(x_run *x, x_mig *m, xm_state st, const char *fmt, ...)
{
    va_list ap;

    m->st = st;
    m->end_us = x->now_us;
    va_start(ap, fmt);
    vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
    va_end(ap);
    if (m->host >= 0 && st == XM_FAILED && x->hosts[m->host].st == XH_DRAINING) {
        /* The VM stays: its host cannot be emptied, so it is not maintained; it goes back
         * into service and the reason says why. */
        x_host_fail(x, &x->hosts[m->host], "not maintained: VM '%s' stays on it: %.180s", m->vm,
                    m->reason);
    }
    x_event(x, st == XM_FAILED ? "migration_failed" : "migration_skipped",
            "\"vm\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\"", m->vm, m->from,
            m->to, m->reason);
}

static int
x_start_mig(x_run *x, size_t i, hvf_error *err)
{
    x_mig *m = &x->migs[i];
    const hvf_vm *v;
    hvf_migrate_job_params mp = {0};
    hvf_store_entry in;
    int64_t job;

    if (m->vm_idx < 0 || m->from_idx < 0 || m->to_idx < 0) {
        x_mig_fail(x, m, XM_FAILED, "VM or host not in the fleet the driver reports");
        return 0;
    }
    v = &x->fleet->vms[m->vm_idx];
    if (x->ledger[m->from_idx].mig_out >= x->policy.max_migrations_out_per_host ||
        x->ledger[m->to_idx].mig_in >= x->policy.max_migrations_in_per_host)
        return 0;
    if (!x_ledger_fits(x, m->to_idx, v->mem_mib, v->vcpus, true))
        return 0; /* waits for room (a migration out of the target, a claim released) */
    /* The VM must still be where the plan found it, as the driver listed it at the last poll
     * (x_ledger_sync), and no migration of ours may hold it. */
    if (x->fleet->vms[m->vm_idx].host != m->from_idx ||
        x->vm_state[m->vm_idx] != HVF_DRV_VM_RUNNING || x->vm_mig[m->vm_idx] >= 0) {
        x_mig_fail(x, m, XM_FAILED, "VM '%s' is no longer running on '%s' as the plan found it",
                   m->vm, m->from);
        return 0;
    }
    if (x_may_act(x, "a migration") < 0)
        return 0;
    mp.max_bytes_per_s = x->policy.migration_bandwidth_bytes_per_s;
    mp.downtime_limit_us = x->policy.downtime_limit_us;
    mp.auto_converge = m->mode == HVF_PLAN_MIGRATION_AUTO_CONVERGE ||
                       (m->has_nc && m->nc == HVF_NON_CONVERGING_AUTO_CONVERGE);
    mp.postcopy_allowed = m->mode == HVF_PLAN_MIGRATION_POST_COPY ||
                          (m->has_nc && m->nc == HVF_NON_CONVERGING_POST_COPY);
    if (hvf_store_begin(x->st, err) < 0)
        return -1;
    if (x_intent(x, "migrate", m->vm, m->from, m->to, (int64_t)i, &in, err) < 0) {
        hvf_store_rollback(x->st);
        return -1;
    }
    {
        hvf_store_claim c = {0};

        hvf_strlcpy(c.vm, m->vm, sizeof(c.vm));
        hvf_strlcpy(c.host, m->to, sizeof(c.host));
        c.mem_mib = v->mem_mib;
        c.vcpus = v->vcpus;
        c.job = -1;
        if (hvf_store_claim_add(x->st, x->run.id, &c, err) < 0 ||
            hvf_store_commit(x->st, err) < 0) {
            hvf_store_rollback(x->st);
            return -1;
        }
    }
    x_ledger_claim(x, m);
    job = hvf_driver_migrate(x->conn, m->vm, m->to, &mp, err);
    if (job < 0) {
        char why[512];

        snprintf(why, sizeof(why), "%s", err->msg);
        hvf_error_clear(err);
        x_ledger_release(x, m);
        if (hvf_store_claim_drop(x->st, x->run.id, m->vm, err) < 0 ||
            x_outcome(x, &in, "failed", -1, why, err) < 0)
            return -1;
        x_mig_fail(x, m, XM_FAILED, "the driver refused it: %.200s", why);
        return 0;
    }
    m->st = XM_RUNNING;
    m->job = job;
    m->start_us = m->watch_us = x->now_us;
    m->best_remaining = UINT64_MAX;
    m->best_at_us = x->now_us;
    x->vm_mig[m->vm_idx] = (int32_t)i;
    x_event(x, "migration_start", "\"vm\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"job\":%" PRId64,
            m->vm, m->from, m->to, job);
    return x_outcome(x, &in, "started", job, NULL, err);
}

int
x_start_migs(x_run *x, hvf_error *err)
{
    for (size_t i = 0; i < x->nmigs; i++) {
        if (x->migs[i].st != XM_PENDING || !x_mig_ready(x, i))
            continue;
        if (x->aborting) {
            x_mig_fail(x, &x->migs[i], XM_SKIPPED, "the run was aborted");
            continue;
        }
        if (x_start_mig(x, i, err) < 0)
            return -1;
    }
    return 0;
}

/* The driver refused an action: its message goes into @why and into the outcome of @in, and
 * @err is free again. Returns 0, or -1 when the journal cannot be written. */
static int
x_driver_refused(x_run *x, const hvf_store_entry *in, char *why, size_t len, hvf_error *err)
{
    snprintf(why, len, "%s", err->msg);
    hvf_error_clear(err);
    return x_outcome(x, in, "failed", -1, why, err);
}

/* Stops (@start false) or starts again on @where a VM of stop @i, journalled; the ledger's
 * used memory follows until the driver's next figures. 0, or -1 when the journal fails. */
static int
x_stop_act(x_run *x, size_t i, bool start, const char *where, hvf_error *err)
{
    x_stop *s = &x->stops[i];
    hvf_store_entry in;
    char why[512];
    int rc;

    if (x_intent(x, start ? "start" : "stop", s->vm, where, NULL, (int64_t)i, &in, err) < 0)
        return -1;
    rc = start ? hvf_driver_vm_start(x->conn, s->vm, where, err)
               : hvf_driver_vm_stop(x->conn, s->vm, 120LL * 1000000, err);
    if (rc < 0) {
        if (x_driver_refused(x, &in, why, sizeof(why), err) < 0)
            return -1;
        s->st = XS_FAILED;
        snprintf(s->reason, sizeof(s->reason), "could not %s: %.200s",
                 start ? "start again" : "stop", why);
        return 0;
    }
    s->st = start ? XS_STARTED : XS_STOPPED;
    *(start ? &s->start_us : &s->stop_us) = x->now_us;
    if (s->vm_idx >= 0) {
        const hvf_vm *v = &x->fleet->vms[s->vm_idx];
        int32_t h = start ? hvf_fleet_find_host(x->fleet, where) : v->host;

        if (h >= 0 && start) {
            x->ledger[h].used_mib += v->mem_mib;
            x->ledger[h].used_vcpus += v->vcpus;
            x->fleet->vms[s->vm_idx].host = h;
        } else if (h >= 0) {
            x->ledger[h].used_mib -= v->mem_mib;
            x->ledger[h].used_vcpus -= v->vcpus;
        }
    }
    x_event(x, start ? "vm_started" : "vm_stopped", "\"vm\":\"%s\",\"host\":\"%s\"", s->vm,
            where);
    return x_outcome(x, &in, "ok", -1, NULL, err);
}

/* Stops of non-migratable VMs while their host drains; starts once it is maintained. */
int
x_run_stops(x_run *x, hvf_error *err)
{
    for (size_t i = 0; i < x->nstops; i++) {
        x_stop *s = &x->stops[i];
        xh_state hs = s->host_x >= 0 ? x->hosts[s->host_x].st : XH_DONE;

        if (s->st == XS_PENDING && hs == XH_DRAINING) {
            if (x_may_act(x, "stopping a VM") < 0)
                return 0;
            if (x_stop_act(x, i, false, s->host, err) < 0)
                return -1;
        } else if (s->st == XS_STOPPED && (hs == XH_DONE || hs == XH_FAILED)) {
            int32_t to = hvf_fleet_find_host(x->fleet, s->start_host);
            const char *where = hs == XH_FAILED ? s->host : s->start_host;

            if (x_may_act(x, "starting a VM") < 0)
                return 0;
            /* where the plan starts it has no room now: its own host, just maintained */
            if (to >= 0 && hs == XH_DONE && s->vm_idx >= 0 &&
                !x_ledger_fits(x, to, x->fleet->vms[s->vm_idx].mem_mib,
                               x->fleet->vms[s->vm_idx].vcpus, false))
                where = s->host;
            if (x_stop_act(x, i, true, where, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* A draining host with nothing left on it goes to maintenance (or, in a drain, is done). */
int
x_maintain_empty(x_run *x, hvf_error *err)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *h = &x->hosts[i];
        hvf_store_entry in;
        bool busy = false;

        if (h->st != XH_DRAINING)
            continue;
        for (size_t k = 0; k < x->nmigs && !busy; k++)
            busy = x->migs[k].host == (int32_t)i &&
                   (x->migs[k].st == XM_PENDING || x->migs[k].st == XM_RUNNING);
        for (size_t k = 0; k < x->nstops && !busy; k++)
            busy = x->stops[k].host_x == (int32_t)i && x->stops[k].st == XS_PENDING;
        if (busy || x->ledger[h->idx].mig_in || x->ledger[h->idx].mig_out)
            continue;
        if (x->ledger[h->idx].used_mib > 0 && h->extra_replans < 2) {
            /* the plan moved everything, yet VMs are there: they arrived behind the plan's
             * back (restarted after a crash elsewhere): plan their moves too */
            h->extra_replans++;
            x->want_replan = "VMs the plan did not know are on a host it drains";
            continue;
        }
        if (x->ledger[h->idx].used_mib > 0) {
            x_host_fail(x, h,
                        "not maintained: %" PRIu64 " MiB of VMs the plan did not move are on it",
                        x->ledger[h->idx].used_mib);
            continue;
        }
        h->evac_end_us = x->now_us;
        if (x->plan->kind != HVF_PLAN_KIND_MAINTENANCE) {
            h->st = XH_DONE;
            x_event(x, "host_drained", "\"host\":\"%s\"", h->name);
            if (x_note(x, "drained", NULL, h->name, "ok", (int64_t)i, NULL, err) < 0)
                return -1;
            continue;
        }
        if (x_may_act(x, "a host maintenance") < 0)
            return 0;
        if (x_intent(x, "maintain", NULL, h->name, NULL, (int64_t)i, &in, err) < 0)
            return -1;
        if (hvf_driver_host_maintain(x->conn, h->name, x->o->maintenance_command,
                                     h->pred_maint_end_us - h->pred_maint_start_us,
                                     x->o->maintenance_timeout_us, err) < 0) {
            char why[512];

            if (x_driver_refused(x, &in, why, sizeof(why), err) < 0)
                return -1;
            x_host_fail(x, h, "maintenance refused: %.200s", why);
            continue;
        }
        h->st = XH_MAINTAINING;
        h->maint_start_us = x->now_us;
        x_event(x, "host_maintenance", "\"host\":\"%s\"", h->name);
        if (x_outcome(x, &in, "ok", -1, NULL, err) < 0)
            return -1;
    }
    return 0;
}

