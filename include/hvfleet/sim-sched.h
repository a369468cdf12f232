/* SPDX-License-Identifier: MIT */
/*
 * Maintenance schedulers by name: the table hvf_scenario_sim_new looks up a scenario's
 * `maintenance.scheduler` in. The twin registers its own ("naive", seed 000's scheduler); a
 * higher layer registers its schedulers at start-up (the planner's "hvfleet" strategy:
 * hvf_maintenance_register_scheduler in hvfleet/maintenance.h, called by the CLI's main), so
 * that the twin can run a planner's controller without depending on the planner.
 * docs/internals/schedulers.md explains the choice.
 *
 * Registration is not thread-safe: register before any simulation starts.
 */
#pragma once

#include "hvfleet/error.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"

#define HVF_SIM_MAX_SCHEDULERS 8

typedef struct hvf_sim_scheduler {
    const char *name; /* as scenario files name it: a string literal, not copied */
    /*
     * May be NULL: adjusts the twin's parameters (a copy of the scenario's) before the
     * simulation is made, e.g. a policy's share of the NIC for migrations.
     */
    void (*prepare)(const hvf_scenario *sc, hvf_sim_params *params);
    /*
     * Installs the controller that runs @sc's maintenance in @sim (hvf_sim_set_controller,
     * with free_ctx set so that the simulation owns it). Returns 0, or -1 with @err set.
     */
    int (*attach)(hvf_sim *sim, const hvf_scenario *sc, hvf_error *err);
} hvf_sim_scheduler;

/*
 * hvf_sim_scheduler_register: adds @s (copied) to the table, or replaces the scheduler of the
 * same name. Returns 0, or -1 with HVF_ERR_INVALID (no name or attach, table full).
 */
int hvf_sim_scheduler_register(const hvf_sim_scheduler *s, hvf_error *err)
    __attribute__((warn_unused_result));

/* The scheduler registered as @name (the built-in "naive" always is), or NULL. */
const hvf_sim_scheduler *hvf_sim_scheduler_find(const char *name);

/* ---- the naive scheduler, built on the controller API (src/platform/naive.c) ---- */

/*
 * The naive scheduler of seed 000: each host of @opts gets a window; when it opens the host
 * starts evacuating to whichever active host has the most free memory at that moment
 * (hvf_sim_host_free_mib without claims unless opts->claims), migrations_per_host at a time;
 * once empty it is maintained for window_us and returns to service. Returns an owned context to
 * pass as ctl->ctx; free it with hvf_sim_naive_free after the run. @opts is copied.
 */
void *hvf_sim_naive_new(const hvf_sim_naive_opts *opts, hvf_sim_controller *ctl);
void hvf_sim_naive_free(void *ctx);
