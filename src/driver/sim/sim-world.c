/* SPDX-License-Identifier: MIT */
/* The sim driver's jobs, its URI and its world (a snapshot and a log of changes). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver-uri.h"
#include "driver/driver-world.h"
#include "driver/sim/sim-driver.h"
#include "driver/sim/sim-world.h"
#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"
#include "hvfleet/generate.h"
#include "hvfleet/inventory.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"
#include "util/text.h"

#define SD_MAX_FILE (64u << 20)

/* ---- jobs ---- */

bool
sd_job_ended(const sd_job *j)
{
    return j->state == HVF_JOB_COMPLETED || j->state == HVF_JOB_FAILED ||
           j->state == HVF_JOB_CANCELLED;
}

sd_job *
sd_job_add(sd_priv *p, int32_t vm, int32_t src, int32_t dst, const hvf_migrate_job_params *mp)
{
    sd_job *j;

    hvf_grow(&p->jobs, &p->jobs_cap, p->njobs + 1, sizeof(*p->jobs));
    j = &p->jobs[p->njobs];
    memset(j, 0, sizeof(*j));
    j->id = (int64_t)p->njobs++;
    j->vm = vm;
    j->src = src;
    j->dst = dst;
    j->mig = -1;
    j->state = HVF_JOB_SETUP;
    j->ended_us = -1;
    j->postcopy_allowed = mp->postcopy_allowed;
    j->auto_converge = mp->auto_converge;
    j->max_bytes_per_s = mp->max_bytes_per_s;
    j->downtime_limit_us = mp->downtime_limit_us;
    if (vm >= 0 && p->vm_job)
        p->vm_job[vm] = j->id;
    return j;
}

sd_job *
sd_job_get(sd_priv *p, int64_t id, hvf_error *err)
{
    if (id < 0 || (size_t)id >= p->njobs || p->jobs[id].vm < 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "job %" PRId64 " does not exist (or was forgotten)",
                      id);
        return NULL;
    }
    return &p->jobs[id];
}

sd_job *
sd_job_of_vm(sd_priv *p, int32_t vm)
{
    int64_t id = p->vm_job[vm];

    return id >= 0 && !sd_job_ended(&p->jobs[id]) ? &p->jobs[id] : NULL;
}

/* ---- URI ---- */

int
sd_uri_parse(sd_priv *p, const char *uri, const hvf_driver_opts *opts, hvf_error *err)
{
    hvf_driver_uri u;

    if (hvf_driver_uri_split(uri, strlen("sim"), &u, err) < 0)
        return -1;
    if (*u.path && strcmp(u.path, "/default") != 0)
        p->inv_path = hvf_strdup(u.path);
    p->seed = 1;
    for (size_t i = 0; i < u.nparams; i++) {
        const char *name = u.names[i], *eq = u.values[i];

        if (strcmp(name, "world") == 0) {
            free(p->world_path);
            p->world_path = hvf_strdup(eq);
        } else if (strcmp(name, "deviations") == 0) {
            free(p->dev_path);
            p->dev_path = hvf_strdup(eq);
        } else if (strcmp(name, "maintenance") == 0) {
            if (hvf_units_parse_duration(eq, &p->maint_default_us, err) < 0) {
                hvf_error_prefix(err, "driver URI '%s': maintenance: ", uri);
                hvf_driver_uri_clear(&u);
                return -1;
            }
        } else if (strcmp(name, "seed") == 0) {
            char *end;

            errno = 0;
            p->seed = strtoull(eq, &end, 10);
            if (errno || *end || eq[0] == '-') {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "driver URI '%s': seed '%s': expected a non-negative integer", uri,
                              eq);
                hvf_driver_uri_clear(&u);
                return -1;
            }
        } else {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "driver URI '%s': unknown parameter '%s' (expected world, deviations, "
                          "maintenance or seed)",
                          uri, name);
            hvf_driver_uri_clear(&u);
            return -1;
        }
    }
    hvf_driver_uri_clear(&u);
    if (opts->state_dir && *opts->state_dir)
        p->state_dir = hvf_strdup(opts->state_dir);
    return 0;
}

/* ---- the world file ---- */

static hvf_fleet *
sd_builtin_fleet(hvf_error *err)
{
    hvf_generate_params g;

    hvf_generate_params_init(&g);
    g.hosts = 8;
    g.vms_per_host = 6;
    g.zones = 2;
    g.racks_per_zone = 2;
    g.seed = 1;
    return hvf_generate_fleet(&g, err);
}

static int
world_fail(sd_priv *p, hvf_error *err, const char *what)
{
    hvf_error_set(err, HVF_ERR_INVALID,
                  "sim world '%s': %s; remove the file to start the twin from the inventory",
                  p->world_path ? p->world_path : "(in memory)", what);
    return -1;
}

static int
world_state_index(const char *const *names, json_t *v)
{
    const char *s = json_string_value(v);

    for (int i = 0; s && names[i]; i++) {
        if (strcmp(names[i], s) == 0)
            return i;
    }
    return -1;
}

/* The world file is one of this driver's, made from this inventory. */
static int
world_check_head(sd_priv *p, json_t *w, hvf_error *err)
{
    if (!json_is_string(json_object_get(w, "schema")) ||
        strcmp(json_string_value(json_object_get(w, "schema")), SD_WORLD_SCHEMA) != 0)
        return world_fail(p, err, "not a " SD_WORLD_SCHEMA " file");
    if (!json_is_string(json_object_get(w, "inventory_fingerprint")) ||
        strcmp(json_string_value(json_object_get(w, "inventory_fingerprint")), p->fingerprint) != 0)
        return world_fail(p, err, "it was made from another inventory");
    return 0;
}

/* Reads the world file into p->fleet (placement, dirty rates) and the per-object arrays; the
 * states to restore in the twin are kept in p->restore_hs and p->restore_vs. */
static int
world_load(sd_priv *p, json_t *w, hvf_error *err)
{
    json_t *hosts = json_object_get(w, "hosts"), *vms = json_object_get(w, "vms");
    json_t *jobs = json_object_get(w, "jobs"), *v;
    int **hs = &p->restore_hs, **vs = &p->restore_vs;
    size_t i;

    if (!json_is_integer(json_object_get(w, "now_us")) || !json_is_array(hosts) ||
        !json_is_array(vms) || !json_is_array(jobs) ||
        json_array_size(hosts) != p->fleet->nhosts || json_array_size(vms) != p->fleet->nvms)
        return world_fail(p, err, "now_us, hosts, vms or jobs missing or of the wrong size");
    p->base_us = json_integer_value(json_object_get(w, "now_us"));
    p->next_dev = (size_t)json_integer_value(json_object_get(w, "deviations_applied"));
    if (p->base_us < 0)
        return world_fail(p, err, "now_us out of range");
    if (p->next_dev > p->ndevs)
        p->next_dev = p->ndevs; /* opened without (all) its deviations: they are the caller's */
    *hs = hvf_calloc(p->fleet->nhosts + 1, sizeof(int));
    *vs = hvf_calloc(p->fleet->nvms + 1, sizeof(int));
    json_array_foreach(hosts, i, v)
    {
        int s = world_state_index(hvf_drv_host_state_names, json_object_get(v, "state"));

        if (s < 0)
            return world_fail(p, err, "a host's state is unknown");
        (*hs)[i] = s;
        p->maint_until[i] = json_integer_value(json_object_get(v, "maintenance_until_us"));
        if (json_is_number(json_object_get(v, "maintenance_factor")))
            p->maint_factor[i] = json_number_value(json_object_get(v, "maintenance_factor"));
        if (json_is_string(json_object_get(v, "change")))
            hvf_strlcpy(p->change[i], json_string_value(json_object_get(v, "change")),
                        sizeof(p->change[i]));
        p->apply_until[i] = json_is_integer(json_object_get(v, "apply_until_us"))
                                ? json_integer_value(json_object_get(v, "apply_until_us"))
                                : -1;
        p->applying_rollback[i] = json_is_true(json_object_get(v, "rollback"));
        p->change_breaks[i] = json_is_true(json_object_get(v, "change_breaks"));
        if (json_is_integer(json_object_get(v, "unreachable_until_us")) &&
            json_integer_value(json_object_get(v, "unreachable_until_us")) >= 0)
            p->unreach_until[i] = json_integer_value(json_object_get(v, "unreachable_until_us"));
        if (json_is_integer(json_object_get(v, "applies")) &&
            json_integer_value(json_object_get(v, "applies")) >= 0)
            p->applies[i] = (uint32_t)json_integer_value(json_object_get(v, "applies"));
    }
    json_array_foreach(vms, i, v)
    {
        int s = world_state_index(hvf_drv_vm_state_names, json_object_get(v, "state"));
        int32_t h = hvf_fleet_find_host(p->fleet, json_string_value(json_object_get(v, "host"))
                                                      ? json_string_value(
                                                            json_object_get(v, "host"))
                                                      : "");

        if (s < 0 || h < 0)
            return world_fail(p, err, "a VM's state or host is unknown");
        (*vs)[i] = s;
        hvf_drv_vm_place(p->fleet, (int32_t)i, h);
        if (json_is_number(json_object_get(v, "dirty")))
            p->fleet->vms[i].dirty_bytes_per_s = json_number_value(json_object_get(v, "dirty"));
        p->fail_next[i] = json_is_true(json_object_get(v, "fail_next"));
    }
    json_array_foreach(jobs, i, v)
    {
        hvf_migrate_job_params mp = {0};
        int s = world_state_index(hvf_job_state_names, json_object_get(v, "state"));
        int32_t vm = (int32_t)json_integer_value(json_object_get(v, "vm"));
        int32_t src = (int32_t)json_integer_value(json_object_get(v, "source"));
        int32_t dst = (int32_t)json_integer_value(json_object_get(v, "target"));
        sd_job *j;

        if (s < 0 || vm < 0 || (size_t)vm >= p->fleet->nvms || src < 0 ||
            (size_t)src >= p->fleet->nhosts || dst < 0 || (size_t)dst >= p->fleet->nhosts)
            return world_fail(p, err, "a job is malformed");
        mp.postcopy_allowed = json_is_true(json_object_get(v, "postcopy_allowed"));
        mp.auto_converge = json_is_true(json_object_get(v, "auto_converge"));
        mp.max_bytes_per_s = json_number_value(json_object_get(v, "max_bytes_per_s"));
        mp.downtime_limit_us = json_integer_value(json_object_get(v, "downtime_limit_us"));
        {
            int64_t id = json_integer_value(json_object_get(v, "id"));

            if (id < (int64_t)p->njobs || id > 100000000)
                return world_fail(p, err, "job ids out of order");
            /* jobs forgotten since (their ends recorded) keep their ids as gaps */
            while ((int64_t)p->njobs < id) {
                sd_job *gap = sd_job_add(p, -1, 0, 0, &mp);

                gap->state = HVF_JOB_COMPLETED;
                gap->forgotten = true;
            }
        }
        j = sd_job_add(p, vm, src, dst, &mp);
        j->state = (hvf_job_state)s;
        j->started_us = json_integer_value(json_object_get(v, "started_us"));
        j->ended_us = json_integer_value(json_object_get(v, "ended_us"));
        j->downtime_us = json_integer_value(json_object_get(v, "downtime_us"));
        j->transferred = (uint64_t)json_integer_value(json_object_get(v, "transferred"));
        j->fail_at_us = json_integer_value(json_object_get(v, "fail_at_us"));
        p->nfail_pending += j->fail_at_us > 0 && !sd_job_ended(j);
        hvf_strlcpy(j->error, json_string_value(json_object_get(v, "error"))
                                  ? json_string_value(json_object_get(v, "error"))
                                  : "",
                    sizeof(j->error));
    }
    /* ids are never reused: the jobs forgotten after the last one saved are gaps too */
    {
        json_t *nj = json_object_get(w, "next_job");
        hvf_migrate_job_params none = {0};

        if (json_is_integer(nj) && json_integer_value(nj) <= 100000000) {
            while ((int64_t)p->njobs < json_integer_value(nj)) {
                sd_job *gap = sd_job_add(p, -1, 0, 0, &none);

                gap->state = HVF_JOB_COMPLETED;
                gap->forgotten = true;
            }
        }
    }
    return 0;
}

int
sd_world_restore_twin(sd_priv *p, hvf_error *err)
{
    const hvf_fleet *f = p->fleet;
    const int *world_hs = p->restore_hs, *world_vs = p->restore_vs;

    /* deviations already applied whose effect lives only in the twin */
    for (size_t i = 0; i < p->next_dev; i++) {
        if (p->devs[i].kind == SD_DEV_LINK)
            sd_deviation_apply(p, &p->devs[i]);
    }
    if (!world_hs)
        return 0;
    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_error why = HVF_ERROR_INIT;

        if (world_hs[h] == HVF_DRV_HOST_DRAINING &&
            hvf_sim_set_host_state(p->sim, (int32_t)h, HVF_SIM_HOST_EVACUATING, &why) < 0)
            return world_fail(p, err, "a draining host cannot be drained again");
    }
    for (size_t v = 0; v < f->nvms; v++) {
        hvf_error why = HVF_ERROR_INIT;

        if (world_vs[v] == HVF_DRV_VM_STOPPED && hvf_sim_stop_vm(p->sim, (int32_t)v, &why) < 0)
            return world_fail(p, err, "a stopped VM cannot be stopped again");
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_error why = HVF_ERROR_INIT;

        if (world_hs[h] == HVF_DRV_HOST_MAINTENANCE) {
            int64_t left = p->maint_until[h] - p->base_us;

            if (hvf_sim_begin_maintenance(p->sim, (int32_t)h, left > 0 ? left : 0, &why) < 0)
                return world_fail(p, err, "a host in maintenance still holds running VMs");
        } else if (world_hs[h] == HVF_DRV_HOST_DOWN) {
            hvf_sim_fault fault;

            memset(&fault, 0, sizeof(fault));
            fault.type = HVF_SIM_FAULT_HOST_CRASH;
            fault.host = (int32_t)h;
            fault.rack = fault.vm = -1;
            fault.duration_us = -1;
            fault.fixed_after_us = -1;
            if (hvf_sim_inject_fault(p->sim, &fault, &why) < 0)
                return world_fail(p, err, "a host that was down cannot be put down again");
        }
    }
    /* VMs a controller is to restart, on hosts that are up (a host down crashed its own) */
    for (size_t v = 0; v < f->nvms; v++) {
        hvf_error why = HVF_ERROR_INIT;

        if (world_vs[v] == HVF_DRV_VM_CRASHED &&
            hvf_sim_vm_state_get(p->sim, (int32_t)v) == HVF_SIM_VM_RUNNING &&
            hvf_sim_crash_vm(p->sim, (int32_t)v, "crashed when the world was saved", &why) < 0)
            return world_fail(p, err, "a crashed VM cannot be crashed again");
    }
    /* jobs in flight: the twin starts them again, same job, same claim */
    for (size_t i = 0; i < p->njobs; i++) {
        sd_job *j = &p->jobs[i];
        hvf_sim_migrate_opts o = {0};
        hvf_error why = HVF_ERROR_INIT;

        if (sd_job_ended(j) || j->vm < 0)
            continue;
        o.claim = true;
        o.max_bytes_per_s = j->max_bytes_per_s;
        o.downtime_limit_us = j->downtime_limit_us;
        o.strategy = j->auto_converge ? HVF_SIM_STRATEGY_AUTO_CONVERGE : HVF_SIM_STRATEGY_PRECOPY;
        j->mig = hvf_sim_start_migration(p->sim, j->vm, j->dst, &o, &why);
        if (j->mig < 0) {
            j->state = HVF_JOB_FAILED;
            j->ended_us = p->base_us;
            snprintf(j->error, sizeof(j->error), "lost when the sim driver reopened: %.140s",
                     why.msg);
        }
    }
    return 0;
}

static void world_apply_log(sd_priv *p, json_t *w);

/* The per-host and per-VM arrays of p->fleet, at their defaults (nothing loaded yet). */
static void
world_arrays_init(sd_priv *p)
{
    p->maint_until = hvf_calloc(p->fleet->nhosts + 1, sizeof(int64_t));
    p->maint_factor = hvf_calloc(p->fleet->nhosts + 1, sizeof(double));
    p->fail_next = hvf_calloc(p->fleet->nvms + 1, sizeof(bool));
    p->vm_job = hvf_calloc(p->fleet->nvms + 1, sizeof(int64_t));
    p->vm_rec = hvf_calloc(p->fleet->nvms + 1, sizeof(char *));
    p->vm_rec_host = hvf_calloc(p->fleet->nvms + 1, sizeof(int32_t));
    p->vm_rec_state = hvf_calloc(p->fleet->nvms + 1, sizeof(int8_t));
    for (size_t v = 0; v < p->fleet->nvms; v++)
        p->vm_job[v] = -1;
    p->change = hvf_calloc(p->fleet->nhosts + 1, sizeof(*p->change));
    p->apply_until = hvf_calloc(p->fleet->nhosts + 1, sizeof(int64_t));
    p->applying_rollback = hvf_calloc(p->fleet->nhosts + 1, sizeof(bool));
    p->change_breaks = hvf_calloc(p->fleet->nhosts + 1, sizeof(bool));
    p->applies = hvf_calloc(p->fleet->nhosts + 1, sizeof(uint32_t));
    p->unreach_until = hvf_calloc(p->fleet->nhosts + 1, sizeof(int64_t));
    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        p->maint_until[h] = -1;
        p->maint_factor[h] = 1;
        p->apply_until[h] = -1;
        p->unreach_until[h] = -1;
    }
}

#define SD_VM_MEM_MAX (1LL << 40) /* MiB: far beyond any host, small enough to sum */
#define SD_VM_VCPUS_MAX (1LL << 20)

/* A VM the world defines with its "spec" (hvf_driver_vm_define), as a prototype for @f. */
static int
world_defined_vm(sd_priv *p, const hvf_fleet *f, json_t *rec, hvf_vm *proto, hvf_error *err)
{
    json_t *spec = json_object_get(rec, "spec");
    json_t *mem = json_object_get(spec, "mem_mib"), *cpus = json_object_get(spec, "vcpus");
    json_t *dirty = json_object_get(spec, "dirty_bytes_per_s");
    json_t *svc = json_object_get(spec, "service"), *mig = json_object_get(spec, "migratable");
    json_t *ha = json_object_get(spec, "ha"); /* absent: its service's (hvf_vm_is_ha) */
    const char *host = json_string_value(json_object_get(rec, "host"));

    if (!json_is_string(json_object_get(rec, "name")) || !json_is_integer(mem) ||
        json_integer_value(mem) <= 0 || json_integer_value(mem) > SD_VM_MEM_MAX ||
        !json_is_integer(cpus) || json_integer_value(cpus) <= 0 ||
        json_integer_value(cpus) > SD_VM_VCPUS_MAX || !json_is_number(dirty) ||
        !(json_number_value(dirty) >= 0 &&
          json_number_value(dirty) <= (double)HVF_DRV_DIRTY_MIB_MAX * HVF_MIB) ||
        !json_is_string(svc) || !json_is_boolean(mig) || (ha && !json_is_boolean(ha)))
        return world_fail(p, err,
                          "a defined VM's spec is malformed (expected mem_mib and vcpus > 0, "
                          "dirty_bytes_per_s >= 0, service and migratable, ha true or false)");
    memset(proto, 0, sizeof(*proto));
    proto->name = (char *)json_string_value(json_object_get(rec, "name"));
    proto->host = host ? hvf_fleet_find_host(f, host) : -1;
    proto->mem_mib = (uint64_t)json_integer_value(mem);
    proto->vcpus = (uint32_t)json_integer_value(cpus);
    proto->dirty_bytes_per_s = json_number_value(dirty);
    proto->working_set_mib = proto->mem_mib;
    proto->cpu_load = HVF_DEFAULT_CPU_LOAD;
    proto->service =
        *json_string_value(svc) ? hvf_fleet_find_service(f, json_string_value(svc)) : -1;
    proto->migratable = json_is_true(mig);
    proto->ha = json_is_true(ha);
    proto->ha_set = ha != NULL;
    proto->secondary = -1;
    if (proto->host < 0 || (*json_string_value(svc) && proto->service < 0))
        return world_fail(p, err, "a defined VM's host or service is unknown");
    return 0;
}

/*
 * p->fleet, the twin's fleet, for the world's VM records @vms (NULL: none yet), in their order:
 * a record names a VM of the inventory, or defines one with its "spec"; the inventory's VMs it
 * does not name were undefined. The inventory's hosts and services, in its order.
 */
static int
world_compose(sd_priv *p, json_t *vms, hvf_error *err)
{
    const hvf_fleet *inv = p->inv;
    hvf_fleet *f;
    json_t *rec;
    size_t i;
    bool same = !json_is_array(vms) || json_array_size(vms) == inv->nvms;

    p->inv_vm_at = hvf_calloc(inv->nvms + 1, sizeof(int32_t));
    json_array_foreach(vms, i, rec)
    {
        const char *name = json_string_value(json_object_get(rec, "name"));

        same = same && !json_object_get(rec, "spec") && name && strcmp(name, inv->vms[i].name) == 0;
    }
    if (same) {
        /* the inventory's VMs, as they were before any was defined (malformed records are
         * world_load's to report) */
        p->fleet = hvf_fleet_dup(inv);
        p->vm_inv = hvf_calloc(inv->nvms + 1, sizeof(int32_t));
        for (i = 0; i < inv->nvms; i++)
            p->vm_inv[i] = p->inv_vm_at[i] = (int32_t)i;
        return 0;
    }
    for (i = 0; i < inv->nvms; i++)
        p->inv_vm_at[i] = -1;
    p->vm_inv = hvf_calloc(json_array_size(vms) + 1, sizeof(int32_t));
    p->fleet = f = hvf_fleet_new();
    for (i = 0; i < inv->nzones; i++)
        hvf_fleet_zone_ensure(f, inv->zones[i].name);
    for (i = 0; i < inv->nracks; i++)
        hvf_fleet_rack_ensure(f, inv->racks[i].zone, inv->racks[i].name);
    for (i = 0; i < inv->nhosts; i++) {
        hvf_error why = HVF_ERROR_INIT;

        HVF_ASSERT(hvf_fleet_add_host(f, &inv->hosts[i], &why) == (int32_t)i);
    }
    for (i = 0; i < inv->nservices; i++) {
        hvf_error why = HVF_ERROR_INIT;

        HVF_ASSERT(hvf_fleet_add_service(f, &inv->services[i], &why) == (int32_t)i);
    }
    for (i = 0; i < inv->nservices; i++) {
        for (size_t k = 0; k < HVF_SERVICE_REL_LAST; k++) {
            for (size_t r = 0; r < inv->services[i].nrel[k]; r++) {
                hvf_error why = HVF_ERROR_INIT;

                HVF_ASSERT(hvf_fleet_service_relate(f, (int32_t)i, (hvf_service_rel)k,
                                                    inv->services[i].rel[k][r], &why) == 0);
            }
        }
    }
    json_array_foreach(vms, i, rec)
    {
        const char *name = json_string_value(json_object_get(rec, "name"));
        hvf_error why = HVF_ERROR_INIT;
        hvf_vm proto;
        int32_t iv = -1;

        if (json_object_get(rec, "spec")) {
            if (world_defined_vm(p, f, rec, &proto, err) < 0)
                return -1;
        } else {
            iv = name ? hvf_fleet_find_vm(inv, name) : -1;
            if (iv < 0 || p->inv_vm_at[iv] >= 0)
                return world_fail(p, err, "a VM is neither in the inventory nor defined, or twice");
            proto = inv->vms[iv];
        }
        /* what is, even over capacity, as an inventory records it */
        if (hvf_fleet_add_vm(f, &proto, HVF_OVERCOMMIT, &why) < 0)
            return world_fail(p, err, "a defined VM's name is invalid or taken");
        p->vm_inv[i] = iv;
        if (iv >= 0)
            p->inv_vm_at[iv] = (int32_t)i;
    }
    return 0;
}

/* p->fleet, the per-object arrays and the twin, from the world @w (NULL: the inventory). */
static int
world_build(sd_priv *p, json_t *w, hvf_error *err)
{
    int rc = w ? world_check_head(p, w, err) : 0;

    if (rc == 0)
        rc = world_compose(p, w ? json_object_get(w, "vms") : NULL, err);
    if (rc == 0) {
        world_arrays_init(p);
        if (w)
            rc = world_load(p, w, err);
    }
    if (rc == 0)
        rc = sd_twin_build(p, err);
    free(p->restore_hs);
    free(p->restore_vs);
    p->restore_hs = p->restore_vs = NULL;
    p->dirty = true;
    return rc;
}

int
sd_world_open(sd_priv *p, hvf_error *err)
{
    hvf_diags diags;
    json_t *w = NULL;
    int rc = 0;

    hvf_diags_init(&diags);
    p->inv = p->inv_path ? hvf_inventory_load(p->inv_path, &diags, err) : sd_builtin_fleet(err);
    if (!p->inv) {
        if (diags.n)
            hvf_error_set(err, HVF_ERR_INVALID, "%s", diags.lines[0]);
        hvf_diags_clear(&diags);
        return -1;
    }
    hvf_diags_clear(&diags);
    if (p->dev_path) {
        size_t len;
        HVF_AUTOFREE char *text = hvf_text_read_file(p->dev_path, SD_MAX_FILE, &len, err);
        long n;

        if (!text)
            return -1;
        n = hvf_sim_deviations_parse(p->dev_path, text, len, p->inv, &p->devs, err);
        if (n < 0)
            return -1;
        p->ndevs = (size_t)n;
    }
    hvf_inventory_fingerprint(p->inv, p->fingerprint);
    /* one world per fleet in a state directory: another inventory is another fleet */
    if (!p->world_path && p->state_dir)
        p->world_path = hvf_asprintf("%s/sim-world-%.12s.json", p->state_dir, p->fingerprint);
    if (p->world_path && access(p->world_path, F_OK) == 0) {
        size_t len;
        HVF_AUTOFREE char *text = hvf_text_read_file(p->world_path, SD_MAX_FILE, &len, err);
        json_error_t jerr;

        if (!text)
            return -1;
        w = json_loadb(text, len, 0, &jerr);
        if (!w)
            return world_fail(p, err, "not JSON (a torn write?)");
        world_apply_log(p, w);
    }
    rc = world_build(p, w, err);
    json_decref(w);
    return rc;
}

/* Replaces @path by a rename, without fsync: the world must survive its process being killed
 * (the page cache does), not a power loss, and it is written after every change. */
static int
sd_write_replace(const char *path, const char *text, hvf_error *err)
{
    HVF_AUTOFREE char *tmp = hvf_asprintf("%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "w");
    size_t len = strlen(text);

    bool ok = fp && fwrite(text, 1, len, fp) == len;

    ok = fp && fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "sim world '%s': %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* One host's record, as the world file holds it (inventory names need no escaping:
 * hvf_name_is_valid allows letters, digits, . _ -). */
static void
world_host_rec(sd_priv *p, const hvf_fleet *f, size_t h, hvf_strbuf *one)
{
    hvf_sim_host_state s = hvf_sim_host_state_get(p->sim, (int32_t)h);
    hvf_drv_host_state d = s == HVF_SIM_HOST_ACTIVE         ? HVF_DRV_HOST_ACTIVE
                           : s == HVF_SIM_HOST_EVACUATING    ? HVF_DRV_HOST_DRAINING
                           : s == HVF_SIM_HOST_MAINTENANCE ? HVF_DRV_HOST_MAINTENANCE
                                                            : HVF_DRV_HOST_DOWN;

    hvf_strbuf_printf(one, "{\"name\":\"%s\",\"state\":\"%s\",\"maintenance_until_us\":%" PRId64
                           ",\"maintenance_factor\":%.17g,\"change\":",
                      f->hosts[h].name, hvf_drv_host_state_names[d], p->maint_until[h],
                      p->maint_factor[h]);
    hvf_strbuf_quote(one, p->change[h]);
    hvf_strbuf_printf(one, ",\"apply_until_us\":%" PRId64 ",\"rollback\":%s,"
                           "\"change_breaks\":%s,\"applies\":%u",
                      p->apply_until[h], p->applying_rollback[h] ? "true" : "false",
                      p->change_breaks[h] ? "true" : "false", p->applies[h]);
    if (!sd_reachable(p, (int32_t)h)) /* a controller partition (INT64_MAX: to the end) */
        hvf_strbuf_printf(one, ",\"unreachable_until_us\":%" PRId64, p->unreach_until[h]);
    hvf_strbuf_puts(one, "}");
}

/* @v's dirty rate as the inventory or its definition gives it (deviations change it). */
static double
world_base_dirty(const sd_priv *p, size_t v)
{
    return p->vm_inv[v] >= 0 ? p->inv->vms[p->vm_inv[v]].dirty_bytes_per_s
                             : p->fleet->vms[v].dirty_bytes_per_s;
}

/* Brings each VM's record up to date; only the VMs that changed are formatted again. A VM
 * defined through the driver carries its spec (world_defined_vm reads it). */
static void
world_vm_recs(sd_priv *p, const hvf_fleet *f)
{
    for (size_t v = 0; v < f->nvms; v++) {
        int32_t h = hvf_sim_vm_host(p->sim, (int32_t)v);
        hvf_sim_vm_state vst = hvf_sim_vm_state_get(p->sim, (int32_t)v);
        /* 0 running, 1 stopped, 2 crashed (kept only when nothing in the twin restarts it) */
        int8_t stopped = vst == HVF_SIM_VM_STOPPED                               ? 1
                         : vst == HVF_SIM_VM_CRASHED && p->controller_restarts ? 2
                                                                                : 0;
        /* dirty rates and planned failures come from deviations, which mark it anew */
        bool odd = p->fleet->vms[v].dirty_bytes_per_s != world_base_dirty(p, v) || p->fail_next[v];
        hvf_strbuf one = HVF_STRBUF_INIT;

        if (!odd && p->vm_rec[v] && p->vm_rec_host[v] == h && p->vm_rec_state[v] == stopped)
            continue;
        hvf_strbuf_printf(&one, "{\"name\":\"%s\",\"host\":\"%s\",\"state\":\"%s\"",
                          f->vms[v].name, h >= 0 ? f->hosts[h].name : "",
                          stopped == 2 ? "crashed" : stopped ? "stopped" : "running");
        if (p->fleet->vms[v].dirty_bytes_per_s != world_base_dirty(p, v))
            hvf_strbuf_printf(&one, ",\"dirty\":%.17g", p->fleet->vms[v].dirty_bytes_per_s);
        if (p->fail_next[v])
            hvf_strbuf_puts(&one, ",\"fail_next\":true");
        if (p->vm_inv[v] < 0) {
            const hvf_vm *d = &p->fleet->vms[v];

            hvf_strbuf_printf(&one,
                              ",\"spec\":{\"mem_mib\":%" PRIu64 ",\"vcpus\":%" PRIu32
                              ",\"dirty_bytes_per_s\":%.17g,\"service\":\"%s\","
                              "\"migratable\":%s%s}",
                              d->mem_mib, d->vcpus, world_base_dirty(p, v),
                              d->service >= 0 ? p->fleet->services[d->service].name : "",
                              d->migratable ? "true" : "false",
                              !d->ha_set ? "" : d->ha ? ",\"ha\":true" : ",\"ha\":false");
        }
        hvf_strbuf_puts(&one, "}");
        free(p->vm_rec[v]);
        p->vm_rec[v] = hvf_strbuf_steal(&one);
        p->vm_rec_host[v] = h;
        p->vm_rec_state[v] = odd ? -1 : stopped;
    }
}

/* The jobs not forgotten (those running and those whose end the caller has not recorded). */
static void
world_jobs(sd_priv *p, hvf_strbuf *sb)
{
    hvf_strbuf_puts(sb, "[");
    for (size_t i = 0, n = 0; i < p->njobs; i++) {
        const sd_job *j = &p->jobs[i];

        if (j->forgotten)
            continue;
        hvf_strbuf_printf(sb,
                          "%s{\"id\":%" PRId64 ",\"vm\":%d,\"source\":%d,\"target\":%d,"
                          "\"state\":\"%s\",\"started_us\":%" PRId64 ",\"ended_us\":%" PRId64
                          ",\"downtime_us\":%" PRId64 ",\"transferred\":%" PRIu64
                          ",\"postcopy_allowed\":%s,\"auto_converge\":%s,"
                          "\"max_bytes_per_s\":%.17g,\"downtime_limit_us\":%" PRId64
                          ",\"fail_at_us\":%" PRId64 ",\"error\":",
                          n++ ? "," : "", j->id, j->vm, j->src, j->dst,
                          hvf_job_state_names[j->state], j->started_us, j->ended_us,
                          j->downtime_us, j->transferred, j->postcopy_allowed ? "true" : "false",
                          j->auto_converge ? "true" : "false", j->max_bytes_per_s,
                          j->downtime_limit_us, j->fail_at_us);
        hvf_strbuf_quote(sb, j->error);
        hvf_strbuf_puts(sb, "}");
    }
    hvf_strbuf_puts(sb, "]");
}

#define SD_LOG_MAX_LINES 256

/* Brings the records up to date and appends the world to @sb: whole (a snapshot, without its
 * schema and fingerprint) or what changed since the files last got it (a log line). */
static void
world_format(sd_priv *p, bool full, hvf_strbuf *sb)
{
    const hvf_fleet *f = hvf_sim_fleet(p->sim);

    if (!p->host_rec) {
        p->host_rec = hvf_calloc(f->nhosts + 1, sizeof(char *));
        p->host_rec_sent = hvf_calloc(f->nhosts + 1, sizeof(char *));
        p->vm_rec_sent = hvf_calloc(f->nvms + 1, sizeof(char *));
    }
    if (!p->host_rec_key)
        p->host_rec_key = hvf_calloc(f->nhosts + 1, sizeof(*p->host_rec_key));
    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_strbuf one = HVF_STRBUF_INIT;
        sd_host_key key;

        /* what the record is made of: a host that did not change is not formatted again (a
         * save per change, 10,000 hosts) */
        memset(&key, 0, sizeof(key));
        key.state = (int)hvf_sim_host_state_get(p->sim, (int32_t)h);
        key.maint_until = p->maint_until[h];
        key.maint_factor = p->maint_factor[h];
        key.apply_until = p->apply_until[h];
        key.unreach_until = p->unreach_until[h];
        key.applies = p->applies[h];
        key.rollback = p->applying_rollback[h];
        key.breaks = p->change_breaks[h];
        memcpy(key.change, p->change[h], sizeof(key.change));
        if (p->host_rec[h] && memcmp(&key, &p->host_rec_key[h], sizeof(key)) == 0)
            continue;
        p->host_rec_key[h] = key;
        world_host_rec(p, f, h, &one);
        free(p->host_rec[h]);
        p->host_rec[h] = hvf_strbuf_steal(&one);
    }
    world_vm_recs(p, f);
    hvf_strbuf_printf(sb,
                      "{\"%s\":%" PRIu64 ",\"now_us\":%" PRId64
                      ",\"deviations_applied\":%zu,\"next_job\":%zu,\"hosts\":[",
                      full ? "seq" : "log_seq", p->seq, p->base_us + hvf_sim_now(p->sim),
                      p->next_dev, p->njobs);
    for (size_t h = 0, n = 0; h < f->nhosts; h++) {
        if (!full && p->host_rec_sent[h] && strcmp(p->host_rec_sent[h], p->host_rec[h]) == 0)
            continue;
        if (full)
            hvf_strbuf_printf(sb, "%s%s", n++ ? "," : "", p->host_rec[h]);
        else
            hvf_strbuf_printf(sb, "%s{\"i\":%zu,\"r\":%s}", n++ ? "," : "", h, p->host_rec[h]);
    }
    hvf_strbuf_puts(sb, "],\"vms\":[");
    for (size_t v = 0, n = 0; v < f->nvms; v++) {
        if (!full && p->vm_rec_sent[v] == p->vm_rec[v])
            continue;
        if (n++)
            hvf_strbuf_add(sb, ",", 1);
        if (!full)
            hvf_strbuf_printf(sb, "{\"i\":%zu,\"r\":", v);
        hvf_strbuf_puts(sb, p->vm_rec[v]);
        if (!full)
            hvf_strbuf_puts(sb, "}");
    }
    hvf_strbuf_puts(sb, "],\"jobs\":");
    world_jobs(p, sb);
}

/* The world now, whole, as its file would hold it. */
static json_t *
world_json_now(sd_priv *p)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    json_error_t jerr;
    json_t *w;

    world_format(p, true, &sb);
    hvf_strbuf_printf(&sb, ",\"schema\":\"%s\",\"inventory_fingerprint\":\"%s\"}", SD_WORLD_SCHEMA,
                      p->fingerprint);
    w = json_loadb(sb.buf, sb.len, 0, &jerr);
    HVF_ASSERT(w); /* written by world_format */
    hvf_strbuf_clear(&sb);
    return w;
}

/*
 * The world is a snapshot (written whole by rename) and a log beside it (WORLD.log) of what
 * changed since, one line a save: a save after an event appends the few hosts, VMs and jobs
 * that changed instead of writing every VM again, and every SD_LOG_MAX_LINES lines (and first,
 * in each process) a new snapshot replaces both. Lines carry a sequence number; the snapshot
 * says up to which one it holds, so a log left by a kill between the two is skipped.
 */
int
sd_world_save(sd_priv *p, hvf_error *err)
{
    hvf_strbuf sb = p->world_text; /* its room kept from one save to the next */
    HVF_AUTOFREE char *log_path = NULL;
    const hvf_fleet *f;
    bool full;
    int rc = 0;

    if (!p->world_path || !p->dirty)
        return 0;
    /* a controller that no longer leads: the world file is the leader's now */
    if (p->may_act && !p->may_act(p->may_act_ctx))
        return 0;
    f = hvf_sim_fleet(p->sim);
    full = !p->snapshot_written || p->log_lines >= SD_LOG_MAX_LINES;
    p->seq++;
    sb.len = 0;
    world_format(p, full, &sb);
    log_path = hvf_asprintf("%s.log", p->world_path);
    if (full) {
        hvf_strbuf_printf(&sb, ",\"schema\":\"%s\",\"inventory_fingerprint\":\"%s\"}",
                          SD_WORLD_SCHEMA, p->fingerprint);
        rc = sd_write_replace(p->world_path, sb.buf, err);
        if (rc == 0 && unlink(log_path) < 0 && errno != ENOENT) {
            hvf_error_set(err, HVF_ERR_IO, "sim world log '%s': %s", log_path, strerror(errno));
            rc = -1;
        }
        p->snapshot_written = rc == 0;
        p->log_lines = 0;
    } else {
        FILE *fp = fopen(log_path, "a");
        bool ok;

        hvf_strbuf_puts(&sb, "}\n");
        ok = fp && fwrite(sb.buf, 1, sb.len, fp) == sb.len;
        ok = fp && fclose(fp) == 0 && ok;
        if (!ok) {
            hvf_error_set(err, HVF_ERR_IO, "sim world log '%s': %s", log_path, strerror(errno));
            rc = -1;
        }
        p->log_lines++;
    }
    p->world_text = sb;
    if (rc < 0)
        return -1;
    /* what the files hold now: the records just written */
    for (size_t h = 0; h < f->nhosts; h++) {
        free(p->host_rec_sent[h]);
        p->host_rec_sent[h] = hvf_strdup(p->host_rec[h]);
    }
    for (size_t v = 0; v < f->nvms; v++)
        p->vm_rec_sent[v] = p->vm_rec[v];
    p->dirty = false;
    return 0;
}

/* Applies the log beside the snapshot @w, line by line, to @w itself; a line torn by a kill
 * ends it, and lines the snapshot already holds are skipped. */
static void
world_apply_log(sd_priv *p, json_t *w)
{
    HVF_AUTOFREE char *log_path = hvf_asprintf("%s.log", p->world_path);
    FILE *fp = fopen(log_path, "r");
    json_int_t snap = json_integer_value(json_object_get(w, "seq"));
    char *line = NULL;
    size_t cap = 0;

    if (!fp)
        return;
    while (getline(&line, &cap, fp) > 0) {
        json_error_t jerr;
        json_t *d = json_loads(line, 0, &jerr);
        json_t *item;
        size_t k;

        if (!d || !json_is_integer(json_object_get(d, "log_seq"))) {
            json_decref(d);
            break;
        }
        if (json_integer_value(json_object_get(d, "log_seq")) > snap) {
            static const char *const scalars[] = {"now_us", "deviations_applied", "next_job",
                                                  "jobs"};
            static const char *const lists[] = {"hosts", "vms"};

            for (size_t i = 0; i < HVF_ARRAY_LEN(scalars); i++) {
                if (json_object_get(d, scalars[i]))
                    json_object_set(w, scalars[i], json_object_get(d, scalars[i]));
            }
            for (size_t i = 0; i < HVF_ARRAY_LEN(lists); i++) {
                json_t *to = json_object_get(w, lists[i]);

                json_array_foreach(json_object_get(d, lists[i]), k, item)
                {
                    json_t *ix = json_object_get(item, "i");

                    if (json_is_integer(ix) && json_integer_value(ix) >= 0 &&
                        (size_t)json_integer_value(ix) < json_array_size(to))
                        json_array_set(to, (size_t)json_integer_value(ix),
                                       json_object_get(item, "r"));
                }
            }
        }
        json_decref(d);
    }
    free(line);
    fclose(fp);
}

hvf_fleet *
sd_world_fleet_now(sd_priv *p)
{
    hvf_fleet *f = hvf_fleet_dup(p->fleet);

    for (size_t v = 0; v < f->nvms; v++) {
        int32_t h = hvf_sim_vm_host(p->sim, (int32_t)v);

        if (h >= 0)
            hvf_drv_vm_place(f, (int32_t)v, h);
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_sim_host_state s = hvf_sim_host_state_get(p->sim, (int32_t)h);

        f->hosts[h].state = s == HVF_SIM_HOST_ACTIVE || s == HVF_SIM_HOST_EVACUATING
                                ? HVF_HOST_STATE_ACTIVE
                            : s == HVF_SIM_HOST_MAINTENANCE ? HVF_HOST_STATE_MAINTENANCE
                                                            : HVF_HOST_STATE_DOWN;
    }
    return f;
}

void
sd_priv_free(sd_priv *p)
{
    if (!p)
        return;
    for (size_t v = 0; p->vm_rec && p->fleet && v < p->fleet->nvms; v++)
        free(p->vm_rec[v]);
    for (size_t h = 0; p->host_rec && p->fleet && h < p->fleet->nhosts; h++) {
        free(p->host_rec[h]);
        free(p->host_rec_sent[h]);
    }
    free(p->host_rec);
    free(p->host_rec_key);
    free(p->host_rec_sent);
    free(p->vm_rec_sent);
    free(p->vm_rec);
    free(p->vm_rec_host);
    free(p->vm_rec_state);
    free(p->vm_inv);
    free(p->inv_vm_at);
    free(p->restore_hs);
    free(p->restore_vs);
    hvf_sim_free(p->sim);
    hvf_fleet_free(p->fleet);
    hvf_fleet_free(p->inv);
    free(p->inv_path);
    free(p->world_path);
    free(p->state_dir);
    free(p->jobs);
    free(p->dev_path);
    free(p->devs);
    free(p->q);
    free(p->maint_until);
    free(p->maint_factor);
    free(p->fail_next);
    free(p->vm_job);
    hvf_strbuf_clear(&p->world_text);
    free(p->change);
    free(p->apply_until);
    free(p->applying_rollback);
    free(p->change_breaks);
    free(p->applies);
    free(p->unreach_until);
    free(p);
}

/* ---- VMs defined and undefined: the world changed, the twin built again ---- */

/* The pointers @p owns as its configuration, set to NULL: another state has them now. */
static void
world_config_drop(sd_priv *p)
{
    static const hvf_strbuf none = HVF_STRBUF_INIT;

    p->inv = NULL;
    p->inv_path = p->world_path = p->state_dir = p->dev_path = NULL;
    p->devs = NULL;
    p->q = NULL;
    p->world_text = none;
}

/*
 * A new state with @p's configuration (inventory, files, deviations, events not yet polled),
 * built from the world @w as sd_world_open builds it from the file. On success @p is freed and
 * the new state owns the configuration; on failure @p is unchanged.
 */
static sd_priv *
world_rebuild(sd_priv *p, json_t *w, hvf_error *err)
{
    sd_priv *n = HVF_NEW(sd_priv);

    n->inv = p->inv;
    n->seed = p->seed;
    n->speed = p->speed;
    n->nic_share = p->nic_share;
    n->inv_path = p->inv_path;
    n->world_path = p->world_path;
    n->state_dir = p->state_dir;
    memcpy(n->fingerprint, p->fingerprint, sizeof(n->fingerprint));
    n->world_text = p->world_text;
    n->seq = p->seq;
    n->dev_path = p->dev_path;
    n->devs = p->devs;
    n->ndevs = p->ndevs;
    n->q = p->q;
    n->nq = p->nq;
    n->qcap = p->qcap;
    n->maint_default_us = p->maint_default_us;
    n->controller_restarts = p->controller_restarts;
    n->may_act = p->may_act;
    n->may_act_ctx = p->may_act_ctx;
    if (world_build(n, w, err) < 0) {
        world_config_drop(n);
        sd_priv_free(n);
        return NULL;
    }
    world_config_drop(p);
    sd_priv_free(p);
    /* the log's lines index the VMs as they were: the next save is a snapshot */
    n->snapshot_written = false;
    return n;
}

/*
 * Refuses (HVF_ERR_CONFLICT) what building the twin again would change: a migration in flight
 * (its model would restart from the first pass) and a host down that a deviation brings back
 * later (it would stay down: the world records that it is down, not until when).
 */
static int
world_can_rebuild(sd_priv *p, const char *what, hvf_error *err)
{
    for (size_t i = 0; i < p->njobs; i++) {
        const sd_job *j = &p->jobs[i];

        if (j->vm >= 0 && !sd_job_ended(j)) {
            hvf_error_set(err, HVF_ERR_CONFLICT,
                          "%s: job %" PRId64 " (VM '%s') is still migrating, and the sim driver "
                          "builds its twin again for a VM more or less: try once no migration "
                          "is in flight",
                          what, j->id, p->fleet->vms[j->vm].name);
            return -1;
        }
    }
    for (size_t h = 0; h < p->fleet->nhosts; h++) {
        const sd_deviation *last = NULL;

        if (hvf_sim_host_state_get(p->sim, (int32_t)h) != HVF_SIM_HOST_DOWN)
            continue;
        for (size_t i = 0; i < p->next_dev; i++) {
            if (p->devs[i].kind == SD_DEV_HOST_CRASH && p->devs[i].host == (int32_t)h)
                last = &p->devs[i];
        }
        if (last && last->for_us >= 0) {
            hvf_error_set(err, HVF_ERR_CONFLICT,
                          "%s: host '%s' is down until a deviation brings it back, and the sim "
                          "driver builds its twin again for a VM more or less: try once it is back",
                          what, p->fleet->hosts[h].name);
            return -1;
        }
    }
    return 0;
}

sd_priv *
sd_world_vm_add(sd_priv *p, const hvf_drv_vm_spec *spec, int32_t host, hvf_error *err)
{
    HVF_AUTOFREE char *what = hvf_asprintf("defining VM '%s'", spec->name);
    json_t *w, *rec;
    sd_priv *n;

    if (world_can_rebuild(p, what, err) < 0)
        return NULL;
    w = world_json_now(p);
    rec = json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:f, s:s, s:b}}", "name", spec->name, "host",
                    p->fleet->hosts[host].name, "state", "stopped", "spec", "mem_mib",
                    (json_int_t)spec->mem_mib, "vcpus", (json_int_t)spec->vcpus,
                    "dirty_bytes_per_s", spec->dirty_mib_per_s * (double)HVF_MIB, "service",
                    spec->service, "migratable", (int)spec->migratable);
    if (spec->ha_set)
        json_object_set_new(json_object_get(rec, "spec"), "ha", json_boolean(spec->ha));
    json_array_append_new(json_object_get(w, "vms"), rec);
    n = world_rebuild(p, w, err);
    json_decref(w);
    if (!n)
        p->snapshot_written = false; /* its records were formatted anew: write them all */
    return n;
}

sd_priv *
sd_world_vm_remove(sd_priv *p, int32_t vm, hvf_error *err)
{
    HVF_AUTOFREE char *what = hvf_asprintf("undefining VM '%s'", p->fleet->vms[vm].name);
    json_t *w, *jobs;
    sd_priv *n;

    if (world_can_rebuild(p, what, err) < 0)
        return NULL;
    w = world_json_now(p);
    json_array_remove(json_object_get(w, "vms"), (size_t)vm);
    /* its jobs (all ended) go with it; the VMs after it move up one */
    jobs = json_object_get(w, "jobs");
    for (size_t i = json_array_size(jobs); i-- > 0;) {
        json_t *j = json_array_get(jobs, i);
        json_int_t v = json_integer_value(json_object_get(j, "vm"));

        if (v == vm)
            json_array_remove(jobs, i);
        else if (v > vm)
            json_object_set_new(j, "vm", json_integer(v - 1));
    }
    n = world_rebuild(p, w, err);
    json_decref(w);
    if (!n)
        p->snapshot_written = false; /* its records were formatted anew: write them all */
    return n;
}
