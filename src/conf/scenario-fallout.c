/* SPDX-License-Identifier: MIT */
/*
 * A scenario's fallout sections (telemetry:, remediation:, hv_agent:) into hvf_fallout_opts,
 * through the table-driven reader, every problem one FILE:LINE line; the remediation: section
 * is in scenario-remediation.c. docs/scenarios.md.
 */
#include <inttypes.h>

#include "conf/reader.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fallout-types.h"
#include "hvfleet/units.h"

/* ---- telemetry ---- */

typedef struct fo_tel {
    hvf_telemetry_opts o;
    struct fy_node *vms;
    char *dependency;
    int policy;
} fo_tel;

#define T(f) offsetof(fo_tel, f)
static const hvf_field_spec fo_tel_fields[] = {
    {.name = "vms", .type = HVF_FIELD_NODE, .offset = T(vms)},
    {.name = "dependency", .type = HVF_FIELD_NAME, .offset = T(dependency)},
    {.name = "rate", .type = HVF_FIELD_RATE, .offset = T(o.rate_bytes_per_s)},
    {.name = "rate_spread",
     .type = HVF_FIELD_DOUBLE,
     .offset = T(o.rate_spread),
     .min = 0,
     .max = 1.9},
    {.name = "buffer",
     .type = HVF_FIELD_ENUM,
     .offset = T(policy),
     .enum_names = hvf_buffer_policy_names},
    {.name = "buffer_max", .type = HVF_FIELD_SIZE_MIB, .offset = T(o.buffer_max_mib)},
    {.name = "spill_max", .type = HVF_FIELD_SIZE_MIB, .offset = T(o.spill_max_mib)},
    {.name = "drain", .type = HVF_FIELD_RATE, .offset = T(o.drain_bytes_per_s), .min = 1},
    {.name = "guest_used",
     .type = HVF_FIELD_DOUBLE,
     .offset = T(o.guest_used),
     .min = 0,
     .max = 0.99},
    {.name = "guest_swap", .type = HVF_FIELD_SIZE_MIB, .offset = T(o.guest_swap_mib)},
    {.name = "guest_swap_io_fraction",
     .type = HVF_FIELD_DOUBLE,
     .offset = T(o.guest_swap_io_fraction),
     .min = 0,
     .max = 10},
    {.name = "thrash_io", .type = HVF_FIELD_RATE, .offset = T(o.thrash_io_bytes_per_s)},
    {.name = "thrash_speed",
     .type = HVF_FIELD_DOUBLE,
     .offset = T(o.thrash_speed),
     .min = 0.001,
     .max = 1},
    {.name = "tick", .type = HVF_FIELD_DURATION, .offset = T(o.tick_us)},
};
#undef T

static void
fo_read_telemetry(hvf_reader *r, hvf_scenario *sc, struct fy_node *node)
{
    fo_tel t = {0};
    hvf_telemetry_opts *o = &sc->fallout->telemetry;

    hvf_telemetry_opts_default(&t.o);
    t.policy = t.o.policy;
    if (hvf_reader_map(r, node, "telemetry", fo_tel_fields, HVF_ARRAY_LEN(fo_tel_fields), &t) ==
        0) {
        t.o.policy = (hvf_buffer_policy)t.policy;
        sc_copy_name(t.o.dependency, sizeof(t.o.dependency), &t.dependency);
        if (t.o.tick_us <= 0)
            hvf_reader_report_field(r, node, "telemetry", "tick", "expected a duration above 0");
        if (t.o.policy != HVF_BUFFER_UNBOUNDED && t.o.buffer_max_mib == 0)
            hvf_reader_report_field(r, node, "telemetry", "buffer_max",
                                    "expected a size above 0 with buffer %s",
                                    hvf_buffer_policy_names[t.o.policy]);
        if (t.o.policy == HVF_BUFFER_SPILL && t.o.spill_max_mib == 0)
            hvf_reader_report_field(r, node, "telemetry", "spill_max",
                                    "expected a size above 0 with buffer spill");
        *o = t.o;
        o->vms = NULL;
        o->nvms = 0;
        sc_read_vm_selection(r, sc->fleet, t.vms, "telemetry.vms", &o->vms, &o->nvms);
        sc->fallout->has_telemetry = true;
    }
    hvf_reader_free_fields(fo_tel_fields, HVF_ARRAY_LEN(fo_tel_fields), &t);
}

/* ---- hv_agent ---- */

typedef struct fo_agent {
    hvf_hvagent_opts o;
    int model, overflow;
    struct fy_node *hosts, *burst, *op;
} fo_agent;

#define A(f) offsetof(fo_agent, f)
static const hvf_field_spec fo_agent_fields[] = {
    {.name = "model",
     .type = HVF_FIELD_ENUM,
     .offset = A(model),
     .required = true,
     .enum_names = hvf_hvagent_model_names},
    {.name = "hosts", .type = HVF_FIELD_NODE, .offset = A(hosts)},
    {.name = "start", .type = HVF_FIELD_DURATION, .offset = A(o.start_us)},
    {.name = "notifications_per_min",
     .type = HVF_FIELD_DOUBLE,
     .offset = A(o.notifications_per_min),
     .max = 1e6},
    {.name = "burst", .type = HVF_FIELD_NODE, .offset = A(burst)},
    {.name = "proxy_leaks", .type = HVF_FIELD_BOOL, .offset = A(o.proxy_leaks)},
    {.name = "process_threads",
     .type = HVF_FIELD_UINT,
     .offset = A(o.process_threads),
     .min = 1,
     .max = 10000},
    {.name = "handle_time", .type = HVF_FIELD_DURATION, .offset = A(o.handle_time_us)},
    {.name = "threads_max",
     .type = HVF_FIELD_UINT,
     .offset = A(o.threads_max),
     .min = 1,
     .max = 4194304},
    {.name = "base_threads", .type = HVF_FIELD_UINT, .offset = A(o.base_threads), .max = 4194304},
    {.name = "qemu_threads", .type = HVF_FIELD_UINT, .offset = A(o.qemu_threads), .max = 10000},
    {.name = "qemu_spawns_per_min",
     .type = HVF_FIELD_DOUBLE,
     .offset = A(o.qemu_spawns_per_min),
     .max = 1e6},
    {.name = "workers", .type = HVF_FIELD_UINT, .offset = A(o.workers), .min = 1, .max = 1024},
    {.name = "queue_max",
     .type = HVF_FIELD_UINT,
     .offset = A(o.queue_max),
     .min = 1,
     .max = 10000000},
    {.name = "overflow",
     .type = HVF_FIELD_ENUM,
     .offset = A(overflow),
     .enum_names = hvf_overflow_names},
    {.name = "tick", .type = HVF_FIELD_DURATION, .offset = A(o.tick_us)},
    {.name = "operator", .type = HVF_FIELD_NODE, .offset = A(op)},
};
#undef A

typedef struct fo_burst {
    int64_t at_us, duration_us;
    double per_min;
} fo_burst;

static const hvf_field_spec fo_burst_fields[] = {
    {.name = "at",
     .type = HVF_FIELD_DURATION,
     .offset = offsetof(fo_burst, at_us),
     .required = true},
    {.name = "duration",
     .type = HVF_FIELD_DURATION,
     .offset = offsetof(fo_burst, duration_us),
     .required = true},
    {.name = "per_min",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(fo_burst, per_min),
     .required = true,
     .max = 1e6},
};

typedef struct fo_agentop {
    uint32_t crashes;
    int64_t alert_us, diagnose_us, decide_us, revert_us, confirm_us;
} fo_agentop;

#define O(f) offsetof(fo_agentop, f)
static const hvf_field_spec fo_agentop_fields[] = {
    {.name = "alert_after_crashes", .type = HVF_FIELD_UINT, .offset = O(crashes), .max = 1000000},
    {.name = "alert_delay", .type = HVF_FIELD_DURATION, .offset = O(alert_us)},
    {.name = "diagnose_after", .type = HVF_FIELD_DURATION, .offset = O(diagnose_us)},
    {.name = "decide_after", .type = HVF_FIELD_DURATION, .offset = O(decide_us)},
    {.name = "revert_duration", .type = HVF_FIELD_DURATION, .offset = O(revert_us)},
    {.name = "confirm_after", .type = HVF_FIELD_DURATION, .offset = O(confirm_us)},
};
#undef O

static void
fo_read_agent_parts(hvf_reader *r, hvf_scenario *sc, fo_agent *t, hvf_hvagent_opts *o)
{
    if (t->burst) {
        fo_burst b = {0};
        if (hvf_reader_map(r, t->burst, "hv_agent.burst", fo_burst_fields,
                           HVF_ARRAY_LEN(fo_burst_fields), &b) == 0) {
            o->burst_at_us = b.at_us;
            o->burst_duration_us = b.duration_us;
            o->burst_per_min = b.per_min;
            if (b.at_us >= sc->params.duration_us)
                hvf_reader_report_field(r, t->burst, "hv_agent.burst", "at",
                                        "expected a time within the scenario's duration");
        }
    }
    if (t->op) {
        fo_agentop d = {o->alert_after_crashes, o->alert_delay_us,     o->diagnose_after_us,
                        o->decide_after_us,     o->revert_duration_us, o->confirm_after_us};
        if (hvf_reader_map(r, t->op, "hv_agent.operator", fo_agentop_fields,
                           HVF_ARRAY_LEN(fo_agentop_fields), &d) == 0) {
            o->alert_after_crashes = d.crashes;
            o->alert_delay_us = d.alert_us;
            o->diagnose_after_us = d.diagnose_us;
            o->decide_after_us = d.decide_us;
            o->revert_duration_us = d.revert_us;
            o->confirm_after_us = d.confirm_us;
        }
    }
}

static void
fo_read_agent(hvf_reader *r, hvf_scenario *sc, struct fy_node *node)
{
    fo_agent t = {0};
    hvf_hvagent_opts *o = &sc->fallout->hv_agent;

    hvf_hvagent_opts_default(&t.o);
    t.overflow = t.o.overflow;
    if (hvf_reader_map(r, node, "hv_agent", fo_agent_fields, HVF_ARRAY_LEN(fo_agent_fields), &t) ==
        0) {
        *o = t.o;
        o->model = (hvf_hvagent_model)t.model;
        o->overflow = (hvf_overflow)t.overflow;
        if (o->tick_us <= 0)
            hvf_reader_report_field(r, node, "hv_agent", "tick", "expected a duration above 0");
        if (o->handle_time_us <= 0)
            hvf_reader_report_field(r, node, "hv_agent", "handle_time",
                                    "expected a duration above 0");
        if (o->start_us >= sc->params.duration_us)
            hvf_reader_report_field(r, node, "hv_agent", "start",
                                    "expected a time within the scenario's duration");
        if (o->model == HVF_HVAGENT_PER_NOTIFICATION &&
            (fy_node_mapping_lookup_by_string(node, "workers", FY_NT) ||
             fy_node_mapping_lookup_by_string(node, "queue_max", FY_NT) ||
             fy_node_mapping_lookup_by_string(node, "overflow", FY_NT)))
            hvf_reader_report_field(r, node, "hv_agent", "model",
                                    "expected pooled with workers, queue_max or overflow");
        o->hosts = NULL;
        o->nhosts = 0;
        if (t.hosts)
            sc_read_selector(r, sc->fleet, t.hosts, "hv_agent.hosts", &o->hosts, &o->nhosts);
        fo_read_agent_parts(r, sc, &t, o);
        sc->fallout->has_hv_agent = true;
    }
    hvf_reader_free_fields(fo_agent_fields, HVF_ARRAY_LEN(fo_agent_fields), &t);
}

void
sc_read_fallout(hvf_reader *r, hvf_scenario *sc, struct fy_node *telemetry,
                struct fy_node *remediation, struct fy_node *hv_agent)
{
    if (!telemetry && !remediation && !hv_agent)
        return;
    sc->fallout = HVF_NEW(hvf_fallout_opts);
    if (telemetry)
        fo_read_telemetry(r, sc, telemetry);
    if (remediation)
        sc_read_remediation(r, sc, remediation);
    if (hv_agent)
        fo_read_agent(r, sc, hv_agent);
}
