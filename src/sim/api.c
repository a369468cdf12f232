/* SPDX-License-Identifier: MIT */
/* The controller API of the twin: queries and actions a scheduler or planner calls. */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

int64_t
hvf_sim_now(const hvf_sim *sim)
{
    return sim->now_us;
}

int64_t
hvf_sim_end(const hvf_sim *sim)
{
    return sim->p.duration_us;
}

const hvf_fleet *
hvf_sim_fleet(const hvf_sim *sim)
{
    return sim->fleet;
}

const hvf_sim_params *
hvf_sim_params_get(const hvf_sim *sim)
{
    return &sim->p;
}

hvf_sim_host_state
hvf_sim_host_state_get(const hvf_sim *sim, int32_t host)
{
    return sim->hosts[host].state;
}

bool
hvf_sim_host_is_evacuating(const hvf_sim *sim, int32_t host)
{
    return sim->hosts[host].state == HVF_SIM_HOST_EVACUATING;
}

uint64_t
hvf_sim_host_free_mib(const hvf_sim *sim, int32_t host, bool count_claims)
{
    const hvf_host *h = &sim->fleet->hosts[host];
    const sim_host *sh = &sim->hosts[host];
    double usable = (double)hvf_host_usable(h).mem_mib;
    double taken = (double)h->used.mem_mib + sim_ext_host_mem(sim, host);

    if (count_claims) {
        taken += (double)h->claimed.mem_mib;
        for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in) {
            if (!sim->migs[id].claimed)
                taken += (double)sim->fleet->vms[sim->migs[id].vm].mem_mib;
        }
    } else {
        for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in)
            taken += sim_mig_arrived_bytes(sim, &sim->migs[id]) / (double)HVF_MIB;
    }
    return usable > taken ? (uint64_t)floor(usable - taken) : 0;
}

double
hvf_sim_host_memory_ratio(const hvf_sim *sim, int32_t host)
{
    return sim_host_ratio(sim, host);
}

void
hvf_sim_host_migrations(const hvf_sim *sim, int32_t host, uint32_t *in, uint32_t *out)
{
    if (in)
        *in = sim->hosts[host].n_in;
    if (out)
        *out = sim->hosts[host].n_out;
}

size_t
hvf_sim_host_vms(const hvf_sim *sim, int32_t host, const int32_t **vms)
{
    *vms = sim->hosts[host].vms;
    return sim->hosts[host].nvms;
}

int32_t
hvf_sim_vm_host(const hvf_sim *sim, int32_t vm)
{
    return sim->fleet->vms[vm].host;
}

hvf_sim_vm_state
hvf_sim_vm_state_get(const hvf_sim *sim, int32_t vm)
{
    return sim->vms[vm].state;
}

int32_t
hvf_sim_vm_migration(const hvf_sim *sim, int32_t vm)
{
    return sim->vms[vm].mig;
}

uint32_t
hvf_sim_migrations_active(const hvf_sim *sim)
{
    return sim->migs_active;
}

void
hvf_sim_get_stats(const hvf_sim *sim, hvf_sim_stats *out)
{
    *out = sim->st;
    out->makespan_us = sim->first_window_us >= 0 && sim->last_back_us >= 0
                           ? sim->last_back_us - sim->first_window_us
                           : 0;
}

static bool
api_host_ok(const hvf_sim *sim, int32_t host, hvf_error *err)
{
    if (host < 0 || (size_t)host >= sim->fleet->nhosts) {
        hvf_error_set(err, HVF_ERR_INVALID, "host index %d does not exist", host);
        return false;
    }
    return true;
}

static bool
api_vm_ok(const hvf_sim *sim, int32_t vm, hvf_error *err)
{
    if (vm < 0 || (size_t)vm >= sim->fleet->nvms) {
        hvf_error_set(err, HVF_ERR_INVALID, "VM index %d does not exist", vm);
        return false;
    }
    return true;
}

int
hvf_sim_set_host_state(hvf_sim *sim, int32_t host, hvf_sim_host_state state, hvf_error *err)
{
    sim_host *sh;
    const char *name;

    if (!api_host_ok(sim, host, err))
        return -1;
    sh = &sim->hosts[host];
    name = sim->fleet->hosts[host].name;
    if (state == sh->state)
        return 0;
    if (state == HVF_SIM_HOST_EVACUATING && sh->state == HVF_SIM_HOST_ACTIVE) {
        sim_host_set_state(sim, host, state);
        sim_log(sim, "evacuate_start", host, -1, -1, -1, NULL, NULL);
        sim_check_evacuated(sim, host);
        return 0;
    }
    if (state == HVF_SIM_HOST_ACTIVE && sh->state == HVF_SIM_HOST_EVACUATING) {
        sim_host_set_state(sim, host, state);
        sim_log(sim, "evacuate_cancel", host, -1, -1, -1, NULL, NULL);
        return 0;
    }
    if (state == HVF_SIM_HOST_ACTIVE && sh->state == HVF_SIM_HOST_QUARANTINED) {
        if (sh->nic_mismatch) {
            hvf_error_set(err, HVF_ERR_CONFLICT,
                          "host '%s' stays out of service: its NICs do not match the inventory",
                          name);
            return -1;
        }
        sim_host_set_state(sim, host, state);
        return 0;
    }
    hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' cannot go from %s to %s", name,
                  hvf_sim_host_state_names[sh->state], hvf_sim_host_state_names[state]);
    return -1;
}

int
hvf_sim_begin_maintenance(hvf_sim *sim, int32_t host, int64_t duration_us, hvf_error *err)
{
    sim_host *sh;
    const sim_host *csh;

    if (!api_host_ok(sim, host, err))
        return -1;
    sh = &sim->hosts[host];
    csh = sh;
    if (sh->state != HVF_SIM_HOST_ACTIVE && sh->state != HVF_SIM_HOST_EVACUATING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s", sim->fleet->hosts[host].name,
                      hvf_sim_host_state_names[sh->state]);
        return -1;
    }
    if (csh->n_in || csh->n_out) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' has %u migrations in flight",
                      sim->fleet->hosts[host].name, csh->n_in + csh->n_out);
        return -1;
    }
    for (size_t i = 0; i < sh->nvms; i++) {
        if (sim->vms[sh->vms[i]].state != HVF_SIM_VM_STOPPED) {
            hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' still runs VM '%s'",
                          sim->fleet->hosts[host].name, sim->fleet->vms[sh->vms[i]].name);
            return -1;
        }
    }
    sim_host_set_state(sim, host, HVF_SIM_HOST_MAINTENANCE);
    sim_log(sim, "maintenance_start", host, -1, -1, -1, NULL, NULL);
    sim_push(sim, sim->now_us + (duration_us > 0 ? duration_us : 0), SIM_CLASS_CONTROL,
             SIM_EV_MAINT_END, host, 0, 0);
    return 0;
}

int
hvf_sim_stop_vm(hvf_sim *sim, int32_t vm, hvf_error *err)
{
    hvf_resources r;

    if (!api_vm_ok(sim, vm, err))
        return -1;
    if (sim->vms[vm].state != HVF_SIM_VM_RUNNING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s, not running", sim->fleet->vms[vm].name,
                      hvf_sim_vm_state_names[sim->vms[vm].state]);
        return -1;
    }
    r = hvf_vm_resources(&sim->fleet->vms[vm]);
    HVF_ASSERT(hvf_host_release_used(&sim->fleet->hosts[sim->fleet->vms[vm].host], &r, err) == 0);
    sim->vms[vm].placed = false;
    sim_vm_set_state(sim, vm, HVF_SIM_VM_STOPPED);
    sim_log(sim, "vm_stopped", sim->fleet->vms[vm].host, vm, -1, -1, NULL, NULL);
    sim_check_evacuated(sim, sim->fleet->vms[vm].host);
    return 0;
}

/* Places a VM that holds no memory on @host and boots it. */
void
sim_vm_boot(hvf_sim *sim, int32_t vm, int32_t host, const char *type, const char *detail)
{
    hvf_vm *v = &sim->fleet->vms[vm];
    hvf_resources r = hvf_vm_resources(v);
    hvf_error err = HVF_ERROR_INIT;

    HVF_ASSERT(!sim->vms[vm].placed);
    if (v->host != host) {
        sim_host_remove_vm(sim, v->host, vm);
        v->host = host;
        sim_host_add_vm(sim, host, vm);
    }
    HVF_ASSERT(hvf_host_use(&sim->fleet->hosts[host], &r, HVF_OVERCOMMIT, &err) == 0);
    sim->vms[vm].placed = true;
    sim_vm_set_state(sim, vm, HVF_SIM_VM_RUNNING);
    sim_log(sim, type, host, vm, -1, -1, detail, NULL);
}

int
hvf_sim_start_vm(hvf_sim *sim, int32_t vm, int32_t host, hvf_error *err)
{
    hvf_sim_host_state hs;

    if (!api_vm_ok(sim, vm, err) || !api_host_ok(sim, host, err))
        return -1;
    if (sim->vms[vm].state != HVF_SIM_VM_STOPPED && sim->vms[vm].state != HVF_SIM_VM_CRASHED) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s, not stopped or crashed",
                      sim->fleet->vms[vm].name, hvf_sim_vm_state_names[sim->vms[vm].state]);
        return -1;
    }
    hs = sim->hosts[host].state;
    if (hs != HVF_SIM_HOST_ACTIVE && hs != HVF_SIM_HOST_EVACUATING) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: it runs no VMs",
                      sim->fleet->hosts[host].name, hvf_sim_host_state_names[hs]);
        return -1;
    }
    /* a crashed VM started by a controller: the platform's own restart is called off */
    sim->vms[vm].restart_ver++;
    sim_vm_boot(sim, vm, host, "vm_started", NULL);
    return 0;
}

void
hvf_sim_add_timer(hvf_sim *sim, int64_t t_us, int64_t tag)
{
    sim_push(sim, t_us, SIM_CLASS_CONTROL, SIM_EV_TIMER, -1, 0, tag);
}

void
hvf_sim_log(hvf_sim *sim, const char *type, int32_t host, int32_t vm, const char *detail)
{
    sim_log(sim, type, host, vm, -1, -1, detail, NULL);
}

int
hvf_sim_check(const hvf_sim *sim, bool allow_overcommit, hvf_error *err)
{
    const hvf_fleet *f = sim->fleet;
    HVF_AUTOFREE hvf_resources *used = hvf_calloc(f->nhosts + 1, sizeof(hvf_resources));
    HVF_AUTOFREE hvf_resources *claimed = hvf_calloc(f->nhosts + 1, sizeof(hvf_resources));

    for (size_t v = 0; v < f->nvms; v++) {
        if (!sim->vms[v].placed)
            continue;
        used[f->vms[v].host].mem_mib += f->vms[v].mem_mib;
        used[f->vms[v].host].vcpus += f->vms[v].vcpus;
    }
    for (size_t i = 0; i < sim->nmigs; i++) {
        const sim_mig *m = &sim->migs[i];
        if (!m->active || !m->claimed)
            continue;
        claimed[m->dst].mem_mib += f->vms[m->vm].mem_mib;
        claimed[m->dst].vcpus += f->vms[m->vm].vcpus;
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        const hvf_host *host = &f->hosts[h];
        hvf_resources u = hvf_host_usable(host);
        if (used[h].mem_mib != host->used.mem_mib || used[h].vcpus != host->used.vcpus ||
            claimed[h].mem_mib != host->claimed.mem_mib ||
            claimed[h].vcpus != host->claimed.vcpus) {
            hvf_error_set(err, HVF_ERR_INTERNAL,
                          "host '%s' accounts %" PRIu64 " MiB used + %" PRIu64
                          " MiB claimed; its VMs hold %" PRIu64 " + %" PRIu64 " MiB",
                          host->name, host->used.mem_mib, host->claimed.mem_mib, used[h].mem_mib,
                          claimed[h].mem_mib);
            return -1;
        }
        if (!allow_overcommit && host->used.mem_mib + host->claimed.mem_mib > u.mem_mib) {
            hvf_error_set(err, HVF_ERR_CAPACITY,
                          "host '%s' holds %" PRIu64 " MiB used + %" PRIu64
                          " MiB claimed over %" PRIu64 " MiB usable",
                          host->name, host->used.mem_mib, host->claimed.mem_mib, u.mem_mib);
            return -1;
        }
    }
    return 0;
}
