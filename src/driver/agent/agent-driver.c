/* SPDX-License-Identifier: MIT */
/*
 * The agent:// driver's table (agent-driver.h, docs/agent-driver.md): its URI, what it lists,
 * and the actions, each a command for one host's agent.
 *
 * agent:///abs/inventory.yaml?image=PATH[&accel=tcg|kvm][&append=TEMPLATE]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/agent/agent-driver.h"
#include "driver/driver-uri.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/inventory.h"

static ad_priv *
ad(hvf_conn *conn)
{
    return conn->priv;
}

static void
ad_free(ad_priv *p)
{
    if (!p)
        return;
    hvf_fleet_free(p->fleet);
    free(p->hosts);
    free(p->vms);
    free(p->jobs);
    free(p->cmds);
    hvf_drv_evq_clear(&p->evq);
    free(p->inv_path);
    free(p->image);
    free(p->accel);
    free(p->append);
    free(p);
}

static int
ad_uri_parse(ad_priv *p, const char *uri, hvf_error *err)
{
    hvf_driver_uri u;
    int rc = 0;

    if (hvf_driver_uri_split(uri, strlen("agent"), &u, err) < 0)
        return -1;
    if (!*u.path) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "driver URI '%s': expected agent:///PATH/inventory.yaml (the fleet the "
                      "agents' hosts form)",
                      uri);
        hvf_driver_uri_clear(&u);
        return -1;
    }
    p->inv_path = hvf_strdup(u.path);
    p->accel = hvf_strdup("tcg");
    for (size_t i = 0; i < u.nparams && rc == 0; i++) {
        const char *name = u.names[i], *eq = u.values[i];
        char **dst = strcmp(name, "image") == 0    ? &p->image
                     : strcmp(name, "accel") == 0  ? &p->accel
                     : strcmp(name, "append") == 0 ? &p->append
                                                   : NULL;

        if (!dst) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "driver URI '%s': unknown parameter '%s' (expected image, accel or "
                          "append)",
                          uri, name);
            rc = -1;
        } else if (dst == &p->accel && strcmp(eq, "tcg") != 0 && strcmp(eq, "kvm") != 0) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "driver URI '%s': accel '%s': expected tcg or kvm", uri, eq);
            rc = -1;
        } else {
            free(*dst);
            *dst = hvf_strdup(eq);
        }
    }
    hvf_driver_uri_clear(&u);
    return rc;
}

static hvf_drv_host_state
ad_view_host(const void *ctx, size_t h)
{
    return ((const ad_priv *)ctx)->hosts[h].state;
}

static hvf_drv_vm_state
ad_view_vm(const void *ctx, size_t v)
{
    return ((const ad_priv *)ctx)->vms[v].state;
}

static int64_t
ad_view_job(const void *ctx, size_t v)
{
    return ((const ad_priv *)ctx)->vms[v].job;
}

static double
ad_view_dirty(const void *ctx, size_t v)
{
    return ((const ad_priv *)ctx)->vms[v].measured_dirty;
}

/* The world's view: the first member of the private data (driver-world.h). */
static void
ad_view_init(ad_priv *p)
{
    p->view = (hvf_drv_world_view){p->fleet, p, ad_view_host, ad_view_vm, ad_view_job,
                                   ad_view_dirty};
}

static int
ad_open(hvf_conn *conn, const char *uri, const hvf_driver_opts *opts, hvf_error *err)
{
    ad_priv *p = HVF_NEW(ad_priv);
    hvf_diags diags;

    if (!opts->agent_hub || !opts->agent_hub->send || !opts->agent_hub->take) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "driver URI '%s': agent:// runs inside hvfleetd, which holds the agents' "
                      "connections (set it as hvfleetd's driver)",
                      uri);
        free(p);
        return -1;
    }
    hvf_diags_init(&diags);
    if (ad_uri_parse(p, uri, err) < 0) {
        hvf_diags_clear(&diags);
        ad_free(p);
        return -1;
    }
    p->fleet = hvf_inventory_load(p->inv_path, &diags, err);
    hvf_diags_clear(&diags);
    if (!p->fleet) {
        ad_free(p);
        return -1;
    }
    p->hub = *opts->agent_hub;
    p->hosts = hvf_calloc(p->fleet->nhosts ? p->fleet->nhosts : 1, sizeof(*p->hosts));
    p->vms = hvf_calloc(p->fleet->nvms ? p->fleet->nvms : 1, sizeof(*p->vms));
    ad_view_init(p);
    /* down until its agent registers: nothing is known of a host nobody speaks for */
    for (size_t h = 0; h < p->fleet->nhosts; h++)
        p->hosts[h].state = HVF_DRV_HOST_DOWN;
    for (size_t v = 0; v < p->fleet->nvms; v++) {
        p->vms[v].state = HVF_DRV_VM_STOPPED;
        p->vms[v].job = -1;
        p->vms[v].measured_dirty = -1;
    }
    p->next_job = 1;
    p->t0_ns = hvf_drv_mono_ns();
    conn->priv = p;
    if (p->hub.attach)
        p->hub.attach(p->hub.ctx, true);
    /* what the agents already told: the hosts' states and VMs, before the first caller asks */
    {
        json_t *msgs = p->hub.take(p->hub.ctx, 0), *m;
        size_t i;

        json_array_foreach(msgs, i, m)
            ad_message(p, m);
        json_decref(msgs);
        p->evq.n = 0; /* what was before the open is state, not news */
    }
    return 0;
}

static void
ad_close(hvf_conn *conn)
{
    ad_priv *p = ad(conn);

    if (!p)
        return;
    if (p->hub.attach)
        p->hub.attach(p->hub.ctx, false);
    ad_free(p);
    conn->priv = NULL;
}

static int64_t
ad_now_us(hvf_conn *conn)
{
    return ad_now(ad(conn));
}

static int
ad_poll(hvf_conn *conn, int64_t max_wait_us, hvf_drv_event *evs, size_t cap, size_t *nevs,
        hvf_error *err)
{
    ad_priv *p = ad(conn);
    int64_t until = ad_now(p) + max_wait_us;

    (void)err;
    for (;;) {
        int64_t left;
        json_t *msgs, *m;
        size_t i;

        ad_tick(p);
        left = p->evq.n ? 0 : until - ad_now(p);
        msgs = p->hub.take(p->hub.ctx, left > 0 ? left : 0);
        json_array_foreach(msgs, i, m)
            ad_message(p, m);
        json_decref(msgs);
        if (p->evq.n || ad_now(p) >= until)
            break;
    }
    *nevs = hvf_drv_evq_take(&p->evq, evs, cap);
    return 0;
}

/* ---- actions ---- */

static int32_t
ad_find_host(ad_priv *p, const char *name, bool must_answer, hvf_error *err)
{
    int32_t h = hvf_fleet_find_host(p->fleet, name);

    if (h < 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "host '%s' is not in the agent driver's inventory "
                                              "(%s)",
                      name, p->inv_path);
        return -1;
    }
    if (must_answer && p->hosts[h].identity[0]) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is out of service: %s", name,
                      p->hosts[h].identity);
        return -1;
    }
    if (must_answer && p->hosts[h].agent != AD_AGENT_CONNECTED) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s': its agent is %s", name,
                      p->hosts[h].agent == AD_AGENT_NONE      ? "not registered"
                      : p->hosts[h].agent == AD_AGENT_SUSPECT ? "suspect (heartbeats missed)"
                                                              : "down");
        return -1;
    }
    return h;
}

static int32_t
ad_find_vm(ad_priv *p, const char *name, hvf_error *err)
{
    int32_t v = hvf_fleet_find_vm(p->fleet, name);

    if (v < 0)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "VM '%s' is not in the agent driver's inventory "
                                              "(%s)",
                      name, p->inv_path);
    return v;
}

static bool
ad_need_image(ad_priv *p, hvf_error *err)
{
    if (p->image)
        return true;
    hvf_error_set(err, HVF_ERR_UNSUPPORTED,
                  "the agent driver starts VMs from image= in its URI, and it has none "
                  "(agent:///%s?image=PATH)",
                  p->inv_path);
    return false;
}

static int
ad_host_set_state(hvf_conn *conn, const char *host, hvf_drv_host_state state, hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t h = ad_find_host(p, host, false, err);

    if (h < 0)
        return -1;
    if (hvf_drv_host_transition(host, p->hosts[h].state, state, err) < 0)
        return -1;
    p->hosts[h].state = state;
    return 0;
}

static int
ad_host_maintain(hvf_conn *conn, const char *host, const char *command, int64_t expected_us,
                 int64_t timeout_us, hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t h = ad_find_host(p, host, true, err);
    ad_host *ho;

    (void)expected_us;
    if (h < 0 || hvf_drv_world_may_maintain(&p->view, h, err) < 0)
        return -1;
    ho = &p->hosts[h];
    if (!command || !*command || strcmp(command, "none") == 0) {
        ho->state = HVF_DRV_HOST_MAINTENANCE;
        ho->maint_back = true; /* nothing to run: back in service at the next poll */
        return 0;
    }
    {
        const char *const kv[] = {"host", host, NULL};
        HVF_AUTOFREE char *cmd = hvf_template_expand(command, kv);

        if (ad_send(p, h, "host_maintain",
                    json_pack("{s:s, s:I}", "command", cmd, "timeout_s",
                              (json_int_t)(timeout_us > 0 ? (timeout_us + 999999) / 1000000 : 0)),
                    AD_CMD_MAINTAIN, -1, -1, err) < 0)
            return -1;
    }
    ho->state = HVF_DRV_HOST_MAINTENANCE;
    hvf_strlcpy(ho->maint_id, p->cmds[p->ncmds - 1].id, sizeof(ho->maint_id));
    hvf_strlcpy(ho->maint_boot, ho->boot_id, sizeof(ho->maint_boot));
    return 0;
}

static int
ad_vm_start(hvf_conn *conn, const char *vm, const char *host, hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t v = ad_find_vm(p, vm, err), h;

    if (v < 0 || (h = ad_find_host(p, host, true, err)) < 0 || !ad_need_image(p, err))
        return -1;
    if (p->vms[v].state != HVF_DRV_VM_STOPPED && p->vms[v].state != HVF_DRV_VM_CRASHED) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s on host '%s': expected it stopped",
                      vm, hvf_drv_vm_state_names[p->vms[v].state],
                      p->fleet->hosts[p->fleet->vms[v].host].name);
        return -1;
    }
    if (p->hosts[h].state != HVF_DRV_HOST_ACTIVE) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: it starts no VM ('%s')", host,
                      hvf_drv_host_state_names[p->hosts[h].state], vm);
        return -1;
    }
    return ad_send(p, h, "vm_start", ad_vm_spec(p, v), AD_CMD_VM_START, v, -1, err);
}

static int
ad_vm_stop_any(hvf_conn *conn, const char *vm, bool destroy, int64_t timeout_us, hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t v = ad_find_vm(p, vm, err), h;

    if (v < 0 || (h = ad_find_host(p, p->fleet->hosts[p->fleet->vms[v].host].name, true, err)) < 0)
        return -1;
    if (p->vms[v].job >= 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is migrating (job %" PRId64 "): cancel it "
                                             "first",
                      vm, p->vms[v].job);
        return -1;
    }
    return ad_send(p, h, destroy ? "vm_destroy" : "vm_stop",
                   destroy ? json_pack("{s:s}", "vm", vm)
                           : json_pack("{s:s, s:I}", "vm", vm, "timeout_s",
                                       (json_int_t)((timeout_us + 999999) / 1000000)),
                   AD_CMD_VM_STOP, v, -1, err);
}

static int
ad_vm_stop(hvf_conn *conn, const char *vm, int64_t timeout_us, hvf_error *err)
{
    return ad_vm_stop_any(conn, vm, false, timeout_us, err);
}

static int
ad_vm_destroy(hvf_conn *conn, const char *vm, hvf_error *err)
{
    return ad_vm_stop_any(conn, vm, true, 0, err);
}

static int64_t
ad_migrate(hvf_conn *conn, const char *vm, const char *target, const hvf_migrate_job_params *prm,
           hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t v = ad_find_vm(p, vm, err), src, dst;
    json_t *args;
    ad_job *j;

    if (v < 0 || (dst = ad_find_host(p, target, true, err)) < 0 || !ad_need_image(p, err))
        return -1;
    src = p->fleet->vms[v].host;
    if (ad_find_host(p, p->fleet->hosts[src].name, true, err) < 0)
        return -1;
    if (p->vms[v].state != HVF_DRV_VM_RUNNING || p->vms[v].job >= 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s: only a running VM live-migrates",
                      vm, p->vms[v].job >= 0 ? "migrating" : hvf_drv_vm_state_names[p->vms[v].state]);
        return -1;
    }
    if (src == dst || p->hosts[dst].state != HVF_DRV_HOST_ACTIVE) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s': target host '%s' is %s", vm, target,
                      src == dst ? "where it runs" : hvf_drv_host_state_names[p->hosts[dst].state]);
        return -1;
    }
    args = ad_vm_spec(p, v);
    json_object_set_new(args, "postcopy", json_boolean(prm && prm->postcopy_allowed));
    if (ad_send(p, dst, "migrate_in", args, AD_CMD_MIGRATE_IN, v, p->next_job, err) < 0)
        return -1;
    hvf_grow(&p->jobs, &p->jobs_cap, p->njobs + 1, sizeof(*p->jobs));
    j = &p->jobs[p->njobs++];
    memset(j, 0, sizeof(*j));
    j->id = p->next_job++;
    j->vm = v;
    j->src = src;
    j->dst = dst;
    j->phase = AD_JOB_IN;
    if (prm)
        j->p = *prm;
    j->info.id = j->id;
    j->info.state = HVF_JOB_SETUP;
    hvf_strlcpy(j->info.vm, vm, sizeof(j->info.vm));
    hvf_strlcpy(j->info.source, p->fleet->hosts[src].name, sizeof(j->info.source));
    hvf_strlcpy(j->info.target, target, sizeof(j->info.target));
    j->info.started_us = ad_now(p);
    j->info.ended_us = -1;
    j->info.total_bytes = j->info.remaining_bytes = p->fleet->vms[v].mem_mib << 20;
    p->vms[v].job = j->id;
    return j->id;
}

static ad_job *
ad_find_job(ad_priv *p, int64_t id, hvf_error *err)
{
    ad_job *j = ad_job_find(p, id);

    if (!j)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "job %" PRId64 ": no such migration", id);
    return j;
}

static int
ad_job_info(hvf_conn *conn, int64_t id, hvf_job_info *out, hvf_error *err)
{
    ad_job *j = ad_find_job(ad(conn), id, err);

    if (!j)
        return -1;
    *out = j->info;
    return 0;
}

static int
ad_job_flag(hvf_conn *conn, int64_t id, bool cancel, hvf_error *err)
{
    ad_priv *p = ad(conn);
    ad_job *j = ad_find_job(p, id, err);

    if (!j)
        return -1;
    if (j->phase == AD_JOB_END) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " has ended (%s)", id,
                      hvf_job_state_names[j->info.state]);
        return -1;
    }
    *(cancel ? &j->want_cancel : &j->want_postcopy) = true;
    if (j->phase != AD_JOB_RUN)
        return 0; /* sent once the source's job exists */
    if (cancel ? j->cancel_sent : j->postcopy_sent)
        return 0;
    *(cancel ? &j->cancel_sent : &j->postcopy_sent) = true;
    return ad_send(p, j->src, cancel ? "job_cancel" : "job_postcopy",
                   json_pack("{s:I}", "job", (json_int_t)j->agent_job), AD_CMD_OTHER, -1, -1,
                   err);
}

static int
ad_job_postcopy(hvf_conn *conn, int64_t id, hvf_error *err)
{
    return ad_job_flag(conn, id, false, err);
}

static int
ad_job_cancel(hvf_conn *conn, int64_t id, hvf_error *err)
{
    return ad_job_flag(conn, id, true, err);
}

static int
ad_job_forget(hvf_conn *conn, int64_t id, hvf_error *err)
{
    ad_priv *p = ad(conn);
    ad_job *j = ad_find_job(p, id, err);

    if (!j)
        return -1;
    if (j->phase != AD_JOB_END) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " is still running", id);
        return -1;
    }
    *j = p->jobs[--p->njobs];
    return 0;
}

static int
ad_host_health(hvf_conn *conn, const char *host, hvf_drv_health *out, hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t h = ad_find_host(p, host, false, err);

    if (h < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    /* what an agent can vouch for: its host answers and runs its VMs */
    out->up = p->hosts[h].agent == AD_AGENT_CONNECTED && !p->hosts[h].identity[0] &&
              p->hosts[h].state != HVF_DRV_HOST_DOWN;
    out->answered = out->up ? 1.0 : 0.0;
    return 0;
}

static void
ad_crash(void *ctx, size_t v)
{
    ad_priv *p = ctx;

    p->vms[v].state = HVF_DRV_VM_CRASHED;
    ad_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[p->fleet->vms[v].host].name, p->fleet->vms[v].name,
            HVF_DRV_VM_CRASHED, -1, HVF_JOB_SETUP);
}

static int
ad_host_fenced(hvf_conn *conn, const char *host, hvf_error *err)
{
    ad_priv *p = ad(conn);
    int32_t h = ad_find_host(p, host, false, err);

    return h < 0 ? -1 : hvf_drv_world_fence(&p->view, h, ad_crash, p, err);
}

const hvf_driver hvf_agent_driver = {
    .scheme = "agent",
    .open = ad_open,
    .close = ad_close,
    .now_us = ad_now_us,
    .poll = ad_poll,
    .list_hosts = hvf_drv_world_list_hosts,
    .list_vms = hvf_drv_world_list_vms,
    .fleet = hvf_drv_world_fleet,
    .host_set_state = ad_host_set_state,
    .host_maintain = ad_host_maintain,
    .vm_start = ad_vm_start,
    .vm_stop = ad_vm_stop,
    .vm_destroy = ad_vm_destroy,
    .migrate = ad_migrate,
    .job_info = ad_job_info,
    .job_postcopy = ad_job_postcopy,
    .job_cancel = ad_job_cancel,
    .job_forget = ad_job_forget,
    .host_health = ad_host_health,
    .host_fenced = ad_host_fenced,
};
