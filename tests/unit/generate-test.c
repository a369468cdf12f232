/* SPDX-License-Identifier: MIT */
/* Synthetic fleets: determinism, capacity, the promised mix of sizes and loads, services. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka needs the headers above first */
#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/generate.h"
#include "hvfleet/inventory.h"
#include "hvfleet/plan.h"
#include "hvfleet/sha256.h"

#define MIB_S 1048576.0

static hvf_fleet *
gen(uint32_t hosts, uint32_t k, uint64_t seed)
{
    hvf_generate_params p;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;

    hvf_generate_params_init(&p);
    p.hosts = hosts;
    p.vms_per_host = k;
    p.seed = seed;
    f = hvf_generate_fleet(&p, &err);
    if (!f)
        fprintf(stderr, "generate: %s\n", err.msg);
    assert_non_null(f);
    return f;
}

static char *
format(const hvf_fleet *f)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_inventory_format(f, &sb);
    return hvf_strbuf_steal(&sb);
}

static void
test_deterministic(void **state)
{
    hvf_fleet *a = gen(200, 20, 42), *b = gen(200, 20, 42), *c = gen(200, 20, 43);
    HVF_AUTOFREE char *ta = format(a);
    HVF_AUTOFREE char *tb = format(b);
    HVF_AUTOFREE char *tc = format(c);

    assert_string_equal(ta, tb);
    assert_true(strcmp(ta, tc) != 0);
    hvf_fleet_free(a);
    hvf_fleet_free(b);
    hvf_fleet_free(c);
}

/* The file we write reads back as the same fleet, and passes the inventory's validation. */
static void
test_valid_inventory(void **state)
{
    static const uint32_t shapes[][2] = {{1, 0}, {1, 1}, {2, 3}, {7, 1}, {30, 20}, {5, 256}};
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;

    for (size_t i = 0; i < HVF_ARRAY_LEN(shapes); i++) {
        hvf_fleet *f = gen(shapes[i][0], shapes[i][1], i);
        HVF_AUTOFREE char *text = format(f);
        HVF_AUTOFREE char *again = NULL;
        hvf_fleet *g;

        hvf_diags_init(&diags);
        g = hvf_inventory_parse("gen.yaml", text, strlen(text), &diags, &err);
        if (!g)
            hvf_diags_print(&diags, stderr);
        assert_non_null(g);
        again = format(g);
        assert_string_equal(text, again);
        assert_int_equal(g->nvms, (size_t)shapes[i][0] * shapes[i][1]);
        assert_int_equal(hvf_fleet_check(g, false, &err), 0);
        hvf_fleet_free(g);
        hvf_fleet_free(f);
        hvf_diags_clear(&diags);
    }
}

static void
test_mix(void **state)
{
    const uint32_t hosts = 500, k = 20;
    hvf_fleet *f = gen(hosts, k, 7);
    hvf_error err = HVF_ERROR_INIT;
    size_t per_host[500] = {0}, by_size[65] = {0}, busy = 0, unmig = 0, k61 = 0, gen3 = 0;
    size_t small, large;

    assert_int_equal(f->nhosts, hosts);
    assert_int_equal(f->nvms, hosts * k);
    assert_int_equal(f->nracks, 25); /* about 20 hosts per rack by default */
    assert_int_equal(hvf_fleet_check(f, false, &err), 0);
    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *v = &f->vms[i];
        uint64_t gib = v->mem_mib / 1024;

        per_host[v->host]++;
        assert_int_equal(v->mem_mib % 1024, 0);
        assert_true(gib >= 1 && gib <= 64 && (gib & (gib - 1)) == 0);
        assert_int_equal(v->vcpus, gib >= 2 ? gib / 2 : 1);
        by_size[gib]++;
        assert_true(v->working_set_mib >= 1 && v->working_set_mib <= v->mem_mib);
        if (v->dirty_bytes_per_s >= 50 * MIB_S) {
            busy++;
            assert_true(v->dirty_bytes_per_s <= 400 * MIB_S);
            assert_true(v->working_set_mib >= v->mem_mib / 10 - 1);
            assert_true(v->working_set_mib <= v->mem_mib / 2);
            assert_true(v->cpu_load >= 0.5 && v->cpu_load <= 0.95);
        } else {
            assert_true(v->dirty_bytes_per_s <= 5 * MIB_S);
            assert_true(v->cpu_load >= 0.05 && v->cpu_load <= 0.3);
        }
        unmig += !v->migratable;
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_resources u = hvf_host_usable(&f->hosts[h]);
        double share = (double)f->hosts[h].used.mem_mib / (double)u.mem_mib;

        assert_int_equal(per_host[h], k);
        assert_true(share >= 0.50 && share <= 0.75);
        assert_true(f->hosts[h].used.vcpus <= u.vcpus);
        k61 += strcmp(f->hosts[h].kernel, "6.1") == 0;
        gen3 += strcmp(f->hosts[h].hw, "gen3") == 0;
        assert_true(strcmp(f->hosts[h].kernel, "6.1") == 0 ||
                    strcmp(f->hosts[h].kernel, "5.10") == 0);
        assert_string_equal(f->hosts[h].tags[0], strcmp(f->hosts[h].hw, "gen3") ? "sata" : "nvme");
    }
    /* shares promised by the header, with room for sampling noise over 10,000 VMs */
    assert_true(busy > f->nvms * 5 / 100 && busy < f->nvms * 10 / 100);
    assert_true(unmig > f->nvms * 1 / 100 && unmig < f->nvms * 35 / 1000);
    small = by_size[1] + by_size[2] + by_size[4];
    large = by_size[32] + by_size[64];
    assert_true(small > large); /* many small, few large, even packed to 50-75 % */
    assert_true(by_size[1] > 0 && by_size[64] > 0);
    assert_true(k61 > hosts / 2 && k61 < hosts * 9 / 10);
    assert_true(gen3 > 0 && gen3 < hosts);
    hvf_fleet_free(f);
}

static void
test_services(void **state)
{
    hvf_fleet *f = gen(120, 10, 3);
    int32_t mon = hvf_fleet_find_service(f, "monitoring");
    int32_t tick = hvf_fleet_find_service(f, "ticketing");
    int32_t db = hvf_fleet_find_service(f, "db");
    int32_t web = hvf_fleet_find_service(f, "web");
    HVF_AUTOFREE int *mon_rack = hvf_calloc(f->nracks, sizeof(int));
    HVF_AUTOFREE int *mon_host = hvf_calloc(f->nhosts, sizeof(int));
    HVF_AUTOFREE int *host_used = hvf_calloc(f->nhosts * 4, sizeof(int));
    size_t count[4] = {0};

    assert_true(mon >= 0 && tick >= 0 && db >= 0 && web >= 0);
    assert_true(f->services[mon].critical);
    assert_int_equal(f->services[mon].spread, HVF_SPREAD_RACK);
    assert_int_equal(f->services[db].spread, HVF_SPREAD_HOST);
    for (size_t i = 0; i < f->nvms; i++) {
        const hvf_vm *v = &f->vms[i];
        if (v->service < 0)
            continue;
        count[v->service]++;
        assert_true(v->migratable);
        /* spread: no two replicas of one service on a host (or a rack, for monitoring) */
        assert_int_equal(host_used[v->host * 4 + v->service]++, 0);
        if (v->service == mon) {
            assert_int_equal(mon_rack[f->hosts[v->host].rack]++, 0);
            mon_host[v->host] = 1;
        }
        if (v->service == db)
            assert_true(v->dirty_bytes_per_s >= 50 * MIB_S);
    }
    /* the Kolab Now lesson: ticketing never shares a host with monitoring */
    for (size_t i = 0; i < f->nvms; i++) {
        if (f->vms[i].service == tick)
            assert_int_equal(mon_host[f->vms[i].host], 0);
    }
    assert_int_equal(count[mon], 3);
    assert_int_equal(count[tick], 2);
    assert_int_equal(count[db], 3);
    assert_int_equal(count[web], 6);
    assert_true(f->services[web].min_available < count[web]);
    assert_non_null(strstr(f->vms[hvf_fleet_find_vm(f, "monitoring-1")].name, "monitoring"));
    hvf_fleet_free(f);

    /* one rack: monitoring falls back to distinct hosts; one VM: only monitoring exists */
    f = gen(3, 4, 1);
    assert_int_equal(f->nracks, 1);
    assert_int_equal(f->services[hvf_fleet_find_service(f, "monitoring")].spread, HVF_SPREAD_HOST);
    hvf_fleet_free(f);
    f = gen(1, 1, 1);
    assert_int_equal(f->nservices, 1);
    assert_int_equal(f->services[0].min_available, 1);
    hvf_fleet_free(f);
}

static void
test_zones_and_racks(void **state)
{
    hvf_generate_params p;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;
    size_t per_zone[3] = {0}, per_rack[9] = {0};

    hvf_generate_params_init(&p);
    p.hosts = 10;
    p.vms_per_host = 4;
    p.zones = 3;
    p.racks_per_zone = 3;
    p.host_mem_mib = 64 * 1024;
    p.host_cpus = 16;
    f = hvf_generate_fleet(&p, &err);
    assert_non_null(f);
    assert_int_equal(f->nzones, 3);
    assert_int_equal(f->nracks, 9);
    for (size_t h = 0; h < f->nhosts; h++) {
        per_zone[f->hosts[h].zone]++;
        per_rack[f->hosts[h].rack]++;
        assert_int_equal(f->hosts[h].mem_mib, 64 * 1024);
        assert_int_equal(f->hosts[h].reserved_mib, 1024);
    }
    for (int z = 0; z < 3; z++)
        assert_true(per_zone[z] == 3 || per_zone[z] == 4);
    for (int r = 0; r < 9; r++)
        assert_true(per_rack[r] >= 1);
    assert_int_equal(hvf_fleet_check(f, false, &err), 0);
    hvf_fleet_free(f);
}

static void
test_bad_params(void **state)
{
    static const struct {
        uint32_t hosts, k, zones, racks, cpus;
        uint64_t mem_mib;
        const char *want;
    } cases[] = {
        {0, 1, 0, 0, 0, 0, "hosts '0': expected 1 to 1000000"},
        {2000000, 1, 0, 0, 0, 0, "hosts '2000000'"},
        {1000000, 11, 0, 0, 0, 0, "vms-per-host '11': expected at most 10000000 VMs"},
        {3, 2, 4, 0, 0, 0, "zones '4'"},
        {4, 2, 2, 3, 0, 0, "racks-per-zone '3'"},
        {2, 505, 0, 0, 0, 0, "vms-per-host '505': does not fit"},
        {2, 65, 0, 0, 16, 0, "vms-per-host '65': does not fit"},
        {2, 1, 0, 0, 0, 1024, "host-memory '1024MiB'"},
        {2, 1, 0, 0, 70000, 0, "host-cpus '70000'"},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_generate_params p;
        hvf_error err = HVF_ERROR_INIT;

        hvf_generate_params_init(&p);
        p.hosts = cases[i].hosts;
        p.vms_per_host = cases[i].k;
        p.zones = cases[i].zones ? cases[i].zones : p.zones;
        p.racks_per_zone = cases[i].racks;
        p.host_cpus = cases[i].cpus ? cases[i].cpus : p.host_cpus;
        p.host_mem_mib = cases[i].mem_mib ? cases[i].mem_mib : p.host_mem_mib;
        assert_null(hvf_generate_fleet(&p, &err));
        assert_int_equal(err.code, HVF_ERR_INVALID);
        if (!strstr(err.msg, cases[i].want)) {
            fprintf(stderr, "case %zu: want '%s', got '%s'\n", i, cases[i].want, err.msg);
            fail();
        }
    }
}

/* Few VMs cannot reach 50 % but still never pass 75 %; the most that fit pass at 1 vCPU each. */
static void
test_extremes(void **state)
{
    hvf_fleet *f = gen(50, 2, 5);
    hvf_error err = HVF_ERROR_INIT;

    for (size_t h = 0; h < f->nhosts; h++)
        assert_true(f->hosts[h].used.mem_mib <= hvf_host_usable(&f->hosts[h]).mem_mib * 3 / 4);
    hvf_fleet_free(f);
    f = gen(4, 256, 5); /* 256 vCPUs usable: every VM 1 vCPU, sizes 1-2 GiB */
    assert_int_equal(hvf_fleet_check(f, false, &err), 0);
    for (size_t h = 0; h < f->nhosts; h++)
        assert_int_equal(f->hosts[h].used.vcpus, 256);
    hvf_fleet_free(f);
}

typedef struct {
    hvf_strbuf text;
    size_t pieces, largest;
} pieces;

static void
collect(void *ctx, const char *text, size_t len)
{
    pieces *p = ctx;

    assert_true(len > 0);
    hvf_strbuf_add(&p->text, text, len);
    p->pieces++;
    if (len > p->largest)
        p->largest = len;
}

/* The text handed over in pieces is the whole text, and the fingerprint is its SHA-256. */
static void
test_format_in_pieces(void **state)
{
    hvf_fleet *f = gen(100, 20, 7);
    HVF_AUTOFREE char *whole = format(f);
    pieces p = {HVF_STRBUF_INIT, 0, 0};
    char want[HVF_SHA256_HEX_LEN + 1], got[HVF_SHA256_HEX_LEN + 1];

    hvf_inventory_format_to(f, collect, &p);
    assert_true(strlen(whole) > 3 * 64 * 1024); /* large enough to come in several pieces */
    assert_int_equal(p.text.len, strlen(whole));
    assert_string_equal(p.text.buf, whole);
    assert_true(p.pieces > 2);
    assert_true(p.largest < 2 * 64 * 1024);
    hvf_sha256_hex(whole, strlen(whole), want);
    hvf_inventory_fingerprint(f, got);
    assert_string_equal(got, want);
    hvf_strbuf_clear(&p.text);
    hvf_fleet_free(f);
}

/* A plan's fingerprint follows the fleet's shape, not the dirty rates hosts measure: a new rate
 * changes the inventory's fingerprint but not the plan's; a VM moved changes both. */
static void
test_plan_fingerprint_shape(void **state)
{
    hvf_fleet *f = gen(20, 4, 3);
    char full0[65], full1[65], shape0[65], shape1[65], shape2[65];
    int32_t v = 0, other;

    hvf_inventory_fingerprint(f, full0);
    hvf_plan_inventory_fingerprint(f, shape0);
    f->vms[v].dirty_bytes_per_s = f->vms[v].dirty_bytes_per_s * 3 + 1048576;
    hvf_inventory_fingerprint(f, full1);
    hvf_plan_inventory_fingerprint(f, shape1);
    assert_string_not_equal(full0, full1);
    assert_string_equal(shape0, shape1);
    other = f->vms[v].host == 0 ? 1 : 0;
    f->vms[v].host = other;
    hvf_plan_inventory_fingerprint(f, shape2);
    assert_string_not_equal(shape1, shape2);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_valid_inventory),
        cmocka_unit_test(test_mix),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_zones_and_racks),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_format_in_pieces),
        cmocka_unit_test(test_plan_fingerprint_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
