/* SPDX-License-Identifier: MIT */
/*
 * Approvals: a person's "yes" to one exact plan, kept in the store (hvfleet/store.h) of the
 * state directory: every approval (who, when), never replaced by a later one. The plan hash covers every field of the plan and the inventory's fingerprint,
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
    uint32_t count;           /* approvals of this hash; by/at_unix are the latest's */
} hvf_approval;

/*
 * hvf_approval_note_plan: records that @author made the plan with @hash (@kind: "maintenance",
 * "change", ...), so that the two-person rule can refuse the author's own approval of a plan
 * that needs one. Returns 0 or -1 with @err set.
 */
int hvf_approval_note_plan(const char *state_dir, const char *hash, const char *kind,
                           const char *author, hvf_error *err) __attribute__((warn_unused_result));

typedef struct hvf_store hvf_store;
/* Imports the approval files older hvfleet wrote in @state_dir (hvf_state_open calls it). */
int hvf_approval_import_legacy(hvf_store *st, const char *state_dir, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_approval_record: adds @by's approval of @plan. Refuses (HVF_ERR_CONFLICT) a plan whose
 * hash does not match its content (edited after it was made) or that @by already approved,
 * and (HVF_ERR_REFUSED) a plan the seatbelt refused or, when it needs approval, one its own
 * author approves (two-person rule). Returns 0 or -1 with @err set.
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
