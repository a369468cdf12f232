/* SPDX-License-Identifier: MIT */
/*
 * Reading change plan files strictly (untrusted input, like maintenance plans in plan-read.c,
 * and with the same jansson reader). Only what approval and plan check need is kept; the rest
 * is checked for its shape and covered by the recomputed hash, so no edit goes unnoticed.
 */
#include <jansson.h>
#include <stdio.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/plan.h"
#include "plan/plan-json.h"
#include "util/text.h"

#define CR_COUNT .min = 0, .max = HVF_PLAN_MAX_ITEMS
#define CR_SECONDS .min = 0, .max = HVF_PLAN_MAX_SECONDS

static const char *const cr_target_types[] = {"hosts", "vms", NULL};

enum {
    R_SCHEMA, R_CHANGE, R_KIND, R_STRATEGY, R_AS_WRITTEN, R_TARGETS, R_VARIANTS, R_CANARY,
    R_LIMITS, R_WAVES, R_GATES, R_ROLLBACK, R_APPLY, R_BAKE, R_GATE_INT, R_DURATION, R_FORCED,
    R_NOTES, R_SEATBELT, R_HASH
};
static const rj_field cr_root[] = {
    {"schema", RJ_STRING, 0, 0, NULL},
    {"change", RJ_STRING, 0, 0, NULL},
    {"kind", RJ_ENUM, 0, 0, hvf_change_kind_names},
    {"strategy", RJ_ENUM, 0, 0, hvf_change_strategy_names},
    {"as_written", RJ_BOOL, 0, 0, NULL},
    {"targets", RJ_OBJECT, 0, 0, NULL},
    {"variants", RJ_ARRAY, 0, 0, NULL},
    {"canary", RJ_OBJECT, 0, 0, NULL},
    {"limits", RJ_OBJECT, 0, 0, NULL},
    {"waves", RJ_ARRAY, 0, 0, NULL},
    {"gates", RJ_ARRAY, 0, 0, NULL},
    {"rollback", RJ_OBJECT, 0, 0, NULL},
    {"apply_s", RJ_NUMBER, CR_SECONDS, NULL},
    {"bake_s", RJ_NUMBER, CR_SECONDS, NULL},
    {"gate_interval_s", RJ_NUMBER, CR_SECONDS, NULL},
    {"duration_s", RJ_NUMBER, CR_SECONDS, NULL},
    {"forced", RJ_ARRAY, 0, 0, NULL},
    {"notes", RJ_ARRAY, 0, 0, NULL},
    {"seatbelt", RJ_OBJECT, 0, 0, NULL},
    {"plan_hash", RJ_STRING, 0, 0, NULL},
};

enum { T_TYPE, T_UNITS };
static const rj_field cr_targets[] = {
    {"type", RJ_ENUM, 0, 0, cr_target_types},
    {"units", RJ_UINT, CR_COUNT, NULL},
};

enum { V_DIM, V_VALUE, V_UNITS };
static const rj_field cr_variant[] = {
    {"dim", RJ_STRING, 0, 0, NULL},
    {"value", RJ_STRING, 0, 0, NULL},
    {"units", RJ_UINT, CR_COUNT, NULL},
};

enum { W_WAVE, W_CANARY, W_UNITS, W_VARIANTS, W_START, W_APPLIED, W_BAKED };
static const rj_field cr_wave[] = {
    {"wave", RJ_UINT, CR_COUNT, NULL},
    {"canary", RJ_BOOL, 0, 0, NULL},
    {"units", RJ_ARRAY, 0, 0, NULL},
    {"variants", RJ_ARRAY, 0, 0, NULL},
    {"start_s", RJ_NUMBER, CR_SECONDS, NULL},
    {"applied_s", RJ_NUMBER, CR_SECONDS, NULL},
    {"baked_s", RJ_NUMBER, CR_SECONDS, NULL},
};

enum { B_VERDICT, B_REASONS };
static const rj_field cr_seatbelt[] = {
    {"verdict", RJ_ENUM, 0, 0, hvf_plan_verdict_names},
    {"reasons", RJ_ARRAY, 0, 0, NULL},
};

static int
cr_enum(json_t *v, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], json_string_value(v)) == 0)
            return i;
    }
    return 0;
}

static bool
cr_is_hex64(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    }
    return n == HVF_SHA256_HEX_LEN;
}

/* A one-line string of at most 400 bytes without NUL, or NULL. */
static const char *
cr_line_string(json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || strlen(s) != json_string_length(v) || strlen(s) > 400 || strpbrk(s, "\n\r\t"))
        return NULL;
    return s;
}

static bool
cr_list_ok(rj_ctx *c, json_t *arr, const char *key, size_t max)
{
    if (json_array_size(arr) > max) {
        rj_report(c, rj_line(c, key), key, arr, "expected at most %zu items", max);
        return false;
    }
    return true;
}

/* The plan's variants as "dim=value" -> index; the hash borrows its keys from @keys. */
typedef struct cr_known {
    hvf_hash h;
    char **keys;
    size_t n;
} cr_known;

static void
cr_variants(rj_ctx *c, json_t *arr, hvf_change_plan_file *p, cr_known *known)
{
    json_t *item, *v[HVF_ARRAY_LEN(cr_variant)];
    size_t i;
    char path[48];

    if (!cr_list_ok(c, arr, "variants", HVF_CHANGE_MAX_ITEMS))
        return;
    p->variants = hvf_calloc(json_array_size(arr) + 1, sizeof(hvf_change_variant));
    known->keys = hvf_calloc(json_array_size(arr) + 1, sizeof(char *));
    json_array_foreach(arr, i, item)
    {
        int line = rj_item_line(c, "variants", i);
        hvf_change_variant *cv;
        char *key;

        snprintf(path, sizeof(path), "variants[%zu]", i);
        if (rj_object(c, item, path, line, cr_variant, HVF_ARRAY_LEN(cr_variant), v) != 0)
            continue;
        if (!cr_line_string(v[V_DIM]) || !cr_line_string(v[V_VALUE]) ||
            strchr(json_string_value(v[V_DIM]), '=')) {
            rj_report(c, line, path, v[V_DIM],
                      "expected a dimension without '=' and a value, each one line");
            continue;
        }
        cv = &p->variants[p->nvariants];
        cv->dim = hvf_strdup(json_string_value(v[V_DIM]));
        cv->value = hvf_strdup(json_string_value(v[V_VALUE]));
        cv->units = (uint32_t)json_integer_value(v[V_UNITS]);
        key = known->keys[known->n++] = hvf_asprintf("%s=%s", cv->dim, cv->value);
        p->nvariants++;
        if (hvf_hash_put(&known->h, key, (int32_t)(p->nvariants - 1)) < 0)
            rj_report(c, line, path, v[V_VALUE], "expected each variant once");
    }
}

/* Strings of @arr into an owned array; NULL-free. @names: each must be a valid name. */
static char **
cr_strings(rj_ctx *c, json_t *arr, int line, const char *field, bool names, size_t *n)
{
    char **out = hvf_calloc(json_array_size(arr) + 1, sizeof(char *));
    json_t *item;
    size_t i;

    *n = 0;
    json_array_foreach(arr, i, item)
    {
        const char *s = cr_line_string(item);
        if (!s || (names && !hvf_name_is_valid(s))) {
            rj_report(c, line, field, item, names ? "expected a unit name" : "expected one line");
            continue;
        }
        out[(*n)++] = hvf_strdup(s);
    }
    return out;
}

static void
cr_waves(rj_ctx *c, json_t *arr, hvf_change_plan_file *p, const cr_known *known)
{
    json_t *item, *v[HVF_ARRAY_LEN(cr_wave)];
    size_t i;
    char path[48], field[64];
    hvf_hash seen;

    if (!cr_list_ok(c, arr, "waves", HVF_PLAN_MAX_ITEMS))
        return;
    hvf_hash_init(&seen);
    p->waves = hvf_calloc(json_array_size(arr) + 1, sizeof(hvf_change_plan_file_wave));
    json_array_foreach(arr, i, item)
    {
        int line = rj_item_line(c, "waves", i);
        hvf_change_plan_file_wave *w;

        snprintf(path, sizeof(path), "waves[%zu]", i);
        if (rj_object(c, item, path, line, cr_wave, HVF_ARRAY_LEN(cr_wave), v) != 0)
            continue;
        w = &p->waves[p->nwaves++];
        w->canary = json_is_true(v[W_CANARY]);
        if (json_integer_value(v[W_WAVE]) != (json_int_t)i + 1) {
            snprintf(field, sizeof(field), "%s.wave", path);
            rj_report(c, line, field, v[W_WAVE], "expected %zu (waves are numbered in order)",
                      i + 1);
        }
        snprintf(field, sizeof(field), "%s.units", path);
        w->units = cr_strings(c, v[W_UNITS], line, field, true, &w->nunits);
        if (w->nunits == 0 && json_array_size(v[W_UNITS]) == 0)
            rj_report(c, line, field, v[W_UNITS], "expected at least one unit");
        for (size_t k = 0; k < w->nunits; k++) {
            if (hvf_hash_put(&seen, w->units[k], 0) < 0)
                rj_report(c, line, field, json_array_get(v[W_UNITS], k),
                          "expected each unit in one wave, once");
        }
        snprintf(field, sizeof(field), "%s.variants", path);
        w->variants = cr_strings(c, v[W_VARIANTS], line, field, false, &w->nvariants);
        for (size_t k = 0; k < w->nvariants; k++) {
            if (hvf_hash_get(&known->h, w->variants[k]) < 0)
                rj_report(c, line, field, json_array_get(v[W_VARIANTS], k),
                          "expected a variant listed in variants");
        }
    }
    hvf_hash_clear(&seen);
}

static void
cr_seatbelt_read(rj_ctx *c, json_t *obj, hvf_change_plan_file *p)
{
    json_t *b[2];

    if (rj_object(c, obj, "seatbelt", rj_line(c, "seatbelt"), cr_seatbelt, 2, b) != 0)
        return;
    p->verdict = (hvf_plan_verdict)cr_enum(b[B_VERDICT], hvf_plan_verdict_names);
    if (!cr_list_ok(c, b[B_REASONS], "seatbelt", HVF_CHANGE_MAX_ITEMS))
        return;
    p->reasons = cr_strings(c, b[B_REASONS], rj_line(c, "seatbelt.reasons"), "seatbelt.reasons",
                            false, &p->nreasons);
}

/* The hash `plan change` sealed: SHA-256 of the plan as it writes it, plan_hash left out. */
static void
cr_content_hash(json_t *root, char hex[HVF_SHA256_HEX_LEN + 1])
{
    json_t *copy = json_deep_copy(root);
    char *text;
    hvf_strbuf sb = HVF_STRBUF_INIT;

    HVF_ASSERT(copy);
    json_object_del(copy, "plan_hash");
    text = json_dumps(copy, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    HVF_ASSERT(text);
    hvf_strbuf_puts(&sb, text);
    hvf_strbuf_puts(&sb, "\n");
    hvf_sha256_hex(sb.buf, sb.len, hex);
    hvf_strbuf_clear(&sb);
    free(text);
    json_decref(copy);
}

static void
cr_consistency(rj_ctx *c, hvf_change_plan_file *p, json_t *units_v)
{
    size_t total = 0;

    for (size_t i = 0; i < p->nwaves; i++)
        total += p->waves[i].nunits;
    if (json_integer_value(units_v) != (json_int_t)total)
        rj_report(c, rj_line(c, "targets.units"), "targets.units", units_v,
                  "expected the number of units in the waves (%zu)", total);
    p->nunits = total;
    for (size_t v = 0; v < p->nvariants; v++) {
        if (p->variants[v].units > total)
            rj_report(c, rj_item_line(c, "variants", v), "variants.units", NULL,
                      "expected at most the number of units (%zu) for %s=%s", total,
                      p->variants[v].dim, p->variants[v].value);
    }
}

/* What the executor needs to run the plan: times, gates, rollback, parallelism (the fields'
 * types and ranges were checked with the root's). */
static void
cr_run_read(rj_ctx *c, json_t **rv, hvf_change_plan_file *p)
{
    json_t *g, *rb = rv[R_ROLLBACK], *lim = rv[R_LIMITS];
    size_t i;

    p->apply_us = rv[R_APPLY] ? (int64_t)(json_number_value(rv[R_APPLY]) * 1e6) : 0;
    p->bake_us = rv[R_BAKE] ? (int64_t)(json_number_value(rv[R_BAKE]) * 1e6) : 0;
    p->gate_interval_us = rv[R_GATE_INT] ? (int64_t)(json_number_value(rv[R_GATE_INT]) * 1e6) : 0;
    p->rollback_batch = 1;
    if (json_is_object(rb)) {
        json_t *b = json_object_get(rb, "batch_max");

        p->rollback = json_is_true(json_object_get(rb, "enabled"));
        if (json_is_integer(b) && json_integer_value(b) >= 1 && json_integer_value(b) <= 1000000)
            p->rollback_batch = (uint32_t)json_integer_value(b);
    }
    if (json_is_object(lim)) {
        json_t *m = json_object_get(lim, "max_parallel");

        if (json_is_integer(m) && json_integer_value(m) >= 0 &&
            json_integer_value(m) <= 1000000)
            p->max_parallel = (uint32_t)json_integer_value(m);
    }
    if (!json_is_array(rv[R_GATES]))
        return;
    p->gates = hvf_calloc(json_array_size(rv[R_GATES]) + 1, sizeof(*p->gates));
    json_array_foreach(rv[R_GATES], i, g)
    {
        hvf_change_gate *gate = &p->gates[p->ngates];
        json_t *type = json_is_object(g) ? json_object_get(g, "type") : NULL;
        int t = -1;
        json_t *max_s = json_is_object(g) ? json_object_get(g, "max_s") : NULL;
        json_t *min_ok = json_is_object(g) ? json_object_get(g, "min_success") : NULL;

        for (int k = 0; json_is_string(type) && hvf_change_gate_names[k]; k++) {
            if (strcmp(hvf_change_gate_names[k], json_string_value(type)) == 0)
                t = k;
        }
        if (t < 0) {
            rj_report(c, rj_item_line(c, "gates", i), "gates.type", type,
                      "expected one of the gate types (docs/changes.md)");
            continue;
        }
        gate->type = (hvf_change_gate_type)t;
        gate->max_latency_us =
            json_is_number(max_s) && json_number_value(max_s) >= 0 &&
                    json_number_value(max_s) <= HVF_PLAN_MAX_SECONDS
                ? (int64_t)(json_number_value(max_s) * 1e6)
                : 0;
        gate->min_success = json_is_number(min_ok) ? json_number_value(min_ok) : 0;
        p->ngates++;
    }
}

static hvf_change_plan_file *
cr_plan(rj_ctx *c, json_t *root, hvf_error *err)
{
    json_t *rv[HVF_ARRAY_LEN(cr_root)], *tv[2] = {0};
    hvf_change_plan_file *p = hvf_calloc(1, sizeof(*p));
    size_t before = c->diags->total;
    cr_known known = {0};

    hvf_hash_init(&known.h);
    rj_object(c, root, "", 1, cr_root, HVF_ARRAY_LEN(cr_root), rv);
    if (json_is_object(root)) {
        if (rv[R_SCHEMA] && strcmp(json_string_value(rv[R_SCHEMA]), HVF_CHANGE_PLAN_SCHEMA) != 0)
            rj_report(c, rj_line(c, "schema"), "schema", rv[R_SCHEMA],
                      "expected '" HVF_CHANGE_PLAN_SCHEMA "'");
        if (rv[R_CHANGE] && !cr_line_string(rv[R_CHANGE]))
            rj_report(c, rj_line(c, "change"), "change", rv[R_CHANGE], "expected one line");
        else if (rv[R_CHANGE])
            p->change = hvf_strdup(json_string_value(rv[R_CHANGE]));
        if (rv[R_KIND])
            p->kind = (hvf_change_kind)cr_enum(rv[R_KIND], hvf_change_kind_names);
        if (rv[R_TARGETS] && rj_object(c, rv[R_TARGETS], "targets", rj_line(c, "targets"),
                                       cr_targets, 2, tv) == 0)
            p->vm_units = cr_enum(tv[T_TYPE], cr_target_types) == 1;
        if (rv[R_VARIANTS])
            cr_variants(c, rv[R_VARIANTS], p, &known);
        if (rv[R_WAVES])
            cr_waves(c, rv[R_WAVES], p, &known);
        if (rv[R_SEATBELT])
            cr_seatbelt_read(c, rv[R_SEATBELT], p);
        cr_run_read(c, rv, p);
        if (rv[R_HASH] && !cr_is_hex64(json_string_value(rv[R_HASH])))
            rj_report(c, rj_line(c, "plan_hash"), "plan_hash", rv[R_HASH],
                      "expected 64 lowercase hex digits");
        else if (rv[R_HASH])
            hvf_strlcpy(p->plan_hash, json_string_value(rv[R_HASH]), sizeof(p->plan_hash));
        if (c->diags->total == before)
            cr_consistency(c, p, tv[T_UNITS]);
    }
    hvf_hash_clear(&known.h);
    for (size_t i = 0; i < known.n; i++)
        free(known.keys[i]);
    free(known.keys);
    if (c->diags->total > before) {
        size_t n = c->diags->total - before;
        hvf_change_plan_file_free(p);
        hvf_error_set(err, HVF_ERR_INVALID, "change plan '%s' has %zu problem%s", c->file, n,
                      n == 1 ? "" : "s");
        return NULL;
    }
    cr_content_hash(root, p->content_hash);
    return p;
}

bool
hvf_change_plan_file_sniff(const char *buf, size_t len)
{
    static const char tag[] = "\"" HVF_CHANGE_PLAN_SCHEMA "\"";

    /* A text test, not a parse: maintenance plans can be tens of MB. The reader that follows
     * checks the schema field strictly. */
    return memmem(buf, len < 4096 ? len : 4096, tag, sizeof(tag) - 1) != NULL;
}

hvf_change_plan_file *
hvf_change_plan_file_parse(const char *name, const char *buf, size_t len, hvf_diags *diags,
                           hvf_error *err)
{
    json_error_t jerr;
    json_t *root;
    rj_ctx c;
    hvf_change_plan_file *p;

    if (len > HVF_CONF_MAX_BYTES) {
        hvf_error_set(err, HVF_ERR_INVALID, "change plan '%s' is %zu bytes: the limit is %u",
                      name, len, HVF_CONF_MAX_BYTES);
        return NULL;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        hvf_diags_add(diags, "%s:%d: syntax: %s (column %d): expected a JSON change plan", name,
                      jerr.line > 0 ? jerr.line : 1, jerr.text, jerr.column);
        hvf_error_set(err, HVF_ERR_INVALID, "change plan '%s' is not valid JSON", name);
        return NULL;
    }
    rj_init(&c, name, diags, buf, len);
    p = cr_plan(&c, root, err);
    rj_free(&c);
    json_decref(root);
    return p;
}

hvf_change_plan_file *
hvf_change_plan_file_load(const char *path, hvf_diags *diags, hvf_error *err)
{
    size_t len = 0;
    HVF_AUTOFREE char *buf = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &len, err);

    if (!buf)
        return NULL;
    return hvf_change_plan_file_parse(path, buf, len, diags, err);
}

static void
cr_free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void
hvf_change_plan_file_free(hvf_change_plan_file *p)
{
    if (!p)
        return;
    free(p->change);
    for (size_t v = 0; v < p->nvariants; v++) {
        free(p->variants[v].dim);
        free(p->variants[v].value);
    }
    free(p->variants);
    for (size_t w = 0; w < p->nwaves; w++) {
        cr_free_strings(p->waves[w].units, p->waves[w].nunits);
        cr_free_strings(p->waves[w].variants, p->waves[w].nvariants);
    }
    free(p->waves);
    free(p->gates);
    cr_free_strings(p->reasons, p->nreasons);
    free(p);
}

bool
hvf_change_plan_file_hash_ok(const hvf_change_plan_file *p)
{
    return p->plan_hash[0] && strcmp(p->plan_hash, p->content_hash) == 0;
}
