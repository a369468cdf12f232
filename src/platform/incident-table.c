/* SPDX-License-Identifier: MIT */
/*
 * Incident KPIs as people and tools read them: seed 003's side-by-side table in text, the
 * `kpis` object of a summary (rendered by the HTML report), and one run's raw figures.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/units.h"

const char *const hvf_incident_row_labels[] = {"time of event",
                                               "detection",
                                               "decision",
                                               "resolution",
                                               "VMs down at once (peak)",
                                               "VMs down (distinct)",
                                               "VM-minutes lost",
                                               "hosts crashed",
                                               "actions queued",
                                               NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_incident_row_labels) == HVF_INCIDENT_ROW_LAST + 1, "labels");

/* h:mm:ss of the simulated clock, rounded to the second. */
static void
inc_clock(int64_t us, char *buf, size_t size)
{
    int64_t s = (us + HVF_US_PER_S / 2) / HVF_US_PER_S;

    snprintf(buf, size, "%" PRId64 ":%02" PRId64 ":%02" PRId64, s / 3600, (s / 60) % 60, s % 60);
}

/* A time after the event: "+1m 30s", "+0 s" for at once, "never". */
static void
inc_after(const hvf_incident_kpis *k, int64_t us, char *buf, size_t size)
{
    char d[48];

    if (k->event_us < 0)
        snprintf(buf, size, "-");
    else if (us < 0)
        snprintf(buf, size, "never");
    else if (us <= k->event_us)
        snprintf(buf, size, "+0 s");
    else
        snprintf(buf, size, "+%s", hvf_units_format_duration(us - k->event_us, d, sizeof(d)));
}

char *
hvf_incident_format_value(const hvf_incident_kpis *k, hvf_incident_row row, char *buf, size_t size)
{
    switch (row) {
    case HVF_INCIDENT_ROW_EVENT:
        if (k->event_us < 0)
            snprintf(buf, size, "none");
        else
            inc_clock(k->event_us, buf, size);
        break;
    case HVF_INCIDENT_ROW_DETECTION:
        inc_after(k, k->detection_us, buf, size);
        break;
    case HVF_INCIDENT_ROW_DECISION:
        inc_after(k, k->decision_us, buf, size);
        break;
    case HVF_INCIDENT_ROW_RESOLUTION:
        inc_after(k, k->resolution_us, buf, size);
        break;
    case HVF_INCIDENT_ROW_VMS_DOWN_PEAK:
        snprintf(buf, size, "%" PRIu32, k->vms_down_peak);
        break;
    case HVF_INCIDENT_ROW_VMS_DOWN:
        snprintf(buf, size, "%" PRIu32, k->vms_down_distinct);
        break;
    case HVF_INCIDENT_ROW_VM_MINUTES:
        snprintf(buf, size, "%.1f", k->vm_minutes_lost);
        break;
    case HVF_INCIDENT_ROW_HOSTS_CRASHED:
        snprintf(buf, size, "%" PRIu32, k->hosts_crashed);
        break;
    case HVF_INCIDENT_ROW_ACTIONS_QUEUED:
        snprintf(buf, size, "%" PRIu32, k->actions_queued);
        break;
    default:
        snprintf(buf, size, "?");
        break;
    }
    return buf;
}

void
hvf_incident_format_table(hvf_strbuf *out, const char *const *columns,
                          const hvf_incident_kpis *kpis, size_t n)
{
    int label_w = 0;
    int col_w = 14;
    char v[64];

    for (size_t r = 0; r < HVF_INCIDENT_ROW_LAST; r++) {
        int w = (int)strlen(hvf_incident_row_labels[r]);
        label_w = w > label_w ? w : label_w;
    }
    for (size_t c = 0; c < n; c++) {
        int w = (int)strlen(columns[c]);
        col_w = w > col_w ? w : col_w;
    }
    /* the last column is not padded: no trailing blanks */
    hvf_strbuf_printf(out, "  %-*s", label_w, "");
    for (size_t c = 0; c < n; c++)
        hvf_strbuf_printf(out, "  %-*s", c + 1 < n ? col_w : 0, columns[c]);
    hvf_strbuf_puts(out, "\n");
    for (size_t r = 0; r < HVF_INCIDENT_ROW_LAST; r++) {
        hvf_strbuf_printf(out, "  %-*s", label_w, hvf_incident_row_labels[r]);
        for (size_t c = 0; c < n; c++) {
            hvf_incident_format_value(&kpis[c], (hvf_incident_row)r, v, sizeof(v));
            hvf_strbuf_printf(out, "  %-*s", c + 1 < n ? col_w : 0, v);
        }
        hvf_strbuf_puts(out, "\n");
    }
}

static json_t *
inc_cell(const hvf_incident_kpis *k, hvf_incident_row row)
{
    char v[64];

    switch (row) {
    case HVF_INCIDENT_ROW_VMS_DOWN_PEAK:
        return json_integer(k->vms_down_peak);
    case HVF_INCIDENT_ROW_VMS_DOWN:
        return json_integer(k->vms_down_distinct);
    case HVF_INCIDENT_ROW_VM_MINUTES:
        return json_real(round(k->vm_minutes_lost * 10) / 10);
    case HVF_INCIDENT_ROW_HOSTS_CRASHED:
        return json_integer(k->hosts_crashed);
    case HVF_INCIDENT_ROW_ACTIONS_QUEUED:
        return json_integer(k->actions_queued);
    default:
        return json_string(hvf_incident_format_value(k, row, v, sizeof(v)));
    }
}

static char *
inc_dump(json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    char *copy = hvf_strdup(s ? s : "{}");

    free(s);
    json_decref(root);
    return copy;
}

char *
hvf_incident_kpis_json(const char *const *columns, const hvf_incident_kpis *kpis, size_t n)
{
    json_t *root = json_object();
    json_t *cols = json_array();
    json_t *rows = json_array();

    for (size_t c = 0; c < n; c++)
        json_array_append_new(cols, json_string(columns[c]));
    for (size_t r = 0; r < HVF_INCIDENT_ROW_LAST; r++) {
        json_t *vals = json_array();
        for (size_t c = 0; c < n; c++)
            json_array_append_new(vals, inc_cell(&kpis[c], (hvf_incident_row)r));
        json_array_append_new(
            rows, json_pack("{s:s, s:o}", "label", hvf_incident_row_labels[r], "values", vals));
    }
    json_object_set_new(root, "columns", cols);
    json_object_set_new(root, "rows", rows);
    return inc_dump(root);
}

static json_t *
inc_seconds(int64_t us)
{
    return us < 0 ? json_null() : json_real(round((double)us / 1e3) / 1e3);
}

char *
hvf_incident_raw_json(const hvf_incident_kpis *k, const char *event_type)
{
    json_t *root = json_object();

    json_object_set_new(root, "event_type",
                        json_string(event_type ? event_type : HVF_INCIDENT_DEFAULT_EVENT_TYPE));
    json_object_set_new(root, "event_s", inc_seconds(k->event_us));
    json_object_set_new(root, "detection_s", inc_seconds(k->detection_us));
    json_object_set_new(root, "decision_s", inc_seconds(k->decision_us));
    json_object_set_new(root, "resolution_s", inc_seconds(k->resolution_us));
    json_object_set_new(root, "resolved_declared", json_boolean(k->resolved_declared));
    json_object_set_new(root, "vms_down_peak", json_integer(k->vms_down_peak));
    json_object_set_new(root, "vms_down_distinct", json_integer(k->vms_down_distinct));
    json_object_set_new(root, "vm_minutes_lost", json_real(round(k->vm_minutes_lost * 1e3) / 1e3));
    json_object_set_new(root, "hosts_crashed", json_integer(k->hosts_crashed));
    json_object_set_new(root, "alerts", json_integer(k->alerts));
    json_object_set_new(root, "alerts_lost", json_integer(k->alerts_lost));
    json_object_set_new(root, "actions_queued", json_integer(k->actions_queued));
    json_object_set_new(root, "actions_run", json_integer(k->actions_run));
    json_object_set_new(root, "actions_dropped", json_integer(k->actions_dropped));
    return inc_dump(root);
}
