/* SPDX-License-Identifier: MIT */
/*
 * The `monitoring` section of a scenario: which VMs are monitors, what they watch, how often,
 * their alert paths and the operator they page (include/hvfleet/monitor.h, docs/scenarios.md).
 */
#include <stdio.h>

#include "conf/reader.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

#define SCM_MAX_PATHS 16

typedef struct scm_root {
    struct fy_node *monitors, *watch, *paths, *notice;
    int64_t interval_us, response_us, repair_us;
    uint32_t checks;
    bool heartbeat;
} scm_root;

#define R(f) offsetof(scm_root, f)
static const hvf_field_spec scm_fields[] = {
    {.name = "monitors", .type = HVF_FIELD_NODE, .offset = R(monitors), .required = true},
    {.name = "watch", .type = HVF_FIELD_NODE, .offset = R(watch)},
    {.name = "interval", .type = HVF_FIELD_DURATION, .offset = R(interval_us)},
    {.name = "checks_to_alert", .type = HVF_FIELD_UINT, .offset = R(checks), .min = 1, .max = 1000},
    {.name = "heartbeat", .type = HVF_FIELD_BOOL, .offset = R(heartbeat)},
    {.name = "alert_paths", .type = HVF_FIELD_NODE, .offset = R(paths)},
    {.name = "response", .type = HVF_FIELD_DURATION, .offset = R(response_us)},
    {.name = "repair", .type = HVF_FIELD_DURATION, .offset = R(repair_us)},
    {.name = "notice_without_alert", .type = HVF_FIELD_NODE, .offset = R(notice)},
};
#undef R

typedef struct scm_path {
    char *name, *service, *vm;
    bool external;
    int64_t delay_us;
} scm_path;

#define P(f) offsetof(scm_path, f)
static const hvf_field_spec scm_path_fields[] = {
    {.name = "name", .type = HVF_FIELD_NAME, .offset = P(name), .required = true},
    {.name = "service", .type = HVF_FIELD_NAME, .offset = P(service)},
    {.name = "vm", .type = HVF_FIELD_NAME, .offset = P(vm)},
    {.name = "external", .type = HVF_FIELD_BOOL, .offset = P(external)},
    {.name = "delay", .type = HVF_FIELD_DURATION, .offset = P(delay_us)},
};
#undef P

void
hvf_sim_monitor_opts_clear(hvf_sim_monitor_opts *o)
{
    if (!o)
        return;
    for (size_t p = 0; p < o->npaths; p++)
        free(o->paths[p].name);
    free(o->paths);
    free(o->monitors);
    free(o->watched);
    memset(o, 0, sizeof(*o));
}

static void
scm_add_monitor(hvf_reader *r, struct fy_node *node, const char *field, hvf_sim_monitor_opts *o,
                int32_t vm)
{
    for (size_t i = 0; i < o->nmonitors; i++) {
        if (o->monitors[i] == vm) {
            hvf_reader_report(r, node, field, "expected each monitor once");
            return;
        }
    }
    o->monitors = hvf_realloc(o->monitors, (o->nmonitors + 1) * sizeof(int32_t));
    o->monitors[o->nmonitors++] = vm;
}

/* "service:NAME" (every VM of the service) or a VM name. */
static void
scm_read_monitor(hvf_reader *r, struct fy_node *node, const char *field, const hvf_fleet *f,
                 hvf_sim_monitor_opts *o)
{
    HVF_AUTOFREE char *s = hvf_reader_scalar_dup(node);
    int32_t idx;

    if (!s) {
        hvf_reader_report(r, node, field, "expected a VM name or service:NAME");
        return;
    }
    if (strncmp(s, "service:", 8) == 0) {
        size_t before = o->nmonitors;
        idx = hvf_fleet_find_service(f, s + 8);
        if (idx < 0) {
            hvf_reader_report(r, node, field, "expected the name of a service in the inventory");
            return;
        }
        for (size_t v = 0; v < f->nvms; v++) {
            if (f->vms[v].service == idx)
                scm_add_monitor(r, node, field, o, (int32_t)v);
        }
        if (o->nmonitors == before)
            hvf_reader_report(r, node, field, "expected a service with at least one VM");
        return;
    }
    idx = hvf_fleet_find_vm(f, s);
    if (idx < 0) {
        hvf_reader_report(r, node, field, "expected a VM name of the inventory or service:NAME");
        return;
    }
    scm_add_monitor(r, node, field, o, idx);
}

static void
scm_read_paths(hvf_reader *r, struct fy_node *seq, const hvf_fleet *f, hvf_sim_monitor_opts *o)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[64];

    if (!seq)
        return;
    if (!fy_node_is_sequence(seq) || fy_node_sequence_item_count(seq) > SCM_MAX_PATHS) {
        hvf_reader_report(r, seq, "monitoring.alert_paths",
                          "expected a list of up to %d alert paths ({name, service | vm | "
                          "external: true, delay})",
                          SCM_MAX_PATHS);
        return;
    }
    o->paths = hvf_calloc(SCM_MAX_PATHS, sizeof(hvf_sim_alert_path));
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        scm_path in = {0};
        hvf_sim_alert_path out = {.service = -1, .vm = -1};
        size_t before = r->diags->total;

        snprintf(path, sizeof(path), "monitoring.alert_paths[%zu]", i++);
        if (hvf_reader_map(r, item, path, scm_path_fields, HVF_ARRAY_LEN(scm_path_fields), &in) ==
            0) {
            if ((in.service != NULL) + (in.vm != NULL) + in.external != 1)
                hvf_reader_report_field(r, item, path, "name",
                                        "expected exactly one of service, vm or external: true");
            if (in.service && (out.service = hvf_fleet_find_service(f, in.service)) < 0)
                hvf_reader_report_field(r, item, path, "service",
                                        "expected the name of a service in the inventory");
            if (in.vm && (out.vm = hvf_fleet_find_vm(f, in.vm)) < 0)
                hvf_reader_report_field(r, item, path, "vm",
                                        "expected the name of a VM in the inventory");
            for (size_t k = 0; k < o->npaths; k++) {
                if (strcmp(o->paths[k].name, in.name) == 0)
                    hvf_reader_report_field(r, item, path, "name",
                                            "expected a name no other alert path has");
            }
        }
        if (r->diags->total == before) {
            out.name = hvf_steal_ptr(&in.name);
            out.external = in.external;
            out.delay_us = in.delay_us;
            o->paths[o->npaths++] = out;
        }
        hvf_reader_free_fields(scm_path_fields, HVF_ARRAY_LEN(scm_path_fields), &in);
    }
}

void
sc_read_monitoring(hvf_reader *r, struct fy_node *node, hvf_scenario *sc)
{
    scm_root m = {.interval_us = 60 * HVF_US_PER_S,
                  .checks = 2,
                  .response_us = 15 * 60 * HVF_US_PER_S,
                  .repair_us = 30 * 60 * HVF_US_PER_S};
    hvf_sim_monitor_opts *o = HVF_NEW(hvf_sim_monitor_opts);
    const hvf_fleet *f = sc->fleet;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0, before = r->diags->total;
    char field[64];

    sc->monitoring = o;
    if (hvf_reader_map(r, node, "monitoring", scm_fields, HVF_ARRAY_LEN(scm_fields), &m) != 0)
        return;
    if (m.interval_us <= 0)
        hvf_reader_report_field(r, node, "monitoring", "interval", "expected a duration above 0");
    o->interval_us = m.interval_us;
    o->checks_to_alert = m.checks;
    o->heartbeat = m.heartbeat;
    o->response_us = m.response_us;
    o->repair_us = m.repair_us;
    o->notice_us = sc_duration_or_never(r, m.notice, "monitoring.notice_without_alert", -1);
    if (fy_node_is_sequence(m.monitors)) {
        while ((item = fy_node_sequence_iterate(m.monitors, &iter)) != NULL) {
            snprintf(field, sizeof(field), "monitoring.monitors[%zu]", i++);
            scm_read_monitor(r, item, field, f, o);
        }
    } else {
        scm_read_monitor(r, m.monitors, "monitoring.monitors", f, o);
    }
    if (o->nmonitors == 0 && r->diags->total == before)
        hvf_reader_report(r, m.monitors, "monitoring.monitors", "expected at least one monitor");
    if (m.watch)
        sc_read_selector(r, f, m.watch, "monitoring.watch", &o->watched, &o->nwatched);
    else
        for (size_t h = 0; h < f->nhosts; h++) {
            o->watched = hvf_realloc(o->watched, (o->nwatched + 1) * sizeof(int32_t));
            o->watched[o->nwatched++] = (int32_t)h;
        }
    scm_read_paths(r, m.paths, f, o);
}
