/* SPDX-License-Identifier: MIT */
/* Internals of the fleet generator shared by generate.c and generate-sizes.c. */
#pragma once

#include <stdint.h>

#include "hvfleet/rng.h"

/* VM sizes in GiB, smallest first; how common each is comes from generate-sizes.c. */
#define GEN_SIZES 7
extern const uint32_t gen_size_gib[GEN_SIZES];

/* vCPUs of a VM of size index @size: 1 per 2 GiB, at least 1. */
static inline uint32_t
gen_vcpus(int size)
{
    return gen_size_gib[size] >= 2 ? gen_size_gib[size] / 2 : 1;
}

/*
 * Fills sizes[0..k) (size indexes) for one host with @usable_mib of memory and @cpu_cap vCPUs:
 * drawn from weights tilted to a target between 50 % and 75 % of the memory, then nudged into
 * that band (or as close as k VMs of 1-64 GiB allow), never past the memory or the vCPUs.
 * Requires k x 1 GiB <= usable_mib and k <= cpu_cap.
 */
void gen_host_sizes(hvf_rng *rng, uint32_t k, uint64_t usable_mib, uint32_t cpu_cap,
                    uint8_t *sizes);
