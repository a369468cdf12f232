/* SPDX-License-Identifier: MIT */
/*
 * Incidents in the twin: the typed events a component or controller emits when it notices,
 * decides, acts or declares an incident over, and the KPIs of seed 003's table computed from a
 * run (time of event, detection, decision, resolution, and the impact).
 *
 * Event types written to events.jsonl (docs/incidents.md):
 *   alert           someone or something was notified; the detail names the path ("pager")
 *   alert_lost      a failure was seen but could not be delivered (its alert path is down)
 *   decision        a controller or an operator decided: halt, rollback, pause remediation,
 *                   page, repair
 *   resolved        the incident was declared over
 *   action_queued   a remediation action (redeploy, restart, upscale) entered a queue
 *   action_run      a remediation action ran
 *   action_dropped  a remediation action was de-duplicated or rate-limited away
 * VMs going down and up are the twin's own events (vm_crashed, vm_oom_killed, vm_stopped;
 * vm_restarted, vm_started); hvf_sim_crash_vm lets a component crash one.
 *
 * KPI definitions (all times in microseconds of simulated time, -1 = never):
 *   event       first event of the configured type (default "fault", the first injected fault)
 *   detection   first alert at or after the event
 *   decision    first decision at or after the event
 *   resolution  the last resolved at or after the event (several components may each declare
 *               their part over), provided no alert came after it; without one, the moment from
 *               which every VM runs and no host is down or quarantined until the end of the run,
 *               provided something went down after the event; never when nothing went down
 *               (nothing to resolve) or when the run ends with something down
 *   impact      VMs down (stopped or crashed, or impaired: up but unusable, see
 *               hvf_incident_vm_impaired; a migration's pause is not counted) at peak and
 *               distinct, VM-minutes lost (integral of VMs down over the whole run), hosts
 *               crashed (crashes and reboots), remediation actions queued
 *
 * The API below is stable: other components (rolling changes, agents, remediation) build on it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/sim.h"
#include "hvfleet/strbuf.h"

typedef enum hvf_incident_kind {
    HVF_INCIDENT_ALERT,
    HVF_INCIDENT_ALERT_LOST,
    HVF_INCIDENT_DECISION,
    HVF_INCIDENT_RESOLVED,
    HVF_INCIDENT_ACTION_QUEUED,
    HVF_INCIDENT_ACTION_RUN,
    HVF_INCIDENT_ACTION_DROPPED,
    HVF_INCIDENT_LAST
} hvf_incident_kind;

/* Event type names, as written to events.jsonl; NULL-terminated. */
extern const char *const hvf_incident_kind_names[];

/* The event type that marks the time of event when none is configured. */
#define HVF_INCIDENT_DEFAULT_EVENT_TYPE "fault"

/*
 * hvf_incident_log: appends an incident event of @kind at the current simulated time, from a
 * controller or component callback (or before hvf_sim_run). @host and @vm may be -1; the
 * detail is printf-formatted (@fmt may be NULL) and should say which path, which action, why.
 */
void hvf_incident_log(hvf_sim *sim, hvf_incident_kind kind, int32_t host, int32_t vm,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * hvf_incident_vm_impaired: @vm is up but unusable (its disk IO blocked, a replica answering
 * nothing), or usable again. An impaired VM counts as down in the KPIs (peak, distinct,
 * VM-minutes lost, resolution). Components that model such states call it on every change.
 */
void hvf_incident_vm_impaired(hvf_sim *sim, int32_t vm, bool impaired);

/*
 * hvf_incident_set_event_type: the event type (e.g. "maintenance_window", "change_start")
 * whose first occurrence is the time of event; call before hvf_sim_run. @type is copied (NULL
 * or "" for the default). summary.json carries the KPIs as "incident" once a simulation records
 * incident events: made by hvf_scenario_sim_new, or after this call or hvf_incident_log.
 */
void hvf_incident_set_event_type(hvf_sim *sim, const char *type);

typedef struct hvf_incident_kpis {
    int64_t event_us;       /* -1: the event never happened (no incident) */
    int64_t detection_us;   /* -1: never detected */
    int64_t decision_us;    /* -1: no decision */
    int64_t resolution_us;  /* -1: not resolved by the end of the run */
    bool resolved_declared; /* resolution comes from a `resolved` event */
    uint32_t vms_down_peak;
    uint32_t vms_down_distinct;
    double vm_minutes_lost;
    uint32_t hosts_crashed;
    uint32_t alerts; /* every alert, before the event too */
    uint32_t alerts_lost;
    uint32_t actions_queued;
    uint32_t actions_run;
    uint32_t actions_dropped;
    int64_t end_us; /* the run's end, for "never" rows */
} hvf_incident_kpis;

/* hvf_incident_kpis_get: the KPIs of @sim as of now (call after hvf_sim_run for a whole run). */
void hvf_incident_kpis_get(const hvf_sim *sim, hvf_incident_kpis *out);

/* ---- side-by-side tables (seed 003's KPI table) ---- */

/* Rows of the table, in order. */
typedef enum hvf_incident_row {
    HVF_INCIDENT_ROW_EVENT,
    HVF_INCIDENT_ROW_DETECTION,
    HVF_INCIDENT_ROW_DECISION,
    HVF_INCIDENT_ROW_RESOLUTION,
    HVF_INCIDENT_ROW_VMS_DOWN_PEAK,
    HVF_INCIDENT_ROW_VMS_DOWN,
    HVF_INCIDENT_ROW_VM_MINUTES,
    HVF_INCIDENT_ROW_HOSTS_CRASHED,
    HVF_INCIDENT_ROW_ACTIONS_QUEUED,
    HVF_INCIDENT_ROW_LAST
} hvf_incident_row;

/* Row labels ("time of event", "detection", ..., "actions queued"); NULL-terminated. */
extern const char *const hvf_incident_row_labels[];

/*
 * hvf_incident_format_value: the text of one cell into @buf: the time of event on the simulated
 * clock ("0:30:00"), detection/decision/resolution after it ("+1m 30s", "never"; "-" when there
 * was no event), counts as integers, VM-minutes with one decimal. Returns @buf.
 */
char *hvf_incident_format_value(const hvf_incident_kpis *k, hvf_incident_row row, char *buf,
                                size_t size);

/*
 * hvf_incident_format_table: appends a text table, one row per KPI and one column per entry of
 * @columns (labels, e.g. "as it happened", "with hvfleet") and @kpis (@n of each).
 */
void hvf_incident_format_table(hvf_strbuf *out, const char *const *columns,
                               const hvf_incident_kpis *kpis, size_t n);

/*
 * hvf_incident_kpis_json: the table as the `kpis` object of a summary, compact JSON (owned):
 * {"columns":[...],"rows":[{"label":"detection","values":["never","+1m 30s"]},...]}. Times are
 * strings as in the text table, counts numbers.
 */
char *hvf_incident_kpis_json(const char *const *columns, const hvf_incident_kpis *kpis, size_t n);

/*
 * hvf_incident_raw_json: one run's KPIs as numbers (seconds, null for never), compact JSON
 * (owned): {"event_type":..,"event_s":..,"detection_s":..,"decision_s":..,"resolution_s":..,
 * "resolved_declared":..,"vms_down_peak":..,"vms_down_distinct":..,"vm_minutes_lost":..,
 * "hosts_crashed":..,"alerts":..,"alerts_lost":..,"actions_queued":..,"actions_run":..,
 * "actions_dropped":..}. @event_type may be NULL (the default).
 */
char *hvf_incident_raw_json(const hvf_incident_kpis *k, const char *event_type);
