/* SPDX-License-Identifier: MIT */
/*
 * Internals of the plan executor (bench/exec-plan.c: life cycle and events;
 * bench/exec-plan-steps.c: starting the plan's steps and what deviates from it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "twin-exec.h"

#define LATE_US HVF_US_PER_S /* a step started later than this is counted late */

enum { PX_IDLE, PX_EVACUATING, PX_MAINTENANCE, PX_DONE };
#define REDIRECT_US (600 * HVF_US_PER_S) /* a step blocked by its target this long moves on */
#define TICK_US (60 * HVF_US_PER_S)

enum { TAG_HOST = 1, TAG_MIG, TAG_STOP, TAG_START, TAG_TICK };

typedef struct px_mig {
    size_t order; /* index in the plan file */
    int32_t vm, from, to;
    int64_t at_us;
    hvf_sim_strategy strategy;
    bool due, started, done;
    uint32_t attempts;
} px_mig;

typedef struct px_stop {
    int32_t vm, host, start_host;
    int64_t stop_us, start_us;
    bool stopped, start_due, restarted;
} px_stop;

typedef struct plan_exec {
    bench_exec_opts o;
    px_mig *migs;
    size_t nmigs;
    px_stop *stops;
    size_t nstops;
    int32_t *hosts;                       /* planned hosts, with their times */
    int64_t *evac_us, *maint_us, *end_us; /* planned evacuation start, maintenance length, end */
    size_t nhosts;
    bool *host_due;   /* planned host whose evacuation time has come */
    size_t next_host; /* hosts start in planned order, within max_parallel */
    uint32_t max_parallel;
    int32_t *mig_of_vm; /* the step in flight for a VM, -1 */
    unsigned char *phase;
    bool *planned_host;
    int64_t *back_us;   /* per fleet host: planned end of its maintenance, INT64_MAX if none */
    int32_t *next_step; /* per VM: its first plan step not done, -1 if none is left */
    int32_t *step_next; /* per step: the same VM's next step, -1 */
    bool *stop_planned; /* per VM: a stop of the plan is still to come */
    uint32_t *adhoc_attempts;
    int64_t *parked_at;
    uint32_t *moves;
    size_t *pending; /* due steps waiting for the fleet, in planned order */
    size_t npending, pending_cap;
    bool pumping, pump_again, tick_pending;
    bool *parked_dyn; /* VMs the executor shut down after failed retries */
    uint32_t offline_hosts;
    uint64_t offline_mib, fleet_mib;
    bench_exec_report rep;
} plan_exec;

#define ADHOC -2 /* mig_of_vm: a migration off the plan */

int64_t px_tag(int kind, size_t i);
/* Counts @host in or out of the capacity out of service. */
void px_offline(plan_exec *x, hvf_sim *sim, int32_t host, bool off);
/* Starts step @i if the fleet is ready for it; true when it started. */
bool px_try(plan_exec *x, hvf_sim *sim, size_t i);
/* Puts step @i among the waiting ones, in planned order. */
void px_wait(plan_exec *x, size_t step);
/* Tries the waiting steps. */
void px_pump(plan_exec *x, hvf_sim *sim);
/* Moves or parks what the plan will not move off evacuating hosts. */
void px_leftovers(plan_exec *x, hvf_sim *sim);
void px_schedule_tick(plan_exec *x, hvf_sim *sim);
