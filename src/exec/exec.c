/* SPDX-License-Identifier: MIT */
/* The executor's loop: checks, starts what may start, polls the driver, reacts to deviations. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"

#define X_POLL_VIRTUAL_US (5LL * 1000000)
#define X_MAX_EVENTS 256

const char *const hvf_exec_result_names[] = {"done",    "partial", "paused",
                                             "aborted", "refused", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_exec_result_names) == HVF_EXEC_RESULT_LAST + 1, "results");
const char *const x_host_state_names[] = {"pending", "draining", "maintaining", "done", "failed",
                                          NULL};
_Static_assert(HVF_ARRAY_LEN(x_host_state_names) == XH_LAST + 1, "host states");
const char *const x_mig_state_names[] = {"pending", "running", "done", "failed", "skipped", NULL};
_Static_assert(HVF_ARRAY_LEN(x_mig_state_names) == XM_LAST + 1, "migration states");
const char *const x_stop_state_names[] = {"pending", "stopped", "started", "failed", NULL};
_Static_assert(HVF_ARRAY_LEN(x_stop_state_names) == XS_LAST + 1, "stop states");

void
hvf_exec_opts_init(hvf_exec_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tolerance = 0.25;
    o->stall_timeout_us = 150LL * 1000000;
    o->completion_timeout_s_per_gib = 800;
}

/* ---- the work, from the plan ---- */

static int32_t
x_host_of(const x_run *x, const char *name)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        if (strcmp(x->hosts[i].name, name) == 0)
            return (int32_t)i;
    }
    return -1;
}

static int64_t
ms_us(int64_t ms)
{
    return ms * 1000;
}

void
x_load_plan_work(x_run *x, bool keep_done)
{
    const hvf_plan *p = x->plan;
    size_t old_nmigs = keep_done ? x->nmigs : 0;

    if (!keep_done) {
        x->hosts = hvf_calloc(p->nhosts + 1, sizeof(*x->hosts));
        x->nhosts = p->nhosts;
        for (size_t i = 0; i < p->nhosts; i++) {
            x_host *h = &x->hosts[i];

            h->name = hvf_strdup(p->hosts[i].host);
            h->idx = hvf_fleet_find_host(x->fleet, h->name);
            h->st = XH_PENDING;
            h->evac_start_us = h->evac_end_us = h->maint_start_us = h->maint_end_us = -1;
        }
        x->stops = hvf_calloc(p->nstops + 1, sizeof(*x->stops));
        x->nstops = p->nstops;
        for (size_t i = 0; i < p->nstops; i++) {
            x_stop *s = &x->stops[i];

            s->vm = hvf_strdup(p->stops[i].vm);
            s->host = hvf_strdup(p->stops[i].host);
            s->start_host = hvf_strdup(p->stops[i].start_host);
            s->vm_idx = hvf_fleet_find_vm(x->fleet, s->vm);
            s->host_x = x_host_of(x, s->host);
            s->stop_us = s->start_us = -1;
            s->pred_stop_us = ms_us(p->stops[i].stop_ms);
            s->pred_start_us = ms_us(p->stops[i].start_ms);
        }
    }
    /* predicted host times: from the plan in force (a re-plan's clock starts at its making) */
    for (size_t i = 0; i < p->nhosts; i++) {
        int32_t h = x_host_of(x, p->hosts[i].host);
        int64_t off = keep_done ? x->now_us : 0;

        if (h < 0)
            continue;
        x->hosts[h].pred_evac_start_us = off + ms_us(p->hosts[i].evacuate_start_ms);
        x->hosts[h].pred_evac_end_us = off + ms_us(p->hosts[i].evacuate_end_ms);
        x->hosts[h].pred_maint_start_us = off + ms_us(p->hosts[i].maintenance_start_ms);
        x->hosts[h].pred_maint_end_us = off + ms_us(p->hosts[i].maintenance_end_ms);
    }
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *pm = &p->migrations[i];
        int64_t off = keep_done ? x->now_us : 0;
        x_mig *m;

        hvf_grow(&x->migs, &x->migs_cap, x->nmigs + 1, sizeof(*x->migs));
        m = &x->migs[x->nmigs++];
        memset(m, 0, sizeof(*m));
        m->vm = hvf_strdup(pm->vm);
        m->from = hvf_strdup(pm->from);
        m->to = hvf_strdup(pm->to);
        m->vm_idx = hvf_fleet_find_vm(x->fleet, m->vm);
        m->from_idx = hvf_fleet_find_host(x->fleet, m->from);
        m->to_idx = hvf_fleet_find_host(x->fleet, m->to);
        m->job = -1;
        m->start_us = m->end_us = -1;
        m->pred_start_us = off + ms_us(pm->start_ms);
        m->pred_end_us = off + ms_us(pm->end_ms);
        /* it evacuates its source only when the plan moves it during that host's drain; a
         * later move off a host already maintained stands on its own */
        m->host = x_host_of(x, m->from);
        if (m->host >= 0 && (m->pred_start_us < x->hosts[m->host].pred_evac_start_us ||
                             m->pred_start_us > x->hosts[m->host].pred_evac_end_us))
            m->host = -1;
        m->mode = pm->strategy;
        for (size_t k = 0; k < p->summary.nnon_converging; k++) {
            if (strcmp(p->summary.non_converging[k].vm, pm->vm) == 0) {
                m->nc = p->summary.non_converging[k].action;
                m->has_nc = true;
            }
        }
    }
    (void)old_nmigs;
}

/* A copy of @p through its own JSON form (the plan's canonical text keeps its hash). */
hvf_plan *
x_plan_from_text(const char *name, const char *text, hvf_error *err)
{
    hvf_diags diags;
    hvf_plan *p;

    hvf_diags_init(&diags);
    p = hvf_plan_parse(name, text, strlen(text), &diags, err);
    if (!p && diags.n)
        hvf_error_set(err, HVF_ERR_INVALID, "%s", diags.lines[0]);
    hvf_diags_clear(&diags);
    return p;
}

static hvf_plan *
x_plan_dup(const hvf_plan *p, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_plan *copy;

    hvf_plan_format(p, &sb);
    copy = x_plan_from_text("plan", sb.buf, err);
    hvf_strbuf_clear(&sb);
    return copy;
}

/* ---- checks before every action ---- */

/* 0 when actions may start; -1 with x->note set (frozen, approval gone, operator). */
static int
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
    double approved = x->plan->summary.peak_capacity_offline_ppm / 1e6;

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

static int
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
static int
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

static void
x_mig_fail(x_run *x, x_mig *m, xm_state st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
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
    hvf_drv_vm *vms = NULL;
    long nvms;
    int64_t job;
    bool where_planned = false;

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
    /* The VM must still be where the plan found it. */
    nvms = hvf_driver_list_vms(x->conn, &vms, err);
    if (nvms < 0)
        return -1;
    for (long k = 0; k < nvms; k++) {
        if (strcmp(vms[k].name, m->vm) == 0)
            where_planned = strcmp(vms[k].host, m->from) == 0 &&
                            vms[k].state == HVF_DRV_VM_RUNNING;
    }
    free(vms);
    if (!where_planned) {
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

static int
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
static int
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
static int
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

static int
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
static int
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

/* ---- the loop ---- */

static bool
x_finished(const x_run *x)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        if (x->hosts[i].st != XH_DONE && x->hosts[i].st != XH_FAILED)
            return false;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        if (x->migs[i].st == XM_PENDING || x->migs[i].st == XM_RUNNING)
            return false;
    }
    for (size_t i = 0; i < x->nstops; i++) {
        if (x->stops[i].st == XS_STOPPED)
            return false;
    }
    return true;
}

static size_t
x_running(const x_run *x)
{
    size_t n = 0;

    for (size_t i = 0; i < x->nmigs; i++)
        n += x->migs[i].st == XM_RUNNING;
    for (size_t i = 0; i < x->nhosts; i++)
        n += x->hosts[i].st == XH_MAINTAINING;
    return n;
}

/* Nothing runs and nothing can start: each remaining piece of work gets its reason. */
static void
x_give_up(x_run *x, const char *why)
{
    for (size_t i = 0; i < x->nmigs; i++) {
        if (x->migs[i].st == XM_PENDING)
            x_mig_fail(x, &x->migs[i], x->aborting ? XM_SKIPPED : XM_FAILED, "%s", why);
    }
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *h = &x->hosts[i];

        if (h->st == XH_PENDING || h->st == XH_DRAINING)
            x_host_fail(x, h, "not maintained: %s", why);
    }
}

static int64_t
x_progress_every(const x_run *x)
{
    return x->o->progress_interval_us > 0 ? x->o->progress_interval_us : 1000000;
}

static int
x_loop(x_run *x, hvf_error *err)
{
    hvf_drv_event evs[X_MAX_EVENTS];
    int64_t last_progress = -1;
    int idle_rounds = 0;

    for (;;) {
        size_t nevs = 0;
        bool replan = false;

        x->now_us = hvf_driver_now_us(x->conn) - x->t0_us;
        if (x->run.control == HVF_STORE_CONTROL_NONE) {
            hvf_store_run cur;
            hvf_error cerr = HVF_ERROR_INIT;

            if (hvf_store_run_get(x->st, x->run.id, &cur, &cerr) == 1)
                x->run.control = cur.control;
        }
        if (x->run.control == HVF_STORE_CONTROL_ABORT ||
            x->run.control == HVF_STORE_CONTROL_ABORT_CANCEL) {
            if (!x->aborting)
                x_event(x, "run_aborting", "\"cancel_running\":%s",
                        x->run.control == HVF_STORE_CONTROL_ABORT_CANCEL ? "true" : "false");
            x->aborting = true;
            if (x->run.control == HVF_STORE_CONTROL_ABORT_CANCEL) {
                for (size_t i = 0; i < x->nmigs; i++) {
                    if (x->migs[i].st == XM_RUNNING) {
                        hvf_error cerr = HVF_ERROR_INIT;

                        snprintf(x->migs[i].reason, sizeof(x->migs[i].reason), "aborted");
                        if (hvf_driver_job_cancel(x->conn, x->migs[i].job, &cerr) < 0 &&
                            cerr.code != HVF_ERR_CONFLICT) {
                            *err = cerr;
                            return -1;
                        }
                    }
                }
            }
        }
        if (x->run.control == HVF_STORE_CONTROL_PAUSE && x_running(x) == 0) {
            x->sum->result = HVF_EXEC_PAUSED;
            if (!x->sum->note[0])
                snprintf(x->sum->note, sizeof(x->sum->note),
                         "paused by an operator; `hvfleet run --resume` continues");
            return 0;
        }
        if (x->run.control == HVF_STORE_CONTROL_NONE && !x->aborting) {
            if (x_return_failed(x, err) < 0 || x_start_hosts(x, err) < 0 ||
                x_start_migs(x, err) < 0 ||
                x_run_stops(x, err) < 0 || x_maintain_empty(x, err) < 0)
                return -1;
        } else if (x->aborting) {
            if (x_start_migs(x, err) < 0) /* marks the pending ones skipped */
                return -1;
        }
        if (x->want_replan) {
            const char *why = x->want_replan;
            int r;

            x->want_replan = NULL;
            r = x_replan(x, why, err);
            if (r < 0)
                return -1;
            if (r == 0) {
                x->sum->result = HVF_EXEC_PAUSED;
                hvf_strlcpy(x->sum->note, x->note, sizeof(x->sum->note));
                x->run.control = HVF_STORE_CONTROL_PAUSE;
                if (hvf_store_run_set_control(x->st, x->run.id, HVF_STORE_CONTROL_PAUSE, err) < 0)
                    return -1;
            }
            continue;
        }
        if (x_finished(x))
            return x_return_failed(x, err);
        if (x->aborting && x_running(x) == 0) {
            x_give_up(x, "the run was aborted");
            x->sum->result = HVF_EXEC_ABORTED;
            return x_return_failed(x, err);
        }
        if (x_running(x) == 0) {
            /* nothing in flight: a frozen fleet or a missing approval waits for a person;
             * anything else that cannot start will not start by itself */
            if (x->note[0] && (strstr(x->note, "frozen") || strstr(x->note, "approval") ||
                               strstr(x->note, "operator"))) {
                x->sum->result = HVF_EXEC_PAUSED;
                return 0;
            }
            if (++idle_rounds > 2) {
                int r = x->replans < 3 ? x_replan(x, "no action can start", err) : 2;

                if (r < 0)
                    return -1;
                if (r == 1) {
                    idle_rounds = 0;
                    continue;
                }
                if (r == 0) {
                    x->sum->result = HVF_EXEC_PAUSED;
                    hvf_strlcpy(x->sum->note, x->note, sizeof(x->sum->note));
                    return 0;
                }
                x_give_up(x, "no action can start (capacity, limits or a host left out of "
                             "service)");
                if (x_return_failed(x, err) < 0)
                    return -1;
                return 0;
            }
        } else {
            idle_rounds = 0;
        }
        x->note[0] = '\0';
        /* a live display wants a line a second; otherwise the driver wakes us for events */
        if (hvf_driver_poll(x->conn, x->o->on_progress ? x_progress_every(x) : X_POLL_VIRTUAL_US,
                            evs, X_MAX_EVENTS, &nevs, err) < 0)
            return -1;
        x->now_us = hvf_driver_now_us(x->conn) - x->t0_us;
        if (x_ledger_sync(x, err) < 0)
            return -1;
        for (size_t i = 0; i < nevs; i++) {
            if (x_handle_event(x, &evs[i], err) < 0)
                return -1;
            if (x->o->check_ledger && x_check(x, err) < 0)
                return -1;
        }
        if (x_watch_jobs(x, &replan, err) < 0)
            return -1;
        if (replan && x->replans < 10) {
            int r = x_replan(x, "a migration or a host runs later than predicted", err);

            if (r < 0)
                return -1;
            if (r == 0) {
                x->sum->result = HVF_EXEC_PAUSED;
                hvf_strlcpy(x->sum->note, x->note, sizeof(x->sum->note));
                /* migrations in flight finish; nothing new starts until approved */
                x->run.control = HVF_STORE_CONTROL_PAUSE;
                if (hvf_store_run_set_control(x->st, x->run.id, HVF_STORE_CONTROL_PAUSE, err) < 0)
                    return -1;
            }
        }
        if (x->o->check_ledger && x_check(x, err) < 0)
            return -1;
        if (x->now_us - last_progress >= x_progress_every(x)) {
            last_progress = x->now_us;
            x_progress(x);
        }
    }
}

/* ---- setup ---- */

static int
x_refuse(x_run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
x_refuse(x_run *x, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(x->sum->note, sizeof(x->sum->note), fmt, ap);
    va_end(ap);
    x->sum->result = HVF_EXEC_REFUSED;
    return 0;
}

static void
x_free(x_run *x)
{
    for (size_t i = 0; i < x->nhosts; i++)
        free(x->hosts[i].name);
    for (size_t i = 0; i < x->nmigs; i++) {
        free(x->migs[i].vm);
        free(x->migs[i].from);
        free(x->migs[i].to);
    }
    for (size_t i = 0; i < x->nstops; i++) {
        free(x->stops[i].vm);
        free(x->stops[i].host);
        free(x->stops[i].start_host);
    }
    free(x->hosts);
    free(x->migs);
    free(x->stops);
    free(x->ledger);
    free(x->vm_mig);
    hvf_plan_free(x->plan);
    hvf_fleet_free(x->fleet);
    hvf_store_close(x->st);
}

static int
x_setup_fleet(x_run *x, hvf_error *err)
{
    hvf_drv_host *hosts = NULL;
    hvf_drv_vm *vms = NULL;
    long nh, nv;

    if (!(x->fleet = hvf_driver_fleet(x->conn, err)))
        return -1;
    nh = hvf_driver_list_hosts(x->conn, &hosts, err);
    nv = nh < 0 ? -1 : hvf_driver_list_vms(x->conn, &vms, err);
    if (nv < 0) {
        free(hosts);
        return -1;
    }
    x_ledger_init(x, hosts, (size_t)nh, vms, (size_t)nv);
    x->vm_mig = hvf_calloc(x->fleet->nvms + 1, sizeof(int32_t));
    for (size_t i = 0; i < x->fleet->nvms; i++)
        x->vm_mig[i] = -1;
    free(hosts);
    free(vms);
    return 0;
}

static int
x_finish(x_run *x, hvf_error *err)
{
    hvf_exec_summary *s = x->sum;

    for (size_t i = 0; i < x->nhosts; i++) {
        s->hosts_done += x->hosts[i].st == XH_DONE;
        s->hosts_failed += x->hosts[i].st == XH_FAILED;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        s->migrations_done += x->migs[i].st == XM_DONE;
        s->migrations_failed += x->migs[i].st == XM_FAILED;
    }
    for (size_t i = 0; i < x->nstops; i++)
        s->vms_stopped += x->stops[i].st != XS_PENDING;
    s->replans = x->replans;
    s->actual_makespan_us = x->now_us;
    if (s->result == HVF_EXEC_DONE && (s->hosts_failed || s->migrations_failed))
        s->result = HVF_EXEC_PARTIAL;
    if (x->note[0] && !s->note[0])
        hvf_strlcpy(s->note, x->note, sizeof(s->note));
    x->run.state = s->result == HVF_EXEC_PAUSED    ? HVF_STORE_RUN_PAUSED
                   : s->result == HVF_EXEC_ABORTED ? HVF_STORE_RUN_ABORTED
                                                   : HVF_STORE_RUN_DONE;
    if (s->result == HVF_EXEC_PAUSED)
        x->run.control = HVF_STORE_CONTROL_PAUSE;
    hvf_strlcpy(x->run.note, s->note, sizeof(x->run.note));
    x->run.pid = 0;
    x_event(x, "run_end", "\"result\":\"%s\",\"note\":\"%s\"", hvf_exec_result_names[s->result],
            s->note);
    if (x_record_write(x, err) < 0)
        return -1;
    return hvf_store_run_update(x->st, &x->run, err);
}

int
hvf_exec_run(hvf_conn *conn, const hvf_plan *plan, const hvf_exec_opts *opts,
             hvf_exec_summary *out, hvf_error *err)
{
    x_run x;
    bool resume;
    int rc = -1;

    memset(&x, 0, sizeof(x));
    memset(out, 0, sizeof(*out));
    x.conn = conn;
    x.o = opts;
    x.sum = out;
    if (opts->policy)
        x.policy = *opts->policy;
    else
        hvf_policy_default(&x.policy);
    if (!(x.st = hvf_state_open(opts->state_dir, err)))
        return -1;
    if (!(x.plan = x_plan_dup(plan, err)))
        goto out;
    hvf_strlcpy(x.approval_hash, plan->summary.plan_hash, sizeof(x.approval_hash));
    x.approval_verdict = plan->summary.verdict;
    out->predicted_makespan_us = plan->summary.makespan_ms * 1000;

    if (!hvf_plan_hash_ok(plan)) {
        rc = x_refuse(&x, "plan_hash %.12s does not match the plan's content: it was edited "
                          "after it was made; nothing was changed",
                      plan->summary.plan_hash);
        goto out;
    }
    resume = opts->resume;
    if (resume) {
        int found = hvf_store_run_get(x.st, 0, &x.run, err);

        if (found < 0)
            goto out;
        /* killed before its run was recorded: nothing happened yet, so it starts afresh;
         * killed after it ended: it is done */
        resume = found == 1;
        if (!resume) {
            hvf_store_run last;
            int f = hvf_store_run_of_plan(x.st, plan->summary.plan_hash, &last, err);

            if (f < 0)
                goto out;
            if (f == 1 && last.state != HVF_STORE_RUN_RUNNING &&
                last.state != HVF_STORE_RUN_PAUSED) {
                out->result = last.state == HVF_STORE_RUN_DONE      ? HVF_EXEC_DONE
                              : last.state == HVF_STORE_RUN_ABORTED ? HVF_EXEC_ABORTED
                                                                    : HVF_EXEC_REFUSED;
                out->run_id = last.id;
                hvf_strlcpy(out->record_path, last.record_path, sizeof(out->record_path));
                snprintf(out->note, sizeof(out->note),
                         "run %" PRId64 " of this plan already ended (%s): nothing to resume",
                         last.id, hvf_store_run_state_names[last.state]);
                rc = 0;
                goto out;
            }
        }
    }
    if (resume) {
        if (strcmp(x.run.plan_hash, plan->summary.plan_hash) != 0) {
            char *text = hvf_store_plan_text(x.st, x.run.plan_hash, err);

            /* a run paused on a re-plan continues with that plan, once approved */
            if (!text) {
                rc = x_refuse(&x, "run %" PRId64 " runs plan %.12s, not plan %.12s: resume it "
                                  "with its own plan",
                              x.run.id, x.run.plan_hash, plan->summary.plan_hash);
                goto out;
            }
            hvf_plan_free(x.plan);
            x.plan = x_plan_from_text("stored plan", text, err);
            free(text);
            if (!x.plan)
                goto out;
            hvf_strlcpy(x.approval_hash, x.plan->summary.plan_hash, sizeof(x.approval_hash));
            x.approval_verdict = x.plan->summary.verdict;
        }
        if (x_setup_fleet(&x, err) < 0)
            goto out;
        x.t0_us = hvf_driver_now_us(conn) - (int64_t)0;
        x_load_plan_work(&x, false);
        if (x_resume(&x, err) < 0)
            goto out;
        x.run.control = HVF_STORE_CONTROL_NONE;
        x.run.state = HVF_STORE_RUN_RUNNING;
        x.run.pid = getpid();
        if (hvf_store_run_update(x.st, &x.run, err) < 0)
            goto out;
    } else {
        hvf_diags problems;
        hvf_store_run busy;
        int found = hvf_store_run_get(x.st, 0, &busy, err);

        if (found < 0)
            goto out;
        if (found == 1) {
            rc = x_refuse(&x, "run %" PRId64 " (plan %.12s) is unfinished (%s): resume it with "
                              "--resume or end it with --abort first",
                          busy.id, busy.plan_hash, hvf_store_run_state_names[busy.state]);
            goto out;
        }
        if (x_setup_fleet(&x, err) < 0)
            goto out;
        hvf_diags_init(&problems);
        hvf_plan_check(plan, x.fleet, &problems);
        if (problems.total) {
            rc = x_refuse(&x, "the plan is stale against the fleet the driver reports: %s%s",
                          problems.lines[0], problems.total > 1 ? " (and more)" : "");
            hvf_diags_clear(&problems);
            goto out;
        }
        hvf_diags_clear(&problems);
        if (x_may_act(&x, "this run") < 0) {
            rc = x_refuse(&x, "%s", x.note);
            goto out;
        }
        x.t0_us = hvf_driver_now_us(conn);
        hvf_strlcpy(x.run.plan_hash, plan->summary.plan_hash, sizeof(x.run.plan_hash));
        hvf_strlcpy(x.run.driver_uri, conn->uri, sizeof(x.run.driver_uri));
        hvf_strlcpy(x.run.plan_path, opts->plan_path ? opts->plan_path : "",
                    sizeof(x.run.plan_path));
        hvf_strlcpy(x.run.inventory_path, opts->inventory_path ? opts->inventory_path : "",
                    sizeof(x.run.inventory_path));
        x.run.state = HVF_STORE_RUN_RUNNING;
        x.run.pid = getpid();
        {
            hvf_strbuf sb = HVF_STRBUF_INIT;

            hvf_plan_format(plan, &sb);
            if (hvf_store_plan_put(x.st, plan->summary.plan_hash,
                                   hvf_plan_kind_to_string(plan->kind), "unknown", sb.buf,
                                   err) < 0 ||
                hvf_store_run_add(x.st, &x.run, err) < 0) {
                hvf_strbuf_clear(&sb);
                goto out;
            }
            hvf_strbuf_clear(&sb);
        }
        if (hvf_store_claims(x.st, x.run.id, &(hvf_store_claim *){NULL}, err) < 0)
            goto out;
        x_load_plan_work(&x, false);
        if (x_note(&x, "run_start", NULL, NULL, "ok", 0, plan->summary.plan_hash, err) < 0)
            goto out;
    }
    if (opts->record_path)
        hvf_strlcpy(x.run.record_path, opts->record_path, sizeof(x.run.record_path));
    else if (!x.run.record_path[0])
        snprintf(x.run.record_path, sizeof(x.run.record_path), "%s/runs/run-%" PRId64 ".json",
                 opts->state_dir, x.run.id);
    out->run_id = x.run.id;
    hvf_strlcpy(out->record_path, x.run.record_path, sizeof(out->record_path));
    x_event(&x, "run_start", "\"run\":%" PRId64 ",\"plan_hash\":\"%s\",\"resume\":%s", x.run.id,
            x.plan->summary.plan_hash, resume ? "true" : "false");
    out->result = HVF_EXEC_DONE;
    if (x_loop(&x, err) < 0) {
        x.run.state = HVF_STORE_RUN_FAILED;
        snprintf(x.run.note, sizeof(x.run.note), "%.250s", err->msg);
        {
            hvf_error ignore = HVF_ERROR_INIT;

            if (hvf_store_run_update(x.st, &x.run, &ignore) < 0 ||
                x_record_write(&x, &ignore) < 0) {
                /* the machinery failed; the journal still holds what was done */
            }
        }
        goto out;
    }
    rc = x_finish(&x, err);
out:
    x_free(&x);
    return rc;
}

int
hvf_exec_control(const char *state_dir, int control, int64_t *run_id, hvf_error *err)
{
    hvf_store *st = hvf_state_open(state_dir, err);
    hvf_store_run run;
    int found, rc = -1;

    *run_id = 0;
    if (!st)
        return -1;
    if ((unsigned)control >= HVF_STORE_CONTROL_LAST) {
        hvf_error_set(err, HVF_ERR_INVALID, "control %d does not exist", control);
        goto out;
    }
    found = hvf_store_run_get(st, 0, &run, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "no unfinished run in %s", hvf_store_path(st));
        goto out;
    }
    *run_id = run.id;
    if ((control == HVF_STORE_CONTROL_ABORT || control == HVF_STORE_CONTROL_ABORT_CANCEL) &&
        (run.state == HVF_STORE_RUN_PAUSED || run.pid == 0 || kill((pid_t)run.pid, 0) != 0)) {
        /* nobody runs it: an abort ends it here, with nothing in flight to wait for */
        run.state = HVF_STORE_RUN_ABORTED;
        run.control = (hvf_store_control)control;
        snprintf(run.note, sizeof(run.note), "aborted while no executor ran it");
        rc = hvf_store_run_update(st, &run, err);
        goto out;
    }
    rc = hvf_store_run_set_control(st, run.id, (hvf_store_control)control, err);
out:
    hvf_store_close(st);
    return rc;
}
