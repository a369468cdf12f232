/* SPDX-License-Identifier: MIT */
/*
 * Host dynamics: what a host does under load, each a small function with its parameters in the
 * scenario (params: and host_overrides:). A host is re-evaluated when something on it changes
 * (a VM or migration comes or goes, a rate changes), when its memory is predicted to cross a
 * threshold, and every pressure_tick while it swaps.
 *
 *   CPU      demand = sum(vcpus x cpu_load of running guests) + migration_cpu_cores per
 *            migration in or out; a host with demand above its cpus slows its guests and its
 *            migrations by cpus / demand (migration caps are scaled by it).
 *   memory   resident = VMs placed + pages of incoming migrations already arrived. Beyond
 *            physical (memory - reserved) it swaps, up to swap_mib; beyond that the OOM killer
 *            ends the largest guest (the platform restarts it) or, with oom: panic, the host.
 *   IO       swapping makes guests fault pages back: io demand = swapped x swap_io_fraction
 *            per second, io_util = demand / disk_io. At io_util >= 1 guests also slow by
 *            1 / io_util, and tasks block in D state: saturated for hung_task_timeout crashes
 *            the host if hung_task_panic, or leaves it hung (guests unresponsive).
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

static double
dyn_phys_mib(const hvf_host *h)
{
    return (double)(h->mem_mib > h->reserved_mib ? h->mem_mib - h->reserved_mib : 0);
}

double
sim_host_resident_mib(const hvf_sim *sim, int32_t host, double *arriving_unclaimed_mib)
{
    const sim_host *sh = &sim->hosts[host];
    double res = (double)sim->fleet->hosts[host].used.mem_mib + sim_ext_host_mem(sim, host);
    double unclaimed = 0;

    for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in) {
        const sim_mig *m = &sim->migs[id];
        double a = sim_mig_arrived_bytes(sim, m) / (double)HVF_MIB;
        res += a;
        if (!m->claimed)
            unclaimed += a;
    }
    if (arriving_unclaimed_mib)
        *arriving_unclaimed_mib = unclaimed;
    return res;
}

double
sim_host_ratio(const hvf_sim *sim, int32_t host)
{
    const hvf_host *h = &sim->fleet->hosts[host];
    double usable = (double)hvf_host_usable(h).mem_mib;
    double unclaimed = 0;

    sim_host_resident_mib(sim, host, &unclaimed);
    if (usable <= 0)
        return 0;
    return ((double)h->used.mem_mib + (double)h->claimed.mem_mib + unclaimed) / usable;
}

/* CPU demand in cores: guests that run here plus the cost of migrations. */
static double
dyn_cpu_demand(const hvf_sim *sim, int32_t host)
{
    const sim_host *sh = &sim->hosts[host];
    double d = 0;

    for (size_t i = 0; i < sh->nvms; i++) {
        const hvf_vm *v = &sim->fleet->vms[sh->vms[i]];
        hvf_sim_vm_state s = sim->vms[sh->vms[i]].state;
        if (s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING)
            d += v->vcpus * v->cpu_load;
    }
    return d + (sh->n_out + sh->n_in) * sim->p.migration_cpu_cores + sim_ext_host_cpu(sim, host);
}

double
sim_host_cpu_ratio(const hvf_sim *sim, int32_t host)
{
    uint32_t cpus = sim->fleet->hosts[host].cpus;

    return cpus ? sim->hosts[host].cpu_demand / cpus : 0;
}

/* The OOM killer's choice: the largest process, a guest or an incoming migration's qemu.
 * False when there is nothing it can kill (what is left is load beyond the fleet's VMs). */
static bool
dyn_oom_kill(hvf_sim *sim, int32_t host)
{
    sim_host *sh = &sim->hosts[host];
    double best = -1;
    int32_t victim_vm = -1, victim_mig = -1;
    char detail[160];

    for (size_t i = 0; i < sh->nvms; i++) {
        int32_t vm = sh->vms[i];
        hvf_sim_vm_state s = sim->vms[vm].state;
        double size = (double)sim->fleet->vms[vm].mem_mib;
        if ((s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING || s == HVF_SIM_VM_PAUSED) &&
            size > best) {
            best = size;
            victim_vm = vm;
        }
    }
    for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in) {
        double size = sim_mig_arrived_bytes(sim, &sim->migs[id]) / (double)HVF_MIB;
        if (size > best) {
            best = size;
            victim_vm = -1;
            victim_mig = id;
        }
    }
    if (victim_mig >= 0) {
        int32_t vm = sim->migs[victim_mig].vm;
        snprintf(detail, sizeof(detail), "out of memory: killed the incoming qemu (%.0f MiB)",
                 best);
        sim_log(sim, "vm_oom_killed", host, vm, -1, -1, detail, ",\"incoming\":true");
        sim_mig_abort(sim, victim_mig, "target out of memory", false);
    } else if (victim_vm >= 0) {
        snprintf(detail, sizeof(detail), "out of memory: killed the largest guest (%.0f MiB)",
                 best);
        sim->st.vms_rebooted++;
        sim_vm_down(sim, victim_vm, HVF_SIM_VM_CRASHED, "vm_oom_killed", detail);
    }
    return victim_mig >= 0 || victim_vm >= 0;
}

/* Next time memory may cross a threshold (physical, IO saturation, swap full), or -1. */
static int64_t
dyn_next_crossing(const hvf_sim *sim, int32_t host, double resident, double phys)
{
    const sim_host *sh = &sim->hosts[host];
    double rate = 0, next = HUGE_VAL;
    double sat_mib = sh->p.disk_io_bytes_per_s / (sim->p.swap_io_fraction * (double)HVF_MIB);
    double th[3] = {phys, phys + fmin(sat_mib, (double)sh->p.swap_mib),
                    phys + (double)sh->p.swap_mib};

    for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in) {
        const sim_mig *m = &sim->migs[id];
        if (m->in_flow && sim_mig_arrived_bytes(sim, m) < m->arrive_bytes)
            rate += m->rate / (double)HVF_MIB;
    }
    if (rate <= 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (th[i] > resident + 1e-6)
            next = fmin(next, th[i]);
    }
    if (!isfinite(next))
        return -1;
    return (int64_t)ceil((next - resident) / rate * 1e6) + 1;
}

void
sim_host_eval(hvf_sim *sim, int32_t host)
{
    sim_host *sh = &sim->hosts[host];
    const hvf_host *h = &sim->fleet->hosts[host];
    double phys = dyn_phys_mib(h);
    double resident, ratio, speed, io_demand;
    int64_t next;
    bool sat;
    char detail[160];

    if (sh->state == HVF_SIM_HOST_DOWN)
        return;
    ratio = sim_host_ratio(sim, host);
    if (ratio > sh->peak_ratio)
        sh->peak_ratio = ratio;
    if (ratio > sim->st.peak_host_memory_ratio)
        sim->st.peak_host_memory_ratio = ratio;
    if (ratio > 1.0 + 1e-9 && !sh->over_committed) {
        sh->over_committed = true;
        snprintf(detail, sizeof(detail), "memory committed %.1f%% of usable", ratio * 100);
        sim_log(sim, "host_overcommit", host, -1, -1, -1, detail, NULL);
        if (!sh->was_over) {
            sh->was_over = true;
            sim->st.hosts_over_committed++;
        }
    } else if (ratio <= 1.0) {
        sh->over_committed = false;
    }

    /* the OOM killer runs until what is resident fits in memory plus swap */
    for (int guard = 0; guard < 1000; guard++) {
        resident = sim_host_resident_mib(sim, host, NULL);
        if (resident <= phys + (double)sh->p.swap_mib + 1e-6)
            break;
        if (sh->p.oom == HVF_SIM_OOM_PANIC) {
            sim_host_crash(sim, host, "out of memory with panic_on_oom", sim->p.host_reboot_us,
                           false, -1);
            return;
        }
        if (!dyn_oom_kill(sim, host))
            break;
        if (sh->state == HVF_SIM_HOST_DOWN)
            return;
    }
    resident = sim_host_resident_mib(sim, host, NULL);
    sh->swap_mib = fmax(0, fmin(resident - phys, (double)sh->p.swap_mib));
    if (sh->swap_mib > 0 && !sh->swapping) {
        snprintf(detail, sizeof(detail), "%.1f MiB beyond physical memory swapped",
                 resident - phys);
        sim_log(sim, "host_swap", host, -1, -1, -1, detail, NULL);
    }
    sh->swapping = sh->swap_mib > 0;

    io_demand = sh->swap_mib * (double)HVF_MIB * sim->p.swap_io_fraction + sim_ext_host_io(sim, host);
    sh->io_util = sh->p.disk_io_bytes_per_s > 0 ? io_demand / sh->p.disk_io_bytes_per_s : 0;
    sat = sh->io_util >= 1.0;
    if (sat && !sh->io_saturated) {
        sh->io_saturated = true;
        sh->io_saturated_since_us = sim->now_us;
        sh->hung_ver++;
        snprintf(detail, sizeof(detail), "swap IO at %.0f%% of the disks", sh->io_util * 100);
        sim_log(sim, "host_io_saturated", host, -1, -1, -1, detail, NULL);
        /* 0 disables the check, as kernel.hung_task_timeout_secs=0 does */
        if (sim->p.hung_task_timeout_us > 0)
            sim_push(sim, sim->now_us + sim->p.hung_task_timeout_us, SIM_CLASS_HOST,
                     SIM_EV_HOST_HUNG, host, sh->hung_ver, 0);
    } else if (!sat && sh->io_saturated) {
        sh->io_saturated = false;
        sh->hung = false;
        sh->hung_ver++;
    }

    sh->cpu_demand = dyn_cpu_demand(sim, host);
    speed = sh->cpu_demand > h->cpus ? (double)h->cpus / sh->cpu_demand : 1.0;
    if (sh->io_util > 1.0)
        speed /= sh->io_util;
    if (fabs(speed - sh->speed) > 1e-9) {
        sh->speed = speed;
        /* migration caps scale with the host's speed: re-share its flows; a slowed guest
         * also dirties its memory more slowly */
        for (int32_t id = sh->mig_out; id >= 0; id = sim->migs[id].next_out) {
            sim_mig *m = &sim->migs[id];
            sim_mig_advance_to_now(sim, m);
            sim_mig_model_set_dirty(m->model, sim->fleet->vms[m->vm].dirty_bytes_per_s * speed);
            sim_mig_schedule(sim, id);
            if (m->in_flow)
                sim_link_mark(sim, m->links[0]);
        }
        for (int32_t id = sh->mig_in; id >= 0; id = sim->migs[id].next_in)
            if (sim->migs[id].in_flow)
                sim_link_mark(sim, sim->migs[id].links[1]);
    }

    sh->pressure_ver++;
    next = dyn_next_crossing(sim, host, resident, phys);
    if (sh->swapping && (next < 0 || next > sim->p.pressure_tick_us))
        next = sim->p.pressure_tick_us;
    if (next > 0)
        sim_push(sim, sim->now_us + next, SIM_CLASS_HOST, SIM_EV_HOST_PRESSURE, host,
                 sh->pressure_ver, 0);
}

void
sim_host_on_hung(hvf_sim *sim, int32_t host, uint32_t ver)
{
    sim_host *sh = &sim->hosts[host];
    char detail[160];

    if (sh->hung_ver != ver || sh->state == HVF_SIM_HOST_DOWN || !sh->io_saturated)
        return;
    snprintf(detail, sizeof(detail), "IO saturated for %.0f s: tasks blocked (hung_task_timeout)",
             (double)(sim->now_us - sh->io_saturated_since_us) / 1e6);
    sim_log(sim, "host_hung_tasks", host, -1, -1, -1, detail, NULL);
    if (sh->p.hung_task_panic) {
        sim_host_crash(sim, host, "hung task panic after IO saturation", sim->p.host_reboot_us,
                       false, -1);
        return;
    }
    if (!sh->hung) {
        sh->hung = true;
        sim->st.hosts_hung++;
    }
}
