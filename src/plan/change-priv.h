/* SPDX-License-Identifier: MIT */
/* Internals of the change planner shared by its files and reached by the unit tests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/change-plan.h"

/* A batch being filled: what it holds per rack, zone, redundancy domain and service. */
typedef struct cp_packer {
    const hvf_change_plan *plan; /* borrowed */
    uint32_t cap;
    uint32_t n;
    uint32_t *rack_n, *zone_n, *dom_n, *svc_n; /* owned */
} cp_packer;

void cp_packer_init(cp_packer *pk, const hvf_change_plan *plan, uint32_t cap);
void cp_packer_reset(cp_packer *pk);
void cp_packer_free(cp_packer *pk);
/* The rule @unit would break in the batch ("wave cap", "max_parallel_per_rack", ...), or NULL. */
const char *cp_packer_blocks(const cp_packer *pk, uint32_t unit);
void cp_packer_add(cp_packer *pk, uint32_t unit);

void cp_note(hvf_change_plan *plan, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* change.c: calls @add for each of host @h's values along variant dimension @dim. */
typedef void (*cp_variant_fn)(void *ctx, const char *dim, const char *value);
void cp_host_variants(const hvf_fleet *f, const hvf_host *h, const char *dim, cp_variant_fn add,
                      void *ctx);

/* change.c: units, their variants and services, from the targets (hvf_change_resolve). */
void cp_build_units(hvf_change_plan *plan, const hvf_fleet *fleet, const hvf_change *change,
                    const hvf_change_target *targets, size_t ntargets);

/*
 * cp_min_cover: a smallest set of @ncand candidate units (indexes into plan->units, in
 * preference order) whose variants include every variant of @need (plan->nvariants flags).
 * Exact while the variants fit in 64 bits and the search stays within its budget; greedy
 * otherwise (*@exact false). Appends the chosen units to *@out / *@nout in preference order.
 */
void cp_min_cover(const hvf_change_plan *plan, const uint32_t *cand, size_t ncand, const bool *need,
                  uint32_t **out, size_t *nout, bool *exact);

/* change-waves.c: the canary and the waves. */
void cp_build_waves(hvf_change_plan *plan, const hvf_change *change, const uint32_t *seed,
                    size_t nseed);
