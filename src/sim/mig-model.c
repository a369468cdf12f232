/* SPDX-License-Identifier: MIT */
/*
 * Interim pre-copy stepper (DESIGN.md §3, textbook rounds) used until include/hvfleet/migrate.h
 * lands; the engine only sees mig-model.h, so switching is local to this file.
 */
#include <math.h>

#include "hvfleet/alloc.h"
#include "sim/mig-model.h"

#define MIG_MAX_ROUNDS 30
#define MIG_SWITCHOVER_US 20000

enum { MIG_ROUND, MIG_FINAL, MIG_DONE };

struct sim_mig_model {
    sim_mig_input in;
    int phase;
    int round;
    double left_bytes;  /* of the current round or final copy */
    double round_us;    /* duration of the current round so far */
    double elapsed_us;
    double sent_bytes;
    double throttle;    /* auto-converge: share of guest CPU taken */
    bool completed, converged, postcopy;
    int64_t downtime_us;
};

sim_mig_model *
sim_mig_model_new(const sim_mig_input *in)
{
    sim_mig_model *m = HVF_NEW(sim_mig_model);

    m->in = *in;
    m->phase = MIG_ROUND;
    m->left_bytes = in->mem_bytes * (1.0 - in->zero_page_fraction);
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
    double us;

    if (m->phase == MIG_DONE)
        return INT64_MAX;
    us = ceil(m->left_bytes / bps * 1e6);
    if (m->phase == MIG_FINAL)
        us += MIG_SWITCHOVER_US;
    return us < 1 ? 1 : (int64_t)us;
}

static double
mig_dirty(const sim_mig_model *m)
{
    return m->in.dirty_bytes_per_s * (1.0 - m->throttle);
}

/* At the end of a round: decide the next one, the final copy, or an abort. */
static void
mig_round_end(sim_mig_model *m, double bps)
{
    double next = fmin(m->in.working_set_bytes, mig_dirty(m) * m->round_us / 1e6);
    double limit_s = (double)m->in.downtime_limit_us / 1e6;
    double timeout_us = m->in.completion_timeout_s_per_gib * m->in.mem_bytes / 1073741824.0 * 1e6;

    m->round++;
    m->round_us = 0;
    if (bps > 0 && next / bps <= limit_s) {
        m->phase = MIG_FINAL;
        m->converged = true;
        m->left_bytes = next;
        return;
    }
    if (m->in.strategy == HVF_SIM_STRATEGY_POSTCOPY) {
        /* switch now; the rest is pulled after the switchover */
        m->postcopy = true;
        m->phase = MIG_FINAL;
        m->left_bytes = fmin(next, bps * limit_s);
        m->sent_bytes += next - m->left_bytes;
        return;
    }
    if (m->in.strategy == HVF_SIM_STRATEGY_AUTO_CONVERGE)
        m->throttle = m->throttle == 0 ? 0.2 : fmin(0.99, m->throttle + 0.1);
    if ((timeout_us > 0 && m->elapsed_us >= timeout_us) || m->round >= MIG_MAX_ROUNDS) {
        if (m->in.strategy == HVF_SIM_STRATEGY_PRECOPY) {
            m->phase = MIG_DONE;
            m->completed = false;
            return;
        }
        /* forced switchover with whatever is left */
        m->phase = MIG_FINAL;
        m->left_bytes = next;
        return;
    }
    m->left_bytes = next;
}

void
sim_mig_model_advance(sim_mig_model *m, int64_t dt_us, double bps)
{
    double dt = (double)dt_us;

    m->elapsed_us += dt;
    if (m->phase == MIG_DONE || bps <= 0) {
        m->round_us += dt;
        return;
    }
    if (m->phase == MIG_FINAL) {
        double need_us = m->left_bytes / bps * 1e6;
        if (dt + 0.5 >= need_us + MIG_SWITCHOVER_US) {
            m->sent_bytes += m->left_bytes;
            m->downtime_us = (int64_t)llround(need_us) + MIG_SWITCHOVER_US;
            m->left_bytes = 0;
            m->phase = MIG_DONE;
            m->completed = true;
        } else {
            double b = fmin(m->left_bytes, bps * dt / 1e6);
            m->left_bytes -= b;
            m->sent_bytes += b;
        }
        return;
    }
    {
        double b = bps * dt / 1e6;
        m->round_us += dt;
        if (b + 1.0 >= m->left_bytes) {
            m->sent_bytes += m->left_bytes;
            m->left_bytes = 0;
            mig_round_end(m, bps);
        } else {
            m->left_bytes -= b;
            m->sent_bytes += b;
        }
    }
}

void
sim_mig_model_set_dirty(sim_mig_model *m, double dirty)
{
    m->in.dirty_bytes_per_s = dirty;
}

bool
sim_mig_model_done(const sim_mig_model *m)
{
    return m->phase == MIG_DONE;
}

bool
sim_mig_model_completed(const sim_mig_model *m)
{
    return m->completed;
}

bool
sim_mig_model_converged(const sim_mig_model *m)
{
    return m->converged && !m->postcopy;
}

int64_t
sim_mig_model_downtime_us(const sim_mig_model *m)
{
    return m->downtime_us;
}

double
sim_mig_model_sent_bytes(const sim_mig_model *m)
{
    return m->sent_bytes;
}

const char *
sim_mig_model_detail(const sim_mig_model *m)
{
    if (m->postcopy)
        return "post-copy";
    if (m->throttle > 0)
        return "auto-converge";
    if (m->phase == MIG_DONE && !m->completed)
        return "aborted at the completion timeout";
    return m->converged ? "pre-copy converged" : "pre-copy forced switchover";
}
