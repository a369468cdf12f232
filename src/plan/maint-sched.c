/* SPDX-License-Identifier: MIT */
/*
 * The hvfleet strategy as a scenario's maintenance scheduler (`scheduler: hvfleet`): when the
 * maintenance starts, hvfleet plans it as `hvfleet plan maintenance` would and the seatbelt
 * judges the plan; a plan that needs a person waits for one: the scenario says how long after
 * the plan is made a person approves it (`maintenance.approval_delay`, a `decision` incident
 * event then), and without it nobody does and it does not run; a refused one does not run
 * either; then the planner's own controller runs it in the twin.
 * Registered in the twin's table of schedulers (hvfleet/sim-sched.h) by the programs that want
 * it, so that sim/ never depends on plan/.
 */
#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"
#include "plan/maint-ctl.h"

typedef struct msched {
    hvf_sim_controller inner; /* the planner's controller (mctl) */
    mctl *m;
    hvf_plan *live; /* what the controller records as it runs (it needs one) */
    hvf_policy pol; /* as the scenario gives it: the plan's time zero is the start */
    int32_t *hosts; /* active hosts to maintain */
    size_t nhosts;
    int64_t start_us;                 /* the scenario's maintenance start */
    hvf_sim_host_override *overrides; /* owned copies, for the plan made at the start */
    size_t noverrides;
    bool gated; /* the start went through the seatbelt */
    int64_t approval_delay_us; /* -1: nobody approves a plan that needs it */
    char plan_hash[16];        /* the plan waiting for approval */
    hvf_sim_event start_ev;    /* the controller's start, held until the approval */
} msched;

/* The timer of the approval; the planner's controller uses MCTL_TAG_START only. */
#define MS_TAG_APPROVED 0x61707072 /* "appr" */

typedef enum ms_gate_result { MS_GO, MS_WAIT, MS_NO } ms_gate_result;

static void
ms_free(void *ctx)
{
    msched *s = ctx;

    if (!s)
        return;
    mctl_free(s->m);
    hvf_plan_free(s->live);
    free(s->hosts);
    for (size_t i = 0; i < s->noverrides; i++)
        free(s->overrides[i].hosts);
    free(s->overrides);
    free(s);
}

/* The reasons, "; "-separated, for the event log. */
static void
ms_reasons(const hvf_plan *p, hvf_strbuf *sb)
{
    for (size_t i = 0; i < p->summary.nreasons; i++)
        hvf_strbuf_printf(sb, "%s%s", i ? "; " : "", p->summary.reasons[i]);
}

/*
 * The maintenance is due: plan it on the fleet as the twin has it now, with the twin's
 * parameters and no knowledge of faults to come, and let the seatbelt judge. Returns MS_GO to
 * start now, MS_WAIT when a person approves it later (a timer is set), MS_NO when it does not
 * start: refused, or it needs an approval nobody gives.
 */
static ms_gate_result
ms_gate(msched *s, hvf_sim *sim)
{
    hvf_maint_opts o;
    hvf_maint_outcome res;
    hvf_sim_params params = *hvf_sim_params_get(sim);
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf why = HVF_STRBUF_INIT;
    hvf_plan *plan;
    char span[32];
    ms_gate_result go;

    hvf_sim_log(sim, "maintenance_window", -1, -1, "the maintenance opens (scheduler hvfleet)");
    hvf_maint_opts_init(&o);
    o.hosts = s->hosts;
    o.nhosts = s->nhosts;
    o.policy = &s->pol;
    o.sim = &params;
    o.overrides = s->overrides;
    o.noverrides = s->noverrides;
    plan = hvf_maintenance_plan(hvf_sim_fleet(sim), &o, &res, &err);
    if (!plan) {
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "no maintenance: it cannot be planned: %s", err.msg);
        return MS_NO;
    }
    ms_reasons(plan, &why);
    {
        HVF_AUTOFREE char *detail = hvf_asprintf(
            "plan %.12s: %zu hosts, %zu migrations, %zu stops, makespan %s, verdict %s",
            plan->summary.plan_hash, plan->nhosts, plan->nmigrations, plan->nstops,
            hvf_units_format_duration(plan->summary.makespan_ms * HVF_US_PER_MS, span,
                                      sizeof(span)),
            hvf_plan_verdict_to_string(plan->summary.verdict));
        hvf_sim_log(sim, "maintenance_plan", -1, -1, detail);
    }
    switch (plan->summary.verdict) {
    case HVF_PLAN_VERDICT_AUTO:
        go = MS_GO;
        break;
    case HVF_PLAN_VERDICT_NEEDS_APPROVAL:
        /* The seatbelt's point: a person reads these reasons and approves this exact plan,
         * which takes them the time the scenario says; the decision is theirs, then. */
        if (s->approval_delay_us < 0) {
            HVF_AUTOFREE char *detail = hvf_asprintf(
                "plan %.12s needs approval and nobody approves it (the scenario gives no "
                "maintenance.approval_delay); the maintenance does not start: %s",
                plan->summary.plan_hash, why.buf ? why.buf : "");
            hvf_sim_log(sim, "maintenance_unapproved", -1, -1, detail);
            go = MS_NO;
        } else {
            HVF_AUTOFREE char *detail = hvf_asprintf(
                "plan %.12s needs approval; a person approves it after %s: %s",
                plan->summary.plan_hash,
                hvf_units_format_duration(s->approval_delay_us, span, sizeof(span)),
                why.buf ? why.buf : "");
            hvf_sim_log(sim, "approval_requested", -1, -1, detail);
            snprintf(s->plan_hash, sizeof(s->plan_hash), "%.12s", plan->summary.plan_hash);
            hvf_sim_add_timer(sim, hvf_sim_now(sim) + s->approval_delay_us, MS_TAG_APPROVED);
            go = MS_WAIT;
        }
        break;
    default:
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "plan %.12s is refused; the maintenance does not start: %s",
                         plan->summary.plan_hash, why.buf ? why.buf : "");
        go = MS_NO;
        break;
    }
    hvf_strbuf_clear(&why);
    hvf_plan_free(plan);
    return go;
}

static void
ms_on_start(hvf_sim *sim, void *ctx)
{
    msched *s = ctx;

    s->inner.on_start(sim, s->inner.ctx);
}

static void
ms_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    msched *s = ctx;

    /* The controller's start timer is the moment the maintenance is due. */
    if (ev->type == HVF_SIM_EV_TIMER && ev->tag == MCTL_TAG_START && !s->gated) {
        s->gated = true;
        switch (ms_gate(s, sim)) {
        case MS_GO:
            break;
        case MS_WAIT:
            s->start_ev = *ev; /* the controller starts once approved */
            return;
        case MS_NO:
            return; /* the controller never starts */
        }
    }
    if (ev->type == HVF_SIM_EV_TIMER && ev->tag == MS_TAG_APPROVED) {
        hvf_sim_event start = s->start_ev;
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "plan %s approved by a person (maintenance.approval_delay)",
                         s->plan_hash);
        start.t_us = ev->t_us;
        s->inner.on_event(sim, &start, s->inner.ctx);
        return;
    }
    s->inner.on_event(sim, ev, s->inner.ctx);
}

/* The twin applies the policy's share of each NIC and downtime limit, as plan maintenance
 * does. */
static void
ms_prepare(const hvf_scenario *sc, hvf_sim_params *params)
{
    params->migration_nic_share = sc->policy.migration_share;
    params->downtime_limit_us = sc->policy.downtime_limit_us;
}

static int
ms_attach(hvf_sim *sim, const hvf_scenario *sc, hvf_error *err)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    msched *s = HVF_NEW(msched);
    hvf_sim_controller ctl = {0};
    hvf_policy live;
    hvf_maint_opts o;

    s->pol = sc->policy;
    s->start_us = sc->naive.start_us;
    s->approval_delay_us = sc->approval_delay_us;
    s->hosts = hvf_calloc(sc->naive.nhosts + 1, sizeof(int32_t));
    /* Like `plan maintenance --hosts all`: hosts out of service in the inventory are left out. */
    for (size_t i = 0; i < sc->naive.nhosts; i++) {
        int32_t h = sc->naive.hosts[i];
        if (f->hosts[h].state == HVF_HOST_STATE_ACTIVE)
            s->hosts[s->nhosts++] = h;
    }
    if (s->nhosts == 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "maintenance: none of its %zu hosts is active in the inventory",
                      sc->naive.nhosts);
        ms_free(s);
        return -1;
    }
    s->overrides = hvf_calloc(sc->noverrides + 1, sizeof(hvf_sim_host_override));
    for (size_t i = 0; i < sc->noverrides; i++) {
        s->overrides[i] = sc->overrides[i];
        s->overrides[i].hosts = hvf_calloc(sc->overrides[i].nhosts + 1, sizeof(int32_t));
        memcpy(s->overrides[i].hosts, sc->overrides[i].hosts,
               sc->overrides[i].nhosts * sizeof(int32_t));
    }
    s->noverrides = sc->noverrides;

    /* The controller runs on the twin's clock: its window opens at the maintenance's start. */
    live = s->pol;
    live.window_start_us += s->start_us;
    if (live.window_end_us)
        live.window_end_us += s->start_us;
    hvf_maint_opts_init(&o);
    o.hosts = s->hosts;
    o.nhosts = s->nhosts;
    o.policy = &live;
    s->live = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);
    s->m = mctl_new(&o, s->live, &s->inner);

    ctl.name = "hvfleet";
    ctl.ctx = s;
    ctl.on_start = ms_on_start;
    ctl.on_event = ms_on_event;
    ctl.free_ctx = ms_free;
    hvf_sim_set_controller(sim, &ctl);
    return 0;
}

void
hvf_maintenance_register_scheduler(void)
{
    static const hvf_sim_scheduler s = {
        .name = "hvfleet", .prepare = ms_prepare, .attach = ms_attach};
    hvf_error err = HVF_ERROR_INIT;

    HVF_ASSERT(hvf_sim_scheduler_register(&s, &err) == 0);
}
