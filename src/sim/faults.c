/* SPDX-License-Identifier: MIT */
/*
 * Faults and the platform's reactions: host crashes and reboots (possibly coming back with
 * renamed NICs, out of service until the inventory matches), link bandwidth drops, dirty-rate
 * changes; VMs killed or crashed are restarted by the platform after vm_restart_delay, on their
 * host if it runs, else on the active host with the most free memory.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

void
sim_host_crash(hvf_sim *sim, int32_t host, const char *why, int64_t back_after_us,
               bool renamed_nics, int64_t fixed_after_us)
{
    sim_host *sh = &sim->hosts[host];
    hvf_sim_event ev = {HVF_SIM_EV_HOST_CRASH, sim->now_us, host, -1, -1, -1, -1, 0, false};

    if (sh->state == HVF_SIM_HOST_DOWN)
        return;
    sim_log(sim, "host_crash", host, -1, -1, -1, why, NULL);
    sim->st.hosts_crashed++;
    /* down first, so controllers reacting to the aborts below do not pick this host */
    sim_host_set_state(sim, host, HVF_SIM_HOST_DOWN);
    while (sh->mig_in >= 0)
        sim_mig_abort(sim, sh->mig_in, "target host crashed", false);
    while (sh->mig_out >= 0) {
        int32_t vm = sim->migs[sh->mig_out].vm;
        sim_mig_abort(sim, sh->mig_out, "source host crashed", true);
        sim->st.vms_crashed++;
        sim_vm_down(sim, vm, HVF_SIM_VM_CRASHED, "vm_crashed", why);
    }
    for (size_t i = 0; i < sh->nvms; i++) {
        int32_t vm = sh->vms[i];
        if (sim->vms[vm].state == HVF_SIM_VM_RUNNING) {
            sim->st.vms_crashed++;
            sim_vm_down(sim, vm, HVF_SIM_VM_CRASHED, "vm_crashed", why);
        }
    }
    sh->swap_mib = 0;
    sh->io_util = 0;
    sh->io_saturated = sh->swapping = sh->hung = sh->over_committed = false;
    sh->hung_ver++;
    sh->pressure_ver++;
    sh->up_ver++;
    sh->pending_rename = renamed_nics;
    sh->fixed_after_us = fixed_after_us;
    if (back_after_us >= 0)
        sim_push(sim, sim->now_us + back_after_us, SIM_CLASS_HOST, SIM_EV_HOST_UP, host, sh->up_ver,
                 0);
    sim_notify(sim, &ev);
}

void
sim_on_host_up(hvf_sim *sim, int32_t host, uint32_t ver)
{
    sim_host *sh = &sim->hosts[host];
    hvf_sim_event ev = {HVF_SIM_EV_HOST_IN_SERVICE, sim->now_us, host, -1, -1, -1, -1, 0, false};

    if (sh->up_ver != ver || sh->state != HVF_SIM_HOST_DOWN)
        return;
    if (sh->pending_rename) {
        sh->pending_rename = false;
        sh->nic_mismatch = true;
        sim_host_set_state(sim, host, HVF_SIM_HOST_QUARANTINED);
        sim_log(sim, "host_nic_mismatch", host, -1, -1, -1,
                "NIC names differ from the inventory: kept out of service", NULL);
        if (sh->fixed_after_us >= 0)
            sim_push(sim, sim->now_us + sh->fixed_after_us, SIM_CLASS_HOST, SIM_EV_HOST_FIXED, host,
                     sh->up_ver, 0);
        return;
    }
    sim_host_set_state(sim, host, HVF_SIM_HOST_ACTIVE);
    sim_log(sim, "host_up", host, -1, -1, -1, NULL, NULL);
    sim_notify(sim, &ev);
}

void
sim_on_host_fixed(hvf_sim *sim, int32_t host, uint32_t ver)
{
    sim_host *sh = &sim->hosts[host];
    hvf_sim_event ev = {HVF_SIM_EV_HOST_IN_SERVICE, sim->now_us, host, -1, -1, -1, -1, 0, false};

    if (sh->state != HVF_SIM_HOST_QUARANTINED || sh->up_ver != ver)
        return;
    sh->nic_mismatch = false;
    sim_host_set_state(sim, host, HVF_SIM_HOST_ACTIVE);
    sim_log(sim, "host_up", host, -1, -1, -1, "inventory matches its NICs again", NULL);
    sim_notify(sim, &ev);
}

int
hvf_sim_crash_vm(hvf_sim *sim, int32_t vm, const char *why, hvf_error *err)
{
    hvf_sim_vm_state st;

    if (vm < 0 || (size_t)vm >= sim->fleet->nvms) {
        hvf_error_set(err, HVF_ERR_INVALID, "VM index %d does not exist", vm);
        return -1;
    }
    st = sim->vms[vm].state;
    if (st != HVF_SIM_VM_RUNNING && st != HVF_SIM_VM_MIGRATING && st != HVF_SIM_VM_PAUSED) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "VM '%s' is %s, not running", sim->fleet->vms[vm].name,
                      hvf_sim_vm_state_names[st]);
        return -1;
    }
    sim->st.vms_crashed++;
    sim_vm_down(sim, vm, HVF_SIM_VM_CRASHED, "vm_crashed", why);
    sim_check_evacuated(sim, sim->fleet->vms[vm].host);
    return 0;
}

int
hvf_sim_repair_host(hvf_sim *sim, int32_t host, const char *why, hvf_error *err)
{
    sim_host *sh;
    hvf_sim_event ev = {HVF_SIM_EV_HOST_IN_SERVICE, sim->now_us, host, -1, -1, -1, -1, 0, false};

    if (host < 0 || (size_t)host >= sim->fleet->nhosts) {
        hvf_error_set(err, HVF_ERR_INVALID, "host index %d does not exist", host);
        return -1;
    }
    sh = &sim->hosts[host];
    if (sh->state != HVF_SIM_HOST_DOWN && sh->state != HVF_SIM_HOST_QUARANTINED) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "host '%s' is %s: nothing to repair",
                      sim->fleet->hosts[host].name, hvf_sim_host_state_names[sh->state]);
        return -1;
    }
    /* a pending return (reboot timer) or inventory fix goes stale */
    sh->up_ver++;
    sh->pending_rename = false;
    sh->nic_mismatch = false;
    sim_host_set_state(sim, host, HVF_SIM_HOST_ACTIVE);
    sim_log(sim, "host_up", host, -1, -1, -1, why ? why : "repaired", NULL);
    sim_notify(sim, &ev);
    return 0;
}

void
sim_on_vm_restart(hvf_sim *sim, int32_t vm, uint32_t ver)
{
    sim_vm *sv = &sim->vms[vm];
    int32_t host = sim->fleet->vms[vm].host;

    if (sv->restart_ver != ver || sv->state != HVF_SIM_VM_CRASHED)
        return;
    /* where it fits: back on its host, else (unless its disks are local to that host) the host
     * with the most free memory */
    if (sim->hosts[host].state != HVF_SIM_HOST_ACTIVE ||
        hvf_sim_host_free_mib(sim, host, true) < sim->fleet->vms[vm].mem_mib)
        host = sim->p.vm_restart_same_host ? -1 : sim_pick_restart_host(sim, vm);
    if (host < 0) {
        /* nowhere to go yet: the platform tries again */
        sv->restart_ver++;
        sim_push(sim, sim->now_us + sim->p.vm_restart_delay_us, SIM_CLASS_HOST, SIM_EV_VM_RESTART,
                 vm, sv->restart_ver, 0);
        return;
    }
    sim_vm_boot(sim, vm, host, "vm_restarted", NULL);
    {
        hvf_sim_event ev = {HVF_SIM_EV_VM_UP, sim->now_us, host, vm, -1, -1, -1, 0, false};

        sim_notify(sim, &ev);
    }
}

static void
fault_set_link(hvf_sim *sim, int32_t link, double bps, int64_t duration_us)
{
    sim->links[link].cap_bytes_per_s = bps;
    sim_link_mark(sim, link);
    if (duration_us >= 0)
        sim_push(sim, sim->now_us + duration_us, SIM_CLASS_FAULT, SIM_EV_LINK_RESTORE, link, 0, 0);
}

void
sim_on_link_restore(hvf_sim *sim, int32_t link)
{
    sim->links[link].cap_bytes_per_s = sim->links[link].base_bytes_per_s;
    sim_link_mark(sim, link);
    sim_log(sim, "link_restored", -1, -1, -1, -1, NULL, NULL);
}

void
sim_fault_fire(hvf_sim *sim, int32_t idx)
{
    const hvf_sim_fault *f = &sim->faults[idx];
    char detail[160], rate[32];

    switch (f->type) {
    case HVF_SIM_FAULT_HOST_CRASH:
        sim_log(sim, "fault", f->host, -1, -1, -1, "host_crash", NULL);
        sim_host_crash(sim, f->host, "injected crash", f->duration_us, false, -1);
        break;
    case HVF_SIM_FAULT_HOST_REBOOT:
        snprintf(detail, sizeof(detail), "reboot%s",
                 f->renamed_nics ? "; comes back with renamed NICs" : "");
        sim_log(sim, "fault", f->host, -1, -1, -1, "host_reboot", NULL);
        sim_log(sim, "host_reboot", f->host, -1, -1, -1, detail, NULL);
        sim_host_crash(sim, f->host, "host rebooted", f->duration_us, f->renamed_nics,
                       f->fixed_after_us);
        break;
    case HVF_SIM_FAULT_LINK_DROP: {
        hvf_units_format_rate(f->bytes_per_s, rate, sizeof(rate));
        snprintf(detail, sizeof(detail), "link_drop to %s (%s)", rate, hvf_sim_dir_names[f->dir]);
        sim_log(sim, "fault", f->host, -1, -1, -1, detail, NULL);
        if (f->host >= 0) {
            if (f->dir != HVF_SIM_DIR_IN)
                fault_set_link(sim, sim->hosts[f->host].link_out, f->bytes_per_s, f->duration_us);
            if (f->dir != HVF_SIM_DIR_OUT)
                fault_set_link(sim, sim->hosts[f->host].link_in, f->bytes_per_s, f->duration_us);
        } else {
            if (f->dir != HVF_SIM_DIR_IN)
                fault_set_link(sim, sim->rack_link_out[f->rack], f->bytes_per_s, f->duration_us);
            if (f->dir != HVF_SIM_DIR_OUT)
                fault_set_link(sim, sim->rack_link_in[f->rack], f->bytes_per_s, f->duration_us);
        }
        break;
    }
    case HVF_SIM_FAULT_DIRTY_RATE: {
        int32_t mig = sim->vms[f->vm].mig;
        hvf_units_format_rate(f->bytes_per_s, rate, sizeof(rate));
        snprintf(detail, sizeof(detail), "dirty_rate %s", rate);
        sim_log(sim, "fault", -1, f->vm, -1, -1, detail, NULL);
        sim->fleet->vms[f->vm].dirty_bytes_per_s = f->bytes_per_s;
        if (mig >= 0) {
            sim_mig_advance_to_now(sim, &sim->migs[mig]);
            sim_mig_model_set_dirty(sim->migs[mig].model,
                                    f->bytes_per_s * sim->hosts[sim->migs[mig].src].speed);
            sim_mig_schedule(sim, mig);
        }
        break;
    }
    case HVF_SIM_FAULT_SERVICE_DOWN:
        snprintf(detail, sizeof(detail), "service_down %s", f->service);
        sim_log(sim, "fault", -1, -1, -1, -1, detail, NULL);
        sim_ext_dependency_fault(sim, f);
        break;
    default:
        break;
    }
}
