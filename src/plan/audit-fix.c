/* SPDX-License-Identifier: MIT */
/*
 * The audit's fixes: moves chosen with the placer on a working copy of the fleet, one at a time,
 * the findings computed again after each; then the moves as a plan (kind rebalance) timed with
 * the live-migration model and checked by the seatbelt.
 */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/placement.h"
#include "hvfleet/seatbelt.h"
#include "hvfleet/units.h"
#include "plan/audit-priv.h"

typedef struct fix_ctx {
    hvf_fleet *w; /* owned working copy */
    hvf_placer *placer;
    bool *moved;              /* per VM */
    hvf_audit_finding *stuck; /* findings no move can fix, owned */
    size_t nstuck;
    hvf_audit *a;
} fix_ctx;

static bool
fix_same(const hvf_audit_finding *x, const hvf_audit_finding *y)
{
    return x->kind == y->kind && x->level == y->level && x->domain == y->domain &&
           x->service == y->service && x->other == y->other;
}

static bool
fix_is_stuck(const fix_ctx *c, const hvf_audit_finding *x)
{
    for (size_t i = 0; i < c->nstuck; i++) {
        if (fix_same(&c->stuck[i], x))
            return true;
    }
    return false;
}

static void
fix_mark_stuck(fix_ctx *c, const hvf_audit_finding *x)
{
    c->stuck = hvf_realloc(c->stuck, (c->nstuck + 1) * sizeof(hvf_audit_finding));
    c->stuck[c->nstuck++] = *x;
}

/* Moves @service needs so that losing @domain leaves it min_available (0: none, -1: it cannot
 * be made to survive every single loss at this level by moving, so this one is not worth it). */
static int
fix_moves_needed(const fix_ctx *c, int32_t service, hvf_spread level, int32_t domain,
                 bool whole_level)
{
    uint32_t alive, in, need = audit_needed(&c->w->services[service]);
    uint32_t spare;

    audit_count(c->w, service, level, domain, &alive, &in);
    spare = alive > need ? alive - need : 0;
    if (in <= spare)
        return 0;
    /* spreading only helps when every domain can hold at most `spare` of them */
    if (whole_level && (spare == 0 || (uint64_t)spare * audit_ndomains(c->w, level) < alive))
        return -1;
    return (int)(in - spare);
}

/* The services that break @side at the domain: itself or what it depends on, directly broken. */
static size_t
fix_roots(const fix_ctx *c, int32_t side, hvf_spread level, int32_t domain, int32_t *roots,
          bool *seen)
{
    size_t n = 0, head = 0, nq = 0;
    HVF_AUTOFREE int32_t *q = hvf_malloc((c->w->nservices + 1) * sizeof(int32_t));

    q[nq++] = side;
    seen[side] = true;
    while (head < nq) {
        int32_t s = q[head++];
        const hvf_service *svc = &c->w->services[s];
        if (fix_moves_needed(c, s, level, domain, false) > 0)
            roots[n++] = s;
        for (size_t k = 0; k < svc->nrel[HVF_SERVICE_DEPENDS_ON]; k++) {
            int32_t d = svc->rel[HVF_SERVICE_DEPENDS_ON][k];
            if (!seen[d]) {
                seen[d] = true;
                q[nq++] = d;
            }
        }
    }
    for (size_t i = 0; i < nq; i++)
        seen[q[i]] = false;
    return n;
}

/*
 * Which services to move out of the finding's domain, best first, into @t (up to 2): the
 * service itself (replicas), the broken dependency (dependency), or for a shared fate a broken
 * service of each side, the side that costs fewer moves to keep working first. Returns how many.
 */
static size_t
fix_pick_services(const fix_ctx *c, const hvf_audit_finding *x, int32_t t[2])
{
    size_t ns = c->w->nservices;
    HVF_AUTOFREE int32_t *ra = NULL, *rb = NULL;
    HVF_AUTOFREE bool *seen = NULL;
    size_t na, nb;
    int cost[2] = {0, 0};

    if (x->kind == HVF_AUDIT_REPLICAS || x->kind == HVF_AUDIT_DEPENDENCY) {
        t[0] = x->kind == HVF_AUDIT_REPLICAS ? x->service : x->other;
        return fix_moves_needed(c, t[0], x->level, x->domain, true) > 0 ? 1 : 0;
    }
    ra = hvf_malloc((ns + 1) * sizeof(int32_t));
    rb = hvf_malloc((ns + 1) * sizeof(int32_t));
    seen = hvf_calloc(ns + 1, sizeof(bool));
    na = fix_roots(c, x->service, x->level, x->domain, ra, seen);
    nb = fix_roots(c, x->other, x->level, x->domain, rb, seen);
    for (size_t i = 0; i < na; i++)
        cost[0] += fix_moves_needed(c, ra[i], x->level, x->domain, false);
    for (size_t i = 0; i < nb; i++)
        cost[1] += fix_moves_needed(c, rb[i], x->level, x->domain, false);
    if (na > 0 && (nb == 0 || cost[0] <= cost[1])) {
        t[0] = ra[0];
        if (nb > 0)
            t[1] = rb[0];
        return nb > 0 ? 2 : 1;
    }
    if (nb > 0) {
        t[0] = rb[0];
        if (na > 0)
            t[1] = ra[0];
        return na > 0 ? 2 : 1;
    }
    return 0;
}

/* The lowest-index replica of @service in the domain that may move (running, host active). */
static int32_t
fix_pick_vm(const fix_ctx *c, int32_t service, hvf_spread level, int32_t domain)
{
    for (size_t v = 0; v < c->w->nvms; v++) {
        const hvf_vm *vm = &c->w->vms[v];
        if (vm->service == service && !c->moved[v] && vm->migratable &&
            c->w->hosts[vm->host].state == HVF_HOST_STATE_ACTIVE &&
            audit_domain_of(c->w, level, vm->host) == domain)
            return (int32_t)v;
    }
    return -1;
}

/*
 * A target for @vm outside the finding's domain, best first:
 *   tier 0: a host none of whose domains (at any audited level) holds a replica of the VM's
 *           service or, for a shared fate, of either service of the pair: one move then fixes
 *           the host, rack and zone at once;
 *   tier 1: a host whose domain at the finding's level holds no replica of the service;
 *   tier 2: any host outside the finding's domain.
 * Hosts are taken out of the placer's choice by marking them offline for the call.
 */
static int32_t
fix_pick_target(fix_ctx *c, int32_t vm, const hvf_audit_finding *x)
{
    hvf_fleet *w = c->w;
    int32_t service = w->vms[vm].service;
    bool *held[HVF_SPREAD_LAST] = {NULL, NULL, NULL};
    HVF_AUTOFREE bool *mine = NULL;
    hvf_place_request req = {
        .need = hvf_vm_resources(&w->vms[vm]), .service = service, .source = w->vms[vm].host};
    hvf_place_result res;
    int32_t pick = -1;

    hvf_place_request_pin(&req, &w->vms[vm]);
    for (int l = 0; l < HVF_SPREAD_LAST; l++)
        held[l] = hvf_calloc(audit_ndomains(w, (hvf_spread)l) + 1, sizeof(bool));
    mine = hvf_calloc(audit_ndomains(w, x->level) + 1, sizeof(bool));
    for (size_t v = 0; v < w->nvms; v++) {
        int32_t s = w->vms[v].service;
        bool avoid = s == service || (x->kind == HVF_AUDIT_SHARED_FATE && s >= 0 &&
                                      (s == x->service || s == x->other));
        if (!avoid)
            continue;
        for (int l = 0; l < HVF_SPREAD_LAST; l++)
            held[l][audit_domain_of(w, (hvf_spread)l, w->vms[v].host)] = true;
        if (s == service)
            mine[audit_domain_of(w, x->level, w->vms[v].host)] = true;
    }
    for (int tier = 0; tier < 3 && pick < 0; tier++) {
        for (size_t h = 0; h < w->nhosts; h++) {
            int32_t d = audit_domain_of(w, x->level, (int32_t)h);
            bool out = d == x->domain || (tier == 1 && mine[d]);
            for (int l = 0; tier == 0 && l < HVF_SPREAD_LAST && !out; l++)
                out = audit_ndomains(w, (hvf_spread)l) > 1 &&
                      held[l][audit_domain_of(w, (hvf_spread)l, (int32_t)h)];
            if (out)
                hvf_placer_set_role(c->placer, (int32_t)h, HVF_PLACE_ROLE_OFFLINE);
        }
        pick = hvf_placer_choose(c->placer, &req, &res);
        for (size_t h = 0; h < w->nhosts; h++) {
            if (hvf_placer_get_role(c->placer, (int32_t)h) == HVF_PLACE_ROLE_OFFLINE)
                hvf_placer_set_role(c->placer, (int32_t)h, HVF_PLACE_ROLE_NORMAL);
        }
    }
    for (int l = 0; l < HVF_SPREAD_LAST; l++)
        free(held[l]);
    return pick;
}

/* Moves @vm to @to in the working copy and the placer's view of it. */
static void
fix_move(fix_ctx *c, int32_t vm, int32_t to)
{
    hvf_fleet *w = c->w;
    hvf_vm *v = &w->vms[vm];
    hvf_resources r = hvf_vm_resources(v);
    hvf_error err = HVF_ERROR_INIT;
    int32_t from = v->host;

    HVF_ASSERT(hvf_host_release_used(&w->hosts[from], &r, &err) == 0);
    HVF_ASSERT(hvf_host_use(&w->hosts[to], &r, HVF_OVERCOMMIT, &err) == 0);
    hvf_vm_moved(v, to);
    hvf_placer_host_changed(c->placer, from);
    hvf_placer_host_changed(c->placer, to);
    hvf_placer_replica_remove(c->placer, v->service, from);
    hvf_placer_replica_add(c->placer, v->service, to);
}

static void
fix_record(fix_ctx *c, int32_t vm, int32_t from, int32_t to, const hvf_audit_finding *why)
{
    hvf_audit *a = c->a;

    c->moved[vm] = true;
    if (a->nremedied == 0 || !fix_same(&a->remedied[a->nremedied - 1], why)) {
        a->remedied = hvf_realloc(a->remedied, (a->nremedied + 1) * sizeof(hvf_audit_finding));
        a->remedied[a->nremedied++] = *why;
    }
    a->moves = hvf_realloc(a->moves, (a->nmoves + 1) * sizeof(hvf_audit_move));
    a->moves[a->nmoves++] = (hvf_audit_move){vm, from, to, a->nremedied - 1};
}

/* Findings in @x (of @n) about the same thing as @key, wherever they are. */
static size_t
fix_count_key(const hvf_audit_finding *x, size_t n, const hvf_audit_finding *key)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += x[i].kind == key->kind && x[i].service == key->service && x[i].other == key->other;
    return k;
}

/*
 * One step: a move for the first finding that can still be fixed. A move is kept only when the
 * finding it was chosen for occurs in fewer domains afterwards (moving a replica from one single
 * point of failure to another is no fix) and the findings overall are no more numerous (racks
 * and zones count). False when no finding is left to try.
 */
static bool
fix_step(fix_ctx *c)
{
    hvf_audit_finding *raw = NULL, *after = NULL;
    size_t n = audit_find_all(c->w, false, &raw);
    bool progress = false;

    for (size_t i = 0; i < n && !progress; i++) {
        const hvf_audit_finding *x = &raw[i];
        int32_t t[2] = {-1, -1}, vm = -1, to = -1, from;
        size_t left, same, nt;

        if (fix_is_stuck(c, x))
            continue;
        nt = fix_pick_services(c, x, t);
        for (size_t k = 0; k < nt && to < 0; k++) {
            vm = fix_pick_vm(c, t[k], x->level, x->domain);
            to = vm >= 0 ? fix_pick_target(c, vm, x) : -1;
        }
        if (to < 0) {
            fix_mark_stuck(c, x);
            continue;
        }
        from = c->w->vms[vm].host;
        fix_move(c, vm, to);
        left = audit_find_all(c->w, false, &after);
        same = fix_count_key(after, left, x);
        free(after);
        after = NULL;
        if (left > n || same >= fix_count_key(raw, n, x)) {
            fix_move(c, vm, from);
            fix_mark_stuck(c, x);
            continue;
        }
        fix_record(c, vm, from, to, x);
        progress = true;
    }
    free(raw);
    return progress;
}

hvf_audit *
hvf_audit_run(const hvf_fleet *fleet, const hvf_policy *policy)
{
    hvf_audit *a = HVF_NEW(hvf_audit);
    fix_ctx c = {0};

    for (int l = 0; l < HVF_SPREAD_LAST; l++)
        a->audited[l] = audit_ndomains(fleet, (hvf_spread)l) > 1;
    a->nfindings = audit_find_all(fleet, true, &a->findings);
    if (a->nfindings == 0)
        return a;
    c.a = a;
    c.w = hvf_fleet_dup(fleet);
    c.placer = hvf_placer_new(c.w, policy);
    c.moved = hvf_calloc(fleet->nvms + 1, sizeof(bool));
    /* each step moves a VM that never moved, or marks a finding stuck: it ends */
    while (fix_step(&c))
        ;
    a->nremaining = audit_find_all(c.w, true, &a->remaining);
    hvf_placer_free(c.placer);
    hvf_fleet_free(c.w);
    free(c.moved);
    free(c.stuck);
    return a;
}

void
hvf_audit_free(hvf_audit *a)
{
    if (!a)
        return;
    free(a->findings);
    free(a->moves);
    free(a->remedied);
    free(a->remaining);
    free(a);
}

/* Times one move with the migration model; post-copy when pre-copy and auto-converge fail. */
static void
fix_estimate(const hvf_fleet *f, const hvf_policy *pol, const hvf_audit_move *m,
             hvf_migrate_result *res, hvf_plan_migration_mode *mode)
{
    const hvf_vm *vm = &f->vms[m->vm];
    hvf_migrate_params p;
    hvf_error err = HVF_ERROR_INIT;
    double nic = f->hosts[m->from].nic_bytes_per_s < f->hosts[m->to].nic_bytes_per_s
                     ? f->hosts[m->from].nic_bytes_per_s
                     : f->hosts[m->to].nic_bytes_per_s;
    double bw = nic;
    static const hvf_migrate_strategy order[] = {HVF_MIGRATE_STRATEGY_PRECOPY,
                                                 HVF_MIGRATE_STRATEGY_AUTO_CONVERGE,
                                                 HVF_MIGRATE_STRATEGY_POSTCOPY};
    static const hvf_plan_migration_mode modes[] = {
        HVF_PLAN_MIGRATION_PRECOPY, HVF_PLAN_MIGRATION_AUTO_CONVERGE, HVF_PLAN_MIGRATION_POST_COPY};

    bw *= pol->migration_share;
    if (pol->migration_bandwidth_bytes_per_s > 0 && pol->migration_bandwidth_bytes_per_s < bw)
        bw = pol->migration_bandwidth_bytes_per_s;
    hvf_migrate_params_default(&p);
    p.mem_bytes = vm->mem_mib * HVF_MIB;
    p.dirty_bytes_per_s = vm->dirty_bytes_per_s;
    p.working_set_bytes = vm->working_set_mib * HVF_MIB;
    p.bandwidth_bytes_per_s = bw;
    /* QEMU lifts the cap for the paused copy: it runs at the slower NIC, as the planner has it */
    p.link_bytes_per_s = nic > bw ? nic : bw;
    p.downtime_limit_us = pol->downtime_limit_us;
    for (size_t i = 0; i < HVF_ARRAY_LEN(order); i++) {
        p.strategy = order[i];
        *mode = modes[i];
        memset(res, 0, sizeof(*res));
        if (hvf_migrate_estimate_figures(&p, res, &err) < 0) {
            /* a VM the model refuses (no memory): count a switchover, keep the plan whole */
            res->total_us = p.switchover_us;
            res->converged = true;
        }
        if (res->converged)
            return;
    }
}

hvf_plan *
hvf_audit_fix_plan(const hvf_audit *a, const hvf_fleet *fleet, const hvf_policy *policy)
{
    hvf_plan *plan = hvf_plan_new(HVF_PLAN_KIND_REBALANCE, HVF_PLAN_STRATEGY_HVFLEET);
    hvf_policy defaults;
    hvf_fleet *w = hvf_fleet_dup(fleet);
    hvf_error err = HVF_ERROR_INIT;
    int64_t t_ms = 0;
    double peak = 0;

    if (!policy) {
        hvf_policy_default(&defaults);
        policy = &defaults;
    }
    hvf_plan_inventory_fingerprint(fleet, plan->inventory_fingerprint);
    for (size_t h = 0; h < w->nhosts; h++) {
        hvf_resources u = hvf_host_usable(&w->hosts[h]);
        if (u.mem_mib > 0 && (double)w->hosts[h].used.mem_mib / (double)u.mem_mib > peak)
            peak = (double)w->hosts[h].used.mem_mib / (double)u.mem_mib;
    }
    for (size_t i = 0; i < a->nmoves; i++) {
        const hvf_audit_move *m = &a->moves[i];
        hvf_plan_migration *pm = hvf_plan_add_migration(
            plan, fleet->vms[m->vm].name, fleet->hosts[m->from].name, fleet->hosts[m->to].name);
        hvf_resources r = hvf_vm_resources(&w->vms[m->vm]);
        hvf_resources u = hvf_host_usable(&w->hosts[m->to]);
        hvf_migrate_result res;
        hvf_plan_migration_mode mode;

        fix_estimate(fleet, policy, m, &res, &mode);
        pm->start_ms = t_ms;
        pm->end_ms = t_ms + (res.total_us + 999) / 1000;
        pm->memory_mib = fleet->vms[m->vm].mem_mib;
        pm->downtime_us = res.downtime_us;
        pm->rounds = res.rounds;
        pm->converged = res.converged;
        pm->strategy = mode;
        t_ms = pm->end_ms;
        /* one move at a time, claimed on the target: used + claimed while it runs */
        HVF_ASSERT(hvf_host_claim(&w->hosts[m->to], &r, HVF_OVERCOMMIT, &err) == 0);
        if (u.mem_mib > 0) {
            double ratio =
                (double)(w->hosts[m->to].used.mem_mib + w->hosts[m->to].claimed.mem_mib) /
                (double)u.mem_mib;
            peak = ratio > peak ? ratio : peak;
        }
        HVF_ASSERT(hvf_host_commit(&w->hosts[m->to], &r, &err) == 0);
        HVF_ASSERT(hvf_host_release_used(&w->hosts[m->from], &r, &err) == 0);
        hvf_vm_moved(&w->vms[m->vm], m->to);
        if (!res.converged || mode != HVF_PLAN_MIGRATION_PRECOPY)
            hvf_plan_add_non_converging(plan, fleet->vms[m->vm].name,
                                        mode == HVF_PLAN_MIGRATION_POST_COPY
                                            ? HVF_NON_CONVERGING_POST_COPY
                                            : HVF_NON_CONVERGING_AUTO_CONVERGE);
    }
    plan->summary.makespan_ms = t_ms;
    plan->summary.max_parallel_hosts_seen = 0;
    plan->summary.peak_host_memory_ppm = hvf_plan_ppm(peak);
    hvf_seatbelt_evaluate(plan, policy, fleet);
    hvf_plan_seal(plan);
    hvf_fleet_free(w);
    return plan;
}
