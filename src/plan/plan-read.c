/* SPDX-License-Identifier: MIT */
/*
 * Reading plan files strictly: a plan is untrusted input that decides what happens to a fleet.
 *
 * Plans are JSON written by tools, and can be large (a 200,000-migration plan is ~40 MB). They
 * are read with jansson, not libfyaml: about seven times faster and five times smaller in
 * memory on such files, and libfyaml 0.7 can crash reporting some malformed flow scalars.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/plan.h"
#include "plan/plan-json.h"
#include "util/text.h"

#define RD_SECONDS .min = 0, .max = HVF_PLAN_MAX_SECONDS
#define RD_COUNT .min = 0, .max = HVF_PLAN_MAX_ITEMS

enum { R_SCHEMA, R_KIND, R_STRATEGY, R_FINGERPRINT, R_SUMMARY, R_HOSTS, R_MIGRATIONS, R_STOPS };
static const rj_field rd_root[] = {
    {"schema", RJ_STRING, 0, 0, NULL},
    {"kind", RJ_ENUM, 0, 0, hvf_plan_kind_names},
    {"strategy", RJ_ENUM, 0, 0, hvf_plan_strategy_names},
    {"inventory_fingerprint", RJ_STRING, 0, 0, NULL},
    {"summary", RJ_OBJECT, 0, 0, NULL},
    {"hosts", RJ_ARRAY, 0, 0, NULL},
    {"migrations", RJ_ARRAY, 0, 0, NULL},
    {"stops", RJ_ARRAY, 0, 0, NULL},
};

enum {
    S_HOSTS,
    S_MIGRATIONS,
    S_MAKESPAN,
    S_PARALLEL,
    S_PEAK_MEM,
    S_PEAK_OFF,
    S_MOVED,
    S_AT_RISK,
    S_NONCONV,
    S_SEATBELT,
    S_HASH
};
static const rj_field rd_summary[] = {
    {"hosts", RJ_UINT, RD_COUNT, NULL},
    {"migrations", RJ_UINT, RD_COUNT, NULL},
    {"makespan_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"max_parallel_hosts_seen", RJ_UINT, RD_COUNT, NULL},
    {"peak_host_memory_ratio", RJ_NUMBER, 0, 4000, NULL},
    {"peak_capacity_offline", RJ_NUMBER, 0, 1, NULL},
    {"vms_moved_more_than_once", RJ_UINT, RD_COUNT, NULL},
    {"vms_at_risk", RJ_UINT, RD_COUNT, NULL},
    {"non_converging", RJ_ARRAY, 0, 0, NULL},
    {"seatbelt", RJ_OBJECT, 0, 0, NULL},
    {"plan_hash", RJ_STRING, 0, 0, NULL},
};

enum { B_VERDICT, B_REASONS };
static const rj_field rd_seatbelt[] = {
    {"verdict", RJ_ENUM, 0, 0, hvf_plan_verdict_names},
    {"reasons", RJ_ARRAY, 0, 0, NULL},
};

enum { N_VM, N_ACTION };
static const rj_field rd_nonconv[] = {
    {"vm", RJ_NAME, 0, 0, NULL},
    {"action", RJ_ENUM, 0, 0, hvf_non_converging_names},
};

enum { H_HOST, H_ES, H_EE, H_MS, H_ME, H_USABLE };
static const rj_field rd_host[] = {
    {"host", RJ_NAME, 0, 0, NULL},
    {"evacuate_start_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"evacuate_end_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"maintenance_start_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"maintenance_end_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"usable_mib", RJ_UINT, 1, UINT32_MAX, NULL},
};

enum { M_VM, M_FROM, M_TO, M_START, M_END, M_MEM, M_DOWN, M_ROUNDS, M_CONV, M_STRATEGY };
static const rj_field rd_migration[] = {
    {"vm", RJ_NAME, 0, 0, NULL},
    {"from", RJ_NAME, 0, 0, NULL},
    {"to", RJ_NAME, 0, 0, NULL},
    {"start_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"end_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"memory_mib", RJ_UINT, 1, UINT32_MAX, NULL},
    {"downtime_ms", RJ_NUMBER, RD_SECONDS, NULL},
    {"rounds", RJ_UINT, 0, UINT32_MAX, NULL},
    {"converged", RJ_BOOL, 0, 0, NULL},
    {"strategy", RJ_ENUM, 0, 0, hvf_plan_migration_mode_names},
};

enum { P_VM, P_HOST, P_STOP, P_START, P_START_HOST };
static const rj_field rd_stop[] = {
    {"vm", RJ_NAME, 0, 0, NULL},
    {"host", RJ_NAME, 0, 0, NULL},
    {"stop_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"start_s", RJ_NUMBER, RD_SECONDS, NULL},
    {"start_host", RJ_NAME, 0, 0, NULL},
};

static int
rd_enum(json_t *v, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], json_string_value(v)) == 0)
            return i;
    }
    return 0;
}

static bool
rd_is_hex64(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    }
    return n == HVF_SHA256_HEX_LEN;
}

static int64_t
rd_ms(json_t *v)
{
    return hvf_plan_ms_from_s(json_number_value(v));
}

/* Reports unless @a <= @b (times in ms); @what says which pair. */
static void
rd_order(rj_ctx *c, int line, const char *path, const char *key, json_t *v, int64_t a, int64_t b,
         const char *what)
{
    char field[96];

    if (a <= b)
        return;
    snprintf(field, sizeof(field), "%s.%s", path, key);
    rj_report(c, line, field, v, "expected %s", what);
}

/* An array of at most HVF_PLAN_MAX_ITEMS; false after reporting. */
static bool
rd_list_ok(rj_ctx *c, json_t *arr, const char *key)
{
    if (json_array_size(arr) > HVF_PLAN_MAX_ITEMS) {
        rj_report(c, rj_line(c, key), key, arr, "expected at most %u items", HVF_PLAN_MAX_ITEMS);
        return false;
    }
    return true;
}

static void
rd_summary_read(rj_ctx *c, json_t *obj, hvf_plan *p, json_t **sv)
{
    json_t *item, *b[2];
    size_t i;
    char path[64];

    if (rj_object(c, obj, "summary", rj_line(c, "summary"), rd_summary, HVF_ARRAY_LEN(rd_summary),
                  sv) != 0)
        return;
    p->summary.makespan_ms = rd_ms(sv[S_MAKESPAN]);
    p->summary.max_parallel_hosts_seen = (uint32_t)json_integer_value(sv[S_PARALLEL]);
    p->summary.peak_host_memory_ppm = hvf_plan_ppm(json_number_value(sv[S_PEAK_MEM]));
    p->summary.peak_capacity_offline_ppm = hvf_plan_ppm(json_number_value(sv[S_PEAK_OFF]));
    p->summary.vms_moved_more_than_once = (uint32_t)json_integer_value(sv[S_MOVED]);
    p->summary.vms_at_risk = (uint32_t)json_integer_value(sv[S_AT_RISK]);
    if (!rd_is_hex64(json_string_value(sv[S_HASH])))
        rj_report(c, rj_line(c, "summary.plan_hash"), "summary.plan_hash", sv[S_HASH],
                  "expected 64 lowercase hex digits");
    else
        hvf_strlcpy(p->summary.plan_hash, json_string_value(sv[S_HASH]),
                    sizeof(p->summary.plan_hash));
    if (rd_list_ok(c, sv[S_NONCONV], "summary.non_converging")) {
        json_array_foreach(sv[S_NONCONV], i, item)
        {
            json_t *nv[2];
            snprintf(path, sizeof(path), "summary.non_converging[%zu]", i);
            if (rj_object(c, item, path, rj_item_line(c, "summary.non_converging", i), rd_nonconv,
                          2, nv) == 0)
                hvf_plan_add_non_converging(
                    p, json_string_value(nv[N_VM]),
                    (hvf_non_converging)rd_enum(nv[N_ACTION], hvf_non_converging_names));
        }
    }
    if (rj_object(c, sv[S_SEATBELT], "summary.seatbelt", rj_line(c, "summary.seatbelt"),
                  rd_seatbelt, 2, b) != 0)
        return;
    p->summary.verdict = (hvf_plan_verdict)rd_enum(b[B_VERDICT], hvf_plan_verdict_names);
    json_array_foreach(b[B_REASONS], i, item)
    {
        const char *s = json_string_value(item);
        if (!s || strlen(s) != json_string_length(item) || strlen(s) > 400 ||
            strpbrk(s, "\n\r\t")) {
            rj_report(c, rj_line(c, "summary.seatbelt"), "summary.seatbelt.reasons", item,
                      "expected one line of at most 400 characters per reason");
            continue;
        }
        hvf_plan_add_reason(p, "%s", s);
    }
}

static void
rd_hosts(rj_ctx *c, json_t *arr, hvf_plan *p)
{
    json_t *item, *v[HVF_ARRAY_LEN(rd_host)];
    size_t i;
    char path[48];
    hvf_hash seen;

    if (!rd_list_ok(c, arr, "hosts"))
        return;
    hvf_hash_init(&seen);
    json_array_foreach(arr, i, item)
    {
        int line = rj_item_line(c, "hosts", i);
        hvf_plan_host *ph;

        snprintf(path, sizeof(path), "hosts[%zu]", i);
        if (rj_object(c, item, path, line, rd_host, HVF_ARRAY_LEN(rd_host), v) != 0)
            continue;
        ph = hvf_plan_add_host(p, json_string_value(v[H_HOST]));
        ph->evacuate_start_ms = rd_ms(v[H_ES]);
        ph->evacuate_end_ms = rd_ms(v[H_EE]);
        ph->maintenance_start_ms = rd_ms(v[H_MS]);
        ph->maintenance_end_ms = rd_ms(v[H_ME]);
        ph->usable_mib = (uint64_t)json_integer_value(v[H_USABLE]);
        rd_order(c, line, path, "evacuate_end_s", v[H_EE], ph->evacuate_start_ms,
                 ph->evacuate_end_ms, "no earlier than evacuate_start_s");
        rd_order(c, line, path, "maintenance_start_s", v[H_MS], ph->evacuate_end_ms,
                 ph->maintenance_start_ms, "no earlier than evacuate_end_s");
        rd_order(c, line, path, "maintenance_end_s", v[H_ME], ph->maintenance_start_ms,
                 ph->maintenance_end_ms, "no earlier than maintenance_start_s");
        /* The name stays alive in the plan for as long as @seen is used. */
        if (hvf_hash_put(&seen, ph->host, (int32_t)(p->nhosts - 1)) < 0) {
            char field[64];
            snprintf(field, sizeof(field), "%s.host", path);
            rj_report(c, line, field, v[H_HOST], "expected each host once in a plan");
        }
    }
    hvf_hash_clear(&seen);
}

static void
rd_migrations(rj_ctx *c, json_t *arr, hvf_plan *p)
{
    json_t *item, *v[HVF_ARRAY_LEN(rd_migration)];
    size_t i;
    char path[48];

    if (!rd_list_ok(c, arr, "migrations"))
        return;
    json_array_foreach(arr, i, item)
    {
        int line = rj_item_line(c, "migrations", i);
        hvf_plan_migration *pm;

        snprintf(path, sizeof(path), "migrations[%zu]", i);
        if (rj_object(c, item, path, line, rd_migration, HVF_ARRAY_LEN(rd_migration), v) != 0)
            continue;
        pm = hvf_plan_add_migration(p, json_string_value(v[M_VM]), json_string_value(v[M_FROM]),
                                    json_string_value(v[M_TO]));
        pm->start_ms = rd_ms(v[M_START]);
        pm->end_ms = rd_ms(v[M_END]);
        pm->memory_mib = (uint64_t)json_integer_value(v[M_MEM]);
        pm->downtime_us = (int64_t)llround(json_number_value(v[M_DOWN]) * 1000.0);
        pm->rounds = (uint32_t)json_integer_value(v[M_ROUNDS]);
        pm->converged = json_is_true(v[M_CONV]);
        pm->strategy =
            (hvf_plan_migration_mode)rd_enum(v[M_STRATEGY], hvf_plan_migration_mode_names);
        if (strcmp(pm->from, pm->to) == 0) {
            char field[64];
            snprintf(field, sizeof(field), "%s.to", path);
            rj_report(c, line, field, v[M_TO], "expected a host other than 'from'");
        }
        rd_order(c, line, path, "end_s", v[M_END], pm->start_ms, pm->end_ms,
                 "no earlier than start_s");
    }
}

static void
rd_stops(rj_ctx *c, json_t *arr, hvf_plan *p)
{
    json_t *item, *v[HVF_ARRAY_LEN(rd_stop)];
    size_t i;
    char path[48];

    if (!rd_list_ok(c, arr, "stops"))
        return;
    json_array_foreach(arr, i, item)
    {
        int line = rj_item_line(c, "stops", i);
        hvf_plan_stop *ps;

        snprintf(path, sizeof(path), "stops[%zu]", i);
        if (rj_object(c, item, path, line, rd_stop, HVF_ARRAY_LEN(rd_stop), v) != 0)
            continue;
        ps = hvf_plan_add_stop(p, json_string_value(v[P_VM]), json_string_value(v[P_HOST]),
                               json_string_value(v[P_START_HOST]));
        ps->stop_ms = rd_ms(v[P_STOP]);
        ps->start_ms = rd_ms(v[P_START]);
        rd_order(c, line, path, "start_s", v[P_START], ps->stop_ms, ps->start_ms,
                 "no earlier than stop_s");
    }
}

/* Counts and the span must agree with the lists, once everything else is right. */
static void
rd_consistency(rj_ctx *c, hvf_plan *p, json_t **sv)
{
    int64_t first = 0, last = 0;

    if (json_integer_value(sv[S_HOSTS]) != (json_int_t)p->nhosts)
        rj_report(c, rj_line(c, "summary.hosts"), "summary.hosts", sv[S_HOSTS],
                  "expected the number of entries in hosts (%zu)", p->nhosts);
    if (json_integer_value(sv[S_MIGRATIONS]) != (json_int_t)p->nmigrations)
        rj_report(c, rj_line(c, "summary.migrations"), "summary.migrations", sv[S_MIGRATIONS],
                  "expected the number of entries in migrations (%zu)", p->nmigrations);
    if (p->summary.max_parallel_hosts_seen > p->nhosts)
        rj_report(c, rj_line(c, "summary.max_parallel_hosts_seen"),
                  "summary.max_parallel_hosts_seen", sv[S_PARALLEL],
                  "expected at most the number of hosts (%zu)", p->nhosts);
    hvf_plan_span_ms(p, &first, &last);
    if (last - first > p->summary.makespan_ms)
        rj_report(c, rj_line(c, "summary.makespan_s"), "summary.makespan_s", sv[S_MAKESPAN],
                  "expected at least the plan's span from its first start to its last end "
                  "(%.3f s)",
                  (double)(last - first) / 1000.0);
}

static hvf_plan *
rd_plan(rj_ctx *c, json_t *root, hvf_error *err)
{
    json_t *rv[HVF_ARRAY_LEN(rd_root)];
    json_t *sv[HVF_ARRAY_LEN(rd_summary)] = {0};
    hvf_plan *p = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);
    size_t before = c->diags->total;

    /* Read on after problems at the top level: one pass should report as much as it can. */
    rj_object(c, root, "", 1, rd_root, HVF_ARRAY_LEN(rd_root), rv);
    if (json_is_object(root)) {
        if (rv[R_KIND])
            p->kind = (hvf_plan_kind)rd_enum(rv[R_KIND], hvf_plan_kind_names);
        if (rv[R_STRATEGY])
            p->strategy = (hvf_plan_strategy)rd_enum(rv[R_STRATEGY], hvf_plan_strategy_names);
        if (rv[R_SCHEMA] && strcmp(json_string_value(rv[R_SCHEMA]), HVF_PLAN_SCHEMA) != 0)
            rj_report(c, rj_line(c, "schema"), "schema", rv[R_SCHEMA],
                      "expected '" HVF_PLAN_SCHEMA "'");
        if (rv[R_FINGERPRINT] && !rd_is_hex64(json_string_value(rv[R_FINGERPRINT])))
            rj_report(c, rj_line(c, "inventory_fingerprint"), "inventory_fingerprint",
                      rv[R_FINGERPRINT], "expected 64 lowercase hex digits");
        else if (rv[R_FINGERPRINT])
            hvf_strlcpy(p->inventory_fingerprint, json_string_value(rv[R_FINGERPRINT]),
                        sizeof(p->inventory_fingerprint));
        if (rv[R_SUMMARY])
            rd_summary_read(c, rv[R_SUMMARY], p, sv);
        if (rv[R_HOSTS])
            rd_hosts(c, rv[R_HOSTS], p);
        if (rv[R_MIGRATIONS])
            rd_migrations(c, rv[R_MIGRATIONS], p);
        if (rv[R_STOPS])
            rd_stops(c, rv[R_STOPS], p);
        if (c->diags->total == before)
            rd_consistency(c, p, sv);
    }
    if (c->diags->total > before) {
        size_t n = c->diags->total - before;
        hvf_plan_free(p);
        hvf_error_set(err, HVF_ERR_INVALID, "plan '%s' has %zu problem%s", c->file, n,
                      n == 1 ? "" : "s");
        return NULL;
    }
    return p;
}

hvf_plan *
hvf_plan_parse(const char *name, const char *buf, size_t len, hvf_diags *diags, hvf_error *err)
{
    json_error_t jerr;
    json_t *root;
    rj_ctx c;
    hvf_plan *p;

    if (len > HVF_CONF_MAX_BYTES) {
        hvf_error_set(err, HVF_ERR_INVALID, "plan '%s' is %zu bytes: the limit is %u", name, len,
                      HVF_CONF_MAX_BYTES);
        return NULL;
    }
    /* jansson refuses bad UTF-8, NUL escapes and duplicate keys too. */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        hvf_diags_add(diags, "%s:%d: syntax: %s (column %d): expected a JSON plan", name,
                      jerr.line > 0 ? jerr.line : 1, jerr.text, jerr.column);
        hvf_error_set(err, HVF_ERR_INVALID, "plan '%s' is not valid JSON", name);
        return NULL;
    }
    rj_init(&c, name, diags, buf, len);
    p = rd_plan(&c, root, err);
    rj_free(&c);
    json_decref(root);
    return p;
}

hvf_plan *
hvf_plan_load(const char *path, hvf_diags *diags, hvf_error *err)
{
    size_t len = 0;
    HVF_AUTOFREE char *buf = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &len, err);

    if (!buf)
        return NULL;
    return hvf_plan_parse(path, buf, len, diags, err);
}

hvf_plan_file_kind
hvf_plan_file_kind_of(const char *buf, size_t len)
{
    json_t *root;
    const char *schema;
    hvf_plan_file_kind kind = HVF_PLAN_FILE_OTHER;

    if (len > HVF_CONF_MAX_BYTES)
        return HVF_PLAN_FILE_OTHER;
    /* A whole parse, not a text search: the schema key may come anywhere in the object. */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (!root) /* its syntax error is reported by the reader its first 4 KiB name */
        return hvf_change_plan_file_sniff(buf, len) ? HVF_PLAN_FILE_CHANGE : HVF_PLAN_FILE_OTHER;
    schema = json_string_value(json_object_get(root, "schema"));
    if (schema && strcmp(schema, HVF_CHANGE_PLAN_SCHEMA) == 0)
        kind = HVF_PLAN_FILE_CHANGE;
    else if (schema && strcmp(schema, HVF_PLAN_SCHEMA) == 0)
        kind = HVF_PLAN_FILE_MAINTENANCE;
    json_decref(root);
    return kind;
}

hvf_plan_file_kind
hvf_plan_file_kind_load(const char *path)
{
    size_t len = 0;
    HVF_AUTOFREE char *buf = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &len, NULL);

    return buf ? hvf_plan_file_kind_of(buf, len) : HVF_PLAN_FILE_OTHER;
}
