/* SPDX-License-Identifier: MIT */
/*
 * Running a change plan (hvfleet.change-plan/v1): its waves in order, each wave's units
 * changed through the driver (at most limits.max_parallel at once), then baked while the plan's
 * functional gates are read from the hosts every gate interval; a failed gate halts the run and
 * rolls back the units changed so far, newest first, in batches of rollback.batch_max. The same
 * checks as a maintenance run come before every action (freeze, approval of this hash), and
 * the same journal makes a killed run resumable: a unit is never changed twice.
 *
 * Units are the x_host entries of the run: pending -> draining (applying) -> done (applied);
 * maintaining means rolling back; failed means rolled back or lost, with the reason.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"

#define XC_POLL_US (5LL * 1000000)

typedef struct xc_run {
    x_run x;
    const hvf_change_plan_file *plan;
    size_t *wave_of; /* per unit */
    size_t waves_done;
    bool halted;
    char halt_reason[256];
} xc_run;

static x_host *
xc_unit(xc_run *c, const char *name)
{
    for (size_t i = 0; i < c->x.nhosts; i++) {
        if (strcmp(c->x.hosts[i].name, name) == 0)
            return &c->x.hosts[i];
    }
    return NULL;
}

/* Polls once; a change that finished moves its unit on. */
static int
xc_poll(xc_run *c, int64_t wait_us, hvf_error *err)
{
    hvf_drv_event evs[64];
    size_t n = 0;
    x_run *x = &c->x;

    if (hvf_driver_poll(x->conn, wait_us, evs, HVF_ARRAY_LEN(evs), &n, err) < 0)
        return -1;
    x->now_us = hvf_driver_now_us(x->conn) - x->t0_us;
    for (size_t i = 0; i < n; i++) {
        x_host *u = xc_unit(c, evs[i].host);

        if (!u)
            continue;
        if (evs[i].type == HVF_DRV_EV_CHANGE_DONE && u->st == XH_DRAINING) {
            u->st = XH_DONE;
            u->evac_end_us = u->maint_end_us = x->now_us;
            x_event(x, "unit_changed", "\"host\":\"%s\"", u->name);
            if (x_note(x, "applied", NULL, u->name, "ok", -1, NULL, err) < 0)
                return -1;
        } else if (evs[i].type == HVF_DRV_EV_CHANGE_DONE && u->st == XH_MAINTAINING) {
            u->st = XH_FAILED;
            u->maint_end_us = x->now_us;
            x_event(x, "unit_rolled_back", "\"host\":\"%s\"", u->name);
            if (x_note(x, "rolled_back", NULL, u->name, "ok", -1, NULL, err) < 0)
                return -1;
        } else if (evs[i].type == HVF_DRV_EV_HOST_LOST && u->st != XH_FAILED) {
            c->halted = true;
            snprintf(c->halt_reason, sizeof(c->halt_reason), "unit '%s' was lost", u->name);
            u->st = XH_FAILED;
            snprintf(u->reason, sizeof(u->reason), "lost (crashed or unreachable)");
        }
    }
    return 0;
}

/* The plan's gates over every unit changed so far; 0 pass, 1 fail (reason set), -1 error. */
static int
xc_gates(xc_run *c, hvf_error *err)
{
    for (size_t i = 0; i < c->x.nhosts; i++) {
        x_host *u = &c->x.hosts[i];
        hvf_drv_health h;

        if (u->st != XH_DONE)
            continue;
        if (hvf_driver_host_health(c->x.conn, u->name, &h, err) < 0)
            return -1;
        for (size_t g = 0; g < c->plan->ngates; g++) {
            const hvf_change_gate *gate = &c->plan->gates[g];
            bool bad = false;

            switch (gate->type) {
            case HVF_CHANGE_GATE_CLIENT_IO_LATENCY:
                bad = !h.up || (gate->max_latency_us > 0 &&
                                h.client_io_latency_us > gate->max_latency_us);
                break;
            case HVF_CHANGE_GATE_SERVICE_ANSWERS:
                bad = !h.up || h.answered < gate->min_success;
                break;
            default:
                bad = !h.up;
                break;
            }
            if (bad) {
                snprintf(c->halt_reason, sizeof(c->halt_reason),
                         "gate %s failed on '%s' (client IO latency %.3f s, %.0f %% answered)",
                         hvf_change_gate_to_string(gate->type), u->name,
                         h.client_io_latency_us == INT64_MAX ? -1.0
                                                             : h.client_io_latency_us / 1e6,
                         h.answered * 100);
                return 1;
            }
        }
    }
    return 0;
}

static size_t
xc_count(const xc_run *c, xh_state st)
{
    size_t n = 0;

    for (size_t i = 0; i < c->x.nhosts; i++)
        n += c->x.hosts[i].st == st;
    return n;
}

/* One wave: its units changed (at most max_parallel at once), then baked under the gates. */
static int
xc_wave(xc_run *c, size_t w, hvf_error *err)
{
    x_run *x = &c->x;
    uint32_t par = c->plan->max_parallel ? c->plan->max_parallel : UINT32_MAX;
    int64_t bake_end, next_gate;
    int g;

    x_event(x, "wave_start", "\"wave\":%zu,\"canary\":%s", w + 1,
            c->plan->waves[w].canary ? "true" : "false");
    for (;;) {
        bool left = false;

        for (size_t i = 0; i < x->nhosts && !c->halted; i++) {
            x_host *u = &x->hosts[i];
            hvf_store_entry in;

            if (c->wave_of[i] != w || u->st != XH_PENDING)
                continue;
            left = true;
            if (xc_count(c, XH_DRAINING) >= par)
                break;
            if (x_may_act(&c->x, "changing a unit") < 0)
                return 0;
            if (x_intent(x, "apply", NULL, u->name, NULL, (int64_t)i, &in, err) < 0)
                return -1;
            if (hvf_driver_host_apply(x->conn, u->name, c->plan->change, false,
                                      c->plan->apply_us, err) < 0) {
                snprintf(c->halt_reason, sizeof(c->halt_reason), "unit '%s': %.200s", u->name,
                         err->msg);
                hvf_error_clear(err);
                c->halted = true;
                return x_outcome(x, &in, "failed", -1, c->halt_reason, err);
            }
            u->st = XH_DRAINING;
            u->evac_start_us = x->now_us;
            x_event(x, "unit_changing", "\"host\":\"%s\",\"wave\":%zu", u->name, w + 1);
            if (x_outcome(x, &in, "ok", -1, NULL, err) < 0)
                return -1;
        }
        for (size_t i = 0; i < x->nhosts; i++)
            left = left || (c->wave_of[i] == w &&
                            (x->hosts[i].st == XH_PENDING || x->hosts[i].st == XH_DRAINING));
        if (!left || c->halted)
            break;
        if (xc_poll(c, XC_POLL_US, err) < 0)
            return -1;
    }
    if (c->halted)
        return 0;
    /* bake: the gates are read every gate interval until the bake time is over */
    bake_end = x->now_us + c->plan->bake_us;
    next_gate = x->now_us;
    for (;;) {
        if (x->now_us >= next_gate) {
            if ((g = xc_gates(c, err)) < 0)
                return -1;
            if (g == 1) {
                c->halted = true;
                return 0;
            }
            next_gate = x->now_us + (c->plan->gate_interval_us > 0 ? c->plan->gate_interval_us
                                                                   : XC_POLL_US);
        }
        if (x->now_us >= bake_end)
            break;
        if (xc_poll(c, (next_gate < bake_end ? next_gate : bake_end) - x->now_us, err) < 0)
            return -1;
    }
    c->waves_done = w + 1;
    x_event(x, "wave_done", "\"wave\":%zu", w + 1);
    return x_note(x, "wave_done", NULL, NULL, "ok", (int64_t)w, NULL, err);
}

/* Halted: the units changed so far are rolled back, newest first, a batch at a time. */
static int
xc_rollback(xc_run *c, hvf_error *err)
{
    x_run *x = &c->x;
    uint32_t batch = c->plan->rollback_batch ? c->plan->rollback_batch : 1;

    x_event(x, "halt", "\"reason\":\"%s\",\"rollback\":%s", c->halt_reason,
            c->plan->rollback ? "true" : "false");
    if (x_note(x, "halt", NULL, NULL, "halted", -1, c->halt_reason, err) < 0)
        return -1;
    if (!c->plan->rollback)
        return 0;
    for (;;) {
        for (size_t k = x->nhosts; k-- > 0 && xc_count(c, XH_MAINTAINING) < batch;) {
            x_host *u = &x->hosts[k];
            hvf_store_entry in;

            if (u->st != XH_DONE)
                continue;
            if (x_intent(x, "rollback", NULL, u->name, NULL, (int64_t)k, &in, err) < 0)
                return -1;
            if (hvf_driver_host_apply(x->conn, u->name, c->plan->change, true,
                                      c->plan->apply_us, err) < 0) {
                char why[512];

                snprintf(why, sizeof(why), "%s", err->msg);
                hvf_error_clear(err);
                u->st = XH_FAILED;
                snprintf(u->reason, sizeof(u->reason), "changed, and the rollback failed: %.180s",
                         why);
                if (x_outcome(x, &in, "failed", -1, why, err) < 0)
                    return -1;
                continue;
            }
            u->st = XH_MAINTAINING;
            u->maint_start_us = x->now_us;
            snprintf(u->reason, sizeof(u->reason), "rolled back: %.200s", c->halt_reason);
            if (x_outcome(x, &in, "ok", -1, NULL, err) < 0)
                return -1;
        }
        if (xc_count(c, XH_MAINTAINING) == 0 && xc_count(c, XH_DONE) == 0)
            return 0;
        if (xc_poll(c, XC_POLL_US, err) < 0)
            return -1;
    }
}

/* Rebuilds the units' states from the journal and the driver (resume). */
static int
xc_resume(xc_run *c, hvf_error *err)
{
    x_run *x = &c->x;
    hvf_store_entry *j = NULL;
    hvf_drv_host *dh = NULL;
    long n = hvf_store_journal(x->st, x->run.id, &j, err);
    long nh = n < 0 ? -1 : hvf_driver_list_hosts(x->conn, &dh, err);
    int64_t last = 0;

    if (nh < 0) {
        free(j);
        return -1;
    }
    for (long i = 0; i < n; i++) {
        x_host *u = j[i].host[0] ? xc_unit(c, j[i].host) : NULL;

        last = j[i].t_us > last ? j[i].t_us : last;
        if (strcmp(j[i].action, "wave_done") == 0)
            c->waves_done = (size_t)j[i].job + 1;
        else if (strcmp(j[i].action, "halt") == 0) {
            c->halted = true;
            hvf_strlcpy(c->halt_reason, j[i].detail, sizeof(c->halt_reason));
        } else if (u && j[i].kind == HVF_STORE_INTENT && strcmp(j[i].action, "apply") == 0)
            u->st = XH_DRAINING;
        else if (u && strcmp(j[i].action, "applied") == 0)
            u->st = XH_DONE;
        else if (u && j[i].kind == HVF_STORE_INTENT && strcmp(j[i].action, "rollback") == 0)
            u->st = XH_MAINTAINING;
        else if (u && strcmp(j[i].action, "rolled_back") == 0)
            u->st = XH_FAILED;
    }
    /* what the journal left in between: the driver says what the host holds */
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *u = &x->hosts[i];

        for (long k = 0; k < nh; k++) {
            if (strcmp(dh[k].name, u->name) != 0)
                continue;
            if (u->st == XH_DRAINING && !dh[k].applying)
                u->st = strcmp(dh[k].change, c->plan->change) == 0 ? XH_DONE : XH_PENDING;
            if (u->st == XH_MAINTAINING && !dh[k].applying)
                u->st = dh[k].change[0] ? XH_DONE : XH_FAILED;
        }
    }
    free(j);
    free(dh);
    x->now_us = last;
    x->t0_us = hvf_driver_now_us(x->conn) - last;
    return x_note(x, "resume", NULL, NULL, "ok", 0, NULL, err);
}

int
hvf_exec_run_change(hvf_conn *conn, const hvf_change_plan_file *plan, const hvf_exec_opts *opts,
                    hvf_exec_summary *out, hvf_error *err)
{
    xc_run c;
    x_run *x = &c.x;
    bool resume = false;
    int rc = -1;

    memset(&c, 0, sizeof(c));
    memset(out, 0, sizeof(*out));
    c.plan = plan;
    hvf_strlcpy(x->approval_hash, plan->plan_hash, sizeof(x->approval_hash));
    x->approval_verdict = plan->verdict;
    x->conn = conn;
    x->o = opts;
    x->sum = out;
    out->predicted_makespan_us = (int64_t)plan->nwaves * (plan->apply_us + plan->bake_us);
    if (!(x->st = x_store_open(opts, err)))
        return -1;
    out->result = HVF_EXEC_REFUSED;
    if (!hvf_change_plan_file_hash_ok(plan)) {
        snprintf(out->note, sizeof(out->note),
                 "plan_hash %.12s does not match the change plan's content: it was edited after "
                 "it was made; nothing was changed",
                 plan->plan_hash);
        rc = 0;
        goto out;
    }
    if (plan->vm_units) {
        snprintf(out->note, sizeof(out->note),
                 "change plan %.12s changes VMs: only changes of hosts run through a driver yet",
                 plan->plan_hash);
        rc = 0;
        goto out;
    }
    c.wave_of = hvf_calloc(plan->nunits + 1, sizeof(size_t));
    x->hosts = hvf_calloc(plan->nunits + 1, sizeof(*x->hosts));
    for (size_t w = 0; w < plan->nwaves; w++) {
        for (size_t k = 0; k < plan->waves[w].nunits; k++) {
            x_host *u = &x->hosts[x->nhosts];

            u->name = hvf_strdup(plan->waves[w].units[k]);
            u->idx = -1;
            u->evac_start_us = u->evac_end_us = u->maint_start_us = u->maint_end_us = -1;
            u->pred_evac_start_us = (int64_t)w * (plan->apply_us + plan->bake_us);
            u->pred_evac_end_us = u->pred_evac_start_us + plan->apply_us;
            u->pred_maint_start_us = u->pred_evac_end_us;
            u->pred_maint_end_us = u->pred_evac_end_us;
            c.wave_of[x->nhosts++] = w;
        }
    }
    if (opts->resume) {
        int found = hvf_store_run_get(x->st, 0, &x->run, err);

        if (found < 0)
            goto out;
        resume = found == 1 && strcmp(x->run.plan_hash, plan->plan_hash) == 0;
        if (found == 1 && !resume) {
            snprintf(out->note, sizeof(out->note),
                     "run %" PRId64 " runs plan %.12s, not this one", x->run.id,
                     x->run.plan_hash);
            rc = 0;
            goto out;
        }
    }
    if (resume) {
        if (xc_resume(&c, err) < 0)
            goto out;
    } else {
        hvf_store_run busy;
        int found = hvf_store_run_get(x->st, 0, &busy, err);
        hvf_fleet *f;
        hvf_diags problems;

        if (found < 0)
            goto out;
        if (found == 1) {
            snprintf(out->note, sizeof(out->note),
                     "run %" PRId64 " (plan %.12s) is unfinished: resume it with --resume or end "
                     "it with --abort first",
                     busy.id, busy.plan_hash);
            rc = 0;
            goto out;
        }
        if (!(f = hvf_driver_fleet(conn, err)))
            goto out;
        hvf_diags_init(&problems);
        hvf_change_plan_file_check(plan, f, &problems);
        hvf_fleet_free(f);
        if (problems.total) {
            snprintf(out->note, sizeof(out->note),
                     "the change plan does not fit the fleet the driver reports: %.300s",
                     problems.lines[0]);
            hvf_diags_clear(&problems);
            rc = 0;
            goto out;
        }
        hvf_diags_clear(&problems);
        if (x_may_act(&c.x, "this run") < 0) {
            hvf_strlcpy(out->note, x->note, sizeof(out->note));
            rc = 0;
            goto out;
        }
        x->t0_us = hvf_driver_now_us(conn);
        if (x_run_add(x, plan->plan_hash, err) < 0)
            goto out;
    }
    x_run_record_path(x);
    out->result = HVF_EXEC_DONE;
    x_event(x, "run_start", "\"run\":%" PRId64 ",\"plan_hash\":\"%s\",\"change\":\"%s\"",
            x->run.id, plan->plan_hash, plan->change);
    for (size_t w = c.waves_done; w < plan->nwaves && !c.halted && !x->note[0]; w++) {
        if (xc_wave(&c, w, err) < 0)
            goto fail;
    }
    /* units still applying when an action was refused finish before the run ends */
    while (xc_count(&c, XH_DRAINING) > 0 && !c.halted)
        if (xc_poll(&c, XC_POLL_US, err) < 0)
            goto fail;
    if (c.halted && xc_rollback(&c, err) < 0)
        goto fail;
    out->hosts_done = xc_count(&c, XH_DONE);
    out->hosts_failed = xc_count(&c, XH_FAILED);
    out->actual_makespan_us = x->now_us;
    if (c.halted) {
        out->result = HVF_EXEC_PARTIAL;
        snprintf(out->note, sizeof(out->note), "halted at wave %zu: %.200s%s",
                 c.waves_done + 1, c.halt_reason,
                 plan->rollback ? "; the units changed were rolled back" : "");
    } else if (x->note[0]) {
        out->result = HVF_EXEC_PAUSED;
        hvf_strlcpy(out->note, x->note, sizeof(out->note));
    }
    x->run.state = out->result == HVF_EXEC_PAUSED ? HVF_STORE_RUN_PAUSED : HVF_STORE_RUN_DONE;
    x->run.pid = 0;
    hvf_strlcpy(x->run.note, out->note, sizeof(x->run.note));
    x_event(x, "run_end", "\"result\":\"%s\"", hvf_exec_result_names[out->result]);
    if (x_record_write(x, err) < 0 || hvf_store_run_update(x->st, &x->run, err) < 0)
        goto out;
    rc = 0;
    goto out;
fail:
    x->run.state = HVF_STORE_RUN_FAILED;
    snprintf(x->run.note, sizeof(x->run.note), "%.250s", err->msg);
    {
        hvf_error ignore = HVF_ERROR_INIT;

        if (hvf_store_run_update(x->st, &x->run, &ignore) < 0) {
            /* the machinery failed; the journal still holds what was done */
        }
    }
out:
    for (size_t i = 0; i < x->nhosts; i++)
        free(x->hosts[i].name);
    free(x->hosts);
    free(c.wave_of);
    hvf_store_close(x->st);
    return rc;
}
