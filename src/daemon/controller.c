/* SPDX-License-Identifier: MIT */
/*
 * The controller thread: the only user of the driver connection. It publishes snapshots of the
 * fleet, carries out the commands requests queue, and runs plans with the executor (resuming a
 * run a kill interrupted). While a run goes, the executor's progress callback is where it
 * publishes and takes commands, so the API stays live without a second driver user.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/plan.h"
#include "hvfleet/store.h"

typedef struct ctl {
    hvfd *d;
    hvf_conn *conn;
    int64_t snap_ms; /* when the last snapshot was taken (monotonic) */
    hvfd_cmd *pending; /* the RUN command waiting for its run id */
} ctl;

/*
 * The driver URI. sim:/// runs on --inventory, else on the inventory PUT last, else built-in;
 * agent:/// and libvirt:/// (with their ?parameters) take the same inventory. Any other URI is
 * used as given. Returns the scheme of such a base URI ("agent", "libvirt"), or NULL.
 */
static const char *
ctl_inventory_base(const char *drv)
{
    static const char *const schemes[] = {"agent", "libvirt"};

    for (size_t i = 0; i < HVF_ARRAY_LEN(schemes); i++) {
        size_t n = strlen(schemes[i]);

        if (strncmp(drv, schemes[i], n) == 0 && strncmp(drv + n, ":///", 4) == 0 &&
            (!drv[n + 4] || drv[n + 4] == '?'))
            return schemes[i];
    }
    return NULL;
}

static bool
ctl_sim_base(const char *drv)
{
    return strcmp(drv, "sim:///") == 0 || strcmp(drv, "sim:") == 0 || strcmp(drv, "sim://") == 0;
}

bool
hvfd_driver_follows_put(const hvfd *d)
{
    return !d->cfg.inventory && (ctl_sim_base(d->cfg.driver) || ctl_inventory_base(d->cfg.driver));
}

static char *
ctl_driver_uri(hvfd *d)
{
    const char *drv = d->cfg.driver;
    HVF_AUTOFREE char *put = hvf_asprintf("%s/inventory.yaml", d->state_dir);
    const char *inv = d->cfg.inventory;
    const char *query = "";
    char abs[PATH_MAX];
    const char *base = ctl_inventory_base(drv);

    if (base)
        query = drv + strlen(base) + 4;
    else if (!ctl_sim_base(drv))
        return hvf_strdup(drv);
    if (!inv && access(put, R_OK) == 0)
        inv = put;
    if (!inv)
        return hvf_strdup(base ? drv : "sim:///default");
    return hvf_asprintf("%s://%s%s", base ? base : "sim", realpath(inv, abs) ? abs : inv, query);
}

static bool
ctl_may_act(void *ctx)
{
    return hvfd_leading(ctx);
}

static void
ctl_driver_opts(hvfd *d, hvf_driver_opts *o)
{
    memset(o, 0, sizeof(*o));
    if (d->cluster) { /* the backend is the leader's: a stalled ex-leader does not touch it */
        o->may_act = ctl_may_act;
        o->may_act_ctx = d;
    }
    o->state_dir = d->state_dir;
    o->speed = d->cfg.speed;
    o->agent_hub = &d->hub;
    o->controller_restarts = true; /* HA's (ha.c): the twin restarts nothing itself */
}

static void
ctl_snapshot(ctl *c)
{
    hvfd *d = c->d;
    hvf_error err = HVF_ERROR_INIT;
    hvfd_snap *s = HVF_NEW(hvfd_snap), *old;
    long nh, nv;

    atomic_init(&s->ref, 1);
    nh = hvf_driver_list_hosts(c->conn, &s->hosts, &err);
    nv = nh < 0 ? -1 : hvf_driver_list_vms(c->conn, &s->vms, &err);
    s->fleet = nv < 0 ? NULL : hvf_driver_fleet(c->conn, &err);
    if (!s->fleet) {
        hvfd_log(HVFD_ERROR, "the driver could not list the fleet",
                 json_pack("{s:s}", "error", err.msg));
        s->nhosts = s->nvms = 0;
        hvfd_snap_unref(s);
        return;
    }
    s->nhosts = (size_t)nh;
    s->nvms = (size_t)nv;
    s->now_us = hvf_driver_now_us(c->conn);
    s->at_unix = (int64_t)time(NULL);
    pthread_mutex_lock(&d->lock);
    old = d->snap;
    d->snap = s;
    pthread_mutex_unlock(&d->lock);
    hvfd_snap_unref(old);
    c->snap_ms = hvfd_mono_ms();
}

/* Writes @data (stolen) to the event feed with the driver's clock, for incidents. */
static void
ctl_feed(ctl *c, const char *type, int64_t run, json_t *data)
{
    json_object_set_new(data, "t_us", json_integer(hvf_driver_now_us(c->conn)));
    hvfd_event(c->d, NULL, type, run, data);
}

/* The executor's events the incident records are made of (docs/daemon.md, Incidents). */
static bool
ctl_feed_worthy(const char *type)
{
    static const char *const kinds[] = {
        "host_lost", "host_failed", "host_returned", "host_done", "vm_state", "halt",
        "unit_rolled_back", "replan", "replan_refused", "deviation", "migration_failed",
        "migration_start", "run_aborting", "run_end", NULL};

    for (size_t i = 0; kinds[i]; i++)
        if (strcmp(type, kinds[i]) == 0)
            return true;
    return false;
}

static void
ctl_answer(hvfd *d, hvfd_cmd *cmd, int status, json_t *result, const hvf_error *err)
{
    pthread_mutex_lock(&d->lock);
    if (cmd->detached) {
        pthread_mutex_unlock(&d->lock);
        json_decref(result);
        hvfd_cmd_free(cmd);
        return;
    }
    cmd->status = status;
    cmd->result = result;
    if (err)
        cmd->err = *err;
    cmd->done = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* ---- the run view the API reads ---- */

static char *
run_name(hvfd_run_view *v, const char *s)
{
    char *copy = hvf_strdup(s ? s : "");

    v->names = hvf_realloc(v->names, (v->nnames + 1) * sizeof(*v->names));
    v->names[v->nnames++] = copy;
    return copy;
}

static void
run_view_reset_progress(hvfd_run_view *v)
{
    for (size_t i = 0; i < v->nnames; i++)
        free(v->names[i]);
    free(v->names);
    v->names = NULL;
    v->nnames = 0;
    free(v->migs);
    free(v->hosts);
    v->migs = NULL;
    v->hosts = NULL;
    memset(&v->p, 0, sizeof(v->p));
}

static void
run_view_begin(hvfd *d, const hvf_plan *plan, const hvf_change_plan_file *cplan,
               const char *hash)
{
    hvfd_run_view *v = &d->run;
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    run_view_reset_progress(v);
    for (size_t i = 0; i < v->nhosts_in_plan; i++)
        free(v->hosts_in_plan[i]);
    free(v->hosts_in_plan);
    if (plan) {
        v->hosts_in_plan = hvf_calloc(plan->nhosts + 1, sizeof(char *));
        for (size_t i = 0; i < plan->nhosts; i++)
            v->hosts_in_plan[n++] = hvf_strdup(plan->hosts[i].host);
    } else {
        v->hosts_in_plan = hvf_calloc(cplan->nunits + 1, sizeof(char *));
        for (size_t w = 0; w < cplan->nwaves; w++)
            for (size_t u = 0; u < cplan->waves[w].nunits && n < cplan->nunits; u++)
                v->hosts_in_plan[n++] = hvf_strdup(cplan->waves[w].units[u]);
    }
    v->nhosts_in_plan = n;
    v->id = 0;
    hvf_strlcpy(v->plan_hash, hash, sizeof(v->plan_hash));
    hvf_strlcpy(v->kind, plan ? hvf_plan_kind_to_string(plan->kind) : "change", sizeof(v->kind));
    hvf_strlcpy(v->state, "starting", sizeof(v->state));
    v->note[0] = '\0';
    v->predicted_makespan_us = plan ? plan->summary.makespan_ms * 1000 : 0;
    v->actual_makespan_us = 0;
    v->started_unix = (int64_t)time(NULL);
    v->ended_unix = 0;
    pthread_mutex_unlock(&d->lock);
}

static void
ctl_on_progress(const hvf_exec_progress *p, void *arg);

static void
ctl_on_event(const char *line, void *arg)
{
    ctl *c = arg;
    hvfd *d = c->d;
    json_t *ev = json_loads(line, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "event"));

    if (!type) {
        json_decref(ev);
        return;
    }
    if (strcmp(type, "run_start") == 0) {
        int64_t id = json_integer_value(json_object_get(ev, "run"));

        pthread_mutex_lock(&d->lock);
        d->run.id = id;
        hvf_strlcpy(d->run.state, "running", sizeof(d->run.state));
        pthread_mutex_unlock(&d->lock);
        if (c->pending) {
            ctl_answer(d, c->pending, 201,
                       json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "state", "running",
                                 "plan_hash", d->run.plan_hash),
                       NULL);
            c->pending = NULL;
        }
    } else if (strcmp(type, "migration_end") == 0) {
        hvfd_metrics_migration(d->metrics, "completed",
                               json_number_value(json_object_get(ev, "predicted_s")),
                               json_number_value(json_object_get(ev, "duration_s")));
    } else if (strcmp(type, "migration_failed") == 0) {
        hvfd_metrics_migration(d->metrics, "failed", 0, -1);
    } else if (strcmp(type, "migration_start") == 0) {
        hvfd_metrics_migration(d->metrics, "started", 0, -1);
    }
    hvfd_log(HVFD_DEBUG, "run event", json_pack("{s:O}", "event", ev));
    if (ctl_feed_worthy(type)) {
        int64_t run;

        pthread_mutex_lock(&d->lock);
        run = d->run.id;
        pthread_mutex_unlock(&d->lock);
        ctl_feed(c, "run_event", run, json_incref(ev));
    }
    json_decref(ev);
}

static void ctl_take_commands(ctl *c, bool running);

static void
ctl_on_progress(const hvf_exec_progress *p, void *arg)
{
    ctl *c = arg;
    hvfd *d = c->d;
    hvfd_run_view *v = &d->run;

    pthread_mutex_lock(&d->lock);
    run_view_reset_progress(v);
    v->p = *p;
    v->p.state = NULL;
    if (p->state)
        hvf_strlcpy(v->state, p->state, sizeof(v->state));
    v->migs = hvf_calloc(p->nmigs + 1, sizeof(*v->migs));
    for (size_t i = 0; i < p->nmigs; i++) {
        v->migs[i] = p->migs[i];
        v->migs[i].vm = run_name(v, p->migs[i].vm);
        v->migs[i].from = run_name(v, p->migs[i].from);
        v->migs[i].to = run_name(v, p->migs[i].to);
    }
    v->hosts = hvf_calloc(p->nhosts + 1, sizeof(*v->hosts));
    for (size_t i = 0; i < p->nhosts; i++) {
        v->hosts[i] = p->hosts[i];
        v->hosts[i].host = run_name(v, p->hosts[i].host);
        v->hosts[i].state = run_name(v, p->hosts[i].state);
    }
    v->p.migs = v->migs;
    v->p.hosts = v->hosts;
    pthread_mutex_unlock(&d->lock);
    if (hvfd_mono_ms() - c->snap_ms >= 1000)
        ctl_snapshot(c);
    ctl_take_commands(c, true);
    /* a host lost while a plan runs is the executor's to re-plan around, and HA's to fence */
    hvfd_ha_tick(d, c->conn);
}

static bool
ctl_should_detach(void *arg)
{
    ctl *c = arg;

    return atomic_load(&c->d->stopping) || !hvfd_leading(c->d);
}

static void
ctl_exec(ctl *c, hvf_plan *plan, hvf_change_plan_file *cplan, const char *hash, bool resume,
         const char *by, hvfd_cmd *cmd)
{
    hvfd *d = c->d;
    hvf_exec_opts o;
    hvf_exec_summary sum;
    hvf_error err = HVF_ERROR_INIT;
    /* a change run is resumed from its file (api-plans.c keeps one), as the CLI's */
    HVF_AUTOFREE char *cpath = hvf_asprintf("%s/plans/%s.json", d->state_dir, hash);
    int rc;

    run_view_begin(d, plan, cplan, hash);
    hvf_exec_opts_init(&o);
    o.plan_path = cplan ? cpath : "hvfleetd";
    o.inventory_path = d->cfg.inventory ? d->cfg.inventory : "";
    o.state_dir = d->state_dir;
    if (d->cluster) {
        o.store = d->store_loc;
        o.fence_holder = d->instance;
        o.fence_term = hvfd_lead_term(d);
    }
    o.maintenance_command = d->cfg.maintenance_command;
    o.resume = resume;
    o.by = by;
    o.on_event = ctl_on_event;
    o.on_progress = ctl_on_progress;
    o.ctx = c;
    o.progress_interval_us = d->cfg.speed > 4 ? (int64_t)(d->cfg.speed * 250000) : 250000;
    o.should_detach = ctl_should_detach;
    c->pending = cmd;
    memset(&sum, 0, sizeof(sum));
    rc = plan ? hvf_exec_run(c->conn, plan, &o, &sum, &err)
              : hvf_exec_run_change(c->conn, cplan, &o, &sum, &err);
    pthread_mutex_lock(&d->lock);
    if (rc < 0) {
        hvf_strlcpy(d->run.state, "failed", sizeof(d->run.state));
        hvf_strlcpy(d->run.note, err.msg, sizeof(d->run.note));
    } else {
        hvf_strlcpy(d->run.state, hvf_exec_result_names[sum.result], sizeof(d->run.state));
        hvf_strlcpy(d->run.note, sum.note, sizeof(d->run.note));
        if (sum.run_id)
            d->run.id = sum.run_id;
        /* the last progress was before the end: the summary is what happened */
        run_view_reset_progress(&d->run);
        d->run.p.now_us = sum.actual_makespan_us;
        d->run.p.hosts_done = sum.hosts_done;
        d->run.p.hosts_failed = sum.hosts_failed;
        d->run.p.migrations_done = sum.migrations_done;
        d->run.p.migrations_failed = sum.migrations_failed;
        d->run.p.hosts_total = plan ? plan->nhosts : cplan->nunits;
        d->run.p.migrations_total = plan ? plan->nmigrations : 0;
        d->run.predicted_makespan_us = sum.predicted_makespan_us;
        d->run.actual_makespan_us = sum.actual_makespan_us;
    }
    d->run.ended_unix = (int64_t)time(NULL);
    pthread_mutex_unlock(&d->lock);
    if (c->pending) { /* it never started */
        if (rc < 0)
            ctl_answer(d, c->pending, 0, NULL, &err);
        else
            ctl_answer(d, c->pending, sum.result == HVF_EXEC_REFUSED ? 409 : 201,
                       json_pack("{s:I, s:s, s:s}", "id", (json_int_t)sum.run_id, "state",
                                 hvf_exec_result_names[sum.result], "note", sum.note),
                       NULL);
        c->pending = NULL;
    }
    hvfd_log(rc < 0 ? HVFD_ERROR : HVFD_INFO, "run ended",
             json_pack("{s:I, s:s, s:s}", "run", (json_int_t)d->run.id, "state", d->run.state,
                       "note", d->run.note));
    ctl_snapshot(c);
}

/* @text as a plan or a change plan (one of the two filled), or -1 with @err set. */
static int
ctl_parse(const char *text, hvf_plan **plan, hvf_change_plan_file **cplan, hvf_error *err)
{
    hvf_diags diags;
    size_t len = strlen(text);

    *plan = NULL;
    *cplan = NULL;
    hvf_diags_init(&diags);
    if (hvf_change_plan_file_sniff(text, len))
        *cplan = hvf_change_plan_file_parse("stored plan", text, len, &diags, err);
    else
        *plan = hvf_plan_parse("stored plan", text, len, &diags, err);
    hvf_diags_clear(&diags);
    return *plan || *cplan ? 0 : -1;
}

/* Runs the newest unfinished run of the store again from its journal. */
static void
ctl_resume(ctl *c, hvfd_cmd *cmd)
{
    hvfd *d = c->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    hvf_store_run run;
    HVF_AUTOFREE char *text = NULL;
    hvf_plan *plan = NULL;
    hvf_change_plan_file *cplan = NULL;
    int found = st ? hvf_store_run_get(st, 0, &run, &err) : -1;

    if (found == 1)
        text = hvf_store_plan_text(st, run.plan_hash, &err);
    hvfd_store_put(d, st);
    if (found == 1 && text) {
        if (ctl_parse(text, &plan, &cplan, &err) < 0)
            hvf_error_prefix(&err, "run %" PRId64 ": ", run.id);
    } else if (found == 1) {
        hvf_error_set(&err, HVF_ERR_UNSUPPORTED,
                      "run %" PRId64 " has no stored plan (a change plan run from a file: "
                      "resume it with hvfleet run --resume)",
                      run.id);
    } else if (found == 0) {
        hvf_error_set(&err, HVF_ERR_NOT_FOUND, "no unfinished run to resume");
    }
    if (!plan && !cplan) {
        if (cmd)
            ctl_answer(d, cmd, 0, NULL, &err);
        else if (found != 0)
            hvfd_log(HVFD_ERROR, "cannot resume the unfinished run",
                     json_pack("{s:s}", "error", err.msg));
        return;
    }
    hvfd_log(HVFD_INFO, "resuming run",
             json_pack("{s:I, s:s}", "run", (json_int_t)run.id, "plan_hash", run.plan_hash));
    ctl_exec(c, plan, cplan, run.plan_hash, true, "hvfleetd", cmd);
    hvf_plan_free(plan);
    hvf_change_plan_file_free(cplan);
}

static void
ctl_run(ctl *c, hvfd_cmd *cmd)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *plan;
    hvf_change_plan_file *cplan;

    if (ctl_parse(cmd->plan_text, &plan, &cplan, &err) < 0) {
        ctl_answer(c->d, cmd, 0, NULL, &err);
        return;
    }
    ctl_exec(c, plan, cplan, cmd->plan_hash, false, cmd->by, cmd);
    hvf_plan_free(plan);
    hvf_change_plan_file_free(cplan);
}

/* VM commands: the driver's answer, or why not. */
static void
ctl_vm(ctl *c, hvfd_cmd *cmd)
{
    hvf_error err = HVF_ERROR_INIT;
    int rc = -1;
    int status = 200;

    switch (cmd->kind) {
    case HVFD_CMD_VM_START:
        rc = hvf_driver_vm_start(c->conn, cmd->vm, cmd->host, &err);
        break;
    case HVFD_CMD_VM_STOP:
        rc = hvf_driver_vm_stop(c->conn, cmd->vm, 0, &err);
        break;
    case HVFD_CMD_VM_DELETE:
        rc = hvf_driver_vm_destroy(c->conn, cmd->vm, &err);
        if (rc == 0)
            rc = hvf_driver_vm_undefine(c->conn, cmd->vm, &err);
        break;
    case HVFD_CMD_VM_CREATE: {
        hvf_drv_vm_spec spec;

        memset(&spec, 0, sizeof(spec));
        hvf_strlcpy(spec.name, cmd->vm, sizeof(spec.name));
        spec.mem_mib = (uint64_t)json_integer_value(json_object_get(cmd->spec, "mem_mib"));
        spec.vcpus = (uint32_t)json_integer_value(json_object_get(cmd->spec, "vcpus"));
        spec.dirty_mib_per_s = json_number_value(json_object_get(cmd->spec, "dirty_mib_per_s"));
        hvf_strlcpy(spec.service, json_string_value(json_object_get(cmd->spec, "service")),
                    sizeof(spec.service));
        spec.migratable = json_is_true(json_object_get(cmd->spec, "migratable"));
        spec.ha_set = json_is_boolean(json_object_get(cmd->spec, "ha"));
        spec.ha = json_is_true(json_object_get(cmd->spec, "ha"));
        /* defined and started in one command: no other command places a VM in between */
        rc = hvf_driver_vm_define(c->conn, &spec, cmd->host, &err);
        if (rc == 0 && hvf_driver_vm_start(c->conn, cmd->vm, cmd->host, &err) < 0) {
            hvf_error ignore = HVF_ERROR_INIT;

            rc = -1;
            if (hvf_driver_vm_undefine(c->conn, cmd->vm, &ignore) < 0)
                hvfd_log(HVFD_ERROR, "a VM defined but not started could not be undefined",
                         json_pack("{s:s, s:s}", "vm", cmd->vm, "error", ignore.msg));
        }
        status = 201;
        break;
    }
    default:
        hvf_error_set(&err, HVF_ERR_INTERNAL, "not a VM command");
        break;
    }
    if (rc == 0)
        ctl_snapshot(c);
    ctl_answer(c->d, cmd, rc == 0 ? status : 0,
               rc == 0 ? json_pack("{s:s, s:s}", "vm", cmd->vm, "result", "ok") : NULL,
               rc == 0 ? NULL : &err);
}

static void
ctl_reopen(ctl *c, hvfd_cmd *cmd)
{
    hvfd *d = c->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_driver_opts dopts;
    HVF_AUTOFREE char *uri = ctl_driver_uri(d);
    hvf_conn *conn;

    ctl_driver_opts(d, &dopts);
    conn = hvf_driver_open(uri, &dopts, &err);
    if (!conn) {
        ctl_answer(d, cmd, 0, NULL, &err);
        return;
    }
    hvf_driver_close(c->conn);
    c->conn = conn;
    pthread_mutex_lock(&d->lock);
    free(d->driver_uri);
    d->driver_uri = hvf_strdup(uri);
    pthread_mutex_unlock(&d->lock);
    ctl_snapshot(c);
    ctl_answer(d, cmd, 200, json_pack("{s:s}", "driver", uri), NULL);
}

/* The oldest queued command, taken off the queue, or NULL. */
static hvfd_cmd *
ctl_next_command(hvfd *d)
{
    hvfd_cmd *cmd;

    pthread_mutex_lock(&d->lock);
    cmd = d->cmds;
    if (cmd) {
        d->cmds = cmd->next;
        if (!d->cmds)
            d->cmds_tail = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    return cmd;
}

/* Takes the queued commands; during a run, those that must wait for its end are refused. */
static void
ctl_take_commands(ctl *c, bool running)
{
    hvfd *d = c->d;

    for (;;) {
        hvfd_cmd *cmd = ctl_next_command(d);

        if (!cmd)
            return;
        if (running && (cmd->kind == HVFD_CMD_RUN || cmd->kind == HVFD_CMD_RESUME ||
                        cmd->kind == HVFD_CMD_INVENTORY)) {
            hvf_error err = HVF_ERROR_INIT;

            hvf_error_set(&err, HVF_ERR_CONFLICT,
                          "run %" PRId64 " is running (plan %.12s): one plan runs at a time",
                          d->run.id, d->run.plan_hash);
            ctl_answer(d, cmd, 0, NULL, &err);
            continue;
        }
        switch (cmd->kind) {
        case HVFD_CMD_RUN: ctl_run(c, cmd); break;
        case HVFD_CMD_RESUME: ctl_resume(c, cmd); break;
        case HVFD_CMD_INVENTORY: ctl_reopen(c, cmd); break;
        default: ctl_vm(c, cmd); break;
        }
    }
}

bool
hvfd_run_busy(hvfd *d, int64_t *id)
{
    bool busy;

    pthread_mutex_lock(&d->lock);
    busy = strcmp(d->run.state, "running") == 0 || strcmp(d->run.state, "starting") == 0;
    if (id)
        *id = d->run.id;
    pthread_mutex_unlock(&d->lock);
    return busy;
}

/* Opens the driver and takes the first snapshot; -1 with @err set when it cannot. */
static int
ctl_open(ctl *c, hvf_error *err)
{
    hvfd *d = c->d;
    hvf_driver_opts dopts;
    HVF_AUTOFREE char *uri = ctl_driver_uri(d);

    ctl_driver_opts(d, &dopts);
    c->conn = hvf_driver_open(uri, &dopts, err);
    if (!c->conn)
        return -1;
    pthread_mutex_lock(&d->lock);
    free(d->driver_uri);
    d->driver_uri = hvf_strdup(uri);
    pthread_mutex_unlock(&d->lock);
    ctl_snapshot(c);
    hvfd_log(
        HVFD_INFO, "controller ready",
        json_pack("{s:s, s:f, s:s}", "driver", uri, "speed", d->cfg.speed, "role", hvfd_role(d)));
    return 0;
}

/* A controller that stops acting (it lost the lead): no driver, no fleet to show. */
static void
ctl_close(ctl *c)
{
    hvfd *d = c->d;
    hvfd_snap *old;

    hvf_driver_close(c->conn);
    c->conn = NULL;
    pthread_mutex_lock(&d->lock);
    old = d->snap;
    d->snap = NULL;
    pthread_mutex_unlock(&d->lock);
    hvfd_snap_unref(old);
}

/* What a standby does with commands that reached it anyway (queued as it lost the lead). */
static void
ctl_refuse_commands(ctl *c)
{
    hvfd *d = c->d;

    for (;;) {
        hvfd_cmd *cmd = ctl_next_command(d);
        hvf_error err = HVF_ERROR_INIT;

        if (!cmd)
            return;
        hvf_error_set(&err, HVF_ERR_CONFLICT,
                      "this controller (%s) stopped leading before it got to this: ask the "
                      "leader (GET /v1/cluster)",
                      d->ctl_name);
        ctl_answer(d, cmd, 0, NULL, &err);
    }
}

/* The controller at work, while it may act (always with one controller; while the lease holds
 * with several): a run a kill or SIGTERM (or the last leader's loss) interrupted goes on, then
 * commands, the driver's events, snapshots, HA and reconciliation. */
static void
ctl_lead(ctl *c)
{
    hvfd *d = c->d;
    hvf_error err = HVF_ERROR_INIT;
    int64_t looked_ms = 0;

    while (!atomic_load(&d->stopping) && hvfd_leading(d)) {
        struct timespec until;
        hvf_drv_event evs[64];
        size_t nevs = 0;

        /* A run the store says is running and no executor here carries: one a kill or SIGTERM
         * (or the last leader's loss) interrupted, at the start; with several controllers, also
         * one whose executor stopped on a store that went away for a moment (the journal says
         * where it was). A paused run waits for its operator. */
        if (!looked_ms || (d->cluster && hvfd_mono_ms() - looked_ms >= 5000)) {
            hvf_store *st = hvfd_store_get(d, &err);
            hvf_store_run run;
            bool resume = st && hvf_store_run_get(st, 0, &run, &err) == 1 &&
                          run.state == HVF_STORE_RUN_RUNNING;

            hvfd_store_put(d, st);
            if (resume)
                ctl_resume(c, NULL);
            looked_ms = hvfd_mono_ms();
        }
        ctl_take_commands(c, false);
        /* the wait is the poll's: a backend's clock runs while it waits (the twin's at
         * --speed; real hosts' in wall time); commands queued meanwhile wait at most 100 ms of
         * wall time */
        if (hvf_driver_poll(c->conn,
                            strncmp(c->conn->uri, "sim:", 4) != 0
                                ? 100000
                                : (int64_t)(100000 * (d->cfg.speed > 0 ? d->cfg.speed : 0)),
                            evs, HVF_ARRAY_LEN(evs), &nevs, &err) < 0)
            hvfd_log(HVFD_WARN, "driver poll failed", json_pack("{s:s}", "error", err.msg));
        if (nevs) { /* no run consumes them: they go to the feed, in one transaction */
            hvf_store *st = hvfd_store_get(d, &err);

            if (st && hvf_store_begin(st, &err) < 0) {
                hvfd_store_put(d, st);
                st = NULL;
            }
            for (size_t i = 0; i < nevs; i++)
                if (evs[i].type != HVF_DRV_EV_JOB_DONE)
                    hvfd_event(d, st, "driver", 0,
                               json_pack("{s:s, s:s, s:s, s:s, s:I}", "event",
                                         hvf_drv_event_type_names[evs[i].type], "host", evs[i].host,
                                         "vm", evs[i].vm, "state",
                                         hvf_drv_vm_state_names[evs[i].vm_state], "t_us",
                                         (json_int_t)hvf_driver_now_us(c->conn)));
            if (st && hvf_store_commit(st, &err) < 0)
                hvfd_log(HVFD_ERROR, "the event feed missed the driver's events",
                         json_pack("{s:s}", "error", err.msg));
            hvfd_store_put(d, st);
        }
        if (nevs || hvfd_mono_ms() - c->snap_ms >= 1000)
            ctl_snapshot(c);
        if (!hvfd_leading(d)) /* HA acts: not once the lease may be another's */
            break;
        hvfd_ha_tick(d, c->conn);
        hvfd_deadline(&until, 200);
        pthread_mutex_lock(&d->lock);
        if (d->cfg.speed <= 0 && !d->cmds && !atomic_load(&d->stopping))
            pthread_cond_timedwait(&d->cond, &d->lock, &until);
        pthread_mutex_unlock(&d->lock);
    }
}

static void
ctl_ready(hvfd *d, const hvf_error *err)
{
    pthread_mutex_lock(&d->lock);
    if (err)
        snprintf(d->driver_error, sizeof(d->driver_error), "%.500s", err->msg);
    d->controller_ready = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void *
hvfd_controller_main(void *arg)
{
    hvfd *d = arg;
    ctl c = {.d = d};
    hvf_error err = HVF_ERROR_INIT;

    if (!d->cluster) { /* one controller: a driver that cannot be opened stops the start */
        if (ctl_open(&c, &err) < 0) {
            ctl_ready(d, &err);
            return NULL;
        }
        ctl_ready(d, NULL);
        ctl_lead(&c);
        ctl_close(&c);
        return NULL;
    }
    /* several: a standby opens no driver (its state is the leader's); it waits for the lead */
    ctl_ready(d, NULL);
    while (!atomic_load(&d->stopping)) {
        struct timespec until;

        if (!hvfd_leading(d)) {
            ctl_refuse_commands(&c);
            hvfd_deadline(&until, 200);
            pthread_mutex_lock(&d->lock);
            if (!atomic_load(&d->stopping))
                pthread_cond_timedwait(&d->cond, &d->lock, &until);
            pthread_mutex_unlock(&d->lock);
            continue;
        }
        if (ctl_open(&c, &err) < 0) {
            hvfd_log(HVFD_ERROR, "leading, but the driver cannot be opened: letting the lease go",
                     json_pack("{s:s}", "error", err.msg));
            hvfd_cluster_release(d, "the driver cannot be opened");
            continue;
        }
        ctl_lead(&c);
        ctl_close(&c);
        if (!atomic_load(&d->stopping))
            hvfd_log(HVFD_WARN, "stopped acting: this controller no longer holds the lease",
                     json_pack("{s:s, s:I}", "controller", d->ctl_name, "term",
                               (json_int_t)hvfd_lead_term(d)));
    }
    return NULL;
}
