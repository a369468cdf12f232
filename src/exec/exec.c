/* SPDX-License-Identifier: MIT */
/* The executor's loop: checks, starts what may start, polls the driver, reacts to deviations. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"

#define X_POLL_VIRTUAL_US (5LL * 1000000)
#define X_MAX_EVENTS 256

const char *const hvf_exec_result_names[] = {"done",    "partial", "paused",
                                             "aborted", "refused", "detached", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_exec_result_names) == HVF_EXEC_RESULT_LAST + 1, "results");
const char *const x_host_state_names[] = {"pending", "draining", "maintaining", "done", "failed",
                                          NULL};
_Static_assert(HVF_ARRAY_LEN(x_host_state_names) == XH_LAST + 1, "host states");
const char *const x_mig_state_names[] = {"pending", "running", "done", "failed", "skipped", NULL};
_Static_assert(HVF_ARRAY_LEN(x_mig_state_names) == XM_LAST + 1, "migration states");
const char *const x_stop_state_names[] = {"pending", "stopped", "started", "failed", NULL};
_Static_assert(HVF_ARRAY_LEN(x_stop_state_names) == XS_LAST + 1, "stop states");

void
hvf_exec_opts_init(hvf_exec_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->tolerance = 0.25;
    o->stall_timeout_us = 150LL * 1000000;
    o->completion_timeout_s_per_gib = 800;
}

/* ---- the loop ---- */

static bool
x_finished(const x_run *x)
{
    for (size_t i = 0; i < x->nhosts; i++) {
        if (x->hosts[i].st != XH_DONE && x->hosts[i].st != XH_FAILED)
            return false;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        if (x->migs[i].st == XM_PENDING || x->migs[i].st == XM_RUNNING)
            return false;
    }
    for (size_t i = 0; i < x->nstops; i++) {
        if (x->stops[i].st == XS_STOPPED)
            return false;
    }
    return true;
}

static size_t
x_running(const x_run *x)
{
    size_t n = 0;

    for (size_t i = 0; i < x->nmigs; i++)
        n += x->migs[i].st == XM_RUNNING;
    for (size_t i = 0; i < x->nhosts; i++)
        n += x->hosts[i].st == XH_MAINTAINING;
    return n;
}

/* Nothing runs and nothing can start: each remaining piece of work gets its reason. */
static void
x_give_up(x_run *x, const char *why)
{
    for (size_t i = 0; i < x->nmigs; i++) {
        if (x->migs[i].st == XM_PENDING)
            x_mig_fail(x, &x->migs[i], x->aborting ? XM_SKIPPED : XM_FAILED, "%s", why);
    }
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *h = &x->hosts[i];

        if (h->st == XH_PENDING || h->st == XH_DRAINING)
            x_host_fail(x, h, "not maintained: %s", why);
    }
}

static int64_t
x_progress_every(const x_run *x)
{
    return x->o->progress_interval_us > 0 ? x->o->progress_interval_us : 1000000;
}

static int
x_loop(x_run *x, hvf_error *err)
{
    hvf_drv_event evs[X_MAX_EVENTS];
    int64_t last_progress = -1;
    int idle_rounds = 0;

    for (;;) {
        size_t nevs = 0;
        bool replan = false;

        if (x->o->should_detach && x->o->should_detach(x->o->ctx)) {
            x->sum->result = HVF_EXEC_DETACHED;
            return 1;
        }
        x->now_us = hvf_driver_now_us(x->conn) - x->t0_us;
        if (x->run.control == HVF_STORE_CONTROL_NONE) {
            hvf_store_run cur;
            hvf_error cerr = HVF_ERROR_INIT;

            if (hvf_store_run_get(x->st, x->run.id, &cur, &cerr) == 1)
                x->run.control = cur.control;
        }
        if (x->run.control == HVF_STORE_CONTROL_ABORT ||
            x->run.control == HVF_STORE_CONTROL_ABORT_CANCEL) {
            if (!x->aborting)
                x_event(x, "run_aborting", "\"cancel_running\":%s",
                        x->run.control == HVF_STORE_CONTROL_ABORT_CANCEL ? "true" : "false");
            x->aborting = true;
            if (x->run.control == HVF_STORE_CONTROL_ABORT_CANCEL) {
                for (size_t i = 0; i < x->nmigs; i++) {
                    if (x->migs[i].st == XM_RUNNING) {
                        hvf_error cerr = HVF_ERROR_INIT;

                        snprintf(x->migs[i].reason, sizeof(x->migs[i].reason), "aborted");
                        if (hvf_driver_job_cancel(x->conn, x->migs[i].job, &cerr) < 0 &&
                            cerr.code != HVF_ERR_CONFLICT) {
                            *err = cerr;
                            return -1;
                        }
                    }
                }
            }
        }
        if (x->run.control == HVF_STORE_CONTROL_PAUSE && x_running(x) == 0) {
            x->sum->result = HVF_EXEC_PAUSED;
            if (!x->sum->note[0])
                snprintf(x->sum->note, sizeof(x->sum->note),
                         "paused by an operator; `hvfleet run --resume` continues");
            return 0;
        }
        if (x->run.control == HVF_STORE_CONTROL_NONE && !x->aborting) {
            if (x_return_failed(x, err) < 0 || x_start_hosts(x, err) < 0 ||
                x_start_migs(x, err) < 0 ||
                x_run_stops(x, err) < 0 || x_maintain_empty(x, err) < 0)
                return -1;
        } else if (x->aborting) {
            if (x_start_migs(x, err) < 0) /* marks the pending ones skipped */
                return -1;
        }
        if (x->want_replan) {
            const char *why = x->want_replan;
            int r;

            x->want_replan = NULL;
            r = x_replan(x, why, err);
            if (r < 0)
                return -1;
            if (r == 0) {
                x->sum->result = HVF_EXEC_PAUSED;
                hvf_strlcpy(x->sum->note, x->note, sizeof(x->sum->note));
                x->run.control = HVF_STORE_CONTROL_PAUSE;
                if (hvf_store_run_set_control(x->st, x->run.id, HVF_STORE_CONTROL_PAUSE, err) < 0)
                    return -1;
            }
            continue;
        }
        if (x_finished(x))
            return x_return_failed(x, err);
        if (x->aborting && x_running(x) == 0) {
            x_give_up(x, "the run was aborted");
            x->sum->result = HVF_EXEC_ABORTED;
            return x_return_failed(x, err);
        }
        if (x_running(x) == 0 && x->run.control != HVF_STORE_CONTROL_NONE && !x->aborting)
            continue; /* a start's own check saw a pause or an abort: the top honours it */
        if (x_running(x) == 0) {
            /* nothing in flight: a frozen fleet or a missing approval waits for a person;
             * anything else that cannot start will not start by itself */
            if (x->note[0] && (strstr(x->note, "frozen") || strstr(x->note, "approval") ||
                               strstr(x->note, "operator"))) {
                x->sum->result = HVF_EXEC_PAUSED;
                return 0;
            }
            if (++idle_rounds > 2) {
                int r = x->replans < 3 ? x_replan(x, "no action can start", err) : 2;

                if (r < 0)
                    return -1;
                if (r == 1) {
                    idle_rounds = 0;
                    continue;
                }
                if (r == 0) {
                    x->sum->result = HVF_EXEC_PAUSED;
                    hvf_strlcpy(x->sum->note, x->note, sizeof(x->sum->note));
                    return 0;
                }
                x_give_up(x, "no action can start (capacity, limits or a host left out of "
                             "service)");
                if (x_return_failed(x, err) < 0)
                    return -1;
                return 0;
            }
        } else {
            idle_rounds = 0;
        }
        x->note[0] = '\0';
        /* a live display wants a line a second; otherwise the driver wakes us for events */
        if (hvf_driver_poll(x->conn, x->o->on_progress ? x_progress_every(x) : X_POLL_VIRTUAL_US,
                            evs, X_MAX_EVENTS, &nevs, err) < 0)
            return -1;
        x->now_us = hvf_driver_now_us(x->conn) - x->t0_us;
        if (x_ledger_sync(x, err) < 0)
            return -1;
        for (size_t i = 0; i < nevs; i++) {
            if (x_handle_event(x, &evs[i], err) < 0)
                return -1;
            if (x->o->check_ledger && x_check(x, err) < 0)
                return -1;
        }
        if (x_watch_jobs(x, &replan, err) < 0)
            return -1;
        if (replan && x->replans < 10) {
            int r = x_replan(x, "a migration or a host runs later than predicted", err);

            if (r < 0)
                return -1;
            if (r == 0) {
                x->sum->result = HVF_EXEC_PAUSED;
                hvf_strlcpy(x->sum->note, x->note, sizeof(x->sum->note));
                /* migrations in flight finish; nothing new starts until approved */
                x->run.control = HVF_STORE_CONTROL_PAUSE;
                if (hvf_store_run_set_control(x->st, x->run.id, HVF_STORE_CONTROL_PAUSE, err) < 0)
                    return -1;
            }
        }
        if (x->o->check_ledger && x_check(x, err) < 0)
            return -1;
        if (x->now_us - last_progress >= x_progress_every(x)) {
            last_progress = x->now_us;
            x_progress(x);
        }
    }
}

/* ---- setup ---- */

int
x_run_add(x_run *x, const char *hash, hvf_error *err)
{
    hvf_strlcpy(x->run.plan_hash, hash, sizeof(x->run.plan_hash));
    hvf_strlcpy(x->run.driver_uri, x->conn->uri, sizeof(x->run.driver_uri));
    hvf_strlcpy(x->run.plan_path, x->o->plan_path ? x->o->plan_path : "",
                sizeof(x->run.plan_path));
    hvf_strlcpy(x->run.inventory_path, x->o->inventory_path ? x->o->inventory_path : "",
                sizeof(x->run.inventory_path));
    x->run.state = HVF_STORE_RUN_RUNNING;
    x->run.pid = getpid();
    return hvf_store_run_add(x->st, &x->run, err);
}

hvf_store *
x_store_open(const hvf_exec_opts *o, hvf_error *err)
{
    hvf_store *st = hvf_state_open(o->store ? o->store : o->state_dir, err);

    if (st && o->fence_holder)
        hvf_store_fence(st, o->fence_holder, o->fence_term);
    return st;
}

void
x_run_record_path(x_run *x)
{
    if (x->o->fence_holder && !x->o->record_path) /* another controller's path is not ours */
        x->run.record_path[0] = '\0';
    if (x->o->record_path)
        hvf_strlcpy(x->run.record_path, x->o->record_path, sizeof(x->run.record_path));
    else if (!x->run.record_path[0])
        snprintf(x->run.record_path, sizeof(x->run.record_path), "%s/runs/run-%" PRId64 ".json",
                 x->o->state_dir, x->run.id);
    x->sum->run_id = x->run.id;
    hvf_strlcpy(x->sum->record_path, x->run.record_path, sizeof(x->sum->record_path));
}

static int
x_refuse(x_run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
x_refuse(x_run *x, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(x->sum->note, sizeof(x->sum->note), fmt, ap);
    va_end(ap);
    x->sum->result = HVF_EXEC_REFUSED;
    return 0;
}

static void
x_free(x_run *x)
{
    for (size_t i = 0; i < x->nhosts; i++)
        free(x->hosts[i].name);
    for (size_t i = 0; i < x->nmigs; i++) {
        free(x->migs[i].vm);
        free(x->migs[i].from);
        free(x->migs[i].to);
    }
    for (size_t i = 0; i < x->nstops; i++) {
        free(x->stops[i].vm);
        free(x->stops[i].host);
        free(x->stops[i].start_host);
    }
    free(x->hosts);
    free(x->migs);
    free(x->stops);
    free(x->ledger);
    free(x->vm_mig);
    free(x->vm_state);
    hvf_plan_free(x->plan);
    hvf_fleet_free(x->fleet);
    hvf_store_close(x->st);
}

static int
x_setup_fleet(x_run *x, hvf_error *err)
{
    hvf_drv_host *hosts = NULL;
    hvf_drv_vm *vms = NULL;
    long nh, nv;

    if (!(x->fleet = hvf_driver_fleet(x->conn, err)))
        return -1;
    nh = hvf_driver_list_hosts(x->conn, &hosts, err);
    nv = nh < 0 ? -1 : hvf_driver_list_vms(x->conn, &vms, err);
    if (nv < 0) {
        free(hosts);
        return -1;
    }
    x_ledger_init(x, hosts, (size_t)nh, vms, (size_t)nv);
    x->vm_mig = hvf_calloc(x->fleet->nvms + 1, sizeof(int32_t));
    for (size_t i = 0; i < x->fleet->nvms; i++)
        x->vm_mig[i] = -1;
    free(hosts);
    free(vms);
    return 0;
}

static int
x_finish(x_run *x, hvf_error *err)
{
    hvf_exec_summary *s = x->sum;

    for (size_t i = 0; i < x->nhosts; i++) {
        s->hosts_done += x->hosts[i].st == XH_DONE;
        s->hosts_failed += x->hosts[i].st == XH_FAILED;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        s->migrations_done += x->migs[i].st == XM_DONE;
        s->migrations_failed += x->migs[i].st == XM_FAILED;
    }
    for (size_t i = 0; i < x->nstops; i++)
        s->vms_stopped += x->stops[i].st != XS_PENDING;
    s->replans = x->replans;
    s->actual_makespan_us = x->now_us;
    if (s->result == HVF_EXEC_DONE && (s->hosts_failed || s->migrations_failed))
        s->result = HVF_EXEC_PARTIAL;
    if (x->note[0] && !s->note[0])
        hvf_strlcpy(s->note, x->note, sizeof(s->note));
    x->run.state = s->result == HVF_EXEC_PAUSED    ? HVF_STORE_RUN_PAUSED
                   : s->result == HVF_EXEC_ABORTED ? HVF_STORE_RUN_ABORTED
                                                   : HVF_STORE_RUN_DONE;
    if (s->result == HVF_EXEC_PAUSED)
        x->run.control = HVF_STORE_CONTROL_PAUSE;
    hvf_strlcpy(x->run.note, s->note, sizeof(x->run.note));
    x->run.pid = 0;
    x_event(x, "run_end", "\"result\":\"%s\",\"note\":\"%s\"", hvf_exec_result_names[s->result],
            s->note);
    if (x_record_write(x, err) < 0)
        return -1;
    return hvf_store_run_update(x->st, &x->run, err);
}

int
hvf_exec_run(hvf_conn *conn, const hvf_plan *plan, const hvf_exec_opts *opts,
             hvf_exec_summary *out, hvf_error *err)
{
    x_run x;
    bool resume;
    int rc = -1;

    memset(&x, 0, sizeof(x));
    memset(out, 0, sizeof(*out));
    x.conn = conn;
    x.o = opts;
    x.sum = out;
    if (opts->policy)
        x.policy = *opts->policy;
    else
        hvf_policy_default(&x.policy);
    if (!(x.st = x_store_open(opts, err)))
        return -1;
    if (!(x.plan = x_plan_dup(plan, err)))
        goto out;
    hvf_strlcpy(x.approval_hash, plan->summary.plan_hash, sizeof(x.approval_hash));
    x.approval_verdict = plan->summary.verdict;
    out->predicted_makespan_us = plan->summary.makespan_ms * 1000;

    if (!hvf_plan_hash_ok(plan)) {
        rc = x_refuse(&x, "plan_hash %.12s does not match the plan's content: it was edited "
                          "after it was made; nothing was changed",
                      plan->summary.plan_hash);
        goto out;
    }
    resume = opts->resume;
    if (resume) {
        int found = hvf_store_run_get(x.st, 0, &x.run, err);

        if (found < 0)
            goto out;
        /* killed before its run was recorded: nothing happened yet, so it starts afresh;
         * killed after it ended: it is done */
        resume = found == 1;
        if (!resume) {
            hvf_store_run last;
            int f = hvf_store_run_of_plan(x.st, plan->summary.plan_hash, &last, err);

            if (f < 0)
                goto out;
            if (f == 1 && last.state != HVF_STORE_RUN_RUNNING &&
                last.state != HVF_STORE_RUN_PAUSED) {
                out->result = last.state == HVF_STORE_RUN_DONE      ? HVF_EXEC_DONE
                              : last.state == HVF_STORE_RUN_ABORTED ? HVF_EXEC_ABORTED
                                                                    : HVF_EXEC_REFUSED;
                out->run_id = last.id;
                hvf_strlcpy(out->record_path, last.record_path, sizeof(out->record_path));
                snprintf(out->note, sizeof(out->note),
                         "run %" PRId64 " of this plan already ended (%s): nothing to resume",
                         last.id, hvf_store_run_state_names[last.state]);
                rc = 0;
                goto out;
            }
        }
    }
    if (resume) {
        if (strcmp(x.run.plan_hash, plan->summary.plan_hash) != 0) {
            char *text = hvf_store_plan_text(x.st, x.run.plan_hash, err);

            /* a run paused on a re-plan continues with that plan, once approved */
            if (!text) {
                rc = x_refuse(&x, "run %" PRId64 " runs plan %.12s, not plan %.12s: resume it "
                                  "with its own plan",
                              x.run.id, x.run.plan_hash, plan->summary.plan_hash);
                goto out;
            }
            hvf_plan_free(x.plan);
            x.plan = x_plan_from_text("stored plan", text, err);
            free(text);
            if (!x.plan)
                goto out;
            hvf_strlcpy(x.approval_hash, x.plan->summary.plan_hash, sizeof(x.approval_hash));
            x.approval_verdict = x.plan->summary.verdict;
        }
        if (x_setup_fleet(&x, err) < 0)
            goto out;
        x.t0_us = hvf_driver_now_us(conn) - (int64_t)0;
        x_load_plan_work(&x, false);
        if (x_resume(&x, err) < 0)
            goto out;
        x.run.control = HVF_STORE_CONTROL_NONE;
        x.run.state = HVF_STORE_RUN_RUNNING;
        x.run.pid = getpid();
        if (hvf_store_run_update(x.st, &x.run, err) < 0)
            goto out;
    } else {
        hvf_diags problems;
        hvf_store_run busy;
        int found = hvf_store_run_get(x.st, 0, &busy, err);

        if (found < 0)
            goto out;
        if (found == 1) {
            rc = x_refuse(&x, "run %" PRId64 " (plan %.12s) is unfinished (%s): resume it with "
                              "--resume or end it with --abort first",
                          busy.id, busy.plan_hash, hvf_store_run_state_names[busy.state]);
            goto out;
        }
        if (x_setup_fleet(&x, err) < 0)
            goto out;
        hvf_diags_init(&problems);
        hvf_plan_check(plan, x.fleet, &problems);
        if (problems.total) {
            rc = x_refuse(&x, "the plan is stale against the fleet the driver reports: %s%s",
                          problems.lines[0], problems.total > 1 ? " (and more)" : "");
            hvf_diags_clear(&problems);
            goto out;
        }
        hvf_diags_clear(&problems);
        if (x_may_act(&x, "this run") < 0) {
            rc = x_refuse(&x, "%s", x.note);
            goto out;
        }
        x.t0_us = hvf_driver_now_us(conn);
        {
            /* the plan's text stays in the store: --resume and re-plans need nothing else */
            hvf_strbuf sb = HVF_STRBUF_INIT;
            int put;

            hvf_plan_format(plan, &sb);
            put = hvf_store_plan_put(x.st, plan->summary.plan_hash,
                                     hvf_plan_kind_to_string(plan->kind), "unknown", sb.buf, err);
            hvf_strbuf_clear(&sb);
            if (put < 0 || x_run_add(&x, plan->summary.plan_hash, err) < 0)
                goto out;
        }
        x_load_plan_work(&x, false);
        if (x_note(&x, "run_start", NULL, NULL, "ok", 0, plan->summary.plan_hash, err) < 0)
            goto out;
    }
    x_run_record_path(&x);
    x_event(&x, "run_start", "\"run\":%" PRId64 ",\"plan_hash\":\"%s\",\"resume\":%s", x.run.id,
            x.plan->summary.plan_hash, resume ? "true" : "false");
    out->result = HVF_EXEC_DONE;
    rc = x_loop(&x, err);
    if (rc == 1) {
        /* left as a kill leaves it: running in the store, its jobs going on, for --resume */
        hvf_error ignore = HVF_ERROR_INIT;

        x.run.pid = 0;
        out->run_id = x.run.id;
        snprintf(out->note, sizeof(out->note), "detached: the run goes on when resumed");
        rc = 0;
        if (hvf_store_run_update(x.st, &x.run, &ignore) < 0) {
            /* the journal holds what was done; resume reads it */
        }
        goto out;
    }
    if (rc < 0) {
        rc = -1;
        x.run.state = HVF_STORE_RUN_FAILED;
        snprintf(x.run.note, sizeof(x.run.note), "%.250s", err->msg);
        {
            hvf_error ignore = HVF_ERROR_INIT;

            if (hvf_store_run_update(x.st, &x.run, &ignore) < 0 ||
                x_record_write(&x, &ignore) < 0) {
                /* the machinery failed; the journal still holds what was done */
            }
        }
        goto out;
    }
    rc = x_finish(&x, err);
out:
    x_free(&x);
    return rc;
}

int
hvf_exec_control(const char *state_dir, int control, int64_t *run_id, hvf_error *err)
{
    hvf_store *st = hvf_state_open(state_dir, err);
    hvf_store_run run;
    int found, rc = -1;

    *run_id = 0;
    if (!st)
        return -1;
    if ((unsigned)control >= HVF_STORE_CONTROL_LAST) {
        hvf_error_set(err, HVF_ERR_INVALID, "control %d does not exist", control);
        goto out;
    }
    found = hvf_store_run_get(st, 0, &run, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "no unfinished run in %s", hvf_store_path(st));
        goto out;
    }
    *run_id = run.id;
    if ((control == HVF_STORE_CONTROL_ABORT || control == HVF_STORE_CONTROL_ABORT_CANCEL) &&
        (run.state == HVF_STORE_RUN_PAUSED || run.pid == 0 || kill((pid_t)run.pid, 0) != 0)) {
        /* nobody runs it: an abort ends it here, with nothing in flight to wait for */
        run.state = HVF_STORE_RUN_ABORTED;
        run.control = (hvf_store_control)control;
        snprintf(run.note, sizeof(run.note), "aborted while no executor ran it");
        rc = hvf_store_run_update(st, &run, err);
        goto out;
    }
    rc = hvf_store_run_set_control(st, run.id, (hvf_store_control)control, err);
out:
    hvf_store_close(st);
    return rc;
}
