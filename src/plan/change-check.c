/* SPDX-License-Identifier: MIT */
/* Re-verifying a change plan read from its file against the current inventory (stale plans). */
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/hash.h"
#include "plan/change-priv.h"

typedef struct cc_ctx {
    const hvf_change_plan_file *p;
    hvf_hash known;     /* "dim=value" -> variant index; keys borrowed from @keys */
    char **keys;
    uint32_t *count_now; /* units per variant now */
    bool *wave_has;      /* variants the current wave covers now */
    hvf_diags *out;
    const char *unit; /* the unit being looked at */
} cc_ctx;

static void
cc_add(void *ctx, const char *dim, const char *value)
{
    cc_ctx *c = ctx;
    HVF_AUTOFREE char *key = hvf_asprintf("%s=%s", dim, value);
    int32_t v = hvf_hash_get(&c->known, key);

    if (v < 0) {
        hvf_diags_add(c->out, "unit '%s' has %s now, a variant the plan was not made for",
                      c->unit, key);
        return;
    }
    c->count_now[v]++;
    c->wave_has[v] = true;
}

/* The distinct dimensions of the plan's variants, in order of first appearance. */
static size_t
cc_dims(const hvf_change_plan_file *p, const char **dims)
{
    size_t n = 0;

    for (size_t v = 0; v < p->nvariants; v++) {
        size_t k = 0;
        while (k < n && strcmp(dims[k], p->variants[v].dim) != 0)
            k++;
        if (k == n)
            dims[n++] = p->variants[v].dim;
    }
    return n;
}

static void
cc_wave(cc_ctx *c, const hvf_fleet *f, size_t wi, const char **dims, size_t ndims)
{
    const hvf_change_plan_file_wave *w = &c->p->waves[wi];
    hvf_strbuf now = HVF_STRBUF_INIT;
    size_t nnow = 0;
    bool same;

    memset(c->wave_has, 0, (c->p->nvariants + 1) * sizeof(bool));
    for (size_t k = 0; k < w->nunits; k++) {
        int32_t h, vm = -1;
        if (c->p->vm_units) {
            vm = hvf_fleet_find_vm(f, w->units[k]);
            h = vm >= 0 ? f->vms[vm].host : -1;
        } else {
            h = hvf_fleet_find_host(f, w->units[k]);
        }
        if (h < 0) {
            hvf_diags_add(c->out, "%s '%s' (a target of wave %zu) is no longer in the inventory",
                          c->p->vm_units ? "VM" : "host", w->units[k], wi + 1);
            continue;
        }
        c->unit = w->units[k];
        for (size_t d = 0; d < ndims; d++)
            cp_host_variants(f, &f->hosts[h], dims[d], cc_add, c);
    }
    for (size_t v = 0; v < c->p->nvariants; v++) {
        if (c->wave_has[v]) {
            hvf_strbuf_printf(&now, "%s%s", nnow ? ", " : "", c->keys[v]);
            nnow++;
        }
    }
    same = nnow == w->nvariants;
    for (size_t k = 0; same && k < w->nvariants; k++) {
        int32_t v = hvf_hash_get(&c->known, w->variants[k]);
        same = v >= 0 && c->wave_has[v];
    }
    if (!same) {
        hvf_strbuf plan = HVF_STRBUF_INIT;
        for (size_t k = 0; k < w->nvariants; k++)
            hvf_strbuf_printf(&plan, "%s%s", k ? ", " : "", w->variants[k]);
        hvf_diags_add(c->out, "wave %zu%s covers %s now, %s when planned", wi + 1,
                      w->canary ? " (canary)" : "", nnow ? now.buf : "no variant",
                      w->nvariants ? plan.buf : "no variant");
        hvf_strbuf_clear(&plan);
    }
    hvf_strbuf_clear(&now);
}

size_t
hvf_change_plan_file_check(const hvf_change_plan_file *p, const hvf_fleet *f, hvf_diags *out)
{
    size_t before = out->total;
    HVF_AUTOFREE const char **dims = hvf_calloc(p->nvariants + 1, sizeof(char *));
    size_t ndims = cc_dims(p, dims);
    cc_ctx c = {.p = p, .out = out};

    if (!hvf_change_plan_file_hash_ok(p))
        hvf_diags_add(out,
                      "plan_hash %.12s does not match the plan's content: the plan was "
                      "changed after it was made",
                      p->plan_hash);
    hvf_hash_init(&c.known);
    c.keys = hvf_calloc(p->nvariants + 1, sizeof(char *));
    c.count_now = hvf_calloc(p->nvariants + 1, sizeof(uint32_t));
    c.wave_has = hvf_calloc(p->nvariants + 1, sizeof(bool));
    for (size_t v = 0; v < p->nvariants; v++) {
        c.keys[v] = hvf_asprintf("%s=%s", p->variants[v].dim, p->variants[v].value);
        (void)hvf_hash_put(&c.known, c.keys[v], (int32_t)v);
    }
    for (size_t w = 0; w < p->nwaves; w++)
        cc_wave(&c, f, w, dims, ndims);
    for (size_t v = 0; v < p->nvariants; v++) {
        if (c.count_now[v] != p->variants[v].units)
            hvf_diags_add(out, "variant %s is on %u unit%s now, %u when planned", c.keys[v],
                          c.count_now[v], c.count_now[v] == 1 ? "" : "s", p->variants[v].units);
    }
    hvf_hash_clear(&c.known);
    for (size_t v = 0; v < p->nvariants; v++)
        free(c.keys[v]);
    free(c.keys);
    free(c.count_now);
    free(c.wave_has);
    return out->total - before;
}
