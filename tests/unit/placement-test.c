/* SPDX-License-Identifier: MIT */
/* Placement: each filter and weigher decides a case, and the index agrees with a brute force. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/placement.h"

/* Hosts "h0".."hN": zone z<i/zone_size>, rack r<i/rack_size>, @mem_gib each, 32 CPUs x 4. */
static hvf_fleet *
pt_fleet(int nhosts, int rack_size, int zone_size, uint64_t mem_gib)
{
    hvf_fleet *f = hvf_fleet_new();
    hvf_error err = HVF_ERROR_INIT;
    char name[32], zone[32], rack[32];

    for (int i = 0; i < nhosts; i++) {
        hvf_host h = {0};
        snprintf(name, sizeof(name), "h%d", i);
        snprintf(zone, sizeof(zone), "z%d", i / zone_size);
        snprintf(rack, sizeof(rack), "r%d", i / rack_size);
        h.name = name;
        h.zone = hvf_fleet_zone_ensure(f, zone);
        h.rack = hvf_fleet_rack_ensure(f, h.zone, rack);
        h.cpus = 32;
        h.mem_mib = mem_gib * 1024;
        h.cpu_allocation_ratio = 4;
        h.ram_allocation_ratio = 1;
        h.nic_bytes_per_s = 1.25e9;
        assert_int_equal(hvf_fleet_add_host(f, &h, &err), i);
    }
    return f;
}

static int32_t
pt_service(hvf_fleet *f, const char *name, hvf_spread spread)
{
    hvf_service s = {.name = (char *)name, .min_available = 1, .spread = spread};
    hvf_error err = HVF_ERROR_INIT;
    int32_t idx = hvf_fleet_add_service(f, &s, &err);

    assert_true(idx >= 0);
    return idx;
}

static int32_t
pt_vm(hvf_fleet *f, int32_t host, uint64_t mem_gib, uint32_t vcpus, int32_t service)
{
    hvf_vm v = {.host = host,
                .vcpus = vcpus,
                .mem_mib = mem_gib * 1024,
                .service = service,
                .migratable = true,
                .cpu_load = 0.2};
    hvf_error err = HVF_ERROR_INIT;
    char name[32];
    int32_t idx;

    snprintf(name, sizeof(name), "vm%zu", f->nvms);
    v.name = name;
    idx = hvf_fleet_add_vm(f, &v, 0, &err);
    assert_true(idx >= 0);
    return idx;
}

static hvf_policy
pt_policy(uint64_t headroom_gib)
{
    hvf_policy p;

    hvf_policy_default(&p);
    p.headroom_mib = headroom_gib * 1024;
    p.headroom_share = 0;
    return p;
}

static hvf_place_request
pt_req(uint64_t mem_gib, uint32_t vcpus, int32_t service, int32_t source)
{
    hvf_place_request r = {.need = {mem_gib * 1024, vcpus}, .service = service, .source = source};
    return r;
}

static void
test_capacity_and_headroom(void **state)
{
    hvf_fleet *f = pt_fleet(2, 10, 10, 64);
    hvf_policy pol = pt_policy(8);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req = pt_req(20, 2, -1, -1);

    pt_vm(f, 0, 30, 2, -1); /* h0: 34 GiB free, 26 after headroom */
    pt_vm(f, 1, 40, 2, -1); /* h1: 24 GiB free, 16 after headroom */
    p = hvf_placer_new(f, &pol);
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 0);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_MEMORY], 1);
    assert_int_equal(res.candidates, 1);
    /* 20 GiB fits h1's 24 GiB free, but not its 16 GiB above headroom. */
    req.need.mem_mib = 27 * 1024;
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_MEMORY], 2);
    hvf_placer_free(p);
    /* Without headroom, best fit takes h1 (tighter). */
    pol = pt_policy(0);
    p = hvf_placer_new(f, &pol);
    req.need.mem_mib = 20 * 1024;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

static void
test_claims_count(void **state)
{
    hvf_fleet *f = pt_fleet(2, 10, 10, 64);
    hvf_policy pol = pt_policy(0);
    hvf_placer *p = hvf_placer_new(f, &pol);
    hvf_place_result res;
    hvf_place_request req = pt_req(40, 2, -1, -1);
    hvf_resources claim = {40 * 1024, 2};
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_placer_choose(p, &req, &res), 0);
    /* A claim on h0 (a migration on its way) leaves 24 GiB: the next 40 GiB VM goes to h1. */
    assert_int_equal(hvf_host_claim(&f->hosts[0], &claim, 0, &err), 0);
    hvf_placer_host_changed(p, 0);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    assert_int_equal(hvf_host_claim(&f->hosts[1], &claim, 0, &err), 0);
    hvf_placer_host_changed(p, 1);
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_MEMORY], 2);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

static void
test_cpu(void **state)
{
    hvf_fleet *f = pt_fleet(2, 10, 10, 64);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req = pt_req(1, 8, -1, -1);

    pt_vm(f, 0, 1, 124, -1); /* h0 has 4 of 128 vCPUs left, and the most memory after h1 */
    pt_vm(f, 1, 2, 1, -1);
    p = hvf_placer_new(f, NULL);
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_CPU], 1);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

static void
test_spread_levels(void **state)
{
    /* 8 hosts, racks of 2, zones of 4: h0,h1 r0 z0; h2,h3 r1 z0; h4,h5 r2 z1; h6,h7 r3 z1. */
    hvf_fleet *f = pt_fleet(8, 2, 4, 64);
    int32_t sh = pt_service(f, "by-host", HVF_SPREAD_HOST);
    int32_t sr = pt_service(f, "by-rack", HVF_SPREAD_RACK);
    int32_t sz = pt_service(f, "by-zone", HVF_SPREAD_ZONE);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req;

    /* Fill h0 so best fit would pick it, then see spread push the VM elsewhere. */
    pt_vm(f, 0, 40, 1, sh);
    pt_vm(f, 0, 1, 1, sr);
    pt_vm(f, 0, 1, 1, sz);
    p = hvf_placer_new(f, NULL);
    req = pt_req(4, 1, -1, -1);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 0);
    req.service = sh;
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_SPREAD], 1);
    req.service = sr;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 2);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_SPREAD], 2);
    req.service = sz;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 4);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_SPREAD], 4);
    /* Moving the by-zone replica itself: its own copy does not block its zone. */
    req.source = 0;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    /* A replica in flight to h4 counts there too: z1 is now taken as well. */
    hvf_placer_replica_add(p, sz, 4);
    req.source = -1;
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_SPREAD], 8);
    hvf_placer_replica_remove(p, sz, 0);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 0);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

static void
test_state_and_roles(void **state)
{
    hvf_fleet *f = pt_fleet(4, 10, 10, 64);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req = pt_req(4, 1, -1, -1);

    pt_vm(f, 0, 30, 1, -1);
    pt_vm(f, 1, 20, 1, -1);
    pt_vm(f, 2, 10, 1, -1);
    p = hvf_placer_new(f, NULL);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 0);
    f->hosts[0].state = HVF_HOST_STATE_MAINTENANCE;
    hvf_placer_host_changed(p, 0);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    hvf_placer_set_role(p, 1, HVF_PLACE_ROLE_OFFLINE);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 2);
    /* Due for maintenance: avoided, even though it fits best. */
    hvf_placer_set_role(p, 2, HVF_PLACE_ROLE_DUE);
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 3);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_STATE], 2);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_DUE], 1);
    /* ... unless nothing else fits and the caller allows it. */
    hvf_placer_set_role(p, 3, HVF_PLACE_ROLE_OFFLINE);
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    req.allow_due = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 2);
    assert_int_equal(res.role, HVF_PLACE_ROLE_DUE);
    hvf_placer_set_role(p, 3, HVF_PLACE_ROLE_NORMAL);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 3);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

static void
test_weighers(void **state)
{
    /* Racks of 2: h0,h1 r0; h2,h3 r1; h4,h5 r2. */
    hvf_fleet *f = pt_fleet(6, 2, 10, 64);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req = pt_req(4, 1, -1, -1);
    uint32_t inflight[6] = {0};

    pt_vm(f, 0, 40, 1, -1);
    pt_vm(f, 1, 10, 1, -1);
    pt_vm(f, 2, 30, 1, -1);
    pt_vm(f, 3, 20, 1, -1);
    pt_vm(f, 4, 20, 1, -1);
    pt_vm(f, 5, 20, 1, -1);
    p = hvf_placer_new(f, NULL);
    hvf_placer_set_role(p, 0, HVF_PLACE_ROLE_OFFLINE); /* being evacuated */
    /* Best fit: h2 (30 GiB used) over h3-h5 (20) and h1 (10). */
    assert_int_equal(hvf_placer_choose(p, &req, &res), 2);
    /* Already maintained hosts first, however poorly they fit. */
    hvf_placer_set_role(p, 1, HVF_PLACE_ROLE_MAINTAINED);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    hvf_placer_set_role(p, 1, HVF_PLACE_ROLE_NORMAL);
    hvf_placer_set_role(p, 2, HVF_PLACE_ROLE_OFFLINE);
    /* h3, h4 and h5 tie on fit: the lowest index wins ... */
    assert_int_equal(hvf_placer_choose(p, &req, &res), 3);
    /* ... unless it has a migration in flight ... */
    inflight[3] = 1;
    req.inflight = inflight;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 4);
    /* ... and the VM's own rack beats fewer in flight: moving h4's VM, h5 (1 in flight)
     * wins over h3 (now 0 in flight, lower index, another rack). */
    inflight[3] = 0;
    inflight[5] = 1;
    req.source = 4;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 5);
    /* Busy: at the in-flight limit a host is not a target; h3 is left. */
    req.max_inflight = 1;
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 3);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_STATE], 2);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_BUSY], 1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_SOURCE], 1);
    assert_int_equal(res.candidates, 2);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

static void
test_busy_hosts(void **state)
{
    hvf_fleet *f = pt_fleet(3, 10, 10, 64);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req = pt_req(4, 1, -1, -1);

    pt_vm(f, 0, 30, 1, -1);
    pt_vm(f, 1, 20, 1, -1);
    p = hvf_placer_new(f, NULL);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 0);
    assert_false(hvf_placer_busy_fits(p, &req));
    /* A busy host leaves the index; waiting for it may help, and explain counts it. */
    hvf_placer_set_busy(p, 0, true);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    assert_true(hvf_placer_busy_fits(p, &req));
    hvf_placer_set_busy(p, 1, true);
    hvf_placer_set_busy(p, 2, true);
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_BUSY], 3);
    /* Too big for any of them: waiting for a busy host would not help. */
    req.need.mem_mib = 100 * 1024;
    assert_false(hvf_placer_busy_fits(p, &req));
    req.need.mem_mib = 4 * 1024;
    hvf_placer_set_busy(p, 1, false);
    hvf_placer_set_busy(p, 1, false); /* idempotent */
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1);
    /* A fixed host is checked whatever its role (a VM coming home). */
    hvf_placer_set_role(p, 1, HVF_PLACE_ROLE_OFFLINE);
    assert_int_equal(hvf_placer_check(p, &req, 1), -1);
    assert_int_equal(hvf_placer_check(p, &req, 0), HVF_PLACE_REJECT_BUSY);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

/* ---- the index against a brute force ------------------------------------------------------ */

static uint64_t
pt_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint32_t
pt_bucket(uint64_t a)
{
    uint32_t p;

    if (a == 0)
        return 0;
    p = 63u - (uint32_t)__builtin_clzll(a);
    return 1 + p * 32 + (uint32_t)((p >= 5 ? a >> (p - 5) : a << (5 - p)) & 31);
}

static bool
pt_same_domain(const hvf_fleet *f, int32_t s, int32_t a, int32_t b)
{
    if (f->services[s].spread == HVF_SPREAD_RACK)
        return f->hosts[a].rack == f->hosts[b].rack;
    if (f->services[s].spread == HVF_SPREAD_ZONE)
        return f->hosts[a].zone == f->hosts[b].zone;
    return a == b;
}

/* Independent statement of the rules in placement.h. */
static int32_t
pt_brute(const hvf_fleet *f, const hvf_placer *p, const hvf_place_request *req)
{
    static const int cls_of[] = {1, 0, 2, -1};
    int32_t best = -1;
    uint64_t best_key[5] = {0};

    for (size_t i = 0; i < f->nhosts; i++) {
        const hvf_host *h = &f->hosts[i];
        hvf_place_role role = hvf_placer_get_role(p, (int32_t)i);
        uint64_t avail = hvf_placer_avail_mib(p, (int32_t)i);
        uint64_t key[5];
        uint32_t clash = 0;

        if (h->state != HVF_HOST_STATE_ACTIVE || role == HVF_PLACE_ROLE_OFFLINE)
            continue;
        if (role == HVF_PLACE_ROLE_DUE && !req->allow_due)
            continue;
        if ((int32_t)i == req->source || avail < req->need.mem_mib ||
            hvf_host_free(h).vcpus < req->need.vcpus)
            continue;
        if (req->max_inflight && req->inflight[i] >= req->max_inflight)
            continue;
        for (size_t v = 0; req->service >= 0 && v < f->nvms; v++) {
            const hvf_vm *vm = &f->vms[v];
            if (vm->service == req->service &&
                pt_same_domain(f, req->service, vm->host, (int32_t)i))
                clash++;
        }
        /* The moving VM's own replica does not count against its own domain. */
        if (clash > 0 && req->source >= 0 &&
            pt_same_domain(f, req->service, req->source, (int32_t)i))
            clash--;
        if (clash)
            continue;
        key[0] = (uint64_t)cls_of[role];
        key[1] = pt_bucket(avail);
        key[2] = req->source >= 0 && h->rack == f->hosts[req->source].rack ? 0 : 1;
        key[3] = req->inflight ? req->inflight[i] : 0;
        key[4] = i;
        if (best >= 0) {
            int k = 0;
            while (k < 5 && key[k] == best_key[k])
                k++;
            if (k == 5 || key[k] > best_key[k])
                continue;
        }
        best = (int32_t)i;
        memcpy(best_key, key, sizeof(key));
    }
    return best;
}

static void
test_against_brute_force(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;

    for (int round = 0; round < 30; round++) {
        int nh = 5 + (int)(pt_rand(&seed) % 60);
        hvf_fleet *f = pt_fleet(nh, 1 + (int)(pt_rand(&seed) % 6), 4 + (int)(pt_rand(&seed) % 20),
                                32 << (pt_rand(&seed) % 4));
        int32_t svc[3];
        hvf_placer *p;
        uint32_t *inflight = hvf_calloc((size_t)nh, sizeof(uint32_t));
        hvf_error err = HVF_ERROR_INIT;

        svc[0] = pt_service(f, "a", HVF_SPREAD_HOST);
        svc[1] = pt_service(f, "b", HVF_SPREAD_RACK);
        svc[2] = pt_service(f, "c", HVF_SPREAD_ZONE);
        for (int v = 0; v < nh * 3; v++) {
            int32_t h = (int32_t)(pt_rand(&seed) % (uint64_t)nh);
            uint64_t g = 1 + pt_rand(&seed) % 8;
            int32_t s = pt_rand(&seed) % 4 == 0 ? svc[pt_rand(&seed) % 3] : -1;
            hvf_vm vm = {.host = h,
                         .vcpus = 1 + (uint32_t)(pt_rand(&seed) % 8),
                         .mem_mib = g * 1024 + pt_rand(&seed) % 1000,
                         .service = s};
            char name[32];
            snprintf(name, sizeof(name), "v%d", v);
            vm.name = name;
            (void)hvf_fleet_add_vm(f, &vm, 0, &err); /* some do not fit: fine */
        }
        p = hvf_placer_new(f, NULL);
        for (int q = 0; q < 200; q++) {
            hvf_place_request req =
                pt_req(1 + pt_rand(&seed) % 16, 1 + (uint32_t)(pt_rand(&seed) % 16), -1, -1);
            hvf_place_result res, res2;
            int32_t h = (int32_t)(pt_rand(&seed) % (uint64_t)nh);
            uint64_t action = pt_rand(&seed) % 8;

            /* Change the world a little between questions. */
            if (action == 0) {
                hvf_placer_set_role(p, h, (hvf_place_role)(pt_rand(&seed) % HVF_PLACE_ROLE_LAST));
            } else if (action == 1) {
                hvf_resources c = {1024 * (1 + pt_rand(&seed) % 4), 1};
                if (hvf_host_claim(&f->hosts[h], &c, 0, &err) == 0)
                    hvf_placer_host_changed(p, h);
            } else if (action == 2) {
                f->hosts[h].claimed.mem_mib /= 2;
                f->hosts[h].claimed.vcpus /= 2;
                hvf_placer_host_changed(p, h);
            } else if (action == 3) {
                inflight[h] = (uint32_t)(pt_rand(&seed) % 3);
            }
            req.need.mem_mib += pt_rand(&seed) % 1000;
            if (pt_rand(&seed) % 2) {
                req.service = svc[pt_rand(&seed) % 3];
            }
            if (f->nvms && pt_rand(&seed) % 2) {
                const hvf_vm *vm = &f->vms[pt_rand(&seed) % f->nvms];
                req.source = vm->host;
                req.service = vm->service;
            }
            req.inflight = pt_rand(&seed) % 2 ? inflight : NULL;
            req.max_inflight = req.inflight && pt_rand(&seed) % 2 ? 2 : 0;
            req.allow_due = pt_rand(&seed) % 2;
            assert_int_equal(hvf_placer_choose(p, &req, &res), pt_brute(f, p, &req));
            req.explain = true;
            assert_int_equal(hvf_placer_choose(p, &req, &res2), res.host);
            {
                uint32_t total = res2.candidates;
                for (int r = 0; r < HVF_PLACE_REJECT_LAST; r++)
                    total += res2.rejected[r];
                assert_int_equal(total, (uint32_t)nh);
                assert_true((res2.candidates > 0) == (res.host >= 0));
            }
        }
        hvf_placer_free(p);
        free(inflight);
        hvf_fleet_free(f);
    }
}

/*
 * A DRBD VM goes to its secondary or nowhere: best fit would pick the fuller h1, the secondary
 * is the empty h3; full or offline, the secondary leaves the VM without a host.
 */
static void
test_pinned_to_secondary(void **state)
{
    hvf_fleet *f = pt_fleet(4, 10, 10, 64);
    hvf_policy pol = pt_policy(0);
    hvf_placer *p;
    hvf_place_result res;
    hvf_place_request req = pt_req(8, 2, -1, 0);
    int32_t vm;

    vm = pt_vm(f, 0, 8, 2, -1);
    f->vms[vm].has_secondary = true;
    f->vms[vm].secondary = 3;
    pt_vm(f, 1, 40, 2, -1);
    p = hvf_placer_new(f, &pol);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 1); /* not pinned: best fit */
    hvf_place_request_pin(&req, &f->vms[vm]);
    assert_int_equal(hvf_placer_choose(p, &req, &res), 3);
    assert_int_equal(res.examined, 1);
    assert_int_equal(hvf_placer_check(p, &req, 1), HVF_PLACE_REJECT_PINNED);
    req.explain = true;
    assert_int_equal(hvf_placer_choose(p, &req, &res), 3);
    assert_int_equal(res.candidates, 1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_SOURCE], 1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_PINNED], 2);
    assert_string_equal(hvf_place_reject_to_string(HVF_PLACE_REJECT_PINNED), "pinned");
    req.explain = false;
    hvf_placer_set_role(p, 3, HVF_PLACE_ROLE_OFFLINE);
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_STATE], 1);
    hvf_placer_set_role(p, 3, HVF_PLACE_ROLE_NORMAL);
    req.need.mem_mib = 65 * 1024;
    assert_int_equal(hvf_placer_choose(p, &req, &res), -1);
    assert_int_equal(res.rejected[HVF_PLACE_REJECT_MEMORY], 1);
    /* after the move, the host it left is the secondary */
    hvf_vm_moved(&f->vms[vm], 3);
    assert_int_equal(f->vms[vm].host, 3);
    assert_int_equal(f->vms[vm].secondary, 0);
    hvf_placer_free(p);
    hvf_fleet_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_and_headroom),
        cmocka_unit_test(test_claims_count),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_spread_levels),
        cmocka_unit_test(test_state_and_roles),
        cmocka_unit_test(test_weighers),
        cmocka_unit_test(test_busy_hosts),
        cmocka_unit_test(test_pinned_to_secondary),
        cmocka_unit_test(test_against_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
