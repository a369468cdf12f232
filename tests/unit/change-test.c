/* SPDX-License-Identifier: MIT */
/*
 * Change files and the change planner: canary coverage (a variant on one host only is in the
 * canary; the cover is minimum), wave growth and caps, redundancy and min_available, each gate
 * type, the seatbelt's verdicts, and one-line errors for bad change files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/*
 * @n hosts h01.. in racks of @per_rack (r1, r2, ...), kernel 4.4 except the hosts listed in
 * @k415 (1-based, 0-terminated) which run 4.15 on hw nvme.
 */
static hvf_fleet *
fleet_hosts(int n, int per_rack, const int *k415, const char *extra)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_fleet *f;

    hvf_strbuf_puts(&sb, "hosts:\n");
    for (int i = 1; i <= n; i++) {
        bool nv = false;
        for (const int *k = k415; k && *k; k++)
            nv = nv || *k == i;
        hvf_strbuf_printf(&sb,
                          "  - {name: h%02d, rack: r%d, cpus: 16, memory: 64GiB, kernel: '%s', "
                          "hw: %s, tags: [storage]}\n",
                          i, (i - 1) / per_rack + 1, nv ? "4.15" : "4.4", nv ? "nvme" : "ssd");
    }
    if (extra)
        hvf_strbuf_puts(&sb, extra);
    f = hvf_test_inventory(sb.buf);
    hvf_strbuf_clear(&sb);
    return f;
}

static hvf_change *
chg(const char *text)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change *c;

    hvf_diags_init(&d);
    c = hvf_change_parse("c.yaml", text, strlen(text), &d, &err);
    if (!c)
        hvf_diags_print(&d, stderr);
    hvf_diags_clear(&d);
    assert_non_null(c);
    return c;
}

/* Parses @text expecting failure; returns the first message (owned). */
static char *
chg_error(const char *text)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change *c;
    char *msg;

    hvf_diags_init(&d);
    c = hvf_change_parse("c.yaml", text, strlen(text), &d, &err);
    assert_null(c);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_true(d.n >= 1);
    msg = hvf_strdup(d.lines[0]);
    assert_null(strchr(msg, '\n'));
    hvf_diags_clear(&d);
    return msg;
}

static hvf_change_plan *
plan_of(const hvf_fleet *f, const hvf_change *c, uint32_t max_parallel, uint32_t per_rack)
{
    hvf_change_plan_opts o = {{max_parallel, per_rack, 0}, false};
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan *p = hvf_change_plan_build(f, c, &o, &err);

    if (!p)
        fprintf(stderr, "%s\n", err.msg);
    assert_non_null(p);
    return p;
}

static bool
wave_has(const hvf_change_plan *p, size_t w, const char *name)
{
    for (size_t i = 0; i < p->waves[w].nunits; i++) {
        if (strcmp(p->units[p->waves[w].units[i]].name, name) == 0)
            return true;
    }
    return false;
}

static size_t
canary_units(const hvf_change_plan *p)
{
    size_t n = 0;

    for (size_t w = 0; w < p->nwaves && p->waves[w].canary; w++)
        n += p->waves[w].nunits;
    return n;
}

/* Every unit exactly once over all waves. */
static void
check_partition(const hvf_change_plan *p)
{
    HVF_AUTOFREE int *seen = hvf_calloc(p->nunits + 1, sizeof(int));
    size_t total = 0;

    for (size_t w = 0; w < p->nwaves; w++) {
        assert_true(p->waves[w].nunits > 0);
        for (size_t i = 0; i < p->waves[w].nunits; i++) {
            seen[p->waves[w].units[i]]++;
            total++;
        }
        if (w > 0)
            assert_int_equal(p->waves[w].start_us, p->waves[w - 1].baked_us);
    }
    assert_int_equal(total, p->nunits);
    for (size_t u = 0; u < p->nunits; u++)
        assert_int_equal(seen[u], 1);
}

static const char *const CHANGE_STORAGE = "name: fw\n"
                                          "kind: firewall_rule\n"
                                          "targets: {hosts: tag:storage}\n"
                                          "gates: [{type: client_io_latency, max: 50ms}]\n";

/* ---- canary coverage -------------------------------------------------------------------- */

static void
test_canary_covers_lone_variant(void **state)
{
    static const int k415[] = {7, 0};
    hvf_fleet *f = fleet_hosts(12, 4, k415, NULL);
    hvf_change *c = chg(CHANGE_STORAGE);
    hvf_change_plan *p = plan_of(f, c, 0, 0);

    (void)state;
    check_partition(p);
    assert_true(p->waves[0].canary);
    /* h07 is the only 4.15 / nvme host: it must be in the canary */
    assert_true(wave_has(p, 0, "h07"));
    assert_int_equal(canary_units(p), 2);
    assert_int_equal(p->nuncovered, 0);
    assert_true(p->cover_exact);
    /* and nowhere after it */
    for (size_t w = 1; w < p->nwaves; w++)
        assert_false(wave_has(p, w, "h07"));
    hvf_change_plan_free(p);
    hvf_change_free(c);

    /* a canary asked bigger than the cover keeps the cover and fills up in spread order */
    c = chg("name: fw\nkind: firewall_rule\ntargets: {hosts: tag:storage}\n"
            "waves: {canary: 5, max_per_wave: 8}\n"
            "gates: [{type: client_io_latency, max: 50ms}]\n");
    p = plan_of(f, c, 0, 0);
    check_partition(p);
    assert_int_equal(canary_units(p), 5);
    assert_true(wave_has(p, 0, "h07"));
    assert_int_equal(p->nuncovered, 0);
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* Greedy takes the host with most variants first and needs three; the minimum is two. */
static void
test_canary_minimum_cover(void **state)
{
    hvf_fleet *f =
        hvf_test_inventory("hosts:\n"
                           "  - {name: big, cpus: 8, memory: 32GiB, tags: [a, b, c, d]}\n"
                           "  - {name: x, cpus: 8, memory: 32GiB, tags: [a, c, e]}\n"
                           "  - {name: y, cpus: 8, memory: 32GiB, tags: [b, d, f]}\n"
                           "  - {name: z, cpus: 8, memory: 32GiB, tags: [a]}\n");
    hvf_change *c = chg("name: t\nkind: package\ntargets: {hosts: all}\nvariants_by: [role]\n"
                        "gates: [{type: process_up}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);

    (void)state;
    assert_int_equal(canary_units(p), 2);
    assert_true(wave_has(p, 0, "x"));
    assert_true(wave_has(p, 0, "y"));
    assert_false(wave_has(p, 0, "big"));
    assert_true(p->cover_exact);
    assert_int_equal(p->nuncovered, 0);
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* A lab-chosen canary that leaves out 4.15 is extended, and the plan says so. */
static void
test_canary_seed_extended(void **state)
{
    static const int k415[] = {9, 10, 0};
    hvf_fleet *f = fleet_hosts(10, 5, k415, NULL);
    hvf_change *c = chg("name: fw\nkind: firewall_rule\ntargets: {hosts: all}\n"
                        "waves: {canary_units: [h01, h02]}\n"
                        "gates: [{type: client_io_latency, max: 50ms}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);
    bool noted = false;

    (void)state;
    assert_int_equal(canary_units(p), 3);
    assert_true(wave_has(p, 0, "h01") && wave_has(p, 0, "h02"));
    assert_true(wave_has(p, 0, "h09"));
    assert_int_equal(p->nadded, 1);
    assert_string_equal(p->units[p->added_for_coverage[0]].name, "h09");
    for (size_t i = 0; i < p->nnotes; i++)
        noted = noted || strstr(p->notes[i], "added h09 to cover kernel=4.15, hw=nvme");
    assert_true(noted);
    hvf_change_plan_free(p);

    /* as written (how it went without hvfleet), the canary stays the lab's and misses 4.15 */
    {
        hvf_change_plan_opts o = {{0, 0, 0}, true};
        hvf_error err = HVF_ERROR_INIT;
        p = hvf_change_plan_build(f, c, &o, &err);
        assert_non_null(p);
        assert_int_equal(canary_units(p), 2);
        assert_false(wave_has(p, 0, "h09"));
        assert_int_equal(p->nuncovered, 2); /* kernel=4.15 and hw=nvme */
        hvf_change_plan_free(p);
    }
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* Dimensions beyond the built-in ones come from host tags KEY=VALUE; no tag is "(none)". */
static void
test_variants_from_tags(void **state)
{
    hvf_fleet *f = hvf_test_inventory("hosts:\n"
                                      "  - {name: a, cpus: 8, memory: 32GiB, tags: [nic=mlx5]}\n"
                                      "  - {name: b, cpus: 8, memory: 32GiB, tags: [nic=mlx5]}\n"
                                      "  - {name: c, cpus: 8, memory: 32GiB, tags: [nic=ixgbe]}\n"
                                      "  - {name: d, cpus: 8, memory: 32GiB}\n");
    hvf_change *c = chg("name: t\nkind: kernel\ntargets: {hosts: all}\nvariants_by: [nic]\n"
                        "gates: [{type: process_up}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);

    (void)state;
    assert_int_equal(p->nvariants, 3);
    assert_string_equal(p->variants[2].value, "(none)");
    assert_int_equal(canary_units(p), 3);
    assert_true(wave_has(p, 0, "c") && wave_has(p, 0, "d"));
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* ---- waves: growth, caps, limits -------------------------------------------------------- */

static void
test_wave_growth_and_cap(void **state)
{
    hvf_fleet *f = fleet_hosts(20, 20, NULL, NULL);
    hvf_change *c = chg("name: t\nkind: package\ntargets: {hosts: all}\nvariants_by: []\n"
                        "waves: {canary: 1, factor: 2, max_per_wave: 5, apply: 1m, bake: 5m}\n"
                        "gates: [{type: process_up}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);
    static const size_t sizes[] = {1, 2, 4, 5, 5, 3};

    (void)state;
    check_partition(p);
    assert_int_equal(p->nwaves, HVF_ARRAY_LEN(sizes));
    for (size_t w = 0; w < p->nwaves; w++)
        assert_int_equal(p->waves[w].nunits, sizes[w]);
    assert_true(p->waves[0].canary);
    assert_false(p->waves[1].canary);
    assert_int_equal(p->waves[0].applied_us, 60 * 1000000LL);
    assert_int_equal(p->waves[0].baked_us, 6 * 60 * 1000000LL);
    assert_int_equal(p->duration_us, 6 * 6 * 60 * 1000000LL);
    hvf_change_plan_free(p);

    /* the policy's max_parallel_hosts caps below the change's own cap */
    p = plan_of(f, c, 3, 0);
    check_partition(p);
    assert_int_equal(p->wave_cap, 3);
    for (size_t w = 0; w < p->nwaves; w++)
        assert_true(p->waves[w].nunits <= 3);
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

static void
test_rack_limit_and_redundancy(void **state)
{
    hvf_fleet *f = fleet_hosts(12, 3, NULL, NULL); /* 4 racks of 3 */
    hvf_change *c = chg("name: t\nkind: kernel\ntargets: {hosts: all}\n"
                        "waves: {canary: 1, factor: 4, max_per_wave: 10}\n"
                        "redundancy: {per: rack, max_down: 1}\n"
                        "gates: [{type: process_up}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);
    HVF_AUTOFREE uint32_t *order = NULL;
    HVF_AUTOFREE uint32_t *batch = NULL;
    size_t nb;

    (void)state;
    check_partition(p);
    for (size_t w = 0; w < p->nwaves; w++) {
        int per_rack[8] = {0};
        for (size_t i = 0; i < p->waves[w].nunits; i++)
            assert_true(++per_rack[p->units[p->waves[w].units[i]].rack] <= 1);
    }
    /* one per rack and four racks: after the canary, waves of four */
    assert_int_equal(p->waves[1].nunits, 4);

    /* a rollback of everything, in reverse, keeps the same rule: batches of one per rack */
    order = hvf_malloc(p->nunits * sizeof(uint32_t));
    batch = hvf_malloc(p->nunits * sizeof(uint32_t));
    for (size_t i = 0; i < p->nunits; i++)
        order[i] = (uint32_t)(p->nunits - 1 - i);
    nb = hvf_change_plan_pack(p, order, p->nunits, 0, batch);
    assert_int_equal(nb, 3);
    for (size_t b = 0; b < nb; b++) {
        int per_rack[8] = {0};
        for (size_t i = 0; i < p->nunits; i++) {
            if (batch[i] == b)
                assert_true(++per_rack[p->units[order[i]].rack] <= 1);
        }
    }
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* Hosts that hold replicas of a service never take it below min_available in one wave. */
static void
test_min_available_hosts(void **state)
{
    hvf_fleet *f = fleet_hosts(8, 8, NULL,
                               "services: [{name: db, min_available: 3}]\n"
                               "vms:\n"
                               "  - {name: db1, host: h01, vcpus: 1, memory: 1GiB, service: db}\n"
                               "  - {name: db2, host: h02, vcpus: 1, memory: 1GiB, service: db}\n"
                               "  - {name: db3, host: h03, vcpus: 1, memory: 1GiB, service: db}\n"
                               "  - {name: db4, host: h04, vcpus: 1, memory: 1GiB, service: db}\n");
    hvf_change *c = chg("name: t\nkind: kernel\ntargets: {hosts: all}\n"
                        "waves: {canary: 1, factor: 8, max_per_wave: 8}\n"
                        "gates: [{type: process_up}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);

    (void)state;
    check_partition(p);
    for (size_t w = 0; w < p->nwaves; w++) {
        int db = 0;
        for (size_t i = 0; i < p->waves[w].nunits; i++) {
            const char *n = p->units[p->waves[w].units[i]].name;
            db += strcmp(n, "h05") < 0;
        }
        assert_true(db <= 1);
    }
    assert_int_equal(p->nforced, 0);
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* VMs of a service as targets: each wave keeps min_available running; a host holding too many
 * replicas alone cannot be changed safely: the seatbelt refuses. */
static void
test_min_available_service_and_forced(void **state)
{
    hvf_fleet *f = fleet_hosts(6, 6, NULL,
                               "services: [{name: bus, min_available: 3}, {name: kv, "
                               "min_available: 2}]\n"
                               "vms:\n"
                               "  - {name: b1, host: h01, vcpus: 1, memory: 1GiB, service: bus}\n"
                               "  - {name: b2, host: h02, vcpus: 1, memory: 1GiB, service: bus}\n"
                               "  - {name: b3, host: h03, vcpus: 1, memory: 1GiB, service: bus}\n"
                               "  - {name: b4, host: h04, vcpus: 1, memory: 1GiB, service: bus}\n"
                               "  - {name: b5, host: h05, vcpus: 1, memory: 1GiB, service: bus}\n"
                               "  - {name: k1, host: h06, vcpus: 1, memory: 1GiB, service: kv}\n"
                               "  - {name: k2, host: h06, vcpus: 1, memory: 1GiB, service: kv}\n"
                               "  - {name: k3, host: h01, vcpus: 1, memory: 1GiB, service: kv}\n");
    hvf_change *c = chg("name: up\nkind: package\ntargets: {service: bus}\n"
                        "waves: {canary: 1, factor: 4, max_per_wave: 5}\n"
                        "gates: [{type: service_answers, service: bus}]\n");
    hvf_change_plan *p = plan_of(f, c, 0, 0);
    hvf_policy pol;

    (void)state;
    check_partition(p);
    assert_int_equal(p->nunits, 5);
    assert_int_equal(p->units[0].vm, 0);
    for (size_t w = 0; w < p->nwaves; w++)
        assert_true(p->waves[w].nunits <= 2); /* 5 replicas, min_available 3 */
    hvf_policy_default(&pol);
    pol.seatbelt.max_hosts_without_approval = 100;
    assert_int_equal(hvf_change_plan_evaluate(p, &pol, f, false), HVF_PLAN_VERDICT_AUTO);
    hvf_change_plan_free(p);
    hvf_change_free(c);

    /* h06 holds 2 of 3 kv replicas and kv may lose only 1 */
    c = chg("name: k\nkind: kernel\ntargets: {hosts: [h05, h06]}\n"
            "gates: [{type: process_up}]\n");
    p = plan_of(f, c, 0, 0);
    check_partition(p);
    assert_int_equal(p->nforced, 1);
    assert_string_equal(p->units[p->forced[0]].name, "h06");
    assert_int_equal(hvf_change_plan_evaluate(p, &pol, f, false), HVF_PLAN_VERDICT_REFUSED);
    assert_non_null(strstr(p->reasons[0], "h06 holds 2 replicas of service 'kv'"));
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* ---- gates and the seatbelt ------------------------------------------------------------- */

static bool
has_reason(const hvf_change_plan *p, const char *text)
{
    for (size_t i = 0; i < p->nreasons; i++) {
        if (strstr(p->reasons[i], text))
            return true;
    }
    return false;
}

static void
test_gates_and_verdicts(void **state)
{
    hvf_fleet *f = fleet_hosts(4, 4, NULL,
                               "services: [{name: web, min_available: 1}]\n"
                               "vms: [{name: w1, host: h01, vcpus: 1, memory: 1GiB, service: "
                               "web}, {name: w2, host: h02, vcpus: 1, memory: 1GiB, service: "
                               "web}]\n");
    hvf_policy pol;
    struct {
        const char *gates;
        hvf_plan_verdict want;
        const char *reason; /* NULL: none expected */
        bool weak;
    } cases[] = {
        {"gates: []\n", HVF_PLAN_VERDICT_NEEDS_APPROVAL, "no health gate", false},
        {"gates: [{type: process_up}]\n", HVF_PLAN_VERDICT_NEEDS_APPROVAL, "only liveness gates",
         true},
        {"gates: [{type: service_answers, service: web, min_success: 0.999}]\n",
         HVF_PLAN_VERDICT_AUTO, NULL, false},
        {"gates: [{type: client_io_latency, max: 20ms, percentile: 99.9}, {type: process_up}]\n",
         HVF_PLAN_VERDICT_AUTO, NULL, true},
        {"gates: [{type: client_io_latency, max: 20ms}]\nrollback: false\n",
         HVF_PLAN_VERDICT_NEEDS_APPROVAL, "rollback is off", false},
    };

    (void)state;
    hvf_policy_default(&pol);
    pol.seatbelt.max_hosts_without_approval = 10;
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *text =
            hvf_asprintf("name: t\nkind: config_reload\ntargets: {hosts: all}\n%s", cases[i].gates);
        hvf_change *c = chg(text);
        hvf_change_plan *p = plan_of(f, c, 2, 0);
        bool weak_noted = false;
        assert_int_equal(hvf_change_plan_evaluate(p, &pol, f, false), cases[i].want);
        if (cases[i].reason)
            assert_true(has_reason(p, cases[i].reason));
        else
            assert_int_equal(p->nreasons, 0);
        for (size_t k = 0; k < p->nnotes; k++)
            weak_noted = weak_noted || strstr(p->notes[k], "checks liveness only");
        assert_int_equal(weak_noted, cases[i].weak);
        assert_int_equal(strlen(p->plan_hash), 64);
        /* frozen refuses whatever the plan */
        assert_int_equal(hvf_change_plan_evaluate(p, &pol, f, true), HVF_PLAN_VERDICT_REFUSED);
        assert_true(has_reason(p, "frozen"));
        hvf_change_plan_free(p);
        hvf_change_free(c);
    }
    /* the shared seatbelt: more hosts than max_hosts_without_approval */
    {
        hvf_change *c = chg(CHANGE_STORAGE);
        hvf_change_plan *p = plan_of(f, c, 2, 0);
        pol.seatbelt.max_hosts_without_approval = 1;
        assert_int_equal(hvf_change_plan_evaluate(p, &pol, f, false),
                         HVF_PLAN_VERDICT_NEEDS_APPROVAL);
        assert_true(has_reason(p, "max_hosts_without_approval"));
        hvf_change_plan_free(p);
        hvf_change_free(c);
    }
    hvf_fleet_free(f);
}

/* Seed 004 as it was done: everything at once. Beyond the policy: refused; no canary. */
static void
test_all_at_once(void **state)
{
    static const int k415[] = {3, 0};
    hvf_fleet *f = fleet_hosts(6, 3, k415, NULL);
    hvf_change *c = chg("name: fw\nkind: firewall_rule\ntargets: {hosts: all}\n"
                        "waves: {strategy: all_at_once}\n"
                        "gates: [{type: client_io_latency, max: 50ms}]\n");
    hvf_change_plan *p = plan_of(f, c, 2, 1);
    hvf_policy pol;

    (void)state;
    hvf_policy_default(&pol);
    assert_int_equal(p->nwaves, 1);
    assert_int_equal(p->waves[0].nunits, 6);
    assert_false(p->waves[0].canary);
    assert_int_equal(hvf_change_plan_evaluate(p, &pol, f, false), HVF_PLAN_VERDICT_REFUSED);
    assert_true(has_reason(p, "all_at_once changes 6 units at once"));
    assert_true(has_reason(p, "no canary"));
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* Same input, same plan, byte for byte; a different plan, a different hash. */
static void
test_determinism(void **state)
{
    static const int k415[] = {5, 11, 0};
    hvf_fleet *f = fleet_hosts(16, 4, k415, NULL);
    hvf_change *c = chg(CHANGE_STORAGE);
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;
    hvf_policy pol;
    char hash[HVF_SHA256_HEX_LEN + 1];

    (void)state;
    hvf_policy_default(&pol);
    for (int i = 0; i < 2; i++) {
        hvf_change_plan *p = plan_of(f, c, 3, 1);
        hvf_change_plan_evaluate(p, &pol, f, false);
        hvf_change_plan_format_json(p, i ? &b : &a);
        if (i == 0)
            memcpy(hash, p->plan_hash, sizeof(hash));
        hvf_change_plan_free(p);
    }
    assert_string_equal(a.buf, b.buf);
    {
        hvf_change_plan *p = plan_of(f, c, 2, 1);
        hvf_change_plan_evaluate(p, &pol, f, false);
        assert_string_not_equal(hash, p->plan_hash);
        hvf_change_plan_free(p);
    }
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_change_free(c);
    hvf_fleet_free(f);
}

/* ---- change files ------------------------------------------------------------------------ */

static void
test_parse_full_and_round_trip(void **state)
{
    const char *text = "schema: hvfleet.change/v1\n"
                       "name: bus-upgrade\n"
                       "description: \"pulsar 3.3.1, new balancer\"\n"
                       "kind: package\n"
                       "targets: {service: pulsar}\n"
                       "variants_by: [kernel, hw, zone]\n"
                       "settings: [new_balancer]\n"
                       "waves: {strategy: rolling, canary: 2, canary_units: [b1], factor: 1.5,\n"
                       "        max_per_wave: 3, apply: 1m, bake: 5m, gate_interval: 15s}\n"
                       "redundancy: {per: zone, max_down: 1}\n"
                       "gates:\n"
                       "  - {type: service_answers, service: pulsar, min_success: 0.995}\n"
                       "  - {type: client_io_latency, max: 40ms, service: ceph, percentile: 95}\n"
                       "  - {type: process_up}\n"
                       "rollback: false\n";
    hvf_change *c = chg(text), *d;
    hvf_strbuf once = HVF_STRBUF_INIT, twice = HVF_STRBUF_INIT;

    (void)state;
    assert_string_equal(c->name, "bus-upgrade");
    assert_int_equal(c->kind, HVF_CHANGE_KIND_PACKAGE);
    assert_string_equal(c->service, "pulsar");
    assert_int_equal(c->nhosts, 0);
    assert_int_equal(c->nvariants_by, 3);
    assert_string_equal(c->settings[0], "new_balancer");
    assert_int_equal(c->canary, 2);
    assert_true(c->factor == 1.5);
    assert_int_equal(c->apply_us, 60000000);
    assert_int_equal(c->gate_interval_us, 15000000);
    assert_int_equal(c->redundancy_per, HVF_SPREAD_ZONE);
    assert_int_equal(c->ngates, 3);
    assert_true(c->gates[0].min_success == 0.995);
    assert_int_equal(c->gates[1].max_latency_us, 40000);
    assert_true(c->gates[1].percentile == 95);
    assert_true(hvf_change_gate_is_weak(&c->gates[2]));
    assert_false(hvf_change_gate_is_weak(&c->gates[0]));
    assert_false(c->rollback);
    hvf_change_format(c, &once);
    d = chg(once.buf);
    hvf_change_format(d, &twice);
    assert_string_equal(once.buf, twice.buf);
    hvf_strbuf_clear(&once);
    hvf_strbuf_clear(&twice);
    hvf_change_free(d);
    hvf_change_free(c);

    /* defaults */
    c = chg("name: t\nkind: kernel\ntargets: {hosts: [all]}\n");
    assert_int_equal(c->nvariants_by, 3);
    assert_string_equal(c->variants_by[2], "role");
    assert_int_equal(c->canary, 1);
    assert_true(c->factor == 2.0);
    assert_true(c->rollback);
    assert_int_equal(c->ngates, 0);
    hvf_change_free(c);
}

/* Names that YAML would read as something else unless quoted: every one reads back as itself
 * (issue 9, item 20), and so does a description with ': ' and '#'. */
static void
test_format_quotes_names(void **state)
{
    static const char *const names[] = {"-", "yes", "null", "1e3", "-1", "true", ".inf", "0x1f",
                                        "No", "-x"};

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(names); i++) {
        HVF_AUTOFREE char *text = hvf_asprintf(
            "name: '%s'\nkind: config_reload\ndescription: ': x #a'\n"
            "targets: {service: '%s'}\nsettings: ['-', 'null', 'yes']\n"
            "gates:\n  - {type: service_answers, service: '%s', min_success: 0.9}\n"
            "  - {type: client_io_latency, service: '%s', max: 20ms, percentile: 99}\n",
            names[i], names[i], names[i], names[i]);
        hvf_change *c = chg(text), *d;
        hvf_strbuf once = HVF_STRBUF_INIT, twice = HVF_STRBUF_INIT;

        hvf_change_format(c, &once);
        d = chg(once.buf);
        assert_string_equal(d->name, names[i]);
        assert_string_equal(d->service, names[i]);
        assert_string_equal(d->description, ": x #a");
        assert_int_equal(d->nsettings, 3);
        assert_string_equal(d->settings[0], "-");
        assert_string_equal(d->settings[1], "null");
        assert_string_equal(d->settings[2], "yes");
        assert_int_equal(d->ngates, 2);
        assert_string_equal(d->gates[0].service, names[i]);
        assert_string_equal(d->gates[1].service, names[i]);
        hvf_change_format(d, &twice);
        assert_string_equal(once.buf, twice.buf);
        hvf_strbuf_clear(&once);
        hvf_strbuf_clear(&twice);
        hvf_change_free(d);
        hvf_change_free(c);
    }
}

static void
test_bad_files(void **state)
{
    struct {
        const char *text, *want;
    } cases[] = {
        {"name: t\nkind: reboot\ntargets: {hosts: all}\n",
         "c.yaml:2: kind: 'reboot': expected one of package | kernel"},
        {"name: t\nkind: kernel\n", "c.yaml:1: targets: (missing): a value is required"},
        {"name: t\nkind: kernel\ntargets: {hosts: all, service: s}\n",
         "c.yaml:3: targets: (a mapping): expected either hosts"},
        {"name: t\nkind: kernel\ntargets: {}\n", "expected either hosts"},
        {"name: t\nkind: kernel\ntargets: {hosts: 'nope:x'}\n",
         "c.yaml:3: targets.hosts: 'nope:x': expected all, a host name"},
        {"name: t\nkind: kernel\ntargets: {hosts: [all, 'rack:']}\n",
         "c.yaml:3: targets.hosts: 'rack:': expected rack:ZONE/RACK or rack:RACK"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\ncolour: red\n",
         "c.yaml:4: colour: 'colour': unknown field"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\nwaves: {canary: 0}\n",
         "c.yaml:4: waves.canary: '0': expected a whole number between 1 and 4096"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\nwaves: {bake: soon}\n",
         "c.yaml:4: waves.bake: 'soon': expected a duration"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\nwaves: {factor: 0.5}\n",
         "waves.factor: '0.5': expected a number between 1 and 100"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\nwaves: {gate_interval: 0s}\n",
         "waves.gate_interval: '0s': expected a duration above 0"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\nvariants_by: [kernel, kernel]\n",
         "c.yaml:4: variants_by: 'kernel': listed twice"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\ngates: [{type: service_answers}]\n",
         "gates[0].service"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\ngates: [{type: client_io_latency}]\n",
         "gates[0].max"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\n"
         "gates: [{type: process_up, service: web}]\n",
         "process_up takes no service"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\n"
         "gates: [{type: service_answers, service: w, min_success: 1.5}]\n",
         "gates[0].min_success: '1.5': expected a number between"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\n"
         "gates: [{type: client_io_latency, max: 1ms, min_success: 0.9}]\n",
         "expected only with type service_answers"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\nredundancy: {per: row, max_down: 1}\n",
         "redundancy.per: 'row': expected one of host | rack | zone"},
        {"schema: hvfleet.change/v9\nname: t\nkind: kernel\ntargets: {hosts: all}\n",
         "c.yaml:1: schema: 'hvfleet.change/v9': expected 'hvfleet.change/v1'"},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\ngates: {type: process_up}\n",
         "gates: (a mapping): expected a list"},
        {"[1, 2", "syntax: flow sequence without a closing bracket"},
        {"name: 'bad name'\nkind: kernel\ntargets: {hosts: all}\n", "name: 'bad name'"},
    };

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *msg = chg_error(cases[i].text);
        if (!strstr(msg, cases[i].want)) {
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, msg, cases[i].want);
            fail();
        }
    }
}

/* Names are checked against the fleet by the planner, with the field that names them. */
static void
test_plan_errors(void **state)
{
    hvf_fleet *f = fleet_hosts(3, 3, NULL, NULL);
    struct {
        const char *text, *want;
        hvf_errcode code;
    } cases[] = {
        {"name: t\nkind: kernel\ntargets: {service: nope}\n",
         "targets.service: 'nope': expected a service of the inventory", HVF_ERR_NOT_FOUND},
        {"name: t\nkind: kernel\ntargets: {hosts: [h01, h09]}\n", "targets.hosts: 'h09'",
         HVF_ERR_NOT_FOUND},
        {"name: t\nkind: kernel\ntargets: {hosts: tag:gpu}\n", "targets.hosts: 'tag:gpu'",
         HVF_ERR_NOT_FOUND},
        {"name: t\nkind: kernel\ntargets: {hosts: h01}\nwaves: {canary_units: [h02]}\n",
         "waves.canary_units: 'h02': expected one of the change's targets", HVF_ERR_NOT_FOUND},
        {"name: t\nkind: kernel\ntargets: {hosts: all}\n"
         "gates: [{type: service_answers, service: web}]\n",
         "gates[0].service: 'web': expected a service of the inventory", HVF_ERR_NOT_FOUND},
    };

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_change *c = chg(cases[i].text);
        hvf_error err = HVF_ERROR_INIT;
        hvf_change_plan *p = hvf_change_plan_build(f, c, NULL, &err);
        assert_null(p);
        assert_int_equal(err.code, cases[i].code);
        if (!strstr(err.msg, cases[i].want)) {
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err.msg, cases[i].want);
            fail();
        }
        hvf_change_free(c);
    }
    hvf_fleet_free(f);
}

/* hvf_change_resolve: the units in fleet order, canary indexes, and the planner's own errors. */
static void
test_resolve(void **state)
{
    hvf_fleet *f = fleet_hosts(3, 3, NULL,
                               "services: [{name: web}]\n"
                               "vms:\n"
                               "  - {name: w2, host: h03, vcpus: 1, memory: 1GiB, service: web}\n"
                               "  - {name: x1, host: h01, vcpus: 1, memory: 1GiB}\n"
                               "  - {name: w1, host: h01, vcpus: 1, memory: 1GiB, service: web}\n");
    hvf_change *hosts = chg("name: t\nkind: kernel\ntargets: {hosts: [h03, h01]}\n"
                            "waves: {canary_units: [h03]}\n");
    hvf_change *vms = chg("name: t\nkind: package\ntargets: {service: web}\n");
    hvf_change *bad = chg("name: t\nkind: kernel\ntargets: {hosts: [h01, h09]}\n");
    hvf_change_target *units = NULL;
    uint32_t *canary = NULL;
    size_t n = 0;
    hvf_error err = HVF_ERROR_INIT, build_err = HVF_ERROR_INIT;

    (void)state;
    assert_int_equal(hvf_change_resolve(f, hosts, &units, &n, &canary, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(units[0].host, hvf_fleet_find_host(f, "h01"));
    assert_int_equal(units[1].host, hvf_fleet_find_host(f, "h03"));
    assert_int_equal(units[0].vm, -1);
    assert_int_equal(canary[0], 1);
    free(units);
    free(canary);

    assert_int_equal(hvf_change_resolve(f, vms, &units, &n, &canary, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(f->vms[units[0].vm].name, "w2");
    assert_int_equal(units[0].host, hvf_fleet_find_host(f, "h03"));
    assert_string_equal(f->vms[units[1].vm].name, "w1");
    free(units);
    free(canary);

    /* the scenario reader and the planner report the same thing */
    assert_int_equal(hvf_change_resolve(f, bad, &units, &n, &canary, &err), -1);
    assert_null(units);
    assert_null(canary);
    assert_int_equal(n, 0);
    assert_null(hvf_change_plan_build(f, bad, NULL, &build_err));
    assert_int_equal(err.code, build_err.code);
    assert_string_equal(err.msg, build_err.msg);

    hvf_change_free(hosts);
    hvf_change_free(vms);
    hvf_change_free(bad);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canary_covers_lone_variant),
        cmocka_unit_test(test_canary_minimum_cover),
        cmocka_unit_test(test_canary_seed_extended),
        cmocka_unit_test(test_variants_from_tags),
        cmocka_unit_test(test_wave_growth_and_cap),
        cmocka_unit_test(test_rack_limit_and_redundancy),
        cmocka_unit_test(test_min_available_hosts),
        cmocka_unit_test(test_min_available_service_and_forced),
        cmocka_unit_test(test_gates_and_verdicts),
        cmocka_unit_test(test_all_at_once),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_parse_full_and_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_format_quotes_names),
        cmocka_unit_test(test_plan_errors),
        cmocka_unit_test(test_resolve),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
