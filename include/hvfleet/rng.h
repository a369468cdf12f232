/* SPDX-License-Identifier: MIT */
/*
 * A small seeded pseudo-random generator (xoshiro256**, seeded through splitmix64) so that every
 * generated fleet, simulation and test is reproducible from one 64-bit seed on any platform.
 *
 * Not for secrets. Same seed, same sequence: the algorithm and the seeding are fixed and tested
 * against reference vectors, so changing them changes every seeded output in the project.
 */
#pragma once

#include <stdint.h>

typedef struct hvf_rng {
    uint64_t s[4];
} hvf_rng;

/* Expands @seed with splitmix64 into the 256-bit state (never all zero). Any seed is valid. */
void hvf_rng_seed(hvf_rng *rng, uint64_t seed);

/* The next 64 random bits. */
uint64_t hvf_rng_next_u64(hvf_rng *rng);

/* A double in [0, 1) with 53 random bits. */
double hvf_rng_uniform(hvf_rng *rng);

/* An integer in [@lo, @hi], both included, without modulo bias. Requires @lo <= @hi. */
uint64_t hvf_rng_range(hvf_rng *rng, uint64_t lo, uint64_t hi);

/* One step of splitmix64 on *@state: also a good 64-bit mixer for deriving sub-seeds. */
uint64_t hvf_rng_splitmix64(uint64_t *state);
