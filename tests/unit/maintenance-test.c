/* SPDX-License-Identifier: MIT */
/*
 * The maintenance planner: properties checked at every event of the twin over many generated
 * fleets and policies, the handling of each non_converging choice, return_vms, drains, windows,
 * impossible evacuations, determinism, and the 2017 storm fleet.
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
#include "hvfleet/generate.h"
#include "hvfleet/inventory.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/rng.h"
#include "hvfleet/scenario.h"

#define STORM HVF_SRCDIR "/scenarios/2017-maintenance-storm.yaml"

/* ---- the invariant checker, called at every event ------------------------------------------ */

typedef struct mt_watch {
    const hvf_policy *pol;
    hvf_plan_kind kind;
    bool *requested;        /* per host */
    uint32_t *maint_seen;   /* per host: entries into maintenance */
    uint8_t *prev_state;    /* per host: sim state at the last check */
    uint32_t *spread_init;  /* per service: replicas sharing a domain at the start */
    uint32_t *running_init; /* per service */
    uint64_t claimed_total;
    uint64_t usable_total; /* of the hosts active at the start */
    uint32_t migrations_active;
    uint64_t checks;
    bool over_ok; /* the naive strategy may over-commit */
    char failure[512];
} mt_watch;

static void mt_fail(mt_watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mt_fail(mt_watch *w, const char *fmt, ...)
{
    va_list ap;

    if (w->failure[0])
        return;
    va_start(ap, fmt);
    vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
    va_end(ap);
}

static int32_t
mt_domain(const hvf_fleet *f, int32_t s, int32_t h)
{
    switch (f->services[s].spread) {
    case HVF_SPREAD_RACK:
        return f->hosts[h].rack;
    case HVF_SPREAD_ZONE:
        return f->hosts[h].zone;
    default:
        return h;
    }
}

/* Replicas of service @s placed in a domain that holds another one (pairs counted once each). */
static uint32_t
mt_spread_clashes(hvf_sim *sim, int32_t s)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    HVF_AUTOFREE int32_t *doms = hvf_calloc(f->nvms + 1, sizeof(int32_t));
    size_t n = 0;
    uint32_t clashes = 0;

    for (size_t v = 0; v < f->nvms; v++) {
        hvf_sim_vm_state st = hvf_sim_vm_state_get(sim, (int32_t)v);
        if (f->vms[v].service != s || st == HVF_SIM_VM_STOPPED || st == HVF_SIM_VM_CRASHED)
            continue;
        doms[n++] = mt_domain(f, s, hvf_sim_vm_host(sim, (int32_t)v));
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            clashes += doms[i] == doms[j];
    }
    return clashes;
}

static uint32_t
mt_running(hvf_sim *sim, int32_t s)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint32_t n = 0;

    for (size_t v = 0; v < f->nvms; v++) {
        hvf_sim_vm_state st = hvf_sim_vm_state_get(sim, (int32_t)v);
        if (f->vms[v].service == s && st != HVF_SIM_VM_STOPPED && st != HVF_SIM_VM_CRASHED)
            n++;
    }
    return n;
}

static void
mt_observe(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    mt_watch *w = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    const hvf_policy *p = w->pol;
    HVF_AUTOFREE uint32_t *per_rack = hvf_calloc(f->nracks + 1, sizeof(uint32_t));
    HVF_AUTOFREE uint32_t *per_zone = hvf_calloc(f->nzones + 1, sizeof(uint32_t));
    uint32_t out_of_service = 0;
    uint64_t off_mib = 0;
    hvf_error err = HVF_ERROR_INIT;

    w->checks++;
    if (!w->prev_state) {
        w->prev_state = hvf_calloc(f->nhosts + 1, 1);
        w->spread_init = hvf_calloc(f->nservices + 1, sizeof(uint32_t));
        w->running_init = hvf_calloc(f->nservices + 1, sizeof(uint32_t));
        for (size_t s = 0; s < f->nservices; s++) {
            w->spread_init[s] = mt_spread_clashes(sim, (int32_t)s);
            w->running_init[s] = mt_running(sim, (int32_t)s);
        }
        for (size_t h = 0; h < f->nhosts; h++) {
            if (hvf_sim_host_state_get(sim, (int32_t)h) == HVF_SIM_HOST_ACTIVE)
                w->usable_total += hvf_host_usable(&f->hosts[h]).mem_mib;
        }
    }
    /* The claims ledger, and no host over its usable memory counting claims. */
    if (hvf_sim_check(sim, w->over_ok, &err) < 0)
        mt_fail(w, "ledger: %s", err.msg);
    w->claimed_total = 0;
    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_sim_host_state st = hvf_sim_host_state_get(sim, (int32_t)h);
        uint32_t in = 0, out = 0;
        const int32_t *vms;
        size_t nv = hvf_sim_host_vms(sim, (int32_t)h, &vms);
        bool holds = false;

        w->claimed_total += f->hosts[h].claimed.mem_mib;
        hvf_sim_host_migrations(sim, (int32_t)h, &in, &out);
        if (!w->over_ok &&
            (in > p->max_migrations_in_per_host || out > p->max_migrations_out_per_host))
            mt_fail(w, "host '%s' has %u in, %u out", f->hosts[h].name, in, out);
        for (size_t i = 0; i < nv; i++)
            holds |= hvf_sim_vm_state_get(sim, vms[i]) != HVF_SIM_VM_STOPPED;
        if (st == HVF_SIM_HOST_MAINTENANCE && holds)
            mt_fail(w, "host '%s' is in maintenance with a VM on it", f->hosts[h].name);
        if ((st == HVF_SIM_HOST_EVACUATING || st == HVF_SIM_HOST_MAINTENANCE) && in > 0)
            mt_fail(w, "host '%s' receives a VM while %s", f->hosts[h].name,
                    hvf_sim_host_state_names[st]);
        if (st == HVF_SIM_HOST_MAINTENANCE && w->prev_state[h] != HVF_SIM_HOST_MAINTENANCE) {
            if (!w->requested[h])
                mt_fail(w, "host '%s' was not asked for and went into maintenance",
                        f->hosts[h].name);
            w->maint_seen[h]++;
        }
        w->prev_state[h] = (uint8_t)st;
        /* Out of service: in maintenance, or evacuating with something still on it. */
        if (st == HVF_SIM_HOST_MAINTENANCE ||
            (st == HVF_SIM_HOST_EVACUATING && (holds || out > 0))) {
            out_of_service++;
            per_rack[f->hosts[h].rack]++;
            per_zone[f->hosts[h].zone]++;
            off_mib += hvf_host_usable(&f->hosts[h]).mem_mib;
        }
    }
    if (!w->over_ok) {
        if (out_of_service > p->max_parallel_hosts)
            mt_fail(w, "%u hosts out of service, limit %u", out_of_service, p->max_parallel_hosts);
        for (size_t r = 0; r < f->nracks; r++) {
            if (p->max_parallel_per_rack && per_rack[r] > p->max_parallel_per_rack)
                mt_fail(w, "rack %zu has %u hosts out, limit %u", r, per_rack[r],
                        p->max_parallel_per_rack);
        }
        for (size_t z = 0; z < f->nzones; z++) {
            if (p->max_parallel_per_zone && per_zone[z] > p->max_parallel_per_zone)
                mt_fail(w, "zone %zu has %u hosts out, limit %u", z, per_zone[z],
                        p->max_parallel_per_zone);
        }
        if (out_of_service > 1 &&
            (double)off_mib > p->seatbelt.max_capacity_offline * (double)w->usable_total + 1)
            mt_fail(w, "%llu MiB offline with %u hosts out, above the share",
                    (unsigned long long)off_mib, out_of_service);
        for (size_t s = 0; s < f->nservices; s++) {
            uint32_t want = f->services[s].min_available < w->running_init[s]
                                ? f->services[s].min_available
                                : w->running_init[s];
            if (mt_spread_clashes(sim, (int32_t)s) > w->spread_init[s])
                mt_fail(w, "service '%s' has more replicas sharing a %s than at the start",
                        f->services[s].name, hvf_spread_to_string(f->services[s].spread));
            if (mt_running(sim, (int32_t)s) < want)
                mt_fail(w, "service '%s' runs %u replicas, min_available %u", f->services[s].name,
                        mt_running(sim, (int32_t)s), want);
        }
    }
    w->migrations_active = hvf_sim_migrations_active(sim);
    (void)ev;
}

static void
mt_watch_free(mt_watch *w)
{
    free(w->requested);
    free(w->maint_seen);
    free(w->prev_state);
    free(w->spread_init);
    free(w->running_init);
}

/* Plans with every invariant checked; asserts the end-of-run properties too. */
static hvf_plan *
mt_plan(const hvf_fleet *f, const hvf_policy *pol, hvf_plan_kind kind, hvf_plan_strategy strat,
        const int32_t *hosts, size_t n, hvf_maint_outcome *res)
{
    mt_watch w = {.pol = pol, .kind = kind, .over_ok = strat == HVF_PLAN_STRATEGY_NAIVE};
    hvf_maint_opts o;
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *plan;

    w.requested = hvf_calloc(f->nhosts + 1, sizeof(bool));
    w.maint_seen = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        w.requested[hosts[i]] = true;
    hvf_maint_opts_init(&o);
    o.kind = kind;
    o.strategy = strat;
    o.hosts = hosts;
    o.nhosts = n;
    o.policy = pol;
    o.observe = mt_observe;
    o.observe_ctx = &w;
    plan = hvf_maintenance_plan(f, &o, res, &err);
    if (!plan)
        fail_msg("plan: %s", err.msg);
    if (w.failure[0])
        fail_msg("invariant broken: %s", w.failure);
    assert_true(w.checks > 0);
    /* At the end nothing is in flight and every claim was released. */
    assert_int_equal(w.migrations_active, 0);
    assert_int_equal(w.claimed_total, 0);
    /* Each requested host maintained exactly once, when the plan finished. */
    if (kind == HVF_PLAN_KIND_MAINTENANCE && res->finished) {
        for (size_t i = 0; i < n; i++)
            assert_int_equal(w.maint_seen[hosts[i]], 1);
        assert_int_equal(plan->nhosts, n);
    }
    for (size_t h = 0; h < f->nhosts; h++)
        assert_true(w.maint_seen[h] <= 1);
    mt_watch_free(&w);
    return plan;
}

/* Each requested host at most once in hosts[], each listed host requested. */
static void
mt_check_plan(const hvf_fleet *f, const hvf_plan *plan, const int32_t *hosts, size_t n)
{
    HVF_AUTOFREE uint32_t *count = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    HVF_AUTOFREE bool *asked = hvf_calloc(f->nhosts + 1, sizeof(bool));

    for (size_t i = 0; i < n; i++)
        asked[hosts[i]] = true;
    for (size_t i = 0; i < plan->nhosts; i++) {
        int32_t h = hvf_fleet_find_host(f, plan->hosts[i].host);
        assert_true(h >= 0 && asked[h]);
        assert_int_equal(++count[h], 1);
    }
    assert_true(hvf_plan_hash_ok(plan));
    if (plan->summary.verdict != HVF_PLAN_VERDICT_REFUSED)
        assert_int_equal(plan->summary.vms_at_risk, 0);
}

static void
test_properties(void **state)
{
    hvf_rng rng;
    uint32_t finished = 0, runs = 0;

    hvf_rng_seed(&rng, 20170802);
    for (int round = 0; round < 36; round++) {
        hvf_generate_params gp;
        hvf_policy pol;
        hvf_maint_outcome res;
        hvf_error err = HVF_ERROR_INIT;
        hvf_fleet *f;
        hvf_plan *plan;
        HVF_AUTOFREE int32_t *hosts = NULL;
        size_t n = 0;
        hvf_plan_kind kind = round % 6 == 5 ? HVF_PLAN_KIND_DRAIN : HVF_PLAN_KIND_MAINTENANCE;

        hvf_generate_params_init(&gp);
        gp.hosts = (uint32_t)hvf_rng_range(&rng, 6, 40);
        gp.vms_per_host = (uint32_t)hvf_rng_range(&rng, 2, 12);
        gp.seed = hvf_rng_next_u64(&rng);
        gp.zones = (uint32_t)hvf_rng_range(&rng, 1, 3);
        gp.racks_per_zone = (uint32_t)hvf_rng_range(&rng, 1, 4);
        f = hvf_generate_fleet(&gp, &err);
        if (!f)
            continue; /* parameters the generator refuses (too few hosts per rack) */
        hvf_policy_default(&pol);
        pol.max_parallel_hosts = (uint32_t)hvf_rng_range(&rng, 1, 6);
        pol.max_parallel_per_rack = (uint32_t)hvf_rng_range(&rng, 0, 2);
        pol.max_parallel_per_zone = (uint32_t)hvf_rng_range(&rng, 0, 3);
        pol.max_migrations_out_per_host = (uint32_t)hvf_rng_range(&rng, 1, 3);
        pol.max_migrations_in_per_host = (uint32_t)hvf_rng_range(&rng, 1, 3);
        pol.headroom_share = (double)hvf_rng_range(&rng, 0, 10) / 100.0;
        pol.non_converging = (hvf_non_converging)hvf_rng_range(&rng, 0, 3);
        pol.return_vms = hvf_rng_range(&rng, 0, 3) == 0;
        pol.maintenance_time_us = (int64_t)hvf_rng_range(&rng, 1, 20) * 60 * 1000000LL;
        pol.seatbelt.max_capacity_offline = (double)hvf_rng_range(&rng, 5, 50) / 100.0;
        if (hvf_rng_range(&rng, 0, 3) == 0)
            pol.migration_bandwidth_bytes_per_s = 1e8;
        hosts = hvf_calloc(f->nhosts, sizeof(int32_t));
        for (size_t h = 0; h < f->nhosts; h++) {
            /* everything, or a random part of the fleet */
            if (round % 3 == 0 || hvf_rng_range(&rng, 0, 2) == 0)
                hosts[n++] = (int32_t)h;
        }
        if (n == 0)
            hosts[n++] = 0;
        plan = mt_plan(f, &pol, kind, HVF_PLAN_STRATEGY_HVFLEET, hosts, n, &res);
        mt_check_plan(f, plan, hosts, n);
        if (getenv("HVF_TEST_DEBUG"))
            fprintf(stderr,
                    "round %d: %zu hosts %zu vms, asked %zu, %s: %zu migrations, %zu stops, "
                    "finished %d, verdict %s%s%s\n",
                    round, f->nhosts, f->nvms, n, hvf_plan_kind_to_string(kind), plan->nmigrations,
                    plan->nstops, res.finished, hvf_plan_verdict_to_string(plan->summary.verdict),
                    res.finished ? "" : ": ", res.finished ? "" : plan->summary.reasons[0]);
        runs++;
        if (res.finished) {
            finished++;
            assert_true(plan->summary.peak_host_memory_ppm <= 1000000);
            assert_int_equal(res.vms_crashed, 0);
        } else {
            /* A plan that could not do everything says why and is refused. */
            assert_int_equal(plan->summary.verdict, HVF_PLAN_VERDICT_REFUSED);
            assert_true(plan->summary.nreasons > 0);
        }
        if (kind == HVF_PLAN_KIND_DRAIN) {
            for (size_t i = 0; i < plan->nhosts; i++)
                assert_int_equal(plan->hosts[i].maintenance_end_ms, plan->hosts[i].evacuate_end_ms);
        }
        hvf_plan_free(plan);
        hvf_fleet_free(f);
    }
    /* The generator leaves room: most plans must go through, or the test proves little. */
    assert_true(runs >= 30);
    assert_true(finished * 10 >= runs * 8);
}

/* ---- specific behaviours on small hand-made fleets ----------------------------------------- */

/* Four hosts on 1 Gbit/s; 'busy' dirties 200 MiB/s of a 4 GiB working set: pre-copy cannot
 * keep up at half a gigabit. */
static const char mt_inv[] =
    "hosts:\n"
    "  - {name: a, rack: r1, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "  - {name: b, rack: r1, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "  - {name: c, rack: r2, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "  - {name: d, rack: r2, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "services:\n"
    "  - {name: web, min_available: 1}\n"
    "vms:\n"
    "  - {name: busy, host: a, vcpus: 4, memory: 16GiB, dirty_rate: 200MiB/s, working_set: 4GiB}\n"
    "  - {name: idle, host: a, vcpus: 2, memory: 8GiB}\n"
    "  - {name: web1, host: a, vcpus: 2, memory: 4GiB, service: web}\n"
    "  - {name: web2, host: c, vcpus: 2, memory: 4GiB, service: web}\n"
    "  - {name: pinned, host: b, vcpus: 2, memory: 4GiB, migratable: false}\n";

static const hvf_plan_migration *
mt_find_migration(const hvf_plan *p, const char *vm)
{
    for (size_t i = 0; i < p->nmigrations; i++) {
        if (strcmp(p->migrations[i].vm, vm) == 0)
            return &p->migrations[i];
    }
    return NULL;
}

static const hvf_plan_non_converging *
mt_find_nonconv(const hvf_plan *p, const char *vm)
{
    for (size_t i = 0; i < p->summary.nnon_converging; i++) {
        if (strcmp(p->summary.non_converging[i].vm, vm) == 0)
            return &p->summary.non_converging[i];
    }
    return NULL;
}

static void
test_non_converging(void **state)
{
    hvf_fleet *f = hvf_test_inventory(mt_inv);
    int32_t a = hvf_fleet_find_host(f, "a"), b = hvf_fleet_find_host(f, "b");
    int32_t hosts[2] = {a, b};
    hvf_maint_outcome res;
    hvf_policy pol;
    hvf_plan *p;
    const hvf_plan_migration *m;

    hvf_policy_default(&pol);
    pol.max_parallel_hosts = 1;

    /* auto-converge: the busy VM moves with throttling, and the plan needs an approval. */
    pol.non_converging = HVF_NON_CONVERGING_AUTO_CONVERGE;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, 2, &res);
    assert_true(res.finished);
    assert_non_null(m = mt_find_migration(p, "busy"));
    assert_int_equal(m->strategy, HVF_PLAN_MIGRATION_AUTO_CONVERGE);
    assert_non_null(mt_find_migration(p, "idle"));
    assert_int_equal(mt_find_migration(p, "idle")->strategy, HVF_PLAN_MIGRATION_PRECOPY);
    assert_int_equal(mt_find_nonconv(p, "busy")->action, HVF_NON_CONVERGING_AUTO_CONVERGE);
    /* 'pinned' cannot migrate at all: shut down on b and booted there after its maintenance. */
    assert_int_equal(p->nstops, 1);
    assert_string_equal(p->stops[0].vm, "pinned");
    assert_string_equal(p->stops[0].start_host, "b");
    for (size_t i = 0; i < p->nhosts; i++) {
        if (strcmp(p->hosts[i].host, "b") == 0)
            assert_int_equal(p->stops[0].start_ms, p->hosts[i].maintenance_end_ms);
    }
    assert_int_equal(p->summary.verdict, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    hvf_plan_free(p);

    /* post-copy */
    pol.non_converging = HVF_NON_CONVERGING_POST_COPY;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, 2, &res);
    assert_int_equal(mt_find_migration(p, "busy")->strategy, HVF_PLAN_MIGRATION_POST_COPY);
    hvf_plan_free(p);

    /* shutdown: the busy VM is stopped instead, and started again after a's maintenance. */
    pol.non_converging = HVF_NON_CONVERGING_SHUTDOWN;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, 2, &res);
    assert_true(res.finished);
    assert_null(mt_find_migration(p, "busy"));
    assert_int_equal(p->nstops, 2);
    assert_int_equal(mt_find_nonconv(p, "busy")->action, HVF_NON_CONVERGING_SHUTDOWN);
    hvf_plan_free(p);

    /* refuse: host a is not maintained (b is: 'pinned' is refused too, so neither), refused. */
    pol.non_converging = HVF_NON_CONVERGING_REFUSE;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, 2, &res);
    assert_false(res.finished);
    assert_int_equal(res.hosts_failed, 2);
    assert_int_equal(p->nhosts, 0);
    assert_int_equal(p->nmigrations, 0);
    assert_int_equal(p->summary.verdict, HVF_PLAN_VERDICT_REFUSED);
    assert_int_equal(mt_find_nonconv(p, "busy")->action, HVF_NON_CONVERGING_REFUSE);
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_spread_and_twice(void **state)
{
    hvf_fleet *f = hvf_test_inventory(mt_inv);
    int32_t all[4] = {0, 1, 2, 3};
    hvf_maint_outcome res;
    hvf_policy pol;
    hvf_plan *p;
    HVF_AUTOFREE uint32_t *moves = hvf_calloc(f->nvms, sizeof(uint32_t));
    uint32_t twice = 0;

    hvf_policy_default(&pol);
    pol.max_parallel_hosts = 1;
    pol.max_parallel_per_rack = 1;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, all, 4, &res);
    assert_true(res.finished);
    /* web1 never joins web2 on c, nor web2 web1. */
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        moves[hvf_fleet_find_vm(f, m->vm)]++;
        assert_false(strcmp(m->vm, "web1") == 0 && strcmp(m->to, "c") == 0 &&
                     m->start_ms < p->hosts[0].maintenance_end_ms);
    }
    for (size_t v = 0; v < f->nvms; v++)
        twice += moves[v] > 1;
    assert_int_equal(twice, p->summary.vms_moved_more_than_once);
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

/*
 * DRBD VMs (a Ganeti import's drbd instances) live-migrate only to their secondary, the host
 * with the other copy of their disk, and after a move the host they left is the secondary. Best
 * fit would send db1 to c (fuller) or b (its own rack); its secondary is d, an empty host in the
 * other rack, and db2 on d has a as its secondary: each pair must wait for the other's host.
 */
static const char mt_drbd_inv[] =
    "hosts:\n"
    "  - {name: a, rack: r1, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "  - {name: b, rack: r1, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "  - {name: c, rack: r2, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "  - {name: d, rack: r2, cpus: 32, memory: 64GiB, nic: 1Gbit}\n"
    "vms:\n"
    "  - {name: db1, host: a, vcpus: 4, memory: 8GiB, secondary: d}\n"
    "  - {name: db2, host: d, vcpus: 4, memory: 8GiB, secondary: a}\n"
    "  - {name: big, host: c, vcpus: 4, memory: 40GiB}\n"
    "  - {name: small, host: b, vcpus: 2, memory: 4GiB}\n";

static void
test_drbd_secondary(void **state)
{
    hvf_fleet *f = hvf_test_inventory(mt_drbd_inv);
    int32_t all[4] = {0, 1, 2, 3};
    hvf_maint_outcome res;
    hvf_policy pol;
    hvf_plan *p;
    size_t seen = 0;

    hvf_policy_default(&pol);
    pol.max_parallel_hosts = 2;
    pol.max_parallel_per_rack = 0;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, all, 4, &res);
    assert_true(res.finished);
    assert_int_equal(p->nstops, 0);
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        if (strncmp(m->vm, "db", 2) != 0)
            continue;
        seen++;
        /* between its two hosts only, whichever way */
        assert_true((strcmp(m->from, "a") == 0 && strcmp(m->to, "d") == 0) ||
                    (strcmp(m->from, "d") == 0 && strcmp(m->to, "a") == 0));
    }
    assert_true(seen >= 2); /* both left their host at least once */
    assert_non_null(mt_find_migration(p, "db1"));
    assert_string_equal(mt_find_migration(p, "db1")->to, "d");
    assert_string_equal(mt_find_migration(p, "db2")->to, "a");
    /* a and d are never out of service together: each holds the other's only target */
    for (size_t i = 0; i < p->nhosts; i++) {
        for (size_t j = 0; j < p->nhosts; j++) {
            const hvf_plan_host *x = &p->hosts[i], *y = &p->hosts[j];
            if (strcmp(x->host, "a") != 0 || strcmp(y->host, "d") != 0)
                continue;
            assert_true(x->maintenance_end_ms <= y->evacuate_start_ms ||
                        y->maintenance_end_ms <= x->evacuate_start_ms);
        }
    }
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_return_vms_and_window(void **state)
{
    hvf_fleet *f = hvf_test_inventory(mt_inv);
    int32_t a = hvf_fleet_find_host(f, "a");
    hvf_maint_outcome res;
    hvf_policy pol;
    hvf_plan *p;
    uint32_t home = 0;

    hvf_policy_default(&pol);
    pol.return_vms = true;
    pol.window_start_us = 3600 * 1000000LL;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, &a, 1, &res);
    assert_true(res.finished);
    assert_int_equal(p->hosts[0].evacuate_start_ms, 3600 * 1000);
    /* Each of a's VMs moves out, then back to a after its maintenance. */
    for (size_t i = 0; i < p->nmigrations; i++) {
        if (strcmp(p->migrations[i].to, "a") == 0) {
            home++;
            assert_true(p->migrations[i].start_ms >= p->hosts[0].maintenance_end_ms);
        }
    }
    assert_int_equal(home, 3);
    assert_int_equal(p->nmigrations, 6);
    /* Coming home is not "moved twice". */
    assert_int_equal(p->summary.vms_moved_more_than_once, 0);
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_drain(void **state)
{
    hvf_fleet *f = hvf_test_inventory(mt_inv);
    int32_t hosts[2] = {hvf_fleet_find_host(f, "a"), hvf_fleet_find_host(f, "c")};
    hvf_maint_outcome res;
    hvf_policy pol;
    hvf_plan *p;

    hvf_policy_default(&pol);
    pol.max_parallel_hosts = 2;
    pol.max_parallel_per_rack = 0;
    p = mt_plan(f, &pol, HVF_PLAN_KIND_DRAIN, HVF_PLAN_STRATEGY_HVFLEET, hosts, 2, &res);
    assert_true(res.finished);
    assert_int_equal(p->kind, HVF_PLAN_KIND_DRAIN);
    assert_int_equal(p->nhosts, 2);
    /* Nothing goes to a drained host, nor to the other host being drained. */
    for (size_t i = 0; i < p->nmigrations; i++) {
        assert_string_not_equal(p->migrations[i].to, "a");
        assert_string_not_equal(p->migrations[i].to, "c");
    }
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_impossible(void **state)
{
    /* Two replicas of a host-spread service on the only two hosts: neither can be emptied. */
    hvf_fleet *f =
        hvf_test_inventory("hosts:\n"
                           "  - {name: a, cpus: 8, memory: 32GiB}\n"
                           "  - {name: b, cpus: 8, memory: 32GiB}\n"
                           "services: [{name: s, min_available: 1}]\n"
                           "vms:\n"
                           "  - {name: s1, host: a, vcpus: 1, memory: 2GiB, service: s}\n"
                           "  - {name: s2, host: b, vcpus: 1, memory: 2GiB, service: s}\n");
    int32_t hosts[2] = {0, 1};
    hvf_maint_outcome res;
    hvf_plan *p;
    hvf_policy pol;

    hvf_policy_default(&pol);
    p = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, 2, &res);
    assert_false(res.finished);
    assert_int_equal(p->summary.verdict, HVF_PLAN_VERDICT_REFUSED);
    if (!strstr(p->summary.reasons[0], "(source: 1 host, spread: 1 host)"))
        fail_msg("reason: %s", p->summary.reasons[0]);
    assert_non_null(strstr(p->summary.reasons[0],
                           "host 'a' cannot be evacuated: VM 's1' (2 GiB, 1 vCPUs) fits nowhere "
                           "(source: 1 host, spread: 1 host)"));
    assert_int_equal(p->nmigrations, 0);
    hvf_plan_free(p);
    hvf_fleet_free(f);
}

static void
test_deterministic(void **state)
{
    hvf_generate_params gp;
    hvf_error err = HVF_ERROR_INIT;
    hvf_maint_outcome r1, r2;
    hvf_policy pol;
    hvf_fleet *f;
    hvf_plan *p1, *p2;
    HVF_AUTOFREE int32_t *hosts = NULL;

    hvf_generate_params_init(&gp);
    gp.hosts = 30;
    gp.vms_per_host = 8;
    gp.seed = 9;
    f = hvf_generate_fleet(&gp, &err);
    assert_non_null(f);
    hosts = hvf_calloc(f->nhosts, sizeof(int32_t));
    for (size_t h = 0; h < f->nhosts; h++)
        hosts[h] = (int32_t)h;
    hvf_policy_default(&pol);
    pol.max_parallel_hosts = 3;
    p1 = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, f->nhosts,
                 &r1);
    p2 = mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET, hosts, f->nhosts,
                 &r2);
    assert_string_equal(p1->summary.plan_hash, p2->summary.plan_hash);
    hvf_plan_free(p1);
    hvf_plan_free(p2);
    /* The naive strategy is recorded too, and deterministic as well. */
    p1 =
        mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_NAIVE, hosts, f->nhosts, &r1);
    p2 =
        mt_plan(f, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_NAIVE, hosts, f->nhosts, &r2);
    assert_int_equal(p1->strategy, HVF_PLAN_STRATEGY_NAIVE);
    assert_true(p1->nmigrations > 0);
    assert_string_equal(p1->summary.plan_hash, p2->summary.plan_hash);
    hvf_plan_free(p1);
    hvf_plan_free(p2);
    hvf_fleet_free(f);
}

/* Seed 000's fleet: the hvfleet strategy maintains every host with no over-commitment and no
 * crashed VM, where the naive schedule of the scenario crashes VMs. */
static void
test_storm_fleet(void **state)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_maint_opts o;
    hvf_maint_outcome hv, nv;
    hvf_policy pol;
    char fp[HVF_SHA256_HEX_LEN + 1], given[HVF_SHA256_HEX_LEN + 1];
    hvf_plan *p;

    hvf_diags_init(&d);
    sc = hvf_scenario_load(STORM, &d, &err);
    if (!sc)
        fail_msg("%s: %s", STORM, d.n ? d.lines[0] : err.msg);
    hvf_policy_default(&pol);
    hvf_maint_opts_init(&o);
    o.hosts = sc->naive.hosts;
    o.nhosts = sc->naive.nhosts;
    o.policy = &pol;
    o.sim = &sc->params;
    o.overrides = sc->overrides;
    o.noverrides = sc->noverrides;
    o.naive = &sc->naive;
    p = mt_plan(sc->fleet, &pol, HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET,
                sc->naive.hosts, sc->naive.nhosts, &hv);
    hvf_plan_free(p);
    /* again with the scenario's twin parameters (swap, disks, hung tasks) */
    p = hvf_maintenance_plan(sc->fleet, &o, &hv, &err);
    assert_non_null(p);
    assert_true(hv.finished);
    assert_int_equal(hv.hosts_done, sc->naive.nhosts);
    assert_true(hv.peak_host_memory_ratio <= 1.0);
    assert_int_equal(hv.hosts_over_committed, 0);
    assert_int_equal(hv.vms_crashed, 0);
    assert_int_equal(hv.hosts_crashed, 0);
    assert_int_equal(hv.vms_at_risk, 0);
    assert_int_not_equal(p->summary.verdict, HVF_PLAN_VERDICT_REFUSED);
    /* the fingerprint is the fleet's, computed when not given */
    hvf_plan_inventory_fingerprint(sc->fleet, fp);
    assert_string_equal(p->inventory_fingerprint, fp);
    hvf_plan_free(p);

    /* given (a caller planning the same fleet again), it is taken as is and sealed with it */
    memset(given, 'a', HVF_SHA256_HEX_LEN);
    given[HVF_SHA256_HEX_LEN] = '\0';
    o.inventory_fingerprint = given;
    o.strategy = HVF_PLAN_STRATEGY_NAIVE;
    p = hvf_maintenance_plan(sc->fleet, &o, &nv, &err);
    assert_non_null(p);
    assert_string_equal(p->inventory_fingerprint, given);
    assert_true(hvf_plan_hash_ok(p));
    assert_true(nv.peak_host_memory_ratio > 1.0);
    assert_true(nv.vms_crashed > 0);
    assert_true(nv.vms_at_risk > 0);
    assert_true(nv.peak_concurrent_evacuations > hv.peak_concurrent_evacuations);
    /* The seatbelt refuses what the naive schedule did. */
    assert_int_equal(p->summary.verdict, HVF_PLAN_VERDICT_REFUSED);
    hvf_plan_free(p);

    /* outcome_only (the CLI's comparison): the same figures, no fingerprint, verdict or hash */
    for (int s = 0; s < 2; s++) {
        hvf_maint_outcome full, only;
        hvf_plan *pf, *po;

        o.strategy = s ? HVF_PLAN_STRATEGY_NAIVE : HVF_PLAN_STRATEGY_HVFLEET;
        o.inventory_fingerprint = NULL;
        o.outcome_only = false;
        pf = hvf_maintenance_plan(sc->fleet, &o, &full, &err);
        o.outcome_only = true;
        po = hvf_maintenance_plan(sc->fleet, &o, &only, &err);
        assert_non_null(pf);
        assert_non_null(po);
        assert_memory_equal(&full, &only, sizeof(full));
        assert_int_equal(po->nmigrations, pf->nmigrations);
        assert_string_equal(po->inventory_fingerprint, "");
        assert_string_equal(po->summary.plan_hash, "");
        hvf_plan_free(po);

        /* caller_seals (the CLI hashes the inventory on its other thread): the same plan, with
         * no fingerprint or hash until the caller seals it, then the same hash */
        o.outcome_only = false;
        o.caller_seals = true;
        po = hvf_maintenance_plan(sc->fleet, &o, &only, &err);
        o.caller_seals = false;
        assert_non_null(po);
        assert_memory_equal(&full, &only, sizeof(full));
        assert_string_equal(po->inventory_fingerprint, "");
        assert_string_equal(po->summary.plan_hash, "");
        assert_int_equal(po->summary.verdict, pf->summary.verdict);
        hvf_plan_inventory_fingerprint(sc->fleet, po->inventory_fingerprint);
        hvf_plan_seal(po);
        assert_string_equal(po->summary.plan_hash, pf->summary.plan_hash);
        assert_true(hvf_plan_hash_ok(po));
        hvf_plan_free(pf);
        hvf_plan_free(po);
    }
    o.outcome_only = false;
    hvf_scenario_free(sc);
    hvf_diags_clear(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_converging),
        cmocka_unit_test(test_spread_and_twice),
        cmocka_unit_test(test_drbd_secondary),
        cmocka_unit_test(test_return_vms_and_window),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_impossible),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_storm_fleet),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
