/* SPDX-License-Identifier: MIT */
/*
 * What components add to the twin beyond hosts, VMs and migrations: shared dependencies that
 * stop serving (the message bus of seed 003, by a service_down fault or a component, or because
 * the replicas of the service it follows answer nothing: src/platform/svc.c), load a
 * guest puts on its host's disks from inside (swap in the guest, a telemetry spill), load on a
 * host that is no fleet VM (a deployment, a zombie copy), redeploys, and sections a component
 * adds to summary.json.
 *
 * All of it lives in one lazily allocated struct, so a simulation without components pays
 * nothing and the engine's structs stay as they were. Host dynamics read it through
 * sim_ext_host_cpu/io/mem (dynamics.c).
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

typedef struct sim_dep {
    char *name;       /* owned */
    bool serving;     /* what components see: not stopped, and its replicas answer */
    bool stopped;     /* by a fault or a component (hvf_sim_dependency_set) */
    bool replicas_ok; /* when it follows a service: enough replicas run and serve */
    uint32_t restore_ver;
    int64_t until_us; /* down until (faults), -1 = for good */
} sim_dep;

typedef struct sim_summary_part {
    char *key;  /* owned */
    char *json; /* owned */
} sim_summary_part;

struct sim_ext {
    sim_dep *deps;
    size_t ndeps, deps_cap;
    double *vm_io;     /* per VM: guest IO, bytes/s */
    double *vm_speed;  /* per VM: the guest's own speed, 1 = unimpeded */
    uint32_t *vm_copy; /* per VM: redeploys so far */
    double *host_cpu;  /* per host: extra cores */
    double *host_io;   /* per host: extra bytes/s */
    double *host_mem;  /* per host: extra resident MiB */
    sim_summary_part *parts;
    size_t nparts, parts_cap;
};

static sim_ext *
ext_get(hvf_sim *sim)
{
    size_t nv = sim->fleet->nvms + 1, nh = sim->fleet->nhosts + 1;
    sim_ext *x = sim->ext;

    if (x)
        return x;
    x = sim->ext = HVF_NEW(sim_ext);
    x->vm_io = hvf_calloc(nv, sizeof(double));
    x->vm_speed = hvf_calloc(nv, sizeof(double));
    x->vm_copy = hvf_calloc(nv, sizeof(uint32_t));
    for (size_t i = 0; i < nv; i++)
        x->vm_speed[i] = 1.0;
    x->host_cpu = hvf_calloc(nh, sizeof(double));
    x->host_io = hvf_calloc(nh, sizeof(double));
    x->host_mem = hvf_calloc(nh, sizeof(double));
    return x;
}

void
sim_ext_free(hvf_sim *sim)
{
    sim_ext *x = sim->ext;

    if (!x)
        return;
    for (size_t i = 0; i < x->ndeps; i++)
        free(x->deps[i].name);
    for (size_t i = 0; i < x->nparts; i++) {
        free(x->parts[i].key);
        free(x->parts[i].json);
    }
    free(x->deps);
    free(x->parts);
    free(x->vm_io);
    free(x->vm_speed);
    free(x->vm_copy);
    free(x->host_cpu);
    free(x->host_io);
    free(x->host_mem);
    free(x);
    sim->ext = NULL;
}

/* ---- shared dependencies ---- */

/* What components see changes only when a fault, a component or the replicas change it. */
static void
ext_dep_update(hvf_sim *sim, int32_t id, const char *why)
{
    sim_dep *d = &sim->ext->deps[id];
    bool serving = !d->stopped && d->replicas_ok;
    hvf_sim_event ev = {HVF_SIM_EV_DEPENDENCY, sim->now_us, -1, -1, -1, -1, -1, id, false};
    char detail[200];

    if (d->serving == serving)
        return;
    d->serving = serving;
    snprintf(detail, sizeof(detail), "%s%s%s", d->name, why ? ": " : "", why ? why : "");
    sim_log(sim, serving ? "dependency_up" : "dependency_down", -1, -1, -1, -1, detail, NULL);
    sim_notify(sim, &ev);
}

void
sim_dep_set_replicas(hvf_sim *sim, int32_t id, bool ok, const char *why)
{
    sim_dep *d = &ext_get(sim)->deps[id];

    if (d->replicas_ok == ok)
        return;
    d->replicas_ok = ok;
    ext_dep_update(sim, id, why);
}

int32_t
hvf_sim_dependency_id(hvf_sim *sim, const char *name)
{
    sim_ext *x = ext_get(sim);
    int32_t id = hvf_sim_dependency_find(sim, name);

    if (id >= 0)
        return id;
    hvf_grow(&x->deps, &x->deps_cap, x->ndeps + 1, sizeof(sim_dep));
    x->deps[x->ndeps] = (sim_dep){.name = hvf_strdup(name), .serving = true, .replicas_ok = true};
    id = (int32_t)x->ndeps++;
    /* declared before the run with the name of a service the scenario models, it may follow
     * that service's replicas (src/platform/svc.c) */
    if (!sim->started)
        sim_model_dependency(sim, id);
    return id;
}

int32_t
hvf_sim_dependency_find(const hvf_sim *sim, const char *name)
{
    const sim_ext *x = sim->ext;

    for (size_t i = 0; x && i < x->ndeps; i++) {
        if (strcmp(x->deps[i].name, name) == 0)
            return (int32_t)i;
    }
    return -1;
}

const char *
hvf_sim_dependency_name(const hvf_sim *sim, int32_t id)
{
    HVF_ASSERT(sim->ext && id >= 0 && (size_t)id < sim->ext->ndeps);
    return sim->ext->deps[id].name;
}

bool
hvf_sim_dependency_serving(const hvf_sim *sim, int32_t id)
{
    HVF_ASSERT(sim->ext && id >= 0 && (size_t)id < sim->ext->ndeps);
    return sim->ext->deps[id].serving;
}

void
hvf_sim_dependency_set(hvf_sim *sim, int32_t id, bool serving, const char *why)
{
    sim_ext *x = ext_get(sim);

    HVF_ASSERT(id >= 0 && (size_t)id < x->ndeps);
    if (x->deps[id].stopped == !serving)
        return;
    x->deps[id].stopped = !serving;
    /* a restore planned by an earlier fault must not end a later outage early */
    x->deps[id].restore_ver++;
    ext_dep_update(sim, id, why);
}

void
sim_ext_dependency_fault(hvf_sim *sim, const hvf_sim_fault *f)
{
    int32_t id = hvf_sim_dependency_id(sim, f->service);
    sim_dep *d = &sim->ext->deps[id];
    int64_t until = f->duration_us < 0 ? -1 : sim->now_us + f->duration_us;

    if (!d->stopped) {
        hvf_sim_dependency_set(sim, id, false, "injected fault");
        d->until_us = until;
    } else if (d->until_us >= 0 && (until < 0 || until > d->until_us)) {
        /* overlapping outages: it serves again when the last one ends */
        d->until_us = until;
    } else {
        return;
    }
    d->restore_ver++;
    if (d->until_us >= 0)
        sim_push(sim, d->until_us, SIM_CLASS_FAULT, SIM_EV_DEP_RESTORE, id, d->restore_ver, 0);
}

void
sim_ext_on_dep_restore(hvf_sim *sim, int32_t id, uint32_t ver)
{
    if (!sim->ext || sim->ext->deps[id].restore_ver != ver)
        return;
    hvf_sim_dependency_set(sim, id, true, "fault over");
}

/* ---- load from guests and beyond the fleet's VMs ---- */

void
hvf_sim_vm_set_guest_load(hvf_sim *sim, int32_t vm, double io_bytes_per_s, double speed)
{
    sim_ext *x = ext_get(sim);

    HVF_ASSERT(vm >= 0 && (size_t)vm < sim->fleet->nvms);
    io_bytes_per_s = io_bytes_per_s > 0 ? io_bytes_per_s : 0;
    speed = speed < 0 ? 0 : speed > 1 ? 1 : speed;
    if (x->vm_io[vm] == io_bytes_per_s && x->vm_speed[vm] == speed)
        return;
    x->vm_io[vm] = io_bytes_per_s;
    x->vm_speed[vm] = speed;
    sim_host_mark(sim, sim->fleet->vms[vm].host);
}

double
hvf_sim_vm_guest_io(const hvf_sim *sim, int32_t vm)
{
    return sim->ext ? sim->ext->vm_io[vm] : 0;
}

uint32_t
hvf_sim_vm_copy(const hvf_sim *sim, int32_t vm)
{
    return sim->ext ? sim->ext->vm_copy[vm] : 0;
}

double
hvf_sim_vm_speed(const hvf_sim *sim, int32_t vm)
{
    hvf_sim_vm_state s = sim->vms[vm].state;
    double own = sim->ext ? sim->ext->vm_speed[vm] : 1.0;

    if (s != HVF_SIM_VM_RUNNING && s != HVF_SIM_VM_MIGRATING)
        return 0;
    if (sim->hosts[sim->fleet->vms[vm].host].state == HVF_SIM_HOST_DOWN)
        return 0;
    return sim->hosts[sim->fleet->vms[vm].host].speed * own;
}

void
hvf_sim_host_add_load(hvf_sim *sim, int32_t host, double cpu_cores, double io_bytes_per_s,
                      double mem_mib)
{
    sim_ext *x = ext_get(sim);

    HVF_ASSERT(host >= 0 && (size_t)host < sim->fleet->nhosts);
    x->host_cpu[host] += cpu_cores;
    x->host_io[host] += io_bytes_per_s;
    x->host_mem[host] += mem_mib;
    /* sums of added and removed doubles drift; what was all removed must read as none */
    if (fabs(x->host_cpu[host]) < 1e-9)
        x->host_cpu[host] = 0;
    if (fabs(x->host_io[host]) < 1e-3)
        x->host_io[host] = 0;
    if (fabs(x->host_mem[host]) < 1e-6)
        x->host_mem[host] = 0;
    HVF_ASSERT(x->host_cpu[host] >= 0 && x->host_io[host] >= 0 && x->host_mem[host] >= 0);
    sim_host_mark(sim, host);
}

double
hvf_sim_host_speed(const hvf_sim *sim, int32_t host)
{
    return sim->hosts[host].state == HVF_SIM_HOST_DOWN ? 0 : sim->hosts[host].speed;
}

double
hvf_sim_host_io_util(const hvf_sim *sim, int32_t host)
{
    return sim->hosts[host].io_util;
}

double
sim_ext_host_cpu(const hvf_sim *sim, int32_t host)
{
    return sim->ext ? sim->ext->host_cpu[host] : 0;
}

double
sim_ext_host_mem(const hvf_sim *sim, int32_t host)
{
    return sim->ext ? sim->ext->host_mem[host] : 0;
}

double
sim_ext_host_io(const hvf_sim *sim, int32_t host)
{
    const sim_ext *x = sim->ext;
    const sim_host *sh = &sim->hosts[host];
    double io;

    if (!x)
        return 0;
    io = x->host_io[host];
    for (size_t i = 0; i < sh->nvms; i++) {
        int32_t vm = sh->vms[i];
        hvf_sim_vm_state s = sim->vms[vm].state;
        if (s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING)
            io += x->vm_io[vm];
    }
    return io;
}

/* ---- redeploys ---- */

int
hvf_sim_redeploy_vm(hvf_sim *sim, int32_t vm, int32_t target, const char *why, hvf_error *err)
{
    hvf_vm *v;
    hvf_resources r;
    int32_t from;

    if (vm < 0 || (size_t)vm >= sim->fleet->nvms || target < 0 ||
        (size_t)target >= sim->fleet->nhosts) {
        hvf_error_set(err, HVF_ERR_INVALID, "redeploy: VM %d or host %d does not exist", vm,
                      target);
        return -1;
    }
    v = &sim->fleet->vms[vm];
    from = v->host;
    if (sim->vms[vm].state != HVF_SIM_VM_RUNNING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s: only a running VM is redeployed",
                      v->name, hvf_sim_vm_state_names[sim->vms[vm].state]);
        return -1;
    }
    if (target == from || sim->hosts[target].state != HVF_SIM_HOST_ACTIVE) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' cannot be redeployed to host '%s' (%s)",
                      v->name, sim->fleet->hosts[target].name,
                      target == from ? "its own host"
                                     : hvf_sim_host_state_names[sim->hosts[target].state]);
        return -1;
    }
    r = hvf_vm_resources(v);
    HVF_ASSERT(hvf_host_release_used(&sim->fleet->hosts[from], &r, err) == 0);
    sim_host_remove_vm(sim, from, vm);
    v->host = target;
    sim_host_add_vm(sim, target, vm);
    HVF_ASSERT(hvf_host_use(&sim->fleet->hosts[target], &r, HVF_OVERCOMMIT, err) == 0);
    /* a fresh copy: whatever weighed on the old guest stays behind with it */
    ext_get(sim);
    sim->ext->vm_io[vm] = 0;
    sim->ext->vm_speed[vm] = 1.0;
    sim->ext->vm_copy[vm]++;
    sim_log(sim, "vm_redeployed", -1, vm, from, target, why, NULL);
    sim_check_evacuated(sim, from);
    return 0;
}

/* ---- summary sections ---- */

void
hvf_sim_add_summary(hvf_sim *sim, const char *key, const char *json)
{
    sim_ext *x = ext_get(sim);
    json_t *check = json_loads(json, JSON_DECODE_ANY, NULL);

    HVF_ASSERT(check != NULL);
    json_decref(check);
    for (size_t i = 0; i < x->nparts; i++) {
        if (strcmp(x->parts[i].key, key) == 0) {
            free(x->parts[i].json);
            x->parts[i].json = hvf_strdup(json);
            return;
        }
    }
    hvf_grow(&x->parts, &x->parts_cap, x->nparts + 1, sizeof(sim_summary_part));
    x->parts[x->nparts].key = hvf_strdup(key);
    x->parts[x->nparts++].json = hvf_strdup(json);
}

void
sim_ext_summary(const hvf_sim *sim, json_t *root)
{
    const sim_ext *x = sim->ext;

    for (size_t i = 0; x && i < x->nparts; i++)
        json_object_set_new(root, x->parts[i].key,
                            json_loads(x->parts[i].json, JSON_DECODE_ANY, NULL));
}

void *
sim_component_ctx(const hvf_sim *sim, const char *name)
{
    for (size_t i = 0; i < sim->ncomps; i++) {
        if (sim->comps[i].name && strcmp(sim->comps[i].name, name) == 0)
            return sim->comps[i].ctx;
    }
    return NULL;
}
