/* SPDX-License-Identifier: MIT */
/* xoshiro256** by Blackman and Vigna (public domain reference, prng.di.unimi.it), seeded by
 * splitmix64. */
#include "hvfleet/rng.h"
#include "hvfleet/alloc.h"

uint64_t
hvf_rng_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void
hvf_rng_seed(hvf_rng *rng, uint64_t seed)
{
    uint64_t sm = seed;

    /* splitmix64 is a bijection over its counter, so four outputs are never all zero. */
    for (int i = 0; i < 4; i++)
        rng->s[i] = hvf_rng_splitmix64(&sm);
}

static inline uint64_t
rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
hvf_rng_next_u64(hvf_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

double
hvf_rng_uniform(hvf_rng *rng)
{
    /* The top 53 bits are the best ones of xoshiro256** and fill a double's mantissa exactly. */
    return (double)(hvf_rng_next_u64(rng) >> 11) * 0x1.0p-53;
}

uint64_t
hvf_rng_range(hvf_rng *rng, uint64_t lo, uint64_t hi)
{
    uint64_t span, limit, x;

    HVF_ASSERT(lo <= hi);
    span = hi - lo + 1; /* 0 means the full 2^64 range */
    if (span == 0)
        return hvf_rng_next_u64(rng);
    /* Reject the top partial bucket so every value is equally likely. */
    limit = UINT64_MAX - (UINT64_MAX % span + 1) % span;
    do {
        x = hvf_rng_next_u64(rng);
    } while (x > limit);
    return lo + x % span;
}
