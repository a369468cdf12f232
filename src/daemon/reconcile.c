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
 * This version reports; it takes no action on the VMs.
 *
 * Controller thread only (hvfd_ha_tick calls it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "driver/qemu/qemu-vm.h"
#include "hvfleet/alloc.h"
#include "hvfleet/freeze.h"
#include "hvfleet/strbuf.h"

#define RECONCILE_EVERY_MS 1000
#define RECONCILE_SLACK_MS 1000
#define RECONCILE_MAX 4096 /* divergences followed at once; more are not (and counted) */

typedef struct rc_div {
    char key[400]; /* kind:vm:hosts */
    char kind[16], vm[HVF_DRV_NAME_MAX], hosts[256];
    char copies[512];  /* duplicate: "host" or "host#pid" (a QEMU none of the agent's) each */
    char believed[HVF_DRV_NAME_MAX]; /* where the driver believes the VM runs */
    int64_t since_ms;
    bool reported, seen;
} rc_div;

struct hvfd_rc {
    rc_div *divs;
    size_t n, cap;
    int64_t last_ms;
};

void
hvfd_reconcile_free(hvfd *d)
{
    json_decref(d->rc_view);
    d->rc_view = NULL;
    if (d->rc)
        free(d->rc->divs);
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
                } else if (!cmd || !hvf_qvm_cmdline_name(cmd, name, sizeof(name))) {
                    rc_see(rc, "unknown", cmd ? cmd : "?", views[i].host, now);
                    continue;
                }
                for (v = 0; v < nv && strcmp(vms[v].name, name) != 0; v++)
                    ;
                if (v == nv) {
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

/*
 * A VM running twice: the copies elsewhere than where hvfleetd believes it runs lost. They are
 * destroyed when the policy allows it (reconcile_destroy), the fleet is not frozen and HA sees
 * no storm, and only when one copy runs where hvfleetd believes (else which one lost is not
 * clear: a person decides). Each step is a `reconcile` event.
 */
static void
rc_destroy_losers(hvfd *d, hvf_conn *conn, const rc_div *x)
{
    HVF_AUTOFREE char *list = hvf_strdup(x->copies);
    const char *why = !d->cfg.reconcile_destroy ? "reconcile_destroy is off: reported only"
                      : hvf_freeze_is_frozen(d->store_loc) ? "the fleet is frozen"
                      : hvfd_ha_storm(d)                   ? "a storm: nothing is touched"
                                                           : NULL;
    bool believed_runs = false;
    char *save = NULL;

    for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
        believed_runs = believed_runs || strcmp(c, x->believed) == 0 ||
                        (strncmp(c, x->believed, strlen(x->believed)) == 0 &&
                         c[strlen(x->believed)] == '#');
    if (!why && !believed_runs)
        why = "no copy runs where hvfleetd believes it does: which one lost is not clear";
    if (why) {
        hvfd_event(d, NULL, "reconcile", 0,
                   json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "not_acted", "vm", x->vm,
                             "hosts", x->hosts, "why", why, "t_us",
                             (json_int_t)hvf_driver_now_us(conn)));
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
        rc = hash ? hvfd_agent_command(d, c, "qemu_kill",
                                       json_pack("{s:s, s:I}", "vm", x->vm, "pid",
                                                 (json_int_t)strtoll(hash, NULL, 10)),
                                       id, &err)
                  : hvfd_agent_command(d, c, "vm_destroy", json_pack("{s:s}", "vm", x->vm), id,
                                       &err);
        hvfd_event(d, NULL, "reconcile", 0,
                   json_pack("{s:s, s:s, s:s, s:s*, s:s, s:I}", "event", "destroy", "vm",
                             x->vm, "host", c, "pid", hash, "result",
                             rc == 0 ? "sent" : err.msg, "t_us",
                             (json_int_t)hvf_driver_now_us(conn)));
    }
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

    if (!d->rc)
        d->rc = HVF_NEW(struct hvfd_rc);
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
        else if (vms[v].state == HVF_DRV_VM_STOPPED && where[v])
            rc_see(rc, "unexpected", vms[v].name, where[v], now);
    }
    for (long v = 0; v < nv; v++) {
        free(where[v]);
        free(copies[v]);
    }
    free(where);
    free(copies);
    free(vms);
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
            if (strcmp(x->kind, "duplicate") == 0)
                rc_destroy_losers(d, conn, x);
        }
        if (!x->seen) {
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
    {
        json_t *view = json_array(), *old_view;

        for (size_t i = 0; i < rc->n; i++)
            if (rc->divs[i].reported)
                json_array_append_new(view, json_pack("{s:s, s:s, s:s, s:f}", "kind",
                                                      rc->divs[i].kind, "vm", rc->divs[i].vm,
                                                      "hosts", rc->divs[i].hosts, "for_s",
                                                      (double)(now - rc->divs[i].since_ms) /
                                                          1e3));
        pthread_mutex_lock(&d->lock);
        old_view = d->rc_view;
        d->rc_view = view;
        pthread_mutex_unlock(&d->lock);
        json_decref(old_view);
    }
}
