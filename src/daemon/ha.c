/* SPDX-License-Identifier: MIT */
/*
 * Host failure and instance HA (docs/ha.md). A host whose agent stops syncing is suspect, then
 * unreachable (agent_down_after). Its HA VMs are started elsewhere only once it is fenced, so
 * that a VM never runs twice:
 * - by a fence command (ha_fence_command: IPMI, a PDU), whose success is required; or
 * - by its agent, which destroys its VMs once alone for ha_fence_after (self-fence, with a
 *   watchdog, as Proxmox's LRM): hvfleetd takes a host for unreachable only after that time and
 *   two heartbeats more, so by then an agent that lives has fenced; one that does not has died
 *   with its host or been reset by its watchdog;
 * - by neither: it stays unreachable, its VMs unknown, and nothing is restarted.
 * Storm guard: when more than ha_storm_share of the hosts, or every host of a zone, are lost at
 * once, it is the controller's network, not the hosts: no fencing, no restarts, one incident.
 * Fences are spaced by ha_fence_quiet; restarts go at most ha_restarts_per_minute.
 *
 * Everything here runs on the controller thread, the driver's only user (hvfd_ha_tick).
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/placement.h"

extern char **environ;

#define HA_RESTART_RETRY_MS 15000 /* a VM that fit nowhere is placed again after this */
#define HA_TICK_MS 200 /* the controller calls often (a run's every step): HA looks this often */

typedef enum ha_state { HA_OK, HA_LOST, HA_FENCING, HA_FENCED, HA_UNFENCED } ha_state;

typedef struct ha_host {
    char name[HVF_DRV_NAME_MAX];
    ha_state st;
    int64_t since_ms;
    pid_t fence_pid;
    int64_t fence_deadline_ms, retry_ms;
} ha_host;

typedef struct ha_restart {
    char vm[HVF_DRV_NAME_MAX], from[HVF_DRV_NAME_MAX];
    int64_t not_before_ms;
    int64_t sent_ms; /* its start was asked then: it stays queued until it runs (no second) */
} ha_restart;

struct hvfd_ha {
    ha_host *hosts;
    size_t nhosts, hosts_cap;
    ha_restart *queue;
    size_t nqueue, queue_cap;
    int64_t last_fence_ms;
    bool storm;
    int64_t window_ms; /* the minute restarts are counted in */
    unsigned restarts_in_window;
    int64_t tick_ms; /* the last tick: they are HA_TICK_MS apart at least */
};

bool
hvfd_ha_storm(const hvfd *d)
{
    return d->ha && d->ha->storm;
}

void
hvfd_ha_free(hvfd *d)
{
    if (!d->ha)
        return;
    for (size_t i = 0; i < d->ha->nhosts; i++)
        if (d->ha->hosts[i].fence_pid > 0) {
            kill(-d->ha->hosts[i].fence_pid, SIGKILL);
            waitpid(d->ha->hosts[i].fence_pid, NULL, 0);
        }
    json_decref(d->ha_view);
    d->ha_view = NULL;
    free(d->ha->hosts);
    free(d->ha->queue);
    free(d->ha);
    d->ha = NULL;
}

static void
ha_event(hvfd *d, hvf_conn *conn, json_t *data)
{
    json_object_set_new(data, "t_us", json_integer(hvf_driver_now_us(conn)));
    hvfd_event(d, NULL, "ha", 0, data);
}

static ha_host *
ha_host_get(struct hvfd_ha *ha, const char *name)
{
    ha_host *h;

    for (size_t i = 0; i < ha->nhosts; i++)
        if (strcmp(ha->hosts[i].name, name) == 0)
            return &ha->hosts[i];
    hvf_grow(&ha->hosts, &ha->hosts_cap, ha->nhosts + 1, sizeof(*ha->hosts));
    h = &ha->hosts[ha->nhosts++];
    memset(h, 0, sizeof(*h));
    hvf_strlcpy(h->name, name, sizeof(h->name));
    return h;
}

/* The fence command for @h, in its own process group; 0, or -1 (could not start). */
static int
ha_fence_start(hvfd *d, ha_host *h, int64_t now)
{
    const char *const kv[] = {"host", h->name, NULL};
    HVF_AUTOFREE char *cmd = hvf_template_expand(d->cfg.ha_fence_command, kv);
    posix_spawnattr_t attr;
    char *argv[4] = {"/bin/sh", "-c", cmd, NULL};
    int rc;

    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    rc = posix_spawn(&h->fence_pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        h->fence_pid = 0;
        return -1;
    }
    h->fence_deadline_ms = now + d->cfg.ha_fence_timeout_us / 1000;
    return 0;
}

/* @h is fenced: its VMs are down for sure; the HA ones go in the restart queue. */
static void
ha_fenced(hvfd *d, hvf_conn *conn, const hvf_fleet *f, ha_host *h, const char *how)
{
    struct hvfd_ha *ha = d->ha;
    hvf_error err = HVF_ERROR_INIT;
    int32_t hi = hvf_fleet_find_host(f, h->name);
    json_t *vms = json_array();

    h->st = HA_FENCED;
    if (hvf_driver_host_fenced(conn, h->name, &err) < 0)
        hvfd_log(HVFD_WARN, "the driver could not record a fence",
                 json_pack("{s:s, s:s}", "host", h->name, "error", err.msg));
    for (size_t v = 0; hi >= 0 && v < f->nvms; v++) {
        ha_restart *r;

        if (f->vms[v].host != hi || !hvf_vm_is_ha(f, &f->vms[v]))
            continue;
        hvf_grow(&ha->queue, &ha->queue_cap, ha->nqueue + 1, sizeof(*ha->queue));
        r = &ha->queue[ha->nqueue++];
        memset(r, 0, sizeof(*r));
        hvf_strlcpy(r->vm, f->vms[v].name, sizeof(r->vm));
        hvf_strlcpy(r->from, h->name, sizeof(r->from));
        json_array_append_new(vms, json_string(f->vms[v].name));
    }
    ha_event(d, conn, json_pack("{s:s, s:s, s:s, s:o}", "event", "fenced", "host", h->name,
                                "how", how, "ha_vms", vms));
}

static bool
ha_queued(const struct hvfd_ha *ha, const char *vm)
{
    for (size_t i = 0; i < ha->nqueue; i++)
        if (strcmp(ha->queue[i].vm, vm) == 0)
            return true;
    return false;
}

/*
 * HA VMs that crashed on a host in service (their QEMU died: killed, a guest panic with
 * on_crash=destroy): no fence is needed, their host answers for them; queued for a restart.
 */
static void
ha_crashed(hvfd *d, hvf_conn *conn, const hvf_fleet *f)
{
    struct hvfd_ha *ha = d->ha;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm *vms = NULL;
    long nv = hvf_driver_list_vms(conn, &vms, &err);

    for (long i = 0; i < nv; i++) {
        int32_t v = hvf_fleet_find_vm(f, vms[i].name);
        ha_restart *r;
        bool host_ok = true;

        if (vms[i].state != HVF_DRV_VM_CRASHED || v < 0 || !hvf_vm_is_ha(f, &f->vms[v]) ||
            ha_queued(ha, vms[i].name))
            continue;
        for (size_t h = 0; h < ha->nhosts; h++)
            if (strcmp(ha->hosts[h].name, vms[i].host) == 0)
                host_ok = ha->hosts[h].st == HA_OK;
        if (!host_ok)
            continue; /* a lost host's VMs wait for its fence */
        hvf_grow(&ha->queue, &ha->queue_cap, ha->nqueue + 1, sizeof(*ha->queue));
        r = &ha->queue[ha->nqueue++];
        memset(r, 0, sizeof(*r));
        hvf_strlcpy(r->vm, vms[i].name, sizeof(r->vm));
        hvf_strlcpy(r->from, vms[i].host, sizeof(r->from));
        ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "vm_crashed", "vm", vms[i].name,
                                    "host", vms[i].host));
    }
    free(vms);
}

/* Lost hosts, by liveness: returns whether it is a storm (and says so when that changes). */
static bool
ha_storm(hvfd *d, hvf_conn *conn, const hvf_fleet *f)
{
    struct hvfd_ha *ha = d->ha;
    size_t lost = 0, watched = 0;
    const char *zone = NULL;
    bool storm;

    for (size_t i = 0; i < ha->nhosts; i++) {
        watched++;
        lost += ha->hosts[i].st != HA_OK;
    }
    /* a whole zone of two hosts or more lost together */
    for (size_t z = 0; z < f->nzones && !zone; z++) {
        size_t in = 0, gone = 0;

        for (size_t i = 0; i < ha->nhosts; i++) {
            int32_t h = hvf_fleet_find_host(f, ha->hosts[i].name);

            if (h < 0 || f->hosts[h].zone != (int32_t)z)
                continue;
            in++;
            gone += ha->hosts[i].st != HA_OK;
        }
        if (in >= 2 && gone == in && in < watched)
            zone = f->zones[z].name;
    }
    storm = lost >= 2 && ((double)lost > d->cfg.ha_storm_share * (double)watched || zone);
    if (storm != ha->storm) {
        ha->storm = storm;
        ha_event(d, conn,
                 json_pack("{s:s, s:I, s:I, s:s*}", "event", storm ? "storm" : "storm_over",
                           "lost", (json_int_t)lost, "hosts", (json_int_t)watched, "zone",
                           zone));
        hvfd_log(storm ? HVFD_WARN : HVFD_INFO,
                 storm ? "many hosts lost at once: the network, not the hosts; no fencing, no "
                         "restarts"
                       : "the storm is over",
                 json_pack("{s:I, s:I}", "lost", (json_int_t)lost, "hosts", (json_int_t)watched));
    }
    return storm;
}

static void
ha_fence_step(hvfd *d, hvf_conn *conn, const hvf_fleet *f, ha_host *h, int64_t now)
{
    struct hvfd_ha *ha = d->ha;

    if (h->st == HA_LOST) {
        if (d->cfg.ha_fence_command) {
            if (now < h->retry_ms || (ha->last_fence_ms &&
                                      now - ha->last_fence_ms < d->cfg.ha_fence_quiet_us / 1000))
                return;
            ha->last_fence_ms = now;
            if (ha_fence_start(d, h, now) < 0) {
                h->retry_ms = now + d->cfg.ha_fence_quiet_us / 1000;
                ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "fence_failed", "host",
                                            h->name, "why", "the fence command could not start"));
                return;
            }
            h->st = HA_FENCING;
            ha_event(d, conn, json_pack("{s:s, s:s}", "event", "fence_start", "host", h->name));
        } else if (d->cfg.ha_fence_after_us > 0) {
            ha_fenced(d, conn, f, h, "self-fence");
        } else {
            h->st = HA_UNFENCED;
            ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "not_fenced", "host", h->name,
                                        "why", "no fence command, and agents do not fence "
                                               "themselves (ha_fence_after): its VMs are unknown "
                                               "and none is restarted"));
        }
        return;
    }
    if (h->st == HA_FENCING) {
        int status = 0;
        pid_t w = waitpid(h->fence_pid, &status, WNOHANG);

        if (w == 0 && now < h->fence_deadline_ms)
            return;
        if (w == 0) {
            kill(-h->fence_pid, SIGKILL);
            while (waitpid(h->fence_pid, &status, 0) < 0 && errno == EINTR)
                ;
            status = -1;
        }
        h->fence_pid = 0;
        if (status == 0 || (status > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            ha_fenced(d, conn, f, h, "command");
            return;
        }
        h->st = HA_LOST;
        h->retry_ms = now + d->cfg.ha_fence_quiet_us / 1000;
        ha_event(d, conn,
                 json_pack("{s:s, s:s, s:s}", "event", "fence_failed", "host", h->name, "why",
                           status < 0                ? "the fence command ran out of time"
                           : WIFEXITED(status)       ? "the fence command failed"
                                                     : "the fence command was killed"));
    }
}

/* Starts queued HA VMs where they fit (claims as they go, anti-affinity by service). */
static void
ha_restarts(hvfd *d, hvf_conn *conn, const hvf_fleet *snapfleet, int64_t now)
{
    struct hvfd_ha *ha = d->ha;
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_host *hosts = NULL;
    hvf_drv_vm *vms = NULL;
    long nh, nv;
    hvf_fleet *f;
    hvf_placer *pl;
    size_t k = 0;

    if (!ha->nqueue)
        return;
    if (now - ha->window_ms >= 60000) {
        ha->window_ms = now;
        ha->restarts_in_window = 0;
    }
    if ((nh = hvf_driver_list_hosts(conn, &hosts, &err)) < 0 ||
        (nv = hvf_driver_list_vms(conn, &vms, &err)) < 0) {
        free(hosts);
        return;
    }
    f = hvf_fleet_dup(snapfleet);
    pl = hvf_placer_new(f, NULL);
    for (long i = 0; i < nh; i++) {
        int32_t h = hvf_fleet_find_host(f, hosts[i].name);

        if (h >= 0 && hosts[i].state != HVF_DRV_HOST_ACTIVE)
            hvf_placer_set_role(pl, h, HVF_PLACE_ROLE_OFFLINE);
    }
    for (size_t i = 0; i < ha->nqueue; i++) {
        ha_restart *r = &ha->queue[i];
        int32_t v = hvf_fleet_find_vm(f, r->vm), h;
        const hvf_drv_vm *dv = NULL;
        hvf_place_request req;
        hvf_place_result res;
        hvf_resources need;

        for (long j = 0; j < nv; j++)
            if (strcmp(vms[j].name, r->vm) == 0)
                dv = &vms[j];
        if (v < 0 || !dv || (dv->state != HVF_DRV_VM_CRASHED && dv->state != HVF_DRV_VM_STOPPED))
            continue; /* gone, or it runs again (restarted, or its host came back): done */
        if (r->sent_ms && now - r->sent_ms < HA_RESTART_RETRY_MS) {
            ha->queue[k++] = *r; /* asked: its start is on its way */
            continue;
        }
        if (now < r->not_before_ms || ha->restarts_in_window >= d->cfg.ha_restarts_per_min) {
            ha->queue[k++] = *r;
            continue;
        }
        memset(&req, 0, sizeof(req));
        need = hvf_vm_resources(&f->vms[v]);
        req.need = need;
        req.service = f->vms[v].service;
        req.source = -1;
        req.pin_host = -1;
        memset(&res, 0, sizeof(res));
        h = hvf_placer_choose(pl, &req, &res);
        if (h < 0 || hvf_driver_vm_start(conn, r->vm, f->hosts[h].name, &err) < 0) {
            ha_event(d, conn,
                     json_pack("{s:s, s:s, s:s, s:s}", "event", "restart_failed", "vm", r->vm,
                               "from", r->from, "why",
                               h < 0 ? "it fits on no host in service (capacity or "
                                       "anti-affinity)"
                                     : err.msg));
            hvf_error_clear(&err);
            r->not_before_ms = now + HA_RESTART_RETRY_MS;
            ha->queue[k++] = *r;
            continue;
        }
        ha->restarts_in_window++;
        r->sent_ms = now;
        ha->queue[k++] = *r;
        if (hvf_host_use(&f->hosts[h], &need, HVF_OVERCOMMIT, &err) == 0)
            hvf_placer_host_changed(pl, h);
        if (f->vms[v].service >= 0)
            hvf_placer_replica_add(pl, f->vms[v].service, h);
        ha_event(d, conn, json_pack("{s:s, s:s, s:s, s:s}", "event", "restart", "vm", r->vm,
                                    "from", r->from, "to", f->hosts[h].name));
    }
    ha->nqueue = k;
    hvf_placer_free(pl);
    hvf_fleet_free(f);
    free(hosts);
    free(vms);
}

static const char *const ha_state_names[] = {"ok", "unreachable", "fencing", "fenced",
                                             "not-fenced"};

/* What GET /v1/ha shows: the hosts HA is busy with, the storm, the restart queue. */
static void
ha_publish(hvfd *d, int64_t now)
{
    struct hvfd_ha *ha = d->ha;
    json_t *hosts = json_array(), *queue = json_array(), *view, *old;

    for (size_t i = 0; i < ha->nhosts; i++)
        if (ha->hosts[i].st != HA_OK)
            json_array_append_new(hosts, json_pack("{s:s, s:s, s:f}", "host", ha->hosts[i].name,
                                                   "state", ha_state_names[ha->hosts[i].st],
                                                   "for_s",
                                                   (double)(now - ha->hosts[i].since_ms) / 1e3));
    for (size_t i = 0; i < ha->nqueue; i++)
        json_array_append_new(queue, json_pack("{s:s, s:s, s:b}", "vm", ha->queue[i].vm, "from",
                                               ha->queue[i].from, "asked",
                                               ha->queue[i].sent_ms != 0));
    view = json_pack("{s:b, s:o, s:o, s:s*, s:b, s:f}", "storm", ha->storm, "hosts", hosts,
                     "restart_queue", queue, "fence_command", d->cfg.ha_fence_command,
                     "self_fence", d->cfg.ha_fence_after_us > 0, "storm_share",
                     d->cfg.ha_storm_share);
    pthread_mutex_lock(&d->lock);
    old = d->ha_view;
    d->ha_view = view;
    pthread_mutex_unlock(&d->lock);
    json_decref(old);
}

int
hvfd_api_ha(hvfd_req *r)
{
    hvfd *d = r->d;
    json_t *view, *divs;

    pthread_mutex_lock(&d->lock);
    view = d->ha_view ? json_deep_copy(d->ha_view) : NULL;
    divs = d->rc_view ? json_deep_copy(d->rc_view) : json_array();
    pthread_mutex_unlock(&d->lock);
    if (!view)
        view = json_pack("{s:b, s:[], s:[], s:s*, s:b, s:f}", "storm", 0, "hosts",
                         "restart_queue", "fence_command", d->cfg.ha_fence_command, "self_fence",
                         d->cfg.ha_fence_after_us > 0, "storm_share", d->cfg.ha_storm_share);
    json_object_set_new(view, "divergences", divs);
    return hvfd_reply(r, 200, view);
}

void
hvfd_ha_tick(hvfd *d, hvf_conn *conn)
{
    struct hvfd_ha *ha;
    hvfd_agent_view *views = NULL;
    size_t n;
    hvfd_snap *s;
    int64_t now = hvfd_mono_ms();

    if (!conn)
        return;
    if (!d->ha)
        d->ha = HVF_NEW(struct hvfd_ha);
    ha = d->ha;
    if (now - ha->tick_ms < HA_TICK_MS)
        return;
    ha->tick_ms = now;
    /* without agents there is nothing to fence nor reconcile: the twin restarts its own VMs */
    if (!ha->nhosts && !hvfd_agents_any(d))
        return;
    if (!(s = hvfd_snap_get(d)))
        return;
    if (!s->fleet) {
        hvfd_snap_unref(s);
        return;
    }
    n = hvfd_agents_view(d, &views);
    for (size_t i = 0; i < n; i++) {
        ha_host *h;

        if (hvf_fleet_find_host(s->fleet, views[i].host) < 0)
            continue;
        h = ha_host_get(ha, views[i].host);
        if (views[i].state == HVFD_AGENT_DOWN && h->st == HA_OK) {
            h->st = HA_LOST;
            h->since_ms = now;
            h->retry_ms = 0;
            ha_event(d, conn, json_pack("{s:s, s:s}", "event", "unreachable", "host", h->name));
        } else if (views[i].state == HVFD_AGENT_CONNECTED && h->st != HA_OK &&
                   h->st != HA_FENCING) {
            ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "host_back", "host", h->name,
                                        "was", h->st == HA_FENCED     ? "fenced"
                                               : h->st == HA_UNFENCED ? "not-fenced"
                                                                      : "unreachable"));
            h->st = HA_OK;
        }
    }
    if (!ha_storm(d, conn, s->fleet)) {
        for (size_t i = 0; i < ha->nhosts; i++)
            ha_fence_step(d, conn, s->fleet, &ha->hosts[i], now);
        ha_crashed(d, conn, s->fleet);
        ha_restarts(d, conn, s->fleet, now);
    }
    ha_publish(d, now);
    hvfd_reconcile(d, conn, views, n, now);
    hvfd_agents_view_free(views, n);
    hvfd_snap_unref(s);
}
