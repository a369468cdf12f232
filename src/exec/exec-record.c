/* SPDX-License-Identifier: MIT */
/* What a run did: events as JSON lines, the progress display's figures, and the record file
 * (hvfleet.execution/v1) with predicted and actual times side by side. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec/exec-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"
#include "util/text.h"

void
x_event(x_run *x, const char *type, const char *fmt, ...)
{
    char body[1024];
    char line[1400];
    va_list ap;

    if (!x->o->on_event)
        return;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "{\"t_s\":%.3f,\"event\":\"%s\"%s%s}", (double)x->now_us / 1e6,
             type, body[0] ? "," : "", body);
    x->o->on_event(line, x->o->ctx);
}

/* Time left for a running migration: the model, fed with the rates measured now, sends what
 * remains as a first pass and then the dirty pages that come meanwhile. */
static int64_t
x_eta_us(const x_run *x, const x_mig *m, const hvf_job_info *info)
{
    hvf_migrate_params p;
    hvf_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;
    const hvf_vm *v = &x->fleet->vms[m->vm_idx];

    if (info->bytes_per_s <= 0 || info->remaining_bytes == 0)
        return info->remaining_bytes == 0 ? 0 : -1;
    hvf_migrate_params_default(&p);
    p.mem_bytes = info->remaining_bytes;
    p.dirty_bytes_per_s = info->dirty_bytes_per_s;
    p.working_set_bytes = v->working_set_mib * (uint64_t)HVF_MIB;
    if (p.working_set_bytes == 0 || p.working_set_bytes > p.mem_bytes)
        p.working_set_bytes = p.mem_bytes;
    p.bandwidth_bytes_per_s = info->bytes_per_s;
    /* beyond ten first passes it is "not soon": stop the model there (-1), it costs little */
    p.timeout_us = (int64_t)(10.0 * (double)info->remaining_bytes / info->bytes_per_s * 1e6) +
                   60LL * 1000000;
    p.strategy = info->throttle_pct ? HVF_MIGRATE_STRATEGY_AUTO_CONVERGE
                                    : HVF_MIGRATE_STRATEGY_PRECOPY;
    if (hvf_migrate_estimate(&p, &r, &err) < 0 || !r.converged)
        return -1;
    return r.total_us;
}

void
x_progress(x_run *x)
{
    hvf_exec_progress pr;
    hvf_exec_progress_mig *migs;
    hvf_exec_progress_host *hosts;
    int64_t plan_progress_us = 0, last_pred = 0;
    size_t n = 0, nh = 0;

    if (!x->o->on_progress)
        return;
    memset(&pr, 0, sizeof(pr));
    migs = hvf_calloc(x->nmigs + 1, sizeof(*migs));
    hosts = hvf_calloc(x->nhosts + 1, sizeof(*hosts));
    pr.now_us = x->now_us;
    pr.hosts_total = x->nhosts;
    pr.migrations_total = x->nmigs;
    for (size_t i = 0; i < x->nhosts; i++) {
        pr.hosts_done += x->hosts[i].st == XH_DONE;
        pr.hosts_failed += x->hosts[i].st == XH_FAILED;
        pr.hosts_active += x->hosts[i].st == XH_DRAINING || x->hosts[i].st == XH_MAINTAINING;
        if (x->hosts[i].pred_maint_end_us > last_pred)
            last_pred = x->hosts[i].pred_maint_end_us;
        if (x->hosts[i].st == XH_DONE && x->hosts[i].pred_maint_end_us > plan_progress_us)
            plan_progress_us = x->hosts[i].pred_maint_end_us;
        if ((x->hosts[i].st == XH_DRAINING || x->hosts[i].st == XH_MAINTAINING) &&
            x->hosts[i].evac_start_us >= 0) {
            /* what the plan gave it, less what it took so far: a late host shows 0 */
            int64_t left = (x->hosts[i].pred_maint_end_us - x->hosts[i].pred_evac_start_us) -
                           (x->now_us - x->hosts[i].evac_start_us);

            hosts[nh].host = x->hosts[i].name;
            hosts[nh].state = x_host_state_names[x->hosts[i].st];
            hosts[nh].remaining_us = left > 0 ? left : 0;
            nh++;
        }
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        x_mig *m = &x->migs[i];
        hvf_job_info info;
        hvf_error err = HVF_ERROR_INIT;

        if (m->pred_end_us > last_pred)
            last_pred = m->pred_end_us;
        pr.migrations_done += m->st == XM_DONE;
        pr.migrations_failed += m->st == XM_FAILED;
        if (m->st == XM_DONE && m->pred_end_us > plan_progress_us)
            plan_progress_us = m->pred_end_us;
        if (m->st != XM_RUNNING || hvf_driver_job_info(x->conn, m->job, &info, &err) < 0)
            continue;
        migs[n].vm = m->vm;
        migs[n].from = m->from;
        migs[n].to = m->to;
        migs[n].pct = info.transferred_bytes + info.remaining_bytes
                          ? 100.0 * (double)info.transferred_bytes /
                                (double)(info.transferred_bytes + info.remaining_bytes)
                          : 0;
        migs[n].eta_us = x_eta_us(x, m, &info);
        migs[n].bytes_per_s = info.bytes_per_s;
        migs[n].dirty_bytes_per_s = info.dirty_bytes_per_s;
        migs[n].throttle_pct = info.throttle_pct;
        migs[n].postcopy = info.state == HVF_JOB_POSTCOPY;
        n++;
    }
    /* the plan's clock left from the furthest point reached */
    pr.remaining_us = last_pred > plan_progress_us ? last_pred - plan_progress_us : 0;
    pr.migs = migs;
    pr.nmigs = n;
    pr.hosts = hosts;
    pr.nhosts = nh;
    pr.state = x->run.control == HVF_STORE_CONTROL_PAUSE ? "pausing"
               : x->aborting                              ? "aborting"
                                                          : "running";
    x->o->on_progress(&pr, x->o->ctx);
    free(migs);
    free(hosts);
}

static json_t *
x_s(int64_t us)
{
    return us < 0 ? json_null() : json_real(round((double)us / 1e3) / 1e3);
}

int
x_record_write(x_run *x, hvf_error *err)
{
    json_t *root = json_object(), *hosts = json_array(), *migs = json_array();
    json_t *stops = json_array(), *sum;
    char *text;
    int rc;
    double pred_total = 0, actual_total = 0;
    size_t ncmp = 0;
    HVF_AUTOFREE char *dir = hvf_strdup(x->run.record_path);
    char *slash = strrchr(dir, '/');

    for (size_t i = 0; i < x->nhosts; i++) {
        const x_host *h = &x->hosts[i];

        json_array_append_new(
            hosts,
            json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:{s:o, s:o, s:o, s:o}}", "host",
                      h->name, "evacuate_start_s", x_s(h->evac_start_us), "evacuate_end_s",
                      x_s(h->evac_end_us), "maintenance_start_s", x_s(h->maint_start_us),
                      "maintenance_end_s", x_s(h->maint_end_us), "outcome",
                      x_host_state_names[h->st], "reason", h->reason, "predicted",
                      "evacuate_start_s", x_s(h->pred_evac_start_us), "evacuate_end_s",
                      x_s(h->pred_evac_end_us), "maintenance_start_s",
                      x_s(h->pred_maint_start_us), "maintenance_end_s",
                      x_s(h->pred_maint_end_us)));
    }
    for (size_t i = 0; i < x->nmigs; i++) {
        const x_mig *m = &x->migs[i];

        if (m->st == XM_DONE && m->start_us >= 0) {
            pred_total += (double)(m->pred_end_us - m->pred_start_us);
            actual_total += (double)(m->end_us - m->start_us);
            ncmp++;
        }
        json_array_append_new(
            migs, json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:{s:o, s:o}}", "vm", m->vm,
                            "from", m->from, "to", m->to, "start_s", x_s(m->start_us), "end_s",
                            x_s(m->end_us), "outcome", x_mig_state_names[m->st], "reason",
                            m->reason, "downtime_ms",
                            m->st == XM_DONE ? json_real((double)m->downtime_us / 1e3)
                                             : json_null(),
                            "predicted", "start_s", x_s(m->pred_start_us), "end_s",
                            x_s(m->pred_end_us)));
    }
    for (size_t i = 0; i < x->nstops; i++) {
        const x_stop *s = &x->stops[i];

        json_array_append_new(
            stops, json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:{s:o, s:o}}", "vm", s->vm,
                             "host", s->host, "start_host", s->start_host, "stop_s",
                             x_s(s->stop_us), "start_s", x_s(s->start_us), "outcome",
                             x_stop_state_names[s->st], "reason", s->reason, "predicted",
                             "stop_s", x_s(s->pred_stop_us), "start_s", x_s(s->pred_start_us)));
    }
    sum = json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:s}", "result",
                    hvf_exec_result_names[x->sum->result], "predicted_makespan_s",
                    x_s(x->sum->predicted_makespan_us), "actual_makespan_s", x_s(x->now_us),
                    "hosts_done", (json_int_t)x->sum->hosts_done, "hosts_failed",
                    (json_int_t)x->sum->hosts_failed, "migrations_done",
                    (json_int_t)x->sum->migrations_done, "migrations_failed",
                    (json_int_t)x->sum->migrations_failed, "replans", (json_int_t)x->replans,
                    "predicted_migration_time_s", json_real(pred_total / 1e6),
                    "actual_migration_time_s", json_real(actual_total / 1e6), "note",
                    x->sum->note[0] ? x->sum->note : x->note);
    json_object_set_new(root, "schema", json_string(HVF_EXEC_RECORD_SCHEMA));
    json_object_set_new(root, "plan_hash", json_string(x->run.plan_hash));
    json_object_set_new(root, "plan_in_force", json_string(x->plan ? x->plan->summary.plan_hash
                                                                    : x->run.plan_hash));
    json_object_set_new(root, "run", json_integer(x->run.id));
    json_object_set_new(root, "driver", json_string(x->run.driver_uri));
    json_object_set_new(root, "kind", json_string(x->plan ? hvf_plan_kind_to_string(x->plan->kind)
                                                          : "change"));
    json_object_set_new(root, "state", json_string(hvf_store_run_state_names[x->run.state]));
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "hosts", hosts);
    json_object_set_new(root, "migrations", migs);
    json_object_set_new(root, "stops", stops);
    (void)ncmp;
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (slash) {
        *slash = '\0';
        if (*dir && hvf_file_mkdirs(dir, 0755, err) < 0) {
            free(text);
            return -1;
        }
    }
    rc = hvf_file_write_atomic(x->run.record_path, text, strlen(text), err);
    free(text);
    return rc;
}
