/* SPDX-License-Identifier: MIT */
/*
 * Change plans read back from their JSON file (schema hvfleet.change-plan/v1, written by
 * `hvfleet plan change -o`), so that a person can approve one by its hash and `plan check` can
 * re-verify it against the inventory before it runs. A plan file is untrusted input: it is read
 * strictly, and its plan_hash is recomputed from its content, so an edited plan is caught.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/change.h"
#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/fleet.h"

typedef struct hvf_change_plan_file_wave {
    char **units; /* owned: unit names */
    size_t nunits;
    char **variants; /* owned: "dim=value" as planned (the union over the wave's units) */
    size_t nvariants;
    bool canary;
} hvf_change_plan_file_wave;

typedef struct hvf_change_plan_file {
    char *change; /* owned: the change's name */
    hvf_change_kind kind;
    bool vm_units; /* targets.type: units are VMs (else hosts) */
    size_t nunits; /* targets.units: every unit is in exactly one wave */
    hvf_change_variant *variants; /* owned: dim, value and how many units had it */
    size_t nvariants;
    hvf_change_plan_file_wave *waves; /* owned */
    size_t nwaves;
    /* how it runs (for the executor): times per unit and wave, the gates checked while a
     * wave bakes, rollback */
    int64_t apply_us, bake_us, gate_interval_us;
    hvf_change_gate *gates; /* owned (service names are not kept) */
    size_t ngates;
    bool rollback;
    uint32_t rollback_batch; /* units rolled back at once; 1 when not given */
    uint32_t max_parallel;   /* units changed at once; 0 = a wave's units together */
    hvf_plan_verdict verdict;
    char **reasons; /* owned: the seatbelt's */
    size_t nreasons;
    char plan_hash[HVF_SHA256_HEX_LEN + 1];    /* as stored in the file */
    char content_hash[HVF_SHA256_HEX_LEN + 1]; /* recomputed from the file's content */
} hvf_change_plan_file;

/* True when the first 4 KiB of @buf name the schema hvfleet.change-plan/v1 (a cheap sniff). */
bool hvf_change_plan_file_sniff(const char *buf, size_t len);

/*
 * hvf_change_plan_file_parse / _load: reads a change plan strictly. Every problem goes to
 * @diags as "FILE:LINE: FIELD: VALUE: what was expected". The stored plan_hash is kept and the
 * hash recomputed (SHA-256 of the plan written as `plan change --json` writes it, plan_hash
 * left out); a mismatch is not a read error (see hvf_change_plan_file_hash_ok). Returns an
 * owned plan, or NULL with @err set (HVF_ERR_INVALID, HVF_ERR_IO). Never crashes on any input.
 */
hvf_change_plan_file *hvf_change_plan_file_parse(const char *name, const char *buf, size_t len,
                                                 hvf_diags *diags, hvf_error *err);
hvf_change_plan_file *hvf_change_plan_file_load(const char *path, hvf_diags *diags,
                                                hvf_error *err);
void hvf_change_plan_file_free(hvf_change_plan_file *p);

/* True when the stored plan_hash matches the content (the file was not edited). */
bool hvf_change_plan_file_hash_ok(const hvf_change_plan_file *p);

/*
 * hvf_change_plan_file_check: re-verifies @p against the inventory @f: the hash still matches,
 * every unit still exists (a host, or a VM), and the variants are still as planned (each
 * variant on as many units, each wave covering the same variants, no unit with a variant the
 * plan never saw: a host whose kernel changed makes the plan stale). Adds one line per problem
 * to @out and returns how many it added (0 = the plan still fits the fleet).
 */
size_t hvf_change_plan_file_check(const hvf_change_plan_file *p, const hvf_fleet *f,
                                  hvf_diags *out);
