/* SPDX-License-Identifier: MIT */
/* What the driver reports during a run: jobs that end, hosts lost or back, progress watched
 * for stalls, timeouts, post-copy and lateness. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"

/* ---- events and progress from the driver ---- */

static x_mig *
x_mig_of_job(x_run *x, int64_t job)
{
    for (size_t i = 0; i < x->nmigs; i++) {
        if (x->migs[i].st == XM_RUNNING && x->migs[i].job == job)
            return &x->migs[i];
    }
    return NULL;
}

/* The job of @m ended with @state: ledger, journal, and what it means for its host. */
int
x_mig_ended(x_run *x, x_mig *m, hvf_job_state state, const char *why, hvf_error *err)
{
    hvf_job_info info;
    hvf_error ierr = HVF_ERROR_INIT;

    if (hvf_driver_job_info(x->conn, m->job, &info, &ierr) == 0)
        m->downtime_us = info.downtime_us;
    if (hvf_store_begin(x->st, err) < 0)
        return -1;
    if (hvf_store_claim_drop(x->st, x->run.id, m->vm, err) < 0 ||
        x_note(x, "migrated", m->vm, m->from, hvf_job_state_names[state], m->job,
               why && *why ? why : info.error, err) < 0 ||
        hvf_store_commit(x->st, err) < 0) {
        hvf_store_rollback(x->st);
        return -1;
    }
    x->vm_mig[m->vm_idx] = -1;
    /* its end is in the journal: the driver need not keep the job any longer */
    if (hvf_driver_job_forget(x->conn, m->job, err) < 0)
        return -1;
    if (state == HVF_JOB_COMPLETED) {
        x_ledger_complete(x, m);
        m->st = XM_DONE;
        m->end_us = x->now_us;
        x_event(x, "migration_end",
                "\"vm\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"duration_s\":%.3f,"
                "\"predicted_s\":%.3f,\"downtime_ms\":%.1f",
                m->vm, m->from, m->to, (double)(m->end_us - m->start_us) / 1e6,
                (double)(m->pred_end_us - m->pred_start_us) / 1e6, (double)m->downtime_us / 1e3);
        return 0;
    }
    x_ledger_release(x, m);
    if (m->has_nc && m->nc == HVF_NON_CONVERGING_SHUTDOWN && m->host >= 0 &&
        state != HVF_JOB_CANCELLED) {
        /* the policy allows shutting it down: it becomes a stop, started after maintenance */
        x_stop *s;

        x->stops = hvf_realloc(x->stops, (x->nstops + 1) * sizeof(*x->stops));
        s = &x->stops[x->nstops++];
        memset(s, 0, sizeof(*s));
        s->vm = hvf_strdup(m->vm);
        s->host = hvf_strdup(m->from);
        s->start_host = hvf_strdup(m->from);
        s->vm_idx = m->vm_idx;
        s->host_x = m->host;
        s->stop_us = s->start_us = -1;
        s->pred_stop_us = m->pred_start_us;
        s->pred_start_us = m->pred_end_us;
        snprintf(s->reason, sizeof(s->reason), "migration failed (%s): shut down instead",
                 why && *why ? why : info.error);
        m->st = XM_SKIPPED;
        m->end_us = x->now_us;
        snprintf(m->reason, sizeof(m->reason), "did not converge; shut down instead (policy)");
        x_event(x, "migration_to_shutdown", "\"vm\":\"%s\",\"reason\":\"%s\"", m->vm, s->reason);
        return 0;
    }
    x_mig_fail(x, m, state == HVF_JOB_CANCELLED && x->aborting ? XM_SKIPPED : XM_FAILED,
               "%s: %s", hvf_job_state_names[state], why && *why ? why : info.error);
    return 0;
}

int
x_handle_event(x_run *x, const hvf_drv_event *ev, hvf_error *err)
{
    x_mig *m;
    int32_t h;

    switch (ev->type) {
    case HVF_DRV_EV_JOB_DONE:
        if (!(m = x_mig_of_job(x, ev->job)))
            return 0;
        return x_mig_ended(x, m, ev->job_state, NULL, err);
    case HVF_DRV_EV_HOST_BACK:
        h = x_host_of(x, ev->host);
        if (h >= 0 && x->hosts[h].st == XH_MAINTAINING) {
            x->hosts[h].st = XH_DONE;
            x->hosts[h].maint_end_us = x->now_us;
            x_event(x, "host_done", "\"host\":\"%s\"", ev->host);
            return x_note(x, "maintained", NULL, ev->host, "ok", h, NULL, err);
        }
        return 0;
    case HVF_DRV_EV_HOST_LOST:
        h = x_host_of(x, ev->host);
        x_event(x, "host_lost", "\"host\":\"%s\"", ev->host);
        if (h >= 0) {
            bool maint = x->hosts[h].maint_start_us >= 0;

            x_host_fail(x, &x->hosts[h], "lost (crashed or unreachable) while %s",
                        maint ? "in maintenance" : "being drained");
            /* its migrations' failures may have failed it first: the loss is the reason */
            snprintf(x->hosts[h].reason, sizeof(x->hosts[h].reason),
                     "lost (crashed or unreachable) while %s",
                     maint ? "in maintenance" : "being drained");
            x->hosts[h].undrain = false; /* it is not in service to come back from */
        }
        if (x_note(x, "host_lost", NULL, ev->host, "lost", h, NULL, err) < 0)
            return -1;
        /* its VMs are the platform's now (restarted elsewhere); what was planned for it and
         * onto it is re-planned from the fleet as it is */
        return x_replan(x, "a host was lost", err) < 0 ? -1 : 0;
    case HVF_DRV_EV_VM_STATE:
        x_event(x, "vm_state", "\"vm\":\"%s\",\"host\":\"%s\",\"state\":\"%s\"", ev->vm,
                ev->host, hvf_drv_vm_state_names[ev->vm_state]);
        return 0;
    default:
        return 0;
    }
}

/* Progress of running jobs: stall, completion timeout, post-copy, lateness; and hosts whose
 * maintenance runs later than predicted. */
int
x_watch_jobs(x_run *x, bool *replan, hvf_error *err)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *h = &x->hosts[i];
        int64_t pred = h->pred_maint_end_us - h->pred_maint_start_us;
        int64_t took = x->now_us - h->maint_start_us;

        if (h->st != XH_MAINTAINING || h->late_reported || pred <= 0 ||
            took <= pred * (1 + x->o->tolerance) || took - pred <= 5000000)
            continue;
        h->late_reported = true;
        x_event(x, "deviation",
                "\"host\":\"%s\",\"maintenance_s\":%.1f,\"predicted_s\":%.1f,"
                "\"tolerance\":%.2f",
                h->name, (double)took / 1e6, (double)pred / 1e6, x->o->tolerance);
        *replan = true;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];
        hvf_job_info info;
        int64_t elapsed, pred, limit_us;
        double gib;

        if (m->st != XM_RUNNING)
            continue;
        if (hvf_driver_job_info(x->conn, m->job, &info, err) < 0)
            return -1;
        if (info.state >= HVF_JOB_COMPLETED)
            continue; /* its event comes with the next poll */
        elapsed = x->now_us - m->watch_us;
        pred = m->pred_end_us - m->pred_start_us;
        if (info.remaining_bytes + (info.remaining_bytes / 100) < m->best_remaining) {
            m->best_remaining = info.remaining_bytes;
            m->best_at_us = x->now_us;
        }
        gib = (double)x->fleet->vms[m->vm_idx].mem_mib / 1024.0;
        limit_us = x->o->completion_timeout_s_per_gib > 0
                       ? (int64_t)(x->o->completion_timeout_s_per_gib * gib * 1e6)
                       : INT64_MAX;
        /* post-copy where the plan allows it, once pre-copy stops gaining */
        if (!m->postcopy_switched && info.state == HVF_JOB_ACTIVE &&
            (m->mode == HVF_PLAN_MIGRATION_POST_COPY ||
             (m->has_nc && m->nc == HVF_NON_CONVERGING_POST_COPY)) &&
            info.dirty_sync_count >= 2 &&
            (x->now_us - m->best_at_us > 5000000 || elapsed > pred * (1 + x->o->tolerance))) {
            if (hvf_driver_job_postcopy(x->conn, m->job, err) == 0) {
                m->postcopy_switched = true;
                x_event(x, "migration_postcopy", "\"vm\":\"%s\"", m->vm);
            }
            hvf_error_clear(err);
            continue;
        }
        /* a stall the model predicted (a slow convergence within its predicted time) is
         * not one: the stall timeout applies once the migration is late */
        if (info.state != HVF_JOB_POSTCOPY &&
            (elapsed > limit_us ||
             (x->o->stall_timeout_us > 0 && elapsed > pred * (1 + x->o->tolerance) &&
              x->now_us - m->best_at_us > x->o->stall_timeout_us))) {
            const char *why = elapsed > limit_us ? "completion timeout" : "no progress";

            snprintf(m->reason, sizeof(m->reason), "%s", why);
            if (hvf_driver_job_cancel(x->conn, m->job, err) < 0)
                return -1;
            x_event(x, "migration_cancel", "\"vm\":\"%s\",\"reason\":\"%s\"", m->vm, why);
            continue;
        }
        if (!m->late_reported && pred > 0 && elapsed > pred * (1 + x->o->tolerance) &&
            elapsed - pred > 5000000) {
            m->late_reported = true;
            x_event(x, "deviation",
                    "\"vm\":\"%s\",\"elapsed_s\":%.1f,\"predicted_s\":%.1f,\"tolerance\":%.2f",
                    m->vm, (double)elapsed / 1e6, (double)pred / 1e6, x->o->tolerance);
            *replan = true;
        }
    }
    return 0;
}

