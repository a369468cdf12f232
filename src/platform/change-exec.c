/* SPDX-License-Identifier: MIT */
/*
 * The twin's change controller, part two: runs each change wave by wave. A wave's units are
 * applied together (a package or kernel change restarts each VM unit meanwhile); once applied,
 * the effects the scenario declares for their variants take hold, and the gates are checked
 * every gate_interval until the bake is over. A failing gate halts the rollout and, with
 * rollback, undoes the changed units in reverse, in batches that keep the plan's limits. A run
 * as_written may instead be stopped by the operator model: monitoring alerts, people decide,
 * and every changed unit is reverted at once.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/units.h"
#include "platform/change-priv.h"

static void
cx_timer(hvf_sim *sim, sim_cx *cx, cx_run *x, int kind, int64_t t_us)
{
    hvf_sim_component_timer(sim, cx->comp, t_us, cx_tag((size_t)(x - cx->runs), kind, x->gen));
}

static void cx_log(hvf_sim *sim, const cx_run *x, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
cx_log(hvf_sim *sim, const cx_run *x, const char *type, const char *fmt, ...)
{
    char body[400], detail[480];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(detail, sizeof(detail), "%s: %s", x->r->change->name, body);
    hvf_sim_log(sim, type, -1, -1, detail);
}

static void
cx_names(const cx_run *x, const uint32_t *units, size_t n, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && o < size; i++) {
        if (i == 8) {
            snprintf(buf + o, size - o, " +%zu more", n - 8);
            return;
        }
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
                              x->plan->units[units[i]].name);
    }
}

/* ---- gates ------------------------------------------------------------------------------ */

static bool
cx_unit_up(hvf_sim *sim, const hvf_change_unit *u)
{
    if (u->vm >= 0) {
        hvf_sim_vm_state s = hvf_sim_vm_state_get(sim, u->vm);
        return s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING;
    }
    return hvf_sim_host_state_get(sim, u->host) != HVF_SIM_HOST_DOWN;
}

/* Whether @g holds now; when not, @why says what was seen. */
static bool
cx_gate_ok(hvf_sim *sim, const cx_run *x, const hvf_change_gate *g, char *why, size_t size)
{
    char a[32], b[32];

    switch (g->type) {
    case HVF_CHANGE_GATE_SERVICE_ANSWERS: {
        int32_t s = hvf_fleet_find_service(hvf_sim_fleet(sim), g->service);
        double ok = s >= 0 ? hvf_sim_service_success(sim, s) : 0;
        snprintf(why, size, "service_answers: %s answers %.1f%% of requests, below %.4g%%",
                 g->service, ok * 100, g->min_success * 100);
        return ok + 1e-12 >= g->min_success;
    }
    case HVF_CHANGE_GATE_CLIENT_IO_LATENCY: {
        int32_t s = g->service ? hvf_sim_find_svc(sim, g->service) : -1;
        int64_t lat = hvf_sim_client_io_latency_us(sim, s, g->percentile);
        snprintf(why, size, "client_io_latency: p%.4g of clients' disk IO %s, above %s",
                 g->percentile, hvf_units_format_duration(lat, a, sizeof(a)),
                 hvf_units_format_duration(g->max_latency_us, b, sizeof(b)));
        return lat <= g->max_latency_us;
    }
    default:
        for (size_t i = 0; x->plan && i < x->plan->nunits; i++) {
            if (x->ustate[i] == CX_U_UNTOUCHED || x->ustate[i] == CX_U_REVERTED)
                continue;
            if (!cx_unit_up(sim, &x->plan->units[i])) {
                snprintf(why, size, "process_up: %s is down", x->plan->units[i].name);
                return false;
            }
        }
        return true;
    }
}

/* ---- resolution ------------------------------------------------------------------------- */

static void
cx_check_resolved(hvf_sim *sim, cx_run *x)
{
    hvf_sim_change_outcome *o = x->out;

    if (o->t_decide_us < 0 || o->t_resolve_us >= 0)
        return;
    if (x->phase == CX_ROLLING_BACK || x->phase == CX_REVERTING || hvf_sim_degraded(sim) > 0)
        return;
    o->t_resolve_us = hvf_sim_now(sim);
    hvf_incident_log(sim, HVF_INCIDENT_RESOLVED, -1, -1,
                     "%s: every client and replica healthy again", x->r->change->name);
}

static void
cx_finish(hvf_sim *sim, cx_run *x)
{
    size_t changed = 0;

    x->phase = CX_DONE;
    for (size_t i = 0; i < x->plan->nunits; i++)
        changed += x->ustate[i] == CX_U_CHANGED;
    x->out->units_changed = changed;
    cx_check_resolved(sim, x);
}

/* ---- waves ------------------------------------------------------------------------------ */

static void
cx_start_wave(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    const hvf_change_wave *w = &x->plan->waves[x->wave];
    char names[400], detail[160];

    x->phase = CX_APPLYING;
    snprintf(detail, sizeof(detail), "%s applying", x->plan->change);
    for (size_t i = 0; i < w->nunits; i++) {
        const hvf_change_unit *u = &x->plan->units[w->units[i]];
        x->ustate[w->units[i]] = CX_U_APPLYING;
        if (u->vm >= 0 && cx_restarts(x)) {
            cx->restart_ref[u->vm]++;
            cx_update_serving(cx, u->vm, detail);
        }
    }
    cx_names(x, w->units, w->nunits, names, sizeof(names));
    cx_log(sim, x, "change_wave_start", "wave %zu/%zu%s: %s", x->wave + 1, x->plan->nwaves,
           w->canary ? " (canary)" : "", names);
    cx_timer(sim, cx, x, CX_T_APPLIED, hvf_sim_now(sim) + x->plan->apply_us);
}

static void cx_halt(hvf_sim *sim, sim_cx *cx, cx_run *x, const char *why);

static void
cx_after_bake(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    x->out->waves_done = x->wave + 1;
    if (++x->wave < x->plan->nwaves) {
        cx_start_wave(sim, cx, x);
        return;
    }
    x->out->completed = true;
    cx_log(sim, x, "change_done", "all %zu wave%s applied", x->plan->nwaves,
           x->plan->nwaves == 1 ? "" : "s");
    cx_finish(sim, x);
}

/* Checks every gate; on the first failure halts the run. Returns whether all held. */
static bool
cx_check_gates(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    char why[256];

    for (size_t i = 0; i < x->plan->ngates; i++) {
        if (!cx_gate_ok(sim, x, &x->plan->gates[i], why, sizeof(why))) {
            cx_log(sim, x, "change_gate_failed", "after wave %zu: %s", x->wave + 1, why);
            cx_halt(sim, cx, x, why);
            return false;
        }
    }
    return true;
}

static void
cx_on_applied(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    const hvf_change_wave *w = &x->plan->waves[x->wave];
    int64_t now = hvf_sim_now(sim), baked = now + x->plan->bake_us;
    char detail[160];

    snprintf(detail, sizeof(detail), "%s applied", x->plan->change);
    for (size_t i = 0; i < w->nunits; i++) {
        uint32_t unit = w->units[i];
        const hvf_change_unit *u = &x->plan->units[unit];
        x->ustate[unit] = CX_U_CHANGED;
        x->applied[x->napplied++] = unit;
        cx_effects_on(cx, x, unit);
        if (u->vm >= 0 && cx_restarts(x)) {
            cx->restart_ref[u->vm]--;
            cx_update_serving(cx, u->vm, detail);
        }
    }
    cx_log(sim, x, "change_wave_applied", "wave %zu/%zu: %zu unit%s changed; baking %s",
           x->wave + 1, x->plan->nwaves, w->nunits, w->nunits == 1 ? "" : "s",
           x->plan->bake_us ? "until the gates have held" : "skipped");
    x->phase = CX_BAKING;
    x->baked_at_us = baked;
    if (x->plan->bake_us == 0) {
        if (cx_check_gates(sim, cx, x))
            cx_after_bake(sim, cx, x);
        return;
    }
    if (now + x->plan->gate_interval_us < baked)
        cx_timer(sim, cx, x, CX_T_CHECK, now + x->plan->gate_interval_us);
    cx_timer(sim, cx, x, CX_T_BAKED, baked);
}

/* ---- halt, rollback, revert ------------------------------------------------------------- */

static void
cx_start_rb_batch(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    HVF_AUTOFREE uint32_t *units = hvf_malloc((x->nrb + 1) * sizeof(uint32_t));
    size_t n = 0;
    char names[400], detail[160];

    snprintf(detail, sizeof(detail), "%s rolling back", x->plan->change);
    for (size_t i = 0; i < x->nrb; i++) {
        if (x->rb_batch[i] != x->rb_cur)
            continue;
        units[n++] = x->rb[i];
        x->ustate[x->rb[i]] = CX_U_REVERTING;
        if (x->plan->units[x->rb[i]].vm >= 0 && cx_restarts(x)) {
            cx->restart_ref[x->plan->units[x->rb[i]].vm]++;
            cx_update_serving(cx, x->plan->units[x->rb[i]].vm, detail);
        }
    }
    cx_names(x, units, n, names, sizeof(names));
    cx_log(sim, x, "change_rollback_batch", "batch %zu/%zu: %s", x->rb_cur + 1, x->rb_nbatches,
           names);
    cx_timer(sim, cx, x, CX_T_RB_DONE, hvf_sim_now(sim) + x->plan->apply_us);
}

/* Units of @x in state @from become reverted: effects off, restarts over. */
static void
cx_revert_units(sim_cx *cx, cx_run *x, bool batch_only)
{
    char detail[160];

    snprintf(detail, sizeof(detail), "%s reverted", x->plan->change);
    for (size_t i = 0; i < x->plan->nunits; i++) {
        const hvf_change_unit *u = &x->plan->units[i];
        if (x->ustate[i] != CX_U_REVERTING)
            continue;
        if (batch_only) {
            bool in = false;
            for (size_t k = 0; k < x->nrb && !in; k++)
                in = x->rb[k] == i && x->rb_batch[k] == x->rb_cur;
            if (!in)
                continue;
        }
        x->ustate[i] = CX_U_REVERTED;
        cx_effects_off(cx, x, (uint32_t)i);
        if (u->vm >= 0 && cx_restarts(x)) {
            cx->restart_ref[u->vm]--;
            cx_update_serving(cx, u->vm, detail);
        }
    }
}

static void
cx_halt(hvf_sim *sim, sim_cx *cx, cx_run *x, const char *why)
{
    hvf_sim_change_outcome *o = x->out;
    int64_t now = hvf_sim_now(sim);

    x->gen++; /* pending checks and bakes are stale now */
    o->halted = true;
    hvf_strlcpy(o->halt_reason, why, sizeof(o->halt_reason));
    if (o->t_detect_us < 0) {
        o->t_detect_us = now;
        hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1, "%s: gate failed after wave %zu: %s",
                         x->r->change->name, x->wave + 1, why);
    }
    o->t_decide_us = now;
    x->nrb = 0;
    for (size_t i = x->napplied; i-- > 0;)
        x->rb[x->nrb++] = x->applied[i];
    if (!x->plan->rollback || x->nrb == 0) {
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "%s: halt the rollout after wave %zu (rollback off)", x->r->change->name,
                         x->wave + 1);
        cx_log(sim, x, "change_halt", "%zu unit%s stay changed", x->nrb, x->nrb == 1 ? "" : "s");
        cx_finish(sim, x);
        return;
    }
    x->rb_nbatches = cx->planner.pack(x->plan, x->rb, x->nrb, 0, x->rb_batch);
    x->rb_cur = 0;
    hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                     "%s: halt the rollout after wave %zu and roll back %zu unit%s in %zu "
                     "batch%s",
                     x->r->change->name, x->wave + 1, x->nrb, x->nrb == 1 ? "" : "s",
                     x->rb_nbatches, x->rb_nbatches == 1 ? "" : "es");
    cx_log(sim, x, "change_halt", "%s", why);
    x->phase = CX_ROLLING_BACK;
    cx_start_rb_batch(sim, cx, x);
}

static void
cx_on_rb_done(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    cx_revert_units(cx, x, true);
    if (++x->rb_cur < x->rb_nbatches) {
        cx_start_rb_batch(sim, cx, x);
        return;
    }
    x->out->rolled_back = true;
    cx_log(sim, x, "change_rolled_back", "%zu unit%s back to where they were", x->nrb,
           x->nrb == 1 ? "" : "s");
    x->phase = CX_DONE;
    cx_finish(sim, x);
}

/* People decided: stop the rollout, revert every unit touched at once. */
static void
cx_on_decide(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    const hvf_sim_operator *op = &x->r->op;
    size_t n = 0;
    char detail[160];

    x->gen++;
    x->out->t_decide_us = hvf_sim_now(sim);
    x->out->halted = x->phase != CX_DONE;
    hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1, "%s: %s", x->r->change->name,
                     op->action ? op->action : "revert the change everywhere");
    snprintf(detail, sizeof(detail), "%s reverting", x->plan->change);
    for (size_t i = 0; i < x->plan->nunits; i++) {
        if (x->ustate[i] != CX_U_CHANGED && x->ustate[i] != CX_U_APPLYING)
            continue;
        /* a changed VM restarts again to revert; one still applying is already restarting */
        if (x->ustate[i] == CX_U_CHANGED && x->plan->units[i].vm >= 0 && cx_restarts(x)) {
            cx->restart_ref[x->plan->units[i].vm]++;
            cx_update_serving(cx, x->plan->units[i].vm, detail);
        }
        x->ustate[i] = CX_U_REVERTING;
        n++;
    }
    cx_log(sim, x, "change_revert", "%zu unit%s at once, taking %.0f s", n, n == 1 ? "" : "s",
           (double)op->revert_us / 1e6);
    x->phase = CX_REVERTING;
    cx_timer(sim, cx, x, CX_T_REVERTED, hvf_sim_now(sim) + op->revert_us);
}

static void
cx_on_reverted(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    cx_revert_units(cx, x, false);
    x->out->reverted = true;
    cx_log(sim, x, "change_reverted", "every unit back to where it was");
    cx_finish(sim, x);
}

/* Monitoring, for runs with an operator: alert once the check has failed for alert_for. */
static void
cx_on_monitor(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    const hvf_sim_operator *op = &x->r->op;
    int64_t now = hvf_sim_now(sim);
    char why[256];

    if (x->alerted || x->out->t_decide_us >= 0 || !x->plan)
        return;
    if (cx_gate_ok(sim, x, &op->alert, why, sizeof(why))) {
        x->mon_fail_since = -1;
    } else {
        if (x->mon_fail_since < 0)
            x->mon_fail_since = now;
        if (now - x->mon_fail_since >= op->alert_for_us) {
            x->alerted = true;
            if (x->out->t_detect_us < 0)
                x->out->t_detect_us = now;
            hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1, "%s: monitoring: %s",
                             x->r->change->name, why);
            hvf_sim_component_timer(sim, cx->comp, now + op->decide_after_us,
                                    cx_tag((size_t)(x - cx->runs), CX_T_DECIDE, 0));
            return;
        }
    }
    hvf_sim_component_timer(sim, cx->comp, now + op->check_every_us,
                            cx_tag((size_t)(x - cx->runs), CX_T_MON, 0));
}

/* ---- start ------------------------------------------------------------------------------ */

static void
cx_start_run(hvf_sim *sim, sim_cx *cx, cx_run *x)
{
    const hvf_sim_change_run *r = x->r;
    hvf_change_plan_opts opts = {{0, 0, 0}, r->as_written};
    hvf_error err = HVF_ERROR_INIT;
    hvf_sim_change_outcome *o = x->out;
    size_t n;

    if (!cx->planner.build) {
        cx_log(sim, x, "change_refused", "no plan: this program set no change planner");
        x->phase = CX_DONE;
        return;
    }
    hvf_change_limits_from_policy(&r->policy, &opts.limits);
    x->plan = cx->planner.build(hvf_sim_fleet(sim), r->change, &opts, &err);
    if (!x->plan) {
        cx_log(sim, x, "change_refused", "no plan: %s", err.msg);
        x->phase = CX_DONE;
        return;
    }
    n = x->plan->nunits;
    x->ustate = hvf_calloc(n + 1, sizeof(uint8_t));
    x->uhurt = hvf_calloc(n + 1, sizeof(bool));
    x->uvms = hvf_calloc(n + 1, sizeof(int32_t *));
    x->nuvms = hvf_calloc(n + 1, sizeof(size_t));
    x->applied = hvf_calloc(n + 1, sizeof(uint32_t));
    x->rb = hvf_calloc(n + 1, sizeof(uint32_t));
    x->rb_batch = hvf_calloc(n + 1, sizeof(uint32_t));
    o->units = n;
    o->waves_planned = x->plan->nwaves;
    if (!r->as_written) {
        o->verdict = cx->planner.evaluate(x->plan, &r->policy, hvf_sim_fleet(sim), false);
        if (o->verdict == HVF_PLAN_VERDICT_REFUSED ||
            (o->verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL && !r->approved)) {
            cx_log(sim, x, "change_refused", "seatbelt %s%s: %s",
                   hvf_plan_verdict_to_string(o->verdict),
                   o->verdict == HVF_PLAN_VERDICT_REFUSED ? "" : " and not approved",
                   x->plan->nreasons ? x->plan->reasons[0] : "no reason");
            x->phase = CX_DONE;
            return;
        }
    }
    {
        HVF_AUTOFREE char *vars = cx->planner.wave_variants(x->plan, &x->plan->waves[0]);
        if (r->as_written)
            cx_log(sim, x, "change_plan", "as written: %zu units in %zu waves; wave 1 covers %s", n,
                   x->plan->nwaves, vars[0] ? vars : "no variant");
        else
            cx_log(sim, x, "change_plan",
                   "hvfleet: %zu units in %zu waves, seatbelt %s%s; canary covers %s", n,
                   x->plan->nwaves, hvf_plan_verdict_to_string(o->verdict),
                   o->verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL ? " (approved)" : "",
                   vars[0] ? vars : "no variant");
    }
    o->started = true;
    o->t_start_us = hvf_sim_now(sim);
    cx_log(sim, x, "change_start", "%s",
           x->r->change->description ? x->r->change->description
                                     : hvf_change_kind_to_string(x->r->change->kind));
    x->wave = 0;
    cx_start_wave(sim, cx, x);
}

void
cx_on_start(hvf_sim *sim, void *ctx)
{
    sim_cx *cx = ctx;

    for (size_t i = 0; i < cx->nruns; i++) {
        const hvf_sim_change_run *r = cx->runs[i].r;
        hvf_sim_component_timer(sim, cx->comp, r->start_us, cx_tag(i, CX_T_START, 0));
        if (r->op.enabled)
            hvf_sim_component_timer(sim, cx->comp, r->start_us + r->op.check_every_us,
                                    cx_tag(i, CX_T_MON, 0));
    }
}

void
cx_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    sim_cx *cx = ctx;

    if (ev->type != HVF_SIM_EV_SERVICE)
        return;
    for (size_t i = 0; i < cx->nruns; i++)
        cx_check_resolved(sim, &cx->runs[i]);
}

void
cx_on_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    sim_cx *cx = ctx;
    size_t run = (size_t)((tag >> 24) & 0xffff);
    int kind = (int)((tag >> 16) & 0xff);
    uint16_t gen = (uint16_t)(tag & 0xffff);
    cx_run *x;

    if (run >= cx->nruns)
        return;
    x = &cx->runs[run];
    switch (kind) {
    case CX_T_START:
        cx_start_run(sim, cx, x);
        break;
    case CX_T_MON:
        cx_on_monitor(sim, cx, x);
        break;
    case CX_T_DECIDE:
        if (x->plan && x->out->t_decide_us < 0)
            cx_on_decide(sim, cx, x);
        break;
    default:
        if (gen != x->gen || !x->plan)
            break;
        if (kind == CX_T_APPLIED && x->phase == CX_APPLYING) {
            cx_on_applied(sim, cx, x);
        } else if (kind == CX_T_CHECK && x->phase == CX_BAKING) {
            int64_t next = hvf_sim_now(sim) + x->plan->gate_interval_us;
            if (cx_check_gates(sim, cx, x) && next < x->baked_at_us)
                cx_timer(sim, cx, x, CX_T_CHECK, next);
        } else if (kind == CX_T_BAKED && x->phase == CX_BAKING) {
            if (cx_check_gates(sim, cx, x))
                cx_after_bake(sim, cx, x);
        } else if (kind == CX_T_RB_DONE && x->phase == CX_ROLLING_BACK) {
            cx_on_rb_done(sim, cx, x);
        } else if (kind == CX_T_REVERTED && x->phase == CX_REVERTING) {
            cx_on_reverted(sim, cx, x);
        }
        break;
    }
}
