/* SPDX-License-Identifier: MIT */
/*
 * Change plans read back from JSON: the recomputed hash matches the sealed one, approvals bind
 * to it and an edit voids them, plan check finds stale targets and variants, bad files get
 * FILE:LINE errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixtures.h"

#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/strbuf.h"

/* Six storage hosts in three racks; host @k415 (1-based, 0 = none) runs kernel 4.15. */
static hvf_fleet *
fleet6(int k415, bool without_h06)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_fleet *f;

    hvf_strbuf_puts(&sb, "hosts:\n");
    for (int i = 1; i <= (without_h06 ? 5 : 6); i++)
        hvf_strbuf_printf(&sb,
                          "  - {name: h%02d, rack: r%d, cpus: 16, memory: 64GiB, kernel: '%s', "
                          "tags: [storage]}\n",
                          i, (i - 1) / 2 + 1, i == k415 ? "4.15" : "4.4");
    f = hvf_test_inventory(sb.buf);
    hvf_strbuf_clear(&sb);
    return f;
}

/* The JSON of a kernel change planned on @f, as `plan change -o` writes it. */
static char *
plan_json(const hvf_fleet *f, const char *extra)
{
    static const char text[] = "name: k\nkind: firewall_rule\ntargets: {hosts: tag:storage}\n"
                               "variants_by: [kernel]\n"
                               "gates: [{type: client_io_latency, max: 50ms}]\n";
    HVF_AUTOFREE char *all = hvf_asprintf("%s%s", text, extra ? extra : "");
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan_opts o = {{0, 0, 0}, false};
    hvf_policy pol;
    hvf_change *c;
    hvf_change_plan *p;
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_diags_init(&d);
    c = hvf_change_parse("c.yaml", all, strlen(all), &d, &err);
    assert_non_null(c);
    p = hvf_change_plan_build(f, c, &o, &err);
    assert_non_null(p);
    hvf_policy_default(&pol);
    hvf_change_plan_evaluate(p, &pol, f, false);
    hvf_change_plan_format_json(p, &sb);
    assert_int_equal(strlen(p->plan_hash), HVF_SHA256_HEX_LEN);
    assert_non_null(strstr(sb.buf, p->plan_hash));
    hvf_change_plan_free(p);
    hvf_change_free(c);
    hvf_diags_clear(&d);
    return hvf_strbuf_steal(&sb);
}

static hvf_change_plan_file *
read_ok(const char *json)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan_file *p;

    hvf_diags_init(&d);
    p = hvf_change_plan_file_parse("p.json", json, strlen(json), &d, &err);
    if (!p)
        hvf_diags_print(&d, stderr);
    assert_non_null(p);
    hvf_diags_clear(&d);
    return p;
}

/* Replaces the first @from in @s by @to (owned result; @from must be there). */
static char *
edit(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);

    assert_non_null(at);
    return hvf_asprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

static void
test_read_and_hash(void **state)
{
    hvf_fleet *f = fleet6(3, false);
    HVF_AUTOFREE char *json = plan_json(f, NULL);
    hvf_change_plan_file *p = read_ok(json);
    HVF_AUTOFREE char *edited = edit(json, "\"bake_s\": ", "\"bake_s\": 1");
    hvf_change_plan_file *q;

    (void)state;
    assert_true(hvf_change_plan_file_sniff(json, strlen(json)));
    assert_true(hvf_change_plan_file_hash_ok(p));
    assert_string_equal(p->change, "k");
    assert_int_equal(p->nunits, 6);
    assert_false(p->vm_units);
    assert_int_equal(p->nvariants, 2);
    /* the canary covers both kernels */
    assert_true(p->waves[0].canary);
    assert_int_equal(p->waves[0].nvariants, 2);
    /* an edit keeps the old stored hash but not the content hash */
    q = read_ok(edited);
    assert_string_equal(q->plan_hash, p->plan_hash);
    assert_false(hvf_change_plan_file_hash_ok(q));
    hvf_change_plan_file_free(q);
    hvf_change_plan_file_free(p);
    hvf_fleet_free(f);
}

static void
test_approve_and_void(void **state)
{
    hvf_fleet *f = fleet6(3, false);
    /* no rollback: needs an approval */
    HVF_AUTOFREE char *json = plan_json(f, "rollback: false\n");
    HVF_AUTOFREE char *edited = edit(json, "\"bake_s\": ", "\"bake_s\": 1");
    hvf_change_plan_file *p = read_ok(json), *q = read_ok(edited);
    char dir[] = "/tmp/hvf-capprove-XXXXXX";
    hvf_error err = HVF_ERROR_INIT;
    hvf_approval a;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(p->verdict, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    assert_int_equal(hvf_approval_find_change(dir, p, &a, &err), 0);
    assert_int_equal(hvf_approval_record_change(dir, p, "alice", &err), 0);
    assert_int_equal(hvf_approval_find_change(dir, p, &a, &err), 1);
    assert_string_equal(a.by, "alice");
    assert_string_equal(a.plan_hash, p->plan_hash);
    /* the edited plan has the same stored hash: it must not inherit the approval */
    assert_int_equal(hvf_approval_find_change(dir, q, &a, &err), 0);
    assert_int_equal(hvf_approval_record_change(dir, q, "mallory", &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    hvf_change_plan_file_free(q);
    hvf_change_plan_file_free(p);
    hvf_fleet_free(f);
    {
        /* the approvals live in the directory's store (hvfleet.db and its WAL files) */
        HVF_AUTOFREE char *rm = hvf_asprintf("rm -rf '%s'", dir);

        assert_int_equal(system(rm), 0);
    }
}

static void
test_check_stale(void **state)
{
    hvf_fleet *f = fleet6(3, false);
    hvf_fleet *kernel_changed = fleet6(0, false);
    hvf_fleet *host_gone = fleet6(3, true);
    HVF_AUTOFREE char *json = plan_json(f, NULL);
    hvf_change_plan_file *p = read_ok(json);
    hvf_diags d;

    (void)state;
    hvf_diags_init(&d);
    assert_int_equal(hvf_change_plan_file_check(p, f, &d), 0);
    /* h03 went back to 4.4: the canary no longer covers 4.15 */
    assert_true(hvf_change_plan_file_check(p, kernel_changed, &d) >= 2);
    assert_non_null(strstr(d.lines[0], "kernel=4.15") ? d.lines[0] : d.lines[1]);
    hvf_diags_clear(&d);
    hvf_diags_init(&d);
    assert_true(hvf_change_plan_file_check(p, host_gone, &d) >= 1);
    assert_non_null(strstr(d.lines[0], "host 'h06'"));
    hvf_diags_clear(&d);
    hvf_change_plan_file_free(p);
    hvf_fleet_free(host_gone);
    hvf_fleet_free(kernel_changed);
    hvf_fleet_free(f);
}

/* One FILE:LINE line for each bad input, never a plan. */
static void
expect_bad(const char *json, const char *want)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;

    hvf_diags_init(&d);
    assert_null(hvf_change_plan_file_parse("bad.json", json, strlen(json), &d, &err));
    assert_true(d.n >= 1);
    assert_int_equal(strncmp(d.lines[0], "bad.json:", 9), 0);
    if (!strstr(d.lines[0], want))
        fail_msg("'%s' lacks '%s'", d.lines[0], want);
    hvf_diags_clear(&d);
}

static void
test_bad_input(void **state)
{
    hvf_fleet *f = fleet6(3, false);
    HVF_AUTOFREE char *json = plan_json(f, NULL);
    HVF_AUTOFREE char *schema = edit(json, "change-plan/v1", "plan/v1");
    HVF_AUTOFREE char *wave = edit(json, "\"wave\": 1", "\"wave\": 9");
    HVF_AUTOFREE char *hash = edit(json, "\"plan_hash\": \"", "\"plan_hash\": \"X");
    HVF_AUTOFREE char *verdict = edit(json, "\"verdict\": \"", "\"verdict\": \"maybe-");
    HVF_AUTOFREE char *unknown = edit(json, "\"bake_s\"", "\"bake\": 1, \"bake_s\"");

    (void)state;
    expect_bad("{", "syntax");
    expect_bad("[]", "expected a mapping");
    expect_bad(schema, "schema");
    expect_bad(wave, "waves[0].wave");
    expect_bad(hash, "plan_hash");
    expect_bad(verdict, "seatbelt.verdict");
    expect_bad(unknown, "unknown field");
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_and_hash),
        cmocka_unit_test(test_approve_and_void),
        cmocka_unit_test(test_check_stale),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
