/* SPDX-License-Identifier: MIT */
/*
 * The fault-domain audit: each kind of finding (replicas, min_available, dependency direct and
 * transitive, shared fate), each level (host, rack, zone; a level with one domain skipped), the
 * minimal report, down hosts, the moves that fix findings and those that cannot, the fix as a
 * plan that `plan check` accepts; and the inventory's depends_on / must_not_share (round trip
 * and every bad input).
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/audit.h"
#include "hvfleet/inventory.h"
#include "hvfleet/plan.h"

#define FLEET2002 HVF_SRCDIR "/scenarios/2002-fleet.yaml"

/* Six hosts h1..h6, two per rack (r1: h1 h2, r2: h3 h4, r3: h5 h6), zone z1 unless @zones. */
static hvf_fleet *
t_fleet(const char *services, const char *vms, bool zones)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;

    hvf_strbuf_puts(&sb, "schema: hvfleet.inventory/v1\nservices:\n");
    hvf_strbuf_puts(&sb, services);
    hvf_strbuf_puts(&sb, "hosts:\n");
    for (int i = 1; i <= 6; i++)
        hvf_strbuf_printf(&sb, "  - {name: h%d, zone: %s, rack: r%d, cpus: 16, memory: 64GiB}\n", i,
                          zones && i > 4 ? "z2" : "z1", (i + 1) / 2);
    hvf_strbuf_puts(&sb, "vms:\n");
    hvf_strbuf_puts(&sb, vms);
    hvf_diags_init(&d);
    f = hvf_inventory_parse("t.yaml", sb.buf, sb.len, &d, &err);
    if (!f)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    hvf_diags_clear(&d);
    hvf_strbuf_clear(&sb);
    return f;
}

static char *
t_describe(const hvf_fleet *f, const hvf_audit_finding *x)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_strbuf_printf(&sb, "%s ", hvf_audit_kind_names[x->kind]);
    hvf_audit_describe(f, x, &sb);
    return hvf_strbuf_steal(&sb);
}

/* True when one of @x names @text (a substring of "KIND description"). */
static bool
t_has(const hvf_fleet *f, const hvf_audit_finding *x, size_t n, const char *text)
{
    for (size_t i = 0; i < n; i++) {
        HVF_AUTOFREE char *s = t_describe(f, &x[i]);
        if (strstr(s, text))
            return true;
    }
    return false;
}

static void
t_dump(const hvf_fleet *f, const hvf_audit *a)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_audit_format_text(a, f, NULL, &sb);
    print_message("%s", sb.buf);
    hvf_strbuf_clear(&sb);
}

static void
test_clean(void **state)
{
    hvf_fleet *f = t_fleet("  - {name: db, critical: true, min_available: 1, spread: rack}\n",
                           "  - {name: db1, host: h1, vcpus: 1, memory: 1GiB, service: db}\n"
                           "  - {name: db2, host: h3, vcpus: 1, memory: 1GiB, service: db}\n",
                           false);
    hvf_audit *a = hvf_audit_run(f, NULL);

    assert_int_equal(a->nfindings, 0);
    assert_int_equal(a->nmoves, 0);
    assert_true(a->audited[HVF_SPREAD_HOST]);
    assert_true(a->audited[HVF_SPREAD_RACK]);
    assert_false(a->audited[HVF_SPREAD_ZONE]); /* one zone */
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_single_replica(void **state)
{
    hvf_fleet *f = t_fleet("  - {name: db, critical: true}\n  - {name: cache}\n",
                           "  - {name: db1, host: h1, vcpus: 1, memory: 1GiB, service: db}\n"
                           "  - {name: c1, host: h1, vcpus: 1, memory: 1GiB, service: cache}\n",
                           false);
    hvf_audit *a = hvf_audit_run(f, NULL);

    /* only the host: its rack is implied; the cache is not critical */
    assert_int_equal(a->nfindings, 1);
    assert_int_equal(a->findings[0].kind, HVF_AUDIT_REPLICAS);
    assert_int_equal(a->findings[0].level, HVF_SPREAD_HOST);
    assert_true(t_has(f, a->findings, 1,
                      "losing host h1 takes all 1 replica of critical "
                      "service 'db'"));
    /* no move fixes one replica */
    assert_int_equal(a->nmoves, 0);
    assert_int_equal(a->nremaining, 1);
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_min_available(void **state)
{
    static const char svc[] = "  - {name: mail, critical: true, min_available: 2}\n";
    static const char three[] = "  - {name: m1, host: h1, vcpus: 1, memory: 1GiB, service: mail}\n"
                                "  - {name: m2, host: h1, vcpus: 1, memory: 1GiB, service: mail}\n"
                                "  - {name: m3, host: h3, vcpus: 1, memory: 1GiB, service: mail}\n";
    hvf_strbuf four = HVF_STRBUF_INIT;
    hvf_fleet *f;
    hvf_audit *a;

    /* four replicas, two on h1: losing h1 leaves exactly min_available */
    hvf_strbuf_printf(&four, "%s  - {name: m4, host: h5, vcpus: 1, memory: 1GiB, service: mail}\n",
                      three);
    f = t_fleet(svc, four.buf, false);
    a = hvf_audit_run(f, NULL);
    assert_int_equal(a->nfindings, 0);
    hvf_audit_free(a);
    hvf_fleet_free(f);
    hvf_strbuf_clear(&four);

    /* three: losing h1 leaves 1 */
    f = t_fleet(svc, three, false);
    a = hvf_audit_run(f, NULL);
    t_dump(f, a);
    assert_int_equal(a->nfindings, 1);
    assert_true(t_has(f, a->findings, 1,
                      "losing host h1 leaves critical service 'mail' 1 of 3 "
                      "replicas, below min_available 2"));
    assert_int_equal(a->nmoves, 1);
    assert_string_equal(f->racks[f->hosts[a->moves[0].to].rack].name, "r3");
    assert_int_equal(a->nremaining, 0);
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_below_min_available_fixed(void **state)
{
    hvf_fleet *f = t_fleet("  - {name: mail, critical: true, min_available: 2, spread: rack}\n",
                           "  - {name: m1, host: h1, vcpus: 1, memory: 1GiB, service: mail}\n"
                           "  - {name: m2, host: h2, vcpus: 1, memory: 1GiB, service: mail}\n"
                           "  - {name: m3, host: h3, vcpus: 1, memory: 1GiB, service: mail}\n",
                           false);
    hvf_audit *a = hvf_audit_run(f, NULL);
    hvf_plan *plan;
    hvf_diags problems;

    /* rack r1 holds 2 of 3 with min_available 2: losing it leaves 1 */
    assert_int_equal(a->nfindings, 1);
    assert_int_equal(a->findings[0].level, HVF_SPREAD_RACK);
    assert_int_equal(a->findings[0].alive, 3);
    assert_int_equal(a->findings[0].lost, 2);
    assert_int_equal(a->findings[0].needed, 2);
    assert_true(t_has(f, a->findings, 1,
                      "losing rack r1 leaves critical service 'mail' 1 of 3 "
                      "replicas, below min_available 2"));
    /* one replica leaves r1 for r3, the rack without mail */
    assert_int_equal(a->nmoves, 1);
    assert_string_equal(f->vms[a->moves[0].vm].name, "m1");
    assert_string_equal(f->racks[f->hosts[a->moves[0].to].rack].name, "r3");
    assert_int_equal(a->nremaining, 0);

    plan = hvf_audit_fix_plan(a, f, NULL);
    assert_int_equal(plan->kind, HVF_PLAN_KIND_REBALANCE);
    assert_int_equal(plan->nmigrations, 1);
    assert_true(plan->migrations[0].end_ms > plan->migrations[0].start_ms);
    assert_true(hvf_plan_hash_ok(plan));
    assert_int_equal(plan->summary.verdict, HVF_PLAN_VERDICT_AUTO);
    hvf_diags_init(&problems);
    assert_int_equal(hvf_plan_check(plan, f, &problems), 0);
    hvf_diags_clear(&problems);
    hvf_plan_free(plan);
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_dependency(void **state)
{
    /* web is spread, but everything it needs runs on h1 (auth -> db, transitively) */
    hvf_fleet *f = t_fleet("  - {name: web, critical: true, depends_on: [auth]}\n"
                           "  - {name: auth, depends_on: [db]}\n"
                           "  - {name: db}\n",
                           "  - {name: w1, host: h1, vcpus: 1, memory: 1GiB, service: web}\n"
                           "  - {name: w2, host: h3, vcpus: 1, memory: 1GiB, service: web}\n"
                           "  - {name: a1, host: h3, vcpus: 1, memory: 1GiB, service: auth}\n"
                           "  - {name: a2, host: h5, vcpus: 1, memory: 1GiB, service: auth}\n"
                           "  - {name: d1, host: h1, vcpus: 1, memory: 1GiB, service: db}\n"
                           "  - {name: d2, host: h1, vcpus: 1, memory: 1GiB, service: db}\n",
                           false);
    hvf_audit *a = hvf_audit_run(f, NULL);

    t_dump(f, a);
    assert_int_equal(a->nfindings, 1);
    assert_int_equal(a->findings[0].kind, HVF_AUDIT_DEPENDENCY);
    assert_int_equal(a->findings[0].other, hvf_fleet_find_service(f, "db"));
    assert_true(t_has(f, a->findings, 1,
                      "losing host h1 stops 'db', which critical service "
                      "'web' depends on"));
    /* the fix moves a db replica off h1 (and out of rack r1) */
    assert_int_equal(a->nmoves, 1);
    assert_string_equal(f->services[f->vms[a->moves[0].vm].service].name, "db");
    assert_int_not_equal(f->hosts[a->moves[0].to].rack, f->hosts[0].rack);
    assert_int_equal(a->nremaining, 0);
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_shared_fate(void **state)
{
    /* monitoring must not share a fate with what it watches, declared on both sides */
    hvf_fleet *f = t_fleet("  - {name: monitoring, must_not_share: [app]}\n"
                           "  - {name: app, must_not_share: [monitoring]}\n",
                           "  - {name: mon1, host: h2, vcpus: 1, memory: 1GiB, service: "
                           "monitoring}\n"
                           "  - {name: app1, host: h2, vcpus: 1, memory: 1GiB, service: app}\n",
                           false);
    hvf_audit *a = hvf_audit_run(f, NULL);

    t_dump(f, a);
    assert_int_equal(a->nfindings, 1); /* once, though declared twice */
    assert_int_equal(a->findings[0].kind, HVF_AUDIT_SHARED_FATE);
    assert_true(t_has(f, a->findings, 1, "losing host h2 stops both 'monitoring' and 'app'"));
    /* one moves to another rack: nothing left (neither is critical) */
    assert_int_equal(a->nmoves, 1);
    assert_int_not_equal(f->hosts[a->moves[0].to].rack, f->hosts[1].rack);
    assert_int_equal(a->nremaining, 0);
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_shared_fate_common_cause(void **state)
{
    /* the alert path and the ticketing system both stop when ticketing does: no move helps */
    hvf_fleet *f = t_fleet("  - {name: alerting, depends_on: [ticketing], must_not_share: "
                           "[ticketing]}\n"
                           "  - {name: ticketing}\n",
                           "  - {name: al1, host: h1, vcpus: 1, memory: 1GiB, service: "
                           "alerting}\n"
                           "  - {name: al2, host: h3, vcpus: 1, memory: 1GiB, service: "
                           "alerting}\n"
                           "  - {name: t1, host: h5, vcpus: 1, memory: 1GiB, service: "
                           "ticketing}\n",
                           false);
    hvf_audit *a = hvf_audit_run(f, NULL);
    HVF_AUTOFREE char *js = hvf_audit_json(a, f, NULL);

    assert_int_equal(a->nfindings, 1);
    assert_int_equal(a->nmoves, 0);
    assert_int_equal(a->nremaining, 1);
    assert_non_null(strstr(js, "both stop with 'ticketing' (1 replica, min_available 1)"));
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_zone_level(void **state)
{
    /* two replicas in two racks of zone z1; h5, h6 are zone z2 */
    static const char svc[] = "  - {name: db, critical: true, spread: zone}\n";
    static const char vms[] = "  - {name: db1, host: h1, vcpus: 1, memory: 1GiB, service: db}\n"
                              "  - {name: db2, host: h3, vcpus: 1, memory: 1GiB, service: db}\n";
    hvf_fleet *one = t_fleet(svc, vms, false), *two = t_fleet(svc, vms, true);
    hvf_audit *a1 = hvf_audit_run(one, NULL), *a2 = hvf_audit_run(two, NULL);

    assert_int_equal(a1->nfindings, 0); /* one zone: not audited */
    assert_int_equal(a2->nfindings, 1);
    assert_int_equal(a2->findings[0].level, HVF_SPREAD_ZONE);
    assert_int_equal(a2->nmoves, 1);
    assert_int_equal(two->hosts[a2->moves[0].to].zone, hvf_fleet_find_zone(two, "z2"));
    assert_int_equal(a2->nremaining, 0);
    hvf_audit_free(a1);
    hvf_audit_free(a2);
    hvf_fleet_free(one);
    hvf_fleet_free(two);
}

static void
test_down_host(void **state)
{
    hvf_fleet *f = t_fleet("  - {name: db, critical: true}\n",
                           "  - {name: db1, host: h1, vcpus: 1, memory: 1GiB, service: db}\n"
                           "  - {name: db2, host: h3, vcpus: 1, memory: 1GiB, service: db}\n",
                           false);
    hvf_audit *a;

    f->hosts[hvf_fleet_find_host(f, "h3")].state = HVF_HOST_STATE_DOWN;
    a = hvf_audit_run(f, NULL);
    /* db2 is lost already: h1 holds the only replica left */
    assert_int_equal(a->nfindings, 1);
    assert_true(t_has(f, a->findings, 1, "losing host h1 takes all 1 replica"));
    hvf_audit_free(a);
    hvf_fleet_free(f);
}

static void
test_no_room(void **state)
{
    /* db1 and db2 share h1; the other hosts are full */
    hvf_strbuf vms = HVF_STRBUF_INIT;
    hvf_fleet *f;
    hvf_audit *a;

    hvf_strbuf_puts(&vms, "  - {name: db1, host: h1, vcpus: 1, memory: 8GiB, service: db}\n"
                          "  - {name: db2, host: h1, vcpus: 1, memory: 8GiB, service: db}\n");
    for (int i = 2; i <= 6; i++)
        hvf_strbuf_printf(&vms, "  - {name: big%d, host: h%d, vcpus: 1, memory: 60GiB}\n", i, i);
    f = t_fleet("  - {name: db, critical: true}\n", vms.buf, false);
    a = hvf_audit_run(f, NULL);
    assert_int_equal(a->nfindings, 1);
    assert_int_equal(a->nmoves, 0);
    assert_int_equal(a->nremaining, 1);
    hvf_audit_free(a);
    hvf_fleet_free(f);
    hvf_strbuf_clear(&vms);
}

static void
test_seed_002(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f, *after;
    hvf_audit *a, *b;
    hvf_plan *plan, *back;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    HVF_AUTOFREE char *js = NULL;
    json_t *root;

    hvf_diags_init(&d);
    f = hvf_inventory_load(FLEET2002, &d, &err);
    if (!f)
        fail_msg("%s", d.n ? d.lines[0] : err.msg);
    a = hvf_audit_run(f, NULL);
    t_dump(f, a);
    assert_true(t_has(f, a->findings, a->nfindings,
                      "replicas losing host hv03 takes all 2 replicas of critical service "
                      "'monitoring'"));
    assert_true(t_has(f, a->findings, a->nfindings, "'alert-relay' and 'ticketing'"));
    /* the monitors end up in different racks, away from the relay's rack too */
    after = hvf_fleet_dup(f);
    for (size_t i = 0; i < a->nmoves; i++)
        after->vms[a->moves[i].vm].host = a->moves[i].to;
    {
        int32_t m1 = hvf_fleet_find_vm(after, "mon1"), m2 = hvf_fleet_find_vm(after, "mon2");
        assert_int_not_equal(after->hosts[after->vms[m1].host].rack,
                             after->hosts[after->vms[m2].host].rack);
    }
    /* what moves cannot fix: the relay needs a second replica (a second alert path) */
    assert_true(t_has(f, a->remaining, a->nremaining, "critical service 'alert-relay'"));
    for (size_t i = 0; i < a->nremaining; i++)
        assert_false(a->remaining[i].kind == HVF_AUDIT_REPLICAS &&
                     a->remaining[i].service == hvf_fleet_find_service(f, "monitoring"));
    /* auditing the fleet after the moves finds exactly what was left */
    b = hvf_audit_run(after, NULL);
    assert_int_equal(b->nfindings, a->nremaining);

    /* the plan: checked, written, read back the same */
    plan = hvf_audit_fix_plan(a, f, NULL);
    assert_int_equal(plan->nmigrations, a->nmoves);
    hvf_plan_format(plan, &sb);
    back = hvf_plan_parse("fix.json", sb.buf, sb.len, &d, &err);
    assert_non_null(back);
    assert_true(hvf_plan_hash_ok(back));
    assert_string_equal(back->summary.plan_hash, plan->summary.plan_hash);
    /* deterministic */
    {
        hvf_audit *again = hvf_audit_run(f, NULL);
        assert_int_equal(again->nmoves, a->nmoves);
        for (size_t i = 0; i < a->nmoves; i++) {
            assert_int_equal(again->moves[i].vm, a->moves[i].vm);
            assert_int_equal(again->moves[i].to, a->moves[i].to);
        }
        hvf_audit_free(again);
    }
    js = hvf_audit_json(a, f, "fix.json");
    root = json_loads(js, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "schema")), HVF_AUDIT_SCHEMA);
    assert_int_equal(json_array_size(json_object_get(root, "moves")), a->nmoves);
    json_decref(root);
    hvf_strbuf_clear(&sb);
    hvf_plan_free(back);
    hvf_plan_free(plan);
    hvf_audit_free(b);
    hvf_audit_free(a);
    hvf_fleet_free(after);
    hvf_fleet_free(f);
    hvf_diags_clear(&d);
}

/* ---- the inventory's relations ---- */

static void
test_relations_round_trip(void **state)
{
    hvf_fleet *f = t_fleet("  - {name: a, depends_on: [c, b], must_not_share: [b]}\n"
                           "  - {name: b}\n  - {name: c, must_not_share: [a]}\n",
                           "  - {name: v1, host: h1, vcpus: 1, memory: 1GiB, service: a}\n"
                           "  - {name: v2, host: h1, vcpus: 1, memory: 1GiB, service: b}\n"
                           "  - {name: v3, host: h1, vcpus: 1, memory: 1GiB, service: c}\n",
                           false);
    hvf_strbuf s1 = HVF_STRBUF_INIT, s2 = HVF_STRBUF_INIT;
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *back, *dup;
    int32_t a = hvf_fleet_find_service(f, "a");

    assert_int_equal(f->services[a].nrel[HVF_SERVICE_DEPENDS_ON], 2);
    assert_int_equal(f->services[a].rel[HVF_SERVICE_DEPENDS_ON][0], hvf_fleet_find_service(f, "c"));
    hvf_inventory_format(f, &s1);
    assert_non_null(strstr(s1.buf, "{name: a, critical: false, min_available: 1, spread: host, "
                                   "depends_on: [c, b], must_not_share: [b]}\n"));
    hvf_diags_init(&d);
    back = hvf_inventory_parse("back.yaml", s1.buf, s1.len, &d, &err);
    assert_non_null(back);
    hvf_inventory_format(back, &s2);
    assert_string_equal(s1.buf, s2.buf);
    dup = hvf_fleet_dup(back);
    assert_int_equal(dup->services[a].nrel[HVF_SERVICE_MUST_NOT_SHARE], 1);
    hvf_fleet_free(dup);
    hvf_fleet_free(back);
    hvf_fleet_free(f);
    hvf_strbuf_clear(&s1);
    hvf_strbuf_clear(&s2);
    hvf_diags_clear(&d);
}

static void
test_relations_bad(void **state)
{
    static const struct {
        const char *services, *expect;
    } cases[] = {
        {"  - {name: a, depends_on: [nope]}\n",
         "t.yaml:3: services[0].depends_on[0]: 'nope': expected the name of a service"},
        {"  - {name: a, must_not_share: [a]}\n",
         "t.yaml:3: services[0].must_not_share[0]: 'a': expected another service, each named "
         "once (service 'a' cannot relate to itself)"},
        {"  - {name: a, depends_on: [b, b]}\n  - {name: b}\n",
         "t.yaml:3: services[0].depends_on[1]: 'b': expected another service, each named once"},
        {"  - {name: a, depends_on: b}\n  - {name: b}\n",
         "t.yaml:3: services[0].depends_on: 'b': expected a list of service names"},
        {"  - {name: a, must_not_share: [{name: b}]}\n  - {name: b}\n",
         "services[0].must_not_share[0]: "},
        {"  - {name: a, depends_on: [b]}\n  - {name: a}\n  - {name: b}\n",
         "t.yaml:4: services[1].name: 'a': expected a unique name"},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_strbuf sb = HVF_STRBUF_INIT;
        hvf_diags d;
        hvf_error err = HVF_ERROR_INIT;
        hvf_fleet *f;
        bool found = false;

        hvf_strbuf_printf(&sb,
                          "schema: hvfleet.inventory/v1\nservices:\n%shosts:\n"
                          "  - {name: h1, cpus: 4, memory: 8GiB}\nvms:\n"
                          "  - {name: v1, host: h1, vcpus: 1, memory: 1GiB, service: a}\n"
                          "  - {name: v2, host: h1, vcpus: 1, memory: 1GiB, service: b}\n",
                          cases[i].services);
        hvf_diags_init(&d);
        f = hvf_inventory_parse("t.yaml", sb.buf, sb.len, &d, &err);
        for (size_t k = 0; k < d.n; k++)
            found |= strstr(d.lines[k], cases[i].expect) != NULL;
        if (f || !found)
            fail_msg("case %zu: expected '%s', got '%s'", i, cases[i].expect,
                     d.n ? d.lines[0] : "nothing");
        hvf_diags_clear(&d);
        hvf_strbuf_clear(&sb);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_single_replica),
        cmocka_unit_test(test_min_available),
        cmocka_unit_test(test_below_min_available_fixed),
        cmocka_unit_test(test_dependency),
        cmocka_unit_test(test_shared_fate),
        cmocka_unit_test(test_shared_fate_common_cause),
        cmocka_unit_test(test_zone_level),
        cmocka_unit_test(test_down_host),
        cmocka_unit_test(test_no_room),
        cmocka_unit_test(test_seed_002),
        cmocka_unit_test(test_relations_round_trip),
        cmocka_unit_test(test_relations_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
