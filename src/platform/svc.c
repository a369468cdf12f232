/* SPDX-License-Identifier: MIT */
/*
 * The twin's service model (include/hvfleet/sim-svc.h): serving flags of replicas, storage
 * nodes that drop established connections, the clients that suffer from either, and the
 * figures of that impact. State is created on first use, so simulations without services pay
 * nothing.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/sim-svc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

typedef struct sim_svc sim_svc;

typedef struct svc_entry {
    hvf_sim_svc_spec spec;
    int64_t *node_until;    /* storage, per node: its clients reconnected by then */
    uint32_t *node_ver;     /* storage, per node: version of its reconnect event */
    int64_t *failing_since; /* per client: -1 when fine (replicated: failing; storage: unused) */
} svc_entry;

/* A shared dependency that follows a replicated service: it serves while `need` replicas run
 * and answer (a broker can run and serve nothing). */
typedef struct svc_follow {
    int32_t dep;
    int32_t service; /* the inventory service */
    uint32_t need;   /* replicas that must answer: min_available, at least 1 */
} svc_follow;

struct sim_svc {
    svc_entry *s;
    size_t n;
    bool *dropping;             /* per host */
    bool *not_serving;          /* per VM */
    int64_t *not_serving_since; /* per VM */
    int64_t *blocked_since;     /* per VM: storage IO blocked since, -1 */
    int32_t *storage_of;        /* per VM: the storage it is a client of, -1 */
    uint32_t *client_idx;       /* per VM: its index among that storage's clients */
    uint32_t blocked, not_serving_n, failing;
    hvf_sim_svc_stats st;
    bool notify_pending;
    int32_t model; /* its id among the simulation's models */
    svc_follow *follow; /* dependencies following a service's replicas (ext.c) */
    size_t nfollow, follow_cap;
    int32_t follow_comp; /* the component re-checking them, -1 */
};

static void svc_free(void *ctx);
static void svc_on_event(hvf_sim *sim, void *ctx, int32_t obj, uint32_t ver, int64_t tag);
static void svc_on_dependency(hvf_sim *sim, void *ctx, int32_t dep);
static void svc_summary(const hvf_sim *sim, const void *ctx, json_t *root);

static const sim_model_ops svc_ops = {.name = "services",
                                      .on_event = svc_on_event,
                                      .on_dependency = svc_on_dependency,
                                      .summary = svc_summary,
                                      .free_ctx = svc_free};

static sim_svc *
svc_of(const hvf_sim *sim)
{
    return sim_model_get(sim, &svc_ops);
}

static sim_svc *
svc_get(hvf_sim *sim)
{
    sim_svc *v = svc_of(sim);
    size_t nh = sim->fleet->nhosts, nv = sim->fleet->nvms;

    if (v)
        return v;
    v = HVF_NEW(sim_svc);
    v->model = sim_model_add(sim, &svc_ops, v);
    v->follow_comp = -1;
    v->dropping = hvf_calloc(nh + 1, sizeof(bool));
    v->not_serving = hvf_calloc(nv + 1, sizeof(bool));
    v->not_serving_since = hvf_calloc(nv + 1, sizeof(int64_t));
    v->blocked_since = hvf_malloc((nv + 1) * sizeof(int64_t));
    v->storage_of = hvf_malloc((nv + 1) * sizeof(int32_t));
    v->client_idx = hvf_calloc(nv + 1, sizeof(uint32_t));
    for (size_t i = 0; i < nv; i++) {
        v->blocked_since[i] = -1;
        v->storage_of[i] = -1;
    }
    v->st.first_impact_us = v->st.last_clear_us = -1;
    return v;
}

static void
svc_free(void *ctx)
{
    sim_svc *v = ctx;

    for (size_t i = 0; i < v->n; i++) {
        hvf_sim_svc_spec_clear(&v->s[i].spec);
        free(v->s[i].node_until);
        free(v->s[i].node_ver);
        free(v->s[i].failing_since);
    }
    free(v->s);
    free(v->dropping);
    free(v->not_serving);
    free(v->not_serving_since);
    free(v->blocked_since);
    free(v->storage_of);
    free(v->client_idx);
    free(v->follow);
    free(v);
}

static int32_t *
svc_dup_ids(const int32_t *ids, size_t n)
{
    int32_t *c = hvf_malloc((n + 1) * sizeof(int32_t));

    if (n > 0)
        memcpy(c, ids, n * sizeof(int32_t));
    return c;
}

int32_t
hvf_sim_add_svc(hvf_sim *sim, const hvf_sim_svc_spec *spec, hvf_error *err)
{
    const hvf_fleet *f = sim->fleet;
    sim_svc *v;
    svc_entry *e;
    bool storage = spec->kind == HVF_SIM_SVC_STORAGE;

    if (!spec->name || (unsigned)spec->kind >= HVF_SIM_SVC_LAST ||
        (!storage && (spec->service < 0 || (size_t)spec->service >= f->nservices)) ||
        (storage && spec->nnodes == 0)) {
        hvf_error_set(err, HVF_ERR_INVALID, "service %s: bad kind, service or nodes",
                      spec->name ? spec->name : "(unnamed)");
        return -1;
    }
    for (size_t i = 0; i < spec->nnodes; i++) {
        if (spec->nodes[i] < 0 || (size_t)spec->nodes[i] >= f->nhosts) {
            hvf_error_set(err, HVF_ERR_INVALID, "service %s: node %zu is not a host", spec->name,
                          i);
            return -1;
        }
    }
    for (size_t i = 0; i < spec->nclients; i++) {
        int32_t c = spec->clients[i];
        if (c < 0 || (size_t)c >= (storage ? f->nvms : f->nhosts)) {
            hvf_error_set(err, HVF_ERR_INVALID, "service %s: client %zu is not a %s", spec->name, i,
                          storage ? "VM" : "host");
            return -1;
        }
    }
    if (hvf_sim_find_svc(sim, spec->name) >= 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "service %s is declared twice", spec->name);
        return -1;
    }
    v = svc_get(sim);
    if (storage) {
        for (size_t i = 0; i < spec->nclients; i++) {
            if (v->storage_of[spec->clients[i]] >= 0) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "service %s: VM %s is already a client of storage %s", spec->name,
                              f->vms[spec->clients[i]].name,
                              v->s[v->storage_of[spec->clients[i]]].spec.name);
                return -1;
            }
        }
    }
    v->s = hvf_realloc(v->s, (v->n + 1) * sizeof(svc_entry));
    e = &v->s[v->n];
    memset(e, 0, sizeof(*e));
    e->spec = *spec;
    e->spec.name = hvf_strdup(spec->name);
    e->spec.nodes = svc_dup_ids(spec->nodes, spec->nnodes);
    e->spec.clients = svc_dup_ids(spec->clients, spec->nclients);
    e->node_until = hvf_calloc(spec->nnodes + 1, sizeof(int64_t));
    e->node_ver = hvf_calloc(spec->nnodes + 1, sizeof(uint32_t));
    e->failing_since = hvf_malloc((spec->nclients + 1) * sizeof(int64_t));
    for (size_t i = 0; i < spec->nclients; i++) {
        e->failing_since[i] = -1;
        if (storage) {
            v->storage_of[spec->clients[i]] = (int32_t)v->n;
            v->client_idx[spec->clients[i]] = (uint32_t)i;
        }
    }
    return (int32_t)v->n++;
}

int32_t
hvf_sim_find_svc(const hvf_sim *sim, const char *name)
{
    const sim_svc *v = svc_of(sim);

    for (size_t i = 0; v && i < v->n; i++) {
        if (strcmp(v->s[i].spec.name, name) == 0)
            return (int32_t)i;
    }
    return -1;
}

/* ---- impact bookkeeping ---------------------------------------------------------------- */

static uint32_t
svc_degraded(const sim_svc *v)
{
    return v->blocked + v->not_serving_n + v->failing;
}

/* Called after every change of the counts: impact start/end, peaks, and one deferred
 * notification (controllers are told after the callback that caused it returns). */
static void
svc_after(hvf_sim *sim, uint32_t before)
{
    sim_svc *v = svc_of(sim);
    uint32_t now = svc_degraded(v);

    if (v->blocked > v->st.peak_vms_io_blocked)
        v->st.peak_vms_io_blocked = v->blocked;
    if (v->not_serving_n > v->st.peak_replicas_not_serving)
        v->st.peak_replicas_not_serving = v->not_serving_n;
    if (v->failing > v->st.peak_clients_failing)
        v->st.peak_clients_failing = v->failing;
    if (before == 0 && now > 0) {
        if (v->st.first_impact_us < 0)
            v->st.first_impact_us = sim->now_us;
        sim_log(sim, "impact_start", -1, -1, -1, -1, "clients or replicas degraded", NULL);
    } else if (before > 0 && now == 0) {
        v->st.last_clear_us = sim->now_us;
        sim_log(sim, "impact_end", -1, -1, -1, -1, "every client and replica healthy again", NULL);
    }
    if (before != now && !v->notify_pending) {
        v->notify_pending = true;
        sim_model_push(sim, v->model, sim->now_us, SIM_CLASS_CONTROL, -1, 0, 0);
    }
}

/* A VM whose disk IO is blocked or that answers nothing is up but unusable: the incident
 * KPIs count it with the VMs down. */
static void
svc_impair(hvf_sim *sim, int32_t vm)
{
    const sim_svc *v = svc_of(sim);

    hvf_incident_vm_impaired(sim, vm, v->blocked_since[vm] >= 0 || v->not_serving[vm]);
}

static bool
svc_vm_runs(const hvf_sim *sim, int32_t vm)
{
    hvf_sim_vm_state s = sim->vms[vm].state;

    return s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING;
}

/* ---- storage -------------------------------------------------------------------------- */

static bool
svc_node_blocks(const hvf_sim *sim, const svc_entry *e, size_t k)
{
    return svc_of(sim)->dropping[e->spec.nodes[k]] || sim->now_us < e->node_until[k];
}

/* The first node in client @c's span that blocks, or -1. */
static int32_t
svc_client_blocker(const hvf_sim *sim, const svc_entry *e, size_t c)
{
    size_t n = e->spec.nnodes, span = e->spec.span && e->spec.span < n ? e->spec.span : n;

    for (size_t j = 0; j < span; j++) {
        size_t k = span == n ? j : (c * span + j) % n;
        if (svc_node_blocks(sim, e, k))
            return (int32_t)k;
    }
    return -1;
}

static void
svc_storage_recompute(hvf_sim *sim, svc_entry *e)
{
    sim_svc *v = svc_of(sim);
    char detail[160];

    for (size_t c = 0; c < e->spec.nclients; c++) {
        int32_t vm = e->spec.clients[c];
        int32_t k = svc_client_blocker(sim, e, c);
        if (k >= 0 && v->blocked_since[vm] < 0) {
            v->blocked_since[vm] = sim->now_us;
            v->blocked++;
            snprintf(detail, sizeof(detail), "storage %s: node %s", e->spec.name,
                     sim->fleet->hosts[e->spec.nodes[k]].name);
            sim_log(sim, "vm_io_blocked", sim->fleet->vms[vm].host, vm, -1, -1, detail, NULL);
            svc_impair(sim, vm);
        } else if (k < 0 && v->blocked_since[vm] >= 0) {
            v->st.vm_io_blocked_s += (double)(sim->now_us - v->blocked_since[vm]) / 1e6;
            snprintf(detail, sizeof(detail), "storage %s: blocked %.1f s", e->spec.name,
                     (double)(sim->now_us - v->blocked_since[vm]) / 1e6);
            v->blocked_since[vm] = -1;
            v->blocked--;
            sim_log(sim, "vm_io_resumed", sim->fleet->vms[vm].host, vm, -1, -1, detail, NULL);
            svc_impair(sim, vm);
        }
    }
}

void
hvf_sim_host_set_dropping(hvf_sim *sim, int32_t host, bool dropping, const char *why)
{
    sim_svc *v = svc_get(sim);
    uint32_t before = svc_degraded(v);

    HVF_ASSERT(host >= 0 && (size_t)host < sim->fleet->nhosts);
    if (v->dropping[host] == dropping)
        return;
    v->dropping[host] = dropping;
    sim_log(sim, dropping ? "host_conn_dropped" : "host_conn_restored", host, -1, -1, -1, why,
            NULL);
    for (size_t i = 0; i < v->n; i++) {
        svc_entry *e = &v->s[i];
        if (e->spec.kind != HVF_SIM_SVC_STORAGE)
            continue;
        for (size_t k = 0; k < e->spec.nnodes; k++) {
            if (e->spec.nodes[k] != host)
                continue;
            e->node_ver[k]++;
            /* the clients' dead connections time out and reconnect after the cause is gone */
            e->node_until[k] = dropping ? 0 : sim->now_us + e->spec.reconnect_us;
            if (!dropping && e->spec.reconnect_us > 0)
                sim_model_push(sim, v->model, e->node_until[k], SIM_CLASS_HOST, (int32_t)i,
                               e->node_ver[k], (int64_t)k);
        }
        svc_storage_recompute(sim, e);
    }
    svc_after(sim, before);
}

/* ---- replicated services ----------------------------------------------------------------- */

static void
svc_replicated_recompute(hvf_sim *sim, svc_entry *e)
{
    sim_svc *v = svc_of(sim);
    const hvf_fleet *f = sim->fleet;
    HVF_AUTOFREE int32_t *rep = hvf_malloc((f->nvms + 1) * sizeof(int32_t));
    size_t nrep = 0;
    char detail[160];

    for (size_t vm = 0; vm < f->nvms; vm++) {
        if (f->vms[vm].service == e->spec.service)
            rep[nrep++] = (int32_t)vm;
    }
    for (size_t c = 0; c < e->spec.nclients; c++) {
        int32_t r = nrep ? rep[c % nrep] : -1;
        bool fails = r < 0 || v->not_serving[r];
        int32_t host = e->spec.clients[c];
        if (fails && e->failing_since[c] < 0) {
            e->failing_since[c] = sim->now_us;
            v->failing++;
            snprintf(detail, sizeof(detail), "service %s: replica %s answers nothing", e->spec.name,
                     r >= 0 ? f->vms[r].name : "(none)");
            sim_log(sim, "client_failing", host, -1, -1, -1, detail, NULL);
        } else if (!fails && e->failing_since[c] >= 0) {
            v->st.client_failing_s += (double)(sim->now_us - e->failing_since[c]) / 1e6;
            snprintf(detail, sizeof(detail), "service %s: failed %.1f s", e->spec.name,
                     (double)(sim->now_us - e->failing_since[c]) / 1e6);
            e->failing_since[c] = -1;
            v->failing--;
            sim_log(sim, "client_ok", host, -1, -1, -1, detail, NULL);
        }
    }
}

void
hvf_sim_vm_set_serving(hvf_sim *sim, int32_t vm, bool serving, const char *why)
{
    sim_svc *v = svc_get(sim);
    uint32_t before = svc_degraded(v);
    int32_t s;

    HVF_ASSERT(vm >= 0 && (size_t)vm < sim->fleet->nvms);
    if (v->not_serving[vm] == !serving)
        return;
    v->not_serving[vm] = !serving;
    if (serving) {
        v->st.replica_not_serving_s += (double)(sim->now_us - v->not_serving_since[vm]) / 1e6;
        v->not_serving_n--;
    } else {
        v->not_serving_since[vm] = sim->now_us;
        v->not_serving_n++;
    }
    sim_log(sim, serving ? "replica_serving" : "replica_not_serving", sim->fleet->vms[vm].host, vm,
            -1, -1, why, NULL);
    svc_impair(sim, vm);
    s = sim->fleet->vms[vm].service;
    for (size_t i = 0; s >= 0 && i < v->n; i++) {
        if (v->s[i].spec.kind == HVF_SIM_SVC_REPLICATED && v->s[i].spec.service == s)
            svc_replicated_recompute(sim, &v->s[i]);
    }
    svc_after(sim, before);
}

/* ---- engine events ---------------------------------------------------------------------- */

static void
svc_on_event(hvf_sim *sim, void *ctx, int32_t obj, uint32_t ver, int64_t tag)
{
    sim_svc *v = ctx;
    hvf_sim_event ev = {HVF_SIM_EV_SERVICE, sim->now_us, -1, -1, -1, -1, -1, 0, false};
    uint32_t before;

    if (obj < 0) {
        v->notify_pending = false;
        sim_notify(sim, &ev);
        return;
    }
    if ((size_t)obj >= v->n || tag < 0 || (size_t)tag >= v->s[obj].spec.nnodes ||
        v->s[obj].node_ver[tag] != ver)
        return;
    before = svc_degraded(v);
    svc_storage_recompute(sim, &v->s[obj]);
    svc_after(sim, before);
}

/* ---- queries ---------------------------------------------------------------------------- */

bool
hvf_sim_host_is_dropping(const hvf_sim *sim, int32_t host)
{
    return svc_of(sim) && svc_of(sim)->dropping[host];
}

bool
hvf_sim_vm_is_serving(const hvf_sim *sim, int32_t vm)
{
    return !(svc_of(sim) && svc_of(sim)->not_serving[vm]);
}

double
hvf_sim_service_success(const hvf_sim *sim, int32_t service)
{
    size_t n = 0, ok = 0;

    for (size_t vm = 0; vm < sim->fleet->nvms; vm++) {
        if (sim->fleet->vms[vm].service != service)
            continue;
        n++;
        ok += svc_vm_runs(sim, (int32_t)vm) && hvf_sim_vm_is_serving(sim, (int32_t)vm);
    }
    return n ? (double)ok / (double)n : 1.0;
}

int64_t
hvf_sim_vm_io_latency_us(const hvf_sim *sim, int32_t vm)
{
    const sim_svc *v = svc_of(sim);
    const svc_entry *e;
    int64_t age;

    if (!v || v->storage_of[vm] < 0)
        return -1;
    e = &v->s[v->storage_of[vm]];
    if (v->blocked_since[vm] < 0)
        return e->spec.latency_us;
    age = sim->now_us - v->blocked_since[vm];
    return age > e->spec.latency_us ? age : e->spec.latency_us;
}

static int
svc_i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int64_t
hvf_sim_client_io_latency_us(const hvf_sim *sim, int32_t svc, double percentile)
{
    const sim_svc *v = svc_of(sim);
    HVF_AUTOFREE int64_t *lat = NULL;
    size_t n = 0, rank;

    if (!v)
        return 0;
    lat = hvf_malloc((sim->fleet->nvms + 1) * sizeof(int64_t));
    for (size_t vm = 0; vm < sim->fleet->nvms; vm++) {
        int32_t s = v->storage_of[vm];
        if (s < 0 || (svc >= 0 && s != svc) || !svc_vm_runs(sim, (int32_t)vm))
            continue;
        lat[n++] = hvf_sim_vm_io_latency_us(sim, (int32_t)vm);
    }
    if (n == 0)
        return 0;
    qsort(lat, n, sizeof(int64_t), svc_i64_cmp);
    rank = (size_t)ceil(percentile / 100.0 * (double)n);
    return lat[rank > 0 ? rank - 1 : 0];
}

uint32_t
hvf_sim_degraded(const hvf_sim *sim)
{
    return svc_of(sim) ? svc_degraded(svc_of(sim)) : 0;
}

void
hvf_sim_svc_get_stats(const hvf_sim *sim, hvf_sim_svc_stats *out)
{
    const sim_svc *v = svc_of(sim);

    memset(out, 0, sizeof(*out));
    out->first_impact_us = out->last_clear_us = -1;
    if (!v)
        return;
    *out = v->st;
    for (size_t vm = 0; vm < sim->fleet->nvms; vm++) {
        if (v->blocked_since[vm] >= 0)
            out->vm_io_blocked_s += (double)(sim->now_us - v->blocked_since[vm]) / 1e6;
        if (v->not_serving[vm])
            out->replica_not_serving_s += (double)(sim->now_us - v->not_serving_since[vm]) / 1e6;
    }
    for (size_t i = 0; i < v->n; i++) {
        for (size_t c = 0; c < v->s[i].spec.nclients; c++) {
            if (v->s[i].failing_since[c] >= 0)
                out->client_failing_s += (double)(sim->now_us - v->s[i].failing_since[c]) / 1e6;
        }
    }
}

static void
svc_summary(const hvf_sim *sim, const void *ctx, json_t *root)
{
    hvf_sim_svc_stats st;
    json_t *o = json_object();

    (void)ctx;
    hvf_sim_svc_get_stats(sim, &st);
    json_object_set_new(o, "peak_vms_io_blocked", json_integer(st.peak_vms_io_blocked));
    json_object_set_new(o, "vm_io_blocked_minutes", json_real(st.vm_io_blocked_s / 60.0));
    json_object_set_new(o, "peak_replicas_not_serving", json_integer(st.peak_replicas_not_serving));
    json_object_set_new(o, "replica_not_serving_minutes",
                        json_real(st.replica_not_serving_s / 60.0));
    json_object_set_new(o, "peak_clients_failing", json_integer(st.peak_clients_failing));
    json_object_set_new(o, "client_failing_minutes", json_real(st.client_failing_s / 60.0));
    json_object_set_new(o, "first_impact_s",
                        st.first_impact_us < 0 ? json_null()
                                               : json_real((double)st.first_impact_us / 1e6));
    json_object_set_new(o, "last_clear_s",
                        st.last_clear_us < 0 ? json_null()
                                             : json_real((double)st.last_clear_us / 1e6));
    json_object_set_new(root, "services", o);
}

/* ---- shared dependencies that follow a service (ext.c declares them) ------------------- */

static void
svc_follow_check(hvf_sim *sim)
{
    sim_svc *v = svc_of(sim);
    char why[160];

    for (size_t i = 0; i < v->nfollow; i++) {
        const svc_follow *fw = &v->follow[i];
        uint32_t n = 0, ok;
        for (size_t vm = 0; vm < sim->fleet->nvms; vm++)
            n += sim->fleet->vms[vm].service == fw->service;
        ok = (uint32_t)llround(hvf_sim_service_success(sim, fw->service) * n);
        snprintf(why, sizeof(why), "%u of %u replicas of service '%s' answer (%u needed)", ok, n,
                 sim->fleet->services[fw->service].name, fw->need);
        sim_dep_set_replicas(sim, fw->dep, ok >= fw->need, why);
    }
}

static void
svc_follow_start(hvf_sim *sim, void *ctx)
{
    svc_follow_check(sim);
    hvf_sim_component_timer(sim, ((sim_svc *)ctx)->follow_comp, sim->now_us + 10 * HVF_US_PER_S,
                            0);
}

static void
svc_follow_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    svc_follow_check(sim);
}

/* VMs restarting are not events: look again now and then too. */
static void
svc_follow_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    svc_follow_check(sim);
    hvf_sim_component_timer(sim, ((sim_svc *)ctx)->follow_comp, sim->now_us + 10 * HVF_US_PER_S,
                            tag);
}

/* A dependency declared before the run with the name of a service the scenario models
 * (services:) and of an inventory service follows that service's replicas. */
static void
svc_on_dependency(hvf_sim *sim, void *ctx, int32_t dep)
{
    sim_svc *v = ctx;
    const char *name = hvf_sim_dependency_name(sim, dep);
    int32_t svc;

    if (hvf_sim_find_svc(sim, name) < 0)
        return;
    svc = hvf_fleet_find_service(sim->fleet, name);
    if (svc < 0)
        return;
    hvf_grow(&v->follow, &v->follow_cap, v->nfollow + 1, sizeof(svc_follow));
    v->follow[v->nfollow++] = (svc_follow){
        .dep = dep,
        .service = svc,
        .need = sim->fleet->services[svc].min_available ? sim->fleet->services[svc].min_available
                                                        : 1};
    if (v->follow_comp < 0) {
        hvf_sim_component c = {.name = "dependencies",
                               .ctx = v,
                               .on_start = svc_follow_start,
                               .on_event = svc_follow_event,
                               .on_timer = svc_follow_timer};
        v->follow_comp = hvf_sim_add_component(sim, &c);
    }
}
