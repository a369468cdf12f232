/* SPDX-License-Identifier: MIT */
/*
 * The canary's cover: a smallest set of units whose variants include every variant present.
 * Exact search over the distinct variant sets (classes) of the candidates, bounded, with a
 * greedy cover as the first bound and the fallback.
 */
#include <stdlib.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "plan/change-priv.h"

/* Exact cover search gives up after this many steps and keeps the best cover found. */
#define CP_COVER_BUDGET 200000u

static int
cp_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

typedef struct cp_cover {
    const uint64_t *mask; /* per class */
    size_t nclass;
    uint32_t *cur, *best;
    size_t ncur, nbest;
    unsigned max_bits;
    uint64_t steps;
    bool exhausted;
} cp_cover;

static void
cp_cover_dfs(cp_cover *cv, uint64_t left)
{
    unsigned need;
    uint64_t bit;

    if (left == 0) {
        if (cv->ncur < cv->nbest) {
            memcpy(cv->best, cv->cur, cv->ncur * sizeof(uint32_t));
            cv->nbest = cv->ncur;
        }
        return;
    }
    if (++cv->steps > CP_COVER_BUDGET) {
        cv->exhausted = true;
        return;
    }
    /* each further unit covers at most max_bits variants */
    need = ((unsigned)__builtin_popcountll(left) + cv->max_bits - 1) / cv->max_bits;
    if (cv->ncur + need >= cv->nbest)
        return;
    bit = left & (~left + 1); /* the first variant still missing: some unit must cover it */
    for (size_t c = 0; c < cv->nclass && !cv->exhausted; c++) {
        if (!(cv->mask[c] & bit))
            continue;
        cv->cur[cv->ncur++] = (uint32_t)c;
        cp_cover_dfs(cv, left & ~cv->mask[c]);
        cv->ncur--;
    }
}

/* Greedy: the candidate that covers most of what is missing, first in order on ties. */
static void
cp_cover_greedy(const hvf_change_plan *plan, const uint32_t *cand, size_t ncand, bool *missing,
                uint32_t **out, size_t *nout)
{
    for (;;) {
        size_t best_gain = 0, best = 0;
        for (size_t i = 0; i < ncand; i++) {
            const hvf_change_unit *u = &plan->units[cand[i]];
            size_t gain = 0;
            for (size_t k = 0; k < u->nvariants; k++)
                gain += missing[u->variants[k]];
            if (gain > best_gain) {
                best_gain = gain;
                best = i;
            }
        }
        if (best_gain == 0)
            return;
        for (size_t k = 0; k < plan->units[cand[best]].nvariants; k++)
            missing[plan->units[cand[best]].variants[k]] = false;
        *out = hvf_realloc(*out, (*nout + 1) * sizeof(uint32_t));
        (*out)[(*nout)++] = cand[best];
    }
}

void
cp_min_cover(const hvf_change_plan *plan, const uint32_t *cand, size_t ncand, const bool *need,
             uint32_t **out, size_t *nout, bool *exact)
{
    HVF_AUTOFREE bool *missing = hvf_calloc(plan->nvariants + 1, sizeof(bool));
    HVF_AUTOFREE uint32_t *greedy = NULL;
    HVF_AUTOFREE uint64_t *mask = NULL;
    HVF_AUTOFREE uint32_t *rep = NULL;
    HVF_AUTOFREE uint32_t *cur = NULL;
    HVF_AUTOFREE uint32_t *best = NULL;
    size_t ngreedy = 0, nclass = 0, start = *nout;
    uint64_t all = 0;
    cp_cover cv;

    for (size_t v = 0; v < plan->nvariants; v++)
        missing[v] = need[v];
    cp_cover_greedy(plan, cand, ncand, missing, &greedy, &ngreedy);
    *exact = false;
    if (plan->nvariants <= 64) {
        /* one class per distinct set of still-needed variants, represented by its first unit;
         * the same search over classes instead of units is much smaller */
        mask = hvf_calloc(ncand + 1, sizeof(uint64_t));
        rep = hvf_calloc(ncand + 1, sizeof(uint32_t));
        for (size_t i = 0; i < ncand; i++) {
            const hvf_change_unit *u = &plan->units[cand[i]];
            uint64_t m = 0;
            size_t c;
            for (size_t k = 0; k < u->nvariants; k++) {
                if (need[u->variants[k]])
                    m |= 1ULL << u->variants[k];
            }
            all |= m;
            for (c = 0; c < nclass && mask[c] != m; c++)
                ;
            if (m != 0 && c == nclass) {
                mask[nclass] = m;
                rep[nclass++] = cand[i];
            }
        }
        cur = hvf_calloc(nclass + 1, sizeof(uint32_t));
        best = hvf_calloc(nclass + 1, sizeof(uint32_t));
        cv = (cp_cover){mask, nclass, cur, best, 0, ngreedy + 1, 1, 0, false};
        for (size_t c = 0; c < nclass; c++) {
            unsigned b = (unsigned)__builtin_popcountll(mask[c]);
            if (b > cv.max_bits)
                cv.max_bits = b;
        }
        cp_cover_dfs(&cv, all);
        if (cv.nbest <= ngreedy) {
            /* classes were made in candidate order: ascending classes = preference order */
            qsort(cv.best, cv.nbest, sizeof(uint32_t), cp_u32_cmp);
            *out = hvf_realloc(*out, (*nout + cv.nbest + 1) * sizeof(uint32_t));
            for (size_t i = 0; i < cv.nbest; i++)
                (*out)[(*nout)++] = rep[cv.best[i]];
            *exact = !cv.exhausted;
        }
    }
    if (*nout == start) {
        *out = hvf_realloc(*out, (*nout + ngreedy + 1) * sizeof(uint32_t));
        for (size_t i = 0; i < ngreedy; i++)
            (*out)[(*nout)++] = greedy[i];
    }
}
