/* SPDX-License-Identifier: MIT */
/* Turning what happens in the twin into a plan: hosts, migrations, stops, risks, predictions. */
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "plan/maint-priv.h"

void
mrec_init(mrec *r, hvf_plan *plan, hvf_sim *sim, const hvf_policy *pol)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);

    memset(r, 0, sizeof(*r));
    r->plan = plan;
    r->sim = sim;
    r->f = f;
    r->pol = pol;
    r->host_rec = hvf_malloc((f->nhosts + 1) * sizeof(int32_t));
    r->vm_mig = hvf_malloc((f->nvms + 1) * sizeof(int32_t));
    r->vm_stop = hvf_malloc((f->nvms + 1) * sizeof(int32_t));
    for (size_t h = 0; h < f->nhosts; h++)
        r->host_rec[h] = -1;
    for (size_t v = 0; v < f->nvms; v++)
        r->vm_mig[v] = r->vm_stop[v] = -1;
    r->moves = hvf_calloc(f->nvms + 1, 1);
    r->at_risk = hvf_calloc(f->nvms + 1, sizeof(bool));
    r->nonconv = hvf_calloc(f->nvms + 1, sizeof(bool));
}

void
mrec_free(mrec *r)
{
    free(r->host_rec);
    free(r->vm_mig);
    free(r->vm_stop);
    free(r->moves);
    free(r->at_risk);
    free(r->nonconv);
    free(r->dropped);
    free(r->host_dropped);
    memset(r, 0, sizeof(*r));
}

int64_t
mrec_now_ms(const mrec *r)
{
    return hvf_sim_now(r->sim) / HVF_US_PER_MS;
}

static hvf_plan_host *
mrec_host(mrec *r, int32_t host)
{
    if (r->host_rec[host] < 0) {
        hvf_plan_host *ph = hvf_plan_add_host(r->plan, r->f->hosts[host].name);
        int64_t now = mrec_now_ms(r);
        r->host_rec[host] = (int32_t)(r->plan->nhosts - 1);
        ph->evacuate_start_ms = ph->evacuate_end_ms = now;
        ph->maintenance_start_ms = ph->maintenance_end_ms = now;
        ph->usable_mib = hvf_host_usable(&r->f->hosts[host]).mem_mib;
        return ph;
    }
    return &r->plan->hosts[r->host_rec[host]];
}

void
mrec_host_evac_start(mrec *r, int32_t host)
{
    mrec_host(r, host);
}

void
mrec_host_evac_end(mrec *r, int32_t host)
{
    hvf_plan_host *ph = mrec_host(r, host);

    ph->evacuate_end_ms = ph->maintenance_start_ms = ph->maintenance_end_ms = mrec_now_ms(r);
}

void
mrec_host_drop(mrec *r, int32_t host)
{
    int32_t i = r->host_rec[host];

    if (i < 0)
        return;
    hvf_grow(&r->host_dropped, &r->host_dropped_cap, r->nhost_dropped + 1, sizeof(int32_t));
    r->host_dropped[r->nhost_dropped++] = i;
    r->host_rec[host] = -1;
}

void
mrec_host_maint_start(mrec *r, int32_t host)
{
    hvf_plan_host *ph = mrec_host(r, host);

    ph->maintenance_start_ms = ph->maintenance_end_ms = mrec_now_ms(r);
}

void
mrec_host_maint_end(mrec *r, int32_t host)
{
    mrec_host(r, host)->maintenance_end_ms = mrec_now_ms(r);
}

bool
mrec_converges(const mrec *r, int32_t vm, int32_t src)
{
    const hvf_vm *v = &r->f->vms[vm];
    const hvf_sim_params *sp = hvf_sim_params_get(r->sim);
    hvf_migrate_params p;
    hvf_error err = HVF_ERROR_INIT;
    double nic = r->f->hosts[src].nic_bytes_per_s * sp->migration_nic_share;
    double bw =
        nic / (r->pol->max_migrations_out_per_host ? r->pol->max_migrations_out_per_host : 1);
    double gib = (double)v->mem_mib / 1024.0;
    bool converged = false;

    if (r->pol->migration_bandwidth_bytes_per_s > 0 && r->pol->migration_bandwidth_bytes_per_s < bw)
        bw = r->pol->migration_bandwidth_bytes_per_s;
    hvf_migrate_params_default(&p);
    p.mem_bytes = v->mem_mib * HVF_MIB;
    p.dirty_bytes_per_s = v->dirty_bytes_per_s;
    p.working_set_bytes = v->working_set_mib * HVF_MIB;
    p.zero_fraction = sp->zero_page_fraction < 1 ? sp->zero_page_fraction : 0;
    p.bandwidth_bytes_per_s = bw > 1 ? bw : 1;
    p.link_bytes_per_s = nic > p.bandwidth_bytes_per_s ? nic : p.bandwidth_bytes_per_s;
    p.downtime_limit_us = r->pol->downtime_limit_us;
    p.strategy = HVF_MIGRATE_STRATEGY_PRECOPY;
    /* The twin's 0 means "never abort": a horizon past any plan, so that the estimate
     * of a migration that never converges keeps a finite total. */
    p.timeout_us = sp->completion_timeout_s_per_gib > 0
                       ? (int64_t)ceil(sp->completion_timeout_s_per_gib * gib * 1e6)
                       : 10LL * 365 * 86400 * HVF_US_PER_S;
    /* invalid parameters: not a migration that converges */
    return hvf_migrate_estimate_converges(&p, &converged, &err) == 0 && converged;
}

void
mrec_mig_start(mrec *r, int32_t vm, int32_t from, int32_t to, hvf_plan_migration_mode mode,
               int64_t start_us)
{
    hvf_plan_migration *m;

    m = hvf_plan_add_migration(r->plan, r->f->vms[vm].name, r->f->hosts[from].name,
                               to >= 0 ? r->f->hosts[to].name : "-");
    r->vm_mig[vm] = (int32_t)(r->plan->nmigrations - 1);
    hvf_grow(&r->dropped, &r->dropped_cap, r->plan->nmigrations, sizeof(bool));
    r->dropped[r->plan->nmigrations - 1] = false;
    m->start_ms = m->end_ms = start_us / HVF_US_PER_MS;
    m->memory_mib = r->f->vms[vm].mem_mib;
    m->strategy = mode;
}

static hvf_plan_migration_mode
mrec_mode(hvf_sim_strategy s)
{
    switch (s) {
    case HVF_SIM_STRATEGY_AUTO_CONVERGE:
        return HVF_PLAN_MIGRATION_AUTO_CONVERGE;
    case HVF_SIM_STRATEGY_POSTCOPY:
        return HVF_PLAN_MIGRATION_POST_COPY;
    default:
        return HVF_PLAN_MIGRATION_PRECOPY;
    }
}

void
mrec_mig_end(mrec *r, const hvf_sim_event *ev, const hvf_sim_migration_info *mig, bool evacuation)
{
    int32_t i = r->vm_mig[ev->vm];
    hvf_plan_migration *m;

    if (i < 0)
        return;
    m = &r->plan->migrations[i];
    m->end_ms = mrec_now_ms(r);
    /* What the twin did, at the bandwidth it really had, not the prediction before it started:
     * the plan says what will happen as the twin saw it. */
    m->converged = mig->converged;
    m->downtime_us = mig->downtime_us;
    m->rounds = mig->rounds;
    m->strategy = mrec_mode(mig->strategy);
    if (strcmp(m->to, r->f->hosts[ev->to].name) != 0) {
        free(m->to);
        m->to = hvf_strdup(r->f->hosts[ev->to].name);
    }
    r->vm_mig[ev->vm] = -1;
    if (evacuation && r->moves[ev->vm] < UINT8_MAX)
        r->moves[ev->vm]++;
    mrec_check_host(r, ev->to);
}

void
mrec_mig_abort(mrec *r, int32_t vm)
{
    if (r->vm_mig[vm] >= 0)
        r->dropped[r->vm_mig[vm]] = true;
    r->vm_mig[vm] = -1;
}

void
mrec_stop(mrec *r, int32_t vm, int32_t host)
{
    hvf_plan_stop *s = hvf_plan_add_stop(r->plan, r->f->vms[vm].name, r->f->hosts[host].name,
                                         r->f->hosts[host].name);

    s->stop_ms = s->start_ms = mrec_now_ms(r);
    r->vm_stop[vm] = (int32_t)(r->plan->nstops - 1);
}

void
mrec_start(mrec *r, int32_t vm, int32_t host)
{
    hvf_plan_stop *s;

    if (r->vm_stop[vm] < 0)
        return;
    s = &r->plan->stops[r->vm_stop[vm]];
    s->start_ms = mrec_now_ms(r);
    if (strcmp(s->start_host, r->f->hosts[host].name) != 0) {
        free(s->start_host);
        s->start_host = hvf_strdup(r->f->hosts[host].name);
    }
    r->vm_stop[vm] = -1;
}

void
mrec_nonconv(mrec *r, int32_t vm, hvf_non_converging action)
{
    if (r->nonconv[vm])
        return;
    r->nonconv[vm] = true;
    hvf_plan_add_non_converging(r->plan, r->f->vms[vm].name, action);
}

static void
mrec_risk(mrec *r, int32_t vm)
{
    if (!r->at_risk[vm]) {
        r->at_risk[vm] = true;
        r->nat_risk++;
    }
}

void
mrec_check_host(mrec *r, int32_t host)
{
    const int32_t *vms;
    size_t n;

    if (host < 0 || hvf_sim_host_memory_ratio(r->sim, host) <= 1.0 + 1e-9)
        return;
    n = hvf_sim_host_vms(r->sim, host, &vms);
    for (size_t i = 0; i < n; i++)
        mrec_risk(r, vms[i]);
}

void
mrec_vm_down(mrec *r, int32_t vm)
{
    if (vm >= 0)
        mrec_risk(r, vm);
}

void
mrec_finish(mrec *r)
{
    hvf_plan *p = r->plan;
    size_t w = 0;
    int64_t first = 0, last = 0;

    /* Migrations still open never finished: left out. A VM still stopped at the end is
     * recorded as started when the plan's last action ends. */
    for (size_t v = 0; v < r->f->nvms; v++) {
        if (r->vm_mig[v] >= 0)
            r->dropped[r->vm_mig[v]] = true;
    }
    hvf_plan_span_ms(p, &first, &last);
    for (size_t v = 0; v < r->f->nvms; v++) {
        if (r->vm_stop[v] >= 0)
            p->stops[r->vm_stop[v]].start_ms = last;
    }
    for (size_t i = 0; i < p->nmigrations; i++) {
        if (r->dropped[i]) {
            free(p->migrations[i].vm);
            free(p->migrations[i].from);
            free(p->migrations[i].to);
            continue;
        }
        p->migrations[w++] = p->migrations[i];
    }
    p->nmigrations = w;
    if (r->nhost_dropped) {
        HVF_AUTOFREE bool *drop = hvf_calloc(p->nhosts + 1, sizeof(bool));
        for (size_t k = 0; k < r->nhost_dropped; k++)
            drop[r->host_dropped[k]] = true;
        w = 0;
        for (size_t i = 0; i < p->nhosts; i++) {
            if (drop[i]) {
                free(p->hosts[i].host);
                continue;
            }
            p->hosts[w++] = p->hosts[i];
        }
        p->nhosts = w;
    }
    p->summary.vms_moved_more_than_once = 0;
    for (size_t v = 0; v < r->f->nvms; v++) {
        if (r->moves[v] > 1)
            p->summary.vms_moved_more_than_once++;
    }
    p->summary.vms_at_risk = r->nat_risk;
}
