/* SPDX-License-Identifier: MIT */
/*
 * Recording the naive scheduler of seed 000 into a plan: the twin's scheduler runs unchanged
 * inside this wrapper, which watches what it did after each of its callbacks.
 */
#include "hvfleet/alloc.h"
#include "hvfleet/sim-sched.h"
#include "plan/maint-priv.h"

enum { NV_NONE, NV_EVACUATING, NV_MAINTENANCE, NV_DONE };

struct mnaive {
    mrec rec;
    hvf_policy pol;
    hvf_plan *plan;
    hvf_sim_controller inner;
    size_t nhosts;
    int32_t *win_host; /* hosts by window time */
    int64_t *win_us;
    size_t win_next; /* windows before this one have opened */
    int32_t *late;   /* windows opened on hosts not evacuating yet (down, ...) */
    size_t nlate;
    int32_t *evac; /* hosts seen evacuating */
    size_t nevac;
    uint8_t *state;        /* per host */
    bool *stopped;         /* per VM: seen stopped by the scheduler */
    hvf_maint_observer observe;
    void *observe_ctx;
    uint32_t done;
};

static void
mn_watch_host(mnaive *n, int32_t h)
{
    if (h < 0 || n->state[h] != NV_NONE ||
        hvf_sim_host_state_get(n->rec.sim, h) != HVF_SIM_HOST_EVACUATING)
        return;
    n->state[h] = NV_EVACUATING;
    n->evac[n->nevac++] = h;
    mrec_host_evac_start(&n->rec, h);
}

/* New stops on the hosts being evacuated (migrations are recorded when they end). */
static void
mn_scan(mnaive *n)
{
    for (size_t i = 0; i < n->nevac; i++) {
        int32_t h = n->evac[i];
        const int32_t *vms;
        size_t nv = hvf_sim_host_vms(n->rec.sim, h, &vms);

        for (size_t k = 0; k < nv; k++) {
            int32_t vm = vms[k];
            hvf_sim_vm_state st = hvf_sim_vm_state_get(n->rec.sim, vm);
            if (st == HVF_SIM_VM_STOPPED && !n->stopped[vm]) {
                n->stopped[vm] = true;
                mrec_stop(&n->rec, vm, h);
                mrec_nonconv(&n->rec, vm, HVF_NON_CONVERGING_SHUTDOWN);
            }
        }
    }
}

static void
mn_evac_remove(mnaive *n, int32_t h)
{
    for (size_t i = 0; i < n->nevac; i++) {
        if (n->evac[i] == h) {
            n->evac[i] = n->evac[--n->nevac];
            return;
        }
    }
}

static void
mn_on_start(hvf_sim *sim, void *ctx)
{
    mnaive *n = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);

    mrec_init(&n->rec, n->plan, sim, &n->pol);
    n->evac = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
    n->state = hvf_calloc(f->nhosts + 1, 1);
    n->stopped = hvf_calloc(f->nvms + 1, sizeof(bool));
    n->inner.on_start(sim, n->inner.ctx);
    mn_scan(n);
    if (n->observe)
        n->observe(sim, NULL, n->observe_ctx);
}

static void
mn_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    mnaive *n = ctx;
    mrec *r = &n->rec;

    switch (ev->type) {
    case HVF_SIM_EV_MIGRATION_END: {
        hvf_sim_migration_info mig;
        hvf_error err = HVF_ERROR_INIT;

        /* now, before the scheduler reacts: its next migration may take this one's id */
        HVF_ASSERT(hvf_sim_migration_result(sim, ev->migration, &mig, &err) == 0);
        mrec_mig_start(r, ev->vm, ev->from, ev->to, HVF_PLAN_MIGRATION_PRECOPY, mig.start_us);
        mrec_mig_end(r, ev, &mig, true);
        break;
    }
    case HVF_SIM_EV_HOST_EVACUATED:
        if (n->state[ev->host] == NV_EVACUATING)
            mrec_host_evac_end(r, ev->host);
        break;
    case HVF_SIM_EV_VM_DOWN:
        mrec_vm_down(r, ev->vm);
        break;
    default:
        break;
    }
    n->inner.on_event(sim, ev, n->inner.ctx);
    switch (ev->type) {
    case HVF_SIM_EV_TIMER: {
        size_t w = 0;
        /* Windows that have opened, and hosts the scheduler was still waiting for. */
        for (; n->win_next < n->nhosts && n->win_us[n->win_next] <= hvf_sim_now(sim); n->win_next++)
            n->late[n->nlate++] = n->win_host[n->win_next];
        for (size_t i = 0; i < n->nlate; i++) {
            mn_watch_host(n, n->late[i]);
            if (n->state[n->late[i]] == NV_NONE)
                n->late[w++] = n->late[i];
        }
        n->nlate = w;
        break;
    }
    case HVF_SIM_EV_HOST_EVACUATED:
        if (n->state[ev->host] == NV_EVACUATING &&
            hvf_sim_host_state_get(sim, ev->host) == HVF_SIM_HOST_MAINTENANCE) {
            n->state[ev->host] = NV_MAINTENANCE;
            mn_evac_remove(n, ev->host);
            mrec_host_maint_start(r, ev->host);
        }
        break;
    case HVF_SIM_EV_HOST_IN_SERVICE:
        if (n->state[ev->host] == NV_MAINTENANCE) {
            const int32_t *vms;
            size_t nv = hvf_sim_host_vms(sim, ev->host, &vms);
            n->state[ev->host] = NV_DONE;
            n->done++;
            mrec_host_maint_end(r, ev->host);
            for (size_t k = 0; k < nv; k++) {
                if (n->stopped[vms[k]] && hvf_sim_vm_state_get(sim, vms[k]) == HVF_SIM_VM_RUNNING) {
                    n->stopped[vms[k]] = false;
                    mrec_start(r, vms[k], ev->host);
                }
            }
        } else if (n->state[ev->host] == NV_NONE) {
            mn_watch_host(n, ev->host); /* back from a crash mid-evacuation: starts over */
        }
        break;
    default:
        break;
    }
    mn_scan(n);
    if (n->observe)
        n->observe(sim, ev, n->observe_ctx);
}

mnaive *
mnaive_new(const hvf_maint_opts *opts, const hvf_sim_naive_opts *naive, hvf_plan *plan,
           hvf_sim_controller *ctl)
{
    mnaive *n = HVF_NEW(mnaive);

    if (opts->policy)
        n->pol = *opts->policy;
    else
        hvf_policy_default(&n->pol);
    n->plan = plan;
    n->nhosts = naive->nhosts;
    n->win_host = hvf_calloc(naive->nhosts + 1, sizeof(int32_t));
    n->win_us = hvf_calloc(naive->nhosts + 1, sizeof(int64_t));
    n->late = hvf_calloc(naive->nhosts + 1, sizeof(int32_t));
    /* The same window times as the scheduler computes them (sim.h), in time order. */
    for (size_t i = 0; i < naive->nhosts; i++) {
        size_t k = i;
        int64_t t = naive->at_us ? naive->at_us[i]
                                 : naive->start_us + (int64_t)((double)naive->span_us * (double)i /
                                                               (double)naive->nhosts);
        while (k > 0 && n->win_us[k - 1] > t) {
            n->win_us[k] = n->win_us[k - 1];
            n->win_host[k] = n->win_host[k - 1];
            k--;
        }
        n->win_us[k] = t;
        n->win_host[k] = naive->hosts[i];
    }
    n->observe = opts->observe;
    n->observe_ctx = opts->observe_ctx;
    n->inner.ctx = hvf_sim_naive_new(naive, &n->inner);
    ctl->name = "naive";
    ctl->ctx = n;
    ctl->on_start = mn_on_start;
    ctl->on_event = mn_on_event;
    ctl->on_finish = NULL;
    return n;
}

void
mnaive_result(mnaive *n, hvf_maint_outcome *out)
{
    mrec_finish(&n->rec);
    out->hosts_done = n->done;
    out->hosts_failed = (uint32_t)n->nhosts - n->done;
    out->finished = n->done == n->nhosts;
    if (!out->finished) {
        hvf_plan_add_reason(n->plan,
                            "refused: %u of %zu hosts were not maintained when the simulation "
                            "ended",
                            out->hosts_failed, n->nhosts);
        n->plan->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
    }
}

void
mnaive_free(mnaive *n)
{
    if (!n)
        return;
    mrec_free(&n->rec);
    hvf_sim_naive_free(n->inner.ctx);
    free(n->evac);
    free(n->win_host);
    free(n->win_us);
    free(n->late);
    free(n->state);
    free(n->stopped);
    free(n);
}
