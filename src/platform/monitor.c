/* SPDX-License-Identifier: MIT */
/*
 * Monitoring and the operator it pages, as a twin component (seed 002). Definitions in
 * include/hvfleet/monitor.h. Everything is driven by the component's own timers: a check per
 * monitor every interval (monitors staggered over the interval), a delivery per alert sent,
 * the operator's decision and repair, and the moment someone notices an outage nobody was
 * alerted to.
 */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/monitor-run.h"
#include "hvfleet/monitor.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"

enum { MON_TICK = 1, MON_DELIVER, MON_DECIDE, MON_REPAIR, MON_NOTICE };
enum { MON_OK, MON_SENT, MON_LOST, MON_DELIVERED }; /* per monitor and target */
enum { OP_IDLE, OP_DECIDING, OP_REPAIRING };

#define MON_WHAT 160

typedef struct mon_pending {
    int32_t monitor, path, host, vm;
    size_t key; /* the (monitor, target) it is about */
    char what[MON_WHAT];
} mon_pending;

typedef struct mon {
    hvf_sim_monitor_opts o; /* deep copy */
    int32_t id;
    size_t ntargets; /* watched hosts, then the monitors when heartbeat */
    uint32_t *fails; /* nmonitors x ntargets */
    uint8_t *state;
    int32_t **path_vms; /* per path: the VMs it runs on (hosted paths) */
    size_t *npath_vms;
    bool *watched_mask;
    mon_pending *pend;
    size_t npend;
    int op;
    uint32_t episode;      /* bumped when the operator is done: a new outage is a new episode */
    bool alerted;          /* an alert reached someone in this episode */
    bool notice_scheduled; /* in this episode */
} mon;

static void
mon_free(void *ctx)
{
    mon *m = ctx;

    if (!m)
        return;
    for (size_t p = 0; p < m->o.npaths; p++)
        free(m->path_vms[p]);
    free(m->path_vms);
    free(m->npath_vms);
    hvf_sim_monitor_opts_clear(&m->o);
    free(m->fails);
    free(m->state);
    free(m->watched_mask);
    free(m->pend);
    free(m);
}

static int64_t
mon_tag(int kind, size_t index)
{
    return (int64_t)index << 8 | kind;
}

static bool
mon_host_up(const hvf_sim *sim, int32_t h)
{
    hvf_sim_host_state s = hvf_sim_host_state_get(sim, h);

    return s != HVF_SIM_HOST_DOWN && s != HVF_SIM_HOST_QUARANTINED;
}

/* A VM that does its job: running (or migrating) on a host that is up and reachable. */
static bool
mon_vm_works(const hvf_sim *sim, int32_t vm)
{
    hvf_sim_vm_state s = hvf_sim_vm_state_get(sim, vm);

    return (s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING || s == HVF_SIM_VM_PAUSED) &&
           mon_host_up(sim, hvf_sim_vm_host(sim, vm));
}

static bool
mon_path_works(const mon *m, const hvf_sim *sim, size_t p)
{
    if (m->o.paths[p].external)
        return true;
    for (size_t i = 0; i < m->npath_vms[p]; i++) {
        if (mon_vm_works(sim, m->path_vms[p][i]))
            return true;
    }
    return false;
}

/* Whether target @t looks failed from a working monitor; says what into @what. */
static bool
mon_failing(const mon *m, const hvf_sim *sim, size_t t, int32_t *host, int32_t *vm, char *what)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);

    *host = *vm = -1;
    if (t < m->o.nwatched) {
        int32_t h = m->o.watched[t];
        const int32_t *vms;
        size_t n;

        *host = h;
        if (hvf_sim_host_state_get(sim, h) == HVF_SIM_HOST_DOWN) {
            snprintf(what, MON_WHAT, "host %s is down", f->hosts[h].name);
            return true;
        }
        if (hvf_sim_host_state_get(sim, h) == HVF_SIM_HOST_QUARANTINED) {
            snprintf(what, MON_WHAT, "host %s is unreachable", f->hosts[h].name);
            return true;
        }
        n = hvf_sim_host_vms(sim, h, &vms);
        for (size_t i = 0; i < n; i++) {
            if (hvf_sim_vm_state_get(sim, vms[i]) == HVF_SIM_VM_CRASHED) {
                *vm = vms[i];
                snprintf(what, MON_WHAT, "VM %s on host %s is down", f->vms[vms[i]].name,
                         f->hosts[h].name);
                return true;
            }
        }
        return false;
    }
    *vm = m->o.monitors[t - m->o.nwatched];
    if (mon_vm_works(sim, *vm))
        return false;
    *host = hvf_sim_vm_host(sim, *vm);
    snprintf(what, MON_WHAT, "monitor %s stopped answering", f->vms[*vm].name);
    return true;
}

static void
mon_after_alert(mon *m, hvf_sim *sim)
{
    m->alerted = true;
    if (m->op != OP_IDLE)
        return;
    m->op = OP_DECIDING;
    hvf_sim_component_timer(sim, m->id, hvf_sim_now(sim) + m->o.response_us,
                            mon_tag(MON_DECIDE, 0));
}

/* Sends an alert through every working path; false when none works. */
static bool
mon_send(mon *m, hvf_sim *sim, size_t mi, size_t key, int32_t host, int32_t vm, const char *what)
{
    bool any = false;

    for (size_t p = 0; p < m->o.npaths; p++) {
        mon_pending *pd;
        if (!mon_path_works(m, sim, p))
            continue;
        any = true;
        m->pend = hvf_realloc(m->pend, (m->npend + 1) * sizeof(mon_pending));
        pd = &m->pend[m->npend];
        pd->monitor = m->o.monitors[mi];
        pd->path = (int32_t)p;
        pd->host = host;
        pd->vm = vm;
        pd->key = key;
        hvf_strlcpy(pd->what, what, sizeof(pd->what));
        hvf_sim_component_timer(sim, m->id, hvf_sim_now(sim) + m->o.paths[p].delay_us,
                                mon_tag(MON_DELIVER, m->npend++));
    }
    return any;
}

static void
mon_check(mon *m, hvf_sim *sim, size_t mi)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    int32_t me = m->o.monitors[mi];
    bool works = mon_vm_works(sim, me);
    char what[MON_WHAT];

    for (size_t t = 0; t < m->ntargets; t++) {
        size_t k = mi * m->ntargets + t;
        int32_t host, vm;

        if (t >= m->o.nwatched && m->o.monitors[t - m->o.nwatched] == me)
            continue;
        if (!works || !mon_failing(m, sim, t, &host, &vm, what)) {
            /* a monitor that does not run forgets what it saw */
            m->fails[k] = 0;
            m->state[k] = MON_OK;
            continue;
        }
        if (++m->fails[k] < m->o.checks_to_alert || m->state[k] == MON_SENT ||
            m->state[k] == MON_DELIVERED)
            continue;
        if (mon_send(m, sim, mi, k, host, vm, what)) {
            m->state[k] = MON_SENT;
        } else if (m->state[k] == MON_OK) {
            char paths[MON_WHAT] = "";
            size_t len = 0;
            for (size_t p = 0; p < m->o.npaths && len < sizeof(paths); p++)
                len += (size_t)snprintf(paths + len, sizeof(paths) - len, "%s%s", p ? ", " : "",
                                        m->o.paths[p].name);
            m->state[k] = MON_LOST;
            hvf_incident_log(sim, HVF_INCIDENT_ALERT_LOST, host, vm,
                             "monitor %s: %s; no alert path works (%s)", f->vms[me].name, what,
                             m->o.npaths ? paths : "none configured");
        }
    }
}

static void
mon_deliver(mon *m, hvf_sim *sim, size_t i)
{
    const mon_pending *pd = &m->pend[i];
    const char *path = m->o.paths[pd->path].name;
    const char *who = hvf_sim_fleet(sim)->vms[pd->monitor].name;

    if (!mon_path_works(m, sim, (size_t)pd->path)) {
        hvf_incident_log(sim, HVF_INCIDENT_ALERT_LOST, pd->host, pd->vm,
                         "via %s: %s (monitor %s): the path went down before delivery", path,
                         pd->what, who);
        /* the monitor notifies again at its next failed check */
        if (m->state[pd->key] == MON_SENT)
            m->state[pd->key] = MON_LOST;
        return;
    }
    m->state[pd->key] = MON_DELIVERED;
    hvf_incident_log(sim, HVF_INCIDENT_ALERT, pd->host, pd->vm, "via %s: %s (monitor %s)", path,
                     pd->what, who);
    mon_after_alert(m, sim);
}

/* Watched hosts an operator has to repair: down, or up with the wrong NIC names. */
static size_t
mon_broken_hosts(const mon *m, const hvf_sim *sim, int32_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < m->o.nwatched; i++) {
        if (!mon_host_up(sim, m->o.watched[i]))
            out[n++] = m->o.watched[i];
    }
    return n;
}

static void
mon_decide(mon *m, hvf_sim *sim, const char *why)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    HVF_AUTOFREE int32_t *hs = hvf_calloc(m->o.nwatched + 1, sizeof(int32_t));
    size_t n = mon_broken_hosts(m, sim, hs);

    if (n == 0)
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "%s: no host to repair, the failure is not a host's", why);
    else
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, hs[0], -1, "%s: repair %zu host%s", why, n,
                         n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        hvf_incident_log(sim, HVF_INCIDENT_ACTION_QUEUED, hs[i], -1, "repair host %s",
                         f->hosts[hs[i]].name);
    m->op = OP_REPAIRING;
    hvf_sim_component_timer(sim, m->id, hvf_sim_now(sim) + m->o.repair_us, mon_tag(MON_REPAIR, 0));
}

static void
mon_repair(mon *m, hvf_sim *sim)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    HVF_AUTOFREE int32_t *hs = hvf_calloc(m->o.nwatched + 1, sizeof(int32_t));
    size_t n = mon_broken_hosts(m, sim, hs);
    hvf_error err = HVF_ERROR_INIT;

    for (size_t i = 0; i < n; i++) {
        if (hvf_sim_repair_host(sim, hs[i],
                                "repaired by the operator (NIC names and network "
                                "configuration put right)",
                                &err) == 0)
            hvf_incident_log(sim, HVF_INCIDENT_ACTION_RUN, hs[i], -1, "repair host %s",
                             f->hosts[hs[i]].name);
    }
    m->op = OP_IDLE;
    m->episode++;
    m->alerted = false;
    m->notice_scheduled = false;
}

static void
mon_on_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    mon *m = ctx;
    size_t index = (size_t)(tag >> 8);

    switch (tag & 0xff) {
    case MON_TICK:
        mon_check(m, sim, index);
        hvf_sim_component_timer(sim, m->id, hvf_sim_now(sim) + m->o.interval_us, tag);
        break;
    case MON_DELIVER:
        mon_deliver(m, sim, index);
        break;
    case MON_DECIDE:
        mon_decide(m, sim, "the operator answers the alert");
        break;
    case MON_REPAIR:
        mon_repair(m, sim);
        break;
    case MON_NOTICE: {
        HVF_AUTOFREE int32_t *hs = hvf_calloc(m->o.nwatched + 1, sizeof(int32_t));
        /* an alert got through first, or it is over by itself: nothing to notice */
        if (index != m->episode || m->alerted || m->op != OP_IDLE ||
            mon_broken_hosts(m, sim, hs) == 0)
            break;
        mon_decide(m, sim, "someone notices the outage, no alert reached anyone");
        break;
    }
    default:
        break;
    }
}

static void
mon_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    mon *m = ctx;

    /* the humans' own view: an outage is noticed `notice` after a watched host went down */
    if (ev->type != HVF_SIM_EV_HOST_CRASH || ev->host < 0 || !m->watched_mask[ev->host] ||
        m->o.notice_us < 0 || m->notice_scheduled || m->op != OP_IDLE)
        return;
    m->notice_scheduled = true;
    hvf_sim_component_timer(sim, m->id, hvf_sim_now(sim) + m->o.notice_us,
                            mon_tag(MON_NOTICE, m->episode));
}

static void
mon_on_start(hvf_sim *sim, void *ctx)
{
    mon *m = ctx;

    /* monitors spread their checks over the interval, each at its own phase */
    for (size_t i = 0; i < m->o.nmonitors; i++)
        hvf_sim_component_timer(sim, m->id, m->o.interval_us * (int64_t)i / (int64_t)m->o.nmonitors,
                                mon_tag(MON_TICK, i));
}

static int32_t *
mon_dup_ids(const int32_t *a, size_t n)
{
    int32_t *d = hvf_malloc((n + 1) * sizeof(int32_t));

    if (n)
        memcpy(d, a, n * sizeof(int32_t));
    return d;
}

int
hvf_sim_monitor_attach(hvf_sim *sim, const hvf_sim_monitor_opts *o, hvf_error *err)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_component c = {.name = "monitoring",
                           .on_start = mon_on_start,
                           .on_event = mon_on_event,
                           .on_timer = mon_on_timer,
                           .free_ctx = mon_free};
    mon *m;

    if (o->nmonitors == 0 || o->interval_us <= 0 || o->checks_to_alert == 0) {
        hvf_error_set(
            err, HVF_ERR_INVALID,
            "monitoring: expected monitors, an interval above 0 and checks_to_alert >= 1");
        return -1;
    }
    for (size_t i = 0; i < o->nmonitors; i++) {
        if (o->monitors[i] < 0 || (size_t)o->monitors[i] >= f->nvms) {
            hvf_error_set(err, HVF_ERR_INVALID, "monitoring: monitor %zu: no such VM", i);
            return -1;
        }
    }
    for (size_t i = 0; i < o->nwatched; i++) {
        if (o->watched[i] < 0 || (size_t)o->watched[i] >= f->nhosts) {
            hvf_error_set(err, HVF_ERR_INVALID, "monitoring: watched host %zu: no such host", i);
            return -1;
        }
    }
    for (size_t p = 0; p < o->npaths; p++) {
        const hvf_sim_alert_path *ap = &o->paths[p];
        if ((ap->service >= 0 && (size_t)ap->service >= f->nservices) ||
            (ap->vm >= 0 && (size_t)ap->vm >= f->nvms) || ap->delay_us < 0) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "monitoring: alert path %zu: bad service, VM or "
                          "delay",
                          p);
            return -1;
        }
    }
    m = HVF_NEW(mon);
    m->o = *o;
    m->o.monitors = mon_dup_ids(o->monitors, o->nmonitors);
    m->o.watched = mon_dup_ids(o->watched, o->nwatched);
    m->o.paths = hvf_calloc(o->npaths + 1, sizeof(hvf_sim_alert_path));
    m->path_vms = hvf_calloc(o->npaths + 1, sizeof(int32_t *));
    m->npath_vms = hvf_calloc(o->npaths + 1, sizeof(size_t));
    for (size_t p = 0; p < o->npaths; p++) {
        m->o.paths[p] = o->paths[p];
        m->o.paths[p].name = hvf_strdup(o->paths[p].name ? o->paths[p].name : "alert path");
        m->path_vms[p] = hvf_calloc(f->nvms + 1, sizeof(int32_t));
        for (size_t v = 0; v < f->nvms && !o->paths[p].external; v++) {
            if ((o->paths[p].vm >= 0 && (int32_t)v == o->paths[p].vm) ||
                (o->paths[p].service >= 0 && f->vms[v].service == o->paths[p].service))
                m->path_vms[p][m->npath_vms[p]++] = (int32_t)v;
        }
    }
    m->ntargets = o->nwatched + (o->heartbeat ? o->nmonitors : 0);
    m->fails = hvf_calloc(o->nmonitors * m->ntargets + 1, sizeof(uint32_t));
    m->state = hvf_calloc(o->nmonitors * m->ntargets + 1, sizeof(uint8_t));
    m->watched_mask = hvf_calloc(f->nhosts + 1, sizeof(bool));
    for (size_t i = 0; i < o->nwatched; i++)
        m->watched_mask[o->watched[i]] = true;
    c.ctx = m;
    m->id = hvf_sim_add_component(sim, &c);
    return 0;
}
