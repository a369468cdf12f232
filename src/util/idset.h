/* SPDX-License-Identifier: MIT */
/*
 * An ordered set of integers in [0, universe) with O(log64 universe) add, remove and successor:
 * a 64-ary tree of bitmaps where a bit one level up says "this word below is not empty".
 * The placement index keeps hosts ordered by (class, free-memory bucket, index) in one of these.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define HVF_IDSET_NONE UINT64_MAX
#define HVF_IDSET_MAX_LEVELS 8

typedef struct hvf_idset {
    uint64_t *level[HVF_IDSET_MAX_LEVELS]; /* owned; level[0] holds the members */
    uint64_t nwords[HVF_IDSET_MAX_LEVELS];
    int nlevels;
    uint64_t universe;
} hvf_idset;

void hvf_idset_init(hvf_idset *s, uint64_t universe);
void hvf_idset_free(hvf_idset *s);
void hvf_idset_add(hvf_idset *s, uint64_t x);
void hvf_idset_remove(hvf_idset *s, uint64_t x);
bool hvf_idset_has(const hvf_idset *s, uint64_t x);
/* The smallest member >= @x, or HVF_IDSET_NONE. */
uint64_t hvf_idset_next(const hvf_idset *s, uint64_t x);
