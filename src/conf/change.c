/* SPDX-License-Identifier: MIT */
/* Change files (YAML/JSON, schema hvfleet.change/v1) -> hvf_change; writing is change-write.c. */
#include <inttypes.h>
#include <stdio.h>

#include "conf/change-priv.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change.h"
#include "hvfleet/scenario.h"
#include "hvfleet/units.h"
#include "hvfleet/utf8.h"
#include "util/text.h"

const char *const hvf_change_kind_names[] = {"package", "kernel", "config_reload", "firewall_rule",
                                             NULL};
const char *const hvf_change_strategy_names[] = {"rolling", "all_at_once", NULL};
const char *const hvf_change_gate_names[] = {"service_answers", "client_io_latency", "process_up",
                                             NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_change_kind_names) == HVF_CHANGE_KIND_LAST + 1, "kind table");
_Static_assert(HVF_ARRAY_LEN(hvf_change_strategy_names) == HVF_CHANGE_STRATEGY_LAST + 1,
               "strategy table");
_Static_assert(HVF_ARRAY_LEN(hvf_change_gate_names) == HVF_CHANGE_GATE_LAST + 1, "gate table");

/* Longest duration a file may give: a month keeps every sum of waves far from overflow. */
#define CHG_MAX_DURATION_US (31LL * 24 * 3600 * HVF_US_PER_S)

const char *
hvf_change_kind_to_string(hvf_change_kind k)
{
    return (unsigned)k < HVF_CHANGE_KIND_LAST ? hvf_change_kind_names[k] : "unknown";
}

const char *
hvf_change_gate_to_string(hvf_change_gate_type t)
{
    return (unsigned)t < HVF_CHANGE_GATE_LAST ? hvf_change_gate_names[t] : "unknown";
}

bool
hvf_change_gate_is_weak(const hvf_change_gate *g)
{
    return g->type == HVF_CHANGE_GATE_PROCESS_UP;
}

void
hvf_change_init(hvf_change *c)
{
    memset(c, 0, sizeof(*c));
    c->kind = HVF_CHANGE_KIND_PACKAGE;
    c->strategy = HVF_CHANGE_STRATEGY_ROLLING;
    c->canary = 1;
    c->factor = 2.0;
    c->apply_us = 30 * HVF_US_PER_S;
    c->bake_us = 10 * 60 * HVF_US_PER_S;
    c->gate_interval_us = 10 * HVF_US_PER_S;
    c->redundancy_per = HVF_SPREAD_HOST;
    c->rollback = true;
}

static void
chg_free_list(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

void
hvf_change_clear(hvf_change *c)
{
    free(c->name);
    free(c->description);
    free(c->service);
    chg_free_list(&c->hosts, &c->nhosts);
    chg_free_list(&c->variants_by, &c->nvariants_by);
    chg_free_list(&c->settings, &c->nsettings);
    chg_free_list(&c->canary_units, &c->ncanary_units);
    for (size_t i = 0; i < c->ngates; i++)
        free(c->gates[i].service);
    free(c->gates);
    hvf_change_init(c);
}

void
hvf_change_free(hvf_change *c)
{
    if (!c)
        return;
    hvf_change_clear(c);
    free(c);
}

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct chg_root {
    char *schema;
    bool has_variants;
    struct fy_node *targets, *waves, *redundancy, *gates;
} chg_root;

#define R(f) offsetof(chg_root, f)
#define C(f) (sizeof(chg_root) + offsetof(hvf_change, f))
/* The reader writes into one block: chg_root followed by the hvf_change being built. */
typedef struct chg_obj {
    chg_root root;
    hvf_change c;
} chg_obj;
_Static_assert(offsetof(chg_obj, c) == sizeof(chg_root), "layout");

static const hvf_field_spec chg_fields[] = {
    {.name = "schema", .type = HVF_FIELD_STRING, .offset = R(schema)},
    {.name = "name", .type = HVF_FIELD_NAME, .offset = C(name), .required = true},
    {.name = "description", .type = HVF_FIELD_STRING, .offset = C(description)},
    {.name = "kind",
     .type = HVF_FIELD_ENUM,
     .offset = C(kind),
     .required = true,
     .enum_names = hvf_change_kind_names},
    {.name = "targets", .type = HVF_FIELD_NODE, .offset = R(targets), .required = true},
    {.name = "variants_by",
     .type = HVF_FIELD_STRLIST,
     .offset = C(variants_by),
     .offset2 = C(nvariants_by),
     .present = R(has_variants) + 1},
    {.name = "settings", .type = HVF_FIELD_STRLIST, .offset = C(settings), .offset2 = C(nsettings)},
    {.name = "waves", .type = HVF_FIELD_NODE, .offset = R(waves)},
    {.name = "redundancy", .type = HVF_FIELD_NODE, .offset = R(redundancy)},
    {.name = "gates", .type = HVF_FIELD_NODE, .offset = R(gates)},
    {.name = "rollback", .type = HVF_FIELD_BOOL, .offset = C(rollback)},
};
#undef R
#undef C

typedef struct chg_targets {
    struct fy_node *hosts;
    char *service;
} chg_targets;

static const hvf_field_spec chg_target_fields[] = {
    {.name = "hosts", .type = HVF_FIELD_NODE, .offset = offsetof(chg_targets, hosts)},
    {.name = "service", .type = HVF_FIELD_NAME, .offset = offsetof(chg_targets, service)},
};

#define W(f) offsetof(hvf_change, f)
static const hvf_field_spec chg_wave_fields[] = {
    {.name = "strategy",
     .type = HVF_FIELD_ENUM,
     .offset = W(strategy),
     .enum_names = hvf_change_strategy_names},
    {.name = "canary", .type = HVF_FIELD_UINT, .offset = W(canary), .min = 1, .max = 4096},
    {.name = "canary_units",
     .type = HVF_FIELD_STRLIST,
     .offset = W(canary_units),
     .offset2 = W(ncanary_units)},
    {.name = "factor", .type = HVF_FIELD_DOUBLE, .offset = W(factor), .min = 1, .max = 100},
    {.name = "max_per_wave",
     .type = HVF_FIELD_UINT,
     .offset = W(max_per_wave),
     .min = 0,
     .max = 1000000},
    {.name = "apply", .type = HVF_FIELD_DURATION, .offset = W(apply_us)},
    {.name = "bake", .type = HVF_FIELD_DURATION, .offset = W(bake_us)},
    {.name = "gate_interval", .type = HVF_FIELD_DURATION, .offset = W(gate_interval_us)},
};

static const hvf_field_spec chg_redundancy_fields[] = {
    {.name = "per",
     .type = HVF_FIELD_ENUM,
     .offset = W(redundancy_per),
     .required = true,
     .enum_names = hvf_spread_names},
    {.name = "max_down",
     .type = HVF_FIELD_UINT,
     .offset = W(redundancy_max),
     .required = true,
     .min = 1,
     .max = 1000000},
};
#undef W

typedef struct chg_gate_in {
    int type;
    char *service;
    double min_success, percentile;
    int64_t max_us;
    bool has_min, has_max, has_pct;
} chg_gate_in;

#define G(f) offsetof(chg_gate_in, f)
static const hvf_field_spec chg_gate_fields[] = {
    {.name = "type",
     .type = HVF_FIELD_ENUM,
     .offset = G(type),
     .required = true,
     .enum_names = hvf_change_gate_names},
    {.name = "service", .type = HVF_FIELD_NAME, .offset = G(service)},
    {.name = "min_success",
     .type = HVF_FIELD_DOUBLE,
     .offset = G(min_success),
     .min = 0.000001,
     .max = 1,
     .present = G(has_min) + 1},
    {.name = "max", .type = HVF_FIELD_DURATION, .offset = G(max_us), .present = G(has_max) + 1},
    {.name = "percentile",
     .type = HVF_FIELD_DOUBLE,
     .offset = G(percentile),
     .min = 50,
     .max = 100,
     .present = G(has_pct) + 1},
};
#undef G

static void
chg_field(char *buf, size_t size, const char *path, const char *field)
{
    snprintf(buf, size, "%s%s%s", path, *path ? "." : "", field);
}

/* The node of item @i of @list (a sequence), or @list itself (a scalar given for a list). */
static struct fy_node *
chg_item(struct fy_node *list, size_t i)
{
    if (list && fy_node_is_sequence(list))
        return fy_node_sequence_get_by_index(list, (int)i);
    return list;
}

/* Names in a list: each valid, none twice, not too many. */
static void
chg_check_names(hvf_reader *r, struct fy_node *map, const char *path, const char *key, char **names,
                size_t n, bool selectors)
{
    struct fy_node *seq = fy_node_mapping_lookup_by_string(map, key, FY_NT);
    char field[160];

    chg_field(field, sizeof(field), path, key);
    if (n > HVF_CHANGE_MAX_ITEMS) {
        hvf_reader_report(r, seq, field, "expected at most %u items", HVF_CHANGE_MAX_ITEMS);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        hvf_error serr = HVF_ERROR_INIT;
        if (selectors && hvf_scenario_selector_check(s, &serr) < 0) {
            hvf_reader_report(r, chg_item(seq, i), field, "%s",
                              hvf_scenario_selector_msg(s, serr.msg));
            continue;
        }
        if (!selectors && !hvf_name_is_valid(s)) {
            hvf_reader_report(r, chg_item(seq, i), field, "expected %s",
                              "1-63 characters of A-Z a-z 0-9 . _ -");
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[j], s) == 0) {
                hvf_reader_report(r, chg_item(seq, i), field, "listed twice");
                break;
            }
        }
    }
}

static void
chg_read_targets(hvf_reader *r, struct fy_node *node, const char *path, hvf_change *c)
{
    chg_targets t = {0};
    char field[160];
    struct fy_node *item;
    void *iter = NULL;

    chg_field(field, sizeof(field), path, "targets");
    if (hvf_reader_map(r, node, field, chg_target_fields, HVF_ARRAY_LEN(chg_target_fields), &t)) {
        free(t.service);
        return;
    }
    if (!t.hosts == !t.service) {
        hvf_reader_report(r, node, field,
                          "expected either hosts (all, names, rack:R, zone:Z, tag:T) or "
                          "service (its VMs), not %s",
                          t.hosts ? "both" : "neither");
        free(t.service);
        return;
    }
    c->service = t.service;
    if (!t.hosts)
        return;
    chg_field(field, sizeof(field), path, "targets.hosts");
    if (fy_node_is_scalar(t.hosts)) {
        char *s = hvf_reader_scalar_dup(t.hosts);
        if (!s) {
            hvf_reader_report(r, t.hosts, field, "expected a selector or a list of them");
            return;
        }
        c->hosts = hvf_calloc(1, sizeof(char *));
        c->hosts[c->nhosts++] = s;
    } else if (fy_node_is_sequence(t.hosts)) {
        c->hosts = hvf_calloc((size_t)fy_node_sequence_item_count(t.hosts) + 1, sizeof(char *));
        while ((item = fy_node_sequence_iterate(t.hosts, &iter)) != NULL) {
            char *s = hvf_reader_scalar_dup(item);
            if (!s)
                hvf_reader_report(r, item, field, "expected a selector");
            else
                c->hosts[c->nhosts++] = s;
        }
    } else {
        hvf_reader_report(r, t.hosts, field, "expected a selector or a list of them");
        return;
    }
    if (c->nhosts == 0)
        hvf_reader_report(r, t.hosts, field, "expected at least one selector");
    chg_field(field, sizeof(field), path, "targets");
    chg_check_names(r, node, field, "hosts", c->hosts, c->nhosts, true);
}

bool
hvf_change_read_gate(hvf_reader *r, struct fy_node *item, const char *gpath, hvf_change_gate *g)
{
    chg_gate_in in = {.min_success = 0.99, .percentile = 99};
    size_t before = r->diags->total;

    memset(g, 0, sizeof(*g));
    if (hvf_reader_map(r, item, gpath, chg_gate_fields, HVF_ARRAY_LEN(chg_gate_fields), &in)) {
        free(in.service);
        return false;
    }
    switch ((hvf_change_gate_type)in.type) {
    case HVF_CHANGE_GATE_SERVICE_ANSWERS:
        if (!in.service)
            hvf_reader_report_field(r, item, gpath, "service",
                                    "expected the service whose answers are checked");
        if (in.has_max || in.has_pct)
            hvf_reader_report_field(r, item, gpath, in.has_max ? "max" : "percentile",
                                    "expected only with type client_io_latency");
        break;
    case HVF_CHANGE_GATE_CLIENT_IO_LATENCY:
        if (!in.has_max || in.max_us <= 0 || in.max_us > CHG_MAX_DURATION_US)
            hvf_reader_report_field(r, item, gpath, "max",
                                    "expected the latency bound, e.g. 50ms (above 0)");
        if (in.has_min)
            hvf_reader_report_field(r, item, gpath, "min_success",
                                    "expected only with type service_answers");
        break;
    default:
        if (in.service || in.has_min || in.has_max || in.has_pct)
            hvf_reader_report(r, item, gpath,
                              "process_up takes no service, min_success, max or percentile");
        break;
    }
    if (r->diags->total != before) {
        free(in.service);
        return false;
    }
    g->type = (hvf_change_gate_type)in.type;
    g->service = in.service;
    g->min_success = in.min_success;
    g->max_latency_us = in.max_us;
    g->percentile = in.percentile;
    g->line = hvf_reader_line(item);
    return true;
}

static void
chg_read_gates(hvf_reader *r, struct fy_node *seq, const char *path, hvf_change *c)
{
    struct fy_node *item;
    void *iter = NULL;
    char gpath[192], field[160];
    size_t i = 0;

    chg_field(field, sizeof(field), path, "gates");
    if (!seq || !hvf_reader_expect_seq(r, seq, field))
        return;
    if ((size_t)fy_node_sequence_item_count(seq) > 64) {
        hvf_reader_report(r, seq, field, "expected at most 64 gates");
        return;
    }
    c->gates = hvf_calloc((size_t)fy_node_sequence_item_count(seq) + 1, sizeof(hvf_change_gate));
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        snprintf(gpath, sizeof(gpath), "%s[%zu]", field, i++);
        if (hvf_change_read_gate(r, item, gpath, &c->gates[c->ngates]))
            c->ngates++;
    }
}

static void
chg_check_duration(hvf_reader *r, struct fy_node *map, const char *path, const char *key,
                   int64_t us, int64_t min_us)
{
    if (us < min_us || us > CHG_MAX_DURATION_US)
        hvf_reader_report_field(r, map, path, key, "expected a duration %s and at most 31d",
                                min_us > 0 ? "above 0" : "of 0 or more");
}

hvf_change *
hvf_change_read_node(hvf_reader *r, struct fy_node *node, const char *path)
{
    HVF_AUTOFREE chg_obj *o = hvf_calloc(1, sizeof(chg_obj));
    size_t before = r->diags->total;
    char field[160];
    hvf_change *c = &o->c;
    hvf_change *out;

    hvf_change_init(c);
    hvf_reader_map(r, node, path, chg_fields, HVF_ARRAY_LEN(chg_fields), o);
    if (o->root.schema && strcmp(o->root.schema, HVF_CHANGE_SCHEMA) != 0)
        hvf_reader_report_field(r, node, path, "schema", "expected '" HVF_CHANGE_SCHEMA "'");
    free(o->root.schema);
    /* libfyaml can decode an escape into a lone Latin-1 byte: text must stay UTF-8 */
    if (c->description &&
        hvf_utf8_invalid_at(c->description, strlen(c->description)) < strlen(c->description))
        hvf_reader_report_field(r, node, path, "description", "expected UTF-8 text");
    if (!o->root.has_variants) {
        static const char *const dflt[] = {"kernel", "hw", "role"};
        c->variants_by = hvf_calloc(HVF_ARRAY_LEN(dflt), sizeof(char *));
        for (size_t i = 0; i < HVF_ARRAY_LEN(dflt); i++)
            c->variants_by[c->nvariants_by++] = hvf_strdup(dflt[i]);
    } else {
        chg_check_names(r, node, path, "variants_by", c->variants_by, c->nvariants_by, false);
    }
    chg_check_names(r, node, path, "settings", c->settings, c->nsettings, false);
    if (o->root.targets)
        chg_read_targets(r, o->root.targets, path, c);
    if (o->root.waves) {
        chg_field(field, sizeof(field), path, "waves");
        if (hvf_reader_map(r, o->root.waves, field, chg_wave_fields, HVF_ARRAY_LEN(chg_wave_fields),
                           c) == 0) {
            chg_check_duration(r, o->root.waves, field, "apply", c->apply_us, 0);
            chg_check_duration(r, o->root.waves, field, "bake", c->bake_us, 0);
            chg_check_duration(r, o->root.waves, field, "gate_interval", c->gate_interval_us, 1);
            chg_check_names(r, o->root.waves, field, "canary_units", c->canary_units,
                            c->ncanary_units, false);
        }
    }
    if (o->root.redundancy) {
        chg_field(field, sizeof(field), path, "redundancy");
        hvf_reader_map(r, o->root.redundancy, field, chg_redundancy_fields,
                       HVF_ARRAY_LEN(chg_redundancy_fields), c);
    }
    chg_read_gates(r, o->root.gates, path, c);
    if (r->diags->total != before) {
        hvf_change_clear(c);
        return NULL;
    }
    out = HVF_NEW(hvf_change);
    *out = *c; /* ownership moves with the copy */
    return out;
}

static hvf_change *
chg_read(hvf_reader *r, hvf_error *err)
{
    size_t before = r->diags->total;
    hvf_change *c = hvf_change_read_node(r, hvf_reader_root(r), "");

    if (!c)
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' has %zu problem%s", r->file,
                      r->diags->total - before, r->diags->total - before == 1 ? "" : "s");
    return c;
}

hvf_change *
hvf_change_parse(const char *name, const char *buf, size_t len, hvf_diags *diags, hvf_error *err)
{
    hvf_reader r;
    hvf_change *c;

    /* the reader refuses text that is not UTF-8 before libfyaml sees it */
    if (hvf_reader_open_buffer(&r, name, buf, len, diags, err) < 0)
        return NULL;
    c = chg_read(&r, err);
    hvf_reader_close(&r);
    return c;
}

hvf_change *
hvf_change_load(const char *path, hvf_diags *diags, hvf_error *err)
{
    size_t len = 0;
    HVF_AUTOFREE char *buf = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &len, err);

    if (!buf)
        return NULL;
    return hvf_change_parse(path, buf, len, diags, err);
}
