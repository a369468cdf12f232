/* SPDX-License-Identifier: MIT */
/* Plans, approvals (the two-person rule), runs and the freeze switch. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/change.h"
#include "hvfleet/freeze.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/plan.h"
#include "hvfleet/policy.h"
#include "hvfleet/scenario.h"

static const char *const plan_fields[] = {"kind", "hosts", "policy", "strategy", "change", NULL};

/* "hosts": a list of names or a selector ("rack:z1/r1,!kvm07"). Returns the count, or -1
 * after answering 400. */
static long
plan_hosts(hvfd_req *r, const hvf_fleet *f, json_t *hosts, int32_t **out)
{
    size_t n = 0;
    hvf_error err = HVF_ERROR_INIT;

    *out = NULL;
    if (!hosts)
        return hvfd_fail(r, 400, "hosts", "'hosts' is required: a list of host names or a "
                                          "selector such as \"rack:z1/r1\"") - 1;
    if (json_is_string(hosts)) {
        if (hvf_scenario_select(f, json_string_value(hosts), HVF_SELECT_ACTIVE_GROUPS, out, &n,
                                &err) < 0)
            return hvfd_fail(r, 400, "hosts", "'%.200s': %s", json_string_value(hosts),
                             hvf_scenario_selector_msg(json_string_value(hosts), err.msg)) - 1;
    } else if (json_is_array(hosts) && json_array_size(hosts) <= f->nhosts) {
        size_t i;
        json_t *h;

        *out = hvf_calloc(json_array_size(hosts) + 1, sizeof(int32_t));
        json_array_foreach(hosts, i, h) {
            char field[32];
            int32_t idx = json_is_string(h) ? hvf_fleet_find_host(f, json_string_value(h)) : -1;

            snprintf(field, sizeof(field), "hosts[%zu]", i);
            if (!json_is_string(h))
                return hvfd_fail(r, 400, field, "'%s' must be a host name", field) - 1;
            if (idx < 0)
                return hvfd_fail(r, 404, field, "'%s': no host named '%.128s'", field,
                                 json_string_value(h)) - 1;
            (*out)[n++] = idx;
        }
    } else {
        return hvfd_fail(r, 400, "hosts",
                         "'hosts' must be a list of at most %zu host names or a selector string",
                         f->nhosts) - 1;
    }
    if (n == 0)
        return hvfd_fail(r, 400, "hosts", "'hosts' selects no host") - 1;
    return (long)n;
}

static int
plan_policy(hvfd_req *r, json_t *jp, hvf_policy *out)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    char *text;
    int rc;

    hvf_policy_default(out);
    if (!jp || json_is_null(jp))
        return 0;
    if (!json_is_object(jp))
        return hvfd_fail(r, 400, "policy", "'policy' must be an object (hvfleet.policy/v1)") - 1;
    text = json_dumps(jp, JSON_COMPACT);
    hvf_diags_init(&diags);
    rc = hvf_policy_parse("policy", text, strlen(text), out, &diags, &err);
    free(text);
    if (rc < 0)
        hvfd_fail(r, 400, "policy", "%s", diags.n ? diags.lines[0] : err.msg);
    hvf_diags_clear(&diags);
    return rc < 0 ? -1 : 0;
}

static json_t *
plan_reasons(const hvf_plan *p)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < p->summary.nreasons; i++)
        json_array_append_new(arr, json_string(p->summary.reasons[i]));
    return arr;
}

/* Keeps a change plan as a file too: a change run is resumed from its file (as the CLI's). */
static int
plan_change_file(hvfd *d, const char *hash, const char *text, hvf_error *err)
{
    HVF_AUTOFREE char *dir = hvf_asprintf("%s/plans", d->state_dir);
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s.json", dir, hash);

    if (hvf_state_dir_ensure(dir, err) < 0)
        return -1;
    return hvf_file_write_atomic(path, text, strlen(text), err);
}

/* POST /v1/plans {kind: change, change: {...}, policy}: the rolling change planned in waves on
 * the fleet as it is (as `hvfleet plan change`). */
static void
plan_change_post(hvfd_req *r, json_t *body)
{
    hvfd *d = r->d;
    json_t *jc = json_object_get(body, "change");
    hvf_policy policy;
    hvf_change_plan_opts popts;
    hvf_error err = HVF_ERROR_INIT;
    hvf_diags diags;
    hvf_change *change = NULL;
    hvf_change_plan *plan = NULL;
    hvf_change_plan_file *file = NULL;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvfd_snap *s = NULL;
    hvf_store *st = NULL;
    char *text;
    json_t *reasons;

    hvf_diags_init(&diags);
    if (!json_is_object(jc)) {
        hvfd_fail(r, 400, "change", "'change' is required for kind change: an object "
                                    "(hvfleet.change/v1, as `hvfleet plan change --change`)");
        goto out;
    }
    if (json_object_get(body, "hosts") || json_object_get(body, "strategy")) {
        hvfd_fail(r, 400, json_object_get(body, "hosts") ? "hosts" : "strategy",
                  "a change plan takes its units from 'change.targets'");
        goto out;
    }
    if (plan_policy(r, json_object_get(body, "policy"), &policy) < 0)
        goto out;
    text = json_dumps(jc, JSON_COMPACT);
    change = hvf_change_parse("change", text, strlen(text), &diags, &err);
    free(text);
    if (!change) {
        hvfd_fail(r, 400, "change", "%s", diags.n ? diags.lines[0] : err.msg);
        goto out;
    }
    if (!(s = hvfd_snap_get(d))) {
        r->retry_after_s = 1;
        hvfd_fail(r, 503, NULL, "the controller has not read the fleet yet");
        goto out;
    }
    memset(&popts, 0, sizeof(popts));
    hvf_change_limits_from_policy(&policy, &popts.limits);
    if (!(plan = hvf_change_plan_build(s->fleet, change, &popts, &err))) {
        hvf_error_prefix(&err, "change: ");
        hvfd_fail_err(r, &err);
        goto out;
    }
    hvf_change_plan_evaluate(plan, &policy, s->fleet, hvf_freeze_is_frozen(d->store_loc));
    hvf_change_plan_format_json(plan, &sb);
    if (!(file = hvf_change_plan_file_parse("change plan", sb.buf, sb.len, &diags, &err))) {
        hvfd_fail_err(r, &err);
        goto out;
    }
    if (!(st = hvfd_store_get(d, &err)) ||
        hvf_store_plan_put(st, file->plan_hash, "change", r->who.name, sb.buf, &err) < 0 ||
        plan_change_file(d, file->plan_hash, sb.buf, &err) < 0) {
        hvfd_fail_err(r, &err);
        goto out;
    }
    hvfd_event(d, st, "plan", 0,
               json_pack("{s:s, s:s, s:s, s:s, s:I}", "plan_hash", file->plan_hash, "kind",
                         "change", "by", r->who.name, "verdict",
                         hvf_plan_verdict_to_string(file->verdict), "units",
                         (json_int_t)file->nunits));
    reasons = json_array();
    for (size_t i = 0; i < file->nreasons; i++)
        json_array_append_new(reasons, json_string(file->reasons[i]));
    hvfd_reply(r, 201,
               json_pack("{s:s, s:s, s:o, s:I, s:I, s:o}", "plan_hash", file->plan_hash,
                         "verdict", hvf_plan_verdict_to_string(file->verdict), "reasons", reasons,
                         "units", (json_int_t)file->nunits, "waves", (json_int_t)file->nwaves,
                         "plan", json_loads(sb.buf, 0, NULL)));
out:
    hvfd_store_put(d, st);
    hvfd_snap_unref(s);
    hvf_strbuf_clear(&sb);
    hvf_change_plan_file_free(file);
    hvf_change_plan_free(plan);
    hvf_change_free(change);
    hvf_diags_clear(&diags);
}

int
hvfd_api_plans_post(hvfd_req *r)
{
    hvfd *d = r->d;
    json_t *body = hvfd_body_object(r, plan_fields);
    const char *kind = NULL, *strategy = NULL;
    HVF_AUTOFREE int32_t *hosts = NULL;
    hvfd_snap *s = NULL;
    hvf_policy policy;
    hvf_maint_opts o;
    hvf_maint_outcome outcome;
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *plan = NULL;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_store *st = NULL;
    json_t *jplan;
    long n;

    if (!body)
        return 0;
    if (hvfd_field_string(r, body, "kind", true, 32, &kind) < 0 ||
        hvfd_field_string(r, body, "strategy", false, 32, &strategy) < 0)
        goto out;
    if (strcmp(kind, "change") == 0) {
        plan_change_post(r, body);
        goto out;
    }
    if (strcmp(kind, "maintenance") != 0 && strcmp(kind, "drain") != 0) {
        hvfd_fail(r, 400, "kind", "'kind': '%.32s': expected maintenance, drain or change", kind);
        goto out;
    }
    if (json_object_get(body, "change")) {
        hvfd_fail(r, 400, "change", "'change' is for kind change only");
        goto out;
    }
    hvf_maint_opts_init(&o);
    o.kind = strcmp(kind, "drain") == 0 ? HVF_PLAN_KIND_DRAIN : HVF_PLAN_KIND_MAINTENANCE;
    if (strategy) {
        int st_ = hvf_plan_strategy_from_string(strategy);

        if (st_ < 0) {
            hvfd_fail(r, 400, "strategy", "'strategy': '%.32s': expected hvfleet or naive",
                      strategy);
            goto out;
        }
        o.strategy = (hvf_plan_strategy)st_;
    }
    if (plan_policy(r, json_object_get(body, "policy"), &policy) < 0)
        goto out;
    if (!(s = hvfd_snap_get(d))) {
        r->retry_after_s = 1;
        hvfd_fail(r, 503, NULL, "the controller has not read the fleet yet");
        goto out;
    }
    if ((n = plan_hosts(r, s->fleet, json_object_get(body, "hosts"), &hosts)) < 0)
        goto out;
    o.hosts = hosts;
    o.nhosts = (size_t)n;
    o.policy = &policy;
    if (!(plan = hvf_maintenance_plan(s->fleet, &o, &outcome, &err))) {
        hvfd_fail_err(r, &err);
        goto out;
    }
    hvf_plan_format(plan, &sb);
    if (!(st = hvfd_store_get(d, &err)) ||
        hvf_store_plan_put(st, plan->summary.plan_hash, kind, r->who.name, sb.buf, &err) < 0) {
        hvfd_fail_err(r, &err);
        goto out;
    }
    hvfd_event(d, st, "plan", 0,
               json_pack("{s:s, s:s, s:s, s:s, s:I}", "plan_hash", plan->summary.plan_hash,
                         "kind", kind, "by", r->who.name, "verdict",
                         hvf_plan_verdict_to_string(plan->summary.verdict), "hosts",
                         (json_int_t)plan->nhosts));
    jplan = json_loads(sb.buf, 0, NULL);
    hvfd_reply(r, 201,
               json_pack("{s:s, s:s, s:o, s:b, s:I, s:I, s:o}", "plan_hash",
                         plan->summary.plan_hash, "verdict",
                         hvf_plan_verdict_to_string(plan->summary.verdict), "reasons",
                         plan_reasons(plan), "finished", outcome.finished, "makespan_s",
                         (json_int_t)(plan->summary.makespan_ms / 1000), "migrations",
                         (json_int_t)plan->nmigrations, "plan", jplan ? jplan : json_null()));
out:
    hvfd_store_put(d, st);
    hvf_strbuf_clear(&sb);
    hvf_plan_free(plan);
    hvfd_snap_unref(s);
    json_decref(body);
    return 0;
}

/* @r->param[0] as a plan hash: 64 lowercase hex digits. Answers 400 when it is not. */
static int
plan_hash_param(hvfd_req *r)
{
    const char *h = r->param[0];
    size_t n = strlen(h);

    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)h[i]) || isupper((unsigned char)h[i]))
            n = 0;
    if (n != HVF_SHA256_HEX_LEN)
        return hvfd_fail(r, 400, "hash", "'%.80s' is not a plan hash (64 lowercase hex digits)",
                         h) - 1;
    return 0;
}

/* A stored plan: a maintenance, drain or rebalance plan, or a change plan. */
typedef struct stored {
    hvf_plan *plan;
    hvf_change_plan_file *change;
    char *text;
    const char *kind;
    hvf_plan_verdict verdict;
} stored;

static void
stored_clear(stored *sp)
{
    hvf_plan_free(sp->plan);
    hvf_change_plan_file_free(sp->change);
    free(sp->text);
    memset(sp, 0, sizeof(*sp));
}

static json_t *
stored_reasons(const stored *sp)
{
    json_t *arr;

    if (sp->plan)
        return plan_reasons(sp->plan);
    arr = json_array();
    for (size_t i = 0; i < sp->change->nreasons; i++)
        json_array_append_new(arr, json_string(sp->change->reasons[i]));
    return arr;
}

/* The stored plan r->param[0], parsed. Returns 0, or -1 after answering 404 (or 5xx). */
static int
plan_stored(hvfd_req *r, hvf_store *st, stored *sp)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_diags diags;
    size_t len;

    memset(sp, 0, sizeof(*sp));
    if (!(sp->text = hvf_store_plan_text(st, r->param[0], &err))) {
        if (err.code && err.code != HVF_ERR_NOT_FOUND)
            return hvfd_fail_err(r, &err) - 1;
        return hvfd_fail(r, 404, "hash", "no plan %.12s in the store (POST /v1/plans makes one)",
                         r->param[0]) - 1;
    }
    len = strlen(sp->text);
    hvf_diags_init(&diags);
    if (hvf_change_plan_file_sniff(sp->text, len)) {
        sp->change = hvf_change_plan_file_parse("stored plan", sp->text, len, &diags, &err);
        sp->kind = "change";
        if (sp->change)
            sp->verdict = sp->change->verdict;
    } else {
        sp->plan = hvf_plan_parse("stored plan", sp->text, len, &diags, &err);
        if (sp->plan) {
            sp->kind = hvf_plan_kind_to_string(sp->plan->kind);
            sp->verdict = sp->plan->summary.verdict;
        }
    }
    hvf_diags_clear(&diags);
    if (!sp->plan && !sp->change) {
        stored_clear(sp);
        return hvfd_fail(r, 409, "hash", "plan %.12s is not a plan this daemon runs: %s",
                         r->param[0], err.msg) - 1;
    }
    return 0;
}

/* The plan r->param[0] checked and loaded into @sp, with a store to go on with (the caller
 * puts it back); NULL after answering. */
static hvf_store *
plan_open(hvfd_req *r, stored *sp)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;

    memset(sp, 0, sizeof(*sp));
    if (plan_hash_param(r) < 0)
        return NULL;
    if (!(st = hvfd_store_get(r->d, &err))) {
        hvfd_fail_err(r, &err);
        return NULL;
    }
    if (plan_stored(r, st, sp) < 0) {
        hvfd_store_put(r->d, st);
        return NULL;
    }
    return st;
}

static json_t *
approvals_json(hvf_store *st, const char *hash)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store_approval *list = NULL;
    long n = hvf_store_approvals(st, hash, &list, &err);
    json_t *arr = json_array();

    for (long i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "by", list[i].by, "at_unix",
                                             (json_int_t)list[i].at_unix, "verdict",
                                             list[i].verdict));
    free(list);
    return arr;
}

int
hvfd_api_plan_get(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    stored sp;
    char author[64] = "";
    hvf_store_run run;
    json_t *body;

    if (!(st = plan_open(r, &sp)))
        return 0;
    (void)hvf_store_plan_author(st, r->param[0], author, sizeof(author), &err);
    body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "plan_hash", r->param[0], "kind",
                     sp.kind, "author", author, "verdict", hvf_plan_verdict_to_string(sp.verdict),
                     "reasons", stored_reasons(&sp), "approvals", approvals_json(st, r->param[0]),
                     "plan", json_loads(sp.text, 0, NULL));
    if (hvf_store_run_of_plan(st, r->param[0], &run, &err) == 1)
        json_object_set_new(body, "run",
                            json_pack("{s:I, s:s}", "id", (json_int_t)run.id, "state",
                                      hvf_store_run_state_names[run.state]));
    hvfd_store_put(d, st);
    stored_clear(&sp);
    return hvfd_reply(r, 200, body);
}

int
hvfd_api_approvals_get(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_store *st;
    stored sp;
    json_t *body;

    if (!(st = plan_open(r, &sp)))
        return 0;
    body = json_pack("{s:s, s:o}", "plan_hash", r->param[0], "approvals",
                     approvals_json(st, r->param[0]));
    hvfd_store_put(d, st);
    stored_clear(&sp);
    return hvfd_reply(r, 200, body);
}

int
hvfd_api_approvals_post(hvfd_req *r)
{
    static const char *const fields[] = {"comment", NULL};
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    json_t *body;
    const char *comment = NULL;
    hvf_store *st = NULL;
    stored sp = {0};
    int rc;

    if (plan_hash_param(r) < 0 || !(body = hvfd_body_object(r, fields)))
        return 0;
    if (hvfd_field_string(r, body, "comment", false, 500, &comment) < 0 ||
        !(st = plan_open(r, &sp)))
        goto out;
    rc = sp.plan ? hvf_approval_record(d->store_loc, sp.plan, r->who.name, &err)
                 : hvf_approval_record_change(d->store_loc, sp.change, r->who.name, &err);
    if (rc < 0) {
        /* the author approving a plan that needs approval: the two-person rule says no */
        if (err.code == HVF_ERR_REFUSED)
            hvfd_fail(r, 403, NULL, "%s", err.msg);
        else
            hvfd_fail_err(r, &err);
        goto out;
    }
    hvfd_event(d, st, "approval", 0,
               json_pack("{s:s, s:s, s:s?}", "plan_hash", r->param[0], "by", r->who.name,
                         "comment", comment));
    hvfd_reply(r, 201, json_pack("{s:s, s:s, s:o}", "plan_hash", r->param[0], "by", r->who.name,
                                 "approvals", approvals_json(st, r->param[0])));
out:
    stored_clear(&sp);
    hvfd_store_put(d, st);
    json_decref(body);
    return 0;
}

/* The hosts of @sp that the running plan also touches, as "a, b" in @buf. */
static size_t
plan_overlap(hvfd *d, const stored *sp, char *buf, size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    pthread_mutex_lock(&d->lock);
    for (size_t k = 0; k < d->run.nhosts_in_plan; k++) {
        const char *h = d->run.hosts_in_plan[k];
        bool shared = false;

        for (size_t i = 0; sp->plan && i < sp->plan->nhosts && !shared; i++)
            shared = strcmp(sp->plan->hosts[i].host, h) == 0;
        for (size_t w = 0; sp->change && w < sp->change->nwaves && !shared; w++)
            for (size_t u = 0; u < sp->change->waves[w].nunits && !shared; u++)
                shared = strcmp(sp->change->waves[w].units[u], h) == 0;
        if (shared && n++ < 5)
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", n > 1 ? ", " : "", h);
    }
    pthread_mutex_unlock(&d->lock);
    return n;
}

int
hvfd_api_runs_post(hvfd_req *r)
{
    json_t *body;

    if (plan_hash_param(r) < 0 || !(body = hvfd_body_object(r, NULL)))
        return 0;
    json_decref(body);
    return hvfd_run_start(r);
}

int
hvfd_run_start(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    stored sp;
    int64_t busy_id = 0;
    hvfd_cmd *cmd;
    int rc;

    if (!(st = hvfd_store_get(d, &err)))
        return hvfd_fail_err(r, &err);
    rc = plan_stored(r, st, &sp);
    hvfd_store_put(d, st);
    if (rc < 0)
        return 0;
    if (hvfd_run_busy(d, &busy_id)) {
        char hosts[256];
        size_t n = plan_overlap(d, &sp, hosts, sizeof(hosts));

        stored_clear(&sp);
        if (n)
            return hvfd_fail(r, 409, NULL,
                             "run %" PRId64 " is running and holds %zu of this plan's hosts (%s): "
                             "one plan runs at a time per host",
                             busy_id, n, hosts);
        return hvfd_fail(r, 409, NULL,
                         "run %" PRId64 " is running: one plan runs at a time (this daemon "
                         "runs plans one after another)",
                         busy_id);
    }
    cmd = HVF_NEW(hvfd_cmd);
    cmd->kind = HVFD_CMD_RUN;
    cmd->plan_text = sp.text;
    sp.text = NULL;
    stored_clear(&sp);
    cmd->plan_hash = hvf_strdup(r->param[0]);
    cmd->by = hvf_strdup(r->who.name);
    if (!hvfd_cmd_run(r, cmd, 60000))
        return 0;
    hvfd_reply(r, cmd->status, json_incref(cmd->result));
    if (r->status == 409 && r->json && json_object_get(r->json, "note") &&
        !json_object_get(r->json, "error")) {
        /* refused by the executor's checks: an error like any other */
        json_t *res = r->json;

        r->json = NULL;
        hvfd_fail(r, 409, NULL, "the run was refused: %s",
                  json_string_value(json_object_get(res, "note")));
        json_object_set(r->json, "run", json_object_get(res, "id"));
        json_decref(res);
    }
    hvfd_cmd_free(cmd);
    return 0;
}

/* r->param[0] as a run id. */
static int
run_id_param(hvfd_req *r, int64_t *id)
{
    char *end;

    errno = 0;
    *id = strtoll(r->param[0], &end, 10);
    if (errno || *end || *id <= 0)
        return hvfd_fail(r, 400, "id", "'%.40s' is not a run id (a positive integer)",
                         r->param[0]) - 1;
    return 0;
}

static json_t *
run_live_json(const hvfd_run_view *v)
{
    json_t *migs = json_array(), *hosts = json_array();
    const hvf_exec_progress *p = &v->p;
    double pct = p->migrations_total
                     ? 100.0 * (double)(p->migrations_done + p->migrations_failed) /
                           (double)p->migrations_total
                     : (p->hosts_total ? 100.0 * (double)(p->hosts_done + p->hosts_failed) /
                                             (double)p->hosts_total
                                       : 0.0);

    for (size_t i = 0; i < p->nmigs; i++)
        json_array_append_new(
            migs, json_pack("{s:s, s:s, s:s, s:f, s:I, s:f, s:b}", "vm", p->migs[i].vm, "from",
                            p->migs[i].from, "to", p->migs[i].to, "pct", p->migs[i].pct,
                            "eta_s", (json_int_t)(p->migs[i].eta_us / 1000000), "bytes_per_s",
                            p->migs[i].bytes_per_s, "postcopy", p->migs[i].postcopy));
    for (size_t i = 0; i < p->nhosts; i++)
        json_array_append_new(hosts, json_pack("{s:s, s:s, s:I}", "host", p->hosts[i].host,
                                               "state", p->hosts[i].state, "remaining_s",
                                               (json_int_t)(p->hosts[i].remaining_us / 1000000)));
    return json_pack("{s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "pct", pct,
                     "elapsed_s", (double)p->now_us / 1e6, "eta_s",
                     (json_int_t)(p->remaining_us / 1000000), "hosts_total",
                     (json_int_t)p->hosts_total, "hosts_done", (json_int_t)p->hosts_done,
                     "hosts_failed", (json_int_t)p->hosts_failed, "migrations_total",
                     (json_int_t)p->migrations_total, "migrations_done",
                     (json_int_t)p->migrations_done, "migrations_failed",
                     (json_int_t)p->migrations_failed, "hosts_active",
                     (json_int_t)p->hosts_active, "migrations", migs, "hosts", hosts);
}

static json_t *run_row_json(const hvf_store_run *run);

int
hvfd_api_run_get(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    hvf_store_run run;
    int64_t id;
    int found;
    json_t *body;

    if (run_id_param(r, &id) < 0)
        return 0;
    if (!(st = hvfd_store_get(d, &err)))
        return hvfd_fail_err(r, &err);
    found = hvf_store_run_get(st, id, &run, &err);
    hvfd_store_put(d, st);
    if (found < 0)
        return hvfd_fail_err(r, &err);
    if (found == 0)
        return hvfd_fail(r, 404, "id", "no run %" PRId64, id);
    body = run_row_json(&run);
    pthread_mutex_lock(&d->lock);
    if (d->run.id == id) {
        /* the executor writes its end to the store before the controller hears of it: a run
         * the store says ended has that result, whatever the live figures still say */
        bool stale = strcmp(d->run.state, "running") == 0 && run.state != HVF_STORE_RUN_RUNNING;

        json_object_set_new(body, "result",
                            json_string(stale ? hvf_store_run_state_names[run.state]
                                              : d->run.state));
        json_object_set_new(body, "progress", run_live_json(&d->run));
        json_object_set_new(body, "predicted_makespan_s",
                            json_real((double)d->run.predicted_makespan_us / 1e6));
        if (d->run.actual_makespan_us)
            json_object_set_new(body, "actual_makespan_s",
                                json_real((double)d->run.actual_makespan_us / 1e6));
        else
            json_object_set_new(
                body, "expected_makespan_s",
                json_real((double)(d->run.p.now_us + d->run.p.remaining_us) / 1e6));
    }
    pthread_mutex_unlock(&d->lock);
    return hvfd_reply(r, 200, body);
}

static json_t *
run_row_json(const hvf_store_run *run)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "id", (json_int_t)run->id,
                     "plan_hash", run->plan_hash, "state", hvf_store_run_state_names[run->state],
                     "control", hvf_store_control_names[run->control], "started_unix",
                     (json_int_t)run->started_unix, "updated_unix",
                     (json_int_t)run->updated_unix, "note", run->note, "record",
                     run->record_path);
}

/* GET /v1/runs?state=S&limit=N: the runs, newest first. */
int
hvfd_api_runs_get(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    HVF_AUTOFREE char *state = hvfd_query(r, "state");
    HVF_AUTOFREE char *lim = hvfd_query(r, "limit");
    hvf_store_run *runs = NULL;
    hvf_store *st;
    long n, limit = 20;
    json_t *arr;
    bool known = !state || strcmp(state, "unfinished") == 0;

    for (int i = 0; state && i < HVF_STORE_RUN_LAST; i++)
        known = known || strcmp(state, hvf_store_run_state_names[i]) == 0;
    if (!known)
        return hvfd_fail(r, 400, "state",
                         "?state=%.40s: expected unfinished, running, paused, done, aborted or "
                         "failed",
                         state);
    if (lim) {
        char *end;

        errno = 0;
        limit = strtol(lim, &end, 10);
        if (errno || *end || end == lim || limit < 1 || limit > 1000)
            return hvfd_fail(r, 400, "limit", "?limit=%.40s: expected 1 to 1000", lim);
    }
    if (!(st = hvfd_store_get(d, &err)))
        return hvfd_fail_err(r, &err);
    n = hvf_store_runs(st, state, (size_t)limit, &runs, &err);
    hvfd_store_put(d, st);
    if (n < 0)
        return hvfd_fail_err(r, &err);
    arr = json_array();
    for (long i = 0; i < n; i++)
        json_array_append_new(arr, run_row_json(&runs[i]));
    free(runs);
    return hvfd_reply(r, 200, json_pack("{s:o}", "runs", arr));
}

int
hvfd_api_run_control(hvfd_req *r)
{
    static const char *const fields[] = {"cancel_running", NULL};
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    const char *action = r->param[1];
    bool cancel = false;
    int64_t id, unfinished = 0;
    hvf_store *st;
    hvf_store_run run;
    int found, control;
    json_t *body;

    if (run_id_param(r, &id) < 0)
        return 0;
    if (strcmp(action, "pause") != 0 && strcmp(action, "resume") != 0 &&
        strcmp(action, "abort") != 0)
        return hvfd_fail(r, 404, "action", "no route POST /v1/runs/{id}/%.40s (expected pause, "
                                           "resume or abort)", action);
    if (!(body = hvfd_body_object(r, fields)))
        return 0;
    if (hvfd_field_bool(r, body, "cancel_running", &cancel) < 0) {
        json_decref(body);
        return 0;
    }
    json_decref(body);
    if (!(st = hvfd_store_get(d, &err)))
        return hvfd_fail_err(r, &err);
    found = hvf_store_run_get(st, 0, &run, &err);
    hvfd_store_put(d, st);
    if (found < 0)
        return hvfd_fail_err(r, &err);
    unfinished = found ? run.id : 0;
    if (unfinished != id)
        return hvfd_fail(r, 409, "id", "run %" PRId64 " is not unfinished (%s)", id,
                         unfinished ? "another run is" : "no run is");
    if (strcmp(action, "resume") == 0) {
        hvfd_cmd *cmd;

        if (hvfd_run_busy(d, NULL))
            return hvfd_fail(r, 409, NULL, "run %" PRId64 " is running, not paused", id);
        if (hvf_exec_control(d->store_loc, HVF_STORE_CONTROL_NONE, &id, &err) < 0)
            return hvfd_fail_err(r, &err);
        cmd = HVF_NEW(hvfd_cmd);
        cmd->kind = HVFD_CMD_RESUME;
        if (!hvfd_cmd_run(r, cmd, 60000))
            return 0;
        hvfd_reply(r, 200, json_incref(cmd->result));
        hvfd_cmd_free(cmd);
    } else {
        control = strcmp(action, "pause") == 0 ? HVF_STORE_CONTROL_PAUSE
                  : cancel                     ? HVF_STORE_CONTROL_ABORT_CANCEL
                                               : HVF_STORE_CONTROL_ABORT;
        if (hvf_exec_control(d->store_loc, control, &id, &err) < 0)
            return hvfd_fail_err(r, &err);
        hvfd_reply(r, 202, json_pack("{s:I, s:s}", "id", (json_int_t)id, "requested",
                                     hvf_store_control_names[control]));
    }
    if (r->status < 300)
        hvfd_event(d, NULL, "run_control", id,
                   json_pack("{s:s, s:s, s:b}", "action", action, "by", r->who.name,
                             "cancel_running", cancel));
    return 0;
}

/* ---- the freeze switch ---- */

static json_t *
freeze_json(hvfd *d, hvf_error *err)
{
    hvf_freeze_info fi;

    if (hvf_freeze_status(d->store_loc, &fi, err) < 0)
        return NULL;
    if (!fi.frozen)
        return json_pack("{s:b}", "frozen", false);
    return json_pack("{s:b, s:s, s:s, s:I}", "frozen", true, "reason", fi.reason, "by", fi.by,
                     "since_unix", (json_int_t)fi.since_unix);
}

int
hvfd_api_freeze_get(hvfd_req *r)
{
    hvf_error err = HVF_ERROR_INIT;
    json_t *body = freeze_json(r->d, &err);

    return body ? hvfd_reply(r, 200, body) : hvfd_fail_err(r, &err);
}

int
hvfd_api_freeze_put(hvfd_req *r)
{
    static const char *const fields[] = {"reason", NULL};
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    json_t *body = hvfd_body_object(r, fields);
    const char *reason = NULL;

    if (!body)
        return 0;
    if (hvfd_field_string(r, body, "reason", true, 250, &reason) < 0 ||
        hvf_freeze_set(d->store_loc, reason, r->who.name, &err) < 0) {
        if (err.code)
            hvfd_fail_err(r, &err);
        json_decref(body);
        return 0;
    }
    hvfd_event(d, NULL, "freeze", 0, json_pack("{s:s, s:s}", "reason", reason, "by", r->who.name));
    json_decref(body);
    body = freeze_json(d, &err);
    return body ? hvfd_reply(r, 200, body) : hvfd_fail_err(r, &err);
}

int
hvfd_api_freeze_delete(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    json_t *body;

    if (hvf_freeze_clear(d->store_loc, &err) < 0)
        return hvfd_fail_err(r, &err);
    hvfd_event(d, NULL, "unfreeze", 0, json_pack("{s:s}", "by", r->who.name));
    body = freeze_json(d, &err);
    return body ? hvfd_reply(r, 200, body) : hvfd_fail_err(r, &err);
}
