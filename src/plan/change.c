/* SPDX-License-Identifier: MIT */
/*
 * The change planner, part one: targets -> units, their variants and the replicas they hold,
 * and the packer that keeps a wave (or a rollback batch) within the limits, redundancy and each
 * service's min_available. The canary's cover is change-cover.c; waves are change-waves.c.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/sim-change.h"
#include "plan/change-priv.h"

#define CP_NONE "(none)"

static int
cp_u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

void
cp_note(hvf_change_plan *plan, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    hvf_grow(&plan->notes, &plan->notes_cap, plan->nnotes + 1, sizeof(char *));
    plan->notes[plan->nnotes++] = hvf_strdup(buf);
}

void
hvf_change_plan_free(hvf_change_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->nunits; i++) {
        free(plan->units[i].name);
        free(plan->units[i].variants);
        free(plan->units[i].svc);
        free(plan->units[i].count);
    }
    for (size_t i = 0; i < plan->nvariants; i++) {
        free(plan->variants[i].dim);
        free(plan->variants[i].value);
    }
    for (size_t i = 0; i < plan->nwaves; i++)
        free(plan->waves[i].units);
    for (size_t i = 0; i < plan->ngates; i++)
        free(plan->gates[i].service);
    for (size_t i = 0; i < plan->nnotes; i++)
        free(plan->notes[i]);
    for (size_t i = 0; i < plan->nreasons; i++)
        free(plan->reasons[i]);
    free(plan->units);
    free(plan->variants);
    free(plan->waves);
    free(plan->gates);
    free(plan->notes);
    free(plan->reasons);
    free(plan->added_for_coverage);
    free(plan->uncovered);
    free(plan->forced);
    free(plan->svc_budget);
    free(plan->change);
    free(plan);
}

/* ---- units and variants ----------------------------------------------------------------- */

static void
cp_add_unit(hvf_change_plan *plan, const hvf_fleet *f, int32_t host, int32_t vm)
{
    hvf_change_unit *u;

    plan->units = hvf_realloc(plan->units, (plan->nunits + 1) * sizeof(hvf_change_unit));
    u = &plan->units[plan->nunits++];
    memset(u, 0, sizeof(*u));
    u->name = hvf_strdup(vm >= 0 ? f->vms[vm].name : f->hosts[host].name);
    u->host = host;
    u->vm = vm;
    u->rack = f->hosts[host].rack;
    u->zone = f->hosts[host].zone;
}

static uint32_t
cp_intern_variant(hvf_change_plan *plan, const char *dim, const char *value)
{
    hvf_change_variant *v;

    for (size_t i = 0; i < plan->nvariants; i++) {
        if (strcmp(plan->variants[i].dim, dim) == 0 && strcmp(plan->variants[i].value, value) == 0)
            return (uint32_t)i;
    }
    plan->variants =
        hvf_realloc(plan->variants, (plan->nvariants + 1) * sizeof(hvf_change_variant));
    v = &plan->variants[plan->nvariants];
    v->dim = hvf_strdup(dim);
    v->value = hvf_strdup(value);
    v->units = 0;
    return (uint32_t)plan->nvariants++;
}

static void
cp_unit_add_variant(hvf_change_plan *plan, hvf_change_unit *u, const char *dim, const char *value)
{
    uint32_t id = cp_intern_variant(plan, dim, value);
    size_t pos = 0;

    while (pos < u->nvariants && u->variants[pos] < id)
        pos++;
    if (pos < u->nvariants && u->variants[pos] == id)
        return;
    u->variants = hvf_realloc(u->variants, (u->nvariants + 1) * sizeof(uint32_t));
    memmove(&u->variants[pos + 1], &u->variants[pos], (u->nvariants - pos) * sizeof(uint32_t));
    u->variants[pos] = id;
    u->nvariants++;
    plan->variants[id].units++;
}

/*
 * A host's values along @dim: kernel and hw from the inventory, role = its plain tags, zone and
 * rack, and any other name KEY = the VALUE of its tags KEY=VALUE. A host without any gets
 * "(none)", which is a variant too: the hosts nobody labelled are the ones a lab forgets.
 * Shared with plan check (change-check.c), which must see variants exactly as planned.
 */
void
cp_host_variants(const hvf_fleet *f, const hvf_host *h, const char *dim, cp_variant_fn add,
                 void *ctx)
{
    size_t klen = strlen(dim);
    bool any = false;

    if (strcmp(dim, "kernel") == 0) {
        add(ctx, dim, h->kernel ? h->kernel : CP_NONE);
        return;
    }
    if (strcmp(dim, "hw") == 0) {
        add(ctx, dim, h->hw ? h->hw : CP_NONE);
        return;
    }
    if (strcmp(dim, "zone") == 0 || strcmp(dim, "rack") == 0) {
        add(ctx, dim, dim[0] == 'z' ? f->zones[h->zone].name : f->racks[h->rack].name);
        return;
    }
    for (size_t t = 0; t < h->ntags; t++) {
        const char *tag = h->tags[t];
        const char *eq = strchr(tag, '=');
        if (strcmp(dim, "role") == 0 && !eq) {
            add(ctx, dim, tag);
            any = true;
        } else if (eq && (size_t)(eq - tag) == klen && strncmp(tag, dim, klen) == 0) {
            add(ctx, dim, eq + 1);
            any = true;
        }
    }
    if (!any)
        add(ctx, dim, CP_NONE);
}

typedef struct cp_unit_ctx {
    hvf_change_plan *plan;
    hvf_change_unit *u;
} cp_unit_ctx;

static void
cp_unit_add_cb(void *ctx, const char *dim, const char *value)
{
    cp_unit_ctx *c = ctx;
    cp_unit_add_variant(c->plan, c->u, dim, value);
}

static void
cp_unit_variants(hvf_change_plan *plan, const hvf_fleet *f, hvf_change_unit *u, const char *dim)
{
    cp_unit_ctx c = {plan, u};

    cp_host_variants(f, &f->hosts[u->host], dim, cp_unit_add_cb, &c);
}

/* Replicas per service on each unit, and each service's budget (replicas - min_available). */
static void
cp_unit_services(hvf_change_plan *plan, const hvf_fleet *f)
{
    HVF_AUTOFREE uint32_t *replicas = hvf_calloc(f->nservices + 1, sizeof(uint32_t));
    HVF_AUTOFREE int32_t *unit_of_host = hvf_malloc((f->nhosts + 1) * sizeof(int32_t));
    HVF_AUTOFREE bool *targeted = hvf_calloc(f->nservices + 1, sizeof(bool));

    for (size_t h = 0; h < f->nhosts; h++)
        unit_of_host[h] = -1;
    for (size_t i = 0; i < plan->nunits; i++) {
        if (plan->units[i].vm < 0)
            unit_of_host[plan->units[i].host] = (int32_t)i;
    }
    for (size_t v = 0; v < f->nvms; v++) {
        int32_t s = f->vms[v].service;
        if (s >= 0)
            replicas[s]++;
    }
    for (size_t i = 0; i < plan->nunits; i++) {
        hvf_change_unit *u = &plan->units[i];
        int32_t s = u->vm >= 0 ? f->vms[u->vm].service : -1;
        if (s >= 0) {
            u->svc = hvf_malloc(sizeof(int32_t));
            u->count = hvf_malloc(sizeof(uint32_t));
            u->svc[0] = s;
            u->count[0] = 1;
            u->nsvc = 1;
            targeted[s] = true;
        }
    }
    for (size_t v = 0; v < f->nvms; v++) {
        int32_t s = f->vms[v].service;
        int32_t ui = unit_of_host[f->vms[v].host];
        hvf_change_unit *u;
        size_t k;
        if (s < 0 || ui < 0)
            continue;
        u = &plan->units[ui];
        for (k = 0; k < u->nsvc && u->svc[k] != s; k++)
            ;
        if (k == u->nsvc) {
            u->svc = hvf_realloc(u->svc, (u->nsvc + 1) * sizeof(int32_t));
            u->count = hvf_realloc(u->count, (u->nsvc + 1) * sizeof(uint32_t));
            u->svc[k] = s;
            u->count[k] = 0;
            u->nsvc++;
        }
        u->count[k]++;
        targeted[s] = true;
    }
    plan->nsvc = f->nservices;
    plan->svc_budget = hvf_malloc((f->nservices + 1) * sizeof(int64_t));
    for (size_t s = 0; s < f->nservices; s++) {
        int64_t b = (int64_t)replicas[s] - (int64_t)f->services[s].min_available;
        plan->svc_budget[s] = targeted[s] ? (b > 0 ? b : 0) : -1;
    }
}

/* ---- packing: batches that keep every limit ----------------------------------------------- */

void
cp_packer_init(cp_packer *pk, const hvf_change_plan *plan, uint32_t cap)
{
    pk->plan = plan;
    pk->cap = cap ? cap : plan->wave_cap;
    pk->rack_n = hvf_calloc(plan->nracks + 1, sizeof(uint32_t));
    pk->zone_n = hvf_calloc(plan->nzones + 1, sizeof(uint32_t));
    pk->dom_n = hvf_calloc(plan->ndomains + 1, sizeof(uint32_t));
    pk->svc_n = hvf_calloc(plan->nsvc + 1, sizeof(uint32_t));
    pk->n = 0;
}

void
cp_packer_reset(cp_packer *pk)
{
    memset(pk->rack_n, 0, (pk->plan->nracks + 1) * sizeof(uint32_t));
    memset(pk->zone_n, 0, (pk->plan->nzones + 1) * sizeof(uint32_t));
    memset(pk->dom_n, 0, (pk->plan->ndomains + 1) * sizeof(uint32_t));
    memset(pk->svc_n, 0, (pk->plan->nsvc + 1) * sizeof(uint32_t));
    pk->n = 0;
}

void
cp_packer_free(cp_packer *pk)
{
    free(pk->rack_n);
    free(pk->zone_n);
    free(pk->dom_n);
    free(pk->svc_n);
}

static int32_t
cp_domain(const hvf_change_plan *plan, const hvf_change_unit *u)
{
    switch (plan->redundancy_per) {
    case HVF_SPREAD_RACK:
        return u->rack;
    case HVF_SPREAD_ZONE:
        return u->zone;
    default:
        return u->host;
    }
}

/* Which rule @u would break in the batch so far, or NULL when it fits. */
const char *
cp_packer_blocks(const cp_packer *pk, uint32_t unit)
{
    const hvf_change_plan *plan = pk->plan;
    const hvf_change_unit *u = &plan->units[unit];
    const hvf_change_limits *l = &plan->limits;

    if (pk->n + 1 > pk->cap)
        return "wave cap";
    if (plan->as_written)
        return NULL;
    if (l->max_per_rack && pk->rack_n[u->rack] + 1 > l->max_per_rack)
        return "max_parallel_per_rack";
    if (l->max_per_zone && pk->zone_n[u->zone] + 1 > l->max_per_zone)
        return "max_parallel_per_zone";
    if (plan->redundancy_max && pk->dom_n[cp_domain(plan, u)] + 1 > plan->redundancy_max)
        return "redundancy";
    for (size_t k = 0; k < u->nsvc; k++) {
        int64_t b = plan->svc_budget[u->svc[k]];
        if (b >= 0 && (int64_t)pk->svc_n[u->svc[k]] + u->count[k] > b)
            return "min_available";
    }
    return NULL;
}

void
cp_packer_add(cp_packer *pk, uint32_t unit)
{
    const hvf_change_unit *u = &pk->plan->units[unit];

    pk->n++;
    pk->rack_n[u->rack]++;
    pk->zone_n[u->zone]++;
    pk->dom_n[cp_domain(pk->plan, u)]++;
    for (size_t k = 0; k < u->nsvc; k++)
        pk->svc_n[u->svc[k]] += u->count[k];
}

size_t
hvf_change_plan_pack(const hvf_change_plan *plan, const uint32_t *units, size_t n, uint32_t cap,
                     uint32_t *batch_of)
{
    HVF_AUTOFREE bool *done = hvf_calloc(n + 1, sizeof(bool));
    cp_packer pk;
    size_t left = n, batch = 0;

    cp_packer_init(&pk, plan, cap);
    while (left > 0) {
        cp_packer_reset(&pk);
        for (size_t i = 0; i < n; i++) {
            if (done[i] || cp_packer_blocks(&pk, units[i]))
                continue;
            cp_packer_add(&pk, units[i]);
            batch_of[i] = (uint32_t)batch;
            done[i] = true;
            left--;
        }
        if (pk.n == 0) {
            /* nothing fits even alone: the first unit left goes by itself */
            for (size_t i = 0; i < n; i++) {
                if (!done[i]) {
                    batch_of[i] = (uint32_t)batch;
                    done[i] = true;
                    left--;
                    break;
                }
            }
        }
        batch++;
    }
    cp_packer_free(&pk);
    return batch;
}

typedef struct cp_vorder {
    size_t dim, idx;
} cp_vorder;

static int
cp_vorder_cmp(const void *a, const void *b)
{
    const cp_vorder *x = a, *y = b;

    if (x->dim != y->dim)
        return x->dim < y->dim ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Variants grouped by dimension in variants_by order, each group in order of first appearance. */
static void
cp_sort_variants(hvf_change_plan *plan, const hvf_change *c)
{
    HVF_AUTOFREE cp_vorder *ord = hvf_calloc(plan->nvariants + 1, sizeof(cp_vorder));
    HVF_AUTOFREE uint32_t *map = hvf_calloc(plan->nvariants + 1, sizeof(uint32_t));
    hvf_change_variant *sorted = hvf_calloc(plan->nvariants + 1, sizeof(hvf_change_variant));

    for (size_t v = 0; v < plan->nvariants; v++) {
        size_t d = 0;
        while (d < c->nvariants_by && strcmp(c->variants_by[d], plan->variants[v].dim) != 0)
            d++;
        ord[v] = (cp_vorder){d, v};
    }
    qsort(ord, plan->nvariants, sizeof(cp_vorder), cp_vorder_cmp);
    for (size_t i = 0; i < plan->nvariants; i++) {
        sorted[i] = plan->variants[ord[i].idx];
        map[ord[i].idx] = (uint32_t)i;
    }
    free(plan->variants);
    plan->variants = sorted;
    for (size_t i = 0; i < plan->nunits; i++) {
        hvf_change_unit *u = &plan->units[i];
        for (size_t k = 0; k < u->nvariants; k++)
            u->variants[k] = map[u->variants[k]];
        if (u->nvariants > 1)
            qsort(u->variants, u->nvariants, sizeof(uint32_t), cp_u32_cmp);
    }
}

void
cp_build_units(hvf_change_plan *plan, const hvf_fleet *f, const hvf_change *c,
               const hvf_change_target *targets, size_t ntargets)
{
    for (size_t i = 0; i < ntargets; i++)
        cp_add_unit(plan, f, targets[i].host, targets[i].vm);
    for (size_t i = 0; i < plan->nunits; i++) {
        for (size_t d = 0; d < c->nvariants_by; d++)
            cp_unit_variants(plan, f, &plan->units[i], c->variants_by[d]);
    }
    cp_sort_variants(plan, c);
    cp_unit_services(plan, f);
    plan->nracks = f->nracks;
    plan->nzones = f->nzones;
    plan->ndomains = f->nhosts > f->nracks ? f->nhosts : f->nracks;
    if (f->nzones > plan->ndomains)
        plan->ndomains = f->nzones;
}

/* ---- the twin's planner ----------------------------------------------------------------- */

void
hvf_change_register_planner(void)
{
    static const hvf_sim_change_planner p = {
        .build = hvf_change_plan_build,
        .free = hvf_change_plan_free,
        .pack = hvf_change_plan_pack,
        .evaluate = hvf_change_plan_evaluate,
        .wave_variants = hvf_change_wave_variants,
    };
    hvf_error err = HVF_ERROR_INIT;

    HVF_ASSERT(hvf_sim_change_set_planner(&p, &err) == 0);
}
