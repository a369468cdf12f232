/* SPDX-License-Identifier: MIT */
/* Hierarchical bitmap: ordered integer set with fast successor queries. */
#include "util/idset.h"
#include "hvfleet/alloc.h"

void
hvf_idset_init(hvf_idset *s, uint64_t universe)
{
    uint64_t n = universe ? universe : 1;

    memset(s, 0, sizeof(*s));
    s->universe = universe;
    /* Add levels until one word summarises everything below. */
    do {
        uint64_t words = (n + 63) / 64;
        HVF_ASSERT(s->nlevels < HVF_IDSET_MAX_LEVELS);
        s->level[s->nlevels] = hvf_calloc((size_t)words, sizeof(uint64_t));
        s->nwords[s->nlevels] = words;
        s->nlevels++;
        n = words;
    } while (n > 1);
}

void
hvf_idset_free(hvf_idset *s)
{
    for (int l = 0; l < s->nlevels; l++) {
        free(s->level[l]);
        s->level[l] = NULL;
    }
    s->nlevels = 0;
}

void
hvf_idset_add(hvf_idset *s, uint64_t x)
{
    HVF_ASSERT(x < s->universe);
    for (int l = 0; l < s->nlevels; l++) {
        uint64_t *w = &s->level[l][x >> 6];
        bool was_empty = *w == 0;
        *w |= 1ULL << (x & 63);
        if (!was_empty)
            return;
        x >>= 6;
    }
}

void
hvf_idset_remove(hvf_idset *s, uint64_t x)
{
    HVF_ASSERT(x < s->universe);
    for (int l = 0; l < s->nlevels; l++) {
        uint64_t *w = &s->level[l][x >> 6];
        *w &= ~(1ULL << (x & 63));
        if (*w != 0)
            return;
        x >>= 6;
    }
}

bool
hvf_idset_has(const hvf_idset *s, uint64_t x)
{
    return x < s->universe && (s->level[0][x >> 6] >> (x & 63) & 1);
}

/* Smallest set position >= @x at level @l, or NONE. */
static uint64_t
idset_next_at(const hvf_idset *s, int l, uint64_t x)
{
    uint64_t w, bits;

    if (x >= s->nwords[l] * 64)
        return HVF_IDSET_NONE;
    w = x >> 6;
    bits = s->level[l][w] & (~0ULL << (x & 63));
    if (bits)
        return (w << 6) | (uint64_t)__builtin_ctzll(bits);
    if (l + 1 >= s->nlevels)
        return HVF_IDSET_NONE;
    w = idset_next_at(s, l + 1, w + 1);
    if (w == HVF_IDSET_NONE)
        return HVF_IDSET_NONE;
    return (w << 6) | (uint64_t)__builtin_ctzll(s->level[l][w]);
}

uint64_t
hvf_idset_next(const hvf_idset *s, uint64_t x)
{
    uint64_t r;

    if (x >= s->universe)
        return HVF_IDSET_NONE;
    r = idset_next_at(s, 0, x);
    return r < s->universe ? r : HVF_IDSET_NONE;
}
