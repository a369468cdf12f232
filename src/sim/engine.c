/* SPDX-License-Identifier: MIT */
/*
 * The twin's engine: construction, the event loop, the controller API (queries and actions)
 * and the bookkeeping shared by the other files (VM and host states, per-host VM lists).
 *
 * Loop: pop the earliest event, set the clock, dispatch, then flush: re-share the bandwidth of
 * the components whose links changed and re-evaluate the hosts whose load changed, until
 * nothing is dirty. Controllers act inside callbacks; their effects are flushed the same way.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

const char *const hvf_sim_host_state_names[] = {"active", "evacuating",  "maintenance",
                                                "down",   "quarantined", NULL};
const char *const hvf_sim_vm_state_names[] = {"running", "migrating", "paused",
                                              "stopped", "crashed",   NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_sim_host_state_names) == HVF_SIM_HOST_LAST + 1, "names");
_Static_assert(HVF_ARRAY_LEN(hvf_sim_vm_state_names) == HVF_SIM_VM_LAST + 1, "names");

hvf_sim *
hvf_sim_new(const hvf_fleet *fleet, const hvf_sim_params *params,
            const hvf_sim_host_override *overrides, size_t noverrides)
{
    hvf_sim *sim = HVF_NEW(hvf_sim);
    hvf_fleet *f;

    sim->fleet = f = hvf_fleet_dup(fleet);
    sim->p = *params;
    sim->name = hvf_strdup("simulation");
    hvf_rng_seed(&sim->rng, params->seed);
    sim_heap_init(&sim->heap);
    sim->hosts = hvf_calloc(f->nhosts + 1, sizeof(sim_host));
    sim->vms = hvf_calloc(f->nvms + 1, sizeof(sim_vm));
    sim->mig_free = -1;
    sim->first_window_us = -1;
    sim->last_back_us = -1;
    for (size_t h = 0; h < f->nhosts; h++) {
        sim_host *sh = &sim->hosts[h];
        sh->p = params->host;
        sh->mig_out = sh->mig_in = -1;
        sh->speed = 1.0;
        switch (f->hosts[h].state) {
        case HVF_HOST_STATE_MAINTENANCE:
            sh->state = HVF_SIM_HOST_MAINTENANCE;
            break;
        case HVF_HOST_STATE_DOWN:
            sh->state = HVF_SIM_HOST_DOWN;
            break;
        default:
            sh->state = HVF_SIM_HOST_ACTIVE;
            break;
        }
    }
    for (size_t o = 0; o < noverrides; o++) {
        for (size_t i = 0; i < overrides[o].nhosts; i++) {
            int32_t h = overrides[o].hosts[i];
            HVF_ASSERT(h >= 0 && (size_t)h < f->nhosts);
            sim->hosts[h].p = overrides[o].p;
        }
    }
    for (size_t v = 0; v < f->nvms; v++) {
        sim->vms[v].mig = -1;
        sim->vms[v].placed = true;
        sim->vms[v].state = HVF_SIM_VM_RUNNING;
        sim->vms_running++;
        sim_host_add_vm(sim, f->vms[v].host, (int32_t)v);
    }
    sim_links_build(sim);
    sim_inc_init(sim);
    return sim;
}

void
hvf_sim_free(hvf_sim *sim)
{
    if (!sim)
        return;
    for (size_t i = 0; i < sim->ncomps; i++) {
        if (sim->comps[i].free_ctx)
            sim->comps[i].free_ctx(sim->comps[i].ctx);
    }
    free(sim->comps);
    if (sim->has_ctl && sim->ctl.free_ctx)
        sim->ctl.free_ctx(sim->ctl.ctx);
    sim_inc_free(sim);
    sim_ext_free(sim);
    for (size_t i = 0; i < sim->nmigs; i++)
        sim_mig_model_free(sim->migs[i].model);
    for (size_t h = 0; h < sim->fleet->nhosts; h++)
        free(sim->hosts[h].vms);
    for (size_t l = 0; l < sim->nlinks; l++)
        free(sim->links[l].flows);
    free(sim->hosts);
    free(sim->vms);
    free(sim->links);
    free(sim->rack_link_out);
    free(sim->rack_link_in);
    free(sim->zone_link_out);
    free(sim->zone_link_in);
    free(sim->migs);
    free(sim->faults);
    free(sim->dirty_links);
    free(sim->dirty_hosts);
    free(sim->scratch_flows);
    free(sim->scratch_links);
    free(sim->scratch_rates);
    sim_metrics_clear(sim);
    free(sim->sample_t);
    hvf_strbuf_clear(&sim->events);
    hvf_strbuf_clear(&sim->fleet_csv);
    sim_heap_clear(&sim->heap);
    for (size_t i = sim->nmodels; i-- > 0;) {
        if (sim->models[i].ops->free_ctx)
            sim->models[i].ops->free_ctx(sim->models[i].ctx);
    }
    free(sim->models);
    hvf_fleet_free(sim->fleet);
    free(sim->name);
    free(sim);
}

void
hvf_sim_set_name(hvf_sim *sim, const char *name)
{
    free(sim->name);
    sim->name = hvf_strdup(name);
}

void
hvf_sim_set_controller(hvf_sim *sim, const hvf_sim_controller *ctl)
{
    sim->ctl = *ctl;
    sim->has_ctl = true;
}

void
hvf_sim_set_progress(hvf_sim *sim, void (*fn)(int64_t, int64_t, void *), void *ctx)
{
    sim->progress = fn;
    sim->progress_ctx = ctx;
}

int
hvf_sim_add_fault(hvf_sim *sim, const hvf_sim_fault *fault, hvf_error *err)
{
    const hvf_fleet *f = sim->fleet;

    if ((unsigned)fault->type >= HVF_SIM_FAULT_LAST || fault->at_us < 0 ||
        (fault->host >= 0 && (size_t)fault->host >= f->nhosts) ||
        (fault->rack >= 0 && (size_t)fault->rack >= f->nracks) ||
        (fault->vm >= 0 && (size_t)fault->vm >= f->nvms)) {
        hvf_error_set(err, HVF_ERR_INVALID, "fault %zu: bad type, time or index", sim->nfaults);
        return -1;
    }
    if ((fault->type == HVF_SIM_FAULT_DIRTY_RATE && fault->vm < 0) ||
        ((fault->type == HVF_SIM_FAULT_HOST_CRASH || fault->type == HVF_SIM_FAULT_HOST_REBOOT) &&
         fault->host < 0) ||
        (fault->type == HVF_SIM_FAULT_LINK_DROP && fault->host < 0 && fault->rack < 0) ||
        (fault->type == HVF_SIM_FAULT_SERVICE_DOWN && !fault->service[0])) {
        hvf_error_set(err, HVF_ERR_INVALID, "fault %zu (%s): names no host, rack, VM or service",
                      sim->nfaults, hvf_sim_fault_names[fault->type]);
        return -1;
    }
    if (fault->type == HVF_SIM_FAULT_LINK_DROP && fault->host < 0 &&
        sim->rack_link_out[fault->rack] < 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "fault %zu: rack uplinks are not modelled (set params.rack_uplink)",
                      sim->nfaults);
        return -1;
    }
    hvf_grow(&sim->faults, &sim->faults_cap, sim->nfaults + 1, sizeof(hvf_sim_fault));
    sim->faults[sim->nfaults++] = *fault;
    return 0;
}

/* ---- bookkeeping shared with the other files ---- */

void
sim_push(hvf_sim *sim, int64_t t_us, sim_class cls, sim_kind kind, int32_t obj, uint32_t ver,
         int64_t tag)
{
    sim_heap_push(&sim->heap, t_us < sim->now_us ? sim->now_us : t_us, cls, kind, obj, ver, tag);
}

void
sim_notify(hvf_sim *sim, const hvf_sim_event *ev)
{
    if (sim->has_ctl && sim->ctl.on_event)
        sim->ctl.on_event(sim, ev, sim->ctl.ctx);
    for (size_t i = 0; i < sim->ncomps; i++) {
        if (sim->comps[i].on_event)
            sim->comps[i].on_event(sim, ev, sim->comps[i].ctx);
    }
}

int32_t
hvf_sim_add_component(hvf_sim *sim, const hvf_sim_component *c)
{
    HVF_ASSERT(!sim->started);
    hvf_grow(&sim->comps, &sim->comps_cap, sim->ncomps + 1, sizeof(hvf_sim_component));
    sim->comps[sim->ncomps] = *c;
    return (int32_t)sim->ncomps++;
}

void
hvf_sim_component_timer(hvf_sim *sim, int32_t id, int64_t t_us, int64_t tag)
{
    HVF_ASSERT(id >= 0 && (size_t)id < sim->ncomps);
    sim_push(sim, t_us, SIM_CLASS_CONTROL, SIM_EV_COMP_TIMER, id, 0, tag);
}

int32_t
sim_model_add(hvf_sim *sim, const sim_model_ops *ops, void *ctx)
{
    hvf_grow(&sim->models, &sim->models_cap, sim->nmodels + 1, sizeof(sim_model));
    sim->models[sim->nmodels] = (sim_model){ops, ctx};
    return (int32_t)sim->nmodels++;
}

void *
sim_model_get(const hvf_sim *sim, const sim_model_ops *ops)
{
    for (size_t i = 0; i < sim->nmodels; i++) {
        if (sim->models[i].ops == ops)
            return sim->models[i].ctx;
    }
    return NULL;
}

void
sim_model_push(hvf_sim *sim, int32_t id, int64_t t_us, sim_class cls, int32_t obj, uint32_t ver,
               int64_t tag)
{
    HVF_ASSERT(id >= 0 && (size_t)id < sim->nmodels);
    sim_push(sim, t_us, cls, (sim_kind)(SIM_EV_MODEL + (uint32_t)id), obj, ver, tag);
}

void
sim_model_dependency(hvf_sim *sim, int32_t dep)
{
    for (size_t i = 0; i < sim->nmodels; i++) {
        if (sim->models[i].ops->on_dependency)
            sim->models[i].ops->on_dependency(sim, sim->models[i].ctx, dep);
    }
}

void
sim_model_summary(const hvf_sim *sim, struct json_t *root)
{
    for (size_t i = 0; i < sim->nmodels; i++) {
        if (sim->models[i].ops->summary)
            sim->models[i].ops->summary(sim, sim->models[i].ctx, root);
    }
}

void
sim_host_mark(hvf_sim *sim, int32_t host)
{
    sim_host *sh = &sim->hosts[host];

    if (sh->dirty)
        return;
    sh->dirty = true;
    hvf_grow(&sim->dirty_hosts, &sim->dirty_hosts_cap, sim->ndirty_hosts + 1, sizeof(int32_t));
    sim->dirty_hosts[sim->ndirty_hosts++] = host;
}

void
sim_host_add_vm(hvf_sim *sim, int32_t host, int32_t vm)
{
    sim_host *sh = &sim->hosts[host];

    hvf_grow(&sh->vms, &sh->vms_cap, sh->nvms + 1, sizeof(int32_t));
    sh->vms[sh->nvms++] = vm;
    sim_host_mark(sim, host);
}

void
sim_host_remove_vm(hvf_sim *sim, int32_t host, int32_t vm)
{
    sim_host *sh = &sim->hosts[host];

    for (size_t i = 0; i < sh->nvms; i++) {
        if (sh->vms[i] == vm) {
            /* keep order: controllers walk this list and should see a stable order */
            memmove(&sh->vms[i], &sh->vms[i + 1], (sh->nvms - i - 1) * sizeof(int32_t));
            sh->nvms--;
            sim_host_mark(sim, host);
            return;
        }
    }
    HVF_ASSERT(!"VM not on its host");
}

void
sim_vm_set_state(hvf_sim *sim, int32_t vm, hvf_sim_vm_state state)
{
    hvf_sim_vm_state old = sim->vms[vm].state;
    bool was_run = old == HVF_SIM_VM_RUNNING || old == HVF_SIM_VM_MIGRATING;
    bool run = state == HVF_SIM_VM_RUNNING || state == HVF_SIM_VM_MIGRATING;

    sim_inc_vm_state(sim, vm, old, state);
    sim->vms_running += (uint32_t)run - (uint32_t)was_run;
    sim->vms_crashed_now +=
        (uint32_t)(state == HVF_SIM_VM_CRASHED) - (uint32_t)(old == HVF_SIM_VM_CRASHED);
    sim->vms[vm].state = state;
    sim_host_mark(sim, sim->fleet->vms[vm].host);
}

void
sim_host_set_state(hvf_sim *sim, int32_t host, hvf_sim_host_state state)
{
    sim_host *sh = &sim->hosts[host];

    sim_inc_host_state(sim, host, sh->state, state);
    if (sh->state == HVF_SIM_HOST_EVACUATING)
        sim->evacuating--;
    if (state == HVF_SIM_HOST_EVACUATING) {
        sim->evacuating++;
        sh->evac_notified = false;
        if (sim->evacuating > sim->st.peak_concurrent_evacuations)
            sim->st.peak_concurrent_evacuations = sim->evacuating;
    }
    if ((state == HVF_SIM_HOST_EVACUATING || state == HVF_SIM_HOST_MAINTENANCE) &&
        sim->first_window_us < 0)
        sim->first_window_us = sim->now_us;
    sh->state = state;
    sim_host_mark(sim, host);
}

void
sim_vm_down(hvf_sim *sim, int32_t vm, hvf_sim_vm_state state, const char *type, const char *detail)
{
    sim_vm *sv = &sim->vms[vm];
    hvf_vm *v = &sim->fleet->vms[vm];
    hvf_resources r = hvf_vm_resources(v);
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_event ev = {HVF_SIM_EV_VM_DOWN, sim->now_us, v->host, vm, -1, -1, -1, 0, false};

    if (sv->mig >= 0)
        sim_mig_abort(sim, sv->mig, "the VM went down", true);
    if (sv->placed) {
        HVF_ASSERT(hvf_host_release_used(&sim->fleet->hosts[v->host], &r, &err) == 0);
        sv->placed = false;
    }
    sim_vm_set_state(sim, vm, state);
    sim_log(sim, type, v->host, vm, -1, -1, detail, NULL);
    if (state == HVF_SIM_VM_CRASHED && !sim->p.vm_restart_off) {
        sv->restart_ver++;
        sim_push(sim, sim->now_us + sim->p.vm_restart_delay_us, SIM_CLASS_HOST, SIM_EV_VM_RESTART,
                 vm, sv->restart_ver, 0);
    }
    sim_notify(sim, &ev);
}

/* VMs that keep a host from being empty: guests running or migrating, and crashed ones the
 * platform will restart. Stopped VMs stay assigned but hold nothing. */
static bool
sim_host_is_empty(const hvf_sim *sim, int32_t host)
{
    const sim_host *sh = &sim->hosts[host];

    if (sh->n_in > 0 || sh->n_out > 0)
        return false;
    for (size_t i = 0; i < sh->nvms; i++) {
        if (sim->vms[sh->vms[i]].state != HVF_SIM_VM_STOPPED)
            return false;
    }
    return true;
}

void
sim_check_evacuated(hvf_sim *sim, int32_t host)
{
    sim_host *sh = &sim->hosts[host];
    hvf_sim_event ev = {HVF_SIM_EV_HOST_EVACUATED, sim->now_us, host, -1, -1, -1, -1, 0, false};

    if (sh->state != HVF_SIM_HOST_EVACUATING || sh->evac_notified || !sim_host_is_empty(sim, host))
        return;
    sh->evac_notified = true;
    sim_log(sim, "evacuate_end", host, -1, -1, -1, NULL, NULL);
    sim_notify(sim, &ev);
}

int32_t
sim_pick_restart_host(const hvf_sim *sim, int32_t vm)
{
    uint64_t need = sim->fleet->vms[vm].mem_mib;
    uint64_t best = 0;
    int32_t pick = -1;

    for (size_t h = 0; h < sim->fleet->nhosts; h++) {
        uint64_t fr;
        if (sim->hosts[h].state != HVF_SIM_HOST_ACTIVE)
            continue;
        fr = hvf_sim_host_free_mib(sim, (int32_t)h, true);
        if (fr >= need && fr > best) {
            best = fr;
            pick = (int32_t)h;
        }
    }
    return pick;
}

void
sim_flush(hvf_sim *sim)
{
    for (int round = 0; round < 16; round++) {
        size_t n;

        if (sim->ndirty_links > 0)
            sim_flows_recompute(sim);
        n = sim->ndirty_hosts;
        if (n == 0 && sim->ndirty_links == 0)
            return;
        /* evaluate a snapshot: evaluations may mark more hosts for the next round */
        for (size_t i = 0; i < n; i++) {
            int32_t h = sim->dirty_hosts[i];
            sim->hosts[h].dirty = false;
        }
        {
            /* a few hosts at a time, mostly: no malloc for those (a controller may flush
             * again from inside an evaluation, so the list is this call's own) */
            int32_t few[32];
            HVF_AUTOFREE int32_t *many = NULL;
            int32_t *list =
                n <= HVF_ARRAY_LEN(few) ? few : (many = hvf_malloc(n * sizeof(int32_t)));

            memcpy(list, sim->dirty_hosts, n * sizeof(int32_t));
            memmove(sim->dirty_hosts, sim->dirty_hosts + n,
                    (sim->ndirty_hosts - n) * sizeof(int32_t));
            sim->ndirty_hosts -= n;
            for (size_t i = 0; i < n; i++)
                sim_host_eval(sim, list[i]);
        }
    }
}

/* ---- the loop ---- */

static void
sim_dispatch(hvf_sim *sim, const sim_event *e)
{
    switch ((sim_kind)e->kind) {
    case SIM_EV_MIG_SETUP:
        sim_mig_on_setup(sim, e->obj, e->ver);
        break;
    case SIM_EV_MIG_BOUNDARY:
        sim_mig_on_boundary(sim, e->obj, e->ver);
        break;
    case SIM_EV_HOST_PRESSURE:
        if (sim->hosts[e->obj].pressure_ver == e->ver)
            sim_host_eval(sim, e->obj);
        break;
    case SIM_EV_HOST_HUNG:
        sim_host_on_hung(sim, e->obj, e->ver);
        break;
    case SIM_EV_HOST_UP:
        sim_on_host_up(sim, e->obj, e->ver);
        break;
    case SIM_EV_HOST_FIXED:
        sim_on_host_fixed(sim, e->obj, e->ver);
        break;
    case SIM_EV_VM_RESTART:
        sim_on_vm_restart(sim, e->obj, e->ver);
        break;
    case SIM_EV_MAINT_END: {
        hvf_sim_event ev = {
            HVF_SIM_EV_HOST_IN_SERVICE, sim->now_us, e->obj, -1, -1, -1, -1, 0, false};
        if (sim->hosts[e->obj].state != HVF_SIM_HOST_MAINTENANCE)
            break;
        sim_host_set_state(sim, e->obj, HVF_SIM_HOST_ACTIVE);
        sim->st.hosts_maintained++;
        sim->last_back_us = sim->now_us;
        sim_log(sim, "maintenance_end", e->obj, -1, -1, -1, NULL, NULL);
        sim_notify(sim, &ev);
        break;
    }
    case SIM_EV_TIMER: {
        hvf_sim_event ev = {HVF_SIM_EV_TIMER, sim->now_us, -1, -1, -1, -1, -1, e->tag, false};
        sim_notify(sim, &ev);
        break;
    }
    case SIM_EV_FAULT:
        sim_fault_fire(sim, e->obj);
        break;
    case SIM_EV_LINK_RESTORE:
        sim_on_link_restore(sim, e->obj);
        break;
    case SIM_EV_SAMPLE:
        sim_sample(sim);
        if (sim->now_us + sim->p.metrics_interval_us <= sim->p.duration_us)
            sim_push(sim, sim->now_us + sim->p.metrics_interval_us, SIM_CLASS_SAMPLE, SIM_EV_SAMPLE,
                     -1, 0, 0);
        break;
    case SIM_EV_COMP_TIMER: {
        hvf_sim_component *c = &sim->comps[e->obj];
        if (c->on_timer)
            c->on_timer(sim, e->tag, c->ctx);
        break;
    }
    case SIM_EV_DEP_RESTORE:
        sim_ext_on_dep_restore(sim, e->obj, e->ver);
        break;
    case SIM_EV_END:
        break;
    case SIM_EV_MODEL:
    default: {
        const sim_model *m = &sim->models[e->kind - SIM_EV_MODEL];
        HVF_ASSERT(e->kind >= SIM_EV_MODEL && e->kind - SIM_EV_MODEL < sim->nmodels);
        if (m->ops->on_event)
            m->ops->on_event(sim, m->ctx, e->obj, e->ver, e->tag);
        break;
    }
    }
}

void
sim_start(hvf_sim *sim)
{
    char detail[96];

    if (sim->started)
        return;
    sim->started = true;
    sim->now_us = 0;
    snprintf(detail, sizeof(detail), "seed %" PRIu64, sim->p.seed);
    sim_log(sim, "sim_start", -1, -1, -1, -1, detail, NULL);
    for (size_t i = 0; i < sim->nfaults; i++)
        sim_push(sim, sim->faults[i].at_us, SIM_CLASS_FAULT, SIM_EV_FAULT, (int32_t)i, 0, 0);
    if (sim->p.metrics_interval_us > 0)
        sim_push(sim, 0, SIM_CLASS_SAMPLE, SIM_EV_SAMPLE, -1, 0, 0);
    for (size_t h = 0; h < sim->fleet->nhosts; h++)
        sim_host_mark(sim, (int32_t)h);
    if (sim->has_ctl && sim->ctl.on_start)
        sim->ctl.on_start(sim, sim->ctl.ctx);
    for (size_t i = 0; i < sim->ncomps; i++) {
        if (sim->comps[i].on_start)
            sim->comps[i].on_start(sim, sim->comps[i].ctx);
    }
    /* The end is queued after what the controllers queue at the start, so that their events
     * in time order (the naive scheduler's windows) go to the queue's run, not its heap
     * (sim_heap). It is the last event of its instant, alone in its class: where its sequence
     * falls changes no order. */
    sim_push(sim, sim->p.duration_us, SIM_CLASS_END, SIM_EV_END, -1, 0, 0);
    sim_flush(sim);
}

void
sim_run_until(hvf_sim *sim, int64_t t_us)
{
    sim_event e;

    sim_start(sim);
    if (t_us > sim->p.duration_us)
        t_us = sim->p.duration_us;
    for (const sim_event *top = sim_heap_peek(&sim->heap); top && top->t_us <= t_us;
         top = sim_heap_peek(&sim->heap)) {
        sim_heap_pop(&sim->heap, &e);
        sim->now_us = e.t_us;
        sim->st.sim_events++;
        if (e.kind == SIM_EV_END) {
            sim->ended = true;
            break;
        }
        sim_dispatch(sim, &e);
        sim_flush(sim);
        if (sim->progress && (sim->st.sim_events & 0xffff) == 0)
            sim->progress(sim->now_us, sim->p.duration_us, sim->progress_ctx);
    }
    if (sim->now_us < t_us)
        sim->now_us = t_us;
}

void
hvf_sim_run(hvf_sim *sim)
{
    HVF_ASSERT(!sim->ran);
    sim->ran = true;
    sim_run_until(sim, sim->p.duration_us);
    sim->now_us = sim->p.duration_us;
    /* bring every migration's model up to the end, for the final figures */
    for (size_t i = 0; i < sim->nmigs; i++) {
        if (sim->migs[i].active)
            sim_mig_advance_to_now(sim, &sim->migs[i]);
    }
    sim_log(sim, "sim_end", -1, -1, -1, -1, NULL, NULL);
    if (sim->has_ctl && sim->ctl.on_finish)
        sim->ctl.on_finish(sim, sim->ctl.ctx);
    for (size_t i = 0; i < sim->ncomps; i++) {
        if (sim->comps[i].on_finish)
            sim->comps[i].on_finish(sim, sim->comps[i].ctx);
    }
}
