/* SPDX-License-Identifier: MIT */
/*
 * The rolling-change planner (src/plan/change*.c): a change (hvfleet/change.h) on a fleet ->
 * units, a canary covering every variant, growing waves under the limits, rollback batches,
 * the seatbelt's verdict, and the plan for people or as JSON (schema hvfleet.change-plan/v1,
 * docs/changes.md). The plan's data is in hvfleet/change.h, a layer below, so that the twin
 * can run plans made here (hvf_change_register_planner).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/change.h"
#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/policy.h"
#include "hvfleet/strbuf.h"

#define HVF_CHANGE_PLAN_SCHEMA "hvfleet.change-plan/v1"

/*
 * hvf_change_plan_build: plans @change on @fleet. Targets resolve to units; the canary grows to
 * a minimum set of units covering every variant present (deterministic: the first such set in
 * target order), then is packed into as few canary waves as the limits allow; later waves grow
 * by the change's factor up to the cap (max_per_wave, the limits), each keeping every rack and
 * zone within its limit, every redundancy domain within redundancy_max and every service at or
 * above min_available. Units that can never be changed without breaking min_available go alone
 * in a wave and are reported in reasons (the seatbelt refuses the plan).
 * Returns an owned plan (verdict not yet evaluated), or NULL with HVF_ERR_NOT_FOUND (unknown
 * host, selector, service or canary unit) or HVF_ERR_INVALID (no targets).
 */
hvf_change_plan *hvf_change_plan_build(const hvf_fleet *fleet, const hvf_change *change,
                                       const hvf_change_plan_opts *opts, hvf_error *err);
void hvf_change_plan_free(hvf_change_plan *plan);

/*
 * hvf_change_plan_pack: splits @units (indexes into plan->units, in order) into batches that
 * each keep the plan's limits, redundancy and min_available (none of them for a plan made
 * as_written), at most @cap units each (0 = the plan's wave_cap), taking units in order and
 * filling each batch before the next. A unit that fits no batch on its own gets one alone.
 * Used for rollbacks. Writes each unit's batch number into @batch_of (same length as @units)
 * and returns the number of batches.
 */
size_t hvf_change_plan_pack(const hvf_change_plan *plan, const uint32_t *units, size_t n,
                            uint32_t cap, uint32_t *batch_of);

/*
 * hvf_change_plan_evaluate: the seatbelt's verdict on @plan (and the freeze switch: a frozen
 * fleet refuses every plan). Adds the change's own findings (units that break min_available
 * even alone, an all-at-once wave beyond the limits or without a canary, no functional gate, no
 * rollback, more units than seatbelt.max_hosts_without_approval), then runs the maintenance
 * seatbelt (hvf_seatbelt_evaluate) on the plan seen as maintenance: hosts out of service while
 * a kernel change reboots them, VM units stopped while a package or kernel change restarts
 * them. Copies its verdict and reasons and seals plan_hash. Returns the verdict.
 */
hvf_plan_verdict hvf_change_plan_evaluate(hvf_change_plan *plan, const hvf_policy *policy,
                                          const hvf_fleet *fleet, bool frozen);

/* The variants of wave @w as "kernel=4.4, kernel=4.15, hw=g2" (owned). */
char *hvf_change_wave_variants(const hvf_change_plan *plan, const hvf_change_wave *w);

/* Appends the plan for people (text) or as indented JSON (schema hvfleet.change-plan/v1). */
void hvf_change_plan_format_text(const hvf_change_plan *plan, hvf_strbuf *out);
void hvf_change_plan_format_json(const hvf_change_plan *plan, hvf_strbuf *out);

/*
 * hvf_change_register_planner: makes this planner the one the twin plans scenarios' rolling
 * changes with (hvf_sim_change_set_planner, hvfleet/sim-change.h). Call it at start-up, before
 * any simulation, as hvf_maintenance_register_scheduler; calling it again changes nothing.
 */
void hvf_change_register_planner(void);
