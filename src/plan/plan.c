/* SPDX-License-Identifier: MIT */
/* The plan structure, its hash and its JSON form (reading is in plan-read.c). */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/plan.h"

const char *const hvf_plan_kind_names[] = {"maintenance", "drain", "rebalance", NULL};
const char *const hvf_plan_strategy_names[] = {"hvfleet", "naive", NULL};
const char *const hvf_plan_migration_mode_names[] = {"precopy", "auto-converge", "post-copy", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_plan_kind_names) == HVF_PLAN_KIND_LAST + 1, "kinds");
_Static_assert(HVF_ARRAY_LEN(hvf_plan_strategy_names) == HVF_PLAN_STRATEGY_LAST + 1, "strategies");
_Static_assert(HVF_ARRAY_LEN(hvf_plan_migration_mode_names) == HVF_PLAN_MIGRATION_LAST + 1,
               "migration modes");

const char *
hvf_plan_kind_to_string(hvf_plan_kind k)
{
    return (unsigned)k < HVF_PLAN_KIND_LAST ? hvf_plan_kind_names[k] : "unknown";
}

const char *
hvf_plan_strategy_to_string(hvf_plan_strategy s)
{
    return (unsigned)s < HVF_PLAN_STRATEGY_LAST ? hvf_plan_strategy_names[s] : "unknown";
}

const char *
hvf_plan_migration_mode_to_string(hvf_plan_migration_mode m)
{
    return (unsigned)m < HVF_PLAN_MIGRATION_LAST ? hvf_plan_migration_mode_names[m] : "unknown";
}

int
hvf_plan_strategy_from_string(const char *s)
{
    for (int i = 0; hvf_plan_strategy_names[i]; i++) {
        if (strcmp(hvf_plan_strategy_names[i], s) == 0)
            return i;
    }
    return -1;
}

hvf_plan *
hvf_plan_new(hvf_plan_kind kind, hvf_plan_strategy strategy)
{
    hvf_plan *p = HVF_NEW(hvf_plan);

    p->kind = kind;
    p->strategy = strategy;
    p->summary.verdict = HVF_PLAN_VERDICT_AUTO;
    return p;
}

void
hvf_plan_clear_reasons(hvf_plan *p)
{
    for (size_t i = 0; i < p->summary.nreasons; i++)
        free(p->summary.reasons[i]);
    p->summary.nreasons = 0;
}

void
hvf_plan_free(hvf_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nhosts; i++)
        free(p->hosts[i].host);
    for (size_t i = 0; i < p->nmigrations; i++) {
        free(p->migrations[i].vm);
        free(p->migrations[i].from);
        free(p->migrations[i].to);
    }
    for (size_t i = 0; i < p->nstops; i++) {
        free(p->stops[i].vm);
        free(p->stops[i].host);
        free(p->stops[i].start_host);
    }
    for (size_t i = 0; i < p->summary.nnon_converging; i++)
        free(p->summary.non_converging[i].vm);
    hvf_plan_clear_reasons(p);
    free(p->summary.reasons);
    free(p->summary.non_converging);
    free(p->hosts);
    free(p->migrations);
    free(p->stops);
    free(p);
}

hvf_plan_host *
hvf_plan_add_host(hvf_plan *p, const char *host)
{
    hvf_plan_host *h;

    hvf_grow(&p->hosts, &p->hosts_cap, p->nhosts + 1, sizeof(hvf_plan_host));
    h = &p->hosts[p->nhosts++];
    memset(h, 0, sizeof(*h));
    h->host = hvf_strdup(host);
    return h;
}

hvf_plan_migration *
hvf_plan_add_migration(hvf_plan *p, const char *vm, const char *from, const char *to)
{
    hvf_plan_migration *m;

    hvf_grow(&p->migrations, &p->migrations_cap, p->nmigrations + 1, sizeof(hvf_plan_migration));
    m = &p->migrations[p->nmigrations++];
    memset(m, 0, sizeof(*m));
    m->vm = hvf_strdup(vm);
    m->from = hvf_strdup(from);
    m->to = hvf_strdup(to);
    m->converged = true;
    return m;
}

hvf_plan_stop *
hvf_plan_add_stop(hvf_plan *p, const char *vm, const char *host, const char *start_host)
{
    hvf_plan_stop *s;

    hvf_grow(&p->stops, &p->stops_cap, p->nstops + 1, sizeof(hvf_plan_stop));
    s = &p->stops[p->nstops++];
    memset(s, 0, sizeof(*s));
    s->vm = hvf_strdup(vm);
    s->host = hvf_strdup(host);
    s->start_host = hvf_strdup(start_host);
    return s;
}

void
hvf_plan_add_non_converging(hvf_plan *p, const char *vm, hvf_non_converging action)
{
    hvf_plan_summary *s = &p->summary;

    hvf_grow(&s->non_converging, &s->non_converging_cap, s->nnon_converging + 1,
             sizeof(hvf_plan_non_converging));
    s->non_converging[s->nnon_converging].vm = hvf_strdup(vm);
    s->non_converging[s->nnon_converging].action = action;
    s->nnon_converging++;
}

void
hvf_plan_add_reason(hvf_plan *p, const char *fmt, ...)
{
    hvf_plan_summary *s = &p->summary;
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (char *c = buf; *c; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    }
    hvf_grow(&s->reasons, &s->reasons_cap, s->nreasons + 1, sizeof(char *));
    s->reasons[s->nreasons++] = hvf_strdup(buf);
}

int64_t
hvf_plan_ms_from_s(double s)
{
    return (int64_t)llround(s * 1000.0);
}

uint32_t
hvf_plan_ppm(double ratio)
{
    double v = round(ratio * 1e6);
    return v <= 0 ? 0 : v >= 4e9 ? 4000000000u : (uint32_t)v;
}

void
hvf_plan_span_ms(const hvf_plan *p, int64_t *first_ms, int64_t *last_ms)
{
    int64_t first = INT64_MAX, last = INT64_MIN;

#define PLAN_SPAN(a, b)                                                                            \
    do {                                                                                           \
        if ((a) < first)                                                                           \
            first = (a);                                                                           \
        if ((b) > last)                                                                            \
            last = (b);                                                                            \
    } while (0)
    for (size_t i = 0; i < p->nhosts; i++)
        PLAN_SPAN(p->hosts[i].evacuate_start_ms, p->hosts[i].maintenance_end_ms);
    for (size_t i = 0; i < p->nmigrations; i++)
        PLAN_SPAN(p->migrations[i].start_ms, p->migrations[i].end_ms);
    for (size_t i = 0; i < p->nstops; i++)
        PLAN_SPAN(p->stops[i].stop_ms, p->stops[i].start_ms);
#undef PLAN_SPAN
    *first_ms = first == INT64_MAX ? 0 : first;
    *last_ms = last == INT64_MIN ? 0 : last;
}

static int
plan_i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

uint32_t
hvf_plan_max_parallel_hosts(const hvf_plan *p)
{
    HVF_AUTOFREE int64_t *starts = hvf_calloc(p->nhosts + 1, sizeof(int64_t));
    HVF_AUTOFREE int64_t *ends = hvf_calloc(p->nhosts + 1, sizeof(int64_t));
    uint32_t cur = 0, max = 0;
    size_t i = 0, j = 0;

    for (size_t k = 0; k < p->nhosts; k++) {
        starts[k] = p->hosts[k].evacuate_start_ms;
        ends[k] = p->hosts[k].maintenance_end_ms;
    }
    qsort(starts, p->nhosts, sizeof(int64_t), plan_i64_cmp);
    qsort(ends, p->nhosts, sizeof(int64_t), plan_i64_cmp);
    /* An interval ending when another starts does not overlap it. */
    while (i < p->nhosts) {
        if (j < p->nhosts && ends[j] <= starts[i]) {
            cur--;
            j++;
        } else {
            if (++cur > max)
                max = cur;
            i++;
        }
    }
    return max;
}

void
hvf_plan_inventory_fingerprint(const hvf_fleet *f, char hex[HVF_SHA256_HEX_LEN + 1])
{
    hvf_inventory_fingerprint_shape(f, hex);
}

/* ---- hash ---------------------------------------------------------------------------------- */

static void plan_hash_line(hvf_sha256 *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
plan_hash_line(hvf_sha256 *ctx, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* Lines hold names (at most 63 characters each) and numbers: they always fit. */
    HVF_ASSERT(n >= 0 && (size_t)n < sizeof(buf));
    hvf_sha256_update(ctx, buf, (size_t)n);
}

/* A canonical line built without printf: hundreds of thousands of them in a large plan. */
typedef struct {
    char buf[1024];
    size_t len;
} plan_line;

static void
plan_line_add(plan_line *l, const char *s, size_t n)
{
    /* Lines hold names (at most 63 characters each) and numbers: they always fit. */
    HVF_ASSERT(l->len + n < sizeof(l->buf));
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void
plan_line_str(plan_line *l, const char *s)
{
    plan_line_add(l, s, strlen(s));
}

/* " " then @s */
static void
plan_line_word(plan_line *l, const char *s)
{
    plan_line_str(l, " ");
    plan_line_str(l, s);
}

/* " " then @v in decimal, as "%" PRId64 / PRIu64 */
static void
plan_line_num(plan_line *l, bool negative, uint64_t mag)
{
    char buf[24], *p = buf + sizeof(buf);

    do {
        *--p = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (negative)
        *--p = '-';
    *--p = ' ';
    plan_line_add(l, p, (size_t)(buf + sizeof(buf) - p));
}

static void
plan_line_i64(plan_line *l, int64_t v)
{
    plan_line_num(l, v < 0, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

static void
plan_line_u64(plan_line *l, uint64_t v)
{
    plan_line_num(l, false, v);
}

static void
plan_line_end(plan_line *l, hvf_sha256 *ctx)
{
    plan_line_str(l, "\n");
    hvf_sha256_update(ctx, l->buf, l->len);
    l->len = 0;
}

/*
 * The canonical form: one line per item, fields separated by spaces, integers only. Names can
 * hold no spaces (hvf_name_is_valid); free-text reasons are length-prefixed.
 */
void
hvf_plan_compute_hash(const hvf_plan *p, char hex[HVF_SHA256_HEX_LEN + 1])
{
    const hvf_plan_summary *s = &p->summary;
    uint8_t digest[HVF_SHA256_BYTES];
    hvf_sha256 ctx;

    hvf_sha256_init(&ctx);
    plan_hash_line(&ctx, "%s\nkind %s\nstrategy %s\ninventory %s\n", HVF_PLAN_SCHEMA,
                   hvf_plan_kind_to_string(p->kind), hvf_plan_strategy_to_string(p->strategy),
                   p->inventory_fingerprint);
    plan_hash_line(&ctx, "summary %zu %zu %" PRId64 " %u %u %u %u %u %s\n", p->nhosts,
                   p->nmigrations, s->makespan_ms, s->max_parallel_hosts_seen,
                   s->peak_host_memory_ppm, s->peak_capacity_offline_ppm,
                   s->vms_moved_more_than_once, s->vms_at_risk,
                   hvf_plan_verdict_to_string(s->verdict));
    for (size_t i = 0; i < s->nreasons; i++) {
        size_t len = strlen(s->reasons[i]);
        plan_hash_line(&ctx, "reason %zu ", len);
        hvf_sha256_update(&ctx, s->reasons[i], len);
        hvf_sha256_update(&ctx, "\n", 1);
    }
    for (size_t i = 0; i < s->nnon_converging; i++)
        plan_hash_line(&ctx, "non_converging %s %s\n", s->non_converging[i].vm,
                       hvf_non_converging_to_string(s->non_converging[i].action));
    /* host %s %PRId64 %PRId64 %PRId64 %PRId64 %PRIu64 */
    for (size_t i = 0; i < p->nhosts; i++) {
        const hvf_plan_host *h = &p->hosts[i];
        plan_line l = {.len = 0};

        plan_line_str(&l, "host");
        plan_line_word(&l, h->host);
        plan_line_i64(&l, h->evacuate_start_ms);
        plan_line_i64(&l, h->evacuate_end_ms);
        plan_line_i64(&l, h->maintenance_start_ms);
        plan_line_i64(&l, h->maintenance_end_ms);
        plan_line_u64(&l, h->usable_mib);
        plan_line_end(&l, &ctx);
    }
    /* migration %s %s %s %PRId64 %PRId64 %PRIu64 %PRId64 %u %d %s */
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        plan_line l = {.len = 0};

        plan_line_str(&l, "migration");
        plan_line_word(&l, m->vm);
        plan_line_word(&l, m->from);
        plan_line_word(&l, m->to);
        plan_line_i64(&l, m->start_ms);
        plan_line_i64(&l, m->end_ms);
        plan_line_u64(&l, m->memory_mib);
        plan_line_i64(&l, m->downtime_us);
        plan_line_u64(&l, m->rounds);
        plan_line_u64(&l, m->converged ? 1 : 0);
        plan_line_word(&l, hvf_plan_migration_mode_to_string(m->strategy));
        plan_line_end(&l, &ctx);
    }
    /* stop %s %s %s %PRId64 %PRId64 */
    for (size_t i = 0; i < p->nstops; i++) {
        const hvf_plan_stop *st = &p->stops[i];
        plan_line l = {.len = 0};

        plan_line_str(&l, "stop");
        plan_line_word(&l, st->vm);
        plan_line_word(&l, st->host);
        plan_line_word(&l, st->start_host);
        plan_line_i64(&l, st->stop_ms);
        plan_line_i64(&l, st->start_ms);
        plan_line_end(&l, &ctx);
    }
    hvf_sha256_final(&ctx, digest);
    hvf_sha256_to_hex(digest, hex);
}

void
hvf_plan_seal(hvf_plan *p)
{
    hvf_plan_compute_hash(p, p->summary.plan_hash);
}

bool
hvf_plan_hash_ok(const hvf_plan *p)
{
    char hex[HVF_SHA256_HEX_LEN + 1];

    hvf_plan_compute_hash(p, hex);
    return strcmp(hex, p->summary.plan_hash) == 0;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* 12 significant digits keep milliseconds exact up to 10^9 s and print 1.5 as 1.5. */
#define PLAN_JSON_FLAGS (JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

static json_t *
plan_seconds(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

static json_t *
plan_summary_json(const hvf_plan *p)
{
    const hvf_plan_summary *s = &p->summary;
    json_t *o = json_object();
    json_t *nc = json_array();
    json_t *reasons = json_array();

    json_object_set_new(o, "hosts", json_integer((json_int_t)p->nhosts));
    json_object_set_new(o, "migrations", json_integer((json_int_t)p->nmigrations));
    json_object_set_new(o, "makespan_s", plan_seconds(s->makespan_ms));
    json_object_set_new(o, "max_parallel_hosts_seen", json_integer(s->max_parallel_hosts_seen));
    json_object_set_new(o, "peak_host_memory_ratio", json_real(s->peak_host_memory_ppm / 1e6));
    json_object_set_new(o, "peak_capacity_offline", json_real(s->peak_capacity_offline_ppm / 1e6));
    json_object_set_new(o, "vms_moved_more_than_once", json_integer(s->vms_moved_more_than_once));
    json_object_set_new(o, "vms_at_risk", json_integer(s->vms_at_risk));
    for (size_t i = 0; i < s->nnon_converging; i++)
        json_array_append_new(nc,
                              json_pack("{s:s, s:s}", "vm", s->non_converging[i].vm, "action",
                                        hvf_non_converging_to_string(s->non_converging[i].action)));
    json_object_set_new(o, "non_converging", nc);
    for (size_t i = 0; i < s->nreasons; i++)
        json_array_append_new(reasons, json_string(s->reasons[i]));
    json_object_set_new(o, "seatbelt",
                        json_pack("{s:s, s:o}", "verdict", hvf_plan_verdict_to_string(s->verdict),
                                  "reasons", reasons));
    json_object_set_new(o, "plan_hash", json_string(s->plan_hash));
    return o;
}

/*
 * One array item per line: big plans stay readable, diffable and cheap to write. Items are
 * written directly, byte for byte what json_dumps(item, PLAN_JSON_FLAGS) makes of them (keys in
 * order, ": " and ", " between them); what the direct writers do not handle exactly - a string
 * that needs escapes, a time of 10^9 s or more - goes through jansson itself.
 */
static void
plan_put_jansson(hvf_strbuf *out, json_t *value)
{
    char *s = json_dumps(value, JSON_ENCODE_ANY | PLAN_JSON_FLAGS);

    HVF_ASSERT(s);
    hvf_strbuf_puts(out, s);
    free(s);
    json_decref(value);
}

/* @open: whether the item's "{" is out yet */
static void
plan_put_key(hvf_strbuf *out, const char *key, bool *open)
{
    hvf_strbuf_puts(out, *open ? ", \"" : "{\"");
    *open = true;
    hvf_strbuf_puts(out, key);
    hvf_strbuf_add(out, "\": ", 3);
}

static void
plan_put_string(hvf_strbuf *out, const char *key, const char *value, bool *open)
{
    size_t len = 0;

    for (const unsigned char *c = (const unsigned char *)value; *c; c++, len++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\') {
            json_t *j = json_string(value);

            /* not UTF-8: json_object_set_new left the key out */
            if (j) {
                plan_put_key(out, key, open);
                plan_put_jansson(out, j);
            }
            return;
        }
    plan_put_key(out, key, open);
    hvf_strbuf_add(out, "\"", 1);
    hvf_strbuf_add(out, value, len);
    hvf_strbuf_add(out, "\"", 1);
}

static void
plan_put_int(hvf_strbuf *out, const char *key, json_int_t v, bool *open)
{
    plan_put_key(out, key, open);
    if (v < 0) {
        hvf_strbuf_add(out, "-", 1);
        hvf_strbuf_add_u64(out, -(uint64_t)v);
    } else {
        hvf_strbuf_add_u64(out, (uint64_t)v);
    }
}

/*
 * json_real((double)thousandths / 1000.0) at 12 significant digits. Below 10^12 thousandths the
 * exact decimal has at most 12 digits, so rounding the double to 12 digits gives it back: the
 * integer part, then the thousandths without trailing zeros, or ".0" (jansson marks a real).
 */
static void
plan_put_thousandths(hvf_strbuf *out, const char *key, int64_t thousandths, bool *open)
{
    uint64_t mag, frac;
    char digits[4];
    int n = 3;

    plan_put_key(out, key, open);
    if (thousandths <= -1000000000000 || thousandths >= 1000000000000) {
        plan_put_jansson(out, json_real((double)thousandths / 1000.0));
        return;
    }
    if (thousandths < 0)
        hvf_strbuf_add(out, "-", 1);
    mag = thousandths < 0 ? -(uint64_t)thousandths : (uint64_t)thousandths;
    hvf_strbuf_add_u64(out, mag / 1000);
    frac = mag % 1000;
    if (frac == 0) {
        hvf_strbuf_add(out, ".0", 2);
        return;
    }
    digits[0] = '.';
    digits[1] = (char)('0' + frac / 100);
    digits[2] = (char)('0' + frac / 10 % 10);
    digits[3] = (char)('0' + frac % 10);
    while (digits[n] == '0')
        n--;
    hvf_strbuf_add(out, digits, (size_t)n + 1);
}

static void
plan_item_start(hvf_strbuf *out, bool first)
{
    hvf_strbuf_puts(out, first ? "\n    " : ",\n    ");
}

static void
plan_append_array_end(hvf_strbuf *out, size_t n, bool last)
{
    hvf_strbuf_puts(out, n ? "\n  ]" : "]");
    hvf_strbuf_puts(out, last ? "\n" : ",\n");
}

void
hvf_plan_format(const hvf_plan *p, hvf_strbuf *out)
{
    json_t *head = json_object();
    char *text;
    size_t len;

    json_object_set_new(head, "schema", json_string(HVF_PLAN_SCHEMA));
    json_object_set_new(head, "kind", json_string(hvf_plan_kind_to_string(p->kind)));
    json_object_set_new(head, "strategy", json_string(hvf_plan_strategy_to_string(p->strategy)));
    json_object_set_new(head, "inventory_fingerprint", json_string(p->inventory_fingerprint));
    json_object_set_new(head, "summary", plan_summary_json(p));
    text = json_dumps(head, JSON_INDENT(2) | PLAN_JSON_FLAGS);
    HVF_ASSERT(text);
    json_decref(head);
    /* Reopen the object: drop the closing "\n}" and continue with the three arrays. */
    len = strlen(text);
    HVF_ASSERT(len >= 2 && text[len - 1] == '}');
    hvf_strbuf_add(out, text, len - 2);
    free(text);

    hvf_strbuf_puts(out, ",\n  \"hosts\": [");
    for (size_t i = 0; i < p->nhosts; i++) {
        const hvf_plan_host *h = &p->hosts[i];
        bool open = false;

        plan_item_start(out, i == 0);
        plan_put_string(out, "host", h->host, &open);
        plan_put_thousandths(out, "evacuate_start_s", h->evacuate_start_ms, &open);
        plan_put_thousandths(out, "evacuate_end_s", h->evacuate_end_ms, &open);
        plan_put_thousandths(out, "maintenance_start_s", h->maintenance_start_ms, &open);
        plan_put_thousandths(out, "maintenance_end_s", h->maintenance_end_ms, &open);
        plan_put_int(out, "usable_mib", (json_int_t)h->usable_mib, &open);
        hvf_strbuf_add(out, "}", 1);
    }
    plan_append_array_end(out, p->nhosts, false);
    hvf_strbuf_puts(out, "  \"migrations\": [");
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        bool open = false;

        plan_item_start(out, i == 0);
        plan_put_string(out, "vm", m->vm, &open);
        plan_put_string(out, "from", m->from, &open);
        plan_put_string(out, "to", m->to, &open);
        plan_put_thousandths(out, "start_s", m->start_ms, &open);
        plan_put_thousandths(out, "end_s", m->end_ms, &open);
        plan_put_int(out, "memory_mib", (json_int_t)m->memory_mib, &open);
        plan_put_thousandths(out, "downtime_ms", m->downtime_us, &open);
        plan_put_int(out, "rounds", m->rounds, &open);
        plan_put_key(out, "converged", &open);
        hvf_strbuf_puts(out, m->converged ? "true" : "false");
        plan_put_string(out, "strategy", hvf_plan_migration_mode_to_string(m->strategy), &open);
        hvf_strbuf_add(out, "}", 1);
    }
    plan_append_array_end(out, p->nmigrations, false);
    hvf_strbuf_puts(out, "  \"stops\": [");
    for (size_t i = 0; i < p->nstops; i++) {
        const hvf_plan_stop *s = &p->stops[i];
        bool open = false;

        plan_item_start(out, i == 0);
        plan_put_string(out, "vm", s->vm, &open);
        plan_put_string(out, "host", s->host, &open);
        plan_put_thousandths(out, "stop_s", s->stop_ms, &open);
        plan_put_thousandths(out, "start_s", s->start_ms, &open);
        plan_put_string(out, "start_host", s->start_host, &open);
        hvf_strbuf_add(out, "}", 1);
    }
    plan_append_array_end(out, p->nstops, true);
    hvf_strbuf_puts(out, "}\n");
}

int
hvf_plan_save(const hvf_plan *p, const char *path, hvf_error *err)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int rc;

    hvf_plan_format(p, &sb);
    rc = hvf_file_write_atomic(path, sb.buf, sb.len, err);
    hvf_strbuf_clear(&sb);
    return rc;
}
