/* SPDX-License-Identifier: MIT */
/* The change planner's waves: the canary (covering every variant), growth, caps and timing. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "plan/change-priv.h"

static void
cp_add_wave(hvf_change_plan *plan, const uint32_t *units, size_t n, bool canary)
{
    hvf_change_wave *w;

    hvf_grow(&plan->waves, &plan->waves_cap, plan->nwaves + 1, sizeof(hvf_change_wave));
    w = &plan->waves[plan->nwaves++];
    memset(w, 0, sizeof(*w));
    w->units = hvf_malloc((n + 1) * sizeof(uint32_t));
    memcpy(w->units, units, n * sizeof(uint32_t));
    w->nunits = n;
    w->canary = canary;
}

typedef struct cp_rank {
    uint32_t unit, rank, rack_order;
} cp_rank;

static int
cp_rank_cmp(const void *a, const void *b)
{
    const cp_rank *x = a, *y = b;

    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->rack_order != y->rack_order)
        return x->rack_order < y->rack_order ? -1 : 1;
    return (x->unit > y->unit) - (x->unit < y->unit);
}

/*
 * The order waves take units in: the first unit of every rack, then the second of every rack,
 * and so on, so that each wave spreads over failure domains rather than emptying one rack.
 */
static uint32_t *
cp_spread_order(const hvf_change_plan *plan)
{
    HVF_AUTOFREE cp_rank *r = hvf_calloc(plan->nunits + 1, sizeof(cp_rank));
    HVF_AUTOFREE uint32_t *seen = hvf_calloc(plan->nracks + 1, sizeof(uint32_t));
    HVF_AUTOFREE int64_t *first = hvf_malloc((plan->nracks + 1) * sizeof(int64_t));
    uint32_t *order = hvf_malloc((plan->nunits + 1) * sizeof(uint32_t));
    uint32_t nracks_seen = 0;

    for (size_t k = 0; k <= plan->nracks; k++)
        first[k] = -1;
    for (size_t i = 0; i < plan->nunits; i++) {
        int32_t rack = plan->units[i].rack;
        if (first[rack] < 0)
            first[rack] = nracks_seen++;
        r[i] = (cp_rank){(uint32_t)i, seen[rack]++, (uint32_t)first[rack]};
    }
    qsort(r, plan->nunits, sizeof(cp_rank), cp_rank_cmp);
    for (size_t i = 0; i < plan->nunits; i++)
        order[i] = r[i].unit;
    return order;
}

static void
cp_compute_cap(hvf_change_plan *plan, const hvf_change *c)
{
    uint32_t cap = c->max_per_wave ? c->max_per_wave : UINT32_MAX;
    const char *why = c->max_per_wave ? "waves.max_per_wave" : NULL;

    if (!plan->as_written && plan->limits.max_parallel && plan->limits.max_parallel < cap) {
        cap = plan->limits.max_parallel;
        why = "the policy's max_parallel_hosts";
    }
    if (cap > plan->nunits)
        cap = (uint32_t)plan->nunits;
    plan->wave_cap = cap ? cap : 1;
    if (why && cap < plan->nunits && c->strategy == HVF_CHANGE_STRATEGY_ROLLING)
        cp_note(plan, "waves hold at most %u unit%s (%s)", plan->wave_cap,
                plan->wave_cap == 1 ? "" : "s", why);
}

/* Units that break a rule even alone in a wave: they cannot be changed safely. */
static void
cp_find_forced(hvf_change_plan *plan)
{
    cp_packer pk;

    if (plan->as_written)
        return;
    cp_packer_init(&pk, plan, 1);
    for (size_t i = 0; i < plan->nunits; i++) {
        if (cp_packer_blocks(&pk, (uint32_t)i)) {
            plan->forced = hvf_realloc(plan->forced, (plan->nforced + 1) * sizeof(uint32_t));
            plan->forced[plan->nforced++] = (uint32_t)i;
        }
    }
    cp_packer_free(&pk);
}

/* Every variant present; the ones @units hold are marked false. */
static bool *
cp_missing(const hvf_change_plan *plan, const uint32_t *units, size_t n)
{
    bool *missing = hvf_calloc(plan->nvariants + 1, sizeof(bool));

    for (size_t v = 0; v < plan->nvariants; v++)
        missing[v] = true;
    for (size_t i = 0; i < n; i++) {
        const hvf_change_unit *u = &plan->units[units[i]];
        for (size_t k = 0; k < u->nvariants; k++)
            missing[u->variants[k]] = false;
    }
    return missing;
}

/* One note per unit chosen for coverage, naming the variants it is the first to bring. */
static void
cp_note_added(hvf_change_plan *plan, const bool *missing_before, bool seeded)
{
    HVF_AUTOFREE bool *missing = hvf_calloc(plan->nvariants + 1, sizeof(bool));

    memcpy(missing, missing_before, plan->nvariants * sizeof(bool));
    for (size_t i = 0; i < plan->nadded; i++) {
        const hvf_change_unit *u = &plan->units[plan->added_for_coverage[i]];
        hvf_strbuf sb = HVF_STRBUF_INIT;
        for (size_t k = 0; k < u->nvariants; k++) {
            const hvf_change_variant *v = &plan->variants[u->variants[k]];
            if (missing[u->variants[k]])
                hvf_strbuf_printf(&sb, "%s%s=%s", sb.len ? ", " : "", v->dim, v->value);
            missing[u->variants[k]] = false;
        }
        cp_note(plan, seeded ? "canary: added %s to cover %s" : "canary: %s covers %s", u->name,
                sb.buf ? sb.buf : "a variant");
        hvf_strbuf_clear(&sb);
    }
}

/* The canary's units, in the order they roll out. */
static size_t
cp_choose_canary(hvf_change_plan *plan, const hvf_change *c, const uint32_t *order,
                 const uint32_t *seed, size_t nseed, uint32_t **canary)
{
    HVF_AUTOFREE bool *in = hvf_calloc(plan->nunits + 1, sizeof(bool));
    HVF_AUTOFREE bool *missing = NULL;
    HVF_AUTOFREE uint32_t *cand = hvf_malloc((plan->nunits + 1) * sizeof(uint32_t));
    size_t n = 0, ncand = 0, want = c->canary < plan->nunits ? c->canary : plan->nunits;

    *canary = hvf_malloc((plan->nunits + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < nseed; i++) {
        in[seed[i]] = true;
        (*canary)[n++] = seed[i];
    }
    if (!plan->as_written) {
        bool exact = true;
        size_t before = n;
        missing = cp_missing(plan, *canary, n);
        for (size_t i = 0; i < plan->nunits; i++) {
            if (!in[order[i]])
                cand[ncand++] = order[i];
        }
        cp_min_cover(plan, cand, ncand, missing, canary, &n, &exact);
        /* the cover appends by realloc: make room for the whole canary again */
        *canary = hvf_realloc(*canary, (plan->nunits + 1) * sizeof(uint32_t));
        plan->cover_exact = exact;
        for (size_t i = before; i < n; i++) {
            in[(*canary)[i]] = true;
            plan->added_for_coverage =
                hvf_realloc(plan->added_for_coverage, (plan->nadded + 1) * sizeof(uint32_t));
            plan->added_for_coverage[plan->nadded++] = (*canary)[i];
        }
        cp_note_added(plan, missing, nseed > 0);
        if (!exact)
            cp_note(plan, "canary: %zu variants; the cover is greedy, maybe not the smallest",
                    plan->nvariants);
    }
    /* the order of a canary written by hand is the file's; an hvfleet canary follows spread
     * order; either way, fill up to the asked size */
    for (size_t i = 0; i < plan->nunits && n < want; i++) {
        uint32_t u = plan->as_written ? (uint32_t)i : order[i];
        if (!in[u]) {
            in[u] = true;
            (*canary)[n++] = u;
        }
    }
    free(missing);
    missing = cp_missing(plan, *canary, n);
    for (size_t v = 0; v < plan->nvariants; v++) {
        if (!missing[v])
            continue;
        plan->uncovered = hvf_realloc(plan->uncovered, (plan->nuncovered + 1) * sizeof(uint32_t));
        plan->uncovered[plan->nuncovered++] = (uint32_t)v;
    }
    return n;
}

/* Fills waves from @units in order; the first @ncanary of them form the canary waves. */
static void
cp_fill_waves(hvf_change_plan *plan, const hvf_change *c, const uint32_t *units, size_t n,
              size_t ncanary)
{
    HVF_AUTOFREE bool *done = hvf_calloc(n + 1, sizeof(bool));
    HVF_AUTOFREE uint32_t *batch = hvf_malloc((n + 1) * sizeof(uint32_t));
    const char *split = NULL;
    size_t left = n, ncanary_waves = 0;
    uint32_t prev = 0;
    cp_packer pk;

    cp_packer_init(&pk, plan, 0);
    while (left > 0) {
        bool canary = false;
        size_t lo, hi, nb = 0;
        uint32_t want = plan->wave_cap;

        for (size_t i = 0; i < ncanary && !canary; i++)
            canary = !done[i];
        lo = canary ? 0 : ncanary;
        hi = canary ? ncanary : n;
        if (!canary && prev > 0) {
            double grown = ceil((double)prev * c->factor);
            want = grown < (double)plan->wave_cap ? (uint32_t)grown : plan->wave_cap;
        }
        cp_packer_reset(&pk);
        pk.cap = want;
        for (size_t i = lo; i < hi && pk.n < want; i++) {
            const char *why;
            if (done[i])
                continue;
            why = cp_packer_blocks(&pk, units[i]);
            if (why) {
                if (canary && !split)
                    split = why;
                continue;
            }
            cp_packer_add(&pk, units[i]);
            batch[nb++] = units[i];
            done[i] = true;
        }
        if (nb == 0) {
            /* a forced unit (it breaks a rule even alone): by itself, reported by the seatbelt */
            for (size_t i = lo; i < hi; i++) {
                if (!done[i]) {
                    batch[nb++] = units[i];
                    done[i] = true;
                    break;
                }
            }
        }
        left -= nb;
        cp_add_wave(plan, batch, nb, canary && ncanary > 0);
        ncanary_waves += canary && ncanary > 0;
        prev = (uint32_t)nb;
    }
    cp_packer_free(&pk);
    if (ncanary_waves > 1)
        cp_note(plan, "the canary takes %zu waves: %s does not allow its %zu units at once",
                ncanary_waves, split ? split : "the wave cap", ncanary);
}

static void
cp_timing(hvf_change_plan *plan, const hvf_change *c)
{
    int64_t t = 0;

    for (size_t i = 0; i < plan->nwaves; i++) {
        hvf_change_wave *w = &plan->waves[i];
        w->start_us = t;
        w->applied_us = t + c->apply_us;
        w->baked_us = w->applied_us + c->bake_us;
        t = w->baked_us;
    }
    plan->duration_us = t;
}

void
cp_build_waves(hvf_change_plan *plan, const hvf_change *c, const uint32_t *seed, size_t nseed)
{
    HVF_AUTOFREE uint32_t *order = NULL;
    HVF_AUTOFREE uint32_t *canary = NULL;
    HVF_AUTOFREE uint32_t *all = NULL;
    HVF_AUTOFREE bool *in = NULL;
    size_t ncanary, n = 0;

    cp_compute_cap(plan, c);
    cp_find_forced(plan);
    if (c->strategy == HVF_CHANGE_STRATEGY_ALL_AT_ONCE) {
        all = hvf_malloc((plan->nunits + 1) * sizeof(uint32_t));
        for (size_t i = 0; i < plan->nunits; i++)
            all[i] = (uint32_t)i;
        cp_add_wave(plan, all, plan->nunits, false);
        for (size_t v = 0; v < plan->nvariants; v++) {
            plan->uncovered = hvf_realloc(plan->uncovered, (v + 1) * sizeof(uint32_t));
            plan->uncovered[plan->nuncovered++] = (uint32_t)v;
        }
        cp_timing(plan, c);
        return;
    }
    order = cp_spread_order(plan);
    ncanary = cp_choose_canary(plan, c, order, seed, nseed, &canary);
    in = hvf_calloc(plan->nunits + 1, sizeof(bool));
    all = hvf_malloc((plan->nunits + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < ncanary; i++) {
        in[canary[i]] = true;
        all[n++] = canary[i];
    }
    for (size_t i = 0; i < plan->nunits; i++) {
        uint32_t u = plan->as_written ? (uint32_t)i : order[i];
        if (!in[u])
            all[n++] = u;
    }
    cp_fill_waves(plan, c, all, n, ncanary);
    cp_timing(plan, c);
}

hvf_change_plan *
hvf_change_plan_build(const hvf_fleet *fleet, const hvf_change *c, const hvf_change_plan_opts *opts,
                      hvf_error *err)
{
    hvf_change_plan *plan = NULL;
    HVF_AUTOFREE hvf_change_target *targets = NULL;
    HVF_AUTOFREE uint32_t *seed = NULL;
    size_t ntargets = 0;

    if (hvf_change_resolve(fleet, c, &targets, &ntargets, &seed, err) < 0)
        return NULL;
    plan = HVF_NEW(hvf_change_plan);
    plan->change = hvf_strdup(c->name ? c->name : "change");
    plan->kind = c->kind;
    plan->strategy = c->strategy;
    plan->as_written = opts && opts->as_written;
    if (opts && !opts->as_written)
        plan->limits = opts->limits;
    plan->rollback = c->rollback;
    plan->apply_us = c->apply_us;
    plan->bake_us = c->bake_us;
    plan->gate_interval_us = c->gate_interval_us;
    plan->redundancy_per = c->redundancy_per;
    plan->redundancy_max = c->redundancy_max;
    plan->verdict = HVF_PLAN_VERDICT_AUTO;
    plan->gates = hvf_calloc(c->ngates + 1, sizeof(hvf_change_gate));
    for (size_t i = 0; i < c->ngates; i++) {
        plan->gates[i] = c->gates[i];
        plan->gates[i].service = c->gates[i].service ? hvf_strdup(c->gates[i].service) : NULL;
        plan->ngates++;
    }
    cp_build_units(plan, fleet, c, targets, ntargets);
    cp_build_waves(plan, c, seed, c->ncanary_units);
    for (size_t i = 0; i < plan->ngates; i++) {
        if (hvf_change_gate_is_weak(&plan->gates[i]))
            cp_note(plan,
                    "gate %zu (process_up) checks liveness only: it passes while the service "
                    "answers nothing (seed 003: brokers up, serving no lookups)",
                    i + 1);
    }
    if (plan->as_written && plan->nuncovered > 0 && c->strategy == HVF_CHANGE_STRATEGY_ROLLING) {
        hvf_strbuf sb = HVF_STRBUF_INIT;
        for (size_t i = 0; i < plan->nuncovered && i < 8; i++) {
            const hvf_change_variant *v = &plan->variants[plan->uncovered[i]];
            hvf_strbuf_printf(&sb, "%s%s=%s", i ? ", " : "", v->dim, v->value);
        }
        cp_note(plan, "as written, the canary misses %zu variant%s: %s", plan->nuncovered,
                plan->nuncovered == 1 ? "" : "s", sb.buf);
        hvf_strbuf_clear(&sb);
    }
    return plan;
}
