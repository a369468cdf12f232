/* SPDX-License-Identifier: MIT */
/*
 * Scenario files (YAML or JSON, schema hvfleet.scenario/v1): an inventory (a path relative to
 * the scenario, or inline), duration, seed, simulator parameters, faults and a maintenance
 * schedule. docs/scenarios.md describes the format. Running one in the twin is
 * hvfleet/scenario-run.h, a layer above.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/fallout-types.h"
#include "hvfleet/fleet.h"
#include "hvfleet/monitor.h"
#include "hvfleet/policy.h"
#include "hvfleet/sim-change-types.h"
#include "hvfleet/sim-types.h"

#define HVF_SCENARIO_SCHEMA "hvfleet.scenario/v1"

/* Who runs a scenario's maintenance (`maintenance.scheduler`). */
typedef enum hvf_scenario_scheduler {
    HVF_SCENARIO_SCHED_NAIVE,   /* the twin's scheduler of seed 000 (src/platform/naive.c) */
    HVF_SCENARIO_SCHED_HVFLEET, /* the maintenance planner's controller (src/plan/), under
                                   a policy */
    HVF_SCENARIO_SCHED_LAST
} hvf_scenario_scheduler;

/* The names scenario files use ("naive", "hvfleet"); NULL-terminated. */
extern const char *const hvf_scenario_scheduler_names[];

typedef struct hvf_scenario {
    char *name;       /* owned */
    hvf_fleet *fleet; /* owned */
    hvf_sim_params params;
    hvf_sim_host_override *overrides; /* owned */
    size_t noverrides;
    hvf_sim_fault *faults; /* owned */
    size_t nfaults;
    bool has_maintenance;
    hvf_scenario_scheduler scheduler;
    /* The hosts to maintain (hosts, nhosts, in order) and the start (start_us) for every
     * scheduler; the other fields for naive only. Owned arrays. */
    hvf_sim_naive_opts naive;
    /* Scheduler hvfleet: its policy (defaults for fields left out, or without `policy`). */
    hvf_policy policy;
    /* Scheduler hvfleet (`maintenance.approval_delay`): how long after the plan is made a person
     * approves a plan the seatbelt says needs one; -1 (not given): nobody does, and such a plan
     * does not run. */
    int64_t approval_delay_us;
    hvf_sim_monitor_opts *monitoring; /* owned, may be NULL: monitors and the operator */
    hvf_sim_svc_spec *svcs;           /* owned: services' work (scenario-change.c) */
    size_t nsvcs;
    hvf_sim_change_run *changes;      /* owned: rolling changes (scenario-change.c) */
    size_t nchanges;
    hvf_fallout_opts *fallout;         /* owned, may be NULL: telemetry, remediation, hv_agent */
} hvf_scenario;

/*
 * hvf_scenario_load / _parse: reads and validates a scenario. Problems go to @diags as
 * "FILE:LINE: field: value: what was expected" (unknown fields, bad units, unknown hosts, VMs
 * or racks, faults outside the duration). @base_dir resolves a relative inventory path (NULL =
 * the current directory). Returns an owned scenario, or NULL with @err set (HVF_ERR_INVALID, or
 * HVF_ERR_IO for unreadable files).
 */
hvf_scenario *hvf_scenario_load(const char *path, hvf_diags *diags, hvf_error *err);
hvf_scenario *hvf_scenario_parse(const char *name, const char *buf, size_t len,
                                 const char *base_dir, hvf_diags *diags, hvf_error *err);
void hvf_scenario_free(hvf_scenario *sc);

/*
 * hvf_scenario_select: resolves a host selector expression (docs/planning.md, "Selecting
 * hosts"): comma-separated items, united in order of first appearance; an item is terms joined
 * by "+" (all of them); a leading "!" excludes the item's hosts, after every inclusion (an
 * expression of exclusions only starts from all). Terms: all, a host name, rack:ZONE/RACK,
 * rack:RACK (a rack name of one zone only), zone:Z, tag:T. With HVF_SELECT_ACTIVE_GROUPS,
 * items that are groups (anything but a single host name) keep only active hosts.
 * Appends the fleet indexes, each once, to *@out (grown; owned by the caller).
 * Returns 0, or -1 with @err set to one sentence quoting the term: HVF_ERR_INVALID for bad
 * syntax (an empty item or term, an unknown kind) or an ambiguous rack:RACK (naming the
 * rack:ZONE/RACK candidates), HVF_ERR_NOT_FOUND for an unknown zone, rack, tag or host (naming
 * some that exist), an included item that selects no host, or an empty result.
 */
#define HVF_SELECT_ACTIVE_GROUPS 1u
int hvf_scenario_select(const hvf_fleet *fleet, const char *expr, unsigned flags, int32_t **out,
                        size_t *n, hvf_error *err) __attribute__((warn_unused_result));

/* hvf_scenario_select_hosts: hvf_scenario_select with no flags. */
int hvf_scenario_select_hosts(const hvf_fleet *fleet, const char *sel, int32_t **out, size_t *n,
                              hvf_error *err) __attribute__((warn_unused_result));

/* hvf_scenario_find_rack: the rack @spec names, "ZONE/RACK" or "RACK" (when one zone only has
 * a rack of that name). Returns its index, or -1 with @err set as for rack: in a selector. */
int32_t hvf_scenario_find_rack(const hvf_fleet *fleet, const char *spec, hvf_error *err);

/* hvf_scenario_selector_msg: @msg (a selector error) without its leading "'@value': ", for a
 * caller whose own message already quotes @value. Borrowed from @msg. */
const char *hvf_scenario_selector_msg(const char *value, const char *msg);

/* hvf_scenario_selector_check: the syntax of a selector expression alone, without a fleet.
 * Returns 0, or -1 with @err set (HVF_ERR_INVALID) as hvf_scenario_select would. */
int hvf_scenario_selector_check(const char *expr, hvf_error *err)
    __attribute__((warn_unused_result));
