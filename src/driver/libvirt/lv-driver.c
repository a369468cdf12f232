/* SPDX-License-Identifier: MIT */
/*
 * The libvirt: driver's table (lv-driver.h, docs/libvirt.md): its URI, what it lists, and the
 * actions, each a libvirt call on one host's connection (a worker's when it blocks).
 *
 * libvirt:///abs/inventory.yaml[?template=URI][&workers=N][&dirty_interval=S]
 *                               [&connect_timeout=S]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/driver-uri.h"
#include "driver/libvirt/lv-driver.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"

#define LV_WORKERS_DEFAULT 8
#define LV_WORKERS_MAX 64

static lv_priv *
lv(hvf_conn *conn)
{
    return conn->priv;
}

/* %XX decoding, for a template that carries its own ?query (qemu+unix:///system?socket=...). */
static char *
lv_unescape(const char *s)
{
    char *out = hvf_malloc(strlen(s) + 1), *o = out;

    for (; *s; s++) {
        unsigned x;

        if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &x) == 1) {
            *o++ = (char)x;
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static int
lv_uint_param(const char *uri, const char *name, const char *v, long lo, long hi, long *out,
              hvf_error *err)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*end || end == v || n < lo || n > hi) {
        hvf_error_set(err, HVF_ERR_INVALID, "driver URI '%s': %s '%s': expected a whole number "
                                            "from %ld to %ld",
                      uri, name, v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

int
lv_uri_parse(lv_priv *p, const char *uri, long *workers, long *connect_s, hvf_error *err)
{
    hvf_driver_uri u;
    int rc = 0;
    long dirty_s = 60;

    if (hvf_driver_uri_split(uri, strlen("libvirt"), &u, err) < 0)
        return -1;
    if (!*u.path) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "driver URI '%s': expected libvirt:///PATH/inventory.yaml (the fleet whose "
                      "hosts run libvirtd; `hvfleet run --driver libvirt:` adds --inventory)",
                      uri);
        hvf_driver_uri_clear(&u);
        return -1;
    }
    p->inv_path = hvf_strdup(u.path);
    for (size_t i = 0; i < u.nparams && rc == 0; i++) {
        const char *name = u.names[i], *v = u.values[i];

        if (strcmp(name, "template") == 0) {
            free(p->tmpl);
            p->tmpl = lv_unescape(v);
            if (!strstr(p->tmpl, "{host}")) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "driver URI '%s': template '%s': expected {host} in it (e.g. "
                              "qemu+ssh://root@{host}/system)",
                              uri, p->tmpl);
                rc = -1;
            }
        } else if (strcmp(name, "workers") == 0) {
            rc = lv_uint_param(uri, name, v, 1, LV_WORKERS_MAX, workers, err);
        } else if (strcmp(name, "dirty_interval") == 0) {
            rc = lv_uint_param(uri, name, v, 0, 86400, &dirty_s, err);
        } else if (strcmp(name, "connect_timeout") == 0) {
            rc = lv_uint_param(uri, name, v, 0, 600, connect_s, err);
        } else {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "driver URI '%s': unknown parameter '%s' (expected template, workers, "
                          "dirty_interval or connect_timeout)",
                          uri, name);
            rc = -1;
        }
    }
    p->dirty_every_us = (int64_t)dirty_s * 1000000;
    hvf_driver_uri_clear(&u);
    return rc;
}

static void
lv_free(lv_priv *p)
{
    if (!p)
        return;
    if (p->hosts)
        for (size_t h = 0; h < p->fleet->nhosts; h++)
            free(p->hosts[h].uri);
    if (p->vms)
        for (size_t v = 0; v < p->fleet->nvms; v++)
            free(p->vms[v].xml);
    hvf_fleet_free(p->fleet);
    free(p->hosts);
    free(p->vms);
    free(p->jobs);
    hvf_drv_evq_clear(&p->evq);
    free(p->inv_path);
    free(p->tmpl);
    free(p);
}

/* Handles what came, waiting up to @wait_us for the first message. */
static void
lv_drain(lv_priv *p, int64_t wait_us)
{
    lv_msg *msgs;
    size_t n = lv_queue_take(p->q, wait_us, &msgs);

    for (size_t i = 0; i < n; i++)
        lv_handle(p, &msgs[i]);
    free(msgs);
}

static void lv_close(hvf_conn *conn);

static hvf_drv_host_state
lv_view_host(const void *ctx, size_t h)
{
    return ((const lv_priv *)ctx)->hosts[h].state;
}

static hvf_drv_vm_state
lv_view_vm(const void *ctx, size_t v)
{
    return ((const lv_priv *)ctx)->vms[v].state;
}

static int64_t
lv_view_job(const void *ctx, size_t v)
{
    return ((const lv_priv *)ctx)->vms[v].job;
}

static double
lv_view_dirty(const void *ctx, size_t v)
{
    return ((const lv_priv *)ctx)->vms[v].measured_dirty;
}

/* The world's view: the first member of the private data (driver-world.h). */
static void
lv_view_init(lv_priv *p)
{
    p->view = (hvf_drv_world_view){p->fleet, p, lv_view_host, lv_view_vm, lv_view_job,
                                   lv_view_dirty};
}

static int
lv_open(hvf_conn *conn, const char *uri, const hvf_driver_opts *opts, hvf_error *err)
{
    lv_priv *p = HVF_NEW(lv_priv);
    hvf_diags diags;
    long workers = LV_WORKERS_DEFAULT, connect_s = 15;
    int64_t until;

    (void)opts;
    if (lv_uri_parse(p, uri, &workers, &connect_s, err) < 0) {
        lv_free(p);
        return -1;
    }
    hvf_diags_init(&diags);
    p->fleet = hvf_inventory_load(p->inv_path, &diags, err);
    hvf_diags_clear(&diags);
    if (!p->fleet) {
        lv_free(p);
        return -1;
    }
    p->hosts = hvf_calloc(p->fleet->nhosts ? p->fleet->nhosts : 1, sizeof(*p->hosts));
    p->vms = hvf_calloc(p->fleet->nvms ? p->fleet->nvms : 1, sizeof(*p->vms));
    lv_view_init(p);
    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        const hvf_host *fh = &p->fleet->hosts[h];

        p->hosts[h].state = HVF_DRV_HOST_DOWN; /* until its daemon answers */
        p->hosts[h].lifecycle_cb = -1;
        if (fh->libvirt_uri) {
            p->hosts[h].uri = hvf_strdup(fh->libvirt_uri);
        } else if (p->tmpl) {
            const char *const kv[] = {"host", fh->name, NULL};

            p->hosts[h].uri = hvf_template_expand(p->tmpl, kv);
        } else {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "inventory '%s': host '%s' has no libvirt_uri, and the driver URI '%s' "
                          "no template= for it",
                          p->inv_path, fh->name, uri);
            lv_free(p);
            return -1;
        }
    }
    /* where the inventory says; stopped until a host's daemon lists it running */
    for (size_t v = 0; v < p->fleet->nvms; v++) {
        p->vms[v].state = HVF_DRV_VM_STOPPED;
        p->vms[v].job = -1;
        p->vms[v].measured_dirty = -1;
    }
    if (lv_libvirt_use(err) < 0) {
        lv_free(p);
        return -1;
    }
    p->next_job = p->next_task = 1;
    p->t0_ns = hvf_drv_mono_ns();
    p->q = lv_queue_new();
    lv_pool_start(&p->pool, (size_t)workers, p->q);
    conn->priv = p;
    for (size_t h = 0; h < p->fleet->nhosts; h++)
        lv_host_connect(p, (int32_t)h);
    /* the first list should be right: wait for every host's first answer, a while */
    until = lv_now(p) + (int64_t)connect_s * 1000000;
    for (;;) {
        bool waiting = false;

        for (size_t h = 0; h < p->fleet->nhosts; h++)
            waiting |= p->hosts[h].opening;
        if (!waiting || lv_now(p) >= until)
            break;
        lv_drain(p, 100000);
    }
    for (size_t h = 0; h < p->fleet->nhosts; h++)
        if (!p->hosts[h].conn)
            lv_warn("host '%s' (%s) is down: %s", p->fleet->hosts[h].name,
                          p->hosts[h].uri, p->hosts[h].opening ? "no answer yet" : p->hosts[h].error);
    p->evq.n = 0; /* what was before the open is state, not news */
    return 0;
}

static void
lv_close(hvf_conn *conn)
{
    lv_priv *p = lv(conn);

    if (!p)
        return;
    /* a worker blocked in a migration returns once it is aborted (the run's resume re-plans) */
    for (size_t i = 0; i < p->njobs; i++) {
        lv_job *j = &p->jobs[i];
        virConnectPtr c = p->hosts[j->src].conn;
        virDomainPtr dom;

        if (!j->ended && c && (dom = virDomainLookupByName(c, p->fleet->vms[j->vm].name))) {
            virDomainAbortJob(dom);
            virDomainFree(dom);
        }
    }
    lv_pool_stop(&p->pool);
    pthread_mutex_lock(&p->q->lock);
    p->q->closed = true;
    pthread_mutex_unlock(&p->q->lock);
    for (size_t h = 0; h < p->fleet->nhosts; h++)
        lv_host_drop(p, (int32_t)h);
    lv_queue_wait_alone(p->q, 2000000); /* the event loop still runs: it frees them */
    lv_queue_unref(p->q);
    lv_free(p);
    conn->priv = NULL;
    lv_libvirt_unuse();
}

static int64_t
lv_now_us(hvf_conn *conn)
{
    return lv_now(lv(conn));
}

static int
lv_poll(hvf_conn *conn, int64_t max_wait_us, hvf_drv_event *evs, size_t cap, size_t *nevs,
        hvf_error *err)
{
    lv_priv *p = lv(conn);
    int64_t until = lv_now(p) + max_wait_us;

    (void)err;
    for (;;) {
        int64_t left;

        lv_tick(p);
        left = p->evq.n ? 0 : until - lv_now(p);
        /* at least ten looks a second: job statistics and reconnections are timers */
        lv_drain(p, left > 100000 ? 100000 : left > 0 ? left : 0);
        if (p->evq.n || lv_now(p) >= until)
            break;
    }
    *nevs = hvf_drv_evq_take(&p->evq, evs, cap);
    return 0;
}

/* ---- actions ---- */

static int32_t
lv_find_host(lv_priv *p, const char *name, bool connected, hvf_error *err)
{
    int32_t h = hvf_fleet_find_host(p->fleet, name);
    char hd[300];

    if (h < 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "host '%s' is not in the libvirt driver's "
                                              "inventory (%s)",
                      name, p->inv_path);
        return -1;
    }
    if (connected && !p->hosts[h].conn) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s is not connected: %s",
                      lv_host_desc(p, h, hd, sizeof(hd)),
                      p->hosts[h].error[0] ? p->hosts[h].error : "connecting");
        return -1;
    }
    return h;
}

static int32_t
lv_find_vm(lv_priv *p, const char *name, hvf_error *err)
{
    int32_t v = hvf_fleet_find_vm(p->fleet, name);

    if (v < 0)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "VM '%s' is not in the libvirt driver's inventory "
                                              "(%s)",
                      name, p->inv_path);
    return v;
}

static int
lv_vm_busy(lv_priv *p, int32_t v, hvf_error *err)
{
    if (p->vms[v].job >= 0 || p->vms[v].task) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s: wait for it to end",
                      p->fleet->vms[v].name,
                      p->vms[v].job >= 0 ? "migrating" : "being started or stopped");
        return -1;
    }
    return 0;
}

static int
lv_host_set_state(hvf_conn *conn, const char *host, hvf_drv_host_state state, hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t h = lv_find_host(p, host, false, err);

    if (h < 0 || hvf_drv_host_transition(host, p->hosts[h].state, state, err) < 0)
        return -1;
    p->hosts[h].state = state;
    return 0;
}

static int
lv_host_maintain(hvf_conn *conn, const char *host, const char *command, int64_t expected_us,
                 int64_t timeout_us, hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t h = lv_find_host(p, host, true, err);
    lv_host *ho;
    lv_task *t;

    (void)expected_us;
    if (h < 0 || hvf_drv_world_may_maintain(&p->view, h, err) < 0)
        return -1;
    ho = &p->hosts[h];
    ho->state = HVF_DRV_HOST_MAINTENANCE;
    if (!command || !*command || strcmp(command, "none") == 0) {
        lv_emit(p, HVF_DRV_EV_HOST_BACK, host, NULL, HVF_DRV_VM_RUNNING, -1, HVF_JOB_SETUP);
        ho->state = HVF_DRV_HOST_ACTIVE;
        return 0;
    }
    {
        const char *const kv[] = {"host", host, NULL};

        /* run where hvfleet runs (ssh, ipmitool, an Ansible play...): the host has no agent */
        t = lv_task_new(p, LV_TASK_SHELL, h);
        t->command = hvf_template_expand(command, kv);
        t->timeout_us = timeout_us;
        ho->maint_task = t->id;
        lv_pool_submit(&p->pool, t);
    }
    return 0;
}

static int
lv_domain_task(lv_priv *p, int32_t v, int32_t h, lv_task_kind kind, int64_t timeout_us,
               hvf_error *err)
{
    lv_task *t;

    if (lv_vm_busy(p, v, err) < 0)
        return -1;
    t = lv_task_new(p, kind, h);
    hvf_strlcpy(t->vm, p->fleet->vms[v].name, sizeof(t->vm));
    t->conn = virConnectRef(p->hosts[h].conn) == 0 ? p->hosts[h].conn : NULL;
    t->timeout_us = timeout_us;
    if (kind == LV_TASK_START && p->vms[v].xml && p->fleet->vms[v].host != h)
        t->xml = hvf_strdup(p->vms[v].xml); /* defined where it last ran: define it here */
    p->vms[v].task = t->id;
    p->vms[v].task_kind = kind;
    lv_pool_submit(&p->pool, t);
    return 0;
}

static int
lv_vm_start(hvf_conn *conn, const char *vm, const char *host, hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t v = lv_find_vm(p, vm, err), h;

    if (v < 0 || (h = lv_find_host(p, host, true, err)) < 0)
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
    if (p->fleet->vms[v].host != h && !p->vms[v].xml) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "VM '%s': no host has shown its definition yet, so it can't be defined on "
                      "host '%s'",
                      vm, host);
        return -1;
    }
    return lv_domain_task(p, v, h, LV_TASK_START, 0, err);
}

static int
lv_vm_stop_any(hvf_conn *conn, const char *vm, lv_task_kind kind, int64_t timeout_us,
               hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t v = lv_find_vm(p, vm, err), h;

    if (v < 0)
        return -1;
    if (p->fleet->vms[v].host < 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' runs nowhere", vm);
        return -1;
    }
    if ((h = lv_find_host(p, p->fleet->hosts[p->fleet->vms[v].host].name, true, err)) < 0)
        return -1;
    return lv_domain_task(p, v, h, kind, timeout_us, err);
}

static int
lv_vm_stop(hvf_conn *conn, const char *vm, int64_t timeout_us, hvf_error *err)
{
    return lv_vm_stop_any(conn, vm, LV_TASK_STOP, timeout_us, err);
}

static int
lv_vm_destroy(hvf_conn *conn, const char *vm, hvf_error *err)
{
    return lv_vm_stop_any(conn, vm, LV_TASK_DESTROY, 0, err);
}

static int64_t
lv_migrate(hvf_conn *conn, const char *vm, const char *target, const hvf_migrate_job_params *prm,
           hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t v = lv_find_vm(p, vm, err), src, dst;
    lv_task *t;
    lv_job *j;
    int max = 0;

    if (v < 0 || (dst = lv_find_host(p, target, true, err)) < 0)
        return -1;
    src = p->fleet->vms[v].host;
    if (src < 0 || lv_find_host(p, p->fleet->hosts[src].name, true, err) < 0)
        return src < 0 ? (hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' runs nowhere", vm), -1)
                       : -1;
    if (lv_vm_busy(p, v, err) < 0)
        return -1;
    if (p->vms[v].state != HVF_DRV_VM_RUNNING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s: only a running VM live-migrates", vm,
                      hvf_drv_vm_state_names[p->vms[v].state]);
        return -1;
    }
    if (src == dst || p->hosts[dst].state != HVF_DRV_HOST_ACTIVE) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s': target host '%s' is %s", vm, target,
                      src == dst ? "where it runs" : hvf_drv_host_state_names[p->hosts[dst].state]);
        return -1;
    }
    t = lv_task_new(p, LV_TASK_MIGRATE, src);
    hvf_strlcpy(t->vm, vm, sizeof(t->vm));
    virConnectRef(p->hosts[src].conn);
    t->conn = p->hosts[src].conn;
    virConnectRef(p->hosts[dst].conn);
    t->dconn = p->hosts[dst].conn;
    t->flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
    if (p->fleet->hosts[dst].migration_address) {
        HVF_AUTOFREE char *mu = hvf_asprintf("tcp://%s", p->fleet->hosts[dst].migration_address);

        virTypedParamsAddString(&t->params, &t->nparams, &max, VIR_MIGRATE_PARAM_URI, mu);
    }
    if (prm && prm->max_bytes_per_s > 0)
        virTypedParamsAddULLong(&t->params, &t->nparams, &max, VIR_MIGRATE_PARAM_BANDWIDTH,
                                (unsigned long long)((prm->max_bytes_per_s + 1048575) / 1048576));
    if (prm && prm->auto_converge) {
        /* QEMU's own defaults (cpu-throttle-initial, -increment), said so the twin's model
         * and the host agree whatever the host's QEMU version defaults to */
        t->flags |= VIR_MIGRATE_AUTO_CONVERGE;
        virTypedParamsAddInt(&t->params, &t->nparams, &max,
                             VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL, 20);
        virTypedParamsAddInt(&t->params, &t->nparams, &max,
                             VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT, 10);
    }
    if (prm && prm->postcopy_allowed)
        t->flags |= VIR_MIGRATE_POSTCOPY;
    hvf_grow(&p->jobs, &p->jobs_cap, p->njobs + 1, sizeof(*p->jobs));
    j = &p->jobs[p->njobs++];
    memset(j, 0, sizeof(*j));
    j->id = p->next_job++;
    j->task = t->id;
    j->vm = v;
    j->src = src;
    j->dst = dst;
    if (prm)
        j->p = *prm;
    j->info.id = j->id;
    j->info.state = HVF_JOB_SETUP;
    hvf_strlcpy(j->info.vm, vm, sizeof(j->info.vm));
    hvf_strlcpy(j->info.source, p->fleet->hosts[src].name, sizeof(j->info.source));
    hvf_strlcpy(j->info.target, target, sizeof(j->info.target));
    j->info.started_us = lv_now(p);
    j->info.ended_us = -1;
    j->info.total_bytes = j->info.remaining_bytes = p->fleet->vms[v].mem_mib << 20;
    p->vms[v].job = j->id;
    lv_pool_submit(&p->pool, t);
    return j->id;
}

static lv_job *
lv_find_job(lv_priv *p, int64_t id, hvf_error *err)
{
    lv_job *j = lv_job_find(p, id);

    if (!j)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "job %" PRId64 ": no such migration", id);
    return j;
}

static int
lv_job_info(hvf_conn *conn, int64_t id, hvf_job_info *out, hvf_error *err)
{
    lv_job *j = lv_find_job(lv(conn), id, err);

    if (!j)
        return -1;
    *out = j->info;
    return 0;
}

static int
lv_job_running(lv_job *j, int64_t id, hvf_error *err)
{
    if (!j)
        return -1;
    if (j->ended) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " has ended (%s)", id,
                      hvf_job_state_names[j->info.state]);
        return -1;
    }
    return 0;
}

static int
lv_job_postcopy(hvf_conn *conn, int64_t id, hvf_error *err)
{
    lv_job *j = lv_find_job(lv(conn), id, err);

    if (lv_job_running(j, id, err) < 0)
        return -1;
    if (!j->p.postcopy_allowed) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " was started without post-copy", id);
        return -1;
    }
    j->want_postcopy = true; /* switched at its next statistics, once libvirt's job runs */
    j->next_stats_us = 0;
    return 0;
}

static int
lv_job_cancel(hvf_conn *conn, int64_t id, hvf_error *err)
{
    lv_priv *p = lv(conn);
    lv_job *j = lv_find_job(p, id, err);
    char hd[300];

    if (lv_job_running(j, id, err) < 0)
        return -1;
    if (!p->hosts[j->src].conn) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s is not connected: its migration of '%s' can't "
                                             "be cancelled now",
                      lv_host_desc(p, j->src, hd, sizeof(hd)), j->info.vm);
        return -1;
    }
    j->cancel = true;
    /* before libvirt's job began there is nothing to abort: its statistics abort it then */
    if (j->info.state != HVF_JOB_SETUP)
        lv_job_abort(p, j);
    return 0;
}

static int
lv_job_forget(hvf_conn *conn, int64_t id, hvf_error *err)
{
    lv_priv *p = lv(conn);
    lv_job *j = lv_find_job(p, id, err);

    if (!j)
        return -1;
    if (!j->ended) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "job %" PRId64 " is still running", id);
        return -1;
    }
    *j = p->jobs[--p->njobs];
    return 0;
}

static int
lv_host_health(hvf_conn *conn, const char *host, hvf_drv_health *out, hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t h = lv_find_host(p, host, false, err);

    if (h < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    /* what a libvirt connection can vouch for: the host's daemon answers */
    out->up = p->hosts[h].conn && p->hosts[h].state != HVF_DRV_HOST_DOWN;
    out->answered = out->up ? 1.0 : 0.0;
    return 0;
}

static void
lv_crash(void *ctx, size_t v)
{
    lv_priv *p = ctx;

    p->vms[v].state = HVF_DRV_VM_CRASHED;
    lv_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[p->fleet->vms[v].host].name, p->fleet->vms[v].name,
            HVF_DRV_VM_CRASHED, -1, HVF_JOB_SETUP);
}

static int
lv_host_fenced(hvf_conn *conn, const char *host, hvf_error *err)
{
    lv_priv *p = lv(conn);
    int32_t h = lv_find_host(p, host, false, err);

    return h < 0 ? -1 : hvf_drv_world_fence(&p->view, h, lv_crash, p, err);
}

const hvf_driver hvf_libvirt_driver = {
    .scheme = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .now_us = lv_now_us,
    .poll = lv_poll,
    .list_hosts = hvf_drv_world_list_hosts,
    .list_vms = hvf_drv_world_list_vms,
    .fleet = hvf_drv_world_fleet,
    .host_set_state = lv_host_set_state,
    .host_maintain = lv_host_maintain,
    .vm_start = lv_vm_start,
    .vm_stop = lv_vm_stop,
    .vm_destroy = lv_vm_destroy,
    .migrate = lv_migrate,
    .job_info = lv_job_info,
    .job_postcopy = lv_job_postcopy,
    .job_cancel = lv_job_cancel,
    .job_forget = lv_job_forget,
    .host_health = lv_host_health,
    .host_fenced = lv_host_fenced,
};
