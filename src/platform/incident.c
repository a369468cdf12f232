/* SPDX-License-Identifier: MIT */
/*
 * Incident tracking in the twin: typed incident events (alert, decision, resolved, actions) and
 * the KPIs, from these and the engine's running figures (VMs down now, at peak and ever, their
 * integral over time, hosts out of service, since when all is clear: src/sim/outage.c).
 * Definitions: include/hvfleet/incident.h.
 */
#include <jansson.h>
#include <stdarg.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/units.h"
#include "platform/platform-priv.h"
#include "sim/sim-priv.h"

const char *const hvf_incident_kind_names[] = {
    "alert",         "alert_lost", "decision",       "resolved",
    "action_queued", "action_run", "action_dropped", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_incident_kind_names) == HVF_INCIDENT_LAST + 1, "names");

/* The incident events of one run: counts, first and last at or after the time of event. The
 * figures about VMs and hosts out are the engine's (src/sim/outage.c). */
typedef struct inc_events {
    int64_t first_us[HVF_INCIDENT_LAST];  /* first at or after the event, -1 */
    int64_t latest_us[HVF_INCIDENT_LAST]; /* last at or after the event, -1 */
    uint32_t count[HVF_INCIDENT_LAST];
} inc_events;

static void inc_summary(const hvf_sim *sim, const void *ctx, json_t *root);

static const sim_model_ops inc_ops = {.name = "incident", .summary = inc_summary, .free_ctx = free};

static inc_events *
inc_get(hvf_sim *sim)
{
    inc_events *ie = sim_model_get(sim, &inc_ops);

    if (ie)
        return ie;
    ie = HVF_NEW(inc_events);
    for (size_t i = 0; i < HVF_INCIDENT_LAST; i++)
        ie->first_us[i] = ie->latest_us[i] = -1;
    sim_model_add(sim, &inc_ops, ie);
    return ie;
}

void
plat_inc_attach(hvf_sim *sim)
{
    (void)inc_get(sim);
}

void
hvf_incident_set_event_type(hvf_sim *sim, const char *type)
{
    (void)inc_get(sim);
    sim_inc_set_event_type(sim, type);
}

void
hvf_incident_vm_impaired(hvf_sim *sim, int32_t vm, bool impaired)
{
    sim_inc_vm_impaired(sim, vm, impaired);
}

void
hvf_incident_log(hvf_sim *sim, hvf_incident_kind kind, int32_t host, int32_t vm, const char *fmt,
                 ...)
{
    const sim_incident *inc = &sim->inc;
    inc_events *ie = inc_get(sim);
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
    ie->count[kind]++;
    if (inc->event_us >= 0 && ie->first_us[kind] < 0)
        ie->first_us[kind] = sim->now_us;
    if (inc->event_us >= 0)
        ie->latest_us[kind] = sim->now_us;
}

void
hvf_incident_kpis_get(const hvf_sim *sim, hvf_incident_kpis *out)
{
    static const inc_events none = {
        {-1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1}, {0}};
    const sim_incident *inc = &sim->inc;
    const inc_events *ie = sim_model_get(sim, &inc_ops);
    double down_us = sim_inc_down_us(sim);

    _Static_assert(HVF_INCIDENT_LAST == 7, "none");
    if (!ie)
        ie = &none;
    memset(out, 0, sizeof(*out));
    out->event_us = inc->event_us;
    out->detection_us = ie->first_us[HVF_INCIDENT_ALERT];
    out->decision_us = ie->first_us[HVF_INCIDENT_DECISION];
    out->resolution_us = -1;
    if (inc->event_us >= 0) {
        /* several components may declare their part over (a rolling change, then the
         * remediation of its fallout): the incident is over at the last declaration, unless
         * something was alerted after it */
        if (ie->latest_us[HVF_INCIDENT_RESOLVED] >= 0 &&
            ie->latest_us[HVF_INCIDENT_ALERT] <= ie->latest_us[HVF_INCIDENT_RESOLVED]) {
            out->resolution_us = ie->latest_us[HVF_INCIDENT_RESOLVED];
            out->resolved_declared = true;
        } else if (inc->clear_since_us > inc->event_us) {
            /* something went down after the event and everything is back since: a run where
             * nothing went down was never resolved, it had nothing to resolve (never, not +0 s
             * before its detection) */
            out->resolution_us = inc->clear_since_us;
        }
    }
    out->vms_down_peak = inc->vms_down_peak;
    out->vms_down_distinct = inc->vms_down_distinct;
    out->vm_minutes_lost = down_us / (60.0 * (double)HVF_US_PER_S);
    out->hosts_crashed = sim->st.hosts_crashed;
    out->alerts = ie->count[HVF_INCIDENT_ALERT];
    out->alerts_lost = ie->count[HVF_INCIDENT_ALERT_LOST];
    out->actions_queued = ie->count[HVF_INCIDENT_ACTION_QUEUED];
    out->actions_run = ie->count[HVF_INCIDENT_ACTION_RUN];
    out->actions_dropped = ie->count[HVF_INCIDENT_ACTION_DROPPED];
    out->end_us = sim->p.duration_us;
}

/* The run's incident KPIs as numbers (hvf_incident_raw_json), summary.json's "incident". */
static void
inc_summary(const hvf_sim *sim, const void *ctx, json_t *root)
{
    hvf_incident_kpis k;
    HVF_AUTOFREE char *text = NULL;
    json_t *obj;

    (void)ctx;
    hvf_incident_kpis_get(sim, &k);
    text = hvf_incident_raw_json(&k, sim->inc.event_type);
    obj = json_loads(text, 0, NULL);
    json_object_set_new(root, "incident", obj ? obj : json_object());
}
