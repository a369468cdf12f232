/* SPDX-License-Identifier: MIT */
/*
 * A scenario's remediation: section (monitoring, the orchestrator, correlation, the action
 * queue, operators) into hvf_remediation_opts. docs/scenarios.md.
 */
#include <inttypes.h>

#include "conf/reader.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fallout-types.h"
#include "hvfleet/units.h"

/* ---- remediation ---- */

typedef struct fo_rem {
    hvf_remediation_opts o;
    int mode;
    struct fy_node *vms, *dependents, *orchestrator, *correlation, *queue, *op;
    bool has_reconcile;
} fo_rem;

#define R(f) offsetof(fo_rem, f)
static const hvf_field_spec fo_rem_fields[] = {
    {.name = "mode",
     .type = HVF_FIELD_ENUM,
     .offset = R(mode),
     .required = true,
     .enum_names = hvf_remediation_mode_names},
    {.name = "vms", .type = HVF_FIELD_NODE, .offset = R(vms)},
    {.name = "check_interval", .type = HVF_FIELD_DURATION, .offset = R(o.check_interval_us)},
    {.name = "unreachable_after",
     .type = HVF_FIELD_UINT,
     .offset = R(o.unreachable_after),
     .min = 1,
     .max = 1000},
    {.name = "renotify", .type = HVF_FIELD_DURATION, .offset = R(o.renotify_us)},
    {.name = "slow_speed", .type = HVF_FIELD_DOUBLE, .offset = R(o.slow_speed), .max = 1},
    {.name = "upscale_speed", .type = HVF_FIELD_DOUBLE, .offset = R(o.upscale_speed), .max = 1},
    {.name = "alert_delay", .type = HVF_FIELD_DURATION, .offset = R(o.alert_delay_us)},
    {.name = "dependents", .type = HVF_FIELD_NODE, .offset = R(dependents)},
    {.name = "orchestrator", .type = HVF_FIELD_NODE, .offset = R(orchestrator)},
    {.name = "correlation", .type = HVF_FIELD_NODE, .offset = R(correlation)},
    {.name = "queue", .type = HVF_FIELD_NODE, .offset = R(queue)},
    {.name = "reconcile",
     .type = HVF_FIELD_BOOL,
     .offset = R(o.reconcile),
     .present = R(has_reconcile) + 1},
    {.name = "operator", .type = HVF_FIELD_NODE, .offset = R(op)},
};
#undef R

typedef struct fo_dependents {
    struct fy_node *vms;
    char *on;
    bool need_restart;
} fo_dependents;

static const hvf_field_spec fo_dependents_fields[] = {
    {.name = "vms",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(fo_dependents, vms),
     .required = true},
    {.name = "on", .type = HVF_FIELD_NAME, .offset = offsetof(fo_dependents, on), .required = true},
    {.name = "need_restart",
     .type = HVF_FIELD_BOOL,
     .offset = offsetof(fo_dependents, need_restart)},
};

typedef struct fo_orch {
    char *on;
    double per_min, cpu, io;
    int64_t deploy_us;
} fo_orch;

static const hvf_field_spec fo_orch_fields[] = {
    {.name = "on", .type = HVF_FIELD_NAME, .offset = offsetof(fo_orch, on)},
    {.name = "deploys_per_min",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(fo_orch, per_min),
     .min = 0.001,
     .max = 1e6},
    {.name = "deploy_time", .type = HVF_FIELD_DURATION, .offset = offsetof(fo_orch, deploy_us)},
    {.name = "deploy_cpu",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(fo_orch, cpu),
     .min = 0,
     .max = 1024},
    {.name = "deploy_io", .type = HVF_FIELD_RATE, .offset = offsetof(fo_orch, io)},
};

typedef struct fo_corr {
    double share;
    char **deps;
    size_t ndeps;
    int64_t clear_us;
} fo_corr;

static const hvf_field_spec fo_corr_fields[] = {
    {.name = "fleet_share", .type = HVF_FIELD_DOUBLE, .offset = offsetof(fo_corr, share), .max = 1},
    {.name = "dependencies",
     .type = HVF_FIELD_STRLIST,
     .offset = offsetof(fo_corr, deps),
     .offset2 = offsetof(fo_corr, ndeps)},
    {.name = "clear_after", .type = HVF_FIELD_DURATION, .offset = offsetof(fo_corr, clear_us)},
};

typedef struct fo_queue {
    double redeploy, upscale;
    uint32_t burst, max;
    int64_t cooldown_us;
} fo_queue;

static const hvf_field_spec fo_queue_fields[] = {
    {.name = "redeploy_per_min",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(fo_queue, redeploy),
     .max = 1e6},
    {.name = "redeploy_burst",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(fo_queue, burst),
     .min = 1,
     .max = 1000000},
    {.name = "upscale_per_min",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(fo_queue, upscale),
     .max = 1e6},
    {.name = "cooldown", .type = HVF_FIELD_DURATION, .offset = offsetof(fo_queue, cooldown_us)},
    {.name = "max", .type = HVF_FIELD_UINT, .offset = offsetof(fo_queue, max), .max = 100000000},
};

typedef struct fo_remop {
    struct fy_node *pause, *zombies;
} fo_remop;

static const hvf_field_spec fo_remop_fields[] = {
    {.name = "pause_after", .type = HVF_FIELD_NODE, .offset = offsetof(fo_remop, pause)},
    {.name = "zombies_after", .type = HVF_FIELD_NODE, .offset = offsetof(fo_remop, zombies)},
};

static void
fo_read_rem_parts(hvf_reader *r, hvf_scenario *sc, struct fy_node *node, fo_rem *t,
                  hvf_remediation_opts *o)
{
    bool corr = o->mode == HVF_REMEDIATION_CORRELATED;

    if (t->dependents) {
        fo_dependents d = {0};
        if (hvf_reader_map(r, t->dependents, "remediation.dependents", fo_dependents_fields,
                           HVF_ARRAY_LEN(fo_dependents_fields), &d) == 0) {
            sc_copy_name(o->dependents_on, sizeof(o->dependents_on), &d.on);
            o->dependents_need_restart = d.need_restart;
            sc_read_vm_selection(r, sc->fleet, d.vms, "remediation.dependents.vms", &o->dependents,
                                 &o->ndependents);
        }
        hvf_reader_free_fields(fo_dependents_fields, HVF_ARRAY_LEN(fo_dependents_fields), &d);
    }
    if (t->orchestrator) {
        fo_orch d = {.per_min = o->deploys_per_min,
                     .cpu = o->deploy_cpu_cores,
                     .io = o->deploy_io_bytes_per_s,
                     .deploy_us = o->deploy_time_us};
        if (hvf_reader_map(r, t->orchestrator, "remediation.orchestrator", fo_orch_fields,
                           HVF_ARRAY_LEN(fo_orch_fields), &d) == 0) {
            sc_copy_name(o->orchestrator_on, sizeof(o->orchestrator_on), &d.on);
            o->deploys_per_min = d.per_min;
            o->deploy_cpu_cores = d.cpu;
            o->deploy_io_bytes_per_s = d.io;
            o->deploy_time_us = d.deploy_us;
        }
        hvf_reader_free_fields(fo_orch_fields, HVF_ARRAY_LEN(fo_orch_fields), &d);
    }
    if (t->correlation && !corr)
        hvf_reader_report(r, t->correlation, "remediation.correlation",
                          "expected only with mode: correlated");
    if (t->queue && !corr)
        hvf_reader_report(r, t->queue, "remediation.queue", "expected only with mode: correlated");
    if (t->has_reconcile && !corr)
        hvf_reader_report_field(r, node, "remediation", "reconcile",
                                "expected only with mode: correlated");
    if (t->op && corr)
        hvf_reader_report(r, t->op, "remediation.operator", "expected only with mode: per_vm");
    if (t->correlation && corr) {
        fo_corr d = {.share = o->fleet_share, .clear_us = o->clear_after_us};
        if (hvf_reader_map(r, t->correlation, "remediation.correlation", fo_corr_fields,
                           HVF_ARRAY_LEN(fo_corr_fields), &d) == 0) {
            o->fleet_share = d.share;
            o->clear_after_us = d.clear_us;
            o->correlate_on = d.deps;
            o->ncorrelate_on = d.ndeps;
            d.deps = NULL;
            d.ndeps = 0;
            for (size_t i = 0; i < o->ncorrelate_on; i++) {
                if (!hvf_name_is_valid(o->correlate_on[i]))
                    hvf_reader_report(r, t->correlation, "remediation.correlation.dependencies",
                                      "expected names of 1 to 63 characters of A-Z a-z 0-9 . _ -");
            }
        }
        hvf_reader_free_fields(fo_corr_fields, HVF_ARRAY_LEN(fo_corr_fields), &d);
    }
    if (t->queue && corr) {
        fo_queue d = {.redeploy = o->redeploy_per_min,
                      .upscale = o->upscale_per_min,
                      .burst = o->redeploy_burst,
                      .max = o->queue_max,
                      .cooldown_us = o->cooldown_us};
        if (hvf_reader_map(r, t->queue, "remediation.queue", fo_queue_fields,
                           HVF_ARRAY_LEN(fo_queue_fields), &d) == 0) {
            o->redeploy_per_min = d.redeploy;
            o->upscale_per_min = d.upscale;
            o->redeploy_burst = d.burst;
            o->queue_max = d.max;
            o->cooldown_us = d.cooldown_us;
        }
    }
    if (t->op && !corr) {
        fo_remop d = {0};
        if (hvf_reader_map(r, t->op, "remediation.operator", fo_remop_fields,
                           HVF_ARRAY_LEN(fo_remop_fields), &d) == 0) {
            o->operator_pause_after_us = sc_duration_or_never(
                r, d.pause, "remediation.operator.pause_after", o->operator_pause_after_us);
            o->operator_zombies_after_us = sc_duration_or_never(
                r, d.zombies, "remediation.operator.zombies_after", o->operator_zombies_after_us);
        }
    }
}

void
sc_read_remediation(hvf_reader *r, hvf_scenario *sc, struct fy_node *node)
{
    fo_rem t = {0};
    hvf_remediation_opts *o = &sc->fallout->remediation;

    hvf_remediation_opts_default(&t.o);
    if (hvf_reader_map(r, node, "remediation", fo_rem_fields, HVF_ARRAY_LEN(fo_rem_fields), &t) ==
        0) {
        *o = t.o;
        o->mode = (hvf_remediation_mode)t.mode;
        if (o->check_interval_us <= 0)
            hvf_reader_report_field(r, node, "remediation", "check_interval",
                                    "expected a duration above 0");
        if (o->renotify_us <= 0)
            hvf_reader_report_field(r, node, "remediation", "renotify",
                                    "expected a duration above 0");
        sc_read_vm_selection(r, sc->fleet, t.vms, "remediation.vms", &o->vms, &o->nvms);
        fo_read_rem_parts(r, sc, node, &t, o);
        sc->fallout->has_remediation = true;
    }
    hvf_reader_free_fields(fo_rem_fields, HVF_ARRAY_LEN(fo_rem_fields), &t);
}
