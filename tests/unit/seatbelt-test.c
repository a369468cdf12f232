/* SPDX-License-Identifier: MIT */
/* Seatbelt verdicts (one case per reason), plan re-verification, approvals and the freeze. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixtures.h"

#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"
#include "hvfleet/inventory.h"
#include "hvfleet/seatbelt.h"

static const char st_inventory[] = "hosts:\n"
                                   "  - {name: a, rack: r1, cpus: 32, memory: 100GiB}\n"
                                   "  - {name: b, rack: r1, cpus: 32, memory: 100GiB}\n"
                                   "  - {name: c, rack: r2, cpus: 32, memory: 100GiB}\n"
                                   "  - {name: d, rack: r2, cpus: 32, memory: 100GiB}\n"
                                   "  - {name: e, rack: r3, cpus: 32, memory: 100GiB}\n"
                                   "services:\n"
                                   "  - {name: db, min_available: 2}\n"
                                   "vms:\n"
                                   "  - {name: db1, host: a, vcpus: 2, memory: 8GiB, service: db}\n"
                                   "  - {name: db2, host: b, vcpus: 2, memory: 8GiB, service: db}\n"
                                   "  - {name: db3, host: c, vcpus: 2, memory: 8GiB, service: db}\n"
                                   "  - {name: web1, host: a, vcpus: 2, memory: 4GiB}\n";

/* One host (a) evacuated in 10 minutes and maintained for 10: a small, harmless plan. */
static hvf_plan *
st_plan(const hvf_fleet *f)
{
    hvf_plan *p = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);
    hvf_plan_host *h = hvf_plan_add_host(p, "a");
    hvf_plan_migration *m;

    hvf_plan_inventory_fingerprint(f, p->inventory_fingerprint);
    h->evacuate_end_ms = 600000;
    h->maintenance_start_ms = 600000;
    h->maintenance_end_ms = 1200000;
    h->usable_mib = 102400;
    m = hvf_plan_add_migration(p, "db1", "a", "d");
    m->end_ms = 60000;
    m->memory_mib = 8192;
    m = hvf_plan_add_migration(p, "web1", "a", "e");
    m->start_ms = 60000;
    m->end_ms = 90000;
    m->memory_mib = 4096;
    p->summary.makespan_ms = 1200000;
    p->summary.max_parallel_hosts_seen = 1;
    p->summary.peak_host_memory_ppm = 500000;
    return p;
}

static bool
st_has_reason(const hvf_plan *p, const char *want)
{
    for (size_t i = 0; i < p->summary.nreasons; i++) {
        if (strstr(p->summary.reasons[i], want))
            return true;
    }
    return false;
}

static void
st_expect(hvf_plan *p, const hvf_policy *pol, const hvf_fleet *f, hvf_plan_verdict want,
          const char *reason)
{
    hvf_plan_verdict got = hvf_seatbelt_evaluate(p, pol, f);

    if (got != want || (reason && !st_has_reason(p, reason))) {
        for (size_t i = 0; i < p->summary.nreasons; i++)
            fprintf(stderr, "reason: %s\n", p->summary.reasons[i]);
        fail_msg("verdict %s, want %s with '%s'", hvf_plan_verdict_to_string(got),
                 hvf_plan_verdict_to_string(want), reason ? reason : "");
    }
}

static void
test_auto(void **state)
{
    hvf_fleet *f = hvf_test_inventory(st_inventory);
    hvf_plan *p = st_plan(f);
    hvf_policy pol;

    hvf_policy_default(&pol);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_AUTO, NULL);
    assert_int_equal(p->summary.nreasons, 0);
    /* One host of five equal ones offline: 20%. */
    assert_int_equal(p->summary.peak_capacity_offline_ppm, 200000);
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_each_reason(void **state)
{
    hvf_fleet *f = hvf_test_inventory(st_inventory);
    hvf_policy pol;
    hvf_plan *p;
    hvf_plan_host *h;
    hvf_plan_stop *s;

    hvf_policy_default(&pol);

    /* Too many hosts. */
    p = st_plan(f);
    h = hvf_plan_add_host(p, "b");
    h->evacuate_start_ms = h->evacuate_end_ms = h->maintenance_start_ms = 1200000;
    h->maintenance_end_ms = 1200000;
    h->usable_mib = 102400;
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_NEEDS_APPROVAL,
              "takes 2 hosts out of service, more than seatbelt.max_hosts_without_approval (1)");
    hvf_plan_free(p);

    /* Too much capacity offline at once: a and b together are 40%. */
    pol.seatbelt.max_hosts_without_approval = 5;
    p = st_plan(f);
    h = hvf_plan_add_host(p, "b");
    h->evacuate_start_ms = 1000;
    h->evacuate_end_ms = h->maintenance_start_ms = 2000;
    h->maintenance_end_ms = 3000;
    h->usable_mib = 102400;
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_NEEDS_APPROVAL,
              "up to 40.0% of the fleet's usable memory is offline at once");
    hvf_plan_free(p);
    hvf_policy_default(&pol);

    /* Too long. */
    p = st_plan(f);
    p->summary.makespan_ms = 9 * 3600 * 1000LL;
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_NEEDS_APPROVAL,
              "longer than seatbelt.max_plan_duration (8h 00m 00s)");
    hvf_plan_free(p);

    /* Outside the window. */
    pol.window_end_us = 600 * 1000000LL;
    p = st_plan(f);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_REFUSED, "after window.end");
    hvf_plan_free(p);
    pol.window_end_us = 0;
    pol.window_start_us = 30 * 1000000LL;
    p = st_plan(f);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_REFUSED, "before window.start");
    hvf_plan_free(p);
    hvf_policy_default(&pol);

    /* Over-commitment (what the 2017 storm did). */
    p = st_plan(f);
    p->summary.peak_host_memory_ppm = 1250000;
    p->summary.vms_at_risk = 7;
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_REFUSED, "125.0% of its usable memory");
    assert_true(st_has_reason(p, "7 VMs at risk"));
    hvf_plan_free(p);

    /* Non-converging VMs: throttled/stopped need approval, refuse refuses. */
    p = st_plan(f);
    hvf_plan_add_non_converging(p, "web1", HVF_NON_CONVERGING_AUTO_CONVERGE);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_NEEDS_APPROVAL,
              "1 VM does not converge with pre-copy and will be throttled by auto-converge: web1");
    hvf_plan_free(p);
    p = st_plan(f);
    hvf_plan_add_non_converging(p, "web1", HVF_NON_CONVERGING_REFUSE);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_REFUSED,
              "1 VM cannot converge and non_converging is refuse: web1");
    hvf_plan_free(p);

    /* A VM that cannot live-migrate at all (migratable: false, a Ganeti plain disk) is said so,
     * not counted as one that pre-copy would not converge. */
    f->vms[hvf_fleet_find_vm(f, "web1")].migratable = false;
    p = st_plan(f);
    hvf_plan_add_non_converging(p, "web1", HVF_NON_CONVERGING_SHUTDOWN);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_NEEDS_APPROVAL,
              "1 VM is not live-migratable (migratable: false");
    assert_false(st_has_reason(p, "converge with pre-copy"));
    hvf_plan_free(p);
    p = st_plan(f);
    hvf_plan_add_non_converging(p, "web1", HVF_NON_CONVERGING_REFUSE);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_REFUSED,
              "1 VM is not live-migratable (migratable: false) and non_converging is refuse: web1");
    hvf_plan_free(p);
    f->vms[hvf_fleet_find_vm(f, "web1")].migratable = true;

    /* Stops: one db replica stopped leaves 2 of 3 (fine), two at once leave 1 (< 2). */
    p = st_plan(f);
    s = hvf_plan_add_stop(p, "db1", "a", "d");
    s->stop_ms = 0;
    s->start_ms = 700000;
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_AUTO, NULL);
    s = hvf_plan_add_stop(p, "db2", "b", "e");
    s->stop_ms = 700000; /* starts as db1 is back: still fine */
    s->start_ms = 800000;
    hvf_plan_clear_reasons(p);
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_AUTO, NULL);
    p->stops[1].stop_ms = 699999;
    st_expect(
        p, &pol, f, HVF_PLAN_VERDICT_REFUSED,
        "service 'db' would run 1 of 3 replicas while VMs are stopped: below min_available 2");
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_verdict_never_lowers(void **state)
{
    hvf_fleet *f = hvf_test_inventory(st_inventory);
    hvf_plan *p = st_plan(f);
    hvf_policy pol;

    hvf_policy_default(&pol);
    p->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
    hvf_plan_add_reason(p, "refused: host 'a' cannot be evacuated");
    st_expect(p, &pol, f, HVF_PLAN_VERDICT_REFUSED, "cannot be evacuated");
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static size_t
st_check(const hvf_plan *p, const hvf_fleet *f, const char *want)
{
    hvf_diags d;
    size_t n;
    bool found = want == NULL;

    hvf_diags_init(&d);
    n = hvf_plan_check(p, f, &d);
    for (size_t i = 0; i < d.n; i++)
        found |= want && strstr(d.lines[i], want) != NULL;
    if (!found) {
        hvf_diags_print(&d, stderr);
        fail_msg("no problem mentions '%s'", want);
    }
    hvf_diags_clear(&d);
    return n;
}

static char *
st_replace(const char *text, const char *from, const char *to)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    const char *at = strstr(text, from);

    assert_non_null(at);
    hvf_strbuf_add(&sb, text, (size_t)(at - text));
    hvf_strbuf_puts(&sb, to);
    hvf_strbuf_puts(&sb, at + strlen(from));
    return hvf_strbuf_steal(&sb);
}

static void
test_plan_check(void **state)
{
    hvf_fleet *f = hvf_test_inventory(st_inventory);
    hvf_plan *p = st_plan(f);
    hvf_fleet *g;
    char *text;

    hvf_plan_seal(p);
    assert_int_equal(st_check(p, f, NULL), 0);

    /* A host gone. */
    text = st_replace(st_inventory, "  - {name: e, rack: r3, cpus: 32, memory: 100GiB}\n", "");
    g = hvf_test_inventory(text);
    free(text);
    assert_true(st_check(p, g, "host 'e' (a migration target) is no longer in the inventory") >= 2);
    st_check(p, g, "the inventory changed since the plan was made");
    hvf_fleet_free(g);

    /* Capacity changed. */
    text = st_replace(st_inventory, "{name: a, rack: r1, cpus: 32, memory: 100GiB}",
                      "{name: a, rack: r1, cpus: 32, memory: 90GiB}");
    g = hvf_test_inventory(text);
    free(text);
    st_check(p, g, "host 'a' has 92160 MiB usable now, 102400 MiB when planned");
    hvf_fleet_free(g);

    /* A VM moved, another gone, a host in maintenance. */
    text = st_replace(st_inventory, "{name: web1, host: a,", "{name: web1, host: b,");
    g = hvf_test_inventory(text);
    free(text);
    st_check(p, g, "VM 'web1' is on 'b' now; the plan moves it from 'a'");
    hvf_fleet_free(g);
    text = st_replace(st_inventory, "  - {name: web1, host: a, vcpus: 2, memory: 4GiB}\n", "");
    g = hvf_test_inventory(text);
    free(text);
    st_check(p, g, "VM 'web1' is no longer in the inventory");
    hvf_fleet_free(g);
    text = st_replace(st_inventory, "memory: 100GiB}\n  - {name: b",
                      "memory: 100GiB, state: down}\n  - {name: b");
    g = hvf_test_inventory(text);
    free(text);
    st_check(p, g, "host 'a' is down now");
    hvf_fleet_free(g);

    /* An edited plan. */
    p->migrations[0].to[0] = 'e';
    st_check(p, f, "does not match the plan's content");
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static char *
st_tmpdir(void)
{
    char tmpl[] = "/tmp/hvf-state-XXXXXX";
    char *d = mkdtemp(tmpl);

    assert_non_null(d);
    return hvf_strdup(d);
}

static void
st_rmrf(const char *dir)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_approval(void **state)
{
    HVF_AUTOFREE char *dir = st_tmpdir();
    HVF_AUTOFREE char *sub = hvf_asprintf("%s/nested/state", dir);
    hvf_fleet *f = hvf_test_inventory(st_inventory);
    hvf_plan *p = st_plan(f);
    hvf_policy pol;
    hvf_approval a;
    hvf_error err = HVF_ERROR_INIT;

    hvf_policy_default(&pol);
    hvf_plan_add_non_converging(p, "web1", HVF_NON_CONVERGING_SHUTDOWN);
    assert_int_equal(hvf_seatbelt_evaluate(p, &pol, f), HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    hvf_plan_seal(p);
    assert_false(hvf_approval_plan_may_run(sub, p));
    assert_int_equal(hvf_approval_find(sub, p, &a, &err), 0);
    assert_int_equal(hvf_approval_record(sub, p, "alice", &err), 0);
    assert_int_equal(hvf_approval_find(sub, p, &a, &err), 1);
    assert_string_equal(a.by, "alice");
    assert_string_equal(a.plan_hash, p->summary.plan_hash);
    assert_true(hvf_approval_plan_may_run(sub, p));

    /* Changing the plan voids the approval, whether or not its hash is recomputed. */
    p->migrations[1].end_ms += 1000;
    assert_false(hvf_approval_plan_may_run(sub, p));
    assert_int_equal(hvf_approval_find(sub, p, &a, &err), 0);
    assert_int_equal(hvf_approval_record(sub, p, "mallory", &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    hvf_plan_seal(p);
    assert_false(hvf_approval_plan_may_run(sub, p));
    p->migrations[1].end_ms -= 1000;
    hvf_plan_seal(p);
    assert_true(hvf_approval_plan_may_run(sub, p));

    /* A refused plan cannot be approved. */
    p->summary.verdict = HVF_PLAN_VERDICT_REFUSED;
    hvf_plan_seal(p);
    assert_int_equal(hvf_approval_record(sub, p, "bob", &err), -1);
    assert_int_equal(err.code, HVF_ERR_REFUSED);
    assert_false(hvf_approval_plan_may_run(sub, p));
    hvf_plan_free(p);
    hvf_fleet_free(f);
    st_rmrf(dir);
}

static void
test_freeze(void **state)
{
    HVF_AUTOFREE char *dir = st_tmpdir();
    HVF_AUTOFREE char *path = hvf_asprintf("%s/freeze.json", dir);
    hvf_freeze_info info;
    hvf_error err = HVF_ERROR_INIT;
    FILE *fp;

    assert_false(hvf_freeze_is_frozen(dir));
    assert_int_equal(hvf_freeze_check(dir, "migration of web1", &err), 0);
    assert_int_equal(hvf_freeze_set(dir, "storm in progress", "carol", &err), 0);
    assert_true(hvf_freeze_is_frozen(dir));
    assert_int_equal(hvf_freeze_status(dir, &info, &err), 0);
    assert_string_equal(info.reason, "storm in progress");
    assert_string_equal(info.by, "carol");
    assert_int_equal(hvf_freeze_check(dir, "migration of web1", &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "migration of web1 refused: the fleet is frozen since"));
    assert_non_null(strstr(err.msg, "by carol (storm in progress; state in "));
    assert_int_equal(hvf_freeze_clear(dir, &err), 0);
    assert_false(hvf_freeze_is_frozen(dir));
    assert_int_equal(hvf_freeze_clear(dir, &err), 0);

    /* A freeze file of older hvfleet is imported once; a damaged one freezes the fleet. */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"schema\": \"hvfleet.freeze/v1\", \"frozen\": fals", fp);
    fclose(fp);
    assert_true(hvf_freeze_is_frozen(dir));
    assert_int_equal(hvf_freeze_status(dir, &info, &err), 0);
    assert_non_null(strstr(info.reason, "could not be read"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(hvf_freeze_clear(dir, &err), 0);
    fp = fopen(path, "w");
    fputs("{\"schema\": \"hvfleet.freeze/v1\", \"frozen\": true, \"by\": \"dave\"}", fp);
    fclose(fp);
    assert_int_equal(hvf_freeze_status(dir, &info, &err), 0);
    assert_true(info.frozen);
    assert_string_equal(info.by, "dave");
    assert_int_equal(hvf_freeze_clear(dir, &err), 0);

    /* A damaged store keeps the fleet frozen. */
    {
        HVF_AUTOFREE char *db = hvf_asprintf("%s/hvfleet.db", dir);
        fp = fopen(db, "w");
        assert_non_null(fp);
        fputs("this is not a database, but it is long enough to look like a header.........", fp);
        fclose(fp);
    }
    assert_true(hvf_freeze_is_frozen(dir));
    assert_int_equal(hvf_freeze_status(dir, &info, &err), -1);
    assert_true(info.unreadable);
    assert_int_equal(hvf_freeze_check(dir, "drain", &err), -1);
    assert_non_null(strstr(err.msg, "treated as frozen"));
    st_rmrf(dir);
}

static void
test_state_dir(void **state)
{
    unsetenv("HVFLEET_STATE_DIR");
    setenv("XDG_STATE_HOME", "/xdg", 1);
    /* Fleet-wide, never the current directory. */
    assert_string_equal(hvf_state_dir(NULL), geteuid() == 0 ? "/var/lib/hvfleet" : "/xdg/hvfleet");
    unsetenv("XDG_STATE_HOME");
    setenv("HVFLEET_STATE_DIR", "/var/lib/x", 1);
    assert_string_equal(hvf_state_dir(NULL), "/var/lib/x");
    assert_string_equal(hvf_state_dir("/d"), "/d");
    unsetenv("HVFLEET_STATE_DIR");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto),
        cmocka_unit_test(test_each_reason),
        cmocka_unit_test(test_verdict_never_lowers),
        cmocka_unit_test(test_plan_check),
        cmocka_unit_test(test_approval),
        cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
