/* SPDX-License-Identifier: MIT */
/*
 * The twin's adapter over the migration stepper of include/hvfleet/migrate.h: the same model
 * `hvfleet estimate` drives at a constant bandwidth, here driven at each flow's current share.
 */
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"
#include "sim/mig-model.h"

struct sim_mig_model {
    hvf_migrate_state s;
    char detail[192];
};

static hvf_migrate_strategy
mig_strategy(hvf_sim_strategy s)
{
    switch (s) {
    case HVF_SIM_STRATEGY_AUTO_CONVERGE:
        return HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    case HVF_SIM_STRATEGY_POSTCOPY:
        return HVF_MIGRATE_STRATEGY_POSTCOPY;
    default:
        return HVF_MIGRATE_STRATEGY_PRECOPY;
    }
}

sim_mig_model *
sim_mig_model_new(const sim_mig_input *in, hvf_error *err)
{
    sim_mig_model *m = HVF_NEW(sim_mig_model);
    hvf_migrate_params p;
    double gib = in->mem_bytes / (double)HVF_GIB;

    hvf_migrate_params_default(&p);
    p.mem_bytes = (uint64_t)in->mem_bytes;
    p.dirty_bytes_per_s = in->dirty_bytes_per_s;
    p.working_set_bytes = (uint64_t)in->working_set_bytes;
    p.zero_fraction = in->zero_page_fraction;
    p.bandwidth_bytes_per_s = in->cap_bytes_per_s;
    if (in->link_bytes_per_s > in->cap_bytes_per_s)
        p.link_bytes_per_s = in->link_bytes_per_s;
    p.downtime_limit_us = in->downtime_limit_us;
    p.strategy = mig_strategy(in->strategy);
    /* the twin's 0 means never: a horizon past any run, not the model's 0 (which ends a
     * migration that never converges with the answer "never") */
    if (in->completion_timeout_s_per_gib <= 0)
        p.timeout_us = 10LL * 365 * 86400 * HVF_US_PER_S;
    else
        p.timeout_us = (int64_t)ceil(in->completion_timeout_s_per_gib * gib * 1e6);
    if (hvf_migrate_state_init(&m->s, &p, err) < 0) {
        free(m);
        return NULL;
    }
    return m;
}

void
sim_mig_model_free(sim_mig_model *m)
{
    free(m);
}

int64_t
sim_mig_model_next_us(const sim_mig_model *m, double bps)
{
    int64_t us = hvf_migrate_state_next_us(&m->s, bps);

    return us < 0 ? INT64_MAX : us;
}

void
sim_mig_model_advance(sim_mig_model *m, int64_t dt_us, double bps)
{
    hvf_error err = HVF_ERROR_INIT;

    /* dt >= 0 and a finite rate >= 0 are the engine's invariants */
    HVF_ASSERT(hvf_migrate_state_advance(&m->s, dt_us, bps, &err) >= 0);
}

double
sim_mig_model_demand(const sim_mig_model *m)
{
    return hvf_migrate_state_demand_bytes_per_s(&m->s);
}

bool
sim_mig_model_paused(const sim_mig_model *m)
{
    return hvf_migrate_state_paused(&m->s);
}

void
sim_mig_model_set_dirty(sim_mig_model *m, double dirty)
{
    /* migrate.h has no setter yet; the stepper reads params.dirty_bytes_per_s at each step, so
     * changing it here applies from now on (a dirty_rate fault, a slowed guest) */
    m->s.params.dirty_bytes_per_s = dirty;
}

bool
sim_mig_model_done(const sim_mig_model *m)
{
    return hvf_migrate_state_done(&m->s);
}

bool
sim_mig_model_completed(const sim_mig_model *m)
{
    return hvf_migrate_state_phase(&m->s) == HVF_MIGRATE_PHASE_DONE;
}

bool
sim_mig_model_converged(const sim_mig_model *m)
{
    hvf_migrate_result r;

    hvf_migrate_state_figures(&m->s, &r);
    return r.converged && r.finished_by != HVF_MIGRATE_STRATEGY_POSTCOPY;
}

int64_t
sim_mig_model_downtime_us(const sim_mig_model *m)
{
    hvf_migrate_result r;

    hvf_migrate_state_figures(&m->s, &r);
    return r.downtime_us;
}

void
sim_mig_model_result(const sim_mig_model *m, hvf_migrate_result *out)
{
    hvf_migrate_state_figures(&m->s, out);
}

double
sim_mig_model_sent_bytes(const sim_mig_model *m)
{
    return m->s.sent_bytes;
}

const char *
sim_mig_model_detail(const sim_mig_model *m)
{
    hvf_migrate_result r;

    hvf_migrate_state_result(&m->s, &r);
    hvf_strlcpy(((sim_mig_model *)m)->detail, r.reason, sizeof(m->detail));
    return m->detail;
}

const hvf_migrate_state *
sim_mig_model_state(const sim_mig_model *m)
{
    return &m->s;
}

void
sim_mig_model_allow_postcopy(sim_mig_model *m)
{
    m->s.params.strategy = HVF_MIGRATE_STRATEGY_POSTCOPY;
}
