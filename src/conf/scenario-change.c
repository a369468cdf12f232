/* SPDX-License-Identifier: MIT */
/*
 * The `services:` and `changes:` sections of scenario files: how the twin sees services' work
 * (storage clients, replicas' serving flags), and rolling changes with their effects on some
 * variants and, for runs as people did them, the operator's timeline.
 */
#include <inttypes.h>
#include <stdio.h>

#include "conf/change-priv.h"
#include "conf/reader.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

/* ---- services ----------------------------------------------------------------------------- */

typedef struct ss_in {
    char *name;
    int kind;
    struct fy_node *nodes, *clients;
    int64_t latency_us, reconnect_us;
    uint32_t span;
} ss_in;

#define S(f) offsetof(ss_in, f)
static const hvf_field_spec ss_fields[] = {
    {.name = "name", .type = HVF_FIELD_NAME, .offset = S(name), .required = true},
    {.name = "kind",
     .type = HVF_FIELD_ENUM,
     .offset = S(kind),
     .enum_names = hvf_sim_svc_kind_names},
    {.name = "nodes", .type = HVF_FIELD_NODE, .offset = S(nodes)},
    {.name = "clients", .type = HVF_FIELD_NODE, .offset = S(clients)},
    {.name = "latency", .type = HVF_FIELD_DURATION, .offset = S(latency_us)},
    {.name = "reconnect", .type = HVF_FIELD_DURATION, .offset = S(reconnect_us)},
    {.name = "span", .type = HVF_FIELD_UINT, .offset = S(span), .max = 100000},
};
#undef S

/* A host selector node (one, or a list) -> fleet indexes, deduplicated, in fleet order. */
static void
ss_hosts(hvf_reader *r, const hvf_fleet *f, struct fy_node *node, const char *field, int32_t **out,
         size_t *n)
{
    HVF_AUTOFREE bool *take = hvf_calloc(f->nhosts + 1, sizeof(bool));
    HVF_AUTOFREE int32_t *picked = NULL;
    size_t npicked = 0;

    *out = NULL;
    *n = 0;
    sc_read_selector(r, f, node, field, &picked, &npicked);
    for (size_t k = 0; k < npicked; k++)
        take[picked[k]] = true;
    for (size_t h = 0; h < f->nhosts; h++) {
        if (take[h]) {
            *out = hvf_realloc(*out, (*n + 1) * sizeof(int32_t));
            (*out)[(*n)++] = (int32_t)h;
        }
    }
}

static void
ss_read(hvf_reader *r, struct fy_node *seq, hvf_scenario *sc)
{
    const hvf_fleet *f = sc->fleet;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48], field[80];

    if (!hvf_reader_expect_seq(r, seq, "services"))
        return;
    while (seq && (item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        ss_in in = {.latency_us = 2 * HVF_US_PER_MS, .reconnect_us = 20 * HVF_US_PER_S};
        hvf_sim_svc_spec sp = {0};
        size_t before = r->diags->total;
        HVF_AUTOFREE int32_t *hosts = NULL;
        size_t nhosts = 0;

        snprintf(path, sizeof(path), "services[%zu]", i++);
        if (hvf_reader_map(r, item, path, ss_fields, HVF_ARRAY_LEN(ss_fields), &in)) {
            free(in.name);
            continue;
        }
        sp.kind = (hvf_sim_svc_kind)in.kind;
        sp.latency_us = in.latency_us;
        sp.reconnect_us = in.reconnect_us;
        sp.span = in.span;
        sp.service = hvf_fleet_find_service(f, in.name);
        for (size_t k = 0; k < sc->nsvcs; k++) {
            if (strcmp(sc->svcs[k].name, in.name) == 0)
                hvf_reader_report_field(r, item, path, "name", "expected a name not used above");
        }
        snprintf(field, sizeof(field), "%s.clients", path);
        if (sp.kind == HVF_SIM_SVC_STORAGE) {
            if (sp.service >= 0)
                hvf_reader_report_field(r, item, path, "name",
                                        "expected a storage name that is not an inventory "
                                        "service (those are replicated)");
            if (!in.nodes)
                hvf_reader_report_field(r, item, path, "nodes",
                                        "expected the storage nodes (a host selector)");
            snprintf(field, sizeof(field), "%s.nodes", path);
            ss_hosts(r, f, in.nodes, field, &sp.nodes, &sp.nnodes);
            snprintf(field, sizeof(field), "%s.clients", path);
            ss_hosts(r, f, in.clients, field, &hosts, &nhosts);
            /* the clients are the VMs on the client hosts */
            for (size_t v = 0; v < f->nvms; v++) {
                for (size_t k = 0; k < nhosts; k++) {
                    if (f->vms[v].host == hosts[k]) {
                        sp.clients = hvf_realloc(sp.clients, (sp.nclients + 1) * sizeof(int32_t));
                        sp.clients[sp.nclients++] = (int32_t)v;
                        break;
                    }
                }
            }
            for (size_t c = 0; c < sp.nclients; c++) {
                for (size_t k = 0; k < sc->nsvcs; k++) {
                    for (size_t j = 0;
                         sc->svcs[k].kind == HVF_SIM_SVC_STORAGE && j < sc->svcs[k].nclients; j++) {
                        if (sc->svcs[k].clients[j] == sp.clients[c]) {
                            hvf_reader_report_field(r, item, path, "clients",
                                                    "expected VMs of no other storage (%s "
                                                    "already uses %s)",
                                                    f->vms[sp.clients[c]].name, sc->svcs[k].name);
                            c = sp.nclients;
                            k = sc->nsvcs;
                            break;
                        }
                    }
                }
            }
        } else {
            if (sp.service < 0)
                hvf_reader_report_field(r, item, path, "name",
                                        "expected a service of the inventory (or kind: storage)");
            if (in.nodes)
                hvf_reader_report_field(r, item, path, "nodes",
                                        "expected only with kind storage (a replicated service's "
                                        "replicas are its VMs)");
            if (in.clients)
                ss_hosts(r, f, in.clients, field, &sp.clients, &sp.nclients);
        }
        if (r->diags->total != before) {
            free(in.name);
            hvf_sim_svc_spec_clear(&sp);
            continue;
        }
        sp.name = in.name;
        sc->svcs = hvf_realloc(sc->svcs, (sc->nsvcs + 1) * sizeof(hvf_sim_svc_spec));
        sc->svcs[sc->nsvcs++] = sp;
    }
}

/* ---- changes ------------------------------------------------------------------------------ */

typedef struct sch_in {
    struct fy_node *change, *effects, *op, *policy;
    int64_t start_us;
    int executor;
    bool approved;
} sch_in;

static const char *const sch_executor_names[] = {"hvfleet", "as_written", NULL};

#define C(f) offsetof(sch_in, f)
static const hvf_field_spec sch_fields[] = {
    {.name = "change", .type = HVF_FIELD_NODE, .offset = C(change), .required = true},
    {.name = "start", .type = HVF_FIELD_DURATION, .offset = C(start_us)},
    {.name = "executor",
     .type = HVF_FIELD_ENUM,
     .offset = C(executor),
     .enum_names = sch_executor_names},
    {.name = "approved", .type = HVF_FIELD_BOOL, .offset = C(approved)},
    {.name = "policy", .type = HVF_FIELD_NODE, .offset = C(policy)},
    {.name = "effects", .type = HVF_FIELD_NODE, .offset = C(effects)},
    {.name = "operator", .type = HVF_FIELD_NODE, .offset = C(op)},
};
#undef C

typedef struct sch_effect_in {
    struct fy_node *when;
    int effect;
} sch_effect_in;

static const hvf_field_spec sch_effect_fields[] = {
    {.name = "when", .type = HVF_FIELD_NODE, .offset = offsetof(sch_effect_in, when)},
    {.name = "effect",
     .type = HVF_FIELD_ENUM,
     .offset = offsetof(sch_effect_in, effect),
     .required = true,
     .enum_names = hvf_sim_effect_names},
};

#define W(f) offsetof(hvf_sim_change_effect, f)
static const hvf_field_spec sch_when_fields[] = {
    {.name = "kernel", .type = HVF_FIELD_STRING, .offset = W(kernel)},
    {.name = "hw", .type = HVF_FIELD_STRING, .offset = W(hw)},
    {.name = "tag", .type = HVF_FIELD_STRING, .offset = W(tag)},
    {.name = "role", .type = HVF_FIELD_STRING, .offset = W(tag)},
    {.name = "sysctl_missing", .type = HVF_FIELD_NAME, .offset = W(sysctl_missing)},
    {.name = "setting", .type = HVF_FIELD_NAME, .offset = W(setting)},
};
#undef W

typedef struct sch_op_in {
    struct fy_node *alert;
    int64_t for_us, every_us, decide_us, revert_us;
    char *action;
} sch_op_in;

#define O(f) offsetof(sch_op_in, f)
static const hvf_field_spec sch_op_fields[] = {
    {.name = "alert", .type = HVF_FIELD_NODE, .offset = O(alert), .required = true},
    {.name = "for", .type = HVF_FIELD_DURATION, .offset = O(for_us)},
    {.name = "every", .type = HVF_FIELD_DURATION, .offset = O(every_us)},
    {.name = "decide_after", .type = HVF_FIELD_DURATION, .offset = O(decide_us), .required = true},
    {.name = "revert", .type = HVF_FIELD_DURATION, .offset = O(revert_us), .required = true},
    {.name = "action", .type = HVF_FIELD_STRING, .offset = O(action)},
};
#undef O

/* ">=4.10", "<4.10", "4.15", "=4.15": the operator, then the version. */
static bool
sch_kernel_cond(hvf_sim_change_effect *e)
{
    static const struct {
        const char *op;
        hvf_sim_cmp cmp;
    } ops[] = {{">=", HVF_SIM_CMP_GE}, {"<=", HVF_SIM_CMP_LE}, {"==", HVF_SIM_CMP_EQ},
               {">", HVF_SIM_CMP_GT},  {"<", HVF_SIM_CMP_LT},  {"=", HVF_SIM_CMP_EQ}};
    const char *s = e->kernel;
    char *v;

    e->kernel_cmp = HVF_SIM_CMP_EQ;
    for (size_t i = 0; i < HVF_ARRAY_LEN(ops); i++) {
        size_t n = strlen(ops[i].op);
        if (strncmp(s, ops[i].op, n) == 0) {
            e->kernel_cmp = ops[i].cmp;
            s += n;
            break;
        }
    }
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    v = hvf_strdup(s);
    free(e->kernel);
    e->kernel = v;
    return true;
}

static void
sch_read_effects(hvf_reader *r, struct fy_node *seq, const char *path, hvf_sim_change_run *run)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char field[96], wpath[112];

    snprintf(field, sizeof(field), "%s.effects", path);
    if (!seq || !hvf_reader_expect_seq(r, seq, field))
        return;
    run->effects =
        hvf_calloc((size_t)fy_node_sequence_item_count(seq) + 1, sizeof(hvf_sim_change_effect));
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        sch_effect_in in = {0};
        hvf_sim_change_effect *e = &run->effects[run->neffects];
        snprintf(field, sizeof(field), "%s.effects[%zu]", path, i++);
        if (hvf_reader_map(r, item, field, sch_effect_fields, HVF_ARRAY_LEN(sch_effect_fields),
                           &in))
            continue;
        memset(e, 0, sizeof(*e));
        e->effect = (hvf_sim_effect_type)in.effect;
        snprintf(wpath, sizeof(wpath), "%s.when", field);
        if (in.when &&
            hvf_reader_map(r, in.when, wpath, sch_when_fields, HVF_ARRAY_LEN(sch_when_fields), e)) {
            hvf_reader_free_fields(sch_when_fields, HVF_ARRAY_LEN(sch_when_fields), e);
            continue;
        }
        if (e->kernel && !sch_kernel_cond(e)) {
            hvf_reader_report_field(r, in.when, wpath, "kernel",
                                    "expected a version with an optional comparison, e.g. "
                                    "'>=4.10' or '4.15'");
            hvf_reader_free_fields(sch_when_fields, HVF_ARRAY_LEN(sch_when_fields), e);
            continue;
        }
        run->neffects++;
    }
}

static void
sch_read_operator(hvf_reader *r, struct fy_node *node, const char *path, hvf_sim_change_run *run)
{
    sch_op_in in = {.for_us = 60 * HVF_US_PER_S, .every_us = 30 * HVF_US_PER_S};
    char field[96];

    snprintf(field, sizeof(field), "%s.operator", path);
    if (hvf_reader_map(r, node, field, sch_op_fields, HVF_ARRAY_LEN(sch_op_fields), &in)) {
        free(in.action);
        return;
    }
    if (in.every_us <= 0)
        hvf_reader_report_field(r, node, field, "every", "expected a duration above 0");
    snprintf(field, sizeof(field), "%s.operator.alert", path);
    if (!hvf_change_read_gate(r, in.alert, field, &run->op.alert)) {
        free(in.action);
        return;
    }
    run->op.enabled = true;
    run->op.alert_for_us = in.for_us;
    run->op.check_every_us = in.every_us > 0 ? in.every_us : HVF_US_PER_S;
    run->op.decide_after_us = in.decide_us;
    run->op.revert_us = in.revert_us;
    run->op.action = in.action;
}

static hvf_change *
sch_read_change(hvf_reader *r, struct fy_node *node, const char *path, const char *base_dir)
{
    HVF_AUTOFREE char *rel = NULL;
    HVF_AUTOFREE char *file = NULL;
    char field[96];
    hvf_error err = HVF_ERROR_INIT;
    hvf_change *c;

    snprintf(field, sizeof(field), "%s.change", path);
    if (node && fy_node_is_mapping(node))
        return hvf_change_read_node(r, node, field);
    rel = hvf_reader_scalar_dup(node);
    if (!rel || !*rel) {
        hvf_reader_report(r, node, field, "expected a change file or an inline change");
        return NULL;
    }
    file = rel[0] == '/' || !base_dir ? hvf_strdup(rel) : hvf_asprintf("%s/%s", base_dir, rel);
    c = hvf_change_load(file, r->diags, &err);
    if (!c && err.code == HVF_ERR_IO)
        hvf_reader_report(r, node, field, "%s", err.msg);
    return c;
}

static void
sch_read_policy(hvf_reader *r, struct fy_node *node, const char *path, const char *base_dir,
                hvf_policy *out)
{
    HVF_AUTOFREE char *rel = NULL;
    HVF_AUTOFREE char *file = NULL;
    char field[96];
    hvf_error err = HVF_ERROR_INIT;

    hvf_policy_default(out);
    if (!node)
        return;
    snprintf(field, sizeof(field), "%s.policy", path);
    rel = hvf_reader_scalar_dup(node);
    if (!rel || !*rel) {
        hvf_reader_report(r, node, field, "expected a policy file (hvfleet.policy/v1)");
        return;
    }
    file = rel[0] == '/' || !base_dir ? hvf_strdup(rel) : hvf_asprintf("%s/%s", base_dir, rel);
    if (hvf_policy_load(file, out, r->diags, &err) < 0 && err.code == HVF_ERR_IO)
        hvf_reader_report(r, node, field, "%s", err.msg);
}

/* The names a change gives must exist: resolve them now, so mistakes surface at load time. */
static void
sch_check_names(hvf_reader *r, struct fy_node *item, const char *path, const hvf_scenario *sc,
                const hvf_sim_change_run *run)
{
    hvf_error err = HVF_ERROR_INIT;
    HVF_AUTOFREE hvf_change_target *units = NULL;
    HVF_AUTOFREE uint32_t *canary = NULL;
    size_t nunits = 0;
    const hvf_change_gate *gates[65];
    size_t ng = 0;

    if (hvf_change_resolve(sc->fleet, run->change, &units, &nunits, &canary, &err) < 0)
        hvf_reader_report_field(r, item, path, "change", "%s", err.msg);
    for (size_t i = 0; i < run->change->ngates && i < 64; i++)
        gates[ng++] = &run->change->gates[i];
    if (run->op.enabled)
        gates[ng++] = &run->op.alert;
    for (size_t i = 0; i < ng; i++) {
        const hvf_change_gate *g = gates[i];
        bool found = false;
        if (g->type != HVF_CHANGE_GATE_CLIENT_IO_LATENCY || !g->service)
            continue;
        for (size_t k = 0; k < sc->nsvcs && !found; k++)
            found = sc->svcs[k].kind == HVF_SIM_SVC_STORAGE &&
                    strcmp(sc->svcs[k].name, g->service) == 0;
        if (!found)
            hvf_reader_report_field(r, item, path, "change",
                                    "a client_io_latency gate names '%s': expected a storage of "
                                    "services:",
                                    g->service);
    }
}

static void
sch_read(hvf_reader *r, struct fy_node *seq, const char *base_dir, hvf_scenario *sc)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!hvf_reader_expect_seq(r, seq, "changes"))
        return;
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        sch_in in = {0};
        hvf_sim_change_run run = {0};
        size_t before = r->diags->total;

        snprintf(path, sizeof(path), "changes[%zu]", i++);
        if (hvf_reader_map(r, item, path, sch_fields, HVF_ARRAY_LEN(sch_fields), &in))
            continue;
        run.start_us = in.start_us;
        run.as_written = in.executor == 1;
        run.approved = in.approved;
        if (in.start_us >= sc->params.duration_us)
            hvf_reader_report_field(r, item, path, "start",
                                    "expected a time within the scenario's duration");
        run.change = sch_read_change(r, in.change, path, base_dir);
        sch_read_policy(r, in.policy, path, base_dir, &run.policy);
        sch_read_effects(r, in.effects, path, &run);
        if (in.op)
            sch_read_operator(r, in.op, path, &run);
        if (run.change && r->diags->total == before)
            sch_check_names(r, item, path, sc, &run);
        if (r->diags->total != before || !run.change) {
            hvf_sim_change_run_clear(&run);
            continue;
        }
        sc->changes = hvf_realloc(sc->changes, (sc->nchanges + 1) * sizeof(hvf_sim_change_run));
        sc->changes[sc->nchanges++] = run;
    }
}

void
hvf_scenario_read_changes(hvf_reader *r, struct fy_node *services, struct fy_node *changes,
                          const char *base_dir, hvf_scenario *sc)
{
    if (services)
        ss_read(r, services, sc);
    if (changes)
        sch_read(r, changes, base_dir, sc);
}
