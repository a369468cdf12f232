/* SPDX-License-Identifier: MIT */
/*
 * Reconciliation (docs/ha.md, seed 003's zombies): what the agents' heartbeats say runs, against
 * where the driver believes each VM runs, every RECONCILE_EVERY_MS. A divergence:
 * - duplicate: a VM alive on two hosts or more (its QEMU, or an unknown QEMU named for it);
 * - missing: the driver believes it runs on H but H's agent reports its QEMU gone, or none; or
 *   it crashed (its agent saw its QEMU die) and runs nowhere (HA restarts an HA one first);
 * - unexpected: alive on H while the driver believes it stopped;
 * - unknown: a QEMU of a host that is none of the inventory's VMs.
 * One that lasts longer than a heartbeat (and RECONCILE_SLACK_MS: a VM just started or moved is
 * not one) is found: a `reconcile` event and a `divergence` incident, ended when it is gone.
 * Each found divergence asks for an action (destroy the copies that lost, stop, restart, adopt)
 * through an action queue (hvfleet/actionq.h): one action per VM however often it is seen,
 * priorities, a rate limit, a cooldown; each action is allowed by its policy key (reconcile_*,
 * reported only otherwise), and the destructive ones are never taken during a freeze or a storm.
 *
 * Controller thread only (hvfd_ha_tick calls it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "driver/qemu/qemu-vm.h"
#include "hvfleet/actionq.h"
#include "hvfleet/alloc.h"
#include "hvfleet/freeze.h"
#include "hvfleet/strbuf.h"

#define RECONCILE_EVERY_MS 1000
#define RECONCILE_SLACK_MS 1000
#define RECONCILE_MAX 4096 /* divergences followed at once; more are not (and counted) */
#define RECONCILE_COOLDOWN_MS 60000 /* an action taken is not taken again for a VM before this */
#define RECONCILE_STOP_TIMEOUT_S 30 /* a stop's ACPI power-down, then the agent quits QEMU */
#define RECONCILE_STARTS_MAX 256    /* restarts waiting for their destroy, at most */
#define RECONCILE_ADOPTED_MAX 256   /* adopted QEMUs, at most */

typedef struct rc_div {
    char key[400]; /* kind:vm:hosts */
    char kind[16], vm[HVF_DRV_NAME_MAX], hosts[256];
    char copies[512];  /* duplicate: "host" or "host#pid" (a QEMU none of the agent's) each */
    char believed[HVF_DRV_NAME_MAX]; /* where the driver believes the VM runs */
    int64_t pid;       /* unknown: its QEMU's */
    int64_t since_ms;
    bool reported, seen;
    bool said, held_said; /* not_acted (policy), held: said once */
    char action[16];      /* what became of its action, for GET /v1/ha */
} rc_div;

struct hvfd_rc {
    rc_div *divs;
    size_t n, cap;
    int64_t last_ms;
    hvf_actionq *q;
    rc_div starts[RECONCILE_STARTS_MAX]; /* restarts destroyed first, started once stopped */
    size_t nstarts;
    rc_div adopted[RECONCILE_ADOPTED_MAX]; /* hosts: the host, pid, vm: its -name or cmdline */
    size_t nadopted;
};

void
hvfd_reconcile_free(hvfd *d)
{
    json_decref(d->rc_view);
    d->rc_view = NULL;
    if (d->rc) {
        free(d->rc->divs);
        hvf_actionq_free(d->rc->q);
    }
    free(d->rc);
    d->rc = NULL;
}

static rc_div *
rc_see(struct hvfd_rc *rc, const char *kind, const char *vm, const char *hosts, int64_t now)
{
    char key[400];

    snprintf(key, sizeof(key), "%s:%s:%s", kind, vm, hosts);
    for (size_t i = 0; i < rc->n; i++)
        if (strcmp(rc->divs[i].key, key) == 0) {
            rc->divs[i].seen = true;
            return &rc->divs[i];
        }
    if (rc->n == RECONCILE_MAX)
        return NULL;
    hvf_grow(&rc->divs, &rc->cap, rc->n + 1, sizeof(*rc->divs));
    memset(&rc->divs[rc->n], 0, sizeof(rc->divs[0]));
    hvf_strlcpy(rc->divs[rc->n].key, key, sizeof(rc->divs[0].key));
    hvf_strlcpy(rc->divs[rc->n].kind, kind, sizeof(rc->divs[0].kind));
    hvf_strlcpy(rc->divs[rc->n].vm, vm, sizeof(rc->divs[0].vm));
    hvf_strlcpy(rc->divs[rc->n].hosts, hosts, sizeof(rc->divs[0].hosts));
    rc->divs[rc->n].since_ms = now;
    rc->divs[rc->n].seen = true;
    return &rc->divs[rc->n++];
}

/* Appends @item to the comma-separated *@list (owned). */
static void
rc_append(char **list, const char *item)
{
    char *both = *list ? hvf_asprintf("%s,%s", *list, item) : hvf_strdup(item);

    free(*list);
    *list = both;
}

static bool rc_is_adopted(struct hvfd_rc *rc, const char *host, int64_t pid);
static bool rc_is_adopted_vm(struct hvfd_rc *rc, const char *host, const char *name);

/* An unknown QEMU (@x of a heartbeat's unknown_qemu), by its name and pid. */
static void
rc_unknown(struct hvfd_rc *rc, const char *name, const char *host, json_t *x, int64_t now)
{
    char vm[HVF_DRV_NAME_MAX];
    int64_t pid = (int64_t)json_integer_value(json_object_get(x, "pid"));
    rc_div *d;

    snprintf(vm, sizeof(vm), "%.100s#%" PRId64, name, pid);
    if ((d = rc_see(rc, "unknown", vm, host, now)))
        d->pid = pid;
}

/* Where each VM's QEMU lives, by the heartbeats: "h1,h2" per VM (index of @vms), the same with
 * "#PID" after each copy that is none of its agent's VMs in *@copies, and unknown QEMUs that are
 * no VM of @vms as divergences. */
static char **
rc_alive(struct hvfd_rc *rc, const hvf_drv_vm *vms, long nv, const hvfd_agent_view *views,
         size_t n, int64_t now, char ***copies)
{
    char **where = hvf_calloc((size_t)nv + 1, sizeof(*where));

    *copies = hvf_calloc((size_t)nv + 1, sizeof(**copies));

    for (size_t i = 0; i < n; i++) {
        size_t k;
        json_t *x;

        if (views[i].state != HVFD_AGENT_CONNECTED || !views[i].identity_ok || !views[i].vm_list)
            continue;
        for (int pass = 0; pass < 2; pass++) {
            json_t *list = pass ? views[i].unknown : views[i].vm_list;

            json_array_foreach(list, k, x) {
                char name[HVF_DRV_NAME_MAX];
                const char *st = json_string_value(json_object_get(x, "state"));
                const char *cmd = json_string_value(json_object_get(x, "cmdline"));
                long v;

                if (pass == 0) {
                    if (!st || strcmp(st, "alive") != 0 ||
                        !json_string_value(json_object_get(x, "name")))
                        continue;
                    hvf_strlcpy(name, json_string_value(json_object_get(x, "name")),
                                sizeof(name));
                } else if (rc_is_adopted(rc, views[i].host,
                                         (int64_t)json_integer_value(json_object_get(x, "pid")))) {
                    continue;
                } else if (!cmd || !hvf_qvm_cmdline_name(cmd, name, sizeof(name))) {
                    rc_unknown(rc, cmd ? cmd : "?", views[i].host, x, now);
                    continue;
                }
                for (v = 0; v < nv && strcmp(vms[v].name, name) != 0; v++)
                    ;
                if (v == nv) {
                    if (pass)
                        rc_unknown(rc, name, views[i].host, x, now);
                    else if (!rc_is_adopted_vm(rc, views[i].host, name))
                        rc_see(rc, "unknown", name, views[i].host, now);
                    continue;
                }
                rc_append(&where[v], views[i].host);
                if (pass) {
                    char copy[HVF_DRV_NAME_MAX + 24];

                    snprintf(copy, sizeof(copy), "%s#%" PRId64, views[i].host,
                             (int64_t)json_integer_value(json_object_get(x, "pid")));
                    rc_append(&(*copies)[v], copy);
                } else {
                    rc_append(&(*copies)[v], views[i].host);
                }
            }
        }
    }
    return where;
}

/* ---- actions (docs/ha.md, "Reconciliation"): through an action queue ---- */

/* One kind of action per kind of divergence; the queue pops the higher priority first. */
enum { RC_DESTROY, RC_STOP, RC_RESTART, RC_ADOPT, RC_NKINDS };
static const struct {
    const char *name, *div, *key; /* the action, the divergence it answers, its policy key */
    int32_t priority;
    bool destructive; /* never during a storm or a freeze */
} rc_kinds[RC_NKINDS] = {
    {"destroy", "duplicate", "reconcile_destroy", 30, true},
    {"stop", "unexpected", "reconcile_stop", 20, true},
    {"restart", "missing", "reconcile_restart", 10, false},
    {"adopt", "unknown", "reconcile_adopt", 0, false},
};

static int
rc_kind_of(const char *div)
{
    for (int k = 0; k < RC_NKINDS; k++)
        if (strcmp(rc_kinds[k].div, div) == 0)
            return k;
    return -1;
}

static bool
rc_allowed(const hvfd *d, int k)
{
    return k == RC_DESTROY   ? d->cfg.reconcile_destroy
           : k == RC_STOP    ? d->cfg.reconcile_stop
           : k == RC_RESTART ? d->cfg.reconcile_restart
                             : d->cfg.reconcile_adopt;
}

/* The queue's key of @x's action: one per VM (per QEMU for an unknown one), so that the same
 * divergence seen every pass is one action, and one that comes back within the cooldown is not
 * acted on again. */
static void
rc_action_key(const rc_div *x, int k, char *out, size_t size)
{
    if (k == RC_ADOPT)
        snprintf(out, size, "adopt:%.60s#%" PRId64, x->hosts, x->pid);
    else
        snprintf(out, size, "%s:%.100s", rc_kinds[k].name, x->vm);
}

static void
rc_event(hvfd *d, hvf_conn *conn, const rc_div *x, const char *event, json_t *data)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", event, "kind", x->kind, "vm",
                          x->vm, "hosts", x->hosts, "t_us",
                          (json_int_t)hvf_driver_now_us(conn));

    if (data) {
        json_object_update(e, data);
        json_decref(data);
    }
    hvfd_event(d, NULL, "reconcile", 0, e);
}

/* Whether @c ("host" or "host#pid") is the copy at @believed run by its agent. */
static bool
rc_is_believed(const char *c, const char *believed)
{
    size_t n = strlen(believed);

    return strncmp(c, believed, n) == 0 && (c[n] == '\0' || c[n] == '#');
}

/* A QEMU process no agent's VM owns (@pid, as the agent reported it), killed by @host's agent. */
static int
rc_kill_qemu(hvfd *d, const char *host, const char *vm, const char *pid, char id[64],
             hvf_error *err)
{
    return hvfd_agent_command(d, host, "qemu_kill",
                              json_pack("{s:s, s:I}", "vm", vm, "pid",
                                        (json_int_t)strtoll(pid, NULL, 10)),
                              id, err);
}

/*
 * A VM running twice: the copies elsewhere than where hvfleetd believes it runs lost, and are
 * destroyed, only when one copy runs where hvfleetd believes (else which one lost is not clear:
 * a person decides).
 */
static void
rc_destroy_losers(hvfd *d, hvf_conn *conn, const rc_div *x)
{
    HVF_AUTOFREE char *list = hvf_strdup(x->copies);
    bool believed_runs = false;
    char *save = NULL;

    for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
        believed_runs = believed_runs || rc_is_believed(c, x->believed);
    if (!believed_runs) {
        rc_event(d, conn, x, "not_acted",
                 json_pack("{s:s}", "why", "no copy runs where hvfleetd believes it does: which "
                                           "one lost is not clear"));
        return;
    }
    free(list);
    list = hvf_strdup(x->copies);
    for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        char *hash = strchr(c, '#');
        hvf_error err = HVF_ERROR_INIT;
        char id[64];
        int rc;

        if (hash)
            *hash++ = '\0';
        if (strcmp(c, x->believed) == 0 && !hash)
            continue; /* the copy hvfleetd believes in, run by its agent: the one that stays */
        rc = hash ? rc_kill_qemu(d, c, x->vm, hash, id, &err)
                  : hvfd_agent_command(d, c, "vm_destroy", json_pack("{s:s}", "vm", x->vm), id,
                                       &err);
        rc_event(d, conn, x, "destroy",
                 json_pack("{s:s, s:s*, s:s}", "host", c, "pid", hash, "result",
                           rc == 0 ? "sent" : err.msg));
    }
}

/* A VM alive where hvfleetd believes it stopped: each copy is stopped by its host's agent (ACPI,
 * then quit; a QEMU none of the agent's is killed). */
static void
rc_stop(hvfd *d, hvf_conn *conn, const rc_div *x)
{
    HVF_AUTOFREE char *list = hvf_strdup(x->copies);
    char *save = NULL;

    for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        char *hash = strchr(c, '#');
        hvf_error err = HVF_ERROR_INIT;
        char id[64];
        int rc;

        if (hash)
            *hash++ = '\0';
        rc = hash ? rc_kill_qemu(d, c, x->vm, hash, id, &err)
                  : hvfd_agent_command(d, c, "vm_stop",
                                       json_pack("{s:s, s:i}", "vm", x->vm, "timeout_s",
                                                 RECONCILE_STOP_TIMEOUT_S),
                                       id, &err);
        rc_event(d, conn, x, "stop",
                 json_pack("{s:s, s:s*, s:s}", "host", c, "pid", hash, "result",
                           rc == 0 ? "sent" : err.msg));
    }
}

/* Starts @dv (stopped or crashed) again: an HA VM through HA (placement with claims and
 * anti-affinity, HA's rate), another on its own host when that host is in service. */
static void
rc_start(hvfd *d, hvf_conn *conn, const rc_div *x, const hvf_drv_vm *dv)
{
    hvfd_snap *s = hvfd_snap_get(d);
    int32_t v = s && s->fleet ? hvf_fleet_find_vm(s->fleet, dv->name) : -1;
    bool ha = v >= 0 && hvf_vm_is_ha(s->fleet, &s->fleet->vms[v]);
    bool host_ok = false;
    hvf_error err = HVF_ERROR_INIT;

    for (size_t i = 0; s && i < s->nhosts; i++)
        if (strcmp(s->hosts[i].name, dv->host) == 0)
            host_ok = s->hosts[i].state == HVF_DRV_HOST_ACTIVE;
    hvfd_snap_unref(s);
    if (!hvfd_ha_host_settled(d, dv->host)) {
        rc_event(d, conn, x, "not_acted",
                 json_pack("{s:s}", "why", "its host is lost and not fenced: it may run there "
                                           "still"));
    } else if (ha) {
        bool queued = hvfd_ha_restart(d, conn, dv->name, dv->host);

        rc_event(d, conn, x, "restart",
                 json_pack("{s:s, s:s}", "via", "ha", "result",
                           queued ? "queued for HA's placement" : "HA has it queued already"));
    } else if (!host_ok) {
        rc_event(d, conn, x, "not_acted",
                 json_pack("{s:s}", "why", "its host is not in service, and only HA VMs are "
                                           "placed elsewhere"));
    } else {
        int rc = hvf_driver_vm_start(conn, dv->name, dv->host, &err);

        rc_event(d, conn, x, "restart",
                 json_pack("{s:s, s:s}", "to", dv->host, "result", rc == 0 ? "sent" : err.msg));
    }
}

static const hvf_drv_vm *
rc_find_vm(const hvf_drv_vm *vms, long nv, const char *name)
{
    for (long v = 0; v < nv; v++)
        if (strcmp(vms[v].name, name) == 0)
            return &vms[v];
    return NULL;
}

/* A VM that should run and runs nowhere. One the driver still believes running (its agent saw
 * no crash, or said nothing) is destroyed in the driver first, and started once it is stopped. */
static void
rc_restart(hvfd *d, hvf_conn *conn, rc_div *x, const hvf_drv_vm *vms, long nv)
{
    struct hvfd_rc *rc = d->rc;
    const hvf_drv_vm *dv = rc_find_vm(vms, nv, x->vm);
    hvf_error err = HVF_ERROR_INIT;

    if (!dv)
        return;
    if (dv->state != HVF_DRV_VM_RUNNING) {
        rc_start(d, conn, x, dv);
        return;
    }
    if (hvf_driver_vm_destroy(conn, x->vm, &err) < 0) {
        rc_event(d, conn, x, "restart",
                 json_pack("{s:s, s:s}", "step", "destroy", "result", err.msg));
        return;
    }
    rc_event(d, conn, x, "restart",
             json_pack("{s:s, s:s}", "step", "destroy", "result",
                       "sent: it starts once the driver has it stopped"));
    if (rc->nstarts < RECONCILE_STARTS_MAX) {
        rc->starts[rc->nstarts] = *x;
        rc->starts[rc->nstarts++].since_ms = hvfd_mono_ms();
    }
}

/* The restarts waiting for their destroy: started once the driver has the VM stopped. */
static void
rc_starts_step(hvfd *d, hvf_conn *conn, const hvf_drv_vm *vms, long nv, int64_t now)
{
    struct hvfd_rc *rc = d->rc;

    for (size_t i = 0; i < rc->nstarts;) {
        const rc_div *x = &rc->starts[i];
        const hvf_drv_vm *dv = rc_find_vm(vms, nv, x->vm);

        if (dv && dv->state == HVF_DRV_VM_RUNNING && now - x->since_ms < 60000) {
            i++;
            continue;
        }
        if (dv && dv->state != HVF_DRV_VM_RUNNING)
            rc_start(d, conn, x, dv);
        else
            rc_event(d, conn, x, "not_acted",
                     json_pack("{s:s}", "why", "the driver did not stop it within 60 s"));
        rc->starts[i] = rc->starts[--rc->nstarts];
    }
}

/* An unknown QEMU adopted: hvfleetd knows it (GET /v1/ha, `adopted`) and no longer calls it a
 * divergence, while it runs. */
static void
rc_adopt(hvfd *d, hvf_conn *conn, const rc_div *x)
{
    struct hvfd_rc *rc = d->rc;
    bool known = x->pid ? rc_is_adopted(rc, x->hosts, x->pid)
                        : rc_is_adopted_vm(rc, x->hosts, x->vm);

    bool full = !known && rc->nadopted == RECONCILE_ADOPTED_MAX;

    if (!known && !full) {
        rc->adopted[rc->nadopted] = *x;
        rc->adopted[rc->nadopted++].seen = true;
    }
    rc_event(d, conn, x, "adopt",
             json_pack("{s:s, s:I, s:s}", "host", x->hosts, "pid", (json_int_t)x->pid, "result",
                       full ? "not adopted: too many adopted QEMUs" : "adopted"));
}

/* Whether the QEMU @pid of @host (a heartbeat's unknown_qemu) was adopted; marks it seen. */
static bool
rc_is_adopted(struct hvfd_rc *rc, const char *host, int64_t pid)
{
    for (size_t i = 0; i < rc->nadopted; i++)
        if (rc->adopted[i].pid == pid && pid != 0 && strcmp(rc->adopted[i].hosts, host) == 0) {
            rc->adopted[i].seen = true;
            return true;
        }
    return false;
}

/* The same for a VM of the agent's own list that is none of the inventory's (no PID). */
static bool
rc_is_adopted_vm(struct hvfd_rc *rc, const char *host, const char *name)
{
    for (size_t i = 0; i < rc->nadopted; i++)
        if (rc->adopted[i].pid == 0 && strcmp(rc->adopted[i].vm, name) == 0 &&
            strcmp(rc->adopted[i].hosts, host) == 0) {
            rc->adopted[i].seen = true;
            return true;
        }
    return false;
}

static hvf_actionq *
rc_queue(hvfd *d)
{
    hvf_actionq *q = hvf_actionq_new(RECONCILE_MAX);
    hvf_error err = HVF_ERROR_INIT;
    double per_s = (double)d->cfg.reconcile_actions_per_min / 60.0;

    for (int k = 0; k < RC_NKINDS; k++) {
        hvf_actionq_kind_opts o = {rc_kinds[k].name, 0, 0, RECONCILE_COOLDOWN_MS * 1000LL,
                                   rc_kinds[k].priority};

        HVF_ASSERT(hvf_actionq_add_kind(q, &o, &err) == k);
    }
    HVF_ASSERT(hvf_actionq_set_global_limit(q, per_s, d->cfg.reconcile_actions_per_min, &err) ==
               0);
    return q;
}

/*
 * What each divergence found (and still there) asks for: its action queued when the policy
 * allows it (reported only otherwise, once), held while the fleet is frozen or HA sees a storm
 * (destructive ones) or per-VM remediation is paused (all but adopting), then taken as the
 * queue's rate allows, higher priorities first.
 */
static void
rc_act(hvfd *d, hvf_conn *conn, const hvf_drv_vm *vms, long nv, int64_t now)
{
    struct hvfd_rc *rc = d->rc;
    bool frozen = hvf_freeze_is_frozen(d->store_loc), storm = hvfd_ha_storm(d);
    bool paused = hvfd_ha_paused(d);
    const char *held[RC_NKINDS];
    hvf_actionq_item it;

    for (int k = 0; k < RC_NKINDS; k++) {
        held[k] = rc_kinds[k].destructive && storm    ? "a storm: nothing is touched"
                  : rc_kinds[k].destructive && frozen ? "the fleet is frozen"
                  : k != RC_ADOPT && storm            ? "a storm: nothing is touched"
                  : k != RC_ADOPT && paused ? "per-VM remediation is paused (an infrastructure "
                                              "incident: POST /v1/ha/resume)"
                                            : NULL;
        if (held[k])
            hvf_actionq_pause(rc->q, k);
        else
            hvf_actionq_resume(rc->q, k);
    }
    for (size_t i = 0; i < rc->n; i++) {
        rc_div *x = &rc->divs[i];
        int k = rc_kind_of(x->kind);
        char key[HVF_ACTIONQ_MAX_KEY];
        hvf_action a = {0};

        if (!x->reported || k < 0)
            continue;
        if (!rc_allowed(d, k)) {
            if (!x->said) {
                char why[96];

                snprintf(why, sizeof(why), "%s is off: reported only", rc_kinds[k].key);
                rc_event(d, conn, x, "not_acted", json_pack("{s:s}", "why", why));
                x->said = true;
            }
            hvf_strlcpy(x->action, "reported", sizeof(x->action));
            continue;
        }
        rc_action_key(x, k, key, sizeof(key));
        a.kind = k;
        a.key = key;
        a.priority = INT32_MIN;
        switch (hvf_actionq_push(rc->q, &a, now * 1000)) {
        case HVF_ACTIONQ_QUEUED:
            rc_event(d, conn, x, "queued",
                     json_pack("{s:s, s:i}", "action", rc_kinds[k].name, "priority",
                               rc_kinds[k].priority));
            hvf_strlcpy(x->action, "queued", sizeof(x->action));
            break;
        case HVF_ACTIONQ_COOLDOWN:
            if (strcmp(x->action, "taken") != 0)
                hvf_strlcpy(x->action, "cooldown", sizeof(x->action));
            break;
        default:
            break;
        }
        if (held[k] && hvf_actionq_contains(rc->q, key)) {
            if (!x->held_said)
                rc_event(d, conn, x, "held",
                         json_pack("{s:s, s:s}", "action", rc_kinds[k].name, "why", held[k]));
            x->held_said = true;
            hvf_strlcpy(x->action, "held", sizeof(x->action));
        } else if (strcmp(x->action, "held") == 0) {
            hvf_strlcpy(x->action, "queued", sizeof(x->action));
            x->held_said = false;
        }
    }
    while (hvf_actionq_pop(rc->q, now * 1000, &it) == HVF_ACTIONQ_READY) {
        rc_div *x = NULL;
        char key[HVF_ACTIONQ_MAX_KEY];

        for (size_t i = 0; i < rc->n && !x; i++) {
            int k = rc_kind_of(rc->divs[i].kind);

            if (k != it.kind || !rc->divs[i].reported)
                continue;
            rc_action_key(&rc->divs[i], k, key, sizeof(key));
            if (strcmp(key, it.key) == 0)
                x = &rc->divs[i];
        }
        if (!x)
            continue; /* it ended meanwhile */
        hvf_strlcpy(x->action, "taken", sizeof(x->action));
        switch (it.kind) {
        case RC_DESTROY:
            rc_destroy_losers(d, conn, x);
            break;
        case RC_STOP:
            rc_stop(d, conn, x);
            break;
        case RC_RESTART:
            rc_restart(d, conn, x, vms, nv);
            break;
        default:
            rc_adopt(d, conn, x);
            break;
        }
    }
    rc_starts_step(d, conn, vms, nv, now);
}

void
hvfd_reconcile(hvfd *d, hvf_conn *conn, const hvfd_agent_view *views, size_t n, int64_t now)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_drv_vm *vms = NULL;
    long nv;
    char **where, **copies;
    int64_t grace = (int64_t)d->cfg.agent_heartbeat_s * 1000 + RECONCILE_SLACK_MS;
    struct hvfd_rc *rc;

    if (!d->rc) {
        d->rc = HVF_NEW(struct hvfd_rc);
        d->rc->q = rc_queue(d);
    }
    rc = d->rc;
    if (now - rc->last_ms < RECONCILE_EVERY_MS || !n)
        return;
    rc->last_ms = now;
    if ((nv = hvf_driver_list_vms(conn, &vms, &err)) < 0)
        return;
    for (size_t i = 0; i < rc->n; i++)
        rc->divs[i].seen = false;
    where = rc_alive(rc, vms, nv, views, n, now, &copies);
    for (long v = 0; v < nv; v++) {
        bool host_watched = false;

        if (vms[v].job >= 0 || vms[v].state == HVF_DRV_VM_MIGRATING)
            continue; /* two QEMUs while it moves, by design */
        for (size_t i = 0; i < n; i++)
            host_watched = host_watched ||
                           (strcmp(views[i].host, vms[v].host) == 0 &&
                            views[i].state == HVFD_AGENT_CONNECTED && views[i].identity_ok &&
                            views[i].vm_list);
        if (where[v] && strchr(where[v], ',')) {
            rc_div *x = rc_see(rc, "duplicate", vms[v].name, where[v], now);

            if (x) {
                hvf_strlcpy(x->copies, copies[v], sizeof(x->copies));
                hvf_strlcpy(x->believed, vms[v].host, sizeof(x->believed));
            }
        }
        else if (((vms[v].state == HVF_DRV_VM_RUNNING && host_watched) ||
                  vms[v].state == HVF_DRV_VM_CRASHED) &&
                 (!where[v] || strcmp(where[v], vms[v].host) != 0))
            rc_see(rc, "missing", vms[v].name, vms[v].host, now); /* should run, runs nowhere */
        else if (vms[v].state == HVF_DRV_VM_STOPPED && where[v]) {
            rc_div *x = rc_see(rc, "unexpected", vms[v].name, where[v], now);

            if (x)
                hvf_strlcpy(x->copies, copies[v], sizeof(x->copies));
        }
    }
    for (long v = 0; v < nv; v++) {
        free(where[v]);
        free(copies[v]);
    }
    free(where);
    free(copies);
    /* found: it lasted longer than a heartbeat; ended: it is gone */
    for (size_t i = 0; i < rc->n;) {
        rc_div *x = &rc->divs[i];

        if (x->seen && !x->reported && now - x->since_ms >= grace) {
            x->reported = true;
            hvfd_event(d, NULL, "reconcile",
                       0, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "event", "found", "kind",
                                    x->kind, "vm", x->vm, "hosts", x->hosts, "since_ms",
                                    (json_int_t)(now - x->since_ms), "t_us",
                                    (json_int_t)hvf_driver_now_us(conn)));
            hvfd_log(HVFD_WARN, "reconciliation: what runs is not what hvfleetd believes",
                     json_pack("{s:s, s:s, s:s}", "kind", x->kind, "vm", x->vm, "hosts",
                               x->hosts));
        }
        if (!x->seen) {
            int k = rc_kind_of(x->kind);
            char key[HVF_ACTIONQ_MAX_KEY];

            if (k >= 0) { /* its action, if still queued, has nothing left to do */
                rc_action_key(x, k, key, sizeof(key));
                (void)hvf_actionq_cancel(rc->q, key);
            }
            if (x->reported)
                hvfd_event(d, NULL, "reconcile",
                           0, json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "ended", "kind",
                                        x->kind, "vm", x->vm, "hosts", x->hosts, "t_us",
                                        (json_int_t)hvf_driver_now_us(conn)));
            rc->divs[i] = rc->divs[--rc->n];
            continue;
        }
        i++;
    }
    rc_act(d, conn, vms, nv, now);
    free(vms);
    /* adopted QEMUs that are gone are forgotten */
    for (size_t i = 0; i < rc->nadopted;)
        if (!rc->adopted[i].seen)
            rc->adopted[i] = rc->adopted[--rc->nadopted];
        else
            rc->adopted[i++].seen = false;
    {
        json_t *divs = json_array(), *adopted = json_array(), *view, *old_view;
        hvf_actionq_stats qs;

        for (size_t i = 0; i < rc->n; i++)
            if (rc->divs[i].reported)
                json_array_append_new(
                    divs, json_pack("{s:s, s:s, s:s, s:f, s:s*}", "kind", rc->divs[i].kind, "vm",
                                    rc->divs[i].vm, "hosts", rc->divs[i].hosts, "for_s",
                                    (double)(now - rc->divs[i].since_ms) / 1e3, "action",
                                    rc->divs[i].action[0] ? rc->divs[i].action : NULL));
        for (size_t i = 0; i < rc->nadopted; i++)
            json_array_append_new(adopted,
                                  json_pack("{s:s, s:I, s:s}", "host", rc->adopted[i].hosts,
                                            "pid", (json_int_t)rc->adopted[i].pid, "name",
                                            rc->adopted[i].vm));
        hvf_actionq_get_stats(rc->q, &qs);
        view = json_pack("{s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "divergences", divs,
                         "adopted", adopted, "reconcile_actions", "queued",
                         (json_int_t)hvf_actionq_len(rc->q), "taken", (json_int_t)qs.popped,
                         "merged", (json_int_t)qs.merged, "cooldown", (json_int_t)qs.cooldown,
                         "rate_limited", (json_int_t)qs.rate_limited, "per_minute",
                         (json_int_t)d->cfg.reconcile_actions_per_min);
        pthread_mutex_lock(&d->lock);
        old_view = d->rc_view;
        d->rc_view = view;
        pthread_mutex_unlock(&d->lock);
        json_decref(old_view);
    }
}
