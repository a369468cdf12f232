/* SPDX-License-Identifier: MIT */
/*
 * Bandwidth sharing: migrations are flows over links (source NIC out, destination NIC in, rack
 * uplinks when they leave the rack, zone cores when they leave the zone), sharing each link
 * max-min fairly under a per-flow cap.
 *
 * Only the connected component (flows linked through shared links) around a change is re-solved,
 * never the whole fleet: that is what keeps a 10,000-host maintenance cheap, where SimGrid
 * re-solves every VM at each step. Changes made at one instant are batched: links are marked
 * dirty and sim_flows_recompute runs once before time moves on.
 */
#include <math.h>

#include "hvfleet/alloc.h"
#include "sim/sim-priv.h"

static int32_t
flows_new_link(hvf_sim *sim, double cap)
{
    sim_link *l;

    l = &sim->links[sim->nlinks];
    memset(l, 0, sizeof(*l));
    l->cap_bytes_per_s = l->base_bytes_per_s = cap;
    return (int32_t)sim->nlinks++;
}

void
sim_links_build(hvf_sim *sim)
{
    const hvf_fleet *f = sim->fleet;
    size_t n = 2 * f->nhosts;

    if (sim->p.rack_uplink_bytes_per_s > 0)
        n += 2 * f->nracks;
    if (sim->p.zone_core_bytes_per_s > 0)
        n += 2 * f->nzones;
    /* sized once: flows_new_link never reallocates past this */
    sim->links = hvf_calloc(n, sizeof(sim_link));
    sim->nlinks = 0;
    for (size_t h = 0; h < f->nhosts; h++) {
        double cap = f->hosts[h].nic_bytes_per_s * sim->p.migration_nic_share;
        sim->hosts[h].link_out = flows_new_link(sim, cap);
        sim->hosts[h].link_in = flows_new_link(sim, cap);
    }
    sim->rack_link_out = hvf_calloc(f->nracks + 1, sizeof(int32_t));
    sim->rack_link_in = hvf_calloc(f->nracks + 1, sizeof(int32_t));
    for (size_t r = 0; r < f->nracks; r++) {
        bool on = sim->p.rack_uplink_bytes_per_s > 0;
        sim->rack_link_out[r] = on ? flows_new_link(sim, sim->p.rack_uplink_bytes_per_s) : -1;
        sim->rack_link_in[r] = on ? flows_new_link(sim, sim->p.rack_uplink_bytes_per_s) : -1;
    }
    sim->zone_link_out = hvf_calloc(f->nzones + 1, sizeof(int32_t));
    sim->zone_link_in = hvf_calloc(f->nzones + 1, sizeof(int32_t));
    for (size_t z = 0; z < f->nzones; z++) {
        bool on = sim->p.zone_core_bytes_per_s > 0;
        sim->zone_link_out[z] = on ? flows_new_link(sim, sim->p.zone_core_bytes_per_s) : -1;
        sim->zone_link_in[z] = on ? flows_new_link(sim, sim->p.zone_core_bytes_per_s) : -1;
    }
    HVF_ASSERT(sim->nlinks == n);
}

void
sim_link_mark(hvf_sim *sim, int32_t link)
{
    sim_link *l = &sim->links[link];

    if (l->dirty)
        return;
    l->dirty = true;
    hvf_grow(&sim->dirty_links, &sim->dirty_links_cap, sim->ndirty_links + 1, sizeof(int32_t));
    sim->dirty_links[sim->ndirty_links++] = link;
}

static void
flows_link_add(sim_link *l, int32_t mig)
{
    hvf_grow(&l->flows, &l->flows_cap, l->nflows + 1, sizeof(int32_t));
    l->flows[l->nflows++] = mig;
}

static void
flows_link_remove(sim_link *l, int32_t mig)
{
    for (size_t i = 0; i < l->nflows; i++) {
        if (l->flows[i] == mig) {
            /* swap-remove: the order changes, but the same way in every run */
            l->flows[i] = l->flows[--l->nflows];
            return;
        }
    }
    HVF_ASSERT(!"flow not on its link");
}

void
sim_flow_attach(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];
    const hvf_fleet *f = sim->fleet;
    const hvf_host *s = &f->hosts[m->src], *d = &f->hosts[m->dst];

    m->nlinks = 0;
    m->links[m->nlinks++] = sim->hosts[m->src].link_out;
    m->links[m->nlinks++] = sim->hosts[m->dst].link_in;
    if (s->rack != d->rack && sim->rack_link_out[s->rack] >= 0) {
        m->links[m->nlinks++] = sim->rack_link_out[s->rack];
        m->links[m->nlinks++] = sim->rack_link_in[d->rack];
    }
    if (s->zone != d->zone && sim->zone_link_out[s->zone] >= 0) {
        m->links[m->nlinks++] = sim->zone_link_out[s->zone];
        m->links[m->nlinks++] = sim->zone_link_in[d->zone];
    }
    for (uint8_t i = 0; i < m->nlinks; i++) {
        flows_link_add(&sim->links[m->links[i]], id);
        sim_link_mark(sim, m->links[i]);
    }
    m->in_flow = true;
    m->rate = 0;
}

void
sim_flow_detach(hvf_sim *sim, int32_t id)
{
    sim_mig *m = &sim->migs[id];

    if (!m->in_flow)
        return;
    for (uint8_t i = 0; i < m->nlinks; i++) {
        flows_link_remove(&sim->links[m->links[i]], id);
        sim_link_mark(sim, m->links[i]);
    }
    m->in_flow = false;
    m->rate = 0;
}

double
sim_flow_cap(const hvf_sim *sim, const sim_mig *m)
{
    double cap = m->demand;
    double speed = fmin(sim->hosts[m->src].speed, sim->hosts[m->dst].speed);

    /* a host short of CPU runs its migration threads slower too */
    return cap * speed;
}

/* Collects the component around link @seed into the scratch lists (breadth first). */
static void
flows_component(hvf_sim *sim, int32_t seed, size_t *nl, size_t *nf)
{
    uint32_t ep = sim->epoch;
    size_t head = 0;

    *nl = *nf = 0;
    sim->links[seed].mark = ep;
    hvf_grow(&sim->scratch_links, &sim->scratch_links_cap, 1, sizeof(int32_t));
    sim->scratch_links[(*nl)++] = seed;
    while (head < *nl) {
        sim_link *l = &sim->links[sim->scratch_links[head++]];
        for (size_t k = 0; k < l->nflows; k++) {
            sim_mig *m = &sim->migs[l->flows[k]];
            if (m->mark == ep)
                continue;
            m->mark = ep;
            hvf_grow(&sim->scratch_flows, &sim->scratch_flows_cap, *nf + 1, sizeof(int32_t));
            sim->scratch_flows[(*nf)++] = l->flows[k];
            for (uint8_t j = 0; j < m->nlinks; j++) {
                sim_link *o = &sim->links[m->links[j]];
                if (o->mark == ep)
                    continue;
                o->mark = ep;
                hvf_grow(&sim->scratch_links, &sim->scratch_links_cap, *nl + 1, sizeof(int32_t));
                sim->scratch_links[(*nl)++] = m->links[j];
            }
        }
    }
}

/* Progressive filling: raise every unfrozen flow together until a link or a cap binds. */
static void
flows_solve(hvf_sim *sim, size_t nl, size_t nf, double *newrate)
{
    size_t left = nf;
    const double eps = 1e-12;

    for (size_t i = 0; i < nl; i++) {
        sim_link *l = &sim->links[sim->scratch_links[i]];
        l->left = l->cap_bytes_per_s;
        l->unfrozen = (uint32_t)l->nflows;
    }
    for (size_t i = 0; i < nf; i++)
        sim->migs[sim->scratch_flows[i]].frozen = false;
    while (left > 0) {
        double x = HUGE_VAL;
        for (size_t i = 0; i < nl; i++) {
            sim_link *l = &sim->links[sim->scratch_links[i]];
            if (l->unfrozen > 0)
                x = fmin(x, fmax(l->left, 0) / l->unfrozen);
        }
        for (size_t i = 0; i < nf; i++) {
            sim_mig *m = &sim->migs[sim->scratch_flows[i]];
            if (!m->frozen)
                x = fmin(x, sim_flow_cap(sim, m));
        }
        if (!isfinite(x))
            x = 0; /* cannot happen: every flow crosses a NIC */
        for (size_t i = 0; i < nf; i++) {
            sim_mig *m = &sim->migs[sim->scratch_flows[i]];
            double cap;
            bool bound = false;

            if (m->frozen)
                continue;
            cap = sim_flow_cap(sim, m);
            if (cap <= x * (1 + eps))
                bound = true;
            for (uint8_t j = 0; j < m->nlinks && !bound; j++) {
                sim_link *l = &sim->links[m->links[j]];
                if (fmax(l->left, 0) / l->unfrozen <= x * (1 + eps))
                    bound = true;
            }
            if (!bound)
                continue;
            newrate[i] = fmin(cap, x);
            m->frozen = true;
        }
        /* charge the links after deciding, so every flow saw the same shares */
        for (size_t i = 0; i < nf; i++) {
            sim_mig *m = &sim->migs[sim->scratch_flows[i]];
            if (!m->frozen || m->mark == sim->epoch + 1)
                continue;
            m->mark = sim->epoch + 1; /* charged */
            left--;
            for (uint8_t j = 0; j < m->nlinks; j++) {
                sim_link *l = &sim->links[m->links[j]];
                l->left -= newrate[i];
                l->unfrozen--;
            }
        }
    }
}

void
sim_flows_recompute(hvf_sim *sim)
{
    for (size_t i = 0; i < sim->ndirty_links; i++) {
        int32_t seed = sim->dirty_links[i];
        double *rates;
        size_t nl, nf;

        /* a seed already solved as part of an earlier component of this batch */
        if (!sim->links[seed].dirty)
            continue;
        /* epochs advance by 2: +1 marks "charged" inside flows_solve */
        sim->epoch += 2;
        flows_component(sim, seed, &nl, &nf);
        for (size_t k = 0; k < nl; k++)
            sim->links[sim->scratch_links[k]].dirty = false;
        if (nf == 0)
            continue;
        sim->st.flow_recomputes++;
        sim->st.flow_recompute_flows += nf;
        hvf_grow(&sim->scratch_rates, &sim->scratch_rates_cap, nf, sizeof(double));
        rates = sim->scratch_rates;
        for (size_t k = 0; k < nf; k++)
            rates[k] = 0;
        flows_solve(sim, nl, nf, rates);
        for (size_t k = 0; k < nf; k++) {
            int32_t id = sim->scratch_flows[k];
            sim_mig *m = &sim->migs[id];
            double old = m->rate;

            if (fabs(rates[k] - old) <= 1e-9 * fmax(old, 1.0))
                continue;
            /* finish the past at the old rate, then plan the future at the new one */
            sim_mig_advance_to_now(sim, m);
            m->rate = rates[k];
            sim_mig_schedule(sim, id);
            sim_host_mark(sim, m->dst);
        }
    }
    sim->ndirty_links = 0;
}
