/* SPDX-License-Identifier: MIT */
/*
 * The seatbelt: decides whether a plan may run on its own (auto), needs a human to approve
 * that exact plan (needs-approval), or must not run (refused), with one reason per line.
 *
 * needs-approval: more hosts than seatbelt.max_hosts_without_approval; more than
 *   seatbelt.max_capacity_offline of the fleet's usable memory offline at once; longer than
 *   seatbelt.max_plan_duration; VMs that do not converge with plain pre-copy and are
 *   auto-converged, post-copied or shut down.
 * refused: a host over its usable memory at any time (the 2017 storm); a plan outside the
 *   policy's window; VMs that cannot converge under non_converging: refuse; a service whose
 *   running replicas would drop below min_available while VMs are stopped.
 */
#pragma once

#include "hvfleet/fleet.h"
#include "hvfleet/plan.h"
#include "hvfleet/policy.h"

/*
 * hvf_seatbelt_evaluate: raises plan->summary.verdict (never lowers it) and appends a reason per
 * finding, so a planner may record its own refusals first. Also sets
 * summary.peak_capacity_offline_ppm from the hosts' intervals and @fleet's usable memory.
 * @fleet is the inventory the plan was made for (services, replicas, capacity).
 * Returns the resulting verdict.
 */
hvf_plan_verdict hvf_seatbelt_evaluate(hvf_plan *plan, const hvf_policy *policy,
                                       const hvf_fleet *fleet);

/* Highest share of @fleet's usable memory (active hosts) offline at once in @plan, x 1e6. */
uint32_t hvf_seatbelt_capacity_offline_ppm(const hvf_plan *plan, const hvf_fleet *fleet);
