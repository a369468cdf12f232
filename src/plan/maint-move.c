/* SPDX-License-Identifier: MIT */
/* The hvfleet controller's moves: deciding how each VM leaves, where it goes, and sending it. */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "plan/maint-ctl.h"

void
mctl_placer_refresh(mctl *m)
{
    if (!m->refresh_all)
        return;
    m->refresh_all = false;
    for (size_t h = 0; h < m->f->nhosts; h++)
        hvf_placer_host_changed(m->placer, (int32_t)h);
}

static hvf_sim_strategy
mctl_sim_strategy(mvm_act a)
{
    return a == ACT_AUTO   ? HVF_SIM_STRATEGY_AUTO_CONVERGE
           : a == ACT_POST ? HVF_SIM_STRATEGY_POSTCOPY
                           : HVF_SIM_STRATEGY_PRECOPY;
}

static hvf_plan_migration_mode
mctl_mode(mvm_act a)
{
    return a == ACT_AUTO   ? HVF_PLAN_MIGRATION_AUTO_CONVERGE
           : a == ACT_POST ? HVF_PLAN_MIGRATION_POST_COPY
                           : HVF_PLAN_MIGRATION_PRECOPY;
}

/* What the policy does with a VM that plain pre-copy would not move. */
mvm_act
mctl_policy_act(const mctl *m)
{
    switch (m->pol.non_converging) {
    case HVF_NON_CONVERGING_AUTO_CONVERGE:
        return ACT_AUTO;
    case HVF_NON_CONVERGING_POST_COPY:
        return ACT_POST;
    case HVF_NON_CONVERGING_SHUTDOWN:
        return ACT_STOP;
    default:
        return ACT_REFUSE;
    }
}

/* Decides once per VM, before its first move, from the live-migration model's prediction. */
mvm_act
mctl_decide(mctl *m, int32_t vm, int32_t src)
{
    mvm_act a;

    if (m->act[vm] != ACT_UNKNOWN)
        return (mvm_act)m->act[vm];
    if (!m->f->vms[vm].migratable) {
        /* It cannot move at all: shut it down, unless the policy refuses that too. */
        a = m->pol.non_converging == HVF_NON_CONVERGING_REFUSE ? ACT_REFUSE : ACT_STOP;
    } else {
        a = mrec_converges(&m->rec, vm, src) ? ACT_PRECOPY : mctl_policy_act(m);
    }
    m->act[vm] = (uint8_t)a;
    return a;
}

/* Lists @vm under summary.non_converging with what is done to it, once it is done. */
void
mctl_note(mctl *m, int32_t vm)
{
    static const hvf_non_converging what[] = {[ACT_AUTO] = HVF_NON_CONVERGING_AUTO_CONVERGE,
                                              [ACT_POST] = HVF_NON_CONVERGING_POST_COPY,
                                              [ACT_STOP] = HVF_NON_CONVERGING_SHUTDOWN,
                                              [ACT_REFUSE] = HVF_NON_CONVERGING_REFUSE};

    if (m->act[vm] >= ACT_AUTO && m->act[vm] <= ACT_REFUSE)
        mrec_nonconv(&m->rec, vm, what[m->act[vm]]);
}

/* ---- moving VMs ----------------------------------------------------------------------------- */

/*
 * Where @vm goes now. @anywhere: is there a host at all, ignoring what is in flight and
 * whether a host is due (the check before an evacuation starts, and the explanation when it
 * cannot).
 */
int32_t
mctl_choose(mctl *m, int32_t vm, int32_t src, bool anywhere, bool explain, hvf_place_result *res)
{
    const hvf_vm *v = &m->f->vms[vm];
    hvf_place_request req = {.need = hvf_vm_resources(v),
                             .service = v->service,
                             .source = src,
                             /* busy hosts are marked in the placer (hvf_placer_set_busy) */
                             .inflight = anywhere ? NULL : m->in_flight,
                             /* A host due for maintenance only when no maintained host is on
                              * its way back: waiting for one avoids moving the VM twice. */
                             .allow_due = anywhere || m->in_maint == 0,
                             .explain = explain};

    hvf_place_request_pin(&req, v);
    mctl_placer_refresh(m);
    return hvf_placer_choose(m->placer, &req, res);
}

int
mctl_migrate(mctl *m, int32_t vm, int32_t src, int32_t target, mvm_act a, bool is_return)
{
    const hvf_vm *v = &m->f->vms[vm];
    hvf_sim_migrate_opts opts = {.claim = true,
                                 .max_bytes_per_s = m->pol.migration_bandwidth_bytes_per_s,
                                 .strategy = mctl_sim_strategy(a),
                                 .downtime_limit_us = m->pol.downtime_limit_us};
    hvf_error err = HVF_ERROR_INIT;
    int64_t now = hvf_sim_now(m->sim);

    if (hvf_sim_start_migration(m->sim, vm, target, &opts, &err) < 0)
        return -1;
    if (++m->in_flight[target] >= m->pol.max_migrations_in_per_host)
        hvf_placer_set_busy(m->placer, target, true);
    m->is_return[vm] = is_return;
    if (is_return)
        m->return_flight[target]++;
    hvf_placer_host_changed(m->placer, target);
    hvf_placer_replica_add(m->placer, v->service, target);
    mrec_mig_start(&m->rec, vm, src, target, mctl_mode(a), now);
    mctl_note(m, vm);
    return 0;
}

/* Stopping a replica must leave its service min_available running replicas. */
bool
mctl_may_stop(const mctl *m, int32_t vm)
{
    int32_t s = m->f->vms[vm].service;

    if (s < 0)
        return true;
    return m->svc_replicas[s] - m->svc_stopped[s] > m->f->services[s].min_available;
}

void
mctl_stop(mctl *m, int32_t vm, int32_t host)
{
    hvf_error err = HVF_ERROR_INIT;
    int32_t s = m->f->vms[vm].service;

    if (hvf_sim_stop_vm(m->sim, vm, &err) < 0)
        return;
    if (s >= 0)
        m->svc_stopped[s]++;
    hvf_placer_host_changed(m->placer, host);
    mrec_stop(&m->rec, vm, host);
    mctl_note(m, vm);
}

/* Starts what it can out of evacuating host @h, up to max_migrations_out_per_host. */
void
mctl_pump(mctl *m, int32_t h)
{
    HVF_AUTOFREE int32_t *vms = NULL;
    const int32_t *list;
    uint32_t in = 0, out = 0;
    size_t n;

    if (m->phase[h] != MH_EVACUATING)
        return;
    n = hvf_sim_host_vms(m->sim, h, &list);
    /* our own actions change the twin's list: work on a copy */
    vms = hvf_malloc((n + 1) * sizeof(int32_t));
    if (n)
        memcpy(vms, list, n * sizeof(int32_t));
    hvf_sim_host_migrations(m->sim, h, &in, &out);
    m->blocked[h] = 0;
    for (size_t i = 0; i < n && out < m->pol.max_migrations_out_per_host; i++) {
        int32_t vm = vms[i], target;
        hvf_place_result res;
        mvm_act a;

        if (hvf_sim_vm_state_get(m->sim, vm) != HVF_SIM_VM_RUNNING ||
            hvf_sim_vm_host(m->sim, vm) != h)
            continue;
        a = mctl_decide(m, vm, h);
        if (a == ACT_REFUSE)
            continue;
        if (a == ACT_STOP) {
            if (mctl_may_stop(m, vm))
                mctl_stop(m, vm, h);
            else
                m->blocked[h] |= BLK_STOP;
            continue;
        }
        target = mctl_choose(m, vm, h, false, false, &res);
        if (target >= 0 && mctl_migrate(m, vm, h, target, a, false) == 0) {
            out++;
            continue;
        }
        {
            const hvf_vm *v = &m->f->vms[vm];
            hvf_place_request req = {.need = hvf_vm_resources(v),
                                     .service = v->service,
                                     .source = h,
                                     .allow_due = m->in_maint == 0};
            hvf_place_request_pin(&req, v);
            m->blocked[h] |= hvf_placer_busy_fits(m->placer, &req) ? BLK_BUSY : BLK_ROOM;
        }
    }
}

/* Pumps the evacuating hosts waiting for one of @why. */
void
mctl_pump_blocked(mctl *m, uint8_t why)
{
    for (size_t i = 0; i < m->nevac; i++) {
        if (m->blocked[m->evac[i]] & why)
            mctl_pump(m, m->evac[i]);
    }
}

/* ---- return_vms ------------------------------------------------------------------------------ */

void
mctl_finish_host(mctl *m, int32_t h)
{
    for (size_t i = 0; i < m->nret; i++) {
        if (m->ret[i] == h) {
            m->ret[i] = m->ret[--m->nret];
            break;
        }
    }
    m->phase[h] = MH_DONE;
    m->done++;
    hvf_placer_set_role(m->placer, h, HVF_PLACE_ROLE_MAINTAINED);
}

/* Brings home what can come home now; finishes the host when nothing more will. */
void
mctl_pump_returns(mctl *m, int32_t h)
{
    bool later = false;

    if (m->phase[h] != MH_RETURNING)
        return;
    for (uint32_t i = m->home_start[h]; i < m->home_start[h + 1]; i++) {
        int32_t vm = (int32_t)m->home_vms[i];
        int32_t cur = hvf_sim_vm_host(m->sim, vm);
        const hvf_vm *v = &m->f->vms[vm];
        hvf_place_request req = {.need = hvf_vm_resources(v), .service = v->service, .source = cur};
        uint32_t in = 0, out = 0;

        hvf_place_request_pin(&req, v);
        if (cur == h || hvf_sim_vm_state_get(m->sim, vm) != HVF_SIM_VM_RUNNING ||
            m->act[vm] == ACT_STOP || m->act[vm] == ACT_REFUSE)
            continue;
        /* a VM on a host being evacuated moves with that evacuation */
        if (m->phase[cur] == MH_EVACUATING || m->phase[cur] == MH_MAINTENANCE)
            continue;
        hvf_sim_host_migrations(m->sim, cur, &in, &out);
        if (out >= m->pol.max_migrations_out_per_host ||
            m->in_flight[h] >= m->pol.max_migrations_in_per_host) {
            later = true;
            continue;
        }
        mctl_placer_refresh(m);
        if (hvf_placer_check(m->placer, &req, h) >= 0)
            continue; /* it no longer fits at home (headroom, spread): it stays */
        if (mctl_migrate(m, vm, cur, h, m->act[vm] ? (mvm_act)m->act[vm] : ACT_PRECOPY, true) < 0)
            continue;
    }
    if (!later && m->return_flight[h] == 0)
        mctl_finish_host(m, h);
}

void
mctl_pump_all_returns(mctl *m)
{
    /* pumping may finish a host, which takes it off the list: walk a copy */
    HVF_AUTOFREE int32_t *copy = NULL;
    size_t n = m->nret;

    if (n == 0)
        return;
    copy = hvf_malloc(n * sizeof(int32_t));
    memcpy(copy, m->ret, n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++)
        mctl_pump_returns(m, copy[i]);
}
