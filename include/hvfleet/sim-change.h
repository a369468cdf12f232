/* SPDX-License-Identifier: MIT */
/*
 * Rolling changes in the twin: a controller that runs changes (include/hvfleet/change.h) wave by
 * wave, applies to each unit the effects the scenario declares for its variants, checks the
 * gates from the twin's state while baking, and halts and rolls back when one fails. Scenario
 * files declare them in `changes:` (docs/changes.md).
 *
 * Two executors: hvfleet (the change planner's waves under the policy, the seatbelt's verdict,
 * a rollback that keeps the limits) and people (as_written: the file's waves as written, no
 * coverage, no limits), optionally with an operator model for the time monitoring takes to
 * alert and people take to decide and revert (fitted to an incident report's timeline).
 *
 * Events: change_plan, change_refused, change_start, change_wave_start, change_wave_applied,
 * change_effect, change_gate_failed, change_halt, change_rollback_batch, change_rolled_back,
 * change_revert, change_reverted, change_done, and the incident milestones of
 * include/hvfleet/incident.h: alert (a gate failed, or monitoring noticed), decision (halt and
 * roll back, or what people did), resolved (every client and replica healthy again after it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/change.h"
#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/policy.h"
#include "hvfleet/sim-change-types.h"
#include "hvfleet/sim.h"

/*
 * True when @e applies to a unit on host @host of @fleet under @change. Exposed for tests.
 * Kernel versions compare number by number ("4.15" > "4.10" > "4.4"); a host without a kernel
 * matches no kernel condition.
 */
bool hvf_sim_effect_matches(const hvf_sim_change_effect *e, const hvf_fleet *fleet, int32_t host,
                            const hvf_change *change);

/*
 * hvf_sim_change_attach: adds the component that runs @runs (borrowed: they must outlive @sim)
 * to @sim, before hvf_sim_run. The simulation owns the component's context. Returns the
 * component's id. One change component per simulation. Runs plan with the planner set when
 * attached; without one, each run is refused when it starts (change_refused, no plan).
 */
int32_t hvf_sim_change_attach(hvf_sim *sim, const hvf_sim_change_run *runs, size_t nruns);

/*
 * The change planner the controller plans its runs with: the waves (as written, or hvfleet's
 * under the run's policy), rollback batches and the seatbelt's verdict. It lives above the
 * twin (src/plan/change*.c), which sets it at start-up with hvf_change_register_planner
 * (hvfleet/change-plan.h), as the maintenance planner registers its scheduler
 * (hvfleet/sim-sched.h): the twin runs the planner without depending on it
 * (docs/internals/layers.md). The functions are hvfleet/change-plan.h's of the same names.
 */
typedef struct hvf_sim_change_planner {
    hvf_change_plan *(*build)(const hvf_fleet *fleet, const hvf_change *change,
                              const hvf_change_plan_opts *opts, hvf_error *err);
    void (*free)(hvf_change_plan *plan);
    size_t (*pack)(const hvf_change_plan *plan, const uint32_t *units, size_t n, uint32_t cap,
                   uint32_t *batch_of);
    hvf_plan_verdict (*evaluate)(hvf_change_plan *plan, const hvf_policy *policy,
                                 const hvf_fleet *fleet, bool frozen);
    char *(*wave_variants)(const hvf_change_plan *plan, const hvf_change_wave *w);
} hvf_sim_change_planner;

/*
 * hvf_sim_change_set_planner: the planner every later simulation uses (@p copied). Not
 * thread-safe: set it before any simulation starts. Returns 0, or -1 with HVF_ERR_INVALID when
 * a function is missing.
 */
int hvf_sim_change_set_planner(const hvf_sim_change_planner *p, hvf_error *err)
    __attribute__((warn_unused_result));
/* The planner set, or NULL: then hvf_scenario_sim_new refuses scenarios with changes. */
const hvf_sim_change_planner *hvf_sim_change_get_planner(void);

typedef struct hvf_sim_change_outcome {
    const char *name; /* borrowed from the run's change */
    bool as_written;
    bool started; /* false: refused by the seatbelt, waiting for approval, or bad plan */
    hvf_plan_verdict verdict; /* hvfleet runs */
    size_t waves_planned, waves_done;
    size_t units, units_changed; /* units changed at the end (after any rollback) */
    bool halted, rolled_back, completed, reverted;
    char halt_reason[256];
    /* incident milestones, -1 when they did not happen */
    int64_t t_start_us, t_event_us, t_detect_us, t_decide_us, t_resolve_us;
} hvf_sim_change_outcome;

/* The outcome of each run so far, in the runs' order (borrowed); 0 without changes. */
size_t hvf_sim_change_outcomes(const hvf_sim *sim, const hvf_sim_change_outcome **out);
