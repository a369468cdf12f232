/* SPDX-License-Identifier: MIT */
/*
 * Deviation -> re-plan: the work left is planned again by the twin from the fleet as the
 * driver reports it, VMs in flight counted on their targets. A re-plan whose seatbelt verdict
 * is no worse than the plan in force replaces the work left and the run goes on; a worse one
 * becomes the plan in force too, but nothing new starts until a person approves it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/freeze.h"
#include "hvfleet/maintenance.h"

static void
x_replan_apply(x_run *x, hvf_plan *plan, bool worse)
{
    if (worse) {
        hvf_strlcpy(x->approval_hash, plan->summary.plan_hash, sizeof(x->approval_hash));
        x->approval_verdict = plan->summary.verdict;
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];

        if (m->st == XM_PENDING) {
            m->st = XM_SKIPPED;
            snprintf(m->reason, sizeof(m->reason), "re-planned");
        }
    }
    for (size_t i = 0; i < x->nhosts; i++) {
        x_host *h = &x->hosts[i];
        bool in = false;

        for (size_t k = 0; k < plan->nhosts && !in; k++)
            in = strcmp(plan->hosts[k].host, h->name) == 0;
        if (!in && (h->st == XH_PENDING || h->st == XH_DRAINING))
            x_host_fail(x, h, "not maintained: the re-plan left it out");
    }
    hvf_plan_free(x->plan);
    x->plan = plan;
    x_load_plan_work(x, true);
    x->replans++;
}

int
x_replan_apply_stored(x_run *x, const char *hash, bool worse, hvf_error *err)
{
    char *text = hvf_store_plan_text(x->st, hash, err);
    hvf_plan *p;

    if (!text) {
        hvf_error_set(err, HVF_ERR_IO, "the journal names re-plan %.12s, which the store lacks",
                      hash);
        return -1;
    }
    p = x_plan_from_text("re-plan", text, err);
    free(text);
    if (!p)
        return -1;
    x_replan_apply(x, p, worse);
    return 0;
}

/* Moves @vm to @to in the accounting of @f (a VM in flight, counted where it goes). */
static void
x_fleet_move(hvf_fleet *f, int32_t vm, int32_t to)
{
    hvf_vm *v = &f->vms[vm];
    hvf_resources r = hvf_vm_resources(v);
    hvf_error err = HVF_ERROR_INIT;

    if (v->host == to)
        return;
    HVF_ASSERT(v->host < 0 || hvf_host_release_used(&f->hosts[v->host], &r, &err) == 0);
    HVF_ASSERT(hvf_host_use(&f->hosts[to], &r, HVF_OVERCOMMIT, &err) == 0);
    v->host = to;
}

int
x_replan(x_run *x, const char *why, hvf_error *err)
{
    HVF_AUTOFREE int32_t *hosts = NULL;
    hvf_fleet *f;
    hvf_maint_opts o;
    hvf_plan *plan;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error perr = HVF_ERROR_INIT;
    size_t n = 0;
    bool worse;

    if (x->plan->kind == HVF_PLAN_KIND_REBALANCE)
        return 2; /* an audit's moves: nothing to plan again, each stands alone */
    if (!(f = hvf_driver_fleet(x->conn, err)))
        return -1;
    for (size_t i = 0; i < x->nmigs; i++) {
        const x_mig *m = &x->migs[i];

        if (m->st == XM_RUNNING)
            x_fleet_move(f, m->vm_idx, m->to_idx);
    }
    hosts = hvf_calloc(x->nhosts + 1, sizeof(*hosts));
    for (size_t i = 0; i < x->nhosts; i++) {
        int32_t h = hvf_fleet_find_host(f, x->hosts[i].name);

        if ((x->hosts[i].st == XH_PENDING || x->hosts[i].st == XH_DRAINING) && h >= 0 &&
            f->hosts[h].state == HVF_HOST_STATE_ACTIVE)
            hosts[n++] = h;
    }
    if (n == 0) {
        hvf_fleet_free(f);
        return 2;
    }
    hvf_maint_opts_init(&o);
    o.kind = x->plan->kind;
    o.strategy = HVF_PLAN_STRATEGY_HVFLEET;
    o.hosts = hosts;
    o.nhosts = n;
    o.policy = &x->policy;
    plan = hvf_maintenance_plan(f, &o, NULL, &perr);
    hvf_fleet_free(f);
    if (!plan) {
        x_event(x, "replan_failed", "\"why\":\"%s\",\"error\":\"%s\"", why, perr.msg);
        return 2; /* the work in force goes on */
    }
    if (plan->summary.verdict == HVF_PLAN_VERDICT_REFUSED) {
        /* nothing safe to switch to: keep the work in force, and a person decides */
        snprintf(x->note, sizeof(x->note),
                 "re-planned (%s), but the seatbelt refused the new plan (%.200s): nothing new "
                 "starts; hvfleet run --resume tries again, --abort ends the run",
                 why, plan->summary.nreasons ? plan->summary.reasons[0] : "no reason");
        x_event(x, "replan_refused", "\"why\":\"%s\"", why);
        hvf_plan_free(plan);
        return 0;
    }
    worse = plan->summary.verdict > x->approval_verdict;
    hvf_plan_format(plan, &sb);
    if (hvf_store_plan_put(x->st, plan->summary.plan_hash, hvf_plan_kind_to_string(plan->kind),
                           "hvfleet run (re-plan)", sb.buf, err) < 0) {
        hvf_strbuf_clear(&sb);
        hvf_plan_free(plan);
        return -1;
    }
    {
        HVF_AUTOFREE char *path =
            hvf_asprintf("%s/replans/%s.json", x->o->state_dir, plan->summary.plan_hash);
        HVF_AUTOFREE char *dir = hvf_asprintf("%s/replans", x->o->state_dir);

        if (hvf_state_dir_ensure(dir, err) < 0 ||
            hvf_file_write_atomic(path, sb.buf, sb.len, err) < 0) {
            hvf_strbuf_clear(&sb);
            hvf_plan_free(plan);
            return -1;
        }
        if (worse)
            snprintf(x->note, sizeof(x->note),
                     "re-planned (%s): the new plan's verdict is %s, worse than %s: approve "
                     "%s, then hvfleet run --resume",
                     why, hvf_plan_verdict_to_string(plan->summary.verdict),
                     hvf_plan_verdict_to_string(x->plan->summary.verdict), path);
    }
    hvf_strbuf_clear(&sb);
    if (x_note(x, "replan", NULL, NULL, worse ? "paused" : "continue", 0,
               plan->summary.plan_hash, err) < 0) {
        hvf_plan_free(plan);
        return -1;
    }
    x_event(x, "replan",
            "\"why\":\"%s\",\"plan_hash\":\"%s\",\"verdict\":\"%s\",\"was\":\"%s\","
            "\"goes_on\":%s,\"makespan_s\":%.1f",
            why, plan->summary.plan_hash, hvf_plan_verdict_to_string(plan->summary.verdict),
            hvf_plan_verdict_to_string(x->plan->summary.verdict), worse ? "false" : "true",
            (double)plan->summary.makespan_ms / 1e3);
    x_replan_apply(x, plan, worse);
    return worse ? 0 : 1;
}
