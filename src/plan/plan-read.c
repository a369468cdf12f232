/* SPDX-License-Identifier: MIT */
/* Reading plan files strictly: a plan is untrusted input that decides what happens to a fleet. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/plan.h"
#include "util/text.h"

typedef struct rd_root {
    char *schema, *fingerprint;
    int kind, strategy;
    struct fy_node *summary, *hosts, *migrations, *stops;
} rd_root;

static const hvf_field_spec rd_root_fields[] = {
    {.name = "schema",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rd_root, schema),
     .required = true},
    {.name = "kind",
     .type = HVF_FIELD_ENUM,
     .offset = offsetof(rd_root, kind),
     .required = true,
     .enum_names = hvf_plan_kind_names},
    {.name = "strategy",
     .type = HVF_FIELD_ENUM,
     .offset = offsetof(rd_root, strategy),
     .required = true,
     .enum_names = hvf_plan_strategy_names},
    {.name = "inventory_fingerprint",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rd_root, fingerprint),
     .required = true},
    {.name = "summary",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(rd_root, summary),
     .required = true},
    {.name = "hosts", .type = HVF_FIELD_NODE, .offset = offsetof(rd_root, hosts), .required = true},
    {.name = "migrations",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(rd_root, migrations),
     .required = true},
    {.name = "stops", .type = HVF_FIELD_NODE, .offset = offsetof(rd_root, stops), .required = true},
};

typedef struct rd_summary {
    uint32_t hosts, migrations, parallel, moved, at_risk;
    double makespan, peak_mem, peak_off;
    struct fy_node *non_converging, *seatbelt;
    char *hash;
} rd_summary;

#define RD_SECONDS .min = 0, .max = HVF_PLAN_MAX_SECONDS

static const hvf_field_spec rd_summary_fields[] = {
    {.name = "hosts",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_summary, hosts),
     .required = true,
     .min = 0,
     .max = HVF_PLAN_MAX_ITEMS},
    {.name = "migrations",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_summary, migrations),
     .required = true,
     .min = 0,
     .max = HVF_PLAN_MAX_ITEMS},
    {.name = "makespan_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_summary, makespan),
     .required = true,
     RD_SECONDS},
    {.name = "max_parallel_hosts_seen",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_summary, parallel),
     .required = true,
     .min = 0,
     .max = HVF_PLAN_MAX_ITEMS},
    {.name = "peak_host_memory_ratio",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_summary, peak_mem),
     .required = true,
     .min = 0,
     .max = 4000},
    {.name = "peak_capacity_offline",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_summary, peak_off),
     .required = true,
     .min = 0,
     .max = 1},
    {.name = "vms_moved_more_than_once",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_summary, moved),
     .required = true,
     .min = 0,
     .max = HVF_PLAN_MAX_ITEMS},
    {.name = "vms_at_risk",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_summary, at_risk),
     .required = true,
     .min = 0,
     .max = HVF_PLAN_MAX_ITEMS},
    {.name = "non_converging",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(rd_summary, non_converging),
     .required = true},
    {.name = "seatbelt",
     .type = HVF_FIELD_NODE,
     .offset = offsetof(rd_summary, seatbelt),
     .required = true},
    {.name = "plan_hash",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(rd_summary, hash),
     .required = true},
};

typedef struct rd_seatbelt {
    int verdict;
    char **reasons;
    size_t nreasons;
} rd_seatbelt;

static const hvf_field_spec rd_seatbelt_fields[] = {
    {.name = "verdict",
     .type = HVF_FIELD_ENUM,
     .offset = offsetof(rd_seatbelt, verdict),
     .required = true,
     .enum_names = hvf_plan_verdict_names},
    {.name = "reasons",
     .type = HVF_FIELD_STRLIST,
     .offset = offsetof(rd_seatbelt, reasons),
     .offset2 = offsetof(rd_seatbelt, nreasons),
     .required = true},
};

typedef struct rd_nonconv {
    char *vm;
    int action;
} rd_nonconv;

static const hvf_field_spec rd_nonconv_fields[] = {
    {.name = "vm", .type = HVF_FIELD_NAME, .offset = offsetof(rd_nonconv, vm), .required = true},
    {.name = "action",
     .type = HVF_FIELD_ENUM,
     .offset = offsetof(rd_nonconv, action),
     .required = true,
     .enum_names = hvf_non_converging_names},
};

typedef struct rd_host {
    char *host;
    double es, ee, ms, me;
    uint32_t usable;
} rd_host;

static const hvf_field_spec rd_host_fields[] = {
    {.name = "host", .type = HVF_FIELD_NAME, .offset = offsetof(rd_host, host), .required = true},
    {.name = "evacuate_start_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_host, es),
     .required = true,
     RD_SECONDS},
    {.name = "evacuate_end_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_host, ee),
     .required = true,
     RD_SECONDS},
    {.name = "maintenance_start_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_host, ms),
     .required = true,
     RD_SECONDS},
    {.name = "maintenance_end_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_host, me),
     .required = true,
     RD_SECONDS},
    {.name = "usable_mib",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_host, usable),
     .required = true,
     .min = 1,
     .max = UINT32_MAX},
};

typedef struct rd_migration {
    char *vm, *from, *to;
    double start, end, downtime;
    uint32_t memory, rounds;
    bool converged;
    int strategy;
} rd_migration;

static const hvf_field_spec rd_migration_fields[] = {
    {.name = "vm", .type = HVF_FIELD_NAME, .offset = offsetof(rd_migration, vm), .required = true},
    {.name = "from",
     .type = HVF_FIELD_NAME,
     .offset = offsetof(rd_migration, from),
     .required = true},
    {.name = "to", .type = HVF_FIELD_NAME, .offset = offsetof(rd_migration, to), .required = true},
    {.name = "start_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_migration, start),
     .required = true,
     RD_SECONDS},
    {.name = "end_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_migration, end),
     .required = true,
     RD_SECONDS},
    {.name = "memory_mib",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_migration, memory),
     .required = true,
     .min = 1,
     .max = UINT32_MAX},
    {.name = "downtime_ms",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_migration, downtime),
     .required = true,
     .min = 0,
     .max = HVF_PLAN_MAX_SECONDS},
    {.name = "rounds",
     .type = HVF_FIELD_UINT,
     .offset = offsetof(rd_migration, rounds),
     .required = true,
     .min = 0,
     .max = UINT32_MAX},
    {.name = "converged",
     .type = HVF_FIELD_BOOL,
     .offset = offsetof(rd_migration, converged),
     .required = true},
    {.name = "strategy",
     .type = HVF_FIELD_ENUM,
     .offset = offsetof(rd_migration, strategy),
     .required = true,
     .enum_names = hvf_plan_migration_mode_names},
};

typedef struct rd_stop {
    char *vm, *host, *start_host;
    double stop, start;
} rd_stop;

static const hvf_field_spec rd_stop_fields[] = {
    {.name = "vm", .type = HVF_FIELD_NAME, .offset = offsetof(rd_stop, vm), .required = true},
    {.name = "host", .type = HVF_FIELD_NAME, .offset = offsetof(rd_stop, host), .required = true},
    {.name = "stop_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_stop, stop),
     .required = true,
     RD_SECONDS},
    {.name = "start_s",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(rd_stop, start),
     .required = true,
     RD_SECONDS},
    {.name = "start_host",
     .type = HVF_FIELD_NAME,
     .offset = offsetof(rd_stop, start_host),
     .required = true},
};

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

/* Checks a list node and its size; returns false (after reporting) when it cannot be read. */
static bool
rd_list(hvf_reader *r, struct fy_node *seq, const char *field)
{
    if (!seq || !fy_node_is_sequence(seq)) {
        hvf_reader_report(r, seq, field, "expected a list");
        return false;
    }
    if ((unsigned)fy_node_sequence_item_count(seq) > HVF_PLAN_MAX_ITEMS) {
        hvf_reader_report(r, seq, field, "expected at most %u items", HVF_PLAN_MAX_ITEMS);
        return false;
    }
    return true;
}

/* Reports unless @a <= @b (times in ms); @what says which pair. */
static void
rd_order(hvf_reader *r, struct fy_node *item, const char *path, const char *key, int64_t a,
         int64_t b, const char *what)
{
    if (a > b)
        hvf_reader_report_field(r, item, path, key, "expected %s", what);
}

static void
rd_summary_read(hvf_reader *r, struct fy_node *node, hvf_plan *p, rd_summary *s)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[64];

    if (hvf_reader_map(r, node, "summary", rd_summary_fields, HVF_ARRAY_LEN(rd_summary_fields),
                       s) != 0)
        return;
    p->summary.makespan_ms = hvf_plan_ms_from_s(s->makespan);
    p->summary.max_parallel_hosts_seen = s->parallel;
    p->summary.peak_host_memory_ppm = hvf_plan_ppm(s->peak_mem);
    p->summary.peak_capacity_offline_ppm = hvf_plan_ppm(s->peak_off);
    p->summary.vms_moved_more_than_once = s->moved;
    p->summary.vms_at_risk = s->at_risk;
    if (!rd_is_hex64(s->hash))
        hvf_reader_report_field(r, node, "summary", "plan_hash",
                                "expected 64 lowercase hex digits");
    else
        hvf_strlcpy(p->summary.plan_hash, s->hash, sizeof(p->summary.plan_hash));
    if (rd_list(r, s->non_converging, "summary.non_converging")) {
        while ((item = fy_node_sequence_iterate(s->non_converging, &iter)) != NULL) {
            rd_nonconv nc = {0};
            snprintf(path, sizeof(path), "summary.non_converging[%zu]", i++);
            if (hvf_reader_map(r, item, path, rd_nonconv_fields, HVF_ARRAY_LEN(rd_nonconv_fields),
                               &nc) == 0)
                hvf_plan_add_non_converging(p, nc.vm, (hvf_non_converging)nc.action);
            hvf_reader_free_fields(rd_nonconv_fields, HVF_ARRAY_LEN(rd_nonconv_fields), &nc);
        }
    }
    {
        rd_seatbelt sb = {0};
        if (hvf_reader_map(r, s->seatbelt, "summary.seatbelt", rd_seatbelt_fields,
                           HVF_ARRAY_LEN(rd_seatbelt_fields), &sb) == 0) {
            p->summary.verdict = (hvf_plan_verdict)sb.verdict;
            for (size_t k = 0; k < sb.nreasons; k++) {
                if (strlen(sb.reasons[k]) > 400 || strpbrk(sb.reasons[k], "\n\r\t"))
                    hvf_reader_report(r, s->seatbelt, "summary.seatbelt.reasons",
                                      "expected one line of at most 400 characters per reason");
                else
                    hvf_plan_add_reason(p, "%s", sb.reasons[k]);
            }
        }
        hvf_reader_free_fields(rd_seatbelt_fields, HVF_ARRAY_LEN(rd_seatbelt_fields), &sb);
    }
}

static void
rd_hosts(hvf_reader *r, struct fy_node *seq, hvf_plan *p)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];
    hvf_hash seen;

    if (!rd_list(r, seq, "hosts"))
        return;
    hvf_hash_init(&seen);
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        rd_host h = {0};
        snprintf(path, sizeof(path), "hosts[%zu]", i++);
        if (hvf_reader_map(r, item, path, rd_host_fields, HVF_ARRAY_LEN(rd_host_fields), &h) == 0) {
            hvf_plan_host *ph = hvf_plan_add_host(p, h.host);
            ph->evacuate_start_ms = hvf_plan_ms_from_s(h.es);
            ph->evacuate_end_ms = hvf_plan_ms_from_s(h.ee);
            ph->maintenance_start_ms = hvf_plan_ms_from_s(h.ms);
            ph->maintenance_end_ms = hvf_plan_ms_from_s(h.me);
            ph->usable_mib = h.usable;
            rd_order(r, item, path, "evacuate_end_s", ph->evacuate_start_ms, ph->evacuate_end_ms,
                     "no earlier than evacuate_start_s");
            rd_order(r, item, path, "maintenance_start_s", ph->evacuate_end_ms,
                     ph->maintenance_start_ms, "no earlier than evacuate_end_s");
            rd_order(r, item, path, "maintenance_end_s", ph->maintenance_start_ms,
                     ph->maintenance_end_ms, "no earlier than maintenance_start_s");
            /* The name stays alive in the plan for as long as @seen is used. */
            if (hvf_hash_put(&seen, ph->host, (int32_t)(p->nhosts - 1)) < 0)
                hvf_reader_report_field(r, item, path, "host", "expected each host once in a plan");
        }
        hvf_reader_free_fields(rd_host_fields, HVF_ARRAY_LEN(rd_host_fields), &h);
    }
    hvf_hash_clear(&seen);
}

static void
rd_migrations(hvf_reader *r, struct fy_node *seq, hvf_plan *p)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!rd_list(r, seq, "migrations"))
        return;
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        rd_migration m = {0};
        snprintf(path, sizeof(path), "migrations[%zu]", i++);
        if (hvf_reader_map(r, item, path, rd_migration_fields, HVF_ARRAY_LEN(rd_migration_fields),
                           &m) == 0) {
            hvf_plan_migration *pm = hvf_plan_add_migration(p, m.vm, m.from, m.to);
            pm->start_ms = hvf_plan_ms_from_s(m.start);
            pm->end_ms = hvf_plan_ms_from_s(m.end);
            pm->memory_mib = m.memory;
            pm->downtime_us = (int64_t)llround(m.downtime * 1000.0);
            pm->rounds = m.rounds;
            pm->converged = m.converged;
            pm->strategy = (hvf_plan_migration_mode)m.strategy;
            if (strcmp(m.from, m.to) == 0)
                hvf_reader_report_field(r, item, path, "to", "expected a host other than 'from'");
            rd_order(r, item, path, "end_s", pm->start_ms, pm->end_ms, "no earlier than start_s");
        }
        hvf_reader_free_fields(rd_migration_fields, HVF_ARRAY_LEN(rd_migration_fields), &m);
    }
}

static void
rd_stops(hvf_reader *r, struct fy_node *seq, hvf_plan *p)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!rd_list(r, seq, "stops"))
        return;
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        rd_stop s = {0};
        snprintf(path, sizeof(path), "stops[%zu]", i++);
        if (hvf_reader_map(r, item, path, rd_stop_fields, HVF_ARRAY_LEN(rd_stop_fields), &s) == 0) {
            hvf_plan_stop *ps = hvf_plan_add_stop(p, s.vm, s.host, s.start_host);
            ps->stop_ms = hvf_plan_ms_from_s(s.stop);
            ps->start_ms = hvf_plan_ms_from_s(s.start);
            rd_order(r, item, path, "start_s", ps->stop_ms, ps->start_ms, "no earlier than stop_s");
        }
        hvf_reader_free_fields(rd_stop_fields, HVF_ARRAY_LEN(rd_stop_fields), &s);
    }
}

static hvf_plan *
rd_plan(hvf_reader *r, hvf_error *err)
{
    struct fy_node *root = hvf_reader_root(r);
    rd_root rr = {0};
    rd_summary rs = {0};
    hvf_plan *p = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);
    size_t before = r->diags->total;

    /* Read on after problems at the top level: one pass should report as much as it can. */
    hvf_reader_map(r, root, "", rd_root_fields, HVF_ARRAY_LEN(rd_root_fields), &rr);
    if (root && fy_node_is_mapping(root)) {
        p->kind = (hvf_plan_kind)rr.kind;
        p->strategy = (hvf_plan_strategy)rr.strategy;
        if (rr.schema && strcmp(rr.schema, HVF_PLAN_SCHEMA) != 0)
            hvf_reader_report_field(r, root, "", "schema", "expected '" HVF_PLAN_SCHEMA "'");
        if (rr.fingerprint && !rd_is_hex64(rr.fingerprint))
            hvf_reader_report_field(r, root, "", "inventory_fingerprint",
                                    "expected 64 lowercase hex digits");
        else if (rr.fingerprint)
            hvf_strlcpy(p->inventory_fingerprint, rr.fingerprint, sizeof(p->inventory_fingerprint));
        if (rr.summary)
            rd_summary_read(r, rr.summary, p, &rs);
        if (rr.hosts)
            rd_hosts(r, rr.hosts, p);
        if (rr.migrations)
            rd_migrations(r, rr.migrations, p);
        if (rr.stops)
            rd_stops(r, rr.stops, p);
        if (r->diags->total == before && rs.hosts != p->nhosts)
            hvf_reader_report_field(r, rr.summary, "summary", "hosts",
                                    "expected the number of entries in hosts (%zu)", p->nhosts);
        if (r->diags->total == before && rs.migrations != p->nmigrations)
            hvf_reader_report_field(r, rr.summary, "summary", "migrations",
                                    "expected the number of entries in migrations (%zu)",
                                    p->nmigrations);
        if (r->diags->total == before) {
            int64_t first = 0, last = 0;
            hvf_plan_span_ms(p, &first, &last);
            if (last - first > p->summary.makespan_ms)
                hvf_reader_report_field(r, rr.summary, "summary", "makespan_s",
                                        "expected at least the plan's span from its first start "
                                        "to its last end (%.3f s)",
                                        (double)(last - first) / 1000.0);
        }
        if (r->diags->total == before && rs.parallel > p->nhosts)
            hvf_reader_report_field(r, rr.summary, "summary", "max_parallel_hosts_seen",
                                    "expected at most the number of hosts (%zu)", p->nhosts);
    }
    hvf_reader_free_fields(rd_summary_fields, HVF_ARRAY_LEN(rd_summary_fields), &rs);
    hvf_reader_free_fields(rd_root_fields, HVF_ARRAY_LEN(rd_root_fields), &rr);
    if (r->diags->total > before) {
        size_t n = r->diags->total - before;
        hvf_plan_free(p);
        hvf_error_set(err, HVF_ERR_INVALID, "plan '%s' has %zu problem%s", r->file, n,
                      n == 1 ? "" : "s");
        return NULL;
    }
    return p;
}

hvf_plan *
hvf_plan_parse(const char *name, const char *buf, size_t len, hvf_diags *diags, hvf_error *err)
{
    hvf_reader r;
    hvf_plan *p;
    int line = 0, col = 0;

    if (!hvf_text_utf8_valid(buf, len, &line, &col)) {
        hvf_diags_add(diags, "%s:%d: syntax: byte %d of the line: expected UTF-8 text", name, line,
                      col);
        hvf_error_set(err, HVF_ERR_INVALID, "plan '%s' is not UTF-8 text", name);
        return NULL;
    }
    if (hvf_reader_open_buffer(&r, name, buf, len, diags, err) < 0)
        return NULL;
    p = rd_plan(&r, err);
    hvf_reader_close(&r);
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
