/* SPDX-License-Identifier: MIT */
/*
 * hvfleet simulate --plan PLAN.json --inventory F: runs exactly that plan in the twin, without
 * re-planning, and says where what happened differs from what the plan predicted.
 *
 * The plan's actions become timers at their planned times: a host starts evacuating at
 * evacuate_start, each migration starts at its start to its planned target (with a claim when
 * the plan was made with claims, the hvfleet strategy), each stop and restart at its times, and
 * each host goes into maintenance at maintenance_start for the planned time. Actions at the same
 * instant run in the plan's order. An action whose precondition does not hold yet (a VM still
 * moving, a host not empty or not back from maintenance, a target without room) waits and is
 * retried after every event, in plan order, as an executor waits: it is then late, which the
 * comparison reports. Nothing is re-planned: targets and order are the plan's.
 *
 * Only the public twin API is used (hvfleet/sim.h).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

/* A migration, stop or maintenance counts as different from the plan past this (the plan's
 * times are whole milliseconds; the twin's, microseconds). */
#define SP_TOLERANCE_US (1000 * 1000LL)
/* The run lasts this long past the plan's last time, for actions that come late. */
#define SP_TAIL_US (3600 * 1000 * 1000LL)

typedef enum sp_kind { SP_EVACUATE, SP_STOP, SP_MIGRATE, SP_START, SP_MAINTAIN } sp_kind;

typedef struct sp_action {
    int64_t t_us; /* planned */
    sp_kind kind;
    size_t idx; /* into plan->hosts, migrations or stops */
    bool done;
    int64_t done_us; /* when it ran; -1 until then */
} sp_action;

typedef struct sp_mig_actual {
    int64_t start_us, end_us; /* -1 until then */
    bool aborted;
} sp_mig_actual;

struct hvf_cli_plan_run {
    hvf_plan *plan; /* owned */
    hvf_policy policy;
    int32_t *vm, *from, *to; /* per plan migration: fleet indexes */
    int32_t *host;           /* per plan host */
    int32_t *stop_vm, *stop_host, *stop_start_host;
    sp_action *act; /* sorted by (time, kind, plan order) */
    size_t nact;
    size_t *pending; /* indexes into act: due, waiting for their precondition */
    size_t npending;
    sp_mig_actual *mig;
    int32_t *by_sim_id; /* sim migration id -> plan migration, -1 */
    size_t nby_sim_id;
    int64_t *maint_start_us, *maint_end_us; /* per plan host, actual; -1 */
};

static void
sp_free(void *ctx)
{
    hvf_cli_plan_run *r = ctx;

    if (!r)
        return;
    hvf_plan_free(r->plan);
    free(r->vm);
    free(r->from);
    free(r->to);
    free(r->host);
    free(r->stop_vm);
    free(r->stop_host);
    free(r->stop_start_host);
    free(r->act);
    free(r->pending);
    free(r->mig);
    free(r->by_sim_id);
    free(r->maint_start_us);
    free(r->maint_end_us);
    free(r);
}

static int
sp_action_cmp(const void *a, const void *b)
{
    const sp_action *x = a, *y = b;

    if (x->t_us != y->t_us)
        return x->t_us < y->t_us ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static hvf_sim_strategy
sp_strategy(hvf_plan_migration_mode m)
{
    return m == HVF_PLAN_MIGRATION_AUTO_CONVERGE ? HVF_SIM_STRATEGY_AUTO_CONVERGE
           : m == HVF_PLAN_MIGRATION_POST_COPY   ? HVF_SIM_STRATEGY_POSTCOPY
                                                 : HVF_SIM_STRATEGY_PRECOPY;
}

/* Runs action @a now if it can; false when its precondition does not hold yet. */
static bool
sp_try(hvf_sim *sim, hvf_cli_plan_run *r, sp_action *a)
{
    hvf_error err = HVF_ERROR_INIT;
    const hvf_plan *p = r->plan;

    switch (a->kind) {
    case SP_EVACUATE:
        if (hvf_sim_host_state_get(sim, r->host[a->idx]) == HVF_SIM_HOST_EVACUATING)
            return true;
        return hvf_sim_set_host_state(sim, r->host[a->idx], HVF_SIM_HOST_EVACUATING, &err) == 0;
    case SP_MAINTAIN: {
        const hvf_plan_host *h = &p->hosts[a->idx];
        if (hvf_sim_begin_maintenance(sim, r->host[a->idx],
                                      (h->maintenance_end_ms - h->maintenance_start_ms) * 1000,
                                      &err) < 0)
            return false;
        r->maint_start_us[a->idx] = hvf_sim_now(sim);
        return true;
    }
    case SP_MIGRATE: {
        const hvf_plan_migration *m = &p->migrations[a->idx];
        hvf_sim_migrate_opts o = {.claim = p->strategy == HVF_PLAN_STRATEGY_HVFLEET,
                                  .max_bytes_per_s = r->policy.migration_bandwidth_bytes_per_s,
                                  .strategy = sp_strategy(m->strategy),
                                  .downtime_limit_us = r->policy.downtime_limit_us};
        int32_t id;
        if (hvf_sim_vm_host(sim, r->vm[a->idx]) != r->from[a->idx] ||
            hvf_sim_vm_state_get(sim, r->vm[a->idx]) != HVF_SIM_VM_RUNNING)
            return false;
        id = hvf_sim_start_migration(sim, r->vm[a->idx], r->to[a->idx], &o, &err);
        if (id < 0)
            return false;
        if ((size_t)id >= r->nby_sim_id) {
            size_t n = (size_t)id + 64;
            r->by_sim_id = hvf_realloc(r->by_sim_id, n * sizeof(int32_t));
            for (size_t i = r->nby_sim_id; i < n; i++)
                r->by_sim_id[i] = -1;
            r->nby_sim_id = n;
        }
        r->by_sim_id[id] = (int32_t)a->idx;
        r->mig[a->idx].start_us = hvf_sim_now(sim);
        return true;
    }
    case SP_STOP:
        if (hvf_sim_vm_state_get(sim, r->stop_vm[a->idx]) != HVF_SIM_VM_RUNNING)
            return false;
        return hvf_sim_stop_vm(sim, r->stop_vm[a->idx], &err) == 0;
    case SP_START:
        if (hvf_sim_vm_state_get(sim, r->stop_vm[a->idx]) != HVF_SIM_VM_STOPPED)
            return false;
        return hvf_sim_start_vm(sim, r->stop_vm[a->idx], r->stop_start_host[a->idx], &err) == 0;
    }
    return false;
}

/* Runs the waiting actions that can run now, in plan order; the others keep waiting. */
static void
sp_retry(hvf_sim *sim, hvf_cli_plan_run *r)
{
    size_t keep = 0;

    for (size_t i = 0; i < r->npending; i++) {
        sp_action *a = &r->act[r->pending[i]];
        if (sp_try(sim, r, a)) {
            a->done = true;
            a->done_us = hvf_sim_now(sim);
        } else {
            r->pending[keep++] = r->pending[i];
        }
    }
    r->npending = keep;
}

static void
sp_on_start(hvf_sim *sim, void *ctx)
{
    hvf_cli_plan_run *r = ctx;

    for (size_t i = 0; i < r->nact; i++)
        hvf_sim_add_timer(sim, r->act[i].t_us, (int64_t)i);
}

static void
sp_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    hvf_cli_plan_run *r = ctx;

    if (ev->type == HVF_SIM_EV_TIMER && ev->tag >= 0 && (size_t)ev->tag < r->nact) {
        r->pending[r->npending++] = (size_t)ev->tag;
    } else if ((ev->type == HVF_SIM_EV_MIGRATION_END || ev->type == HVF_SIM_EV_MIGRATION_ABORT) &&
               ev->migration >= 0 && (size_t)ev->migration < r->nby_sim_id &&
               r->by_sim_id[ev->migration] >= 0) {
        sp_mig_actual *m = &r->mig[r->by_sim_id[ev->migration]];
        m->end_us = ev->t_us;
        m->aborted = ev->type == HVF_SIM_EV_MIGRATION_ABORT;
        r->by_sim_id[ev->migration] = -1;
    } else if (ev->type == HVF_SIM_EV_HOST_IN_SERVICE) {
        for (size_t i = 0; i < r->plan->nhosts; i++) {
            if (r->host[i] == ev->host && r->maint_start_us[i] >= 0 && r->maint_end_us[i] < 0)
                r->maint_end_us[i] = ev->t_us;
        }
    }
    sp_retry(sim, r);
}

/* ---- the comparison ------------------------------------------------------------------------ */

typedef struct sp_diff {
    size_t completed, aborted, never, late_start, off_end;
    int64_t worst_us; /* largest |actual end - planned end| */
    size_t worst;     /* its plan migration */
    size_t maint_late, not_maintained, stops_late, stops_never;
    int64_t planned_makespan_us, actual_last_us;
} sp_diff;

static int64_t
sp_abs(int64_t v)
{
    return v < 0 ? -v : v;
}

static void
sp_compare(const hvf_cli_plan_run *r, sp_diff *d)
{
    const hvf_plan *p = r->plan;
    int64_t first_ms = 0, last_ms = 0;

    memset(d, 0, sizeof(*d));
    hvf_plan_span_ms(p, &first_ms, &last_ms);
    d->planned_makespan_us = (last_ms - first_ms) * 1000;
    for (size_t i = 0; i < p->nmigrations; i++) {
        const sp_mig_actual *m = &r->mig[i];
        int64_t dev;
        if (m->start_us < 0 || m->end_us < 0) {
            d->never++;
            continue;
        }
        if (m->aborted) {
            d->aborted++;
            continue;
        }
        d->completed++;
        if (m->start_us - p->migrations[i].start_ms * 1000 > SP_TOLERANCE_US)
            d->late_start++;
        dev = m->end_us - p->migrations[i].end_ms * 1000;
        if (sp_abs(dev) > SP_TOLERANCE_US)
            d->off_end++;
        if (sp_abs(dev) > sp_abs(d->worst_us)) {
            d->worst_us = dev;
            d->worst = i;
        }
        if (m->end_us > d->actual_last_us)
            d->actual_last_us = m->end_us;
    }
    for (size_t i = 0; i < p->nhosts; i++) {
        const hvf_plan_host *h = &p->hosts[i];
        if (h->maintenance_end_ms == h->maintenance_start_ms)
            continue; /* a drain */
        if (r->maint_start_us[i] < 0) {
            d->not_maintained++;
            continue;
        }
        if (r->maint_start_us[i] - h->maintenance_start_ms * 1000 > SP_TOLERANCE_US)
            d->maint_late++;
        if (r->maint_end_us[i] > d->actual_last_us)
            d->actual_last_us = r->maint_end_us[i];
    }
    for (size_t i = 0; i < r->nact; i++) {
        const sp_action *a = &r->act[i];
        if (a->kind != SP_STOP && a->kind != SP_START)
            continue;
        if (!a->done)
            d->stops_never++;
        else if (a->done_us - a->t_us > SP_TOLERANCE_US)
            d->stops_late++;
        if (a->done && a->done_us > d->actual_last_us)
            d->actual_last_us = a->done_us;
    }
    d->actual_last_us -= first_ms * 1000;
}

static json_t *
sp_diff_json(const hvf_cli_plan_run *r, const sp_diff *d)
{
    const hvf_plan *p = r->plan;
    json_t *o = json_pack(
        "{s:s, s:s, s:f, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i, s:i, s:i, s:i, s:f, s:f}",
        "plan_hash", p->summary.plan_hash, "kind", hvf_plan_kind_to_string(p->kind), "tolerance_s",
        SP_TOLERANCE_US / 1e6, "migrations_planned", (int)p->nmigrations, "migrations_completed",
        (int)d->completed, "migrations_aborted", (int)d->aborted, "migrations_not_run",
        (int)d->never, "migrations_started_late", (int)d->late_start, "migrations_ended_off_plan",
        (int)d->off_end, "largest_end_deviation_s", (double)d->worst_us / 1e6,
        "maintenances_started_late", (int)d->maint_late, "hosts_not_maintained",
        (int)d->not_maintained, "stops_late", (int)d->stops_late, "stops_not_run",
        (int)d->stops_never, "planned_makespan_s", (double)d->planned_makespan_us / 1e6,
        "actual_makespan_s", (double)d->actual_last_us / 1e6);

    json_object_set_new(o, "largest_end_deviation_vm",
                        d->worst_us ? json_string(p->migrations[d->worst].vm) : json_null());
    json_object_set_new(o, "as_planned",
                        json_boolean(d->never + d->aborted + d->late_start + d->off_end +
                                         d->maint_late + d->not_maintained + d->stops_late +
                                         d->stops_never ==
                                     0));
    return o;
}

static void
sp_on_finish(hvf_sim *sim, void *ctx)
{
    hvf_cli_plan_run *r = ctx;
    sp_diff d;
    json_t *o;
    char *text;

    sp_compare(r, &d);
    o = sp_diff_json(r, &d);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    hvf_sim_add_summary(sim, "plan_run", text);
    free(text);
    json_decref(o);
}

void
hvf_cli_plan_run_print(const hvf_cli_plan_run *r)
{
    const hvf_plan *p = r->plan;
    sp_diff d;
    char a[48], b[48];

    sp_compare(r, &d);
    printf("plan %.12s (%s) run in the twin as it stands, not re-planned: %zu of %zu "
           "migration%s completed\n",
           p->summary.plan_hash, hvf_plan_kind_to_string(p->kind), d.completed, p->nmigrations,
           HVF_CLI_S(p->nmigrations));
    printf("  makespan             planned %s, in the twin %s\n",
           hvf_units_format_duration(d.planned_makespan_us, a, sizeof(a)),
           hvf_units_format_duration(d.actual_last_us, b, sizeof(b)));
    if (d.never + d.aborted + d.late_start + d.off_end + d.maint_late + d.not_maintained +
            d.stops_late + d.stops_never ==
        0) {
        printf("  differences          none beyond %.0f s: every action ran when and where "
               "planned\n",
               SP_TOLERANCE_US / 1e6);
        return;
    }
    printf("  differences          (beyond %.0f s)\n", SP_TOLERANCE_US / 1e6);
    if (d.off_end)
        printf("    %zu migration%s ended off the plan, the largest %s%s (%s)\n", d.off_end,
               HVF_CLI_S(d.off_end), d.worst_us < 0 ? "-" : "+",
               hvf_units_format_duration(sp_abs(d.worst_us), a, sizeof(a)),
               p->migrations[d.worst].vm);
    if (d.late_start)
        printf("    %zu migration%s started late (waited for the VM, its target or its source)\n",
               d.late_start, HVF_CLI_S(d.late_start));
    if (d.aborted)
        printf("    %zu migration%s aborted\n", d.aborted, HVF_CLI_S(d.aborted));
    if (d.never)
        printf("    %zu migration%s never ran: its precondition never held\n", d.never,
               HVF_CLI_S(d.never));
    if (d.maint_late)
        printf("    %zu maintenance%s started late (the host emptied later than planned)\n",
               d.maint_late, d.maint_late == 1 ? "" : "s");
    if (d.not_maintained)
        printf("    %zu host%s never emptied, not maintained\n", d.not_maintained,
               HVF_CLI_S(d.not_maintained));
    if (d.stops_late || d.stops_never)
        printf("    %zu stop%s or restart%s late, %zu never done\n", d.stops_late,
               HVF_CLI_S(d.stops_late), HVF_CLI_S(d.stops_late), d.stops_never);
}

/* ---- set-up ------------------------------------------------------------------------------- */

static void
sp_add(hvf_cli_plan_run *r, int64_t t_ms, sp_kind kind, size_t idx)
{
    r->act[r->nact++] = (sp_action){t_ms * 1000, kind, idx, false, -1};
}

/* Resolves every name of the plan in @f (hvf_plan_check already found them). */
static void
sp_resolve(hvf_cli_plan_run *r, const hvf_fleet *f)
{
    const hvf_plan *p = r->plan;

    r->vm = hvf_calloc(p->nmigrations + 1, sizeof(int32_t));
    r->from = hvf_calloc(p->nmigrations + 1, sizeof(int32_t));
    r->to = hvf_calloc(p->nmigrations + 1, sizeof(int32_t));
    r->mig = hvf_calloc(p->nmigrations + 1, sizeof(sp_mig_actual));
    r->host = hvf_calloc(p->nhosts + 1, sizeof(int32_t));
    r->maint_start_us = hvf_calloc(p->nhosts + 1, sizeof(int64_t));
    r->maint_end_us = hvf_calloc(p->nhosts + 1, sizeof(int64_t));
    r->stop_vm = hvf_calloc(p->nstops + 1, sizeof(int32_t));
    r->stop_host = hvf_calloc(p->nstops + 1, sizeof(int32_t));
    r->stop_start_host = hvf_calloc(p->nstops + 1, sizeof(int32_t));
    r->act = hvf_calloc(2 * p->nhosts + p->nmigrations + 2 * p->nstops + 1, sizeof(sp_action));
    r->pending = hvf_calloc(2 * p->nhosts + p->nmigrations + 2 * p->nstops + 1, sizeof(size_t));
    for (size_t i = 0; i < p->nhosts; i++) {
        const hvf_plan_host *h = &p->hosts[i];
        r->host[i] = hvf_fleet_find_host(f, h->host);
        r->maint_start_us[i] = r->maint_end_us[i] = -1;
        sp_add(r, h->evacuate_start_ms, SP_EVACUATE, i);
        if (h->maintenance_end_ms > h->maintenance_start_ms)
            sp_add(r, h->maintenance_start_ms, SP_MAINTAIN, i);
    }
    for (size_t i = 0; i < p->nmigrations; i++) {
        const hvf_plan_migration *m = &p->migrations[i];
        r->vm[i] = hvf_fleet_find_vm(f, m->vm);
        r->from[i] = hvf_fleet_find_host(f, m->from);
        r->to[i] = hvf_fleet_find_host(f, m->to);
        r->mig[i] = (sp_mig_actual){-1, -1, false};
        sp_add(r, m->start_ms, SP_MIGRATE, i);
    }
    for (size_t i = 0; i < p->nstops; i++) {
        const hvf_plan_stop *s = &p->stops[i];
        r->stop_vm[i] = hvf_fleet_find_vm(f, s->vm);
        r->stop_host[i] = hvf_fleet_find_host(f, s->host);
        r->stop_start_host[i] = hvf_fleet_find_host(f, s->start_host);
        sp_add(r, s->stop_ms, SP_STOP, i);
        sp_add(r, s->start_ms, SP_START, i);
    }
    qsort(r->act, r->nact, sizeof(sp_action), sp_action_cmp);
}

hvf_sim *
hvf_cli_plan_sim_new(const char *plan_path, const char *inventory, const char *policy_path,
                     const uint64_t *seed, hvf_cli_plan_run **run, int *rc)
{
    hvf_cli_plan_run *r = hvf_calloc(1, sizeof(*r));
    hvf_sim_controller ctl = {.name = "plan",
                              .ctx = r,
                              .on_start = sp_on_start,
                              .on_event = sp_on_event,
                              .on_finish = sp_on_finish,
                              .free_ctx = sp_free};
    hvf_sim_params params;
    hvf_diags problems;
    hvf_fleet *f;
    hvf_sim *sim;
    int64_t first_ms = 0, last_ms = 0;
    char name[64];

    *run = NULL;
    if (hvf_cli_plan_is_change(plan_path)) {
        fprintf(stderr,
                "hvfleet: simulate: --plan '%s' is a change plan; expected a "
                "maintenance, drain or rebalance plan (hvfleet.plan/v1)\n",
                plan_path);
        *rc = 2;
        sp_free(r);
        return NULL;
    }
    if ((*rc = hvf_cli_load_policy(policy_path, &r->policy)) != 0 ||
        !(r->plan = hvf_cli_load_plan(plan_path, rc))) {
        sp_free(r);
        return NULL;
    }
    if (!(f = hvf_cli_load_fleet(inventory, rc))) {
        sp_free(r);
        return NULL;
    }
    /* The plan must be the one made (its hash) for this very inventory (its fingerprint), with
     * every host and VM where it expects them: what plan check verifies before a real run. */
    hvf_diags_init(&problems);
    if (hvf_plan_check(r->plan, f, &problems) > 0) {
        fprintf(stderr, "hvfleet: simulate: refused: plan '%s' does not fit '%s' (%zu problem%s)\n",
                plan_path, inventory, problems.total, HVF_CLI_S(problems.total));
        for (size_t i = 0; i < problems.n; i++)
            fprintf(stderr, "  - %s\n", problems.lines[i]);
        hvf_diags_clear(&problems);
        hvf_fleet_free(f);
        sp_free(r);
        *rc = 2;
        return NULL;
    }
    hvf_diags_clear(&problems);
    sp_resolve(r, f);

    /* The twin as the planner ran it: its defaults with the policy's share of the NIC and
     * downtime limit (hvfleet/maintenance.h). */
    hvf_sim_params_default(&params);
    params.migration_nic_share = r->policy.migration_share;
    params.downtime_limit_us = r->policy.downtime_limit_us;
    if (seed)
        params.seed = *seed;
    hvf_plan_span_ms(r->plan, &first_ms, &last_ms);
    if (params.duration_us < last_ms * 1000 + SP_TAIL_US)
        params.duration_us = last_ms * 1000 + SP_TAIL_US;
    sim = hvf_sim_new(f, &params, NULL, 0);
    hvf_fleet_free(f);
    snprintf(name, sizeof(name), "plan-%.12s", r->plan->summary.plan_hash);
    hvf_sim_set_name(sim, name);
    hvf_sim_set_controller(sim, &ctl); /* the simulation owns r from here */
    *run = r;
    *rc = 0;
    return sim;
}

const char *
hvf_cli_plan_run_hash(const hvf_cli_plan_run *r)
{
    return r->plan->summary.plan_hash;
}
