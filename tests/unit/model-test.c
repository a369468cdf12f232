/* SPDX-License-Identifier: MIT */
/* Fleet model: construction, lookups, and accounting invariants against a reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/fleet.h"

static hvf_fleet *
model_small_fleet(void)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_host h = {0};
    hvf_error err = HVF_ERROR_INIT;
    char name[16];

    h.zone = hvf_fleet_zone_ensure(f, "z1");
    h.rack = hvf_fleet_rack_ensure(f, h.zone, "r1");
    h.cpus = 8;
    h.mem_mib = 1024;
    h.reserved_mib = 24;
    h.cpu_allocation_ratio = 2.0;
    h.ram_allocation_ratio = 1.0;
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "kvm%d", i);
        h.name = name;
        assert_int_equal(hvf_fleet_add_host(f, &h, &err), i);
    }
    return f;
}

static void
test_lookup_and_dup(void **state)
{
    hvf_fleet *f = model_small_fleet();
    hvf_host h = f->hosts[0];
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_fleet_find_host(f, "kvm2"), 2);
    assert_int_equal(hvf_fleet_find_host(f, "kvm9"), -1);
    assert_int_equal(hvf_fleet_add_host(f, &h, &err), -1);
    assert_non_null(strstr(err.msg, "defined twice"));
    h.name = "bad name!";
    assert_int_equal(hvf_fleet_add_host(f, &h, &err), -1);
    assert_non_null(strstr(err.msg, "invalid"));
    assert_int_equal(hvf_fleet_rack_ensure(f, 0, "r1"), 0);
    assert_int_equal(hvf_fleet_rack_ensure(f, hvf_fleet_zone_ensure(f, "z2"), "r1"), 1);
    hvf_fleet_free(f);
}

/* Racks are per zone: the same name in other zones is another rack, found again by both. */
static void
test_racks_per_zone(void **state)
{
    hvf_fleet *f = hvf_fleet_new();
    int32_t z[3] = {hvf_fleet_zone_ensure(f, "z1"), hvf_fleet_zone_ensure(f, "z2"),
                    hvf_fleet_zone_ensure(f, "z3")};
    char name[16];
    hvf_fleet *copy;

    for (int r = 0; r < 50; r++) {
        snprintf(name, sizeof(name), "r%02d", r);
        for (int k = 0; k < 3; k++)
            assert_int_equal(hvf_fleet_rack_ensure(f, z[k], name), 3 * r + k);
    }
    assert_int_equal(f->nracks, 150);
    for (int r = 49; r >= 0; r--) {
        snprintf(name, sizeof(name), "r%02d", r);
        for (int k = 2; k >= 0; k--) {
            int32_t i = hvf_fleet_rack_ensure(f, z[k], name);
            assert_int_equal(i, 3 * r + k);
            assert_int_equal(f->racks[i].zone, z[k]);
            assert_string_equal(f->racks[i].name, name);
        }
    }
    assert_int_equal(f->nracks, 150);
    copy = hvf_fleet_dup(f);
    hvf_fleet_free(f);
    assert_int_equal(hvf_fleet_rack_ensure(copy, z[1], "r07"), 22);
    assert_int_equal(hvf_fleet_rack_ensure(copy, z[2], "r50"), 150);
    hvf_fleet_free(copy);
}

/* A copy's name lookups are its own: they still answer once the original is gone. */
static void
test_dup_outlives_original(void **state)
{
    hvf_fleet *f = model_small_fleet();
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *copy;
    char name[16];

    for (int i = 0; i < 40; i++) {
        hvf_vm vm = {.name = name, .host = i % 3, .vcpus = 1, .mem_mib = 16, .service = -1};
        snprintf(name, sizeof(name), "vm%d", i);
        assert_int_equal(hvf_fleet_add_vm(f, &vm, 0, &err), i);
    }
    copy = hvf_fleet_dup(f);
    hvf_fleet_free(f);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "vm%d", i);
        assert_int_equal(hvf_fleet_find_vm(copy, name), i);
    }
    assert_int_equal(hvf_fleet_find_vm(copy, "vm40"), -1);
    assert_int_equal(hvf_fleet_find_host(copy, "kvm1"), 1);
    assert_int_equal(hvf_fleet_find_host(copy, "kvm3"), -1);
    hvf_fleet_free(copy);
}

static void
test_vm_placement(void **state)
{
    hvf_fleet *f = model_small_fleet();
    hvf_vm vm = {.name = "a", .host = 0, .vcpus = 4, .mem_mib = 600, .service = -1};
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *copy;

    assert_int_equal(hvf_fleet_add_vm(f, &vm, 0, &err), 0);
    vm.name = "b"; /* 600 + 600 > 1000 usable */
    assert_int_equal(hvf_fleet_add_vm(f, &vm, 0, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CAPACITY);
    assert_int_equal(f->hosts[0].used.mem_mib, 600);
    assert_int_equal(hvf_fleet_add_vm(f, &vm, HVF_OVERCOMMIT, &err), 1);
    assert_int_equal(hvf_fleet_check(f, true, &err), 0);
    assert_int_equal(hvf_fleet_check(f, false, &err), -1);
    vm.name = "c";
    vm.host = 7;
    assert_int_equal(hvf_fleet_add_vm(f, &vm, 0, &err), -1);
    assert_int_equal(err.code, HVF_ERR_NOT_FOUND);

    copy = hvf_fleet_dup(f);
    assert_int_equal(copy->nvms, 2);
    assert_int_equal(hvf_fleet_find_vm(copy, "b"), 1);
    assert_int_equal(copy->hosts[0].used.mem_mib, 1200);
    hvf_fleet_free(copy);

    {
        hvf_host_index idx;
        hvf_fleet_host_index_build(f, &idx);
        assert_int_equal(idx.start[1] - idx.start[0], 2);
        assert_int_equal(idx.start[3] - idx.start[1], 0);
        hvf_fleet_host_index_free(&idx);
    }
    hvf_fleet_free(f);
}

static void
test_claims(void **state)
{
    hvf_fleet *f = model_small_fleet();
    hvf_host *h = &f->hosts[1];
    hvf_resources r = {500, 4};
    hvf_resources big = {501, 1};
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_host_claim(h, &r, 0, &err), 0);
    assert_int_equal(hvf_host_claim(h, &big, 0, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CAPACITY);
    assert_int_equal(h->claimed.mem_mib, 500);
    assert_int_equal(hvf_host_commit(h, &r, &err), 0);
    assert_int_equal(h->used.mem_mib, 500);
    assert_int_equal(h->claimed.mem_mib, 0);
    assert_int_equal(hvf_host_commit(h, &r, &err), -1); /* nothing claimed */
    assert_int_equal(hvf_host_release_claim(h, &r, &err), -1);
    assert_int_equal(hvf_host_release_used(h, &r, &err), 0);
    assert_int_equal(hvf_host_release_used(h, &r, &err), -1);
    assert_int_equal(h->used.mem_mib, 0);
    /* vCPU capacity is cpus x ratio = 16 */
    r.mem_mib = 1;
    r.vcpus = 17;
    assert_int_equal(hvf_host_claim(h, &r, 0, &err), -1);
    assert_non_null(strstr(err.msg, "vCPUs"));
    assert_int_equal(hvf_host_claim(h, &r, HVF_OVERCOMMIT, &err), 0);
    hvf_fleet_free(f);
}

/* xorshift: tests stay deterministic without depending on libc's rand(). */
static uint64_t
model_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
test_random_against_reference(void **state)
{
    hvf_fleet *f = model_small_fleet();
    uint64_t seed = 42;
    /* reference: plain integers, updated only when the model says the operation succeeded */
    int64_t ref_used[3][2] = {{0}}, ref_claim[3][2] = {{0}};

    for (int step = 0; step < 20000; step++) {
        int hi = (int)(model_rand(&seed) % 3);
        int op = (int)(model_rand(&seed) % 5);
        unsigned flags = (model_rand(&seed) % 10 == 0) ? HVF_OVERCOMMIT : 0;
        hvf_resources r = {model_rand(&seed) % 400, (uint32_t)(model_rand(&seed) % 6)};
        hvf_host *h = &f->hosts[hi];
        hvf_resources u = hvf_host_usable(h);
        int64_t *U = ref_used[hi], *C = ref_claim[hi];
        /* a dimension that asks for nothing never fails, even on an over-committed host */
        bool fits = flags || ((r.mem_mib == 0 || U[0] + C[0] + (int64_t)r.mem_mib <= (int64_t)u.mem_mib) &&
                              (r.vcpus == 0 || U[1] + C[1] + (int64_t)r.vcpus <= (int64_t)u.vcpus));
        bool expect;
        int rc;
        hvf_error err = HVF_ERROR_INIT;

        switch (op) {
        case 0:
            expect = fits;
            rc = hvf_host_claim(h, &r, flags, &err);
            if (expect)
                C[0] += r.mem_mib, C[1] += r.vcpus;
            break;
        case 1:
            expect = fits;
            rc = hvf_host_use(h, &r, flags, &err);
            if (expect)
                U[0] += r.mem_mib, U[1] += r.vcpus;
            break;
        case 2:
            expect = C[0] >= (int64_t)r.mem_mib && C[1] >= (int64_t)r.vcpus;
            rc = hvf_host_commit(h, &r, &err);
            if (expect)
                C[0] -= r.mem_mib, C[1] -= r.vcpus, U[0] += r.mem_mib, U[1] += r.vcpus;
            break;
        case 3:
            expect = C[0] >= (int64_t)r.mem_mib && C[1] >= (int64_t)r.vcpus;
            rc = hvf_host_release_claim(h, &r, &err);
            if (expect)
                C[0] -= r.mem_mib, C[1] -= r.vcpus;
            break;
        default:
            expect = U[0] >= (int64_t)r.mem_mib && U[1] >= (int64_t)r.vcpus;
            rc = hvf_host_release_used(h, &r, &err);
            if (expect)
                U[0] -= r.mem_mib, U[1] -= r.vcpus;
            break;
        }
        assert_int_equal(rc, expect ? 0 : -1);
        assert_int_equal(h->used.mem_mib, U[0]);
        assert_int_equal(h->used.vcpus, U[1]);
        assert_int_equal(h->claimed.mem_mib, C[0]);
        assert_int_equal(h->claimed.vcpus, C[1]);
        assert_true(U[0] >= 0 && C[0] >= 0 && U[1] >= 0 && C[1] >= 0);
    }
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_and_dup),
        cmocka_unit_test(test_racks_per_zone),
        cmocka_unit_test(test_dup_outlives_original),
        cmocka_unit_test(test_vm_placement),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
