/* SPDX-License-Identifier: MIT */
/*
 * The hvfleet maintenance strategy as a twin controller: which host evacuates next, which VM
 * goes where and how, under the policy's limits, with a claim on every target.
 *
 * Events reach on_event synchronously, even from inside our own actions (stopping the last VM
 * of a host reports it evacuated at once), so events are queued and handled one at a time.
 */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "plan/maint-ctl.h"

static size_t mctl_schedule(mctl *m);

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static uint64_t
mctl_usable(const mctl *m, int32_t h)
{
    return hvf_host_usable(&m->f->hosts[h]).mem_mib;
}

static void
mctl_count(mctl *m, int32_t h, int delta)
{
    const hvf_host *host = &m->f->hosts[h];

    m->counted += (uint32_t)delta;
    m->counted_rack[host->rack] += (uint32_t)delta;
    m->counted_zone[host->zone] += (uint32_t)delta;
    m->counted_mib += (uint64_t)((int64_t)delta * (int64_t)mctl_usable(m, h));
}

static void
mctl_evac_remove(mctl *m, int32_t h)
{
    for (size_t i = 0; i < m->nevac; i++) {
        if (m->evac[i] == h) {
            m->evac[i] = m->evac[--m->nevac];
            return;
        }
    }
}

/* ---- hosts ----------------------------------------------------------------------------------- */

static bool
mctl_may_start(const mctl *m, int32_t h)
{
    const hvf_host *host = &m->f->hosts[h];
    const hvf_policy *p = &m->pol;

    if (m->counted >= p->max_parallel_hosts)
        return false;
    /* VMs still on their way to it would land on a host being emptied: let them arrive. */
    if (m->in_flight[h] > 0)
        return false;
    if (p->max_parallel_per_rack && m->counted_rack[host->rack] >= p->max_parallel_per_rack)
        return false;
    if (p->max_parallel_per_zone && m->counted_zone[host->zone] >= p->max_parallel_per_zone)
        return false;
    /* Always let one host go, even one bigger than the share: else nothing ever happens. */
    if (m->counted > 0 && (double)(m->counted_mib + mctl_usable(m, h)) >
                              p->seatbelt.max_capacity_offline * (double)m->total_mib)
        return false;
    return true;
}

static void
mctl_fail_host(mctl *m, int32_t h, bool was_counted)
{
    hvf_error err = HVF_ERROR_INIT;

    if (m->phase[h] == MH_EVACUATING) {
        mctl_evac_remove(m, h);
        /* Back in service as it is; a host already emptied and maintained is not here. */
        if (hvf_sim_set_host_state(m->sim, h, HVF_SIM_HOST_ACTIVE, &err) < 0)
            hvf_sim_log(m->sim, "plan_error", h, -1, err.msg);
    }
    if (was_counted)
        mctl_count(m, h, -1);
    m->phase[h] = MH_FAILED;
    m->failed++;
    /* Not maintained after all: a target like any host outside the plan. */
    hvf_placer_set_role(m->placer, h, HVF_PLACE_ROLE_NORMAL);
}

/* "VM 'x' (8 GiB, 4 vCPUs) fits nowhere: state 2 spread 1" for the first VM of @h that has no
 * host at all; false when every VM has one. */
static bool
mctl_explain_host(mctl *m, int32_t h, char *why, size_t size)
{
    const int32_t *list;
    size_t n = hvf_sim_host_vms(m->sim, h, &list);

    for (size_t i = 0; i < n; i++) {
        int32_t vm = list[i];
        hvf_place_result res;
        char mem[32];
        size_t o;

        if (hvf_sim_vm_state_get(m->sim, vm) != HVF_SIM_VM_RUNNING ||
            hvf_sim_vm_host(m->sim, vm) != h)
            continue;
        if (mctl_decide(m, vm, h) == ACT_STOP || m->act[vm] == ACT_REFUSE)
            continue;
        if (mctl_choose(m, vm, h, true, false, &res) >= 0)
            continue;
        mctl_choose(m, vm, h, true, true, &res); /* again, counting every host, to explain */
        o = (size_t)snprintf(
            why, size, "VM '%s' (%s, %u vCPUs) fits nowhere (", m->f->vms[vm].name,
            hvf_units_format_size(m->f->vms[vm].mem_mib * HVF_MIB, mem, sizeof(mem)),
            m->f->vms[vm].vcpus);
        for (int r = 0, k = 0; r < HVF_PLACE_REJECT_LAST && o < size; r++) {
            if (res.rejected[r])
                o += (size_t)snprintf(why + o, size - o, "%s%s: %u host%s", k++ ? ", " : "",
                                      hvf_place_reject_to_string((hvf_place_reject)r),
                                      res.rejected[r], res.rejected[r] == 1 ? "" : "s");
        }
        if (o < size)
            snprintf(why + o, size - o, ")");
        return true;
    }
    return false;
}

/* Returns false when @h was not started (deferred: one of its VMs has no host right now). */
static bool
mctl_start_host(mctl *m, int32_t h)
{
    char why[320];
    const int32_t *list;
    size_t n = hvf_sim_host_vms(m->sim, h, &list);
    size_t refused = 0;
    hvf_error err = HVF_ERROR_INIT;
    char first[HVF_NAME_MAX + 1] = "";

    for (size_t i = 0; i < n; i++) {
        if (hvf_sim_vm_state_get(m->sim, list[i]) != HVF_SIM_VM_RUNNING)
            continue;
        if (mctl_decide(m, list[i], h) != ACT_REFUSE)
            continue;
        mctl_note(m, list[i]);
        if (refused++ == 0)
            hvf_strlcpy(first, m->f->vms[list[i]].name, sizeof(first));
    }
    if (refused) {
        hvf_plan_add_reason(m->plan,
                            "refused: host '%s' is not maintained: %zu VM%s (first '%s') cannot "
                            "be moved and non_converging is refuse",
                            m->f->hosts[h].name, refused, refused == 1 ? "" : "s", first);
        m->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
        mctl_fail_host(m, h, false);
        return true;
    }
    /* Never start what cannot finish: a VM with no host at all waits for capacity (a host
     * back from maintenance), or fails the host when nothing is left to wait for. */
    if (mctl_explain_host(m, h, why, sizeof(why)))
        return false;
    if (hvf_sim_set_host_state(m->sim, h, HVF_SIM_HOST_EVACUATING, &err) < 0) {
        hvf_plan_add_reason(m->plan, "refused: host '%s' cannot be evacuated: %s",
                            m->f->hosts[h].name, err.msg);
        m->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
        mctl_fail_host(m, h, false);
        return true;
    }
    m->phase[h] = MH_EVACUATING;
    m->evac[m->nevac++] = h;
    mctl_count(m, h, 1);
    hvf_placer_set_role(m->placer, h, HVF_PLACE_ROLE_OFFLINE);
    mrec_host_evac_start(&m->rec, h);
    mctl_pump(m, h);
    return true;
}

/* Starts what the limits allow; returns how many hosts started. */
static size_t
mctl_schedule(mctl *m)
{
    size_t started = 0;

    if (!m->started)
        return 0;
    while (m->sched_from < m->norder && m->phase[m->order[m->sched_from]] != MH_PENDING)
        m->sched_from++;
    for (size_t i = m->sched_from; i < m->norder; i++) {
        int32_t h = m->order[i];
        if (m->phase[h] != MH_PENDING)
            continue;
        if (m->counted >= m->pol.max_parallel_hosts)
            break;
        if (mctl_may_start(m, h) && mctl_start_host(m, h))
            started++;
    }
    return started;
}

/* Nothing moves and nothing will: what is still evacuating or waiting cannot be done. */
static void
mctl_resolve_stall(mctl *m)
{
    while (m->started && m->in_maint == 0 && hvf_sim_migrations_active(m->sim) == 0 && m->qn == 0) {
        char why[320] = "no VM can be moved";

        if (m->nevac > 0) {
            int32_t h = m->evac[0];
            const int32_t *list;
            size_t n = hvf_sim_host_vms(m->sim, h, &list);

            for (size_t i = 0; i < n; i++) {
                int32_t vm = list[i];
                if (hvf_sim_vm_state_get(m->sim, vm) == HVF_SIM_VM_RUNNING &&
                    m->act[vm] == ACT_STOP) {
                    snprintf(why, sizeof(why),
                             "VM '%s' must be shut down but service '%s' would drop below "
                             "min_available",
                             m->f->vms[vm].name, m->f->services[m->f->vms[vm].service].name);
                    break;
                }
            }
            mctl_explain_host(m, h, why, sizeof(why));
            hvf_plan_add_reason(m->plan,
                                "refused: host '%s' cannot be evacuated (abandoned part way): %s",
                                m->f->hosts[h].name, why);
            m->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
            mctl_fail_host(m, h, true);
            mrec_host_drop(&m->rec, h);
        } else if (mctl_schedule(m) == 0) {
            /* Hosts left waiting for capacity that will never come. */
            bool any = false;
            for (size_t i = m->sched_from; i < m->norder; i++) {
                int32_t h = m->order[i];
                if (m->phase[h] != MH_PENDING)
                    continue;
                any = true;
                if (!mctl_explain_host(m, h, why, sizeof(why)))
                    snprintf(why, sizeof(why), "the policy's limits never let it start");
                hvf_plan_add_reason(m->plan, "refused: host '%s' cannot be evacuated: %s",
                                    m->f->hosts[h].name, why);
                m->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
                mctl_fail_host(m, h, false);
            }
            if (!any)
                break;
            continue;
        }
        if (hvf_sim_migrations_active(m->sim) > 0)
            break;
        mctl_schedule(m);
        for (size_t i = 0; i < m->nevac; i++)
            mctl_pump(m, m->evac[i]);
    }
}

/* ---- events ---------------------------------------------------------------------------------- */

static void
mctl_handle(mctl *m, const mctl_qev *q)
{
    const hvf_sim_event *ev = &q->ev;
    hvf_error err = HVF_ERROR_INIT;

    switch (ev->type) {
    case HVF_SIM_EV_TIMER:
        if (ev->tag == MCTL_TAG_START) {
            m->started = true;
            mctl_schedule(m);
        }
        break;
    case HVF_SIM_EV_MIGRATION_END:
    case HVF_SIM_EV_MIGRATION_ABORT: {
        bool end = ev->type == HVF_SIM_EV_MIGRATION_END;
        bool was_busy = m->in_flight[ev->to] >= m->pol.max_migrations_in_per_host;
        int32_t svc = m->f->vms[ev->vm].service;

        HVF_ASSERT(m->in_flight[ev->to] > 0);
        if (m->in_flight[ev->to]-- == m->pol.max_migrations_in_per_host)
            hvf_placer_set_busy(m->placer, ev->to, false);
        if (m->is_return[ev->vm]) {
            m->return_flight[ev->to]--;
        }
        hvf_placer_host_changed(m->placer, ev->from);
        hvf_placer_host_changed(m->placer, ev->to);
        hvf_placer_replica_remove(m->placer, svc, end ? ev->from : ev->to);
        if (end) {
            mrec_mig_end(&m->rec, ev, &q->mig, !m->is_return[ev->vm]);
        } else {
            mrec_mig_abort(&m->rec, ev->vm);
            /* Pre-copy gave up: the policy's way; auto-converge gave up: post-copy ends. */
            if (m->act[ev->vm] == ACT_PRECOPY) {
                m->act[ev->vm] = (uint8_t)mctl_policy_act(m);
                if (m->act[ev->vm] == ACT_REFUSE)
                    mctl_note(m, ev->vm);
            } else if (m->act[ev->vm] == ACT_AUTO) {
                m->act[ev->vm] = ACT_POST;
            }
        }
        m->is_return[ev->vm] = false;
        mctl_pump(m, ev->from);
        if (m->phase[ev->to] == MH_RETURNING)
            mctl_pump_returns(m, ev->to);
        mctl_pump_all_returns(m);
        if (was_busy)
            mctl_pump_blocked(m, BLK_BUSY);
        if (m->in_flight[ev->to] == 0 && m->phase[ev->to] == MH_PENDING)
            mctl_schedule(m); /* it may have waited for this arrival */
        if (!end)
            mctl_pump_blocked(m, BLK_ROOM); /* its claim is free again */
        break;
    }
    case HVF_SIM_EV_HOST_EVACUATED:
        if (m->phase[ev->host] != MH_EVACUATING)
            break;
        mctl_evac_remove(m, ev->host);
        mrec_host_evac_end(&m->rec, ev->host);
        if (m->kind == HVF_PLAN_KIND_DRAIN) {
            /* drained: stays out of service, no longer held against the limits */
            m->phase[ev->host] = MH_DONE;
            m->done++;
            mctl_count(m, ev->host, -1);
            mctl_schedule(m);
            break;
        }
        if (hvf_sim_begin_maintenance(m->sim, ev->host, m->pol.maintenance_time_us, &err) < 0) {
            hvf_plan_add_reason(m->plan, "refused: host '%s' cannot enter maintenance: %s",
                                m->f->hosts[ev->host].name, err.msg);
            m->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
            m->phase[ev->host] = MH_EVACUATING; /* mctl_fail_host expects it listed */
            m->evac[m->nevac++] = ev->host;
            mctl_fail_host(m, ev->host, true);
            break;
        }
        m->phase[ev->host] = MH_MAINTENANCE;
        m->in_maint++;
        mrec_host_maint_start(&m->rec, ev->host);
        break;
    case HVF_SIM_EV_HOST_IN_SERVICE: {
        int32_t h = ev->host;
        const int32_t *list;
        size_t n;

        if (m->phase[h] != MH_MAINTENANCE)
            break;
        m->in_maint--;
        mctl_count(m, h, -1);
        mrec_host_maint_end(&m->rec, h);
        /* VMs shut down for this maintenance boot again here. */
        n = hvf_sim_host_vms(m->sim, h, &list);
        for (size_t i = 0; i < n; i++) {
            int32_t vm = list[i], s = m->f->vms[vm].service;
            if (hvf_sim_vm_state_get(m->sim, vm) != HVF_SIM_VM_STOPPED || m->rec.vm_stop[vm] < 0)
                continue;
            if (hvf_sim_start_vm(m->sim, vm, h, &err) == 0) {
                if (s >= 0)
                    m->svc_stopped[s]--;
                mrec_start(&m->rec, vm, h);
                n = hvf_sim_host_vms(m->sim, h, &list);
            }
        }
        hvf_placer_host_changed(m->placer, h);
        if (m->pol.return_vms) {
            m->phase[h] = MH_RETURNING;
            m->ret[m->nret++] = h;
            mctl_pump_returns(m, h);
        } else {
            mctl_finish_host(m, h);
        }
        mctl_schedule(m);
        mctl_pump_blocked(m, BLK_ROOM | BLK_STOP | BLK_BUSY);
        break;
    }
    case HVF_SIM_EV_HOST_CRASH:
        m->refresh_all = true;
        break;
    case HVF_SIM_EV_VM_DOWN:
        m->refresh_all = true;
        mrec_vm_down(&m->rec, ev->vm);
        break;
    default:
        break;
    }
}

static void
mctl_drain_queue(mctl *m)
{
    if (m->busy)
        return;
    m->busy = true;
    do {
        while (m->qhead < m->qn) {
            mctl_qev q = m->queue[m->qhead++];
            mctl_handle(m, &q);
            if (m->observe)
                m->observe(m->sim, &q.ev, m->observe_ctx);
        }
        m->qhead = m->qn = 0;
        mctl_resolve_stall(m);
    } while (m->qn > 0);
    m->busy = false;
}

static void
mctl_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    mctl *m = ctx;
    mctl_qev *q;

    hvf_grow(&m->queue, &m->qcap, m->qn + 1, sizeof(mctl_qev));
    q = &m->queue[m->qn++];
    memset(q, 0, sizeof(*q));
    q->ev = *ev;
    if (ev->type == HVF_SIM_EV_MIGRATION_END) {
        hvf_error err = HVF_ERROR_INIT;
        HVF_ASSERT(hvf_sim_migration_result(sim, ev->migration, &q->mig, &err) == 0);
    }
    mctl_drain_queue(m);
}

/* Emptiest first: they are quickest to free, and once maintained they take the others' VMs. */
static int
mctl_order_cmp(const void *a, const void *b, void *ctx)
{
    const hvf_fleet *f = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint64_t ux = f->hosts[x].used.mem_mib;
    uint64_t uy = f->hosts[y].used.mem_mib;

    if (ux != uy)
        return ux < uy ? -1 : 1;
    return (x > y) - (x < y);
}

static void
mctl_on_start(hvf_sim *sim, void *ctx)
{
    mctl *m = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    HVF_AUTOFREE uint32_t *fill = NULL;

    m->sim = sim;
    m->f = f;
    mrec_init(&m->rec, m->plan, sim, &m->pol);
    m->placer = hvf_placer_new(f, &m->pol);
    m->phase = hvf_calloc(f->nhosts + 1, 1);
    m->blocked = hvf_calloc(f->nhosts + 1, 1);
    m->in_flight = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    m->return_flight = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    m->act = hvf_calloc(f->nvms + 1, 1);
    m->is_return = hvf_calloc(f->nvms + 1, sizeof(bool));
    m->counted_rack = hvf_calloc(f->nracks + 1, sizeof(uint32_t));
    m->counted_zone = hvf_calloc(f->nzones + 1, sizeof(uint32_t));
    m->svc_replicas = hvf_calloc(f->nservices + 1, sizeof(uint32_t));
    m->svc_stopped = hvf_calloc(f->nservices + 1, sizeof(uint32_t));
    m->order = hvf_calloc(m->nreq + 1, sizeof(int32_t));
    m->evac = hvf_calloc(m->nreq + 1, sizeof(int32_t));
    m->ret = hvf_calloc(m->nreq + 1, sizeof(int32_t));
    for (size_t h = 0; h < f->nhosts; h++) {
        if (f->hosts[h].state == HVF_HOST_STATE_ACTIVE)
            m->total_mib += mctl_usable(m, (int32_t)h);
    }
    for (size_t v = 0; v < f->nvms; v++) {
        if (f->vms[v].service >= 0)
            m->svc_replicas[f->vms[v].service]++;
    }
    /* Where each VM lives now: its home, for return_vms. */
    m->home_start = hvf_calloc(f->nhosts + 2, sizeof(uint32_t));
    m->home_vms = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    fill = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    for (size_t v = 0; v < f->nvms; v++)
        m->home_start[f->vms[v].host + 1]++;
    for (size_t h = 0; h < f->nhosts; h++)
        m->home_start[h + 1] += m->home_start[h];
    for (size_t v = 0; v < f->nvms; v++) {
        int32_t h = f->vms[v].host;
        m->home_vms[m->home_start[h] + fill[h]++] = (uint32_t)v;
    }
    for (size_t i = 0; i < m->nreq; i++) {
        int32_t h = m->req_hosts[i];
        if (m->phase[h] != MH_IDLE)
            continue;
        m->phase[h] = MH_PENDING;
        m->order[m->norder++] = h;
        /* Due: a VM sent there now would move again when its turn comes (drains too). */
        hvf_placer_set_role(m->placer, h, HVF_PLACE_ROLE_DUE);
    }
    qsort_r(m->order, m->norder, sizeof(int32_t), mctl_order_cmp, (void *)f);
    hvf_sim_add_timer(sim, m->pol.window_start_us, MCTL_TAG_START);
    if (m->observe)
        m->observe(sim, NULL, m->observe_ctx);
}

mctl *
mctl_new(const hvf_maint_opts *opts, hvf_plan *plan, hvf_sim_controller *ctl)
{
    mctl *m = HVF_NEW(mctl);

    if (opts->policy)
        m->pol = *opts->policy;
    else
        hvf_policy_default(&m->pol);
    m->kind = opts->kind;
    m->plan = plan;
    m->req_hosts = hvf_calloc(opts->nhosts + 1, sizeof(int32_t));
    memcpy(m->req_hosts, opts->hosts, opts->nhosts * sizeof(int32_t));
    m->nreq = opts->nhosts;
    m->observe = opts->observe;
    m->observe_ctx = opts->observe_ctx;
    ctl->name = "hvfleet";
    ctl->ctx = m;
    ctl->on_start = mctl_on_start;
    ctl->on_event = mctl_on_event;
    ctl->on_finish = NULL;
    return m;
}

void
mctl_result(mctl *m, hvf_maint_outcome *out)
{
    size_t pending = 0;

    mrec_finish(&m->rec);
    for (size_t i = 0; i < m->norder; i++) {
        uint8_t ph = m->phase[m->order[i]];
        if (ph != MH_DONE && ph != MH_FAILED)
            pending++;
        if (ph == MH_RETURNING)
            pending--, m->done++; /* maintained; some VMs did not come back in time */
    }
    if (pending) {
        hvf_plan_add_reason(m->plan,
                            "refused: %zu host%s not done when the simulation ended "
                            "(%s after the start)",
                            pending, pending == 1 ? " was" : "s were", "the twin's duration");
        m->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
    }
    out->hosts_done = m->done;
    out->hosts_failed = m->failed;
    out->finished = pending == 0 && m->failed == 0;
}

void
mctl_free(mctl *m)
{
    if (!m)
        return;
    mrec_free(&m->rec);
    hvf_placer_free(m->placer);
    free(m->req_hosts);
    free(m->phase);
    free(m->blocked);
    free(m->in_flight);
    free(m->return_flight);
    free(m->act);
    free(m->is_return);
    free(m->home_start);
    free(m->home_vms);
    free(m->order);
    free(m->evac);
    free(m->ret);
    free(m->counted_rack);
    free(m->counted_zone);
    free(m->svc_replicas);
    free(m->svc_stopped);
    free(m->queue);
    free(m);
}
