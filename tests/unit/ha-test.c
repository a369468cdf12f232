/* SPDX-License-Identifier: MIT */
/*
 * The ha field of VMs and services (issue 13): a VM's own value wins over its service's (a VM
 * opts out with ha: false), kept through a copy, add_vm/add_service and write + read, written
 * only where it says something, and part of the fleet's fingerprints. The reader's messages are
 * data-driven cases (tests/conf/inventory/ha*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"

static const char inv_text[] = "services:\n"
                               "  - {name: db, ha: true}\n"
                               "  - {name: web, ha: false}\n"
                               "  - {name: batch}\n"
                               "hosts:\n"
                               "  - {name: kvm01, cpus: 16, memory: 64GiB}\n"
                               "vms:\n"
                               "  - {name: db1, host: kvm01, vcpus: 1, memory: 1GiB, service: db}\n"
                               "  - {name: db2, host: kvm01, vcpus: 1, memory: 1GiB, service: db,"
                               " ha: false}\n"
                               "  - {name: web1, host: kvm01, vcpus: 1, memory: 1GiB, service: web,"
                               " ha: True}\n"
                               "  - {name: web2, host: kvm01, vcpus: 1, memory: 1GiB, service: web}\n"
                               "  - {name: b1, host: kvm01, vcpus: 1, memory: 1GiB, service: batch}\n"
                               "  - {name: lone, host: kvm01, vcpus: 1, memory: 1GiB, ha: true}\n"
                               "  - {name: plain, host: kvm01, vcpus: 1, memory: 1GiB}\n";

/* Parses @text; NULL when it has problems, whose first line goes to @first. */
static hvf_fleet *
parse(const char *text, char *first, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_diags d;
    hvf_fleet *f;

    hvf_diags_init(&d);
    f = hvf_inventory_parse("ha.yaml", text, strlen(text), &d, &err);
    if (first)
        hvf_strlcpy(first, d.n ? d.lines[0] : err.msg, size);
    hvf_diags_clear(&d);
    return f;
}

static bool
is_ha(const hvf_fleet *f, const char *vm)
{
    int32_t v = hvf_fleet_find_vm(f, vm);

    assert_true(v >= 0);
    return hvf_vm_is_ha(f, &f->vms[v]);
}

/* what the file says, the VM's own value first */
static void
check_ha(const hvf_fleet *f)
{
    assert_true(is_ha(f, "db1"));   /* its service's */
    assert_false(is_ha(f, "db2"));  /* opts out */
    assert_true(is_ha(f, "web1"));  /* opts in under a service that is not */
    assert_false(is_ha(f, "web2")); /* its service's, false */
    assert_false(is_ha(f, "b1"));   /* the service says nothing */
    assert_true(is_ha(f, "lone"));  /* no service */
    assert_false(is_ha(f, "plain"));
}

static void
test_parse_and_inherit(void **state)
{
    char why[512];
    hvf_fleet *f = parse(inv_text, why, sizeof(why));

    (void)state;
    if (!f)
        fail_msg("%s", why);
    check_ha(f);
    assert_true(f->services[hvf_fleet_find_service(f, "db")].ha);
    assert_false(f->services[hvf_fleet_find_service(f, "batch")].ha);
    /* set or not is kept apart from the value */
    assert_false(f->vms[hvf_fleet_find_vm(f, "db1")].ha_set);
    assert_true(f->vms[hvf_fleet_find_vm(f, "db2")].ha_set);
    assert_false(f->vms[hvf_fleet_find_vm(f, "plain")].ha_set);
    hvf_fleet_free(f);
}

static void
test_bad_values(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"hosts: [{name: kvm01, cpus: 1, memory: 1GiB}]\n"
         "vms: [{name: v, host: kvm01, vcpus: 1, memory: 1GiB, ha: yes}]\n",
         "ha.yaml:2: vms[0].ha: 'yes': expected true or false"},
        {"hosts: [{name: kvm01, cpus: 1, memory: 1GiB}]\n"
         "services: [{name: s, ha: 1}]\n"
         "vms: [{name: v, host: kvm01, vcpus: 1, memory: 1GiB, service: s}]\n",
         "ha.yaml:2: services[0].ha: '1': expected true or false"},
        {"{\"hosts\": [{\"name\": \"kvm01\", \"cpus\": 1, \"memory\": \"1GiB\"}],\n"
         " \"vms\": [{\"name\": \"v\", \"host\": \"kvm01\", \"vcpus\": 1, \"memory\": \"1GiB\","
         " \"ha\": \"true\"}]}\n",
         NULL /* a JSON string "true" is the text true, as for migratable: accepted */},
    };

    (void)state;
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        char why[512];
        hvf_fleet *f = parse(cases[i].text, why, sizeof(why));

        if (cases[i].want) {
            assert_null(f);
            assert_string_equal(why, cases[i].want);
        } else {
            assert_non_null(f);
            assert_true(is_ha(f, "v"));
            hvf_fleet_free(f);
        }
    }
}

static void
test_copy_write_read(void **state)
{
    hvf_fleet *f = parse(inv_text, NULL, 0);
    hvf_fleet *copy, *back, *built;
    hvf_strbuf text = HVF_STRBUF_INIT, again = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    assert_non_null(f);
    copy = hvf_fleet_dup(f);
    hvf_fleet_free(f);
    check_ha(copy);

    hvf_inventory_format(copy, &text);
    assert_non_null(back = parse(text.buf, NULL, 0));
    check_ha(back);
    hvf_inventory_format(back, &again);
    assert_string_equal(text.buf, again.buf);

    /* add_service and add_vm take it from their prototypes */
    built = hvf_fleet_new();
    {
        hvf_host h = {.name = "kvm01", .cpus = 4, .mem_mib = 4096, .cpu_allocation_ratio = 1,
                      .ram_allocation_ratio = 1, .nic_bytes_per_s = 1e9};
        hvf_service s = {.name = "db", .min_available = 1, .ha = true};
        hvf_vm v = {.name = "db1", .vcpus = 1, .mem_mib = 512, .service = 0, .migratable = true,
                    .cpu_load = 0.1, .working_set_mib = 512, .secondary = -1};

        h.zone = hvf_fleet_zone_ensure(built, "z");
        h.rack = hvf_fleet_rack_ensure(built, h.zone, "r");
        assert_int_equal(hvf_fleet_add_host(built, &h, &err), 0);
        assert_int_equal(hvf_fleet_add_service(built, &s, &err), 0);
        assert_int_equal(hvf_fleet_add_vm(built, &v, 0, &err), 0);
        v.name = "db2";
        v.ha_set = true;
        assert_int_equal(hvf_fleet_add_vm(built, &v, 0, &err), 1);
        assert_true(built->services[0].ha);
        assert_true(hvf_vm_is_ha(built, &built->vms[0]));
        assert_false(hvf_vm_is_ha(built, &built->vms[1]));
    }
    hvf_strbuf_clear(&text);
    hvf_strbuf_clear(&again);
    hvf_fleet_free(built);
    hvf_fleet_free(back);
    hvf_fleet_free(copy);
}

/* Unset, nothing is written (older canonical texts stay as they were); set, it is part of the
 * fleet's shape: what a plan or the HA manager does depends on it. */
static void
test_written_only_when_set(void **state)
{
    hvf_fleet *f = parse("services: [{name: s}]\n"
                         "hosts: [{name: kvm01, cpus: 4, memory: 4GiB}]\n"
                         "vms: [{name: v, host: kvm01, vcpus: 1, memory: 1GiB, service: s}]\n",
                         NULL, 0);
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT, c = HVF_STRBUF_INIT;
    char fa[65], fb[65], fc[65], sa[65], sb[65], sc[65];

    (void)state;
    assert_non_null(f);
    hvf_inventory_format(f, &a);
    assert_null(strstr(a.buf, "ha:"));
    hvf_inventory_fingerprint(f, fa);
    hvf_inventory_fingerprint_shape(f, sa);

    f->services[0].ha = true;
    hvf_inventory_format(f, &b);
    assert_non_null(strstr(b.buf, "spread: host, ha: true}"));
    assert_null(strstr(b.buf, "service: s, ha"));
    hvf_inventory_fingerprint(f, fb);
    hvf_inventory_fingerprint_shape(f, sb);

    f->vms[0].ha_set = true; /* and false: opts out */
    hvf_inventory_format(f, &c);
    assert_non_null(strstr(c.buf, "service: s, ha: false}"));
    hvf_inventory_fingerprint(f, fc);
    hvf_inventory_fingerprint_shape(f, sc);

    assert_string_not_equal(fa, fb);
    assert_string_not_equal(fb, fc);
    assert_string_not_equal(sa, sb);
    assert_string_not_equal(sb, sc);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_strbuf_clear(&c);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_inherit),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_copy_write_read),
        cmocka_unit_test(test_written_only_when_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
