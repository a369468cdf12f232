/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver's world (lv-driver.h): what the hosts' daemons and the workers say, folded
 * into the fleet on the caller's thread, and the timers (reconnections, migration statistics
 * and deadlines, dirty rates).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/libvirt/lv-driver.h"
#include "hvfleet/alloc.h"

#define LV_BACKOFF_MIN_US 1000000
#define LV_BACKOFF_MAX_US 30000000
#define LV_STATS_EVERY_US 500000
/* page sampling (libvirt exposes no sample count): 512 pages a GiB, so a slow writer needs a
 * few seconds to show at all */
#define LV_DIRTY_CALC_S 3

int64_t
lv_now(const lv_priv *p)
{
    return (hvf_drv_mono_ns() - p->t0_ns) / 1000;
}

void
lv_emit(lv_priv *p, hvf_drv_event_type type, const char *host, const char *vm,
        hvf_drv_vm_state vs, int64_t job, hvf_job_state js)
{
    hvf_drv_evq_push(&p->evq, lv_now(p), type, host, vm, vs, job, js);
}

const char *
lv_host_desc(const lv_priv *p, int32_t h, char *buf, size_t size)
{
    snprintf(buf, size, "host '%s' (%s)", p->fleet->hosts[h].name, p->hosts[h].uri);
    return buf;
}

lv_task *
lv_task_new(lv_priv *p, lv_task_kind kind, int32_t host)
{
    lv_task *t = HVF_NEW(lv_task);

    t->id = p->next_task++;
    t->kind = kind;
    t->host = host;
    return t;
}

lv_job *
lv_job_find(lv_priv *p, int64_t id)
{
    for (size_t i = 0; i < p->njobs; i++)
        if (p->jobs[i].id == id)
            return &p->jobs[i];
    return NULL;
}

void
lv_job_abort(lv_priv *p, lv_job *j)
{
    lv_task *t;

    if (j->abort_sent || j->ended || !p->hosts[j->src].conn)
        return;
    j->abort_sent = true;
    t = lv_task_new(p, LV_TASK_ABORT, j->src);
    hvf_strlcpy(t->vm, p->fleet->vms[j->vm].name, sizeof(t->vm));
    virConnectRef(p->hosts[j->src].conn);
    t->conn = p->hosts[j->src].conn;
    lv_pool_submit(&p->pool, t);
}

void
lv_host_connect(lv_priv *p, int32_t h)
{
    lv_host *ho = &p->hosts[h];
    lv_task *t;

    if (ho->conn || ho->opening)
        return;
    ho->opening = true;
    t = lv_task_new(p, LV_TASK_OPEN, h);
    t->uri = hvf_strdup(ho->uri);
    lv_pool_submit(&p->pool, t);
}

/* ---- callbacks (the event-loop thread): post, nothing else ---- */

typedef struct lv_cb_ctx {
    lv_queue *q;
    int32_t host;
    virConnectPtr conn; /* compared only: which connection it was */
} lv_cb_ctx;

static void
lv_cb_free(void *opaque)
{
    lv_cb_ctx *c = opaque;

    lv_queue_unref(c->q);
    free(c);
}

static lv_cb_ctx *
lv_cb_new(lv_priv *p, int32_t h)
{
    lv_cb_ctx *c = HVF_NEW(lv_cb_ctx);

    c->q = lv_queue_ref(p->q);
    c->host = h;
    c->conn = p->hosts[h].conn;
    return c;
}

static void
lv_close_cb(virConnectPtr conn, int reason, void *opaque)
{
    lv_cb_ctx *c = opaque;
    lv_msg m = {.kind = LV_MSG_CLOSED, .host = c->host, .conn = NULL};

    (void)conn;
    snprintf(m.text, sizeof(m.text), "the connection closed (%s)",
             reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out"
             : reason == VIR_CONNECT_CLOSE_REASON_EOF     ? "end of file"
             : reason == VIR_CONNECT_CLOSE_REASON_ERROR   ? "error"
                                                          : "closed by the client");
    /* not .conn: a message's conn is a reference the queue owns; this one is only compared */
    m.task = (int64_t)(intptr_t)c->conn;
    lv_queue_post(c->q, &m);
}

static int
lv_lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    lv_cb_ctx *c = opaque;
    lv_msg m = {.kind = LV_MSG_LIFECYCLE, .host = c->host, .event = event, .detail = detail};
    const char *name = virDomainGetName(dom);

    (void)conn;
    hvf_strlcpy(m.vm, name ? name : "", sizeof(m.vm));
    m.task = (int64_t)(intptr_t)c->conn;
    lv_queue_post(c->q, &m);
    return 0;
}

/* ---- the caller's thread ---- */

static hvf_drv_vm_state
lv_state_of(int state)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        return HVF_DRV_VM_RUNNING;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        return HVF_DRV_VM_PAUSED;
    case VIR_DOMAIN_CRASHED:
        return HVF_DRV_VM_CRASHED;
    default:
        return HVF_DRV_VM_STOPPED;
    }
}

static void
lv_vm_set(lv_priv *p, int32_t v, int32_t h, hvf_drv_vm_state st, bool emit)
{
    lv_vm *vm = &p->vms[v];

    if (vm->state == st && p->fleet->vms[v].host == h)
        return;
    hvf_drv_vm_place(p->fleet, v, h);
    vm->state = st;
    if (emit)
        lv_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[h].name, p->fleet->vms[v].name, st, -1,
                HVF_JOB_SETUP);
}

static void
lv_vm_cache_xml(lv_priv *p, int32_t v, virDomainPtr dom)
{
    if (!p->vms[v].xml) {
        char *x = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);

        if (x) {
            p->vms[v].xml = hvf_strdup(x);
            free(x);
        }
    }
}

/* What runs on @h now, after its connection opened. */
static void
lv_host_refresh(lv_priv *p, int32_t h, bool emit)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(p->hosts[h].conn, &doms, 0);
    bool *seen = hvf_calloc(p->fleet->nvms ? p->fleet->nvms : 1, sizeof(bool));

    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);
        int32_t v = name ? hvf_fleet_find_vm(p->fleet, name) : -1;
        int state, reason;

        if (v >= 0 && virDomainGetState(doms[i], &state, &reason, 0) == 0) {
            hvf_drv_vm_state st = lv_state_of(state);

            lv_vm_cache_xml(p, v, doms[i]);
            if (p->vms[v].job < 0 && (st != HVF_DRV_VM_STOPPED || p->fleet->vms[v].host == h ||
                                      p->vms[v].state == HVF_DRV_VM_STOPPED)) {
                /* a running copy wins over a stopped definition elsewhere */
                if (st != HVF_DRV_VM_STOPPED || p->vms[v].state == HVF_DRV_VM_STOPPED)
                    lv_vm_set(p, v, h, st, emit);
                seen[v] = true;
            }
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    /* what was running here and is gone (the host restarted, or it was destroyed meanwhile) */
    for (size_t v = 0; n >= 0 && v < p->fleet->nvms; v++)
        if (!seen[v] && p->fleet->vms[v].host == h && p->vms[v].job < 0 &&
            p->vms[v].state != HVF_DRV_VM_STOPPED && p->vms[v].state != HVF_DRV_VM_CRASHED)
            lv_vm_set(p, (int32_t)v, h, HVF_DRV_VM_STOPPED, emit);
    free(seen);
}

void
lv_host_drop(lv_priv *p, int32_t h)
{
    lv_host *ho = &p->hosts[h];

    if (!ho->conn)
        return;
    if (ho->lifecycle_cb >= 0)
        virConnectDomainEventDeregisterAny(ho->conn, ho->lifecycle_cb);
    ho->lifecycle_cb = -1;
    if (ho->close_ctx) {
        virConnectUnregisterCloseCallback(ho->conn, lv_close_cb);
        lv_cb_free(ho->close_ctx);
        ho->close_ctx = NULL;
    }
    virConnectClose(ho->conn);
    ho->conn = NULL;
}

static void
lv_on_opened(lv_priv *p, lv_msg *m)
{
    lv_host *ho = &p->hosts[m->host];
    bool was_lost = ho->state == HVF_DRV_HOST_DOWN && ho->ever_up;
    lv_cb_ctx *cb;

    ho->opening = false;
    if (ho->conn) {
        virConnectClose(m->conn);
        m->conn = NULL;
        return;
    }
    ho->conn = m->conn;
    ho->ever_up = true;
    m->conn = NULL;
    ho->backoff_us = 0;
    ho->error[0] = '\0';
    /* ours to free once unregistered: not every driver calls a close callback's free function
     * (test:/// does not) */
    ho->close_ctx = lv_cb_new(p, m->host);
    if (virConnectRegisterCloseCallback(ho->conn, lv_close_cb, ho->close_ctx, NULL) < 0) {
        lv_cb_free(ho->close_ctx);
        ho->close_ctx = NULL;
    }
    cb = lv_cb_new(p, m->host);
    ho->lifecycle_cb = virConnectDomainEventRegisterAny(
        ho->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(lv_lifecycle_cb),
        cb, lv_cb_free);
    if (ho->lifecycle_cb < 0)
        lv_cb_free(cb);
    lv_host_refresh(p, m->host, true);
    if (ho->state == HVF_DRV_HOST_DOWN ||
        (ho->state == HVF_DRV_HOST_MAINTENANCE && ho->maint_reconnect)) {
        bool back = was_lost || ho->maint_reconnect;

        ho->state = HVF_DRV_HOST_ACTIVE;
        ho->maint_reconnect = false;
        if (back)
            lv_emit(p, HVF_DRV_EV_HOST_BACK, p->fleet->hosts[m->host].name, NULL,
                    HVF_DRV_VM_RUNNING, -1, HVF_JOB_SETUP);
    }
}

static void
lv_retry_later(lv_priv *p, int32_t h, const char *why)
{
    lv_host *ho = &p->hosts[h];

    ho->opening = false;
    ho->backoff_us = ho->backoff_us ? ho->backoff_us * 2 : LV_BACKOFF_MIN_US;
    if (ho->backoff_us > LV_BACKOFF_MAX_US)
        ho->backoff_us = LV_BACKOFF_MAX_US;
    ho->retry_at_us = lv_now(p) + ho->backoff_us;
    hvf_strlcpy(ho->error, why, sizeof(ho->error));
}

static void
lv_on_closed(lv_priv *p, lv_msg *m)
{
    lv_host *ho = &p->hosts[m->host];

    if (!ho->conn || (int64_t)(intptr_t)ho->conn != m->task)
        return; /* an older connection's */
    lv_host_drop(p, m->host);
    lv_retry_later(p, m->host, m->text);
    /* a migration that needs this daemon can't finish: abort it on its source now, rather than
     * after the whole stream went to a target nobody will confirm (minutes, not seconds) */
    for (size_t i = 0; i < p->njobs; i++) {
        lv_job *j = &p->jobs[i];

        if (!j->ended && (j->dst == m->host || j->src == m->host) && !j->abort_sent) {
            snprintf(j->abort_why, sizeof(j->abort_why), "host '%s': %.100s; ",
                     p->fleet->hosts[m->host].name, m->text);
            lv_job_abort(p, j);
        }
    }
    ho->backoff_us = 0; /* the first retry at once: a restarted daemon answers soon */
    ho->retry_at_us = lv_now(p);
    if (ho->state == HVF_DRV_HOST_MAINTENANCE) {
        ho->maint_reconnect = ho->maint_task == 0; /* rebooting for its maintenance */
        return;
    }
    if (ho->state != HVF_DRV_HOST_DOWN) {
        ho->state = HVF_DRV_HOST_DOWN;
        lv_emit(p, HVF_DRV_EV_HOST_LOST, p->fleet->hosts[m->host].name, NULL, HVF_DRV_VM_RUNNING,
                -1, HVF_JOB_SETUP);
    }
}

static void
lv_on_lifecycle(lv_priv *p, lv_msg *m)
{
    lv_host *ho = &p->hosts[m->host];
    int32_t v = hvf_fleet_find_vm(p->fleet, m->vm);
    bool here;

    if (v < 0 || !ho->conn || (int64_t)(intptr_t)ho->conn != m->task || p->vms[v].job >= 0)
        return; /* not ours, an older connection's, or a migration's (its end settles it) */
    here = p->fleet->vms[v].host == m->host;
    switch (m->event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED: {
        virDomainPtr dom = virDomainLookupByName(ho->conn, m->vm);

        if (dom) {
            lv_vm_cache_xml(p, v, dom);
            virDomainFree(dom);
        }
        lv_vm_set(p, v, m->host, HVF_DRV_VM_RUNNING, true);
        break;
    }
    case VIR_DOMAIN_EVENT_SUSPENDED:
        if (here)
            lv_vm_set(p, v, m->host, HVF_DRV_VM_PAUSED, true);
        break;
    case VIR_DOMAIN_EVENT_CRASHED:
        if (here)
            lv_vm_set(p, v, m->host, HVF_DRV_VM_CRASHED, true);
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
        if (here && m->detail != VIR_DOMAIN_EVENT_STOPPED_MIGRATED)
            lv_vm_set(p, v, m->host,
                      m->detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED ||
                              m->detail == VIR_DOMAIN_EVENT_STOPPED_FAILED
                          ? HVF_DRV_VM_CRASHED
                          : HVF_DRV_VM_STOPPED,
                      true);
        break;
    default:
        break;
    }
}

static void
lv_job_end(lv_priv *p, lv_job *j, hvf_job_state st, const char *why)
{
    j->ended = true;
    j->info.state = st;
    j->info.ended_us = lv_now(p);
    if (st == HVF_JOB_COMPLETED) {
        j->info.remaining_bytes = 0;
        hvf_drv_vm_place(p->fleet, j->vm, j->dst);
    } else {
        snprintf(j->info.error, sizeof(j->info.error), "%s", why);
    }
    p->vms[j->vm].job = -1;
    p->vms[j->vm].state = HVF_DRV_VM_RUNNING;
    lv_emit(p, HVF_DRV_EV_JOB_DONE, p->fleet->hosts[p->fleet->vms[j->vm].host].name,
            p->fleet->vms[j->vm].name, HVF_DRV_VM_RUNNING, j->id, st);
}

static void
lv_on_done(lv_priv *p, lv_msg *m)
{
    char hd[300];

    for (size_t i = 0; i < p->njobs; i++) {
        lv_job *j = &p->jobs[i];

        if (j->task != m->task || j->ended)
            continue;
        if (m->ok)
            lv_job_end(p, j, HVF_JOB_COMPLETED, "");
        else {
            char why[1024];

            snprintf(why, sizeof(why), "%s%s: domain '%s': %s%s", j->abort_why,
                     lv_host_desc(p, j->src, hd, sizeof(hd)), m->vm,
                     j->timed_out ? "no completion within its timeout: " : "", m->text);
            lv_job_end(p, j, j->cancel ? HVF_JOB_CANCELLED : HVF_JOB_FAILED, why);
        }
        return;
    }
    for (size_t v = 0; v < p->fleet->nvms; v++) {
        lv_vm *vm = &p->vms[v];

        if (vm->task != m->task)
            continue;
        vm->task = 0;
        if (m->ok) {
            /* done, whether its lifecycle event came first or comes after */
            lv_vm_set(p, (int32_t)v, m->host,
                      vm->task_kind == LV_TASK_START ? HVF_DRV_VM_RUNNING : HVF_DRV_VM_STOPPED,
                      false);
        } else {
            lv_warn("%s: domain '%s': %s", lv_host_desc(p, m->host, hd, sizeof(hd)),
                          m->vm, m->text);
        }
        /* either way the caller hears where the VM is and in which state */
        lv_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[p->fleet->vms[v].host].name,
                p->fleet->vms[v].name, vm->state, -1, HVF_JOB_SETUP);
        return;
    }
    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        lv_host *ho = &p->hosts[h];

        if (ho->maint_task != m->task)
            continue;
        ho->maint_task = 0;
        if (!m->ok) {
            lv_warn("%s: maintenance: %s",
                          lv_host_desc(p, (int32_t)h, hd, sizeof(hd)), m->text);
            ho->state = HVF_DRV_HOST_DOWN;
            lv_emit(p, HVF_DRV_EV_HOST_LOST, p->fleet->hosts[h].name, NULL, HVF_DRV_VM_RUNNING, -1,
                    HVF_JOB_SETUP);
        } else if (ho->conn) {
            ho->state = HVF_DRV_HOST_ACTIVE;
            lv_emit(p, HVF_DRV_EV_HOST_BACK, p->fleet->hosts[h].name, NULL, HVF_DRV_VM_RUNNING,
                    -1, HVF_JOB_SETUP);
        } else {
            ho->maint_reconnect = true; /* it rebooted: back when its daemon answers */
        }
        return;
    }
}

void
lv_handle(lv_priv *p, lv_msg *m)
{
    if (m->host < 0 || (size_t)m->host >= p->fleet->nhosts)
        return;
    switch (m->kind) {
    case LV_MSG_OPENED:
        lv_on_opened(p, m);
        break;
    case LV_MSG_OPEN_FAILED:
        lv_retry_later(p, m->host, m->text);
        break;
    case LV_MSG_CLOSED:
        lv_on_closed(p, m);
        break;
    case LV_MSG_LIFECYCLE:
        lv_on_lifecycle(p, m);
        break;
    case LV_MSG_DONE:
        lv_on_done(p, m);
        break;
    }
    if (m->conn) {
        virConnectClose(m->conn);
        m->conn = NULL;
    }
}

/* ---- timers ---- */

static void
lv_job_stats(lv_priv *p, lv_job *j, int64_t now)
{
    virConnectPtr c = p->hosts[j->src].conn;
    virDomainPtr dom;
    virTypedParameterPtr prm = NULL;
    int nprm = 0, type = VIR_DOMAIN_JOB_NONE;
    unsigned long long u;
    hvf_job_info *in = &j->info;

    if (!c || !(dom = virDomainLookupByName(c, p->fleet->vms[j->vm].name)))
        return;
    if (virDomainGetJobStats(dom, &type, &prm, &nprm, 0) == 0 && type != VIR_DOMAIN_JOB_NONE) {
        unsigned long long page = 4096, dirty_pages = 0;
        int i;

        if (in->state == HVF_JOB_SETUP)
            in->state = HVF_JOB_ACTIVE;
        /* before QEMU's first pass, libvirt reports no memory figures (or zeros): keep ours */
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_TOTAL, &u) == 1 && u) {
            in->total_bytes = u;
            if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_REMAINING, &u) == 1)
                in->remaining_bytes = u;
        }
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_PROCESSED, &u) == 1)
            in->transferred_bytes = u;
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_BPS, &u) == 1)
            in->bytes_per_s = (double)u;
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE, &u) == 1 && u)
            page = u;
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, &u) == 1)
            dirty_pages = u;
        in->dirty_bytes_per_s = (double)dirty_pages * (double)page;
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_MEMORY_ITERATION, &u) == 1)
            in->dirty_sync_count = (uint32_t)u;
        if (virTypedParamsGetULLong(prm, nprm, VIR_DOMAIN_JOB_DOWNTIME, &u) == 1)
            in->expected_downtime_us = (int64_t)u * 1000;
        if (virTypedParamsGetInt(prm, nprm, VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE, &i) == 1)
            in->throttle_pct = (uint32_t)i;
        if (!j->downtime_set && j->p.downtime_limit_us > 0) {
            j->downtime_set = true;
            virDomainMigrateSetMaxDowntime(dom, (unsigned long long)(j->p.downtime_limit_us / 1000),
                                           0);
        }
        if (j->want_postcopy && !j->postcopy_sent) {
            j->postcopy_sent = virDomainMigrateStartPostCopy(dom, 0) == 0;
            if (j->postcopy_sent)
                in->state = HVF_JOB_POSTCOPY;
        }
        if (!j->abort_sent && j->p.completion_timeout_us > 0 &&
            now - in->started_us > j->p.completion_timeout_us)
            j->timed_out = true;
        if (j->cancel || j->timed_out) /* asked for before libvirt's job began */
            lv_job_abort(p, j);
    }
    if (prm)
        virTypedParamsFree(prm, nprm);
    virDomainFree(dom);
}

bool
lv_dirty_read(virDomainPtr d, double *out)
{
    virDomainStatsRecordPtr *recs = NULL;
    virDomainPtr doms[2] = {d, NULL};
    long long mb;
    int status = -1;
    bool done = false;

    if (virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &recs, 0) == 1) {
        virTypedParamsGetInt(recs[0]->params, recs[0]->nparams, "dirtyrate.calc_status",
                             &status);
        /* a long long (libvirt's docs), not the unsigned kind the job statistics use */
        if (status == VIR_DOMAIN_DIRTYRATE_MEASURED &&
            virTypedParamsGetLLong(recs[0]->params, recs[0]->nparams,
                                   "dirtyrate.megabytes_per_second", &mb) == 1 && mb >= 0) {
            *out = (double)mb * 1048576.0;
            done = true;
        }
    }
    if (recs)
        virDomainStatsRecordListFree(recs);
    return done;
}

static void
lv_dirty(lv_priv *p, int64_t now)
{
    for (size_t v = 0; v < p->fleet->nvms; v++) {
        lv_vm *vm = &p->vms[v];
        int32_t h = p->fleet->vms[v].host;
        virConnectPtr c = h >= 0 ? p->hosts[h].conn : NULL;
        virDomainPtr dom;

        if (!c || vm->state != HVF_DRV_VM_RUNNING || vm->job >= 0)
            continue;
        if (vm->dirty_pending ? now - vm->dirty_at_us < LV_DIRTY_CALC_S * 1000000 + 500000
                              : vm->dirty_at_us && now - vm->dirty_at_us < p->dirty_every_us)
            continue;
        if (!(dom = virDomainLookupByName(c, p->fleet->vms[v].name)))
            continue;
        if (vm->dirty_pending) {
            /* QEMU hashes its samples after the period: a few seconds' grace, then give up */
            if (lv_dirty_read(dom, &vm->measured_dirty) ||
                now - vm->dirty_at_us > (LV_DIRTY_CALC_S + 5) * 1000000)
                vm->dirty_pending = false;
        } else {
            /* a host that can't measure is asked again at the next period */
            vm->dirty_pending = virDomainStartDirtyRateCalc(dom, LV_DIRTY_CALC_S, 0) == 0;
            vm->dirty_at_us = now;
        }
        virDomainFree(dom);
    }
}

void
lv_tick(lv_priv *p)
{
    int64_t now = lv_now(p);

    for (size_t h = 0; h < p->fleet->nhosts; h++)
        if (!p->hosts[h].conn && !p->hosts[h].opening && now >= p->hosts[h].retry_at_us)
            lv_host_connect(p, (int32_t)h);
    for (size_t i = 0; i < p->njobs; i++) {
        lv_job *j = &p->jobs[i];

        if (j->ended || now < j->next_stats_us)
            continue;
        j->next_stats_us = now + LV_STATS_EVERY_US;
        lv_job_stats(p, j, now);
    }
    if (p->dirty_every_us > 0)
        lv_dirty(p, now);
}
