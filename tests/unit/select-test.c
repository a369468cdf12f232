/* SPDX-License-Identifier: MIT */
/*
 * Host selector expressions (hvf_scenario_select, docs/planning.md "Selecting hosts"): racks per
 * zone, union, intersection, exclusion, the active-groups rule, and every kind of bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/scenario.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/diag.h"

/* Two zones with a rack r01 each, a rack r02 only in z1; one host in maintenance. */
static const char sel_inventory[] =
    "hosts:\n"
    "  - {name: a1, zone: z1, rack: r01, cpus: 8, memory: 64GiB, tags: [gpu]}\n"
    "  - {name: a2, zone: z1, rack: r01, cpus: 8, memory: 64GiB}\n"
    "  - {name: a3, zone: z1, rack: r02, cpus: 8, memory: 64GiB, tags: [gpu]}\n"
    "  - {name: b1, zone: z2, rack: r01, cpus: 8, memory: 64GiB, tags: [gpu]}\n"
    "  - {name: b2, zone: z2, rack: r01, cpus: 8, memory: 64GiB, state: maintenance}\n";

static hvf_fleet *
sel_fleet(void)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;

    hvf_diags_init(&d);
    f = hvf_inventory_parse("t.yaml", sel_inventory, strlen(sel_inventory), &d, &err);
    hvf_diags_clear(&d);
    assert_non_null(f);
    return f;
}

/* The selected host names, space-separated, or "ERR: message". */
static char *
sel_run(const hvf_fleet *f, const char *expr, unsigned flags)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    HVF_AUTOFREE int32_t *hosts = NULL;
    size_t n = 0;

    if (hvf_scenario_select(f, expr, flags, &hosts, &n, &err) < 0) {
        assert_int_equal(n, 0);
        hvf_strbuf_printf(&sb, "ERR: %s", err.msg);
        return hvf_strbuf_steal(&sb);
    }
    for (size_t i = 0; i < n; i++)
        hvf_strbuf_printf(&sb, "%s%s", i ? " " : "", f->hosts[hosts[i]].name);
    return hvf_strbuf_steal(&sb);
}

static void
expect(const hvf_fleet *f, const char *expr, unsigned flags, const char *want)
{
    HVF_AUTOFREE char *got = sel_run(f, expr, flags);

    if (strncmp(want, "ERR: ", 5) == 0 ? strstr(got, want + 5) == NULL || strncmp(got, "ERR: ", 5)
                                       : strcmp(got, want) != 0) {
        fprintf(stderr, "'%s': got '%s', want '%s'\n", expr, got, want);
        fail();
    }
}

static void
test_racks_per_zone(void **state)
{
    hvf_fleet *f = sel_fleet();

    (void)state;
    expect(f, "rack:z1/r01", 0, "a1 a2");
    expect(f, "rack:z2/r01", 0, "b1 b2");
    expect(f, "rack:r02", 0, "a3"); /* one zone only: no need to name it */
    expect(f, "rack:r01", 0,
           "ERR: 'rack:r01': rack 'r01' is in 2 zones (racks are per zone); expected one of "
           "rack:z1/r01, rack:z2/r01");
    expect(f, "rack:z2/r02", 0, "ERR: 'rack:z2/r02': zone 'z2' has no rack 'r02'; expected one "
                                "of z2/r01");
    expect(f, "rack:z9/r01", 0, "ERR: 'rack:z9/r01': no zone 'z9' in the inventory; expected "
                                "one of z1, z2");
    expect(f, "rack:r09", 0, "ERR: 'rack:r09': no rack 'r09' in the inventory");
    hvf_fleet_free(f);
}

static void
test_combine(void **state)
{
    hvf_fleet *f = sel_fleet();

    (void)state;
    /* comma: union, in order of first appearance, each host once */
    expect(f, "b1,a1", 0, "b1 a1");
    expect(f, "zone:z2,rack:z1/r01,b1", 0, "b1 b2 a1 a2");
    /* plus: intersection */
    expect(f, "zone:z1+tag:gpu", 0, "a1 a3");
    expect(f, "rack:z1/r01+tag:gpu", 0, "a1");
    /* bang: exclusion, after every inclusion whatever its place */
    expect(f, "all,!tag:gpu", 0, "a2 b2");
    expect(f, "!tag:gpu,all", 0, "a2 b2");
    expect(f, "zone:z1,!rack:z1/r02", 0, "a1 a2");
    expect(f, "!zone:z1+tag:gpu", 0, "a2 b1 b2"); /* only exclusions: from all */
    expect(f, " zone:z2 , !b2 ", 0, "b1");
    /* groups keep active hosts; a host named alone stays (the planner checks it) */
    expect(f, "zone:z2", HVF_SELECT_ACTIVE_GROUPS, "b1");
    expect(f, "b2", HVF_SELECT_ACTIVE_GROUPS, "b2");
    expect(f, "all", HVF_SELECT_ACTIVE_GROUPS, "a1 a2 a3 b1");
    hvf_fleet_free(f);
}

static void
test_bad_input(void **state)
{
    hvf_fleet *f = sel_fleet();
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    expect(f, "", 0, "ERR: empty selector");
    expect(f, "zone:z1,,a1", 0, "ERR: item 2 is empty: expected a selector between the commas");
    expect(f, "zone:z1,", 0, "ERR: item 2 is empty");
    expect(f, "all,!", 0, "ERR: item 2 is '!' alone");
    expect(f, "zone:z1+", 0, "ERR: 'zone:z1+': empty term");
    expect(f, "zone:", 0, "ERR: 'zone:': expected zone:ZONE");
    expect(f, "zone:z9", 0, "ERR: 'zone:z9': no zone 'z9' in the inventory; expected one of z1, "
                            "z2");
    expect(f, "tag:fpga", 0, "ERR: 'tag:fpga': no host has the tag 'fpga'");
    expect(f, "kvm99", 0, "ERR: 'kvm99': expected a host name of the inventory");
    expect(f, "host:a1", 0, "ERR: 'host:a1': expected all, a host name, rack:[ZONE/]RACK");
    expect(f, "rack:z1/", 0, "ERR: 'rack:z1/': expected rack:ZONE/RACK");
    expect(f, "zone:z2+tag:gpu+a1", 0, "ERR: 'zone:z2+tag:gpu+a1' selects no host");
    expect(f, "zone:z1,!all", 0, "ERR: 'zone:z1,!all' selects no host");
    expect(f, "b2", 0, "b2");
    expect(f, "zone:z1,\x1b[2Jx", 0, "ERR: byte 9 is 0x1b: expected printable ASCII");
    expect(f, "zone:z2,!b1", HVF_SELECT_ACTIVE_GROUPS, "ERR: selects no host in service");
    /* syntax alone, without a fleet */
    assert_int_equal(hvf_scenario_selector_check("zone:z1+tag:gpu,!rack:z1/r02", &err), 0);
    assert_int_equal(hvf_scenario_selector_check("zone:z1,,x", &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_fleet_free(f);
}

/* In a scenario file a list is one expression; an error names the item's own line. */
static char *
sel_scenario(const char *hosts, hvf_scenario **out)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    char *text;

    hvf_strbuf_puts(&sb, "name: t\nduration: 1h\ninventory:\n");
    for (const char *p = sel_inventory; *p;) {
        const char *nl = strchr(p, '\n');
        hvf_strbuf_printf(&sb, "  %.*s\n", (int)(nl - p), p);
        p = nl + 1;
    }
    if (strncmp(hosts, "faults:", 7) == 0)
        hvf_strbuf_printf(&sb, "params: {rack_uplink: 10Gbit}\n%s", hosts);
    else
        hvf_strbuf_printf(&sb, "host_overrides:\n  - swap: 1GiB\n    hosts:\n%s", hosts);
    hvf_diags_init(&d);
    *out = hvf_scenario_parse("s.yaml", sb.buf, sb.len, NULL, &d, &err);
    text = hvf_strdup(d.n > 0 ? d.lines[0] : "");
    hvf_diags_clear(&d);
    hvf_strbuf_clear(&sb);
    return text;
}

static void
test_scenario_list(void **state)
{
    hvf_scenario *sc = NULL;
    HVF_AUTOFREE char *ok = sel_scenario("      - zone:z1\n      - \"!a2\"\n", &sc);
    HVF_AUTOFREE char *bad = NULL;

    (void)state;
    assert_string_equal(ok, "");
    assert_non_null(sc);
    assert_int_equal(sc->noverrides, 1);
    assert_int_equal(sc->overrides[0].nhosts, 2);
    assert_string_equal(sc->fleet->hosts[sc->overrides[0].hosts[0]].name, "a1");
    assert_string_equal(sc->fleet->hosts[sc->overrides[0].hosts[1]].name, "a3");
    hvf_scenario_free(sc);
    bad = sel_scenario("      - zone:z1\n      - rack:r01\n", &sc);
    assert_null(sc);
    assert_string_equal(bad, "s.yaml:14: host_overrides[0].hosts: 'rack:r01': rack 'r01' is in 2 "
                             "zones (racks are per zone); expected one of rack:z1/r01, "
                             "rack:z2/r01");
}

/* A fault's rack: racks are per zone there too. */
static void
test_fault_rack(void **state)
{
    hvf_scenario *sc = NULL;
    HVF_AUTOFREE char *ok = sel_scenario(
        "faults:\n  - {at: 1m, type: link_drop, rack: z2/r01, bandwidth: 1Gbit}\n", &sc);
    HVF_AUTOFREE char *bad = NULL;
    HVF_AUTOFREE char *unknown = NULL;

    (void)state;
    assert_string_equal(ok, "");
    assert_non_null(sc);
    assert_int_equal(sc->nfaults, 1);
    assert_string_equal(sc->fleet->racks[sc->faults[0].rack].name, "r01");
    assert_string_equal(sc->fleet->zones[sc->fleet->racks[sc->faults[0].rack].zone].name, "z2");
    hvf_scenario_free(sc);
    bad = sel_scenario("faults:\n  - {at: 1m, type: link_drop, rack: r01, bandwidth: 1Gbit}\n",
                       &sc);
    assert_null(sc);
    assert_string_equal(bad, "s.yaml:12: faults[0].rack: 'r01': rack 'r01' is in 2 zones (racks "
                             "are per zone); expected one of rack:z1/r01, rack:z2/r01");
    unknown = sel_scenario(
        "faults:\n  - {at: 1m, type: link_drop, rack: z1/r09, bandwidth: 1Gbit}\n", &sc);
    assert_null(sc);
    assert_non_null(strstr(unknown, "faults[0].rack: 'z1/r09': zone 'z1' has no rack 'r09'"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_racks_per_zone),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_scenario_list),
        cmocka_unit_test(test_fault_rack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
