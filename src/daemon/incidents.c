/* SPDX-License-Identifier: MIT */
/*
 * Incidents from the daemon's own events, with the KPIs the replays report (docs/incidents.md):
 * when it happened, was detected, decided on and resolved, VMs down and VM-minutes, actions.
 * They are derived from the event feed on each request, so they need no table of their own and
 * cannot disagree with the feed. Times are the driver's clock (t_us of each feed entry).
 *
 * - host-lost: a host went down (during a run: the executor's host_lost; otherwise the driver's).
 *   Decided: the executor gave it up (host_failed) or re-planned, whichever came first. Resolved: every VM it took down runs again (when it
 *   took none: the host is back).
 *   With HA (docs/ha.md), the fence (or its start) is the decision, each restart an action, and
 *   its VMs count as down from the host's loss.
 * - run-halted: a change run halted on a failed gate (halt), or a run ended aborted or partial.
 *   Decided: at once (the halt is the decision). Resolved: the run's end (its rollback done).
 * - storm: many hosts lost at once, the controller's network rather than the hosts (HA's storm
 *   guard). Decided at once (nothing is fenced or restarted); resolved when it is over. It is
 *   one incident: the host-lost incidents it explains (open, not yet decided: nothing fenced
 *   them) and the hosts lost while it lasts are its own, with their VMs.
 * - divergence: reconciliation found a VM on two hosts, one missing, one running unexpectedly,
 *   or an unknown QEMU (reconcile.c). Decided by its first action (or the refusal to act, by
 *   policy), each action counted; resolved when it is gone.
 * - infrastructure: a failed shared dependency or a fleet-wide symptom (ha.c's correlation):
 *   per-VM remediation pauses, which is its decision; an operator's resume is an action.
 *   Resolved when it is over.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"

/* The newest are kept. Room for a host-lost incident a host of a large fleet: a storm takes
 * the incidents of its hosts only when it is seen, after their host_lost events. */
#define INC_MAX 16384
#define INC_VMS 512

typedef struct inc_vm {
    char name[HVF_DRV_NAME_MAX];
    int64_t down_us, up_us; /* up -1: still down */
} inc_vm;

typedef struct inc {
    const char *kind;
    char subject[HVF_DRV_NAME_MAX]; /* the host, or the run's plan */
    int64_t run;
    int64_t first_seq;
    int64_t event_us, detected_us, decided_us, resolved_us, host_back_us; /* -1: not yet */
    inc_vm *vms;
    size_t nvms;    /* listed: INC_VMS at most */
    size_t vms_total; /* every VM it took down, listed or not */
    char **over;      /* the names beyond the list (owned), to count each once */
    size_t nover, over_cap;
    hvf_hash over_index;
    size_t actions;
    char why[256];
} inc;

static void
inc_free_vms(inc *i)
{
    for (size_t k = 0; k < i->nover; k++)
        free(i->over[k]);
    free(i->over);
    free(i->vms);
    hvf_hash_clear(&i->over_index);
    i->over = NULL;
    i->vms = NULL;
    i->nover = i->nvms = 0;
}

static const char *
str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

static inc *
inc_open(inc *list, size_t *n, const char *kind, const char *subject, int64_t run, int64_t seq,
         int64_t t)
{
    inc *i;

    if (*n == INC_MAX) { /* the oldest goes: the newest matter */
        inc_free_vms(&list[0]);
        memmove(list, list + 1, (INC_MAX - 1) * sizeof(*list));
        (*n)--;
    }
    i = &list[(*n)++];
    memset(i, 0, sizeof(*i));
    i->kind = kind;
    hvf_strlcpy(i->subject, subject, sizeof(i->subject));
    i->run = run;
    i->first_seq = seq;
    i->event_us = i->detected_us = t;
    i->decided_us = i->resolved_us = i->host_back_us = -1;
    return i;
}

/* The open host-lost incident of @host, or NULL. */
static inc *
inc_host(inc *list, size_t n, const char *host)
{
    for (size_t k = n; k-- > 0;)
        if (strcmp(list[k].kind, "host-lost") == 0 && strcmp(list[k].subject, host) == 0 &&
            list[k].resolved_us < 0)
            return &list[k];
    return NULL;
}

/* @vm went down at @t: listed (the first INC_VMS), or only counted (each once). */
static void
inc_add_vm(inc *i, const char *vm, int64_t t)
{
    for (size_t v = 0; v < i->nvms; v++)
        if (strcmp(i->vms[v].name, vm) == 0)
            return;
    if (i->nvms >= INC_VMS) {
        if (hvf_hash_get(&i->over_index, vm) >= 0)
            return;
        hvf_grow(&i->over, &i->over_cap, i->nover + 1, sizeof(*i->over));
        i->over[i->nover] = hvf_strdup(vm);
        HVF_ASSERT(hvf_hash_put(&i->over_index, i->over[i->nover], (int32_t)i->nover) == 0);
        i->nover++;
        i->vms_total++;
        return;
    }
    i->vms_total++;
    i->vms = hvf_realloc(i->vms, (i->nvms + 1) * sizeof(*i->vms));
    hvf_strlcpy(i->vms[i->nvms].name, vm, sizeof(i->vms[0].name));
    i->vms[i->nvms].down_us = t;
    i->vms[i->nvms++].up_us = -1;
}

/* VMs that went down lately, for the host-lost incident opened just after their crash (the
 * driver reports a host's VMs crashing before the host itself). */
typedef struct inc_recent {
    char vm[HVF_DRV_NAME_MAX], host[HVF_DRV_NAME_MAX];
    int64_t t;
} inc_recent;

#define INC_RECENT 1024

typedef struct inc_scan {
    inc *list;
    size_t n;
    inc_recent *recent; /* a ring */
    size_t nrecent, head;
} inc_scan;

static void
inc_vm_state(inc *list, size_t n, const char *vm, const char *host, const char *state, int64_t t)
{
    bool down = strcmp(state, "crashed") == 0 || strcmp(state, "stopped") == 0;
    inc *i = down ? inc_host(list, n, host) : NULL;

    if (down) {
        if (i) /* its VMs were out of reach from the host's loss on, not from their fence */
            inc_add_vm(i, vm, i->event_us >= 0 && i->event_us < t ? i->event_us : t);
        return;
    }
    if (strcmp(state, "running") != 0)
        return;
    for (size_t k = 0; k < n; k++) { /* a VM running again ends its outage */
        inc *o = &list[k];
        bool all_up = o->nvms > 0;

        if (o->resolved_us >= 0)
            continue;
        for (size_t v = 0; v < o->nvms; v++) {
            if (strcmp(o->vms[v].name, vm) == 0 && o->vms[v].up_us < 0)
                o->vms[v].up_us = t;
            all_up = all_up && o->vms[v].up_us >= 0;
        }
        if (all_up)
            o->resolved_us = t;
    }
}

/* The open storm incident, or NULL. */
static inc *
inc_storm(inc *list, size_t n)
{
    for (size_t k = n; k-- > 0;)
        if (strcmp(list[k].kind, "storm") == 0 && list[k].resolved_us < 0)
            return &list[k];
    return NULL;
}

/* The storm just opened (the last of @list) takes the host-lost incidents it explains: open
 * and undecided (a fenced host was lost on its own). Returns the storm, which may have moved. */
static inc *
inc_storm_absorb(inc *list, size_t *n)
{
    inc storm = list[*n - 1];
    size_t k = 0;

    for (size_t j = 0; j + 1 < *n; j++) {
        inc *o = &list[j];

        if (strcmp(o->kind, "host-lost") == 0 && o->resolved_us < 0 && o->decided_us < 0 &&
            o->run == 0) {
            for (size_t v = 0; v < o->nvms; v++)
                inc_add_vm(&storm, o->vms[v].name, o->vms[v].down_us);
            for (size_t v = 0; v < o->nover; v++)
                inc_add_vm(&storm, o->over[v], o->event_us);
            if (o->event_us >= 0 && o->event_us < storm.event_us)
                storm.event_us = o->event_us;
            inc_free_vms(o);
            continue;
        }
        list[k++] = *o;
    }
    list[k] = storm;
    *n = k + 1;
    return &list[k];
}

/* What HA did (ha.c): fences decide a host-lost incident, restarts are its actions; a storm is
 * an incident of its own. */
static void
inc_ha(inc *list, size_t *n, const hvf_store_event *e, json_t *data, const char *ev, int64_t t)
{
    inc *i;

    if (strcmp(ev, "fence_start") == 0 || strcmp(ev, "fenced") == 0 ||
        strcmp(ev, "not_fenced") == 0) {
        if ((i = inc_host(list, *n, str(data, "host")))) {
            if (i->decided_us < 0)
                i->decided_us = t;
            i->actions += strcmp(ev, "not_fenced") != 0;
        }
    } else if (strcmp(ev, "restart") == 0) {
        if ((i = inc_host(list, *n, str(data, "from"))))
            i->actions++;
    } else if (strcmp(ev, "storm") == 0) {
        inc_open(list, n, "storm", str(data, "zone"), 0, e->seq, t);
        i = inc_storm_absorb(list, n);
        i->decided_us = t;
        snprintf(i->why, sizeof(i->why),
                 "%" PRId64 " of %" PRId64 " hosts lost at once%s%s: the controller's network, "
                 "not the hosts; nothing fenced or restarted",
                 (int64_t)json_integer_value(json_object_get(data, "lost")),
                 (int64_t)json_integer_value(json_object_get(data, "hosts")),
                 *str(data, "zone") ? ", all of zone " : "", str(data, "zone"));
    } else if (strcmp(ev, "infra_failed") == 0) {
        i = inc_open(list, n, "infrastructure", str(data, "service"), 0, e->seq, t);
        i->decided_us = t;
        snprintf(i->why, sizeof(i->why), "%.200s: per-VM remediation paused", str(data, "why"));
    } else if (strcmp(ev, "remediation_resumed") == 0 || strcmp(ev, "infra_over") == 0) {
        for (size_t k = 0; k < *n; k++)
            if (strcmp(list[k].kind, "infrastructure") == 0 && list[k].resolved_us < 0) {
                if (strcmp(ev, "infra_over") == 0)
                    list[k].resolved_us = t;
                else
                    list[k].actions++;
            }
    } else if (strcmp(ev, "storm_over") == 0) {
        for (size_t k = 0; k < *n; k++)
            if (strcmp(list[k].kind, "storm") == 0 && list[k].resolved_us < 0)
                list[k].resolved_us = t;
    }
}

static void
inc_feed(inc_scan *sc, const hvf_store_event *e)
{
    inc *list = sc->list;
    size_t *n = &sc->n;
    json_t *data = json_loads(e->data, 0, NULL);
    const char *ev = str(data, "event");
    int64_t t = json_integer_value(json_object_get(data, "t_us"));
    inc *i;

    if (!data)
        return;
    if (strcmp(e->type, "ha") == 0) {
        inc_ha(list, n, e, data, ev, t);
        json_decref(data);
        return;
    }
    if (strcmp(e->type, "reconcile") == 0) {
        char subject[HVF_DRV_NAME_MAX];

        snprintf(subject, sizeof(subject), "%.20s:%.60s:%.40s", str(data, "kind"),
                 str(data, "vm"), str(data, "hosts"));
        if (strcmp(ev, "found") == 0) {
            i = inc_open(list, n, "divergence", subject, 0, e->seq, t);
            snprintf(i->why, sizeof(i->why), "%s: %.80s on %.100s", str(data, "kind"),
                     str(data, "vm"), str(data, "hosts"));
        } else {
            /* ended resolves it; an action (or not acting, by policy) decides it */
            bool act = strcmp(ev, "destroy") == 0 || strcmp(ev, "stop") == 0 ||
                       strcmp(ev, "restart") == 0 || strcmp(ev, "adopt") == 0;

            for (size_t k = 0; k < *n; k++) {
                inc *o = &list[k];

                if (strcmp(o->kind, "divergence") != 0 || strcmp(o->subject, subject) != 0 ||
                    o->resolved_us >= 0)
                    continue;
                if (strcmp(ev, "ended") == 0)
                    o->resolved_us = t;
                if ((act || strcmp(ev, "not_acted") == 0) && o->decided_us < 0)
                    o->decided_us = t;
                o->actions += act;
            }
        }
        json_decref(data);
        return;
    }
    if (strcmp(e->type, "run_event") != 0 && strcmp(e->type, "driver") != 0) {
        json_decref(data);
        return;
    }
    if (strcmp(ev, "host_lost") == 0 && !inc_host(list, *n, str(data, "host"))) {
        if (!e->run && (i = inc_storm(list, *n))) { /* the storm's: its VMs are the storm's */
            for (size_t k = 0; k < sc->nrecent; k++) {
                const inc_recent *rc = &sc->recent[k];

                if (strcmp(rc->host, str(data, "host")) == 0 && rc->t >= t - 1000000 &&
                    rc->t <= t)
                    inc_add_vm(i, rc->vm, rc->t);
            }
            json_decref(data);
            return;
        }
        i = inc_open(list, n, "host-lost", str(data, "host"), e->run, e->seq, t);
        snprintf(i->why, sizeof(i->why), "host %s went down%s", str(data, "host"),
                 e->run ? " during a run" : "");
        for (size_t k = 0; k < sc->nrecent; k++) {
            const inc_recent *rc = &sc->recent[k];

            if (strcmp(rc->host, i->subject) == 0 && rc->t >= t - 1000000 && rc->t <= t)
                inc_add_vm(i, rc->vm, rc->t);
        }
    } else if (strcmp(ev, "host_back") == 0 || strcmp(ev, "host_returned") == 0) {
        for (size_t k = 0; k < *n; k++)
            if (strcmp(list[k].kind, "host-lost") == 0 &&
                strcmp(list[k].subject, str(data, "host")) == 0 && list[k].host_back_us < 0) {
                list[k].host_back_us = t;
                if (list[k].nvms == 0 && list[k].resolved_us < 0)
                    list[k].resolved_us = t;
            }
    } else if (strcmp(ev, "vm_state") == 0) {
        if (strcmp(str(data, "state"), "crashed") == 0) {
            inc_recent *rc = &sc->recent[sc->head];

            hvf_strlcpy(rc->vm, str(data, "vm"), sizeof(rc->vm));
            hvf_strlcpy(rc->host, str(data, "host"), sizeof(rc->host));
            rc->t = t;
            sc->head = (sc->head + 1) % INC_RECENT;
            if (sc->nrecent < INC_RECENT)
                sc->nrecent++;
        }
        inc_vm_state(list, *n, str(data, "vm"), str(data, "host"), str(data, "state"), t);
    } else if (strcmp(ev, "host_failed") == 0) {
        /* the executor gave the host up and re-plans the rest: its decision */
        for (size_t k = 0; k < *n; k++)
            if (strcmp(list[k].kind, "host-lost") == 0 &&
                strcmp(list[k].subject, str(data, "host")) == 0 && list[k].decided_us < 0)
                list[k].decided_us = t;
    } else if (strcmp(ev, "replan") == 0 || strcmp(ev, "replan_refused") == 0 ||
               strcmp(ev, "migration_start") == 0) {
        for (size_t k = 0; k < *n; k++) {
            if (list[k].resolved_us >= 0)
                continue;
            list[k].actions++;
            if (strcmp(ev, "migration_start") != 0 && list[k].decided_us < 0)
                list[k].decided_us = t;
        }
    } else if (strcmp(ev, "halt") == 0) {
        i = inc_open(list, n, "run-halted", str(data, "host"), e->run, e->seq, t);
        i->decided_us = t;
        snprintf(i->why, sizeof(i->why), "run %" PRId64 " halted: %.200s", e->run,
                 str(data, "reason"));
    } else if (strcmp(ev, "unit_rolled_back") == 0) {
        for (size_t k = 0; k < *n; k++)
            if (strcmp(list[k].kind, "run-halted") == 0 && list[k].run == e->run &&
                list[k].resolved_us < 0)
                list[k].actions++;
    } else if (strcmp(ev, "run_end") == 0) {
        const char *result = str(data, "result");
        bool halted = false;

        for (size_t k = 0; k < *n; k++)
            if (strcmp(list[k].kind, "run-halted") == 0 && list[k].run == e->run &&
                list[k].resolved_us < 0) {
                list[k].resolved_us = t;
                halted = true;
            }
        if (!halted && (strcmp(result, "aborted") == 0 || strcmp(result, "partial") == 0)) {
            i = inc_open(list, n, "run-halted", "", e->run, e->seq, t);
            i->decided_us = i->resolved_us = t;
            snprintf(i->why, sizeof(i->why), "run %" PRId64 " ended %s: %.200s", e->run, result,
                     str(data, "note"));
        }
    }
    json_decref(data);
}

static json_t *
t_s(int64_t us)
{
    return us < 0 ? json_null() : json_real((double)us / 1e6);
}

static json_t *
inc_json(const inc *i, int64_t now_us)
{
    double vm_minutes = 0;
    json_t *vms = json_array();

    for (size_t v = 0; v < i->nvms; v++) {
        int64_t end = i->vms[v].up_us >= 0 ? i->vms[v].up_us : now_us;

        if (end > i->vms[v].down_us)
            vm_minutes += (double)(end - i->vms[v].down_us) / 60e6;
        json_array_append_new(vms, json_string(i->vms[v].name));
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:f, s:I, "
                     "s:o}",
                     "id", (json_int_t)i->first_seq, "kind", i->kind, "state",
                     i->resolved_us >= 0 ? "resolved" : "open", "title", i->why, "run",
                     (json_int_t)i->run, "event_t_s", t_s(i->event_us), "detected_t_s",
                     t_s(i->detected_us), "decided_t_s", t_s(i->decided_us), "resolved_t_s",
                     t_s(i->resolved_us), "host_back_t_s", t_s(i->host_back_us), "vms_down",
                     (json_int_t)i->nvms, "vms_total", (json_int_t)i->vms_total, "vm_minutes",
                     vm_minutes, "actions", (json_int_t)i->actions, "vms", vms);
}

int
hvfd_api_incidents(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    HVF_AUTOFREE char *state = hvfd_query(r, "state");
    inc_scan sc = {0};
    inc *list;
    size_t n;
    int64_t since = 0, now_us = 0;
    hvfd_snap *s;
    json_t *arr;

    if (state && strcmp(state, "open") != 0 && strcmp(state, "resolved") != 0) {
        hvfd_store_put(d, st);
        return hvfd_fail(r, 400, "state", "?state=%.40s: expected open or resolved", state);
    }
    if (!st)
        return hvfd_fail_err(r, &err);
    sc.list = list = hvf_calloc(INC_MAX, sizeof(*list));
    sc.recent = hvf_calloc(INC_RECENT, sizeof(*sc.recent));
    for (;;) {
        hvf_store_event *evs = NULL;
        long got = hvf_store_events(st, since, 1000, &evs, &err);

        if (got < 0) {
            hvfd_store_put(d, st);
            for (size_t k = 0; k < sc.n; k++)
                inc_free_vms(&list[k]);
            free(list);
            free(sc.recent);
            return hvfd_fail_err(r, &err);
        }
        for (long k = 0; k < got; k++)
            inc_feed(&sc, &evs[k]);
        if (got)
            since = evs[got - 1].seq;
        hvf_store_events_free(evs, (size_t)got);
        if (got < 1000)
            break;
    }
    hvfd_store_put(d, st);
    free(sc.recent);
    n = sc.n;
    if ((s = hvfd_snap_get(d))) {
        now_us = s->now_us;
        hvfd_snap_unref(s);
    }
    arr = json_array();
    for (size_t k = n; k-- > 0;) { /* newest first */
        if (!state || strcmp(state, list[k].resolved_us >= 0 ? "resolved" : "open") == 0)
            json_array_append_new(arr, inc_json(&list[k], now_us));
        inc_free_vms(&list[k]);
    }
    free(list);
    return hvfd_reply(r, 200, json_pack("{s:o}", "incidents", arr));
}
