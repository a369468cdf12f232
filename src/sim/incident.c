/* SPDX-License-Identifier: MIT */
/*
 * Incident tracking in the twin: typed incident events (alert, decision, resolved, actions) and
 * the running figures the KPIs need (VMs down now, at peak and ever, their integral over time,
 * hosts out of service, since when all is clear), kept current on every state change so a KPI
 * never depends on the sampling interval. Definitions: include/hvfleet/incident.h.
 */
#include <stdarg.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

const char *const hvf_incident_kind_names[] = {
    "alert",         "alert_lost", "decision",       "resolved",
    "action_queued", "action_run", "action_dropped", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_incident_kind_names) == HVF_INCIDENT_LAST + 1, "names");

void
sim_inc_init(hvf_sim *sim)
{
    sim_incident *inc = &sim->inc;

    inc->event_type = hvf_strdup(HVF_INCIDENT_DEFAULT_EVENT_TYPE);
    inc->event_us = -1;
    for (size_t i = 0; i < HVF_INCIDENT_LAST; i++)
        inc->first_us[i] = inc->latest_us[i] = -1;
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
hvf_incident_set_event_type(hvf_sim *sim, const char *type)
{
    HVF_ASSERT(!sim->started);
    free(sim->inc.event_type);
    sim->inc.event_type = hvf_strdup(type && *type ? type : HVF_INCIDENT_DEFAULT_EVENT_TYPE);
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
hvf_incident_vm_impaired(hvf_sim *sim, int32_t vm, bool impaired)
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

void
hvf_incident_log(hvf_sim *sim, hvf_incident_kind kind, int32_t host, int32_t vm, const char *fmt,
                 ...)
{
    sim_incident *inc = &sim->inc;
    HVF_AUTOFREE char *detail = NULL;
    va_list ap;

    HVF_ASSERT((unsigned)kind < HVF_INCIDENT_LAST);
    HVF_ASSERT(host < 0 || (size_t)host < sim->fleet->nhosts);
    HVF_ASSERT(vm < 0 || (size_t)vm < sim->fleet->nvms);
    if (fmt) {
        va_list cp;
        int n;
        va_start(ap, fmt);
        va_copy(cp, ap);
        n = vsnprintf(NULL, 0, fmt, cp);
        va_end(cp);
        detail = hvf_malloc((size_t)(n > 0 ? n : 0) + 1);
        vsnprintf(detail, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
        va_end(ap);
    }
    sim_log(sim, hvf_incident_kind_names[kind], host, vm, -1, -1, detail, NULL);
    inc->count[kind]++;
    if (inc->event_us >= 0 && inc->first_us[kind] < 0)
        inc->first_us[kind] = sim->now_us;
    if (inc->event_us >= 0)
        inc->latest_us[kind] = sim->now_us;
}

void
hvf_incident_kpis_get(const hvf_sim *sim, hvf_incident_kpis *out)
{
    const sim_incident *inc = &sim->inc;
    double down_us = inc->vm_down_us;

    memset(out, 0, sizeof(*out));
    if (sim->now_us > inc->last_us)
        down_us += (double)inc->vms_down * (double)(sim->now_us - inc->last_us);
    out->event_us = inc->event_us;
    out->detection_us = inc->first_us[HVF_INCIDENT_ALERT];
    out->decision_us = inc->first_us[HVF_INCIDENT_DECISION];
    out->resolution_us = -1;
    if (inc->event_us >= 0) {
        /* several components may declare their part over (a rolling change, then the
         * remediation of its fallout): the incident is over at the last declaration, unless
         * something was alerted after it */
        if (inc->latest_us[HVF_INCIDENT_RESOLVED] >= 0 &&
            inc->latest_us[HVF_INCIDENT_ALERT] <= inc->latest_us[HVF_INCIDENT_RESOLVED]) {
            out->resolution_us = inc->latest_us[HVF_INCIDENT_RESOLVED];
            out->resolved_declared = true;
        } else if (inc->clear_since_us >= 0) {
            out->resolution_us =
                inc->clear_since_us > inc->event_us ? inc->clear_since_us : inc->event_us;
        }
    }
    out->vms_down_peak = inc->vms_down_peak;
    out->vms_down_distinct = inc->vms_down_distinct;
    out->vm_minutes_lost = down_us / (60.0 * (double)HVF_US_PER_S);
    out->hosts_crashed = sim->st.hosts_crashed;
    out->alerts = inc->count[HVF_INCIDENT_ALERT];
    out->alerts_lost = inc->count[HVF_INCIDENT_ALERT_LOST];
    out->actions_queued = inc->count[HVF_INCIDENT_ACTION_QUEUED];
    out->actions_run = inc->count[HVF_INCIDENT_ACTION_RUN];
    out->actions_dropped = inc->count[HVF_INCIDENT_ACTION_DROPPED];
    out->end_us = sim->p.duration_us;
}
