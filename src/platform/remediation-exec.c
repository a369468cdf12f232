/* SPDX-License-Identifier: MIT */
/*
 * The orchestrator side of remediation: monitoring's requests go into an action queue
 * (hvfleet/actionq.h); the orchestrator takes one every 60 / deploys_per_min seconds while its
 * own dependency serves, and deploys it: deploy_cpu and deploy_io on the target for deploy_time,
 * then the switch. A redeployed VM whose old copy does not answer cannot be stopped: the old copy
 * keeps running on its host as a zombie (its memory, CPU and disk IO stay there). An upscale adds
 * an instance on the target for good. Hosts that crash take their zombies, instances and
 * deployments with them.
 *
 * correlated mode re-validates each action when it is due (a VM that answers again is left
 * alone) and reconciles desired and actual copies: every zombie gets a stop action, run once its
 * host answers. per_vm mode runs what it was told.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/units.h"
#include "platform/remediation-priv.h"

void
rem_exec_schedule(hvf_sim *sim, rem_ctx *c, int64_t at_us)
{
    if (c->exec_at_us >= 0 && c->exec_at_us <= at_us)
        return;
    /* an earlier wake-up replaces the pending one */
    c->exec_ver++;
    c->exec_at_us = at_us;
    hvf_sim_component_timer(sim, c->id, at_us,
                            ((int64_t)REM_T_EXEC << REM_TAG_SHIFT) | (int64_t)c->exec_ver);
}

void
rem_push(hvf_sim *sim, rem_ctx *c, int32_t kind, int32_t vm, int64_t arg, const char *why)
{
    const char *vname = vm >= 0 ? hvf_sim_fleet(sim)->vms[vm].name : "-";
    const char *kname = hvf_actionq_kind_name(c->q, kind);
    char key[HVF_ACTIONQ_MAX_KEY + 1];
    hvf_action a = {.kind = kind, .key = key, .priority = INT32_MIN, .target = vm, .arg = arg};
    hvf_actionq_push_result r;
    int32_t host = vm >= 0 ? hvf_sim_vm_host(sim, vm) : -1;

    if (kind == c->k_stop)
        snprintf(key, sizeof(key), "stop_zombie:%" PRId64, arg);
    else if (c->o.mode == HVF_REMEDIATION_PER_VM)
        /* every alert is its own order to the orchestrator */
        snprintf(key, sizeof(key), "%s:%s#%" PRIu64, kname, vname, c->push_seq++);
    else
        snprintf(key, sizeof(key), "%s:%s", kname, vname);
    c->st.actions_pushed++;
    r = hvf_actionq_push(c->q, &a, hvf_sim_now(sim));
    switch (r) {
    case HVF_ACTIONQ_QUEUED:
        c->st.actions_queued++;
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_QUEUED, host, vm >= 0 ? vm : -1, "%s: %s", kname,
                         why);
        break;
    case HVF_ACTIONQ_MERGED:
        c->st.actions_merged++;
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_DROPPED, host, vm >= 0 ? vm : -1,
                         "%s: de-duplicated into the queued one", kname);
        break;
    case HVF_ACTIONQ_COOLDOWN:
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_DROPPED, host, vm >= 0 ? vm : -1,
                         "%s: ran less than its cooldown ago", kname);
        break;
    default:
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_DROPPED, host, vm >= 0 ? vm : -1,
                         "%s: the action queue is full", kname);
        break;
    }
    if (hvf_actionq_len(c->q) > c->st.peak_backlog)
        c->st.peak_backlog = hvf_actionq_len(c->q);
    rem_exec_schedule(sim, c, hvf_sim_now(sim));
}

/* True when host @a is a better target than @b: fewer deployments running there, then less
 * disk IO in use, then faster, then more free memory (then the lower index, by scan order). */
static bool
rem_better_target(hvf_sim *sim, const rem_ctx *c, int32_t a, int32_t b)
{
    double ia, ib, sa, sb;
    uint64_t fa, fb;

    if (b < 0)
        return true;
    if (c->host_deploys[a] != c->host_deploys[b])
        return c->host_deploys[a] < c->host_deploys[b];
    ia = hvf_sim_host_io_util(sim, a);
    ib = hvf_sim_host_io_util(sim, b);
    if (fabs(ia - ib) > 1e-9)
        return ia < ib;
    sa = hvf_sim_host_speed(sim, a);
    sb = hvf_sim_host_speed(sim, b);
    if (fabs(sa - sb) > 1e-9)
        return sa > sb;
    fa = hvf_sim_host_free_mib(sim, a, true);
    fb = hvf_sim_host_free_mib(sim, b, true);
    return fa > fb;
}

/* Where a new copy goes: an active host other than the VM's, with room for it, the least busy
 * (rem_better_target): the orchestrator spreads its deployments. */
static int32_t
rem_pick_target(hvf_sim *sim, const rem_ctx *c, int32_t vm)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    int32_t best = -1;

    for (size_t h = 0; h < f->nhosts; h++) {
        if ((int32_t)h == hvf_sim_vm_host(sim, vm) ||
            hvf_sim_host_state_get(sim, (int32_t)h) != HVF_SIM_HOST_ACTIVE ||
            hvf_sim_host_free_mib(sim, (int32_t)h, true) < f->vms[vm].mem_mib)
            continue;
        if (rem_better_target(sim, c, (int32_t)h, best))
            best = (int32_t)h;
    }
    return best;
}

static int32_t
rem_add_load(hvf_sim *sim, rem_ctx *c, int32_t vm, int32_t host, bool zombie)
{
    const hvf_vm *v = &hvf_sim_fleet(sim)->vms[vm];
    rem_load *l;

    hvf_grow(&c->loads, &c->loads_cap, c->nloads + 1, sizeof(rem_load));
    l = &c->loads[c->nloads];
    *l = (rem_load){.vm = vm,
                    .host = host,
                    .cpu = v->vcpus * v->cpu_load,
                    .io = zombie ? hvf_sim_vm_guest_io(sim, vm) : 0,
                    .mem = (double)v->mem_mib,
                    .alive = true,
                    .zombie = zombie};
    hvf_sim_host_add_load(sim, host, l->cpu, l->io, l->mem);
    if (zombie) {
        c->st.zombies++;
        if (++c->zombies_alive > c->st.peak_zombies)
            c->st.peak_zombies = c->zombies_alive;
    }
    return (int32_t)c->nloads++;
}

static void
rem_drop_load(hvf_sim *sim, rem_ctx *c, rem_load *l)
{
    if (!l->alive)
        return;
    l->alive = false;
    hvf_sim_host_add_load(sim, l->host, -l->cpu, -l->io, -l->mem);
    if (l->zombie)
        c->zombies_alive--;
}

/* Starts deploying a copy of @vm for action @kind; false when no host can take it. */
static bool
rem_deploy_start(hvf_sim *sim, rem_ctx *c, int32_t kind, int32_t vm)
{
    int32_t target = rem_pick_target(sim, c, vm);
    rem_deploy *d;

    if (target < 0) {
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_DROPPED, hvf_sim_vm_host(sim, vm), vm,
                         "%s: no host can take a new copy", hvf_actionq_kind_name(c->q, kind));
        return false;
    }
    hvf_grow(&c->deploys, &c->deploys_cap, c->ndeploys + 1, sizeof(rem_deploy));
    d = &c->deploys[c->ndeploys];
    *d = (rem_deploy){
        .kind = kind, .vm = vm, .target = target, .copy = hvf_sim_vm_copy(sim, vm), .active = true};
    hvf_sim_host_add_load(sim, target, c->o.deploy_cpu_cores, c->o.deploy_io_bytes_per_s, 0);
    c->host_deploys[target]++;
    if (++c->deploys_running > c->st.peak_deploys)
        c->st.peak_deploys = c->deploys_running;
    c->st.actions_run++;
    hvf_incident_log(sim, HVF_INCIDENT_ACTION_RUN, target, vm, "%s: deploying a new copy",
                     hvf_actionq_kind_name(c->q, kind));
    hvf_sim_component_timer(sim, c->id, hvf_sim_now(sim) + c->o.deploy_time_us,
                            ((int64_t)REM_T_DEPLOY_END << REM_TAG_SHIFT) | (int64_t)c->ndeploys);
    c->ndeploys++;
    return true;
}

/* Whether the action is still worth running now (correlated mode asks; per_vm does not). */
static bool
rem_still_needed(hvf_sim *sim, rem_ctx *c, const hvf_actionq_item *it)
{
    int32_t vm = (int32_t)it->target;
    hvf_sim_vm_state s;

    if (c->o.mode != HVF_REMEDIATION_CORRELATED || it->kind == c->k_stop)
        return true;
    s = hvf_sim_vm_state_get(sim, vm);
    if (s != HVF_SIM_VM_RUNNING)
        return false; /* down: the platform restarts it; migrating: someone is on it */
    if (it->kind == c->k_redeploy)
        return !rem_vm_reachable(sim, c, vm);
    return hvf_sim_vm_speed(sim, vm) < c->o.upscale_speed;
}

static void
rem_stop_zombie(hvf_sim *sim, rem_ctx *c, int32_t idx, const char *by)
{
    rem_load *l = &c->loads[idx];

    if (!l->alive)
        return;
    if (hvf_sim_host_state_get(sim, l->host) == HVF_SIM_HOST_DOWN ||
        hvf_sim_host_speed(sim, l->host) < c->o.slow_speed)
        return; /* its host does not answer: the next reconcile asks again */
    rem_drop_load(sim, c, l);
    c->st.zombies_stopped++;
    hvf_incident_log(sim, HVF_INCIDENT_ACTION_RUN, l->host, l->vm,
                     "stop_zombie: %s stopped the old copy still running here", by);
}

/* Runs one action taken from the queue. Returns true when it used the orchestrator. */
static bool
rem_exec_action(hvf_sim *sim, rem_ctx *c, const hvf_actionq_item *it)
{
    int32_t vm = (int32_t)it->target;

    if (it->kind == c->k_stop) {
        rem_stop_zombie(sim, c, (int32_t)it->arg, "reconcile");
        return false;
    }
    if (!rem_still_needed(sim, c, it)) {
        c->st.actions_stale++;
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_DROPPED, hvf_sim_vm_host(sim, vm), vm,
                         "%s: no longer needed when due (queued %.0f s ago)",
                         hvf_actionq_kind_name(c->q, it->kind),
                         (double)(hvf_sim_now(sim) - it->pushed_us) / 1e6);
        return false;
    }
    return rem_deploy_start(sim, c, it->kind, vm);
}

void
rem_exec_run(hvf_sim *sim, rem_ctx *c, uint32_t ver)
{
    int64_t now = hvf_sim_now(sim);
    hvf_actionq_item it;

    if (ver != c->exec_ver)
        return;
    c->exec_at_us = -1;
    for (;;) {
        hvf_actionq_pop_result r;
        if (c->dep_orch >= 0 && !hvf_sim_dependency_serving(sim, c->dep_orch))
            return; /* deployments wait for it; its return wakes us */
        if (now < c->orch_free_us) {
            rem_exec_schedule(sim, c, c->orch_free_us);
            return;
        }
        r = hvf_actionq_pop(c->q, now, &it);
        if (r == HVF_ACTIONQ_RATE_LIMITED) {
            rem_exec_schedule(sim, c, hvf_actionq_next_ready_us(c->q, now));
            return;
        }
        if (r != HVF_ACTIONQ_READY)
            return;
        if (rem_exec_action(sim, c, &it))
            c->orch_free_us = now + (int64_t)llround(60e6 / c->o.deploys_per_min);
    }
}

void
rem_deploy_end(hvf_sim *sim, rem_ctx *c, int32_t idx)
{
    rem_deploy *d = &c->deploys[idx];
    int32_t old;
    hvf_error err = HVF_ERROR_INIT;
    bool stoppable;

    if (!d->active)
        return;
    d->active = false;
    c->deploys_running--;
    c->host_deploys[d->target]--;
    hvf_sim_host_add_load(sim, d->target, -c->o.deploy_cpu_cores, -c->o.deploy_io_bytes_per_s, 0);
    if (hvf_sim_host_state_get(sim, d->target) != HVF_SIM_HOST_ACTIVE)
        return;
    if (d->kind == c->k_upscale) {
        rem_add_load(sim, c, d->vm, d->target, false);
        c->st.upscales++;
        return;
    }
    /* the new copy is up: the switch */
    if (hvf_sim_vm_state_get(sim, d->vm) != HVF_SIM_VM_RUNNING ||
        hvf_sim_vm_copy(sim, d->vm) != d->copy)
        return; /* it went down, moved or was replaced meanwhile: the copy is not used */
    old = hvf_sim_vm_host(sim, d->vm);
    stoppable = hvf_sim_vm_speed(sim, d->vm) >= c->o.slow_speed;
    if (!stoppable) {
        int32_t z = rem_add_load(sim, c, d->vm, old, true);
        hvf_sim_log(sim, "vm_zombie", old, d->vm,
                    "the old copy does not answer the stop: it keeps running (a zombie)");
        (void)z;
    }
    if (hvf_sim_redeploy_vm(sim, d->vm, d->target, "redeployed by the orchestrator", &err) < 0)
        hvf_sim_log(sim, "redeploy_failed", d->target, d->vm, err.msg);
    else
        c->st.redeploys++;
}

void
rem_host_crashed(hvf_sim *sim, rem_ctx *c, int32_t host)
{
    for (size_t i = 0; i < c->nloads; i++) {
        if (c->loads[i].alive && c->loads[i].host == host)
            rem_drop_load(sim, c, &c->loads[i]);
    }
    for (size_t i = 0; i < c->ndeploys; i++) {
        rem_deploy *d = &c->deploys[i];
        if (!d->active || d->target != host)
            continue;
        d->active = false;
        c->deploys_running--;
        c->host_deploys[host]--;
        hvf_sim_host_add_load(sim, host, -c->o.deploy_cpu_cores, -c->o.deploy_io_bytes_per_s, 0);
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_DROPPED, host, d->vm,
                         "%s: the deployment died with its host",
                         hvf_actionq_kind_name(c->q, d->kind));
    }
}

uint32_t
rem_stop_zombies(hvf_sim *sim, rem_ctx *c, const char *by)
{
    uint32_t before = c->st.zombies_stopped;

    for (size_t i = 0; i < c->nloads; i++) {
        if (c->loads[i].zombie)
            rem_stop_zombie(sim, c, (int32_t)i, by);
    }
    return c->st.zombies_stopped - before;
}

void
rem_reconcile(hvf_sim *sim, rem_ctx *c)
{
    char key[64];

    /* desired: one copy per VM, where the orchestrator put it; actual: that copy plus the old
     * ones still running. Each extra copy gets one stop action. */
    for (size_t i = 0; i < c->nloads; i++) {
        const rem_load *l = &c->loads[i];
        if (!l->alive || !l->zombie)
            continue;
        snprintf(key, sizeof(key), "stop_zombie:%zu", i);
        if (!hvf_actionq_contains(c->q, key))
            rem_push(sim, c, c->k_stop, l->vm, (int64_t)i, "reconcile: a second copy runs");
    }
}
