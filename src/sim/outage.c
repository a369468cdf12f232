/* SPDX-License-Identifier: MIT */
/*
 * What the incident KPIs need from the engine: VMs down now, at peak and ever, their integral
 * over time, hosts out of service, since when all is clear, and the time of event, kept current
 * on every state change so a KPI never depends on the sampling interval. The incident events
 * and the KPIs themselves are the platform's (src/platform/incident.c, hvfleet/incident.h).
 */
#include "hvfleet/alloc.h"
#include "sim/sim-priv.h"

/* The event type that marks the time of event when none is configured (hvfleet/incident.h
 * documents it as HVF_INCIDENT_DEFAULT_EVENT_TYPE). */
#define SIM_DEFAULT_EVENT_TYPE "fault"

void
sim_inc_init(hvf_sim *sim)
{
    sim_incident *inc = &sim->inc;

    inc->event_type = hvf_strdup(SIM_DEFAULT_EVENT_TYPE);
    inc->event_us = -1;
    inc->vm_was_down = hvf_calloc(sim->fleet->nvms + 1, sizeof(bool));
    inc->vm_impaired = hvf_calloc(sim->fleet->nvms + 1, sizeof(bool));
    inc->host_out = hvf_calloc(sim->fleet->nhosts + 1, sizeof(bool));
    inc->clear_since_us = 0;
}

void
sim_inc_free(hvf_sim *sim)
{
    free(sim->inc.event_type);
    free(sim->inc.vm_was_down);
    free(sim->inc.vm_impaired);
    sim->inc.vm_impaired = NULL;
    free(sim->inc.host_out);
    sim->inc.event_type = NULL;
    sim->inc.vm_was_down = NULL;
    sim->inc.host_out = NULL;
}

void
sim_inc_set_event_type(hvf_sim *sim, const char *type)
{
    HVF_ASSERT(!sim->started);
    free(sim->inc.event_type);
    sim->inc.event_type = hvf_strdup(type && *type ? type : SIM_DEFAULT_EVENT_TYPE);
}

/* Brings the integral of VMs down up to now. */
static void
inc_advance(hvf_sim *sim)
{
    sim_incident *inc = &sim->inc;

    if (sim->now_us > inc->last_us) {
        inc->vm_down_us += (double)inc->vms_down * (double)(sim->now_us - inc->last_us);
        inc->last_us = sim->now_us;
    }
}

double
sim_inc_down_us(const hvf_sim *sim)
{
    const sim_incident *inc = &sim->inc;
    double down_us = inc->vm_down_us;

    if (sim->now_us > inc->last_us)
        down_us += (double)inc->vms_down * (double)(sim->now_us - inc->last_us);
    return down_us;
}

static void
inc_update_clear(hvf_sim *sim)
{
    sim_incident *inc = &sim->inc;

    if (inc->vms_down > 0 || inc->hosts_out > 0)
        inc->clear_since_us = -1;
    else if (inc->clear_since_us < 0)
        inc->clear_since_us = sim->now_us;
}

static bool
inc_vm_is_down(hvf_sim_vm_state s)
{
    /* a paused VM is in the final copy of its migration: milliseconds, counted as downtime by
     * the migration figures, not as an outage */
    return s == HVF_SIM_VM_STOPPED || s == HVF_SIM_VM_CRASHED;
}

/* A VM counts as down when stopped or crashed, or when a component says it is impaired. */
static void
inc_vm_count(hvf_sim *sim, int32_t vm, bool was, bool is)
{
    sim_incident *inc = &sim->inc;

    if (was == is)
        return;
    inc_advance(sim);
    if (is) {
        inc->vms_down++;
        if (inc->vms_down > inc->vms_down_peak)
            inc->vms_down_peak = inc->vms_down;
        if (!inc->vm_was_down[vm]) {
            inc->vm_was_down[vm] = true;
            inc->vms_down_distinct++;
        }
    } else {
        HVF_ASSERT(inc->vms_down > 0);
        inc->vms_down--;
    }
    inc_update_clear(sim);
}

void
sim_inc_vm_state(hvf_sim *sim, int32_t vm, hvf_sim_vm_state from, hvf_sim_vm_state to)
{
    bool imp = sim->inc.vm_impaired[vm];

    inc_vm_count(sim, vm, inc_vm_is_down(from) || imp, inc_vm_is_down(to) || imp);
}

void
sim_inc_vm_impaired(hvf_sim *sim, int32_t vm, bool impaired)
{
    sim_incident *inc = &sim->inc;
    bool down;

    HVF_ASSERT(vm >= 0 && (size_t)vm < sim->fleet->nvms);
    down = inc_vm_is_down(sim->vms[vm].state);
    if (inc->vm_impaired[vm] == impaired)
        return;
    inc->vm_impaired[vm] = impaired;
    inc_vm_count(sim, vm, down || !impaired, down || impaired);
}

void
sim_inc_host_state(hvf_sim *sim, int32_t host, hvf_sim_host_state from, hvf_sim_host_state to)
{
    sim_incident *inc = &sim->inc;
    bool is = to == HVF_SIM_HOST_DOWN || to == HVF_SIM_HOST_QUARANTINED;

    (void)from;
    /* a host down in the inventory from the start is known, not part of an incident: only
     * hosts that go out during the run count */
    if (is == inc->host_out[host])
        return;
    inc->host_out[host] = is;
    if (is)
        inc->hosts_out++;
    else
        inc->hosts_out--;
    inc_update_clear(sim);
}

void
sim_inc_seen(hvf_sim *sim, const char *type)
{
    sim_incident *inc = &sim->inc;

    if (inc->event_us < 0 && strcmp(type, inc->event_type) == 0)
        inc->event_us = sim->now_us;
}
