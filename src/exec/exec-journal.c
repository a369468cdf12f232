/* SPDX-License-Identifier: MIT */
/*
 * The executor's journal: an intent committed before every action, an outcome after it, notes
 * for what the driver reported; and resuming a run from it. Entries name VMs and hosts, so a
 * resume matches them to the plan's work by name, whatever order the plan file lists it in.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"

static void
x_entry(x_run *x, hvf_store_entry *e, hvf_store_entry_kind kind, const char *action,
        const char *vm, const char *host, const char *target)
{
    memset(e, 0, sizeof(*e));
    e->run = x->run.id;
    e->kind = kind;
    e->t_us = x->now_us;
    e->job = -1;
    hvf_strlcpy(e->action, action, sizeof(e->action));
    hvf_strlcpy(e->vm, vm ? vm : "", sizeof(e->vm));
    hvf_strlcpy(e->host, host ? host : "", sizeof(e->host));
    hvf_strlcpy(e->target, target ? target : "", sizeof(e->target));
}

int
x_intent(x_run *x, const char *action, const char *vm, const char *host, const char *target,
         int64_t ref, hvf_store_entry *e, hvf_error *err)
{
    x_entry(x, e, HVF_STORE_INTENT, action, vm, host, target);
    snprintf(e->detail, sizeof(e->detail), "ref %" PRId64, ref);
    return hvf_store_journal_append(x->st, e, err);
}

int
x_outcome(x_run *x, const hvf_store_entry *intent, const char *result, int64_t job,
          const char *detail, hvf_error *err)
{
    hvf_store_entry e;

    x_entry(x, &e, HVF_STORE_OUTCOME, intent->action, intent->vm, intent->host, intent->target);
    e.intent = intent->seq;
    e.job = job;
    hvf_strlcpy(e.result, result, sizeof(e.result));
    hvf_strlcpy(e.detail, detail ? detail : "", sizeof(e.detail));
    return hvf_store_journal_append(x->st, &e, err);
}

int
x_note(x_run *x, const char *action, const char *vm, const char *host, const char *result,
       int64_t ref, const char *detail, hvf_error *err)
{
    hvf_store_entry e;

    x_entry(x, &e, HVF_STORE_NOTE, action, vm, host, NULL);
    e.job = ref;
    hvf_strlcpy(e.result, result, sizeof(e.result));
    hvf_strlcpy(e.detail, detail ? detail : "", sizeof(e.detail));
    return hvf_store_journal_append(x->st, &e, err);
}

/* ---- resume ---- */

static x_host *
r_host(x_run *x, const char *name)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        if (strcmp(x->hosts[i].name, name) == 0)
            return &x->hosts[i];
    }
    return NULL;
}

/* The first migration of the plan with these names in state @st. */
static x_mig *
r_mig(x_run *x, const char *vm, const char *from, const char *to, xm_state st)
{
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];

        if (m->st == st && strcmp(m->vm, vm) == 0 && (!from || strcmp(m->from, from) == 0) &&
            (!to || strcmp(m->to, to) == 0))
            return m;
    }
    return NULL;
}

static x_stop *
r_stop(x_run *x, const char *vm)
{
    for (size_t i = 0; i < x->nstops; i++) {
        if (strcmp(x->stops[i].vm, vm) == 0)
            return &x->stops[i];
    }
    return NULL;
}

static const hvf_store_entry *
r_outcome_of(const hvf_store_entry *j, long n, long from, int64_t seq)
{
    for (long k = from; k < n; k++) {
        if (j[k].kind == HVF_STORE_OUTCOME && j[k].intent == seq)
            return &j[k];
    }
    return NULL;
}

static const hvf_drv_vm *
r_vm(const hvf_drv_vm *vms, long n, const char *name)
{
    for (long i = 0; i < n; i++) {
        if (strcmp(vms[i].name, name) == 0)
            return &vms[i];
    }
    return NULL;
}

static const hvf_drv_host *
r_dhost(const hvf_drv_host *hosts, long n, const char *name)
{
    for (long i = 0; i < n; i++) {
        if (strcmp(hosts[i].name, name) == 0)
            return &hosts[i];
    }
    return NULL;
}

int
x_resume(x_run *x, hvf_error *err)
{
    hvf_store_entry *j = NULL;
    hvf_drv_vm *vms = NULL;
    hvf_drv_host *dh = NULL;
    long n, nvms, nh;
    int64_t last_t = 0;
    int rc = -1;

    n = hvf_store_journal(x->st, x->run.id, &j, err);
    nvms = n < 0 ? -1 : hvf_driver_list_vms(x->conn, &vms, err);
    nh = nvms < 0 ? -1 : hvf_driver_list_hosts(x->conn, &dh, err);
    if (nh < 0)
        goto out;
    for (long i = 0; i < n; i++) {
        const hvf_store_entry *e = &j[i];
        const hvf_store_entry *oc;
        x_host *h;
        x_mig *m;
        x_stop *s;

        last_t = e->t_us > last_t ? e->t_us : last_t;
        if (e->kind == HVF_STORE_NOTE) {
            if (strcmp(e->action, "replan") == 0 && strcmp(e->result, "continue") == 0) {
                x->now_us = e->t_us;
                if (x_replan_apply_stored(x, e->detail, false, err) < 0)
                    goto out;
            } else if (strcmp(e->action, "replan") == 0 && strcmp(e->result, "paused") == 0) {
                /* the run waits for an approval of this re-plan: it is the plan in force */
                x->now_us = e->t_us;
                if (x_replan_apply_stored(x, e->detail, true, err) < 0)
                    goto out;
            } else if (strcmp(e->action, "migrated") == 0 &&
                       ((m = r_mig(x, e->vm, e->host, NULL, XM_RUNNING)) ||
                        /* an intent a resume found ended (below) */
                        (m = r_mig(x, e->vm, e->host, NULL, XM_PENDING)))) {
                m->st = strcmp(e->result, "completed") == 0 ? XM_DONE : XM_FAILED;
                m->end_us = e->t_us;
                hvf_strlcpy(m->reason, e->detail, sizeof(m->reason));
            } else if (strcmp(e->action, "maintained") == 0 && (h = r_host(x, e->host))) {
                h->st = XH_DONE;
                h->maint_end_us = e->t_us;
            } else if (strcmp(e->action, "drained") == 0 && (h = r_host(x, e->host))) {
                h->st = XH_DONE;
                h->evac_end_us = e->t_us;
            } else if (strcmp(e->action, "host_lost") == 0 && (h = r_host(x, e->host)) &&
                       h->st != XH_DONE) {
                h->st = XH_FAILED;
                snprintf(h->reason, sizeof(h->reason), "lost while it was being maintained");
            }
            continue;
        }
        if (e->kind != HVF_STORE_INTENT)
            continue;
        oc = r_outcome_of(j, n, i + 1, e->seq);
        if (strcmp(e->action, "drain") == 0 && (h = r_host(x, e->host))) {
            const hvf_drv_host *d = r_dhost(dh, nh, e->host);

            if ((oc && strcmp(oc->result, "ok") == 0) ||
                (!oc && d && d->state != HVF_DRV_HOST_ACTIVE)) {
                h->st = XH_DRAINING;
                h->evac_start_us = e->t_us;
            } else if (oc) {
                h->st = XH_FAILED;
                hvf_strlcpy(h->reason, oc->detail, sizeof(h->reason));
            }
        } else if (strcmp(e->action, "undrain") == 0 && (h = r_host(x, e->host))) {
            if (h->st != XH_FAILED)
                x_host_fail(x, h, "not maintained (before the resume)");
            h->undrain = !oc && (!r_dhost(dh, nh, e->host) ||
                                 r_dhost(dh, nh, e->host)->state == HVF_DRV_HOST_DRAINING);
        } else if (strcmp(e->action, "maintain") == 0 && (h = r_host(x, e->host))) {
            const hvf_drv_host *d = r_dhost(dh, nh, e->host);

            h->evac_end_us = e->t_us;
            if ((oc && strcmp(oc->result, "ok") == 0) ||
                (!oc && d && d->state == HVF_DRV_HOST_MAINTENANCE)) {
                h->st = XH_MAINTAINING;
                h->maint_start_us = e->t_us;
            } else if (oc) {
                h->st = XH_FAILED;
                hvf_strlcpy(h->reason, oc->detail, sizeof(h->reason));
            }
        } else if (strcmp(e->action, "migrate") == 0 &&
                   (m = r_mig(x, e->vm, e->host, e->target, XM_PENDING))) {
            const hvf_drv_vm *v = r_vm(vms, nvms, e->vm);

            m->start_us = e->t_us;
            if (oc && strcmp(oc->result, "started") == 0) {
                m->st = XM_RUNNING;
                m->job = oc->job;
            } else if (oc) {
                m->st = XM_FAILED;
                m->end_us = oc->t_us;
                hvf_strlcpy(m->reason, oc->detail, sizeof(m->reason));
            } else if (v && v->job >= 0) {
                /* started, but the process died before the outcome: adopt the job */
                m->st = XM_RUNNING;
                m->job = v->job;
            } else if (v && strcmp(v->host, e->target) == 0) {
                m->st = XM_DONE; /* it even finished */
                m->end_us = e->t_us;
                m->found_done = true;
            } else {
                m->start_us = -1; /* it never started: it may start, once */
            }
        } else if ((strcmp(e->action, "stop") == 0 || strcmp(e->action, "start") == 0) &&
                   (s = r_stop(x, e->vm))) {
            const hvf_drv_vm *v = r_vm(vms, nvms, e->vm);
            bool stop = e->action[2] == 'o';
            bool ok = oc ? strcmp(oc->result, "ok") == 0
                         : v && (stop ? v->state == HVF_DRV_VM_STOPPED
                                      : v->state != HVF_DRV_VM_STOPPED);

            if (ok) {
                s->st = stop ? XS_STOPPED : XS_STARTED;
                if (stop)
                    s->stop_us = e->t_us;
                else
                    s->start_us = e->t_us;
            } else if (oc) {
                s->st = XS_FAILED;
                hvf_strlcpy(s->reason, oc->detail, sizeof(s->reason));
            }
        }
    }
    /* the run's clock goes on from its last entry */
    x->now_us = last_t;
    x->t0_us = hvf_driver_now_us(x->conn) - last_t;
    /* claims: exactly the running migrations, in the ledger and in the store */
    if (hvf_store_begin(x->st, err) < 0)
        goto out;
    {
        hvf_store_claim *sc = NULL;
        long nsc = hvf_store_claims(x->st, x->run.id, &sc, err);

        for (long i = 0; i < nsc; i++) {
            if (!r_mig(x, sc[i].vm, NULL, NULL, XM_RUNNING) &&
                hvf_store_claim_drop(x->st, x->run.id, sc[i].vm, err) < 0) {
                free(sc);
                hvf_store_rollback(x->st);
                goto out;
            }
        }
        free(sc);
        if (nsc < 0) {
            hvf_store_rollback(x->st);
            goto out;
        }
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];
        hvf_store_claim c = {0};

        if (m->st != XM_RUNNING)
            continue;
        hvf_strlcpy(c.vm, m->vm, sizeof(c.vm));
        hvf_strlcpy(c.host, m->to, sizeof(c.host));
        c.mem_mib = x->fleet->vms[m->vm_idx].mem_mib;
        c.vcpus = x->fleet->vms[m->vm_idx].vcpus;
        c.job = m->job;
        if (hvf_store_claim_add(x->st, x->run.id, &c, err) < 0) {
            hvf_store_rollback(x->st);
            goto out;
        }
        x_ledger_claim(x, m);
        x->vm_mig[m->vm_idx] = (int32_t)i;
        m->best_remaining = UINT64_MAX;
        m->best_at_us = m->watch_us = x->now_us;
    }
    if (hvf_store_commit(x->st, err) < 0 ||
        x_note(x, "resume", NULL, NULL, "ok", 0, NULL, err) < 0)
        goto out;
    /* what ended while nobody watched: a migration whose outcome was never written (its
     * process killed, or its controller's lease lost, between the start and the outcome) is
     * journaled as done, so that the journal says what happened to every migration */
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];

        if (m->found_done &&
            x_note(x, "migrated", m->vm, m->from, "completed", -1,
                   "found on its target at the resume: it ended while nobody watched", err) < 0)
            goto out;
        m->found_done = false;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];
        hvf_job_info info;

        if (m->st != XM_RUNNING)
            continue;
        if (hvf_driver_job_info(x->conn, m->job, &info, err) < 0)
            goto out;
        if (info.state >= HVF_JOB_COMPLETED && x_mig_ended(x, m, info.state, info.error, err) < 0)
            goto out;
    }
    for (size_t i = 0; i < x->nhosts; i++) {
        const hvf_drv_host *d = r_dhost(dh, nh, x->hosts[i].name);

        if (x->hosts[i].st == XH_MAINTAINING && d && d->state == HVF_DRV_HOST_ACTIVE) {
            x->hosts[i].st = XH_DONE;
            x->hosts[i].maint_end_us = x->now_us;
            if (x_note(x, "maintained", NULL, x->hosts[i].name, "ok", (int64_t)i, NULL, err) < 0)
                goto out;
        }
    }
    rc = x_ledger_sync(x, err);
out:
    free(j);
    free(vms);
    free(dh);
    return rc;
}
