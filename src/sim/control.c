/* SPDX-License-Identifier: MIT */
/*
 * Stepping the twin and acting on migrations in flight: what a backend driver needs to put the
 * twin behind the same table as real hosts (time advanced by the caller, QMP-like progress,
 * cancel, post-copy, faults injected while running).
 */
#include <math.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sim.h"
#include "sim/mig-model.h"
#include "sim/sim-priv.h"

void
hvf_sim_run_until(hvf_sim *sim, int64_t t_us)
{
    if (t_us < sim->now_us)
        t_us = sim->now_us;
    sim_run_until(sim, t_us);
}

int64_t
hvf_sim_next_event_us(const hvf_sim *sim)
{
    const sim_event *e = sim_heap_peek(&sim->heap);

    return e ? e->t_us : INT64_MAX;
}

static sim_mig *
control_mig(hvf_sim *sim, int32_t id, bool need_active, hvf_error *err)
{
    if (id < 0 || (size_t)id >= sim->nmigs) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "migration %d does not exist", id);
        return NULL;
    }
    if (need_active && !sim->migs[id].active) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "migration %d is not in flight", id);
        return NULL;
    }
    return &sim->migs[id];
}

int
hvf_sim_migration_progress_get(hvf_sim *sim, int32_t migration, hvf_sim_migration_progress *out,
                               hvf_error *err)
{
    sim_mig *m = control_mig(sim, migration, false, err);
    const hvf_migrate_state *s;
    double remaining;

    memset(out, 0, sizeof(*out));
    if (!m)
        return -1;
    if (!m->active)
        return 0;
    sim_start(sim);
    sim_mig_advance_to_now(sim, m);
    s = sim_mig_model_state(m->model);
    remaining = s->cold_bytes + s->hot_bytes + s->new_dirty_bytes + s->left_bytes;
    out->active = true;
    out->postcopy = s->phase == HVF_MIGRATE_PHASE_POSTCOPY_SWITCH ||
                    s->phase == HVF_MIGRATE_PHASE_POSTCOPY;
    out->total_bytes = s->params.mem_bytes;
    out->transferred_bytes = (uint64_t)s->sent_bytes;
    out->remaining_bytes = remaining > 0 ? (uint64_t)remaining : 0;
    out->dirty_bytes_per_s = s->params.dirty_bytes_per_s * (1.0 - s->throttle_pct / 100.0);
    out->bytes_per_s = m->in_flow ? m->rate : 0;
    out->dirty_sync_count = s->syncs;
    out->throttle_pct = s->throttle_pct;
    out->expected_downtime_us =
        out->bytes_per_s > 0 ? (int64_t)llround(remaining / out->bytes_per_s * 1e6) : -1;
    return 0;
}

int
hvf_sim_cancel_migration(hvf_sim *sim, int32_t migration, const char *why, hvf_error *err)
{
    if (!control_mig(sim, migration, true, err))
        return -1;
    sim_start(sim);
    sim_mig_abort(sim, migration, why ? why : "cancelled", false);
    sim_flush(sim);
    return 0;
}

int
hvf_sim_migration_start_postcopy(hvf_sim *sim, int32_t migration, hvf_error *err)
{
    sim_mig *m = control_mig(sim, migration, true, err);

    if (!m)
        return -1;
    sim_mig_advance_to_now(sim, m);
    sim_mig_model_allow_postcopy(m->model);
    sim_mig_schedule(sim, migration);
    return 0;
}

int
hvf_sim_inject_fault(hvf_sim *sim, const hvf_sim_fault *fault, hvf_error *err)
{
    hvf_sim_fault f = *fault;

    sim_start(sim);
    f.at_us = sim->now_us;
    if (hvf_sim_add_fault(sim, &f, err) < 0)
        return -1;
    sim_push(sim, sim->now_us, SIM_CLASS_FAULT, SIM_EV_FAULT, (int32_t)(sim->nfaults - 1), 0, 0);
    return 0;
}
