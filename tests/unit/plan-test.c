/* SPDX-License-Identifier: MIT */
/* Plan JSON: exact round trip, a hash that follows every field, and bad plan files refused. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hvfleet/alloc.h"
#include "hvfleet/plan.h"

static hvf_plan *
pt_sample(void)
{
    hvf_plan *p = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);
    hvf_plan_host *h;
    hvf_plan_migration *m;
    hvf_plan_stop *s;

    hvf_sha256_hex("inventory", 9, p->inventory_fingerprint);
    p->summary.makespan_ms = 7261123;
    p->summary.max_parallel_hosts_seen = 2;
    p->summary.peak_host_memory_ppm = 912345;
    p->summary.peak_capacity_offline_ppm = 200000;
    p->summary.vms_moved_more_than_once = 1;
    p->summary.vms_at_risk = 0;
    p->summary.verdict = HVF_PLAN_VERDICT_NEEDS_APPROVAL;
    hvf_plan_add_reason(p, "needs approval: the plan takes %d hosts out of service", 2);
    hvf_plan_add_reason(p, "a \"quoted\" reason with unicode \xc3\xa9 and a\ttab");
    hvf_plan_add_non_converging(p, "db1", HVF_NON_CONVERGING_SHUTDOWN);
    h = hvf_plan_add_host(p, "kvm01");
    h->evacuate_start_ms = 0;
    h->evacuate_end_ms = 1500;
    h->maintenance_start_ms = 1500;
    h->maintenance_end_ms = 601500;
    h->usable_mib = 516096;
    h = hvf_plan_add_host(p, "kvm02");
    h->evacuate_start_ms = 601500;
    h->evacuate_end_ms = 700001;
    h->maintenance_start_ms = 700001;
    h->maintenance_end_ms = 7261123;
    h->usable_mib = 262144;
    m = hvf_plan_add_migration(p, "web1", "kvm01", "kvm02");
    m->start_ms = 0;
    m->end_ms = 1234;
    m->memory_mib = 8192;
    m->downtime_us = 123456;
    m->rounds = 7;
    m->strategy = HVF_PLAN_MIGRATION_AUTO_CONVERGE;
    m = hvf_plan_add_migration(p, "web1", "kvm02", "kvm01");
    m->start_ms = 601500;
    m->end_ms = 650000;
    m->memory_mib = 8192;
    m->downtime_us = 1;
    m->rounds = 1;
    m->converged = false;
    m->strategy = HVF_PLAN_MIGRATION_POST_COPY;
    s = hvf_plan_add_stop(p, "db1", "kvm01", "kvm02");
    s->stop_ms = 10;
    s->start_ms = 601499;
    hvf_plan_seal(p);
    return p;
}

static hvf_plan *
pt_parse(const char *text, hvf_diags *d)
{
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(d);
    return hvf_plan_parse("plan.json", text, strlen(text), d, &err);
}

static void
test_round_trip(void **state)
{
    hvf_plan *p = pt_sample();
    hvf_plan *q;
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;
    hvf_diags d;

    assert_true(hvf_plan_hash_ok(p));
    hvf_plan_format(p, &a);
    assert_non_null(strstr(a.buf, "\"schema\": \"hvfleet.plan/v1\""));
    assert_non_null(strstr(a.buf, "\"makespan_s\": 7261.123"));
    assert_non_null(strstr(a.buf, "\"downtime_ms\": 123.456"));
    assert_non_null(strstr(a.buf, "\"peak_host_memory_ratio\": 0.912345"));
    q = pt_parse(a.buf, &d);
    if (!q)
        hvf_diags_print(&d, stderr);
    assert_non_null(q);
    assert_true(hvf_plan_hash_ok(q));
    assert_string_equal(p->summary.plan_hash, q->summary.plan_hash);
    hvf_plan_format(q, &b);
    assert_string_equal(a.buf, b.buf);
    assert_int_equal(q->nmigrations, 2);
    assert_false(q->migrations[1].converged);
    assert_int_equal(q->migrations[1].strategy, HVF_PLAN_MIGRATION_POST_COPY);
    assert_int_equal(q->stops[0].start_ms, 601499);
    assert_int_equal(q->summary.non_converging[0].action, HVF_NON_CONVERGING_SHUTDOWN);
    /* The tab in the reason became a space: reasons are single lines. */
    assert_non_null(strstr(q->summary.reasons[1], "a tab"));
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_diags_clear(&d);
    hvf_plan_free(p);
    hvf_plan_free(q);
}

/* Any change to what the plan says changes the hash. */
static void
test_hash_follows_content(void **state)
{
    hvf_plan *p = pt_sample();
    char base[HVF_SHA256_HEX_LEN + 1], h[HVF_SHA256_HEX_LEN + 1];
    int changes = 0;

    hvf_strlcpy(base, p->summary.plan_hash, sizeof(base));
#define PT_CHANGE(stmt, undo)                                                                      \
    do {                                                                                           \
        stmt;                                                                                      \
        hvf_plan_compute_hash(p, h);                                                               \
        assert_string_not_equal(h, base);                                                          \
        assert_false(hvf_plan_hash_ok(p));                                                         \
        undo;                                                                                      \
        hvf_plan_compute_hash(p, h);                                                               \
        assert_string_equal(h, base);                                                              \
        changes++;                                                                                 \
    } while (0)
    PT_CHANGE(p->migrations[0].end_ms++, p->migrations[0].end_ms--);
    PT_CHANGE(p->migrations[1].to[4] = '3', p->migrations[1].to[4] = '1');
    PT_CHANGE(p->migrations[0].converged = false, p->migrations[0].converged = true);
    PT_CHANGE(p->hosts[1].usable_mib++, p->hosts[1].usable_mib--);
    PT_CHANGE(p->stops[0].start_host[4] = '9', p->stops[0].start_host[4] = '2');
    PT_CHANGE(p->summary.verdict = HVF_PLAN_VERDICT_AUTO,
              p->summary.verdict = HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    PT_CHANGE(p->summary.reasons[0][0] = 'N', p->summary.reasons[0][0] = 'n');
    PT_CHANGE(p->inventory_fingerprint[0] ^= 1, p->inventory_fingerprint[0] ^= 1);
    PT_CHANGE(p->strategy = HVF_PLAN_STRATEGY_NAIVE, p->strategy = HVF_PLAN_STRATEGY_HVFLEET);
    PT_CHANGE(p->summary.non_converging[0].action = HVF_NON_CONVERGING_POST_COPY,
              p->summary.non_converging[0].action = HVF_NON_CONVERGING_SHUTDOWN);
    PT_CHANGE(p->nstops--, p->nstops++);
#undef PT_CHANGE
    assert_int_equal(changes, 11);
    hvf_plan_free(p);
}

/* Replaces the first occurrence of @from in the sample's JSON by @to. */
static char *
pt_mutate(const char *from, const char *to)
{
    hvf_plan *p = pt_sample();
    hvf_strbuf sb = HVF_STRBUF_INIT, out = HVF_STRBUF_INIT;
    char *at;

    hvf_plan_format(p, &sb);
    hvf_plan_free(p);
    at = strstr(sb.buf, from);
    if (!at)
        fail_msg("'%s' is not in the sample plan", from);
    hvf_strbuf_add(&out, sb.buf, (size_t)(at - sb.buf));
    hvf_strbuf_puts(&out, to);
    hvf_strbuf_puts(&out, at + strlen(from));
    hvf_strbuf_clear(&sb);
    return hvf_strbuf_steal(&out);
}

static void
test_bad_plans(void **state)
{
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        {"hvfleet.plan/v1", "hvfleet.plan/v2",
         "schema: 'hvfleet.plan/v2': expected 'hvfleet.plan/v1'"},
        {"\"kind\": \"maintenance\"", "\"kind\": \"upgrade\"",
         "kind: 'upgrade': expected one of maintenance | drain"},
        {"\"strategy\": \"hvfleet\"", "\"strategy\": \"yolo\"",
         "strategy: 'yolo': expected one of hvfleet | naive"},
        {"\"inventory_fingerprint\": \"", "\"inventory_fingerprint\": \"X",
         "inventory_fingerprint"},
        {"\"hosts\": 2", "\"hosts\": 3",
         "summary.hosts: '3': expected the number of entries in hosts (2)"},
        {"\"migrations\": 2", "\"migrations\": 1", "summary.migrations: '1'"},
        {"\"evacuate_end_s\": 1.5", "\"evacuate_end_s\": -1.5",
         "hosts[0].evacuate_end_s: '-1.5': expected a number between 0"},
        {"\"evacuate_end_s\": 1.5", "\"evacuate_end_s\": 1500",
         "hosts[0].maintenance_start_s: '1.5': expected no earlier than evacuate_end_s"},
        {"\"maintenance_end_s\": 7261.123", "\"maintenance_end_s\": 9999",
         "summary.makespan_s: '7261.123': expected at least the plan's span from its first start "
         "to its last end (9999.000 s)"},
        {"\"host\": \"kvm02\"", "\"host\": \"kvm01\"",
         "hosts[1].host: 'kvm01': expected each host once"},
        {"\"to\": \"kvm02\"", "\"to\": \"kvm01\"",
         "migrations[0].to: 'kvm01': expected a host other than 'from'"},
        {"\"to\": \"kvm02\"", "\"to\": \"kvm 02\"",
         "migrations[0].to: 'kvm 02': expected 1-63 characters"},
        {"\"end_s\": 1.234", "\"end_s\": 1e99",
         "plan.json:35: migrations[0].end_s: '1e+99': expected a number between 0"},
        {"\"rounds\": 7", "\"rounds\": 7.5",
         "migrations[0].rounds: '7.5': expected a whole number"},
        {"\"converged\": true", "\"converged\": 1",
         "migrations[0].converged: '1': expected true or false"},
        {"\"memory_mib\": 8192", "\"memory_mib\": 0", "migrations[0].memory_mib: '0'"},
        {"\"start_s\": 601.499", "\"start_s\": 0.001",
         "stops[0].start_s: '0.001': expected no earlier than stop_s"},
        {"\"action\": \"shutdown\"", "\"action\": \"pray\"",
         "summary.non_converging[0].action: 'pray'"},
        {"\"verdict\": \"needs-approval\"", "\"verdict\": \"fine\"",
         "summary.seatbelt.verdict: 'fine'"},
        {"\"plan_hash\": \"", "\"plan_hash\": \"zz", "summary.plan_hash"},
        {"\"usable_mib\": 516096", "\"usable_mib\": 516096, \"extra\": 1",
         "hosts[0].extra: 'extra': unknown field"},
        {"\"stops\": [", "\"stops\": {\"a\": 1}, \"x\": [", "stops: (a mapping): expected a list"},
        {"\"migrations\": [", "\"migrations\": [[1], ",
         "migrations[0]: (a list): expected a mapping of fields"},
        {"\"summary\": {", "\"summary\": {\"hosts\": 2, ", "syntax"},
        {"\"schema\": \"hvfleet.plan/v1\",", "", "schema: (missing): a value is required"},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *text = pt_mutate(cases[i].from, cases[i].to);
        hvf_diags d;
        hvf_plan *p = pt_parse(text, &d);
        bool found = false;

        assert_null(p);
        for (size_t k = 0; k < d.n; k++)
            found |= strstr(d.lines[k], cases[i].want) != NULL;
        if (!found) {
            hvf_diags_print(&d, stderr);
            fail_msg("case %zu: no problem mentions '%s'", i, cases[i].want);
        }
        /* Every problem names the file and a line. */
        assert_int_equal(strncmp(d.lines[0], "plan.json:", 10), 0);
        hvf_diags_clear(&d);
    }
}

/* An edit that keeps the file valid is caught by the hash. */
static void
test_edited_plan(void **state)
{
    HVF_AUTOFREE char *text = pt_mutate("\"to\": \"kvm02\"", "\"to\": \"kvm07\"");
    hvf_diags d;
    hvf_plan *p = pt_parse(text, &d);

    assert_non_null(p);
    assert_false(hvf_plan_hash_ok(p));
    hvf_plan_seal(p);
    assert_true(hvf_plan_hash_ok(p));
    hvf_plan_free(p);
    hvf_diags_clear(&d);
}

/* Not JSON, or not UTF-8 (libfyaml 0.7 loops forever on some of these): refused first. */
static void
test_not_json(void **state)
{
    static const char *const inputs[] = {"%s\xfe", "{\n  \"schema\": \"\xc0\x80\"}", "%ab\x80\n",
                                         "schema: hvfleet.plan/v1\n", "{\"a\": 1, \"a\": 2}"};
    static const char *const want[] = {
        "plan.json:1: syntax: ", "plan.json:2: syntax: unable to decode", "plan.json:1: syntax: ",
        "plan.json:1: syntax: ", "plan.json:1: syntax: duplicate object key"};

    for (size_t i = 0; i < HVF_ARRAY_LEN(inputs); i++) {
        hvf_diags d;
        assert_null(pt_parse(inputs[i], &d));
        assert_int_equal(d.n, 1);
        if (!strstr(d.lines[0], want[i]) || !strstr(d.lines[0], "expected a JSON plan"))
            fail_msg("got '%s', want '%s'", d.lines[0], want[i]);
        hvf_diags_clear(&d);
    }
}

static void
test_empty_plan(void **state)
{
    hvf_plan *p = hvf_plan_new(HVF_PLAN_KIND_DRAIN, HVF_PLAN_STRATEGY_NAIVE);
    hvf_plan *q;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_diags d;

    hvf_sha256_hex("", 0, p->inventory_fingerprint);
    hvf_plan_seal(p);
    hvf_plan_format(p, &sb);
    q = pt_parse(sb.buf, &d);
    assert_non_null(q);
    assert_int_equal(q->kind, HVF_PLAN_KIND_DRAIN);
    assert_true(hvf_plan_hash_ok(q));
    hvf_plan_free(p);
    hvf_plan_free(q);
    hvf_strbuf_clear(&sb);
    hvf_diags_clear(&d);
}

/* The items as jansson writes them (what hvf_plan_format wrote through jansson before). */
#define PT_FLAGS (JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

static void
pt_expect_item(const char **cursor, json_t *item, bool first)
{
    char *want = json_dumps(item, PT_FLAGS);
    size_t n = strlen(want);
    const char *c = *cursor;

    assert_non_null(want);
    if (!first) {
        assert_int_equal(*c, ',');
        c++;
    }
    assert_memory_equal(c, "\n    ", 5);
    c += 5;
    if (strncmp(c, want, n) != 0)
        fail_msg("item differs:\n  want %s\n  got  %.*s", want, (int)n + 20, c);
    *cursor = c + n;
    free(want);
    json_decref(item);
}

static json_t *
pt_secs(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

/* Times around every digit boundary and sign, names that need escapes or are not UTF-8: the
 * direct writer gives jansson's bytes. */
static hvf_plan *
pt_tricky(void)
{
    static const int64_t times[] = {0, 1, 5, 9, 10, 99, 100, 120, 999, 1000, 1001, 1010, 1100,
                                    1500, 59999, 60000, 86400000, -1, -10, -999, -1000, -1234567,
                                    999999999999, -999999999999, 1000000000000, -1000000000000,
                                    123456789012345, INT64_MAX / 4, -(INT64_MAX / 4)};
    static const char *const names[] = {"kvm01", "a\"b", "back\\slash", "tab\there", "nl\nx",
                                        "ctl\x01x", "del\x7fx", "slash/x", "\xc3\xa9t\xc3\xa9",
                                        "bad\xff\xfeutf8", "\xe2\x80\xa8sep", ""};
    const size_t nt = sizeof(times) / sizeof(times[0]), nn = sizeof(names) / sizeof(names[0]);
    hvf_plan *p = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);
    uint64_t x = 88172645463325252u;

    for (size_t i = 0; i < 3 * nt; i++) {
        hvf_plan_host *h = hvf_plan_add_host(p, names[i % nn]);
        hvf_plan_migration *m = hvf_plan_add_migration(p, names[(i + 1) % nn], names[i % nn],
                                                       names[(i + 2) % nn]);
        hvf_plan_stop *st = hvf_plan_add_stop(p, names[(i + 3) % nn], names[(i + 4) % nn],
                                              names[(i + 5) % nn]);

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h->evacuate_start_ms = times[i % nt];
        h->evacuate_end_ms = times[(i + 1) % nt];
        h->maintenance_start_ms = (int64_t)(x % 2000000000000u);
        h->maintenance_end_ms = (int64_t)(x % 100000);
        h->usable_mib = i == 0 ? UINT64_MAX : x;
        m->start_ms = times[(i + 2) % nt];
        m->end_ms = (int64_t)(x % 999999999999u);
        m->memory_mib = x % 1000000;
        m->downtime_us = i < nt ? times[i] : (int64_t)(x % 10000000);
        m->rounds = (uint32_t)(x >> 40);
        m->converged = i % 2;
        m->strategy = (hvf_plan_migration_mode)(i % HVF_PLAN_MIGRATION_LAST);
        st->stop_ms = times[(i + 3) % nt];
        st->start_ms = -(int64_t)(x % 5000000);
    }
    hvf_sha256_hex("inventory", 9, p->inventory_fingerprint);
    hvf_plan_add_reason(p, "needs approval: a reason");
    hvf_plan_add_non_converging(p, "db1", HVF_NON_CONVERGING_SHUTDOWN);
    p->summary.makespan_ms = -5;
    return p;
}

static void
test_items_as_jansson(void **state)
{
    hvf_plan *p = pt_tricky();
    hvf_strbuf sb = HVF_STRBUF_INIT;
    const char *c;

    hvf_plan_format(p, &sb);
    c = strstr(sb.buf, "\"hosts\": [");
    assert_non_null(c);
    c += strlen("\"hosts\": [");
    for (size_t i = 0; i < p->nhosts; i++) {
        const hvf_plan_host *h = &p->hosts[i];
        json_t *o = json_object();

        json_object_set_new(o, "host", json_string(h->host));
        json_object_set_new(o, "evacuate_start_s", pt_secs(h->evacuate_start_ms));
        json_object_set_new(o, "evacuate_end_s", pt_secs(h->evacuate_end_ms));
        json_object_set_new(o, "maintenance_start_s", pt_secs(h->maintenance_start_ms));
        json_object_set_new(o, "maintenance_end_s", pt_secs(h->maintenance_end_ms));
        json_object_set_new(o, "usable_mib", json_integer((json_int_t)h->usable_mib));
        pt_expect_item(&c, o, i == 0);
    }
    assert_memory_equal(c, "\n  ],\n  \"migrations\": [", 23);
    c += 23;
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        json_t *o = json_object();

        json_object_set_new(o, "vm", json_string(m->vm));
        json_object_set_new(o, "from", json_string(m->from));
        json_object_set_new(o, "to", json_string(m->to));
        json_object_set_new(o, "start_s", pt_secs(m->start_ms));
        json_object_set_new(o, "end_s", pt_secs(m->end_ms));
        json_object_set_new(o, "memory_mib", json_integer((json_int_t)m->memory_mib));
        json_object_set_new(o, "downtime_ms", json_real((double)m->downtime_us / 1000.0));
        json_object_set_new(o, "rounds", json_integer(m->rounds));
        json_object_set_new(o, "converged", json_boolean(m->converged));
        json_object_set_new(o, "strategy",
                            json_string(hvf_plan_migration_mode_to_string(m->strategy)));
        pt_expect_item(&c, o, i == 0);
    }
    assert_memory_equal(c, "\n  ],\n  \"stops\": [", 18);
    c += 18;
    for (size_t i = 0; i < p->nstops; i++) {
        const hvf_plan_stop *st = &p->stops[i];
        json_t *o = json_object();

        json_object_set_new(o, "vm", json_string(st->vm));
        json_object_set_new(o, "host", json_string(st->host));
        json_object_set_new(o, "stop_s", pt_secs(st->stop_ms));
        json_object_set_new(o, "start_s", pt_secs(st->start_ms));
        json_object_set_new(o, "start_host", json_string(st->start_host));
        pt_expect_item(&c, o, i == 0);
    }
    assert_string_equal(c, "\n  ]\n}\n");
    hvf_strbuf_clear(&sb);
    hvf_plan_free(p);
}

/* The canonical lines as printf wrote them before hvf_plan_compute_hash built them itself. */
static void pt_line(hvf_sha256 *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
pt_line(hvf_sha256 *ctx, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(buf));
    hvf_sha256_update(ctx, buf, (size_t)n);
}

static void
test_hash_as_printf(void **state)
{
    hvf_plan *p = pt_tricky();
    const hvf_plan_summary *s = &p->summary;
    uint8_t digest[HVF_SHA256_BYTES];
    char want[HVF_SHA256_HEX_LEN + 1], got[HVF_SHA256_HEX_LEN + 1];
    hvf_sha256 ctx;

    hvf_sha256_init(&ctx);
    pt_line(&ctx, "%s\nkind %s\nstrategy %s\ninventory %s\n", HVF_PLAN_SCHEMA,
            hvf_plan_kind_to_string(p->kind), hvf_plan_strategy_to_string(p->strategy),
            p->inventory_fingerprint);
    pt_line(&ctx, "summary %zu %zu %" PRId64 " %u %u %u %u %u %s\n", p->nhosts, p->nmigrations,
            s->makespan_ms, s->max_parallel_hosts_seen, s->peak_host_memory_ppm,
            s->peak_capacity_offline_ppm, s->vms_moved_more_than_once, s->vms_at_risk,
            hvf_plan_verdict_to_string(s->verdict));
    for (size_t i = 0; i < s->nreasons; i++) {
        size_t len = strlen(s->reasons[i]);
        pt_line(&ctx, "reason %zu ", len);
        hvf_sha256_update(&ctx, s->reasons[i], len);
        hvf_sha256_update(&ctx, "\n", 1);
    }
    for (size_t i = 0; i < s->nnon_converging; i++)
        pt_line(&ctx, "non_converging %s %s\n", s->non_converging[i].vm,
                hvf_non_converging_to_string(s->non_converging[i].action));
    for (size_t i = 0; i < p->nhosts; i++) {
        const hvf_plan_host *h = &p->hosts[i];
        pt_line(&ctx, "host %s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu64 "\n",
                h->host, h->evacuate_start_ms, h->evacuate_end_ms, h->maintenance_start_ms,
                h->maintenance_end_ms, h->usable_mib);
    }
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        pt_line(&ctx, "migration %s %s %s %" PRId64 " %" PRId64 " %" PRIu64 " %" PRId64 " %u %d %s\n",
                m->vm, m->from, m->to, m->start_ms, m->end_ms, m->memory_mib, m->downtime_us,
                m->rounds, m->converged ? 1 : 0, hvf_plan_migration_mode_to_string(m->strategy));
    }
    for (size_t i = 0; i < p->nstops; i++) {
        const hvf_plan_stop *st = &p->stops[i];
        pt_line(&ctx, "stop %s %s %s %" PRId64 " %" PRId64 "\n", st->vm, st->host, st->start_host,
                st->stop_ms, st->start_ms);
    }
    hvf_sha256_final(&ctx, digest);
    hvf_sha256_to_hex(digest, want);
    hvf_plan_compute_hash(p, got);
    assert_string_equal(got, want);
    hvf_plan_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_hash_follows_content),
        cmocka_unit_test(test_bad_plans),  cmocka_unit_test(test_edited_plan),
        cmocka_unit_test(test_empty_plan), cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_items_as_jansson),
        cmocka_unit_test(test_hash_as_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
