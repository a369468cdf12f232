/* SPDX-License-Identifier: MIT */
/*
 * The twin's view of one live migration: a stepper the engine advances between events at a
 * bandwidth that changes whenever flows start or end. It wraps the migration model of
 * include/hvfleet/migrate.h so that a lone migration in the twin gives what `hvfleet estimate`
 * gives.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/migrate.h"
#include "hvfleet/sim.h"

typedef struct sim_mig_input {
    double mem_bytes;
    double dirty_bytes_per_s;
    double working_set_bytes;
    double zero_page_fraction;
    int64_t downtime_limit_us;
    hvf_sim_strategy strategy;           /* resolved: never DEFAULT */
    double completion_timeout_s_per_gib; /* 0 = never */
    double cap_bytes_per_s;              /* QEMU max-bandwidth for the live phase, > 0 */
    double link_bytes_per_s; /* the slower NIC: QEMU lifts the cap for the final copy; 0 = cap */
} sim_mig_input;

typedef struct sim_mig_model sim_mig_model;

/* Owned model state; free with sim_mig_model_free. NULL with @err when @in is invalid. */
sim_mig_model *sim_mig_model_new(const sim_mig_input *in, hvf_error *err);
void sim_mig_model_free(sim_mig_model *m);

/* Microseconds until the next phase boundary at @bytes_per_s, or INT64_MAX. */
int64_t sim_mig_model_next_us(const sim_mig_model *m, double bytes_per_s);
/* Advances by @dt_us at @bytes_per_s (may be 0: only time passes). */
void sim_mig_model_advance(sim_mig_model *m, int64_t dt_us, double bytes_per_s);
/* What the flow would take if the network allowed: the cap while live, HUGE_VAL while the
 * final copy runs uncapped, 0 during a switchover pause. */
double sim_mig_model_demand(const sim_mig_model *m);
/* True while the guest is paused (stop-and-copy, switchover). */
bool sim_mig_model_paused(const sim_mig_model *m);
/* Changes the guest's dirty rate from now on. */
void sim_mig_model_set_dirty(sim_mig_model *m, double dirty_bytes_per_s);

bool sim_mig_model_done(const sim_mig_model *m);
/* Once done: false = aborted (the VM stays on its source). */
bool sim_mig_model_completed(const sim_mig_model *m);
/* Once done and completed: converged without a forced switchover; downtime. */
bool sim_mig_model_converged(const sim_mig_model *m);
int64_t sim_mig_model_downtime_us(const sim_mig_model *m);
/* The model's figures so far (final once done): rounds, downtime, mechanism, bytes. */
void sim_mig_model_result(const sim_mig_model *m, hvf_migrate_result *out);
/* Bytes put on the wire so far. */
double sim_mig_model_sent_bytes(const sim_mig_model *m);
/* What the model relied on, for logs ("pre-copy", "auto-converge", "post-copy", ...). */
const char *sim_mig_model_detail(const sim_mig_model *m);
/* The stepper's state (plain data, read-only), for progress as QMP's query-migrate reports it. */
const hvf_migrate_state *sim_mig_model_state(const sim_mig_model *m);
/* Lets the migration switch to post-copy at its next phase boundary (QMP
 * migrate-start-postcopy); no effect once it is in stop-and-copy or done. */
void sim_mig_model_allow_postcopy(sim_mig_model *m);
