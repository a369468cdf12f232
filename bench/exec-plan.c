/* SPDX-License-Identifier: MIT */
/*
 * Executes an hvfleet.plan/v1 maintenance plan in the twin (see twin-exec.h): every step at
 * its planned time, to its planned target; a step the fleet is not ready for (its VM still on
 * the way, its target full or busy) waits and is counted late.
 */
#include <stdlib.h>
#include <string.h>

#include "exec-plan-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

/*
 * Starts the evacuations whose time has come, in planned order, while fewer than the plan's
 * hosts-at-once are out: the plan's times assume its predictions; a slower fleet must not put
 * more hosts out of service than planned.
 */
static void
px_start_hosts(plan_exec *x, hvf_sim *sim)
{
    while (x->next_host < x->nhosts && x->host_due[x->next_host] &&
           (x->max_parallel == 0 || x->offline_hosts < x->max_parallel)) {
        int32_t h = x->hosts[x->next_host];
        hvf_error err = HVF_ERROR_INIT;

        x->next_host++;
        if (x->rep.first_evacuation_us < 0)
            x->rep.first_evacuation_us = hvf_sim_now(sim);
        x->phase[h] = PX_EVACUATING;
        px_offline(x, sim, h, true);
        /* may report the host evacuated at once (re-entering px_on_event) */
        if (hvf_sim_set_host_state(sim, h, HVF_SIM_HOST_EVACUATING, &err) < 0)
            hvf_sim_log(sim, "bench_evacuate_failed", h, -1, err.msg);
    }
    px_pump(x, sim);
}

static void
px_restart_stops(plan_exec *x, hvf_sim *sim)
{
    for (size_t i = 0; i < x->nstops; i++) {
        px_stop *s = &x->stops[i];
        hvf_error err = HVF_ERROR_INIT;

        /* a VM stopped for its host's maintenance boots as soon as the host is back (as
         * planned: its start is the maintenance's end), however late that came */
        if (!s->stopped || s->restarted ||
            (x->planned_host[s->host] ? x->phase[s->host] != PX_DONE : !s->start_due) ||
            hvf_sim_host_state_get(sim, s->start_host) != HVF_SIM_HOST_ACTIVE)
            continue;
        if (hvf_sim_start_vm(sim, s->vm, s->start_host, &err) == 0) {
            s->restarted = true;
            x->rep.parked_us += hvf_sim_now(sim) - x->parked_at[s->vm];
            x->parked_at[s->vm] = -1;
        }
    }
}

static void
px_restart_parked(plan_exec *x, hvf_sim *sim, int32_t host)
{
    const int32_t *vms;
    size_t nvms = hvf_sim_host_vms(sim, host, &vms);

    for (size_t k = 0; k < nvms; k++) {
        int32_t vm = vms[k];
        hvf_error err = HVF_ERROR_INIT;

        if (!x->parked_dyn[vm] || hvf_sim_start_vm(sim, vm, host, &err) < 0)
            continue;
        x->parked_dyn[vm] = false;
        x->rep.parked_us += hvf_sim_now(sim) - x->parked_at[vm];
        x->parked_at[vm] = -1;
        nvms = hvf_sim_host_vms(sim, host, &vms);
        k = (size_t)-1;
    }
}

static void
px_on_start(hvf_sim *sim, void *ctx)
{
    plan_exec *x = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);

    x->mig_of_vm = hvf_malloc((f->nvms + 1) * sizeof(int32_t));
    x->parked_at = hvf_malloc((f->nvms + 1) * sizeof(int64_t));
    x->moves = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    x->parked_dyn = hvf_calloc(f->nvms + 1, sizeof(bool));
    x->stop_planned = hvf_calloc(f->nvms + 1, sizeof(bool));
    x->adhoc_attempts = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    x->next_step = hvf_malloc((f->nvms + 1) * sizeof(int32_t));
    x->step_next = hvf_malloc((x->nmigs + 1) * sizeof(int32_t));
    x->back_us = hvf_malloc((f->nhosts + 1) * sizeof(int64_t));
    for (size_t h = 0; h < f->nhosts; h++)
        x->back_us[h] = INT64_MAX;
    for (size_t i = 0; i < x->nhosts; i++)
        x->back_us[x->hosts[i]] = x->end_us[i];
    for (size_t v = 0; v < f->nvms; v++)
        x->next_step[v] = -1;
    /* steps are in planned order: link each VM's steps, last to first */
    for (size_t i = x->nmigs; i-- > 0;) {
        x->step_next[i] = x->next_step[x->migs[i].vm];
        x->next_step[x->migs[i].vm] = (int32_t)i;
    }
    for (size_t i = 0; i < x->nstops; i++)
        x->stop_planned[x->stops[i].vm] = true;
    x->phase = hvf_calloc(f->nhosts + 1, 1);
    x->planned_host = hvf_calloc(f->nhosts + 1, sizeof(bool));
    for (size_t i = 0; i < x->nhosts; i++)
        x->planned_host[x->hosts[i]] = true;
    for (size_t v = 0; v < f->nvms; v++) {
        x->mig_of_vm[v] = -1;
        x->parked_at[v] = -1;
    }
    for (size_t h = 0; h < f->nhosts; h++)
        x->fleet_mib += hvf_host_usable(&f->hosts[h]).mem_mib;
    for (size_t i = 0; i < x->nhosts; i++)
        hvf_sim_add_timer(sim, x->evac_us[i], px_tag(TAG_HOST, i));
    for (size_t i = 0; i < x->nmigs; i++)
        hvf_sim_add_timer(sim, x->migs[i].at_us, px_tag(TAG_MIG, i));
    for (size_t i = 0; i < x->nstops; i++) {
        hvf_sim_add_timer(sim, x->stops[i].stop_us, px_tag(TAG_STOP, i));
        hvf_sim_add_timer(sim, x->stops[i].start_us, px_tag(TAG_START, i));
    }
}

static void
px_timer(plan_exec *x, hvf_sim *sim, int64_t tag)
{
    size_t i = (size_t)(tag & ((1LL << 40) - 1));
    hvf_error err = HVF_ERROR_INIT;

    switch ((int)(tag >> 40)) {
    case TAG_HOST:
        x->host_due[i] = true;
        px_start_hosts(x, sim);
        break;
    case TAG_MIG:
        x->migs[i].due = true;
        if (!px_try(x, sim, i))
            px_wait(x, i);
        break;
    case TAG_STOP: {
        px_stop *s = &x->stops[i];

        x->stop_planned[s->vm] = false;
        if (hvf_sim_vm_state_get(sim, s->vm) == HVF_SIM_VM_RUNNING &&
            hvf_sim_stop_vm(sim, s->vm, &err) == 0) {
            s->stopped = true;
            x->parked_at[s->vm] = hvf_sim_now(sim);
            x->rep.vms_parked++;
        }
        break;
    }
    case TAG_START:
        x->stops[i].start_due = true;
        px_restart_stops(x, sim);
        break;
    case TAG_TICK:
        x->tick_pending = false;
        px_pump(x, sim);
        px_leftovers(x, sim);
        px_schedule_tick(x, sim);
        break;
    default:
        break;
    }
}

static void
px_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    plan_exec *x = ctx;
    hvf_error err = HVF_ERROR_INIT;
    int32_t step;

    switch (ev->type) {
    case HVF_SIM_EV_TIMER:
        px_timer(x, sim, ev->tag);
        break;
    case HVF_SIM_EV_MIGRATION_END:
    case HVF_SIM_EV_MIGRATION_ABORT:
        step = x->mig_of_vm[ev->vm];
        if (step == ADHOC) {
            x->mig_of_vm[ev->vm] = -1;
            if (ev->type == HVF_SIM_EV_MIGRATION_ABORT)
                x->adhoc_attempts[ev->vm]++;
            else if (++x->moves[ev->vm] == 2)
                x->rep.vms_moved_twice++;
        } else if (step >= 0) {
            x->mig_of_vm[ev->vm] = -1;
            if (ev->type == HVF_SIM_EV_MIGRATION_END) {
                x->migs[step].done = true;
                x->next_step[ev->vm] = x->step_next[step];
                if (++x->moves[ev->vm] == 2)
                    x->rep.vms_moved_twice++;
            } else if (++x->migs[step].attempts <= x->o.max_retries) {
                /* not in the plan: the fleet deviated; again, with post-copy as the planner
                 * retries an aborted migration */
                x->migs[step].started = false;
                x->migs[step].strategy = HVF_SIM_STRATEGY_POSTCOPY;
                px_wait(x, (size_t)step);
            } else if (hvf_sim_stop_vm(sim, ev->vm, &err) == 0) {
                /* out of retries: shut it down until its host is back */
                x->parked_dyn[ev->vm] = true;
                x->parked_at[ev->vm] = hvf_sim_now(sim);
                x->rep.vms_parked++;
            }
        }
        px_pump(x, sim);
        px_leftovers(x, sim);
        break;
    case HVF_SIM_EV_HOST_EVACUATED:
        for (size_t i = 0; i < x->nhosts; i++) {
            if (x->hosts[i] == ev->host && x->phase[ev->host] == PX_EVACUATING &&
                hvf_sim_begin_maintenance(sim, ev->host, x->maint_us[i], &err) == 0) {
                x->phase[ev->host] = PX_MAINTENANCE;
                break;
            }
        }
        break;
    case HVF_SIM_EV_HOST_IN_SERVICE:
        if (x->phase[ev->host] == PX_MAINTENANCE) {
            x->phase[ev->host] = PX_DONE;
            px_offline(x, sim, ev->host, false);
            x->rep.hosts_maintained++;
            x->rep.last_back_us = hvf_sim_now(sim);
            px_restart_parked(x, sim, ev->host);
        }
        px_restart_stops(x, sim);
        px_start_hosts(x, sim);
        break;
    default:
        break;
    }
}

static void
px_on_finish(hvf_sim *sim, void *ctx)
{
    plan_exec *x = ctx;

    (void)sim;
    for (size_t i = 0; i < x->nmigs; i++) {
        if (!x->migs[i].started)
            x->rep.stuck_steps++;
    }
}

static hvf_sim_strategy
px_strategy(hvf_plan_migration_mode m)
{
    switch (m) {
    case HVF_PLAN_MIGRATION_AUTO_CONVERGE:
        return HVF_SIM_STRATEGY_AUTO_CONVERGE;
    case HVF_PLAN_MIGRATION_POST_COPY:
        return HVF_SIM_STRATEGY_POSTCOPY;
    default:
        return HVF_SIM_STRATEGY_PRECOPY;
    }
}

typedef struct px_host_time {
    int32_t host;
    int64_t evac_us, maint_us, end_us;
    size_t order;
} px_host_time;

static int
px_cmp_host_time(const void *a, const void *b)
{
    const px_host_time *x = a, *y = b;

    if (x->evac_us != y->evac_us)
        return x->evac_us < y->evac_us ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int
px_cmp_mig(const void *a, const void *b)
{
    const px_mig *x = a, *y = b;

    if (x->at_us != y->at_us)
        return x->at_us < y->at_us ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int32_t
px_host(const hvf_fleet *f, const char *name, hvf_error *err)
{
    int32_t h = hvf_fleet_find_host(f, name);

    if (h < 0)
        hvf_error_set(err, HVF_ERR_INVALID, "host '%s' of the plan is not in the inventory", name);
    return h;
}

void *
bench_exec_plan_new(const bench_exec_opts *o, const hvf_plan *plan, const hvf_fleet *f,
                    hvf_sim_controller *ctl, hvf_error *err)
{
    plan_exec *x = HVF_NEW(plan_exec);
    px_host_time *ht = NULL;

    x->o = *o;
    x->rep.first_evacuation_us = -1;
    x->rep.last_back_us = -1;
    x->nhosts = plan->nhosts;
    x->hosts = hvf_calloc(plan->nhosts + 1, sizeof(int32_t));
    x->evac_us = hvf_calloc(plan->nhosts + 1, sizeof(int64_t));
    x->host_due = hvf_calloc(plan->nhosts + 1, sizeof(bool));
    x->max_parallel = plan->summary.max_parallel_hosts_seen;
    x->maint_us = hvf_calloc(plan->nhosts + 1, sizeof(int64_t));
    x->end_us = hvf_calloc(plan->nhosts + 1, sizeof(int64_t));
    x->rep.hosts_planned = (uint32_t)plan->nhosts;
    ht = hvf_calloc(plan->nhosts + 1, sizeof(px_host_time));
    for (size_t i = 0; i < plan->nhosts; i++) {
        const hvf_plan_host *ph = &plan->hosts[i];

        if ((ht[i].host = px_host(f, ph->host, err)) < 0)
            goto fail;
        ht[i].evac_us = ph->evacuate_start_ms * 1000;
        ht[i].maint_us = (ph->maintenance_end_ms - ph->maintenance_start_ms) * 1000;
        ht[i].end_us = ph->maintenance_end_ms * 1000;
        ht[i].order = i;
    }
    /* evacuations start in the order of their planned times */
    qsort(ht, plan->nhosts, sizeof(*ht), px_cmp_host_time);
    for (size_t i = 0; i < plan->nhosts; i++) {
        x->hosts[i] = ht[i].host;
        x->evac_us[i] = ht[i].evac_us;
        x->maint_us[i] = ht[i].maint_us;
        x->end_us[i] = ht[i].end_us;
    }
    free(ht);
    ht = NULL;
    x->nmigs = plan->nmigrations;
    x->migs = hvf_calloc(plan->nmigrations + 1, sizeof(px_mig));
    for (size_t i = 0; i < plan->nmigrations; i++) {
        const hvf_plan_migration *pm = &plan->migrations[i];
        px_mig *m = &x->migs[i];

        m->vm = hvf_fleet_find_vm(f, pm->vm);
        if (m->vm < 0) {
            hvf_error_set(err, HVF_ERR_INVALID, "VM '%s' of the plan is not in the inventory",
                          pm->vm);
            goto fail;
        }
        if ((m->from = px_host(f, pm->from, err)) < 0 || (m->to = px_host(f, pm->to, err)) < 0)
            goto fail;
        m->at_us = pm->start_ms * 1000;
        m->strategy = px_strategy(pm->strategy);
        m->order = i;
    }
    /* planned order, which px_wait and the per-VM step chains rely on */
    qsort(x->migs, x->nmigs, sizeof(px_mig), px_cmp_mig);
    x->nstops = plan->nstops;
    x->stops = hvf_calloc(plan->nstops + 1, sizeof(px_stop));
    for (size_t i = 0; i < plan->nstops; i++) {
        const hvf_plan_stop *ps = &plan->stops[i];
        px_stop *s = &x->stops[i];

        s->vm = hvf_fleet_find_vm(f, ps->vm);
        if (s->vm < 0) {
            hvf_error_set(err, HVF_ERR_INVALID, "VM '%s' of the plan is not in the inventory",
                          ps->vm);
            goto fail;
        }
        if ((s->host = px_host(f, ps->host, err)) < 0 ||
            (s->start_host = px_host(f, ps->start_host, err)) < 0)
            goto fail;
        s->stop_us = ps->stop_ms * 1000;
        s->start_us = ps->start_ms * 1000;
    }
    ctl->name = "plan";
    ctl->ctx = x;
    ctl->on_start = px_on_start;
    ctl->on_event = px_on_event;
    ctl->on_finish = px_on_finish;
    return x;
fail:
    free(ht);
    bench_exec_plan_free(x);
    return NULL;
}

void
bench_exec_plan_report(const void *ctx, bench_exec_report *out)
{
    const plan_exec *x = ctx;

    *out = x->rep;
}

void
bench_exec_plan_free(void *ctx)
{
    plan_exec *x = ctx;

    if (!x)
        return;
    free(x->migs);
    free(x->pending);
    free(x->stops);
    free(x->hosts);
    free(x->evac_us);
    free(x->host_due);
    free(x->planned_host);
    free(x->maint_us);
    free(x->end_us);
    free(x->mig_of_vm);
    free(x->phase);
    free(x->parked_at);
    free(x->moves);
    free(x->parked_dyn);
    free(x->stop_planned);
    free(x->adhoc_attempts);
    free(x->next_step);
    free(x->step_next);
    free(x->back_us);
    free(x);
}
