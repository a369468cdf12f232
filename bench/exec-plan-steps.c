/* SPDX-License-Identifier: MIT */
/*
 * The plan executor's steps (see twin-exec.h): each migration of the plan started when the fleet
 * is ready for it, and what an executor does when the fleet deviates from the plan.
 */
#include "exec-plan-priv.h"
#include "hvfleet/alloc.h"

int64_t
px_tag(int kind, size_t i)
{
    return ((int64_t)kind << 40) | (int64_t)i;
}

void
px_offline(plan_exec *x, hvf_sim *sim, int32_t host, bool off)
{
    uint64_t mib = hvf_host_usable(&hvf_sim_fleet(sim)->hosts[host]).mem_mib;

    if (off) {
        x->offline_hosts++;
        x->offline_mib += mib;
    } else {
        x->offline_hosts--;
        x->offline_mib -= mib;
    }
    if (x->offline_hosts > x->rep.peak_offline_hosts)
        x->rep.peak_offline_hosts = x->offline_hosts;
    if (x->fleet_mib && (double)x->offline_mib / (double)x->fleet_mib > x->rep.peak_offline_share)
        x->rep.peak_offline_share = (double)x->offline_mib / (double)x->fleet_mib;
}

/* Whether @vm fits on @host with the policy's headroom kept free. */
static bool
px_fits(const plan_exec *x, hvf_sim *sim, int32_t vm, int32_t host)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint64_t keep =
        (uint64_t)((double)hvf_host_usable(&f->hosts[host]).mem_mib * x->o.headroom_share);

    return hvf_sim_host_free_mib(sim, host, true) >= keep + f->vms[vm].mem_mib;
}

/*
 * Whether @h may take a VM: in service, and not out of step with the plan. At @at_us (a
 * planned time) the plan expects a host due for maintenance to be maintained already if its
 * planned maintenance ended by then, and not evacuating nor in maintenance before; an execution
 * running late must not fill a host the plan had already maintained but this run has not.
 */
static bool
px_target_ready(const plan_exec *x, hvf_sim *sim, int32_t h, int64_t at_us)
{
    if (hvf_sim_host_state_get(sim, h) != HVF_SIM_HOST_ACTIVE)
        return false;
    if (!x->planned_host[h] || x->phase[h] == PX_DONE)
        return true;
    return x->phase[h] == PX_IDLE && at_us < x->back_us[h];
}

/*
 * For a VM off the plan: the host with the most free memory (after headroom) among those not
 * due for maintenance any more (maintained, or never planned), else among the others that may
 * take it now; -1 if none.
 */
static int32_t
px_other_target(const plan_exec *x, hvf_sim *sim, int32_t vm, int32_t from)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint64_t need = f->vms[vm].mem_mib, best = 0;
    int32_t pick = -1;
    bool pick_later = false;

    for (size_t h = 0; h < f->nhosts; h++) {
        uint64_t fr, keep;
        uint32_t in = 0;
        bool later;

        if ((int32_t)h == from || !px_target_ready(x, sim, (int32_t)h, hvf_sim_now(sim)))
            continue;
        hvf_sim_host_migrations(sim, (int32_t)h, &in, NULL);
        fr = hvf_sim_host_free_mib(sim, (int32_t)h, true);
        keep = (uint64_t)((double)hvf_host_usable(&f->hosts[h]).mem_mib * x->o.headroom_share);
        if (in >= x->o.in_per_host || fr < keep + need)
            continue;
        later = x->planned_host[h] && x->phase[h] != PX_DONE;
        if (pick < 0 || (pick_later && !later) || (later == pick_later && fr - keep > best)) {
            best = fr - keep;
            pick = (int32_t)h;
            pick_later = later;
        }
    }
    return pick;
}

/*
 * Starts step @i if the fleet is ready for it; true when it started. A step whose VM is ready
 * but whose planned target has refused it for REDIRECT_US goes elsewhere (the fleet deviated
 * from the plan; a real executor would re-plan).
 */
bool
px_try(plan_exec *x, hvf_sim *sim, size_t i)
{
    px_mig *m = &x->migs[i];
    hvf_sim_migrate_opts mo = {.claim = true, .strategy = m->strategy};
    hvf_error err = HVF_ERROR_INIT;
    uint32_t out = 0, in = 0;
    int64_t late;
    int32_t to = m->to;

    /* a host's VMs leave once it is evacuating, not before */
    if (x->phase[m->from] == PX_IDLE && x->planned_host[m->from])
        return false;
    if (hvf_sim_vm_host(sim, m->vm) != m->from ||
        hvf_sim_vm_state_get(sim, m->vm) != HVF_SIM_VM_RUNNING)
        return false;
    hvf_sim_host_migrations(sim, m->from, NULL, &out);
    if (out >= x->o.out_per_host)
        return false;
    hvf_sim_host_migrations(sim, to, &in, NULL);
    /* the planner's headroom holds in execution too: a fuller target than planned refuses */
    if (in >= x->o.in_per_host || !px_target_ready(x, sim, to, m->at_us) ||
        !px_fits(x, sim, m->vm, to) || hvf_sim_start_migration(sim, m->vm, to, &mo, &err) < 0) {
        if (hvf_sim_now(sim) - m->at_us < REDIRECT_US ||
            (to = px_other_target(x, sim, m->vm, m->from)) < 0 ||
            hvf_sim_start_migration(sim, m->vm, to, &mo, &err) < 0)
            return false;
        x->rep.redirected_steps++;
    }
    m->started = true;
    x->mig_of_vm[m->vm] = (int32_t)i;
    late = hvf_sim_now(sim) - m->at_us;
    if (late > LATE_US)
        x->rep.late_steps++;
    if (late > x->rep.max_lateness_us)
        x->rep.max_lateness_us = late;
    return true;
}

/*
 * VMs on an evacuating host that no step of the plan will move (they came there off the plan,
 * or the plan's move of them failed for good) leave for the best host available, as an
 * executor re-planning its leftovers would; a VM that cannot live-migrate is shut down until
 * its host is back.
 */
void
px_leftovers(plan_exec *x, hvf_sim *sim)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);

    for (size_t i = 0; i < x->nhosts; i++) {
        int32_t h = x->hosts[i];
        const int32_t *vms;
        size_t nvms;
        uint32_t out = 0;

        if (x->phase[h] != PX_EVACUATING)
            continue;
        hvf_sim_host_migrations(sim, h, NULL, &out);
        nvms = hvf_sim_host_vms(sim, h, &vms);
        for (size_t k = 0; k < nvms && out < x->o.out_per_host; k++) {
            int32_t vm = vms[k], step = x->next_step[vm], to;
            hvf_sim_migrate_opts mo = {.claim = true, .strategy = x->o.strategy};
            hvf_error err = HVF_ERROR_INIT;

            if (hvf_sim_vm_state_get(sim, vm) != HVF_SIM_VM_RUNNING || x->stop_planned[vm] ||
                (step >= 0 && x->migs[step].from == h))
                continue;
            if (!f->vms[vm].migratable || x->adhoc_attempts[vm] > x->o.max_retries) {
                x->parked_dyn[vm] = true;
                x->parked_at[vm] = hvf_sim_now(sim);
                x->rep.vms_parked++;
                /* may report the host evacuated (re-entering px_on_event) */
                if (hvf_sim_stop_vm(sim, vm, &err) < 0) {
                    x->parked_dyn[vm] = false;
                    x->parked_at[vm] = -1;
                    x->rep.vms_parked--;
                }
                return; /* the host's list changed: next round */
            }
            if ((to = px_other_target(x, sim, vm, h)) < 0 ||
                hvf_sim_start_migration(sim, vm, to, &mo, &err) < 0)
                continue;
            x->mig_of_vm[vm] = ADHOC;
            x->rep.redirected_steps++;
            out++;
            nvms = hvf_sim_host_vms(sim, h, &vms);
            k = (size_t)-1;
        }
    }
}

void
px_wait(plan_exec *x, size_t step)
{
    size_t k = x->npending;

    hvf_grow(&x->pending, &x->pending_cap, x->npending + 1, sizeof(size_t));
    /* keep planned order: a retried step goes back among the others by its index */
    while (k > 0 && x->pending[k - 1] > step) {
        x->pending[k] = x->pending[k - 1];
        k--;
    }
    x->pending[k] = step;
    x->npending++;
}

/* Nothing may happen for a while (a target full for good): look again now and then. */
void
px_schedule_tick(plan_exec *x, hvf_sim *sim)
{
    if (x->tick_pending || (x->npending == 0 && x->offline_hosts == 0))
        return;
    x->tick_pending = true;
    hvf_sim_add_timer(sim, hvf_sim_now(sim) + TICK_US, px_tag(TAG_TICK, 0));
}

/* Tries the waiting steps in planned order; an action may re-enter through an event. */
void
px_pump(plan_exec *x, hvf_sim *sim)
{
    if (x->pumping) {
        x->pump_again = true;
        return;
    }
    x->pumping = true;
    do {
        size_t kept = 0;

        x->pump_again = false;
        for (size_t k = 0; k < x->npending; k++) {
            size_t step = x->pending[k];

            if (!x->migs[step].started && !px_try(x, sim, step))
                x->pending[kept++] = step;
        }
        x->npending = kept;
    } while (x->pump_again);
    x->pumping = false;
    px_schedule_tick(x, sim);
}
