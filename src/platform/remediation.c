/* SPDX-License-Identifier: MIT */
/*
 * Monitoring and what handles its alerts (seed 003). Every check_interval, monitoring checks
 * each watched VM: it reads unreachable a VM that does not run, whose host is down, that
 * answers slower than slow_speed (a thrashing guest, a saturated host), or whose app lost a
 * dependency it needs (dependents). After unreachable_after failed checks in a row it asks the
 * orchestrator to redeploy the VM, and asks again every renotify while it stays unreachable; a
 * reachable VM slower than upscale_speed gets an upscale.
 *
 *   per_vm      (as it happened) every request is its own action; the orchestrator runs them in
 *               order as fast as it can (deploys_per_min, and only while its own dependency
 *               serves). Operators pause monitoring by hand operator_pause_after the first host
 *               alert and clean zombies operator_zombies_after it.
 *   correlated  (hvfleet) a failed shared dependency (correlate_on), or more than fleet_share of
 *               the watched VMs turning unreachable within clear_after, opens ONE infrastructure
 *               incident (alert + decision) and pauses per-VM remediation: requests still queue,
 *               de-duplicated by VM, in an action queue with rate limits and cooldowns. The
 *               incident closes (resolved) once the symptom is gone for clear_after; queued
 *               actions are then re-validated when due (a VM that answers again is not touched).
 *               Reconciling desired and actual copies finds zombies and stops them.
 *
 * Alerts in both: a dependency not serving (alert_delay after it failed), a host whose disks
 * saturate or that crashed. The orchestrator's side is in remediation-exec.c, the setup in
 * remediation-setup.c.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/units.h"
#include "platform/remediation-priv.h"
#include "sim/sim-priv.h"

static void
rem_timer_at(hvf_sim *sim, rem_ctx *c, int64_t t_us, int64_t kind, int64_t low)
{
    hvf_sim_component_timer(sim, c->id, t_us, (kind << REM_TAG_SHIFT) | low);
}

/* Dependents: their app fails while its dependency does not serve; with need_restart it stays
 * failed in that copy of the VM until a redeploy (or a reboot) starts it again. */
static void
rem_update_apps(hvf_sim *sim, rem_ctx *c)
{
    bool serving;

    if (c->dep_dependents < 0)
        return;
    serving = hvf_sim_dependency_serving(sim, c->dep_dependents);
    for (size_t v = 0; v < hvf_sim_fleet(sim)->nvms; v++) {
        rem_vm *r = &c->vms[v];
        hvf_sim_vm_state s;
        if (!c->dependent[v])
            continue;
        s = hvf_sim_vm_state_get(sim, (int32_t)v);
        if (!serving) {
            /* a copy started while it is down fails the same way */
            r->app_failed = true;
            r->copy = hvf_sim_vm_copy(sim, (int32_t)v);
            continue;
        }
        if (r->app_failed &&
            (!c->o.dependents_need_restart || hvf_sim_vm_copy(sim, (int32_t)v) != r->copy ||
             (s != HVF_SIM_VM_RUNNING && s != HVF_SIM_VM_MIGRATING)))
            r->app_failed = false;
    }
}

bool
rem_vm_reachable(hvf_sim *sim, rem_ctx *c, int32_t vm)
{
    hvf_sim_vm_state s = hvf_sim_vm_state_get(sim, vm);

    if (s != HVF_SIM_VM_RUNNING && s != HVF_SIM_VM_MIGRATING)
        return false;
    if (c->dependent[vm] && c->vms[vm].app_failed)
        return false;
    return hvf_sim_vm_speed(sim, vm) >= c->o.slow_speed;
}

static void
rem_pause(hvf_sim *sim, rem_ctx *c)
{
    if (c->paused)
        return;
    c->paused = true;
    c->paused_since_us = hvf_sim_now(sim);
    hvf_actionq_pause(c->q, c->k_redeploy);
    hvf_actionq_pause(c->q, c->k_upscale);
}

static void
rem_resume(hvf_sim *sim, rem_ctx *c)
{
    if (!c->paused)
        return;
    c->paused = false;
    c->st.paused_us += hvf_sim_now(sim) - c->paused_since_us;
    hvf_actionq_resume(c->q, c->k_redeploy);
    hvf_actionq_resume(c->q, c->k_upscale);
    rem_exec_schedule(sim, c, hvf_sim_now(sim));
}

/* The first failed shared dependency monitoring has alerted about, or -1. */
static int32_t
rem_failed_dependency(hvf_sim *sim, rem_ctx *c)
{
    for (size_t i = 0; i < c->ncorr; i++) {
        int32_t d = c->corr[i];
        if (!hvf_sim_dependency_serving(sim, d) && (size_t)d < c->ndep_alerted && c->dep_alerted[d])
            return d;
    }
    return -1;
}

/* correlated: one incident for a fleet-wide symptom, per-VM remediation paused while it lasts. */
static void
rem_correlate(hvf_sim *sim, rem_ctx *c)
{
    int64_t now = hvf_sim_now(sim);
    int32_t dep = rem_failed_dependency(sim, c);
    double bound = c->o.fleet_share * (double)c->nwatch;
    uint32_t burst = 0;
    bool symptom;

    if (c->o.mode != HVF_REMEDIATION_CORRELATED)
        return;
    /* an incident opens on VMs turning unreachable together, not on the standing failures a
     * dependency's incident leaves behind for paced remediation; one opened that way lasts
     * while that many stay unreachable */
    for (size_t i = 0; i < c->nwatch; i++) {
        const rem_vm *r = &c->vms[c->watch[i]];
        if (r->unreachable && now - r->since_us <= c->o.clear_after_us)
            burst++;
    }
    symptom = dep >= 0 || (double)burst > bound ||
              (c->incident_open && c->incident_by_share && (double)c->unreachable_now > bound);
    if (symptom && !c->incident_open) {
        c->incident_open = true;
        c->incident_by_share = dep < 0;
        c->engaged = true;
        c->clear_since_us = -1;
        c->st.incidents++;
        if (dep >= 0) {
            hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1,
                             "infrastructure incident: shared dependency '%s' is not serving",
                             hvf_sim_dependency_name(sim, dep));
            hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                             "pause per-VM remediation while '%s' is down: its clients' alerts "
                             "are one incident",
                             hvf_sim_dependency_name(sim, dep));
        } else {
            hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1,
                             "infrastructure incident: %u of %zu VMs turned unreachable together",
                             burst, c->nwatch);
            hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                             "pause per-VM remediation: a fleet-wide symptom is not %u VM faults",
                             burst);
        }
        rem_pause(sim, c);
    } else if (!symptom && c->incident_open) {
        if (c->clear_since_us < 0)
            c->clear_since_us = now;
        if (now - c->clear_since_us >= c->o.clear_after_us) {
            c->incident_open = false;
            hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                             "infrastructure incident cleared for %.0f min: per-VM remediation "
                             "resumes with %zu queued actions, each re-checked when due",
                             (double)c->o.clear_after_us / 60e6, hvf_actionq_len(c->q));
            rem_resume(sim, c);
        }
    } else if (symptom) {
        c->clear_since_us = -1;
    }
}

/* Hosts in trouble: disks saturated (tasks pile up in D state) or down. Once per episode. */
static void
rem_host_alerts(hvf_sim *sim, rem_ctx *c)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);

    for (size_t h = 0; h < f->nhosts; h++) {
        hvf_sim_host_state s = hvf_sim_host_state_get(sim, (int32_t)h);
        bool trouble = s == HVF_SIM_HOST_DOWN || hvf_sim_host_io_util(sim, (int32_t)h) >= 1.0;

        if (trouble && !c->host_alerted[h]) {
            c->host_alerted[h] = true;
            c->engaged = true;
            hvf_incident_log(sim, HVF_INCIDENT_ALERT, (int32_t)h, -1,
                             s == HVF_SIM_HOST_DOWN ? "via monitoring: hypervisor down"
                                                    : "via monitoring: HV agent has too many "
                                                      "tasks (disk IO saturated)");
            if (c->first_host_alert_us < 0) {
                c->first_host_alert_us = hvf_sim_now(sim);
                if (c->o.mode == HVF_REMEDIATION_PER_VM && c->o.operator_pause_after_us >= 0)
                    rem_timer_at(sim, c, hvf_sim_now(sim) + c->o.operator_pause_after_us,
                                 REM_T_OP_PAUSE, 0);
                if (c->o.mode == HVF_REMEDIATION_PER_VM && c->o.operator_zombies_after_us >= 0)
                    rem_timer_at(sim, c, hvf_sim_now(sim) + c->o.operator_zombies_after_us,
                                 REM_T_OP_ZOMBIES, 0);
            }
        } else if (!trouble && c->host_alerted[h]) {
            c->host_alerted[h] = false;
        }
    }
}

/* Over: every watched VM answers, no zombie runs, no host is down and the dependencies
 * monitoring watches serve again, after something was alerted. */
static void
rem_resolve(hvf_sim *sim, rem_ctx *c)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);

    if (!c->engaged || c->unreachable_now > 0 || c->zombies_alive > 0 || c->incident_open)
        return;
    if ((c->dep_dependents >= 0 && !hvf_sim_dependency_serving(sim, c->dep_dependents)) ||
        (c->dep_orch >= 0 && !hvf_sim_dependency_serving(sim, c->dep_orch)))
        return;
    for (size_t i = 0; i < c->ncorr; i++) {
        if (!hvf_sim_dependency_serving(sim, c->corr[i]))
            return;
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        if (hvf_sim_host_state_get(sim, (int32_t)h) == HVF_SIM_HOST_DOWN)
            return;
    }
    c->engaged = false;
    hvf_incident_log(sim, HVF_INCIDENT_RESOLVED, -1, -1,
                     "every VM answers, no zombie runs, the dependencies serve");
}

/* One round of checks over the watched VMs. */
static void
rem_check(hvf_sim *sim, rem_ctx *c)
{
    int64_t now = hvf_sim_now(sim);
    /* operators' global maintenance silences monitoring itself */
    bool silenced = c->paused && c->o.mode == HVF_REMEDIATION_PER_VM;
    char why[96];

    rem_update_apps(sim, c);
    c->unreachable_now = 0;
    for (size_t i = 0; i < c->nwatch; i++) {
        int32_t vm = c->watch[i];
        rem_vm *r = &c->vms[vm];
        double speed;

        if (rem_vm_reachable(sim, c, vm)) {
            r->fails = 0;
            r->unreachable = false;
            speed = hvf_sim_vm_speed(sim, vm);
            if (c->o.upscale_speed > 0 && speed < c->o.upscale_speed && !silenced &&
                (r->upscale_us < 0 || now - r->upscale_us >= c->o.renotify_us)) {
                r->upscale_us = now;
                snprintf(why, sizeof(why), "load: answers at %.0f%% speed", speed * 100);
                rem_push(sim, c, c->k_upscale, vm, 0, why);
            }
            continue;
        }
        c->st.checks_failed++;
        if (++r->fails < c->o.unreachable_after)
            continue;
        if (!r->unreachable) {
            r->unreachable = true;
            r->since_us = now;
        }
        c->unreachable_now++;
        if (!silenced && (r->reported_us < 0 || now - r->reported_us >= c->o.renotify_us)) {
            r->reported_us = now;
            rem_push(sim, c, c->k_redeploy, vm, 0,
                     c->dependent[vm] && r->app_failed ? "health check failing" : "unreachable");
        }
    }
    if (c->unreachable_now > c->st.peak_unreachable)
        c->st.peak_unreachable = c->unreachable_now;
    rem_host_alerts(sim, c);
    rem_correlate(sim, c);
    if (c->o.mode == HVF_REMEDIATION_CORRELATED && c->o.reconcile)
        rem_reconcile(sim, c);
    rem_resolve(sim, c);
}

static bool
rem_watches_dependency(const rem_ctx *c, int32_t dep)
{
    if (dep == c->dep_dependents || dep == c->dep_orch)
        return true;
    for (size_t i = 0; i < c->ncorr; i++) {
        if (c->corr[i] == dep)
            return true;
    }
    return false;
}

static void
rem_on_dependency(hvf_sim *sim, rem_ctx *c, int32_t dep)
{
    if (!rem_watches_dependency(c, dep))
        return;
    if ((size_t)dep >= c->ndep_alerted) {
        c->dep_alerted = hvf_realloc(c->dep_alerted, ((size_t)dep + 1) * sizeof(bool));
        memset(c->dep_alerted + c->ndep_alerted, 0, ((size_t)dep + 1 - c->ndep_alerted));
        c->ndep_alerted = (size_t)dep + 1;
    }
    rem_update_apps(sim, c);
    if (!hvf_sim_dependency_serving(sim, dep)) {
        rem_timer_at(sim, c, hvf_sim_now(sim) + c->o.alert_delay_us, REM_T_DEP_ALERT, dep);
        return;
    }
    c->dep_alerted[dep] = false;
    if (dep == c->dep_orch)
        rem_exec_schedule(sim, c, hvf_sim_now(sim));
}

void
rem_start(hvf_sim *sim, void *ctx)
{
    rem_ctx *c = ctx;

    rem_timer_at(sim, c, hvf_sim_now(sim) + c->o.check_interval_us, REM_T_CHECK, 0);
}

void
rem_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    rem_ctx *c = ctx;
    int64_t kind = tag >> REM_TAG_SHIFT, low = tag & 0xffffffffLL;
    uint32_t n;

    switch (kind) {
    case REM_T_CHECK:
        rem_check(sim, c);
        rem_timer_at(sim, c, hvf_sim_now(sim) + c->o.check_interval_us, REM_T_CHECK, 0);
        break;
    case REM_T_EXEC:
        rem_exec_run(sim, c, (uint32_t)low);
        break;
    case REM_T_DEPLOY_END:
        rem_deploy_end(sim, c, (int32_t)low);
        break;
    case REM_T_DEP_ALERT:
        if (hvf_sim_dependency_serving(sim, (int32_t)low) || c->dep_alerted[low])
            break;
        c->dep_alerted[low] = true;
        c->engaged = true;
        hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1,
                         "via monitoring: connection issues with '%s' (not serving)",
                         hvf_sim_dependency_name(sim, (int32_t)low));
        rem_correlate(sim, c);
        break;
    case REM_T_OP_PAUSE:
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "operators set a global maintenance on monitoring: no more per-VM "
                         "actions (%zu still queued)",
                         hvf_actionq_len(c->q));
        rem_pause(sim, c);
        break;
    case REM_T_OP_ZOMBIES:
        n = rem_stop_zombies(sim, c, "operators");
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "operators clean zombie VMs by hand: %u stopped", n);
        break;
    default:
        HVF_ASSERT(!"unknown remediation timer");
    }
}

void
rem_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    rem_ctx *c = ctx;

    if (ev->type == HVF_SIM_EV_DEPENDENCY)
        rem_on_dependency(sim, c, (int32_t)ev->tag);
    else if (ev->type == HVF_SIM_EV_HOST_CRASH)
        rem_host_crashed(sim, c, ev->host);
    else if (ev->type == HVF_SIM_EV_HOST_IN_SERVICE)
        rem_exec_schedule(sim, c, hvf_sim_now(sim));
}
