/* SPDX-License-Identifier: MIT */
/*
 * Approvals: a person's "yes" to one exact plan, stored as DIR/approvals/PLAN_HASH.json in the
 * state directory. The plan hash covers every field of the plan and the inventory's fingerprint,
 * so changing anything in the plan, or planning again on a changed fleet, voids the approval.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/change-plan-file.h"
#include "hvfleet/error.h"
#include "hvfleet/plan.h"

#define HVF_APPROVAL_SCHEMA "hvfleet.approval/v1"

typedef struct hvf_approval {
    char plan_hash[HVF_SHA256_HEX_LEN + 1];
    char by[64];
    int64_t at_unix;
    hvf_plan_verdict verdict; /* the plan's verdict when approved */
} hvf_approval;

/*
 * hvf_approval_record: approves @plan. Refuses (HVF_ERR_CONFLICT) a plan whose hash does not
 * match its content (edited after it was made) and (HVF_ERR_REFUSED) a plan the seatbelt
 * refused. Written atomically. Returns 0 or -1 with @err set.
 */
int hvf_approval_record(const char *state_dir, const hvf_plan *plan, const char *by, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_approval_find: looks for an approval of exactly @plan (its hash, and a content that still
 * matches it). Returns 1 with @out filled when approved, 0 when not, -1 with @err set when an
 * approval file exists but cannot be read (not approved).
 */
int hvf_approval_find(const char *state_dir, const hvf_plan *plan, hvf_approval *out,
                      hvf_error *err);

/*
 * The same for a change plan read from its file (hvfleet/change-plan-file.h): bound to its
 * plan_hash, in the same directory. A file whose stored hash does not match its content is
 * refused (HVF_ERR_CONFLICT) and never counts as approved.
 */
int hvf_approval_record_change(const char *state_dir, const hvf_change_plan_file *plan,
                               const char *by, hvf_error *err) __attribute__((warn_unused_result));
int hvf_approval_find_change(const char *state_dir, const hvf_change_plan_file *plan,
                             hvf_approval *out, hvf_error *err);

/* True when @plan may run now as far as the seatbelt goes: auto, or needs-approval and approved. */
bool hvf_approval_plan_may_run(const char *state_dir, const hvf_plan *plan);
