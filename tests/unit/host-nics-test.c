/* SPDX-License-Identifier: MIT */
/*
 * Hosts' NICs (issue 12): names and MACs, what a host reports against what its inventory entry
 * records, and NICs kept through a copy and through write + read but left out of the
 * fingerprint. The reader's messages are data-driven cases (tests/conf/inventory/nics*).
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

/* kvm01 records eno1 and enp1s0f0 (from YAML, as an operator writes it); kvm02 records none. */
static const char inv_text[] = "hosts:\n"
                               "  - {name: kvm01, cpus: 8, memory: 32GiB, nics: [\n"
                               "      {name: eno1, mac: 3C:EC:EF:00:11:22},\n"
                               "      {name: enp1s0f0, mac: 3c:ec:ef:00:11:23}]}\n"
                               "  - {name: kvm02, cpus: 8, memory: 32GiB}\n";

static hvf_fleet *
nics_fleet(void)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_diags d;
    hvf_fleet *f;

    hvf_diags_init(&d);
    f = hvf_inventory_parse("nics.yaml", inv_text, sizeof(inv_text) - 1, &d, &err);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    hvf_diags_clear(&d);
    assert_non_null(f);
    return f;
}

static void
test_names_and_macs(void **state)
{
    char mac[HVF_MAC_TEXT_LEN + 1] = "unchanged";

    assert_true(hvf_nic_name_is_valid("eno1"));
    assert_true(hvf_nic_name_is_valid("enp1s0f0np0abcd")); /* 15 */
    assert_false(hvf_nic_name_is_valid("enp1s0f0np0abcde"));
    assert_false(hvf_nic_name_is_valid(""));
    assert_false(hvf_nic_name_is_valid("."));
    assert_false(hvf_nic_name_is_valid("eth/0"));
    assert_false(hvf_nic_name_is_valid("eth0:1"));
    assert_false(hvf_nic_name_is_valid("eth\t0"));
    assert_false(hvf_nic_name_is_valid("eth\xc3\xa9"));

    assert_true(hvf_mac_parse("3C:ec:EF:00:aB:09", mac));
    assert_string_equal(mac, "3c:ec:ef:00:ab:09");
    assert_false(hvf_mac_parse("3c:ec:ef:00:ab:0", mac));
    assert_false(hvf_mac_parse("3c:ec:ef:00:ab:091", mac));
    assert_false(hvf_mac_parse("3c-ec-ef-00-ab-09", mac));
    assert_false(hvf_mac_parse("3c:ec:ef:00:ab:0g", mac));
    assert_false(hvf_mac_parse("3c:ec:ef:00:ab:", mac));
    assert_string_equal(mac, "3c:ec:ef:00:ab:09"); /* untouched by a refusal */
}

static void
test_match(void **state)
{
    hvf_fleet *f = nics_fleet();
    const hvf_host *h = &f->hosts[0];
    char why[256];
    size_t n;
    const hvf_nic *nics = hvf_host_nics(h, &n);

    /* the inventory's MAC was read in capitals: kept lower-case */
    assert_int_equal(n, 2);
    assert_string_equal(nics[0].name, "eno1");
    assert_string_equal(nics[0].mac, "3c:ec:ef:00:11:22");

    {
        /* what the host has beyond the inventory's NICs, and the MACs' case, do not matter */
        const hvf_nic_report seen[] = {{"lo", "00:00:00:00:00:00"},
                                       {"enp1s0f0", "3c:ec:ef:00:11:23"},
                                       {"br0", "3c:ec:ef:00:11:22"},
                                       {"eno1", "3C:EC:EF:00:11:22"},
                                       {"veth1", NULL}};
        hvf_strlcpy(why, "stale", sizeof(why));
        assert_true(hvf_host_nics_match(h, seen, HVF_ARRAY_LEN(seen), why, sizeof(why)));
        assert_string_equal(why, "");
    }
    {
        /* seed 002: the two names swapped after a reboot */
        const hvf_nic_report seen[] = {{"eno1", "3c:ec:ef:00:11:23"},
                                       {"enp1s0f0", "3c:ec:ef:00:11:22"}};
        assert_false(hvf_host_nics_match(h, seen, HVF_ARRAY_LEN(seen), why, sizeof(why)));
        assert_string_equal(why,
                            "inventory NIC eno1 (3c:ec:ef:00:11:22) is named enp1s0f0 on the host "
                            "(renamed)");
    }
    {
        /* renamed, the old name gone */
        const hvf_nic_report seen[] = {{"enp1s0f0", "3c:ec:ef:00:11:23"},
                                       {"eth0", "3c:ec:ef:00:11:22"}};
        assert_false(hvf_host_nics_match(h, seen, HVF_ARRAY_LEN(seen), why, sizeof(why)));
        assert_string_equal(why,
                            "inventory NIC eno1 (3c:ec:ef:00:11:22) is named eth0 on the host "
                            "(renamed)");
    }
    {
        /* a card replaced: the name is there with another MAC */
        const hvf_nic_report seen[] = {{"eno1", "3c:ec:ef:00:11:22"},
                                       {"enp1s0f0", "3c:ec:ef:00:11:99"}};
        assert_false(hvf_host_nics_match(h, seen, HVF_ARRAY_LEN(seen), why, sizeof(why)));
        assert_string_equal(why, "enp1s0f0: inventory 3c:ec:ef:00:11:23, host reports "
                                 "3c:ec:ef:00:11:99");
    }
    {
        /* missing: the message lists what the host has, made printable */
        const hvf_nic_report seen[] = {{"lo", "00:00:00:00:00:00"},
                                       {"enp1s0f0", "3c:ec:ef:00:11:23"},
                                       {"b\nad", "x"},
                                       {NULL, NULL}};
        assert_false(hvf_host_nics_match(h, seen, HVF_ARRAY_LEN(seen), why, sizeof(why)));
        assert_string_equal(why, "inventory NIC eno1 missing on the host (it has lo, enp1s0f0, "
                                 "b?ad, (none))");
        assert_false(hvf_host_nics_match(h, NULL, 0, why, sizeof(why)));
        assert_string_equal(why, "inventory NIC eno1 missing on the host (it reports none)");
        /* a short buffer is truncated, still terminated; no buffer at all is fine */
        assert_false(hvf_host_nics_match(h, NULL, 0, why, 8));
        assert_string_equal(why, "invento");
        assert_false(hvf_host_nics_match(h, NULL, 0, NULL, 0));
    }
    {
        /* a MAC the host reports that is no MAC never matches */
        const hvf_nic_report seen[] = {{"eno1", "3c:ec:ef:00:11:22:00"},
                                       {"enp1s0f0", "3c:ec:ef:00:11:23"}};
        assert_false(hvf_host_nics_match(h, seen, HVF_ARRAY_LEN(seen), why, sizeof(why)));
        assert_string_equal(why, "eno1: inventory 3c:ec:ef:00:11:22, host reports "
                                 "3c:ec:ef:00:11:22:00");
    }
    {
        /* a host whose entry records no NICs is not checked */
        const hvf_nic_report seen[] = {{"eth9", "3c:ec:ef:00:11:22"}};
        assert_int_equal(f->hosts[1].nnics, 0);
        assert_true(hvf_host_nics_match(&f->hosts[1], seen, 1, why, sizeof(why)));
        assert_true(hvf_host_nics_match(&f->hosts[1], NULL, 0, why, sizeof(why)));
    }
    hvf_fleet_free(f);
}

static void
test_copy_write_read(void **state)
{
    hvf_fleet *f = nics_fleet();
    hvf_fleet *copy = hvf_fleet_dup(f);
    hvf_strbuf text = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *back;
    hvf_diags d;

    /* a copy owns its NICs */
    assert_int_equal(copy->hosts[0].nnics, 2);
    assert_ptr_not_equal(copy->hosts[0].nics, f->hosts[0].nics);
    assert_string_equal(copy->hosts[0].nics[1].name, "enp1s0f0");
    assert_string_equal(copy->hosts[0].nics[1].mac, "3c:ec:ef:00:11:23");
    assert_null(copy->hosts[1].nics);
    hvf_fleet_free(f);

    hvf_inventory_format(copy, &text);
    hvf_diags_init(&d);
    back = hvf_inventory_parse("written", text.buf, text.len, &d, &err);
    hvf_diags_clear(&d);
    assert_non_null(back);
    assert_int_equal(back->hosts[0].nnics, 2);
    for (size_t k = 0; k < 2; k++) {
        assert_string_equal(back->hosts[0].nics[k].name, copy->hosts[0].nics[k].name);
        assert_string_equal(back->hosts[0].nics[k].mac, copy->hosts[0].nics[k].mac);
    }
    assert_int_equal(back->hosts[1].nnics, 0);
    hvf_strbuf_clear(&text);
    hvf_fleet_free(back);
    hvf_fleet_free(copy);
}

/* The fingerprint follows placement, not NICs: updating an entry's NICs voids no plan. */
static void
test_fingerprint_without_nics(void **state)
{
    hvf_fleet *f = nics_fleet();
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;
    char fa[65], fb[65], fc[65];

    hvf_inventory_fingerprint(f, fa);
    hvf_inventory_format(f, &a);
    hvf_strlcpy(f->hosts[0].nics[0].name, "eth0", sizeof(f->hosts[0].nics[0].name));
    hvf_inventory_fingerprint(f, fb);
    hvf_inventory_format(f, &b);
    assert_string_equal(fa, fb);
    assert_string_not_equal(a.buf, b.buf);
    f->hosts[0].cpus = 16; /* a placement fact still changes it */
    hvf_inventory_fingerprint(f, fc);
    assert_string_not_equal(fa, fc);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_macs),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_copy_write_read),
        cmocka_unit_test(test_fingerprint_without_nics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
