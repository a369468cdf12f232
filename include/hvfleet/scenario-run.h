/* SPDX-License-Identifier: MIT */
/* From a scenario (hvfleet/scenario.h) to a ready simulation (src/platform/scenario-run.c). */
#pragma once

#include "hvfleet/error.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"

/*
 * hvf_scenario_sim_new: a simulation of @sc with its faults, its monitoring (a component the
 * simulation owns), its services, its changes' controller (a component too), its fallout
 * components (hvfleet/fallout.h) and, when it has one, its maintenance scheduler, found by name
 * among the registered ones (hvfleet/sim-sched.h). The simulation owns the scheduler:
 * *@sched_ctx (may be NULL) is set to NULL, kept for callers that still pass it to
 * hvf_sim_naive_free (a no-op on NULL). Returns an owned simulation, or NULL with @err set
 * (HVF_ERR_INVALID for a scheduler this program did not register, or for changes when it set no
 * change planner, hvfleet/sim-change.h).
 */
hvf_sim *hvf_scenario_sim_new(const hvf_scenario *sc, void **sched_ctx, hvf_error *err);
