/* SPDX-License-Identifier: MIT */
/* The executor's work taken from a plan: hosts, migrations and stops with their predicted times. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"

/* ---- the work, from the plan ---- */

int32_t
x_host_of(const x_run *x, const char *name)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        if (strcmp(x->hosts[i].name, name) == 0)
            return (int32_t)i;
    }
    return -1;
}

static int64_t
ms_us(int64_t ms)
{
    return ms * 1000;
}

void
x_load_plan_work(x_run *x, bool keep_done)
{
    const hvf_plan *p = x->plan;
    size_t old_nmigs = keep_done ? x->nmigs : 0;

    if (!keep_done) {
        x->hosts = hvf_calloc(p->nhosts + 1, sizeof(*x->hosts));
        x->nhosts = p->nhosts;
        for (size_t i = 0; i < p->nhosts; i++) {
            x_host *h = &x->hosts[i];

            h->name = hvf_strdup(p->hosts[i].host);
            h->idx = hvf_fleet_find_host(x->fleet, h->name);
            h->st = XH_PENDING;
            h->evac_start_us = h->evac_end_us = h->maint_start_us = h->maint_end_us = -1;
        }
        x->stops = hvf_calloc(p->nstops + 1, sizeof(*x->stops));
        x->nstops = p->nstops;
        for (size_t i = 0; i < p->nstops; i++) {
            x_stop *s = &x->stops[i];

            s->vm = hvf_strdup(p->stops[i].vm);
            s->host = hvf_strdup(p->stops[i].host);
            s->start_host = hvf_strdup(p->stops[i].start_host);
            s->vm_idx = hvf_fleet_find_vm(x->fleet, s->vm);
            s->host_x = x_host_of(x, s->host);
            s->stop_us = s->start_us = -1;
            s->pred_stop_us = ms_us(p->stops[i].stop_ms);
            s->pred_start_us = ms_us(p->stops[i].start_ms);
        }
    }
    /* predicted host times: from the plan in force (a re-plan's clock starts at its making) */
    for (size_t i = 0; i < p->nhosts; i++) {
        int32_t h = x_host_of(x, p->hosts[i].host);
        int64_t off = keep_done ? x->now_us : 0;

        if (h < 0)
            continue;
        x->hosts[h].pred_evac_start_us = off + ms_us(p->hosts[i].evacuate_start_ms);
        x->hosts[h].pred_evac_end_us = off + ms_us(p->hosts[i].evacuate_end_ms);
        x->hosts[h].pred_maint_start_us = off + ms_us(p->hosts[i].maintenance_start_ms);
        x->hosts[h].pred_maint_end_us = off + ms_us(p->hosts[i].maintenance_end_ms);
    }
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *pm = &p->migrations[i];
        int64_t off = keep_done ? x->now_us : 0;
        x_mig *m;

        hvf_grow(&x->migs, &x->migs_cap, x->nmigs + 1, sizeof(*x->migs));
        m = &x->migs[x->nmigs++];
        memset(m, 0, sizeof(*m));
        m->vm = hvf_strdup(pm->vm);
        m->from = hvf_strdup(pm->from);
        m->to = hvf_strdup(pm->to);
        m->vm_idx = hvf_fleet_find_vm(x->fleet, m->vm);
        m->from_idx = hvf_fleet_find_host(x->fleet, m->from);
        m->to_idx = hvf_fleet_find_host(x->fleet, m->to);
        m->job = -1;
        m->start_us = m->end_us = -1;
        m->pred_start_us = off + ms_us(pm->start_ms);
        m->pred_end_us = off + ms_us(pm->end_ms);
        /* it evacuates its source only when the plan moves it during that host's drain; a
         * later move off a host already maintained stands on its own */
        m->host = x_host_of(x, m->from);
        if (m->host >= 0 && (m->pred_start_us < x->hosts[m->host].pred_evac_start_us ||
                             m->pred_start_us > x->hosts[m->host].pred_evac_end_us))
            m->host = -1;
        m->mode = pm->strategy;
        for (size_t k = 0; k < p->summary.nnon_converging; k++) {
            if (strcmp(p->summary.non_converging[k].vm, pm->vm) == 0) {
                m->nc = p->summary.non_converging[k].action;
                m->has_nc = true;
            }
        }
    }
    (void)old_nmigs;
}

/* A copy of @p through its own JSON form (the plan's canonical text keeps its hash). */
hvf_plan *
x_plan_from_text(const char *name, const char *text, hvf_error *err)
{
    hvf_diags diags;
    hvf_plan *p;

    hvf_diags_init(&diags);
    p = hvf_plan_parse(name, text, strlen(text), &diags, err);
    if (!p && diags.n)
        hvf_error_set(err, HVF_ERR_INVALID, "%s", diags.lines[0]);
    hvf_diags_clear(&diags);
    return p;
}

hvf_plan *
x_plan_dup(const hvf_plan *p, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_plan *copy;

    hvf_plan_format(p, &sb);
    copy = x_plan_from_text("plan", sb.buf, err);
    hvf_strbuf_clear(&sb);
    return copy;
}

