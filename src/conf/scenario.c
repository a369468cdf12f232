/* SPDX-License-Identifier: MIT */
/* Scenario files: YAML/JSON -> inventory, simulator parameters, faults and a maintenance plan. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>

#include "conf/inventory-priv.h"
#include "conf/reader.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fallout-types.h"
#include "hvfleet/inventory.h"
#include "hvfleet/scenario.h"
#include "hvfleet/units.h"

typedef struct sc_root {
    char *schema, *name, *seed;
    struct fy_node *inventory, *params, *overrides, *faults, *maintenance;
    struct fy_node *monitoring;
    struct fy_node *services, *changes;
    struct fy_node *telemetry, *remediation, *hv_agent;
    int64_t duration_us, metrics_us;
    bool has_metrics;
} sc_root;

static const hvf_field_spec sc_root_fields[] = {
    {.name = "schema", .type = HVF_FIELD_STRING, .offset = offsetof(sc_root, schema)},
    {.name = "name", .type = HVF_FIELD_NAME, .offset = offsetof(sc_root, name), .required = true},
    {.name = "inventory",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(sc_root, inventory),
     .required = true},
    {.name = "duration",
     .type = HVF_FIELD_DURATION,
     .offset = offsetof(sc_root, duration_us),
     .required = true},
    {.name = "seed", .type = HVF_FIELD_STRING, .offset = offsetof(sc_root, seed)},
    {.name = "metrics_interval",
     .type = HVF_FIELD_DURATION,
     .offset = offsetof(sc_root, metrics_us),
     .present = offsetof(sc_root, has_metrics) + 1},
    {.name = "params", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, params)},
    {.name = "host_overrides", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, overrides)},
    {.name = "faults", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, faults)},
    {.name = "maintenance", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, maintenance)},
    {.name = "monitoring", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, monitoring)},
    {.name = "services", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, services)},
    {.name = "changes", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, changes)},
    {.name = "telemetry", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, telemetry)},
    {.name = "remediation", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, remediation)},
    {.name = "hv_agent", .type = HVF_FIELD_NODE, .offset = offsetof(sc_root, hv_agent)},
};

static const char *const sc_strategy_names[] = {"default", "precopy", "auto-converge", "post-copy",
                                                NULL};

#define P(f) offsetof(hvf_sim_params, f)
static const hvf_field_spec sc_param_fields[] = {
    {.name = "swap", .type = HVF_FIELD_SIZE_MIB, .offset = P(host.swap_mib)},
    {.name = "disk_io", .type = HVF_FIELD_RATE, .offset = P(host.disk_io_bytes_per_s), .min = 1},
    {.name = "hung_task_panic", .type = HVF_FIELD_BOOL, .offset = P(host.hung_task_panic)},
    {.name = "oom", .type = HVF_FIELD_ENUM, .offset = P(host.oom), .enum_names = hvf_sim_oom_names},
    {.name = "hung_task_timeout", .type = HVF_FIELD_DURATION, .offset = P(hung_task_timeout_us)},
    {.name = "swap_io_fraction",
     .type = HVF_FIELD_DOUBLE,
     .offset = P(swap_io_fraction),
     .min = 0.0001,
     .max = 10},
    {.name = "pressure_tick", .type = HVF_FIELD_DURATION, .offset = P(pressure_tick_us)},
    {.name = "migration_cpu",
     .type = HVF_FIELD_DOUBLE,
     .offset = P(migration_cpu_cores),
     .min = 0,
     .max = 64},
    {.name = "migration_nic_share",
     .type = HVF_FIELD_DOUBLE,
     .offset = P(migration_nic_share),
     .min = 0.01,
     .max = 1},
    {.name = "rack_uplink", .type = HVF_FIELD_RATE, .offset = P(rack_uplink_bytes_per_s)},
    {.name = "zone_core", .type = HVF_FIELD_RATE, .offset = P(zone_core_bytes_per_s)},
    {.name = "migration_bandwidth", .type = HVF_FIELD_RATE, .offset = P(migration_max_bytes_per_s)},
    {.name = "migration_setup_min",
     .type = HVF_FIELD_DURATION,
     .offset = P(migration_setup_min_us)},
    {.name = "migration_setup_max",
     .type = HVF_FIELD_DURATION,
     .offset = P(migration_setup_max_us)},
    {.name = "downtime_limit", .type = HVF_FIELD_DURATION, .offset = P(downtime_limit_us)},
    {.name = "zero_pages",
     .type = HVF_FIELD_DOUBLE,
     .offset = P(zero_page_fraction),
     .min = 0,
     .max = 0.99},
    {.name = "strategy",
     .type = HVF_FIELD_ENUM,
     .offset = P(strategy),
     .enum_names = sc_strategy_names},
    {.name = "completion_timeout_per_gib",
     .type = HVF_FIELD_DOUBLE,
     .offset = P(completion_timeout_s_per_gib),
     .min = 0,
     .max = 1e6},
    {.name = "restart_delay", .type = HVF_FIELD_DURATION, .offset = P(vm_restart_delay_us)},
    {.name = "host_reboot", .type = HVF_FIELD_DURATION, .offset = P(host_reboot_us)},
    {.name = "restart_same_host", .type = HVF_FIELD_BOOL, .offset = P(vm_restart_same_host)},
};
#undef P

typedef struct sc_override {
    struct fy_node *hosts;
    hvf_sim_host_params p;
} sc_override;

#define O(f) offsetof(sc_override, f)
static const hvf_field_spec sc_override_fields[] = {
    {.name = "hosts", .type = HVF_FIELD_NODE, .offset = O(hosts), .required = true},
    {.name = "swap", .type = HVF_FIELD_SIZE_MIB, .offset = O(p.swap_mib)},
    {.name = "disk_io", .type = HVF_FIELD_RATE, .offset = O(p.disk_io_bytes_per_s), .min = 1},
    {.name = "hung_task_panic", .type = HVF_FIELD_BOOL, .offset = O(p.hung_task_panic)},
    {.name = "oom", .type = HVF_FIELD_ENUM, .offset = O(p.oom), .enum_names = hvf_sim_oom_names},
};
#undef O

typedef struct sc_fault {
    int64_t at_us;
    int type, dir;
    char *host, *rack, *vm, *service;
    struct fy_node *duration, *fixed_after, *until;
    bool renamed_nics, has_bw, has_rate;
    double bw, rate;
} sc_fault;

#define F(f) offsetof(sc_fault, f)
static const hvf_field_spec sc_fault_fields[] = {
    {.name = "at", .type = HVF_FIELD_DURATION, .offset = F(at_us), .required = true},
    {.name = "type",
     .type = HVF_FIELD_ENUM,
     .offset = F(type),
     .required = true,
     .enum_names = hvf_sim_fault_names},
    {.name = "host", .type = HVF_FIELD_NAME, .offset = F(host)},
    {.name = "rack", .type = HVF_FIELD_STRING, .offset = F(rack)}, /* ZONE/RACK or RACK */
    {.name = "vm", .type = HVF_FIELD_NAME, .offset = F(vm)},
    {.name = "duration", .type = HVF_FIELD_NODE, .offset = F(duration)},
    {.name = "renamed_nics", .type = HVF_FIELD_BOOL, .offset = F(renamed_nics)},
    {.name = "fixed_after", .type = HVF_FIELD_NODE, .offset = F(fixed_after)},
    {.name = "bandwidth", .type = HVF_FIELD_RATE, .offset = F(bw), .present = F(has_bw) + 1},
    {.name = "rate", .type = HVF_FIELD_RATE, .offset = F(rate), .present = F(has_rate) + 1},
    {.name = "direction",
     .type = HVF_FIELD_ENUM,
     .offset = F(dir),
     .enum_names = hvf_sim_dir_names},
    {.name = "service", .type = HVF_FIELD_NAME, .offset = F(service)},
    {.name = "until", .type = HVF_FIELD_NODE, .offset = F(until)},
};
#undef F

static int32_t
sc_find(hvf_reader *r, struct fy_node *item, const char *path, const char *key, const char *name,
        int32_t idx, const char *what)
{
    if (name && idx < 0)
        hvf_reader_report_field(r, item, path, key, "expected the name of a %s in the inventory",
                                what);
    return idx;
}

/* service_down: a shared dependency by name, down until `until` (a time of the run) or for
 * `duration`, for good when neither is given. */
static void
sc_read_service_fault(hvf_reader *r, struct fy_node *item, const char *path, const sc_fault *in,
                      hvf_sim_fault *f)
{
    int64_t until;

    if (f->type != HVF_SIM_FAULT_SERVICE_DOWN) {
        if (in->service || in->until)
            hvf_reader_report_field(r, item, path, in->service ? "service" : "until",
                                    "expected only with type service_down");
        return;
    }
    if (!in->service) {
        hvf_reader_report_field(r, item, path, "service",
                                "expected the shared dependency that stops serving, e.g. bus");
        return;
    }
    hvf_strlcpy(f->service, in->service, sizeof(f->service));
    f->duration_us = sc_duration_or_never(r, in->duration, "duration", -1);
    if (in->until && in->duration) {
        hvf_reader_report_field(r, item, path, "until", "expected until or duration, not both");
        return;
    }
    until = sc_duration_or_never(r, in->until, "until", -2);
    if (until == -2)
        return;
    if (until >= 0 && until <= f->at_us)
        hvf_reader_report_field(r, item, path, "until", "expected a time after 'at'");
    f->duration_us = until < 0 ? -1 : until - f->at_us;
}

static void
sc_read_faults(hvf_reader *r, struct fy_node *seq, hvf_scenario *sc)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!hvf_reader_expect_seq(r, seq, "faults"))
        return;
    while (seq && (item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        sc_fault in = {.dir = HVF_SIM_DIR_BOTH};
        hvf_sim_fault f = {.host = -1, .rack = -1, .vm = -1};
        size_t before = r->diags->total;
        const hvf_fleet *fl = sc->fleet;

        snprintf(path, sizeof(path), "faults[%zu]", i++);
        if (hvf_reader_map(r, item, path, sc_fault_fields, HVF_ARRAY_LEN(sc_fault_fields), &in) ==
            0) {
            f.type = (hvf_sim_fault_type)in.type;
            f.at_us = in.at_us;
            f.host = sc_find(r, item, path, "host", in.host,
                             in.host ? hvf_fleet_find_host(fl, in.host) : -1, "host");
            f.vm = sc_find(r, item, path, "vm", in.vm, in.vm ? hvf_fleet_find_vm(fl, in.vm) : -1,
                           "VM");
            if (in.rack) {
                /* racks are per zone: ZONE/RACK, or a rack name only one zone has */
                hvf_error rerr = HVF_ERROR_INIT;
                HVF_AUTOFREE char *term = hvf_asprintf("rack:%s", in.rack);
                f.rack = hvf_scenario_find_rack(fl, in.rack, &rerr);
                if (f.rack < 0)
                    hvf_reader_report_field(r, item, path, "rack", "%s",
                                            hvf_scenario_selector_msg(term, rerr.msg));
            }
            f.renamed_nics = in.renamed_nics;
            f.dir = (hvf_sim_dir)in.dir;
            f.bytes_per_s = f.type == HVF_SIM_FAULT_DIRTY_RATE ? in.rate : in.bw;
            f.duration_us = sc_duration_or_never(
                r, in.duration, "duration",
                f.type == HVF_SIM_FAULT_LINK_DROP ? -1 : sc->params.host_reboot_us);
            f.fixed_after_us = sc_duration_or_never(r, in.fixed_after, "fixed_after", -1);
            if (f.at_us >= sc->params.duration_us)
                hvf_reader_report_field(r, item, path, "at",
                                        "expected a time within the scenario's duration");
            if ((f.type == HVF_SIM_FAULT_HOST_CRASH || f.type == HVF_SIM_FAULT_HOST_REBOOT) &&
                !in.host)
                hvf_reader_report_field(r, item, path, "host", "expected the host to %s",
                                        f.type == HVF_SIM_FAULT_HOST_CRASH ? "crash" : "reboot");
            if (f.type == HVF_SIM_FAULT_LINK_DROP && !in.host == !in.rack)
                hvf_reader_report_field(r, item, path, "host",
                                        "expected a host (its NIC) or a rack (its uplink)");
            if (f.type == HVF_SIM_FAULT_LINK_DROP && !in.has_bw)
                hvf_reader_report_field(r, item, path, "bandwidth",
                                        "expected the link's new bandwidth, e.g. 100Mbit");
            if (f.type == HVF_SIM_FAULT_LINK_DROP && in.rack && f.rack >= 0 &&
                sc->params.rack_uplink_bytes_per_s <= 0)
                hvf_reader_report_field(r, item, path, "rack",
                                        "expected params.rack_uplink to be set (uplinks are not "
                                        "modelled without it)");
            if (f.type == HVF_SIM_FAULT_DIRTY_RATE && (!in.vm || !in.has_rate))
                hvf_reader_report_field(r, item, path, in.vm ? "rate" : "vm",
                                        "expected a vm and its new dirty rate");
            if (in.renamed_nics && f.type != HVF_SIM_FAULT_HOST_REBOOT)
                hvf_reader_report_field(r, item, path, "renamed_nics",
                                        "expected only with type host_reboot");
            sc_read_service_fault(r, item, path, &in, &f);
        }
        if (r->diags->total == before) {
            sc->faults = hvf_realloc(sc->faults, (sc->nfaults + 1) * sizeof(hvf_sim_fault));
            sc->faults[sc->nfaults++] = f;
        }
        hvf_reader_free_fields(sc_fault_fields, HVF_ARRAY_LEN(sc_fault_fields), &in);
    }
}

static void
sc_read_overrides(hvf_reader *r, struct fy_node *seq, hvf_scenario *sc)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48], field[64];

    if (!hvf_reader_expect_seq(r, seq, "host_overrides"))
        return;
    while (seq && (item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        sc_override o = {.p = sc->params.host};
        hvf_sim_host_override *dst;

        snprintf(path, sizeof(path), "host_overrides[%zu]", i++);
        if (hvf_reader_map(r, item, path, sc_override_fields, HVF_ARRAY_LEN(sc_override_fields),
                           &o) != 0)
            continue;
        sc->overrides =
            hvf_realloc(sc->overrides, (sc->noverrides + 1) * sizeof(hvf_sim_host_override));
        dst = &sc->overrides[sc->noverrides++];
        memset(dst, 0, sizeof(*dst));
        dst->p = o.p;
        snprintf(field, sizeof(field), "%s.hosts", path);
        sc_read_selector(r, sc->fleet, o.hosts, field, &dst->hosts, &dst->nhosts);
    }
}

static hvf_fleet *
sc_read_inventory(hvf_reader *r, struct fy_node *node, const char *base_dir, hvf_error *err)
{
    HVF_AUTOFREE char *rel = NULL;
    HVF_AUTOFREE char *path = NULL;
    hvf_error ierr = HVF_ERROR_INIT;
    hvf_fleet *f;

    if (node && fy_node_is_mapping(node))
        return hvf_inventory_read_node(r, node, err);
    rel = hvf_reader_scalar_dup(node);
    if (!rel || !*rel) {
        hvf_reader_report(r, node, "inventory", "expected a file name or an inline inventory");
        return NULL;
    }
    path = rel[0] == '/' || !base_dir ? hvf_strdup(rel) : hvf_asprintf("%s/%s", base_dir, rel);
    f = hvf_inventory_load(path, r->diags, &ierr);
    if (!f && ierr.code == HVF_ERR_IO)
        hvf_reader_report(r, node, "inventory", "%s", ierr.msg);
    return f;
}

/* Bounds the run's work before anything runs (hvf_sim_params_check_work); a run too long for
 * the default metrics_interval is the duration's fault. */
static void
sc_check_work(hvf_reader *r, struct fy_node *top, const sc_root *root, const hvf_scenario *sc)
{
    hvf_error err = HVF_ERROR_INIT;
    const char *field = "duration";

    if (root->duration_us <= 0 || (root->has_metrics && root->metrics_us <= 0))
        return;
    if (hvf_sim_params_check_work(&sc->params, sc->fleet ? sc->fleet->nhosts : 0, &field,
                                  &err) == 0)
        return;
    if (!root->has_metrics)
        field = "duration";
    hvf_reader_report_field(r, top, "", field, "%s", err.msg);
}

static hvf_scenario *
sc_read(hvf_reader *r, const char *base_dir, hvf_error *err)
{
    sc_root root = {0};
    hvf_scenario *sc = HVF_NEW(hvf_scenario);
    struct fy_node *top = hvf_reader_root(r);
    size_t before = r->diags->total;
    hvf_error ierr = HVF_ERROR_INIT;

    hvf_sim_params_default(&sc->params);
    hvf_reader_map(r, top, "", sc_root_fields, HVF_ARRAY_LEN(sc_root_fields), &root);
    if (root.schema && strcmp(root.schema, HVF_SCENARIO_SCHEMA) != 0)
        hvf_reader_report_field(r, top, "", "schema", "expected '" HVF_SCENARIO_SCHEMA "'");
    sc->name = hvf_strdup(root.name ? root.name : "scenario");
    if (root.duration_us <= 0 && root.inventory)
        hvf_reader_report_field(r, top, "", "duration", "expected a duration above 0");
    sc->params.duration_us = root.duration_us;
    if (root.has_metrics) {
        if (root.metrics_us <= 0)
            hvf_reader_report_field(r, top, "", "metrics_interval", "expected a duration above 0");
        sc->params.metrics_interval_us = root.metrics_us;
    }
    if (root.seed) {
        char *end = NULL;
        errno = 0;
        sc->params.seed = strtoull(root.seed, &end, 10);
        if (!isdigit((unsigned char)root.seed[0]) || errno || *end)
            hvf_reader_report_field(r, top, "", "seed", "expected a whole number (64 bits)");
    }
    if (root.params &&
        hvf_reader_map(r, root.params, "params", sc_param_fields, HVF_ARRAY_LEN(sc_param_fields),
                       &sc->params) == 0 &&
        sc->params.migration_setup_min_us > sc->params.migration_setup_max_us)
        hvf_reader_report_field(r, root.params, "params", "migration_setup_max",
                                "expected at least migration_setup_min");
    if (root.inventory)
        sc->fleet = sc_read_inventory(r, root.inventory, base_dir, &ierr);
    sc_check_work(r, top, &root, sc);
    if (sc->fleet) {
        sc_read_overrides(r, root.overrides, sc);
        sc_read_faults(r, root.faults, sc);
        if (root.maintenance)
            sc_read_maintenance(r, root.maintenance, base_dir, sc);
        if (root.monitoring)
            sc_read_monitoring(r, root.monitoring, sc);
        hvf_scenario_read_changes(r, root.services, root.changes, base_dir, sc);
        sc_read_fallout(r, sc, root.telemetry, root.remediation, root.hv_agent);
    }
    hvf_reader_free_fields(sc_root_fields, HVF_ARRAY_LEN(sc_root_fields), &root);
    if (r->diags->total > before || !sc->fleet) {
        hvf_scenario_free(sc);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' has %zu problem%s", r->file,
                      r->diags->total - before, r->diags->total - before == 1 ? "" : "s");
        return NULL;
    }
    return sc;
}

hvf_scenario *
hvf_scenario_parse(const char *name, const char *buf, size_t len, const char *base_dir,
                   hvf_diags *diags, hvf_error *err)
{
    hvf_reader r;
    hvf_scenario *sc;

    if (hvf_reader_open_buffer(&r, name, buf, len, diags, err) < 0)
        return NULL;
    sc = sc_read(&r, base_dir, err);
    hvf_reader_close(&r);
    return sc;
}

hvf_scenario *
hvf_scenario_load(const char *path, hvf_diags *diags, hvf_error *err)
{
    HVF_AUTOFREE char *copy = hvf_strdup(path);
    hvf_reader r;
    hvf_scenario *sc;

    if (hvf_reader_open_file(&r, path, diags, err) < 0)
        return NULL;
    sc = sc_read(&r, dirname(copy), err);
    hvf_reader_close(&r);
    return sc;
}

void
hvf_scenario_free(hvf_scenario *sc)
{
    if (!sc)
        return;
    free(sc->name);
    hvf_fleet_free(sc->fleet);
    for (size_t i = 0; i < sc->noverrides; i++)
        free(sc->overrides[i].hosts);
    free(sc->overrides);
    free(sc->faults);
    free(sc->naive.hosts);
    free(sc->naive.at_us);
    hvf_sim_monitor_opts_clear(sc->monitoring);
    free(sc->monitoring);
    for (size_t i = 0; i < sc->nsvcs; i++)
        hvf_sim_svc_spec_clear(&sc->svcs[i]);
    free(sc->svcs);
    for (size_t i = 0; i < sc->nchanges; i++)
        hvf_sim_change_run_clear(&sc->changes[i]);
    free(sc->changes);
    hvf_fallout_opts_clear(sc->fallout);
    free(sc->fallout);
    free(sc);
}
