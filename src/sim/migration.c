/* SPDX-License-Identifier: MIT */
/*
 * Live migrations in the twin: start (with or without a claim on the target), setup delay,
 * progress through the migration model at the flow's current share, completion and abort.
 *
 * A migration's model is advanced lazily: only when its rate changes or at its next phase
 * boundary. A rate change advances it to now at the old rate and reschedules its boundary at the
 * new one; the boundary event left in the heap is invalidated by bumping the version.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

static void
mig_list_insert(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];
    sim_host *s = &sim->hosts[m->src], *d = &sim->hosts[m->dst];

    m->prev_out = -1;
    m->next_out = s->mig_out;
    if (s->mig_out >= 0)
        sim->migs[s->mig_out].prev_out = id;
    s->mig_out = id;
    s->n_out++;
    m->prev_in = -1;
    m->next_in = d->mig_in;
    if (d->mig_in >= 0)
        sim->migs[d->mig_in].prev_in = id;
    d->mig_in = id;
    d->n_in++;
}

static void
mig_list_remove(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];
    sim_host *s = &sim->hosts[m->src], *d = &sim->hosts[m->dst];

    if (m->prev_out >= 0)
        sim->migs[m->prev_out].next_out = m->next_out;
    else
        s->mig_out = m->next_out;
    if (m->next_out >= 0)
        sim->migs[m->next_out].prev_out = m->prev_out;
    s->n_out--;
    if (m->prev_in >= 0)
        sim->migs[m->prev_in].next_in = m->next_in;
    else
        d->mig_in = m->next_in;
    if (m->next_in >= 0)
        sim->migs[m->next_in].prev_in = m->prev_in;
    d->n_in--;
}

static int32_t
mig_alloc(hvf_sim *sim)
{
    int32_t id;

    if (sim->mig_free >= 0) {
        id = sim->mig_free;
        sim->mig_free = sim->migs[id].next_free;
    } else {
        hvf_grow(&sim->migs, &sim->migs_cap, sim->nmigs + 1, sizeof(sim_mig));
        id = (int32_t)sim->nmigs++;
    }
    return id;
}

static hvf_sim_strategy
mig_sim_strategy(hvf_migrate_strategy s)
{
    switch (s) {
    case HVF_MIGRATE_STRATEGY_AUTO_CONVERGE:
        return HVF_SIM_STRATEGY_AUTO_CONVERGE;
    case HVF_MIGRATE_STRATEGY_POSTCOPY:
        return HVF_SIM_STRATEGY_POSTCOPY;
    default:
        return HVF_SIM_STRATEGY_PRECOPY;
    }
}

/* The migration's figures from its model, now. */
static void
mig_info(const hvf_sim *sim, const sim_mig *m, hvf_sim_migration_info *out)
{
    hvf_migrate_result r;

    sim_mig_model_result(m->model, &r);
    memset(out, 0, sizeof(*out));
    out->vm = m->vm;
    out->from = m->src;
    out->to = m->dst;
    out->active = m->active;
    out->claimed = m->claimed;
    out->start_us = m->t_start_us;
    out->end_us = -1;
    out->rounds = r.rounds;
    out->strategy = mig_sim_strategy(r.finished_by);
    out->throttle_pct = r.throttle_pct;
    out->bytes_sent = r.bytes_sent;
    if (sim_mig_model_done(m->model) && sim_mig_model_completed(m->model)) {
        out->completed = true;
        out->converged = sim_mig_model_converged(m->model);
        out->downtime_us = r.downtime_us;
    }
}

/* Keeps the figures of a migration that ends now in its slot, for hvf_sim_migration_result. */
static void
mig_keep_figures(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];

    mig_info(sim, m, &m->done);
    m->done.active = false;
    m->done.end_us = sim->now_us;
}

int
hvf_sim_migration_result(const hvf_sim *sim, int32_t migration, hvf_sim_migration_info *out,
                         hvf_error *err)
{
    const sim_mig *m;

    if (migration < 0 || (size_t)migration >= sim->nmigs) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "migration %d does not exist", migration);
        return -1;
    }
    m = &sim->migs[migration];
    if (m->active)
        mig_info(sim, m, out);
    else
        *out = m->done;
    return 0;
}

/* Releases the slot; the version survives so events left in the heap stay stale. */
static void
mig_release(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];

    sim_flow_detach(sim, id);
    mig_list_remove(sim, id);
    sim_mig_model_free(m->model);
    m->model = NULL;
    m->active = false;
    m->ver++;
    m->next_free = sim->mig_free;
    sim->mig_free = id;
    sim->migs_active--;
    sim->vms[m->vm].mig = -1;
    sim_host_mark(sim, m->src);
    sim_host_mark(sim, m->dst);
}

void
sim_mig_advance_to_now(hvf_sim *sim, sim_mig *m)
{
    int64_t dt = sim->now_us - m->t_update_us;

    if (m->in_flow && dt > 0)
        sim_mig_model_advance(m->model, dt, m->rate);
    m->t_update_us = sim->now_us;
}

double
sim_mig_arrived_bytes(const hvf_sim *sim, const sim_mig *m)
{
    double sent = sim_mig_model_sent_bytes(m->model);

    if (m->in_flow)
        sent += m->rate * (double)(sim->now_us - m->t_update_us) / 1e6;
    return fmin(sent, m->arrive_bytes);
}

void
sim_mig_schedule(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];

    int64_t dt;

    /* a migration still in setup keeps its version: its setup event must stay valid */
    if (!m->in_flow)
        return;
    m->ver++;
    dt = sim_mig_model_next_us(m->model, m->rate);
    if (dt == INT64_MAX)
        return; /* stalled at this rate: a rate change will reschedule it */
    sim_push(sim, sim->now_us + dt, SIM_CLASS_FLOW, SIM_EV_MIG_BOUNDARY, id, m->ver, 0);
}

static hvf_sim_strategy
mig_strategy(const hvf_sim *sim, const hvf_sim_migrate_opts *o)
{
    if (o && o->strategy != HVF_SIM_STRATEGY_DEFAULT)
        return o->strategy;
    return sim->p.strategy != HVF_SIM_STRATEGY_DEFAULT ? sim->p.strategy : HVF_SIM_STRATEGY_PRECOPY;
}

int32_t
hvf_sim_start_migration(hvf_sim *sim, int32_t vm, int32_t target, const hvf_sim_migrate_opts *opts,
                        hvf_error *err)
{
    hvf_fleet *f = sim->fleet;
    hvf_vm *v;
    sim_mig *m;
    sim_mig_model *model;
    sim_mig_input in;
    hvf_resources r;
    int32_t id, src;
    char extra[128];

    if (vm < 0 || (size_t)vm >= f->nvms || target < 0 || (size_t)target >= f->nhosts) {
        hvf_error_set(err, HVF_ERR_INVALID, "migration: VM %d or host %d does not exist", vm,
                      target);
        return -1;
    }
    v = &f->vms[vm];
    src = v->host;
    if (sim->vms[vm].state != HVF_SIM_VM_RUNNING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s, not running", v->name,
                      hvf_sim_vm_state_names[sim->vms[vm].state]);
        return -1;
    }
    if (!v->migratable) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is not migratable", v->name);
        return -1;
    }
    if (target == src) {
        hvf_error_set(err, HVF_ERR_INVALID, "VM '%s' is already on host '%s'", v->name,
                      f->hosts[target].name);
        return -1;
    }
    if (sim->hosts[target].state != HVF_SIM_HOST_ACTIVE) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: it takes no VMs",
                      f->hosts[target].name, hvf_sim_host_state_names[sim->hosts[target].state]);
        return -1;
    }
    in.mem_bytes = (double)v->mem_mib * (double)HVF_MIB;
    in.dirty_bytes_per_s = v->dirty_bytes_per_s * sim->hosts[src].speed;
    in.working_set_bytes = (double)v->working_set_mib * (double)HVF_MIB;
    in.zero_page_fraction = sim->p.zero_page_fraction;
    in.downtime_limit_us =
        opts && opts->downtime_limit_us > 0 ? opts->downtime_limit_us : sim->p.downtime_limit_us;
    in.strategy = mig_strategy(sim, opts);
    in.completion_timeout_s_per_gib = sim->p.completion_timeout_s_per_gib;
    in.cap_bytes_per_s = opts && opts->max_bytes_per_s > 0 ? opts->max_bytes_per_s
                                                           : sim->p.migration_max_bytes_per_s;
    if (in.cap_bytes_per_s <= 0)
        in.cap_bytes_per_s = f->hosts[src].nic_bytes_per_s; /* uncapped: the NIC limits it */
    in.link_bytes_per_s = f->hosts[src].nic_bytes_per_s < f->hosts[target].nic_bytes_per_s
                              ? f->hosts[src].nic_bytes_per_s
                              : f->hosts[target].nic_bytes_per_s;
    model = sim_mig_model_new(&in, err);
    if (!model) {
        hvf_error_prefix(err, "VM '%s': ", v->name);
        return -1;
    }
    r = hvf_vm_resources(v);
    if (opts && opts->claim && hvf_host_claim(&f->hosts[target], &r, 0, err) < 0) {
        sim_mig_model_free(model);
        return -1;
    }

    id = mig_alloc(sim);
    m = &sim->migs[id];
    {
        uint32_t ver = m->ver;
        memset(m, 0, sizeof(*m));
        m->ver = ver;
    }
    m->active = true;
    m->claimed = opts && opts->claim;
    m->vm = vm;
    m->src = src;
    m->dst = target;
    m->next_free = -1;
    m->t_start_us = m->t_update_us = sim->now_us;
    m->model = model;
    m->demand = sim_mig_model_demand(model);
    m->arrive_bytes = in.mem_bytes * (1.0 - in.zero_page_fraction);
    mig_list_insert(sim, id);
    sim_vm_set_state(sim, vm, HVF_SIM_VM_MIGRATING);
    sim->vms[vm].mig = id;
    sim->migs_active++;
    sim->st.migrations_started++;
    if (sim->migs_active > sim->st.peak_concurrent_migrations)
        sim->st.peak_concurrent_migrations = sim->migs_active;
    /* sim_log counts the event in any case; the text only when events are recorded */
    if (sim->p.record_events)
        snprintf(extra, sizeof(extra), ",\"migration\":%d,\"claim\":%s", id,
                 m->claimed ? "true" : "false");
    sim_log(sim, "migration_start", -1, vm, src, target, NULL,
            sim->p.record_events ? extra : NULL);
    {
        int64_t lo = sim->p.migration_setup_min_us, hi = sim->p.migration_setup_max_us;
        int64_t d = hi > lo ? lo + (int64_t)hvf_rng_range(&sim->rng, 0, (uint64_t)(hi - lo)) : lo;
        sim_push(sim, sim->now_us + d, SIM_CLASS_FLOW, SIM_EV_MIG_SETUP, id, m->ver, 0);
    }
    sim_host_mark(sim, src);
    sim_host_mark(sim, target);
    return id;
}

void
sim_mig_on_setup(hvf_sim *sim, int32_t id, uint32_t ver)
{
    sim_mig *m = &sim->migs[id];

    if (!m->active || m->ver != ver)
        return;
    m->t_update_us = sim->now_us;
    sim_flow_attach(sim, id);
}

/* Releases what the migration held and logs it; the VM stays where it is. */
static void
mig_finish_abort(hvf_sim *sim, int32_t id, const char *why, bool vm_dies)
{
    sim_mig *m = &sim->migs[id];
    hvf_fleet *f = sim->fleet;
    hvf_vm *v = &f->vms[m->vm];
    hvf_resources r = hvf_vm_resources(v);
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_event ev = {
        HVF_SIM_EV_MIGRATION_ABORT, sim->now_us, m->src, m->vm, m->src, m->dst, id, 0, false};
    char extra[96];

    if (m->claimed)
        HVF_ASSERT(hvf_host_release_claim(&f->hosts[m->dst], &r, &err) == 0);
    mig_keep_figures(sim, id);
    if (sim->p.record_events)
        snprintf(extra, sizeof(extra), ",\"migration\":%d,\"duration_s\":%.3f", id,
                 (double)(sim->now_us - m->t_start_us) / 1e6);
    sim_log(sim, "migration_abort", -1, m->vm, m->src, m->dst, why,
            sim->p.record_events ? extra : NULL);
    sim->st.migrations_aborted++;
    mig_release(sim, id);
    if (!vm_dies)
        sim_vm_set_state(sim, ev.vm, HVF_SIM_VM_RUNNING);
    sim_check_evacuated(sim, ev.from);
    sim_notify(sim, &ev);
}

void
sim_mig_abort(hvf_sim *sim, int32_t id, const char *why, bool vm_dies)
{
    sim_mig_advance_to_now(sim, &sim->migs[id]);
    mig_finish_abort(sim, id, why, vm_dies);
}

static void
mig_complete(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];
    hvf_fleet *f = sim->fleet;
    int32_t vm = m->vm, src = m->src, dst = m->dst;
    hvf_resources r = hvf_vm_resources(&f->vms[vm]);
    hvf_error err = HVF_ERROR_INIT;
    bool converged = sim_mig_model_converged(m->model);
    hvf_sim_event ev = {HVF_SIM_EV_MIGRATION_END, sim->now_us, src, vm, src, dst, id, 0, converged};
    char extra[192];

    HVF_ASSERT(hvf_host_release_used(&f->hosts[src], &r, &err) == 0);
    if (m->claimed)
        HVF_ASSERT(hvf_host_commit(&f->hosts[dst], &r, &err) == 0);
    else
        HVF_ASSERT(hvf_host_use(&f->hosts[dst], &r, HVF_OVERCOMMIT, &err) == 0);
    mig_keep_figures(sim, id);
    sim_host_remove_vm(sim, src, vm);
    hvf_vm_moved(&f->vms[vm], dst); /* a DRBD VM's old host keeps the other copy of its disk */
    sim_host_add_vm(sim, dst, vm);
    if (sim->p.record_events)
        snprintf(extra, sizeof(extra),
                 ",\"migration\":%d,\"converged\":%s,\"downtime_ms\":%.1f,\"duration_s\":%.3f",
                 id, converged ? "true" : "false",
                 (double)sim_mig_model_downtime_us(m->model) / 1e3,
                 (double)(sim->now_us - m->t_start_us) / 1e6);
    sim_log(sim, "migration_end", -1, vm, src, dst,
            sim->p.record_events ? sim_mig_model_detail(m->model) : NULL,
            sim->p.record_events ? extra : NULL);
    sim->st.migrations_completed++;
    mig_release(sim, id);
    sim_vm_set_state(sim, vm, HVF_SIM_VM_RUNNING);
    sim_check_evacuated(sim, src);
    sim_notify(sim, &ev);
}

void
sim_mig_on_boundary(hvf_sim *sim, int32_t id, uint32_t ver)
{
    sim_mig *m = &sim->migs[id];

    if (!m->active || m->ver != ver)
        return;
    if (m->in_flow && m->t_update_us == sim->now_us)
        sim_mig_model_advance(m->model, 0, m->rate); /* a boundary due at once: pass it */
    sim_mig_advance_to_now(sim, m);
    if (!sim_mig_model_done(m->model)) {
        double demand = sim_mig_model_demand(m->model);
        bool paused = sim_mig_model_paused(m->model);

        if (paused != (sim->vms[m->vm].state == HVF_SIM_VM_PAUSED))
            sim_vm_set_state(sim, m->vm, paused ? HVF_SIM_VM_PAUSED : HVF_SIM_VM_MIGRATING);
        if (demand != m->demand) {
            /* a new phase wants a different share (uncapped final copy, a pause) */
            m->demand = demand;
            sim_link_mark(sim, m->links[0]);
        }
        sim_mig_schedule(sim, id);
        return;
    }
    if (sim_mig_model_completed(m->model))
        mig_complete(sim, id);
    else
        mig_finish_abort(sim, id, sim_mig_model_detail(m->model), false);
}
