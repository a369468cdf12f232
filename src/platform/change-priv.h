/* SPDX-License-Identifier: MIT */
/* The twin's change controller: state shared by change.c (setup, effects) and change-exec.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/sim-change.h"

typedef enum cx_phase {
    CX_PENDING,
    CX_APPLYING,     /* a wave's units are being applied */
    CX_BAKING,       /* gates are checked until the bake is over */
    CX_ROLLING_BACK, /* hvfleet: batches under the limits, in reverse */
    CX_REVERTING,    /* people: every changed unit at once */
    CX_DONE
} cx_phase;

/* Unit states */
enum { CX_U_UNTOUCHED, CX_U_APPLYING, CX_U_CHANGED, CX_U_REVERTING, CX_U_REVERTED };

typedef struct cx_run {
    const hvf_sim_change_run *r; /* borrowed */
    hvf_change_plan *plan;       /* owned, NULL until the run starts */
    cx_phase phase;
    size_t wave;
    uint8_t *ustate; /* owned, per unit */
    bool *uhurt;     /* owned, per unit: its effects are in force */
    int32_t **uvms;  /* owned, per host unit: the VMs its stop effect reached */
    size_t *nuvms;
    uint32_t *applied; /* owned: units in the order they were applied */
    size_t napplied;
    uint32_t *rb, *rb_batch; /* owned: rollback units (reverse order) and their batches */
    size_t nrb, rb_nbatches, rb_cur;
    uint16_t gen;           /* timers of an older generation are stale */
    int64_t baked_at_us;    /* the current wave's bake ends then */
    int64_t mon_fail_since; /* operator: monitoring's check failing since, -1 */
    bool alerted;
    hvf_sim_change_outcome *out; /* borrowed from sim_cx.outcomes */
} cx_run;

typedef struct sim_cx {
    hvf_sim *sim;                   /* borrowed */
    hvf_sim_change_planner planner; /* the one set when attached; all NULL without one */
    int32_t comp; /* its component id */
    cx_run *runs; /* owned */
    size_t nruns;
    hvf_sim_change_outcome *outcomes; /* owned, one per run */
    int32_t *drop_ref;                /* owned, per host: effects that make it drop connections */
    int32_t *stop_ref;                /* owned, per VM: effects that make it answer nothing */
    int32_t *restart_ref;             /* owned, per VM: units of it restarting */
} sim_cx;

/* Timer tags: the run, the kind of timer and the run's generation when it was set. */
enum {
    CX_T_START,
    CX_T_APPLIED,
    CX_T_CHECK,
    CX_T_BAKED,
    CX_T_RB_DONE,
    CX_T_MON,
    CX_T_DECIDE,
    CX_T_REVERTED
};

static inline int64_t
cx_tag(size_t run, int kind, uint16_t gen)
{
    return ((int64_t)run << 24) | ((int64_t)kind << 16) | gen;
}

/* change.c */
/* Sets the serving flag of @vm from its references (stopped by an effect, restarting). */
void cx_update_serving(sim_cx *cx, int32_t vm, const char *why);
void cx_effects_on(sim_cx *cx, cx_run *x, uint32_t unit);
void cx_effects_off(sim_cx *cx, cx_run *x, uint32_t unit);
/* Whether the unit restarts while it is changed (package and kernel changes). */
bool cx_restarts(const cx_run *x);

/* change-exec.c */
void cx_on_start(hvf_sim *sim, void *ctx);
void cx_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx);
void cx_on_timer(hvf_sim *sim, int64_t tag, void *ctx);
