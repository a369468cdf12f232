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
 * Liveness: from the agents when any has synced (agent://), else from the driver's own view of
 * its hosts (the twin: sim://). There a host-crash is a host powered off, which the driver
 * knows (hvf_drv_host.off): fenced by construction; a host out of the controller's reach
 * (a controller-partition) is only down to the controller and is fenced by the fence command
 * or not at all. Under hvfleetd the twin restarts no crashed VM itself
 * (hvf_driver_opts.controller_restarts): HA is the one owner of restarts.
 *
 * Cost: a tick looks at the hosts and VMs only when the controller's snapshot changed (once a
 * second, or on the driver's events), each pass linear in hosts or VMs, never their product;
 * restarts place from one copy of the fleet per batch.
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

#define HA_RESTART_RETRY_MS 15000 /* wall: a VM that fit nowhere, or whose start was asked */
#define HA_TICK_MS 200 /* the controller calls often (a run's every step): HA looks this often */
#define HA_PUBLISH_MS 1000 /* GET /v1/ha's view, at least this often when nothing changed */

typedef enum ha_state { HA_OK, HA_LOST, HA_FENCING, HA_FENCED, HA_UNFENCED } ha_state;

typedef struct ha_host {
    char name[HVF_DRV_NAME_MAX];
    ha_state st;
    int64_t since_ms; /* driver clock */
    pid_t fence_pid;
    int64_t fence_deadline_ms; /* wall: the fence command is a process */
    int64_t retry_ms;          /* driver clock: no fence before */
    bool off;                  /* the driver knows it runs nothing (powered off) */
    json_t *fenced_vms;        /* fenced this tick: its HA VMs, for the event (owned) */
} ha_host;

typedef struct ha_restart {
    char vm[HVF_DRV_NAME_MAX], from[HVF_DRV_NAME_MAX], to[HVF_DRV_NAME_MAX];
    int64_t not_before_ms; /* wall */
    int64_t sent_ms; /* wall: its start was asked then (to @to): queued until it runs */
    int64_t since_us; /* driver clock: queued or asked then; older snapshots do not count */
} ha_restart;

struct hvfd_ha {
    ha_host **hosts; /* each its own allocation: the index borrows their names */
    size_t nhosts, hosts_cap;
    hvf_hash index;  /* name -> hosts[] */
    ha_restart **queue;
    size_t nqueue, queue_cap;
    hvf_hash queued; /* VM name -> queue[] */
    int64_t last_fence_ms; /* driver clock */
    bool storm;
    bool by_driver;        /* liveness from the driver (no agent synced) */
    int64_t window_ms;     /* driver clock: the minute restarts are counted in */
    unsigned restarts_in_window;
    int64_t tick_ms;       /* wall: the last tick; they are HA_TICK_MS apart at least */
    int64_t published_ms;  /* wall */
    hvfd_snap *seen;       /* the snapshot the hosts and VMs were last looked at in (a ref) */
    int64_t tick_us_last, tick_us_max; /* what a tick that looked cost (wall) */
    hvf_store *st; /* during a tick that wrote events: its transaction's */
    /* correlation: an infrastructure incident pauses per-VM remediation (ha_correlate) */
    bool infra;            /* a failed shared dependency or a fleet-wide symptom, now */
    bool infra_resumed;    /* an operator resumed remediation while it lasts */
    char infra_why[256];
    char infra_by[64];
    int64_t infra_since_ms; /* driver clock */
};

bool
hvfd_ha_storm(const hvfd *d)
{
    return d->ha && d->ha->storm;
}

bool
hvfd_ha_paused(const hvfd *d)
{
    return d->ha && d->ha->infra && !d->ha->infra_resumed;
}

void
hvfd_ha_free(hvfd *d)
{
    struct hvfd_ha *ha = d->ha;

    if (!ha)
        return;
    for (size_t i = 0; i < ha->nhosts; i++) {
        if (ha->hosts[i]->fence_pid > 0) {
            kill(-ha->hosts[i]->fence_pid, SIGKILL);
            waitpid(ha->hosts[i]->fence_pid, NULL, 0);
        }
        json_decref(ha->hosts[i]->fenced_vms);
        free(ha->hosts[i]);
    }
    for (size_t i = 0; i < ha->nqueue; i++)
        free(ha->queue[i]);
    json_decref(d->ha_view);
    d->ha_view = NULL;
    hvf_hash_clear(&ha->index);
    hvf_hash_clear(&ha->queued);
    hvfd_snap_unref(ha->seen);
    free(ha->hosts);
    free(ha->queue);
    free(ha);
    d->ha = NULL;
}

/* A tick's events go in one transaction (ha_events_end): a thousand hosts lost at once are
 * a thousand events, which one at a time would hold the controller for seconds. */
static void
ha_event(hvfd *d, hvf_conn *conn, json_t *data)
{
    struct hvfd_ha *ha = d->ha;
    hvf_error err = HVF_ERROR_INIT;

    json_object_set_new(data, "t_us", json_integer(hvf_driver_now_us(conn)));
    if (!ha->st && (ha->st = hvfd_store_get(d, &err)) && hvf_store_begin(ha->st, &err) < 0) {
        hvfd_store_put(d, ha->st);
        ha->st = NULL;
    }
    hvfd_event(d, ha->st, "ha", 0, data);
}

static void
ha_events_end(hvfd *d)
{
    struct hvfd_ha *ha = d->ha;
    hvf_error err = HVF_ERROR_INIT;

    if (!ha->st)
        return;
    if (hvf_store_commit(ha->st, &err) < 0)
        hvfd_log(HVFD_ERROR, "the event feed missed HA's events",
                 json_pack("{s:s}", "error", err.msg));
    hvfd_store_put(d, ha->st);
    ha->st = NULL;
}

static ha_host *
ha_host_find(struct hvfd_ha *ha, const char *name)
{
    int32_t i = hvf_hash_get(&ha->index, name);

    return i < 0 ? NULL : ha->hosts[i];
}

static ha_host *
ha_host_get(struct hvfd_ha *ha, const char *name)
{
    ha_host *h = ha_host_find(ha, name);

    if (h)
        return h;
    hvf_grow(&ha->hosts, &ha->hosts_cap, ha->nhosts + 1, sizeof(*ha->hosts));
    h = HVF_NEW(ha_host);
    hvf_strlcpy(h->name, name, sizeof(h->name));
    ha->hosts[ha->nhosts] = h;
    HVF_ASSERT(hvf_hash_put(&ha->index, h->name, (int32_t)ha->nhosts) == 0);
    ha->nhosts++;
    return h;
}

static bool
ha_queued(const struct hvfd_ha *ha, const char *vm)
{
    return hvf_hash_get(&ha->queued, vm) >= 0;
}

static void
ha_enqueue(struct hvfd_ha *ha, hvf_conn *conn, const char *vm, const char *from)
{
    ha_restart *r = HVF_NEW(ha_restart);

    r->since_us = hvf_driver_now_us(conn);
    hvf_strlcpy(r->vm, vm, sizeof(r->vm));
    hvf_strlcpy(r->from, from, sizeof(r->from));
    hvf_grow(&ha->queue, &ha->queue_cap, ha->nqueue + 1, sizeof(*ha->queue));
    ha->queue[ha->nqueue] = r;
    HVF_ASSERT(hvf_hash_put(&ha->queued, r->vm, (int32_t)ha->nqueue) == 0);
    ha->nqueue++;
}

/* The queue's index again, after entries left it. */
static void
ha_queue_reindex(struct hvfd_ha *ha)
{
    hvf_hash_clear(&ha->queued);
    hvf_hash_init(&ha->queued);
    for (size_t i = 0; i < ha->nqueue; i++)
        HVF_ASSERT(hvf_hash_put(&ha->queued, ha->queue[i]->vm, (int32_t)i) == 0);
}

/* @name's entry in the snapshot's VMs (the driver lists them in its fleet's order), or NULL. */
static const hvf_drv_vm *
ha_snap_vm(const hvfd_snap *s, const char *name)
{
    int32_t v = hvf_fleet_find_vm(s->fleet, name);

    if (v >= 0 && (size_t)v < s->nvms && strcmp(s->vms[v].name, name) == 0)
        return &s->vms[v];
    for (size_t i = 0; i < s->nvms; i++)
        if (strcmp(s->vms[i].name, name) == 0)
            return &s->vms[i];
    return NULL;
}

/* The fence command for @h, in its own process group; 0, or -1 (could not start). */
static int
ha_fence_start(hvfd *d, ha_host *h, int64_t wall)
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
    h->fence_deadline_ms = wall + d->cfg.ha_fence_timeout_us / 1000;
    return 0;
}

/* @h is fenced: its VMs are down for sure. Its HA VMs are queued by ha_queue_fenced, which
 * says so in one event per host. */
static void
ha_fenced(hvfd *d, hvf_conn *conn, ha_host *h, const char *how)
{
    hvf_error err = HVF_ERROR_INIT;

    h->st = HA_FENCED;
    if (hvf_driver_host_fenced(conn, h->name, &err) < 0)
        hvfd_log(HVFD_WARN, "the driver could not record a fence",
                 json_pack("{s:s, s:s}", "host", h->name, "error", err.msg));
    json_decref(h->fenced_vms);
    h->fenced_vms = json_pack("{s:s, s:s, s:s, s:[]}", "event", "fenced", "host", h->name, "how",
                              how, "ha_vms");
}

/* The HA VMs of the hosts fenced this tick go in the restart queue: one pass over the VMs. */
static void
ha_queue_fenced(hvfd *d, hvf_conn *conn, const hvf_fleet *f)
{
    struct hvfd_ha *ha = d->ha;
    HVF_AUTOFREE int32_t *of = NULL; /* per fleet host: the ha host fenced now, or -1 */
    size_t nfenced = 0;

    for (size_t i = 0; i < ha->nhosts; i++)
        nfenced += ha->hosts[i]->fenced_vms != NULL;
    if (!nfenced)
        return;
    of = hvf_calloc(f->nhosts + 1, sizeof(*of));
    for (size_t h = 0; h < f->nhosts; h++)
        of[h] = -1;
    for (size_t i = 0; i < ha->nhosts; i++) {
        int32_t fh = ha->hosts[i]->fenced_vms ? hvf_fleet_find_host(f, ha->hosts[i]->name) : -1;

        if (fh >= 0)
            of[fh] = (int32_t)i;
    }
    for (size_t v = 0; v < f->nvms; v++) {
        ha_host *h;

        if (f->vms[v].host < 0 || of[f->vms[v].host] < 0 || !hvf_vm_is_ha(f, &f->vms[v]))
            continue;
        h = ha->hosts[of[f->vms[v].host]];
        if (!ha_queued(ha, f->vms[v].name))
            ha_enqueue(ha, conn, f->vms[v].name, h->name);
        json_array_append_new(json_object_get(h->fenced_vms, "ha_vms"),
                              json_string(f->vms[v].name));
    }
    for (size_t i = 0; i < ha->nhosts; i++) {
        if (!ha->hosts[i]->fenced_vms)
            continue;
        ha_event(d, conn, ha->hosts[i]->fenced_vms);
        ha->hosts[i]->fenced_vms = NULL;
    }
}

/* Whether @host (a name) is in service as far as HA knows: not lost, not being fenced. */
static bool
ha_host_ok(struct hvfd_ha *ha, const char *host)
{
    ha_host *h = ha_host_find(ha, host);

    return !h || h->st == HA_OK;
}

bool
hvfd_ha_host_settled(const hvfd *d, const char *host)
{
    int32_t i = d->ha ? hvf_hash_get(&d->ha->index, host) : -1;

    return i < 0 || d->ha->hosts[i]->st == HA_OK || d->ha->hosts[i]->st == HA_FENCED;
}

bool
hvfd_ha_restart(hvfd *d, hvf_conn *conn, const char *vm, const char *from)
{
    if (!d->ha || ha_queued(d->ha, vm))
        return false;
    ha_enqueue(d->ha, conn, vm, from);
    return true;
}

/*
 * Correlation (docs/ha.md): many VMs failing together are one cause, not many. A service that
 * HA_SHARED_DEPENDENTS others or more depend on (depends_on) with fewer VMs running than its
 * min_available (at least one), counting those on hosts out of reach (an agent not yet
 * registered, a host lost and not fenced) as maybe running, or more than ha_storm_share of the VMs crashed at once (three at
 * least), is an infrastructure incident: one `infra_failed` event, and per-VM remediation (HA's
 * restarts, reconciliation's actions) pauses until it is over or an operator resumes it
 * (POST /v1/ha/resume).
 */
#define HA_SHARED_DEPENDENTS 2

static void
ha_correlate(hvfd *d, hvf_conn *conn, const hvfd_snap *s, int64_t now)
{
    struct hvfd_ha *ha = d->ha;
    const hvf_fleet *f = s->fleet;
    HVF_AUTOFREE size_t *deps = hvf_calloc(f->nservices + 1, sizeof(size_t));
    HVF_AUTOFREE size_t *up = hvf_calloc(f->nservices + 1, sizeof(size_t));
    HVF_AUTOFREE size_t *unknown = hvf_calloc(f->nservices + 1, sizeof(size_t));
    HVF_AUTOFREE bool *gone = hvf_calloc(f->nhosts + 1, sizeof(bool));
    size_t crashed = 0;
    char why[256] = "";
    const char *svc = NULL;
    char by[64];

    pthread_mutex_lock(&d->lock);
    hvf_strlcpy(by, d->ha_resume_by, sizeof(by));
    d->ha_resume_by[0] = '\0';
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < f->nservices; i++)
        for (size_t k = 0; k < f->services[i].nrel[HVF_SERVICE_DEPENDS_ON]; k++)
            deps[f->services[i].rel[HVF_SERVICE_DEPENDS_ON][k]]++;
    for (size_t i = 0; i < s->nhosts; i++) {
        int32_t h = hvf_fleet_find_host(f, s->hosts[i].name);

        if (h >= 0)
            gone[h] = s->hosts[i].state == HVF_DRV_HOST_DOWN || !ha_host_ok(ha, s->hosts[i].name);
    }
    for (size_t i = 0; i < s->nvms; i++) {
        int32_t v = hvf_fleet_find_vm(f, s->vms[i].name);
        int32_t sv = v >= 0 ? f->vms[v].service : -1;
        int32_t h = v >= 0 ? f->vms[v].host : -1;

        crashed += s->vms[i].state == HVF_DRV_VM_CRASHED;
        if (sv < 0)
            continue;
        if (s->vms[i].state != HVF_DRV_VM_CRASHED && h >= 0 && gone[h])
            unknown[sv]++; /* on a host out of reach (not yet registered, lost): not known down */
        else if (s->vms[i].state == HVF_DRV_VM_RUNNING ||
                 s->vms[i].state == HVF_DRV_VM_MIGRATING)
            up[sv]++;
    }
    for (size_t i = 0; i < f->nservices && !why[0]; i++) {
        size_t need = f->services[i].min_available ? f->services[i].min_available : 1;

        if (deps[i] >= HA_SHARED_DEPENDENTS && up[i] + unknown[i] < need) {
            svc = f->services[i].name;
            snprintf(why, sizeof(why),
                     "service %.60s, which %zu services depend on, has %zu VMs running "
                     "(min_available %zu): a failed shared dependency",
                     svc, deps[i], up[i], need);
        }
    }
    if (!why[0] && crashed >= 3 && (double)crashed > d->cfg.ha_storm_share * (double)s->nvms)
        snprintf(why, sizeof(why), "%zu of %zu VMs crashed together: a fleet-wide symptom",
                 crashed, s->nvms);
    if (why[0] && !ha->infra) {
        ha->infra = true;
        ha->infra_resumed = false;
        ha->infra_since_ms = now;
        hvf_strlcpy(ha->infra_why, why, sizeof(ha->infra_why));
        ha_event(d, conn, json_pack("{s:s, s:s, s:s*, s:I}", "event", "infra_failed", "why", why,
                                    "service", svc, "crashed", (json_int_t)crashed));
        hvfd_log(HVFD_WARN, "an infrastructure incident: per-VM remediation paused",
                 json_pack("{s:s}", "why", why));
    } else if (!why[0] && ha->infra) {
        ha->infra = false;
        ha->infra_resumed = false;
        ha_event(d, conn, json_pack("{s:s, s:s}", "event", "infra_over", "was", ha->infra_why));
        ha->infra_why[0] = '\0';
    }
    if (by[0] && ha->infra && !ha->infra_resumed) {
        ha->infra_resumed = true;
        hvf_strlcpy(ha->infra_by, by, sizeof(ha->infra_by));
        ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "remediation_resumed", "by", by,
                                    "why", ha->infra_why));
    }
}

/*
 * HA VMs that crashed on a host in service (their QEMU died: killed, a guest panic with
 * on_crash=destroy): no fence is needed, their host answers for them; queued for a restart.
 */
static void
ha_crashed(hvfd *d, hvf_conn *conn, const hvfd_snap *s)
{
    struct hvfd_ha *ha = d->ha;

    for (size_t i = 0; i < s->nvms; i++) {
        const hvf_drv_vm *dv = &s->vms[i];
        int32_t v;

        if (dv->state != HVF_DRV_VM_CRASHED || ha_queued(ha, dv->name))
            continue;
        v = hvf_fleet_find_vm(s->fleet, dv->name);
        if (v < 0 || !hvf_vm_is_ha(s->fleet, &s->fleet->vms[v]) || !ha_host_ok(ha, dv->host))
            continue; /* a lost host's VMs wait for its fence */
        ha_enqueue(ha, conn, dv->name, dv->host);
        ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "vm_crashed", "vm", dv->name,
                                    "host", dv->host));
    }
}

/* Lost hosts, by liveness: returns whether it is a storm (and says so when that changes). */
static bool
ha_storm(hvfd *d, hvf_conn *conn, const hvfd_snap *s)
{
    struct hvfd_ha *ha = d->ha;
    const hvf_fleet *f = s->fleet;
    size_t lost = 0, watched = ha->by_driver ? s->nhosts : ha->nhosts;
    const char *zone = NULL;
    bool storm;

    for (size_t i = 0; i < ha->nhosts; i++)
        lost += ha->hosts[i]->st != HA_OK;
    if (lost >= 2 && f->nzones > 0) {
        /* a whole zone of two hosts or more lost together: hosts watched and lost per zone */
        HVF_AUTOFREE size_t *in = hvf_calloc(f->nzones, sizeof(size_t));
        HVF_AUTOFREE size_t *gone = hvf_calloc(f->nzones, sizeof(size_t));

        if (ha->by_driver) {
            for (size_t h = 0; h < f->nhosts; h++)
                if (f->hosts[h].zone >= 0)
                    in[f->hosts[h].zone]++;
        }
        for (size_t i = 0; i < ha->nhosts; i++) {
            int32_t h;

            if (!ha->by_driver || ha->hosts[i]->st != HA_OK) {
                h = hvf_fleet_find_host(f, ha->hosts[i]->name);
                if (h < 0 || f->hosts[h].zone < 0)
                    continue;
                in[f->hosts[h].zone] += !ha->by_driver;
                gone[f->hosts[h].zone] += ha->hosts[i]->st != HA_OK;
            }
        }
        for (size_t z = 0; z < f->nzones && !zone; z++)
            if (in[z] >= 2 && gone[z] == in[z] && in[z] < watched)
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
ha_fence_step(hvfd *d, hvf_conn *conn, ha_host *h, int64_t now, int64_t wall)
{
    struct hvfd_ha *ha = d->ha;

    if (ha->by_driver && h->off && (h->st == HA_LOST || h->st == HA_UNFENCED)) {
        /* powered off, as the driver knows (the twin's crashed hosts): fenced by construction */
        ha_fenced(d, conn, h, "powered-off");
        return;
    }
    if (h->st == HA_LOST) {
        if (d->cfg.ha_fence_command) {
            if (now < h->retry_ms || (ha->last_fence_ms &&
                                      now - ha->last_fence_ms < d->cfg.ha_fence_quiet_us / 1000))
                return;
            ha->last_fence_ms = now;
            if (ha_fence_start(d, h, wall) < 0) {
                h->retry_ms = now + d->cfg.ha_fence_quiet_us / 1000;
                ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "fence_failed", "host",
                                            h->name, "why", "the fence command could not start"));
                return;
            }
            h->st = HA_FENCING;
            ha_event(d, conn, json_pack("{s:s, s:s}", "event", "fence_start", "host", h->name));
        } else if (d->cfg.ha_fence_after_us > 0 && !ha->by_driver) {
            ha_fenced(d, conn, h, "self-fence");
        } else {
            h->st = HA_UNFENCED;
            ha_event(d, conn,
                     json_pack("{s:s, s:s, s:s}", "event", "not_fenced", "host", h->name, "why",
                               ha->by_driver
                                   ? "no fence command, and no agent to fence itself: the host "
                                     "may run on out of reach, its VMs are unknown and none is "
                                     "restarted"
                                   : "no fence command, and agents do not fence themselves "
                                     "(ha_fence_after): its VMs are unknown and none is "
                                     "restarted"));
        }
        return;
    }
    if (h->st == HA_FENCING) {
        int status = 0;
        pid_t w = waitpid(h->fence_pid, &status, WNOHANG);

        if (w == 0 && wall < h->fence_deadline_ms)
            return;
        if (w == 0) {
            kill(-h->fence_pid, SIGKILL);
            while (waitpid(h->fence_pid, &status, 0) < 0 && errno == EINTR)
                ;
            status = -1;
        }
        h->fence_pid = 0;
        if (status == 0 || (status > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            ha_fenced(d, conn, h, "command");
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

/*
 * Starts queued HA VMs where they fit (claims as they go, anti-affinity by service). The fleet
 * is the snapshot's, with the starts asked and not yet seen running in it counted on their
 * targets (the snapshot may be a second old): so two batches never fill one host twice.
 */
static void
ha_restarts(hvfd *d, hvf_conn *conn, const hvfd_snap *s, int64_t now, int64_t wall)
{
    struct hvfd_ha *ha = d->ha;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f = NULL;
    hvf_placer *pl = NULL;
    size_t k = 0, due = 0;
    bool dropped = false;

    if (!ha->nqueue)
        return;
    if (now - ha->window_ms >= 60000) {
        ha->window_ms = now;
        ha->restarts_in_window = 0;
    }
    /* VMs that run again (restarted, or their host came back) or are gone leave the queue */
    for (size_t i = 0; i < ha->nqueue; i++) {
        ha_restart *r = ha->queue[i];
        const hvf_drv_vm *dv = ha_snap_vm(s, r->vm);

        /* a snapshot older than the fence or the start still shows it as it was */
        if (hvf_fleet_find_vm(s->fleet, r->vm) < 0 || !dv ||
            (dv->state != HVF_DRV_VM_CRASHED && dv->state != HVF_DRV_VM_STOPPED &&
             s->now_us > r->since_us)) {
            free(r);
            dropped = true;
            continue;
        }
        ha->queue[k++] = r;
        if ((!r->sent_ms || wall - r->sent_ms >= HA_RESTART_RETRY_MS) &&
            wall >= r->not_before_ms)
            due++;
    }
    ha->nqueue = k;
    if (dropped)
        ha_queue_reindex(ha);
    if (!due || ha->restarts_in_window >= d->cfg.ha_restarts_per_min)
        return;
    f = hvf_fleet_dup(s->fleet);
    pl = hvf_placer_new(f, NULL);
    for (size_t i = 0; i < s->nhosts; i++) {
        int32_t h;

        if (s->hosts[i].state == HVF_DRV_HOST_ACTIVE)
            continue;
        if ((h = hvf_fleet_find_host(f, s->hosts[i].name)) >= 0)
            hvf_placer_set_role(pl, h, HVF_PLACE_ROLE_OFFLINE);
    }
    for (size_t i = 0; i < ha->nqueue; i++) { /* asked, not yet in the snapshot */
        ha_restart *r = ha->queue[i];
        int32_t v = hvf_fleet_find_vm(f, r->vm), h = hvf_fleet_find_host(f, r->to);
        hvf_resources need;

        if (!r->sent_ms || v < 0 || h < 0)
            continue;
        need = hvf_vm_resources(&f->vms[v]);
        if (hvf_host_use(&f->hosts[h], &need, HVF_OVERCOMMIT, &err) == 0)
            hvf_placer_host_changed(pl, h);
        if (f->vms[v].service >= 0)
            hvf_placer_replica_add(pl, f->vms[v].service, h);
    }
    for (size_t i = 0; i < ha->nqueue && ha->restarts_in_window < d->cfg.ha_restarts_per_min;
         i++) {
        ha_restart *r = ha->queue[i];
        int32_t v = hvf_fleet_find_vm(f, r->vm), h;
        hvf_place_request req;
        hvf_place_result res;
        hvf_resources need;
        int32_t svc;

        if (v < 0 || (r->sent_ms && wall - r->sent_ms < HA_RESTART_RETRY_MS) ||
            wall < r->not_before_ms)
            continue;
        svc = f->vms[v].service;
        memset(&req, 0, sizeof(req));
        need = hvf_vm_resources(&f->vms[v]);
        req.need = need;
        req.service = svc;
        req.source = -1;
        req.pin_host = -1;
        memset(&res, 0, sizeof(res));
        /* its replica moves: it no longer holds its old place for its service's spread */
        if (svc >= 0 && f->vms[v].host >= 0)
            hvf_placer_replica_remove(pl, svc, f->vms[v].host);
        h = hvf_placer_choose(pl, &req, &res);
        if (h < 0 || hvf_driver_vm_start(conn, r->vm, f->hosts[h].name, &err) < 0) {
            ha_event(d, conn,
                     json_pack("{s:s, s:s, s:s, s:s}", "event", "restart_failed", "vm", r->vm,
                               "from", r->from, "why",
                               h < 0 ? "it fits on no host in service (capacity or "
                                       "anti-affinity)"
                                     : err.msg));
            hvf_error_clear(&err);
            if (svc >= 0 && f->vms[v].host >= 0)
                hvf_placer_replica_add(pl, svc, f->vms[v].host);
            r->not_before_ms = wall + HA_RESTART_RETRY_MS;
            continue;
        }
        ha->restarts_in_window++;
        r->sent_ms = wall;
        r->since_us = hvf_driver_now_us(conn);
        hvf_strlcpy(r->to, f->hosts[h].name, sizeof(r->to));
        if (hvf_host_use(&f->hosts[h], &need, HVF_OVERCOMMIT, &err) == 0)
            hvf_placer_host_changed(pl, h);
        if (svc >= 0)
            hvf_placer_replica_add(pl, svc, h);
        ha_event(d, conn, json_pack("{s:s, s:s, s:s, s:s}", "event", "restart", "vm", r->vm,
                                    "from", r->from, "to", f->hosts[h].name));
    }
    hvf_placer_free(pl);
    hvf_fleet_free(f);
}

static const char *const ha_state_names[] = {"ok", "unreachable", "fencing", "fenced",
                                             "not-fenced"};

static json_t *
ha_view_base(const hvfd *d, json_t *hosts, json_t *queue, bool storm, const char *liveness)
{
    const struct hvfd_ha *ha = d->ha;
    bool infra = ha && ha->infra;

    return json_pack("{s:b, s:o, s:o, s:s*, s:b, s:f, s:s, s:{s:b, s:b, s:s*, s:s*}}", "storm",
                     storm, "hosts", hosts, "restart_queue", queue, "fence_command",
                     d->cfg.ha_fence_command, "self_fence", d->cfg.ha_fence_after_us > 0,
                     "storm_share", d->cfg.ha_storm_share, "liveness", liveness, "remediation",
                     "paused", infra && !ha->infra_resumed, "infrastructure", infra, "why",
                     infra ? ha->infra_why : NULL, "resumed_by",
                     infra && ha->infra_resumed ? ha->infra_by : NULL);
}

/* What GET /v1/ha shows: the hosts HA is busy with, the storm, the restart queue. */
static void
ha_publish(hvfd *d, int64_t now)
{
    struct hvfd_ha *ha = d->ha;
    json_t *hosts = json_array(), *queue = json_array(), *view, *old;

    for (size_t i = 0; i < ha->nhosts; i++)
        if (ha->hosts[i]->st != HA_OK)
            json_array_append_new(
                hosts, json_pack("{s:s, s:s, s:f}", "host", ha->hosts[i]->name, "state",
                                 ha_state_names[ha->hosts[i]->st], "for_s",
                                 now > ha->hosts[i]->since_ms
                                     ? (double)(now - ha->hosts[i]->since_ms) / 1e3
                                     : 0.0));
    for (size_t i = 0; i < ha->nqueue; i++)
        json_array_append_new(queue, json_pack("{s:s, s:s, s:b}", "vm", ha->queue[i]->vm, "from",
                                               ha->queue[i]->from, "asked",
                                               ha->queue[i]->sent_ms != 0));
    view = ha_view_base(d, hosts, queue, ha->storm, ha->by_driver ? "driver" : "agents");
    json_object_set_new(view, "tick_us",
                        json_pack("{s:I, s:I}", "last", (json_int_t)ha->tick_us_last, "max",
                                  (json_int_t)ha->tick_us_max));
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
    json_t *view, *rcv;

    pthread_mutex_lock(&d->lock);
    view = d->ha_view ? json_deep_copy(d->ha_view) : NULL;
    rcv = d->rc_view ? json_deep_copy(d->rc_view) : NULL;
    pthread_mutex_unlock(&d->lock);
    if (!view) {
        view = ha_view_base(d, json_array(), json_array(), false, "agents");
        json_object_set_new(view, "tick_us", json_pack("{s:i, s:i}", "last", 0, "max", 0));
    }
    if (rcv)
        json_object_update(view, rcv);
    else
        json_object_set_new(view, "divergences", json_array());
    json_decref(rcv);
    return hvfd_reply(r, 200, view);
}

int
hvfd_api_ha_resume(hvfd_req *r)
{
    hvfd *d = r->d;
    json_t *rem;
    bool paused;

    pthread_mutex_lock(&d->lock);
    rem = d->ha_view ? json_object_get(d->ha_view, "remediation") : NULL;
    paused = rem && json_is_true(json_object_get(rem, "paused"));
    if (paused)
        hvf_strlcpy(d->ha_resume_by, r->who.name, sizeof(d->ha_resume_by));
    pthread_mutex_unlock(&d->lock);
    if (!paused)
        return hvfd_fail(r, 409, NULL, "per-VM remediation is not paused: nothing to resume");
    return hvfd_reply(r, 202, json_pack("{s:b, s:s}", "resumed", true, "by", r->who.name));
}

/* Liveness from the agents: a host whose agent is down is lost, one that syncs again back. */
static void
ha_liveness_agents(hvfd *d, hvf_conn *conn, const hvfd_snap *s, const hvfd_agent_view *views,
                   size_t n, int64_t now)
{
    struct hvfd_ha *ha = d->ha;

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
}

/* Liveness from the driver (no agents: the twin): a host it reports down is lost. */
static void
ha_liveness_driver(hvfd *d, hvf_conn *conn, const hvfd_snap *s, int64_t now)
{
    struct hvfd_ha *ha = d->ha;

    for (size_t i = 0; i < s->nhosts; i++) {
        const hvf_drv_host *dh = &s->hosts[i];
        bool down = dh->state == HVF_DRV_HOST_DOWN;
        ha_host *h = down ? ha_host_get(ha, dh->name)
                          : ha->nhosts ? ha_host_find(ha, dh->name) : NULL;

        if (!h)
            continue;
        h->off = down && dh->off;
        if (down && h->st == HA_OK) {
            h->st = HA_LOST;
            h->since_ms = now;
            h->retry_ms = 0;
            ha_event(d, conn, json_pack("{s:s, s:s, s:b}", "event", "unreachable", "host",
                                        h->name, "off", dh->off));
        } else if (!down && h->st != HA_OK && h->st != HA_FENCING) {
            ha_event(d, conn, json_pack("{s:s, s:s, s:s}", "event", "host_back", "host", h->name,
                                        "was", h->st == HA_FENCED     ? "fenced"
                                               : h->st == HA_UNFENCED ? "not-fenced"
                                                                      : "unreachable"));
            h->st = HA_OK;
        }
    }
}

void
hvfd_ha_tick(hvfd *d, hvf_conn *conn)
{
    struct hvfd_ha *ha;
    hvfd_agent_view *views = NULL;
    size_t n = 0;
    hvfd_snap *s;
    int64_t wall = hvfd_mono_ms(), now, t0;
    bool fresh, agents;

    if (!conn)
        return;
    if (!d->ha) {
        d->ha = HVF_NEW(struct hvfd_ha);
        hvf_hash_init(&d->ha->index);
        hvf_hash_init(&d->ha->queued);
    }
    ha = d->ha;
    if (wall - ha->tick_ms < HA_TICK_MS)
        return;
    ha->tick_ms = wall;
    if (!(s = hvfd_snap_get(d)))
        return;
    if (!s->fleet) {
        hvfd_snap_unref(s);
        return;
    }
    t0 = hvfd_mono_ns();
    now = hvf_driver_now_us(conn) / 1000;
    agents = hvfd_agents_any(d);
    if (agents && ha->by_driver) { /* agents came: they say what is up from now on */
        for (size_t i = 0; i < ha->nhosts; i++)
            ha->hosts[i]->st = HA_OK;
        ha->by_driver = false;
    } else if (!agents && !ha->by_driver && !ha->nhosts) {
        /* the agent:// driver's hosts are down until their agents come: nothing to watch yet */
        if (d->driver_uri && strncmp(d->driver_uri, "agent:", 6) == 0) {
            hvfd_snap_unref(s);
            return;
        }
        ha->by_driver = true;
    }
    fresh = s != ha->seen;
    if (ha->by_driver && !fresh && !ha->nqueue) {
        bool busy = false; /* fences under way, or hosts waiting for one */

        for (size_t i = 0; i < ha->nhosts && !busy; i++)
            busy = ha->hosts[i]->st == HA_LOST || ha->hosts[i]->st == HA_FENCING;
        if (!busy) { /* nothing new to look at */
            if (wall - ha->published_ms >= HA_PUBLISH_MS) {
                ha_publish(d, now);
                ha->published_ms = wall;
            }
            hvfd_snap_unref(s);
            return;
        }
    }
    if (ha->by_driver) {
        if (fresh)
            ha_liveness_driver(d, conn, s, now);
    } else {
        n = hvfd_agents_view(d, &views);
        ha_liveness_agents(d, conn, s, views, n, now);
    }
    if (!ha_storm(d, conn, s)) {
        for (size_t i = 0; i < ha->nhosts; i++)
            ha_fence_step(d, conn, ha->hosts[i], now, wall);
        ha_queue_fenced(d, conn, s->fleet);
        if (fresh || !ha->by_driver) {
            ha_crashed(d, conn, s);
            ha_correlate(d, conn, s, now);
        }
        if (!hvfd_ha_paused(d))
            ha_restarts(d, conn, s, now, wall);
    }
    if (fresh) {
        hvfd_snap_unref(ha->seen);
        ha->seen = s;
        atomic_fetch_add(&s->ref, 1);
    }
    ha_events_end(d);
    ha->tick_us_last = (hvfd_mono_ns() - t0) / 1000;
    if (ha->tick_us_last > ha->tick_us_max)
        ha->tick_us_max = ha->tick_us_last;
    ha_publish(d, now);
    ha->published_ms = wall;
    if (!ha->by_driver)
        hvfd_reconcile(d, conn, views, n, wall);
    hvfd_agents_view_free(views, n);
    hvfd_snap_unref(s);
}
