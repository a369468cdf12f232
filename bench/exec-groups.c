/* SPDX-License-Identifier: MIT */
/*
 * Executes hroller's reboot groups in the twin (see twin-exec.h): a group at a time, all of its
 * hosts evacuating together, each VM to the node hroller's --print-moves named, and back to its
 * own host after the group, as hroller assumes.
 */
#include <string.h>

#include "hvfleet/alloc.h"
#include "twin-exec.h"

enum { GX_IDLE, GX_EVACUATING, GX_MAINTENANCE, GX_DONE };

typedef struct groups_exec {
    bench_exec_opts o;
    int32_t **groups;
    size_t *sizes;
    size_t ngroups;
    int32_t **targets; /* per group, per VM: hroller's node, -1; NULL without --print-moves */
    size_t nvms;
    int32_t *home; /* per VM: its host at the start */
    int32_t *ret;  /* VMs of the current group to bring home */
    size_t nret, ret_cap;
    uint32_t *ret_fail; /* per VM: failed attempts to bring it home */
    size_t cur;       /* the group in progress; ngroups when all are done */
    size_t remaining; /* hosts of the current group not back yet */
    unsigned char *phase;
    uint32_t *attempts;
    uint32_t *moves;
    int64_t *parked_at; /* per VM: when it was shut down, -1 */
    bool retry_pending;
    uint32_t offline_hosts;
    uint64_t offline_mib, fleet_mib;
    bench_exec_report rep;
} groups_exec;

/* Counts @host in or out of the capacity offline (evacuating or in maintenance). */
static void
gx_offline(groups_exec *g, hvf_sim *sim, int32_t host, bool off)
{
    uint64_t mib = hvf_host_usable(&hvf_sim_fleet(sim)->hosts[host]).mem_mib;

    if (off) {
        g->offline_hosts++;
        g->offline_mib += mib;
    } else {
        g->offline_hosts--;
        g->offline_mib -= mib;
    }
    if (g->offline_hosts > g->rep.peak_offline_hosts)
        g->rep.peak_offline_hosts = g->offline_hosts;
    if (g->fleet_mib && (double)g->offline_mib / (double)g->fleet_mib > g->rep.peak_offline_share)
        g->rep.peak_offline_share = (double)g->offline_mib / (double)g->fleet_mib;
}

/* The host outside the current group with the most free memory after headroom, or -1. */
static int32_t
gx_pick_target(groups_exec *g, hvf_sim *sim, int32_t vm)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint64_t need = f->vms[vm].mem_mib, best = 0;
    int32_t pick = -1;

    for (size_t h = 0; h < f->nhosts; h++) {
        uint64_t fr, keep;
        uint32_t in = 0;

        if (g->phase[h] == GX_EVACUATING || g->phase[h] == GX_MAINTENANCE ||
            hvf_sim_host_state_get(sim, (int32_t)h) != HVF_SIM_HOST_ACTIVE)
            continue;
        hvf_sim_host_migrations(sim, (int32_t)h, &in, NULL);
        if (in >= g->o.in_per_host)
            continue;
        fr = hvf_sim_host_free_mib(sim, (int32_t)h, true);
        keep = (uint64_t)((double)hvf_host_usable(&f->hosts[h]).mem_mib * g->o.headroom_share);
        if (fr < keep + need)
            continue;
        fr -= keep;
        if (fr > best) {
            best = fr;
            pick = (int32_t)h;
        }
    }
    return pick;
}

/* Room for @vm on @h after the headroom, counting claims of migrations in flight. */
static bool
gx_fits(const groups_exec *g, hvf_sim *sim, int32_t h, int32_t vm)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint64_t fr = hvf_sim_host_free_mib(sim, h, true);
    uint64_t keep = (uint64_t)((double)hvf_host_usable(&f->hosts[h]).mem_mib * g->o.headroom_share);

    return fr >= keep + f->vms[vm].mem_mib;
}

/*
 * Where @vm goes: hroller's node when it is up, outside the group and has room; *@wait when it
 * is only receiving its maximum of migrations (a slot frees soon); else the host with the most
 * free memory, *@redirected.
 */
static int32_t
gx_target(groups_exec *g, hvf_sim *sim, int32_t vm, bool *wait, bool *redirected)
{
    int32_t t = g->targets ? g->targets[g->cur][vm] : -1;

    *wait = *redirected = false;
    if (t >= 0 && g->phase[t] != GX_EVACUATING && g->phase[t] != GX_MAINTENANCE &&
        hvf_sim_host_state_get(sim, t) == HVF_SIM_HOST_ACTIVE && gx_fits(g, sim, t, vm)) {
        uint32_t in = 0;
        hvf_sim_host_migrations(sim, t, &in, NULL);
        if (in < g->o.in_per_host)
            return t;
        *wait = true;
        return -1;
    }
    *redirected = g->targets != NULL;
    return gx_pick_target(g, sim, vm);
}

static void
gx_retry_later(groups_exec *g, hvf_sim *sim)
{
    if (g->retry_pending)
        return;
    g->retry_pending = true;
    hvf_sim_add_timer(sim, hvf_sim_now(sim) + g->o.retry_us, 0);
}

/* Shuts down what is left on @host (VMs that cannot move), as late as possible. */
static void
gx_park_rest(groups_exec *g, hvf_sim *sim, int32_t host)
{
    const int32_t *vms;
    size_t nvms = hvf_sim_host_vms(sim, host, &vms);

    for (size_t k = 0; k < nvms; k++) {
        hvf_error err = HVF_ERROR_INIT;
        int32_t vm = vms[k];

        if (hvf_sim_vm_state_get(sim, vm) != HVF_SIM_VM_RUNNING)
            continue;
        /* stopping the last one reports the host evacuated (re-entering gx_on_event) */
        g->parked_at[vm] = hvf_sim_now(sim);
        g->rep.vms_parked++;
        if (hvf_sim_stop_vm(sim, vm, &err) < 0) {
            g->parked_at[vm] = -1;
            g->rep.vms_parked--;
        }
        nvms = hvf_sim_host_vms(sim, host, &vms);
        k = (size_t)-1; /* the list changed: rescan */
    }
}

static bool
gx_movable(const groups_exec *g, const hvf_fleet *f, int32_t vm)
{
    return f->vms[vm].migratable && g->attempts[vm] <= g->o.max_retries;
}

/*
 * Starts migrations out of @host up to the limit. VMs that cannot move (not live-migratable,
 * or out of retries) are shut down once nothing else is left to leave, which keeps their
 * downtime to the maintenance itself, as a careful operator would.
 */
static void
gx_pump(groups_exec *g, hvf_sim *sim, int32_t host)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_migrate_opts mo = {.claim = true, .strategy = g->o.strategy};
    const int32_t *vms;
    size_t nvms, k = 0;
    uint32_t out = 0;
    bool waiting = false;

    if (g->phase[host] != GX_EVACUATING)
        return;
    hvf_sim_host_migrations(sim, host, NULL, &out);
    while (out < g->o.out_per_host) {
        hvf_error err = HVF_ERROR_INIT;
        int32_t vm = -1, target;
        bool wait, redirected;

        nvms = hvf_sim_host_vms(sim, host, &vms);
        for (; k < nvms; k++) {
            if (hvf_sim_vm_state_get(sim, vms[k]) == HVF_SIM_VM_RUNNING &&
                gx_movable(g, f, vms[k])) {
                vm = vms[k];
                break;
            }
        }
        if (vm < 0) {
            if (out == 0 && !waiting)
                gx_park_rest(g, sim, host);
            return;
        }
        k++;
        target = gx_target(g, sim, vm, &wait, &redirected);
        if (wait) {
            waiting = true; /* its node takes it once a migration there ends */
            continue;
        }
        if (target >= 0 && hvf_sim_start_migration(sim, vm, target, &mo, &err) == 0) {
            g->rep.redirected_steps += redirected;
        } else {
            g->attempts[vm]++;
            gx_retry_later(g, sim);
            if (!gx_movable(g, f, vm) && out == 0)
                continue; /* out of retries: it may be parked with the rest */
            return;
        }
        k = 0;
        out++;
    }
}

static void
gx_pump_group(groups_exec *g, hvf_sim *sim)
{
    if (g->cur >= g->ngroups)
        return;
    for (size_t i = 0; i < g->sizes[g->cur]; i++)
        gx_pump(g, sim, g->groups[g->cur][i]);
}

static void gx_host_back(groups_exec *g, hvf_sim *sim, int32_t host);
static void gx_open_group(groups_exec *g, hvf_sim *sim);

/*
 * hroller computes each group's moves as if every instance were on its own node again: brings
 * the group's VMs home once their host is back, within the per-host migration limits. A VM
 * that cannot go home (no room, three failures) stays where it is.
 */
static void
gx_pump_returns(groups_exec *g, hvf_sim *sim)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_migrate_opts mo = {.claim = true, .strategy = g->o.strategy};

    for (size_t i = 0; i < g->nret;) {
        int32_t vm = g->ret[i], home = g->home[vm], cur = hvf_sim_vm_host(sim, vm);
        hvf_sim_vm_state st = hvf_sim_vm_state_get(sim, vm);
        uint32_t in = 0, out = 0;
        hvf_error err = HVF_ERROR_INIT;

        /* not yet: on its way out, or its host not back (it may still have to leave it) */
        if (st == HVF_SIM_VM_MIGRATING || st == HVF_SIM_VM_PAUSED || g->phase[home] != GX_DONE) {
            i++;
            continue;
        }
        if (cur == home || st != HVF_SIM_VM_RUNNING || !f->vms[vm].migratable ||
            g->ret_fail[vm] > g->o.max_retries) {
            g->rep.returns_given_up += cur != home && st == HVF_SIM_VM_RUNNING;
            g->ret[i] = g->ret[--g->nret];
            continue;
        }
        i++;
        hvf_sim_host_migrations(sim, cur, NULL, &out);
        hvf_sim_host_migrations(sim, home, &in, NULL);
        if (out >= g->o.out_per_host || in >= g->o.in_per_host)
            continue;
        if (!gx_fits(g, sim, home, vm) || hvf_sim_start_migration(sim, vm, home, &mo, &err) < 0) {
            g->ret_fail[vm]++;
            gx_retry_later(g, sim);
            continue;
        }
        g->rep.returns++;
    }
}

/* The next group starts once every host of this one is back and its VMs are home. */
static void
gx_maybe_next(groups_exec *g, hvf_sim *sim)
{
    if (g->cur >= g->ngroups || g->remaining > 0)
        return;
    gx_pump_returns(g, sim);
    if (g->nret > 0)
        return;
    g->cur++;
    gx_open_group(g, sim);
}

static void
gx_open_group(groups_exec *g, hvf_sim *sim)
{
    for (; g->cur < g->ngroups; g->cur++) {
        const int32_t *hs = g->groups[g->cur];
        size_t n = g->sizes[g->cur];

        g->remaining = 0;
        for (size_t i = 0; i < n; i++) {
            if (hvf_sim_host_state_get(sim, hs[i]) == HVF_SIM_HOST_ACTIVE)
                g->remaining++;
        }
        if (g->remaining == 0)
            continue;
        if (g->rep.first_evacuation_us < 0)
            g->rep.first_evacuation_us = hvf_sim_now(sim);
        /* the VMs to bring home after it: every migratable one on its hosts now */
        g->nret = 0;
        for (size_t i = 0; i < n; i++) {
            const int32_t *vms;
            size_t nv = hvf_sim_host_vms(sim, hs[i], &vms);
            for (size_t k = 0; k < nv; k++) {
                if (!hvf_sim_fleet(sim)->vms[vms[k]].migratable)
                    continue;
                hvf_grow(&g->ret, &g->ret_cap, g->nret + 1, sizeof(int32_t));
                g->ret[g->nret++] = vms[k];
            }
        }
        /* mark the whole group first: no host of it may be picked as a target */
        for (size_t i = 0; i < n; i++) {
            if (hvf_sim_host_state_get(sim, hs[i]) == HVF_SIM_HOST_ACTIVE) {
                g->phase[hs[i]] = GX_EVACUATING;
                gx_offline(g, sim, hs[i], true);
            }
        }
        for (size_t i = 0; i < n; i++) {
            hvf_error err = HVF_ERROR_INIT;

            /* may report the host evacuated at once (re-entering gx_on_event) */
            if (g->phase[hs[i]] == GX_EVACUATING &&
                hvf_sim_set_host_state(sim, hs[i], HVF_SIM_HOST_EVACUATING, &err) < 0)
                gx_host_back(g, sim, hs[i]);
        }
        gx_pump_group(g, sim);
        return;
    }
}

static void
gx_host_back(groups_exec *g, hvf_sim *sim, int32_t host)
{
    const int32_t *vms;
    size_t nvms;

    if (g->phase[host] == GX_DONE)
        return;
    g->phase[host] = GX_DONE;
    gx_offline(g, sim, host, false);
    nvms = hvf_sim_host_vms(sim, host, &vms);
    for (size_t k = 0; k < nvms; k++) {
        int32_t vm = vms[k];
        hvf_error err = HVF_ERROR_INIT;

        if (g->parked_at[vm] < 0)
            continue;
        g->rep.parked_us += hvf_sim_now(sim) - g->parked_at[vm];
        g->parked_at[vm] = -1;
        if (hvf_sim_start_vm(sim, vm, host, &err) < 0)
            hvf_sim_log(sim, "vm_start_failed", host, vm, err.msg);
        nvms = hvf_sim_host_vms(sim, host, &vms);
    }
    g->rep.last_back_us = hvf_sim_now(sim);
    g->remaining--;
    gx_pump_returns(g, sim);
    gx_maybe_next(g, sim);
}

static void
gx_on_start(hvf_sim *sim, void *ctx)
{
    groups_exec *g = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);

    g->phase = hvf_calloc(f->nhosts + 1, 1);
    g->attempts = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    g->moves = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    g->parked_at = hvf_calloc(f->nvms + 1, sizeof(int64_t));
    g->home = hvf_calloc(f->nvms + 1, sizeof(int32_t));
    g->ret_fail = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    HVF_ASSERT(!g->targets || g->nvms == f->nvms);
    for (size_t v = 0; v < f->nvms; v++) {
        g->parked_at[v] = -1;
        g->home[v] = f->vms[v].host;
    }
    for (size_t h = 0; h < f->nhosts; h++)
        g->fleet_mib += hvf_host_usable(&f->hosts[h]).mem_mib;
    gx_open_group(g, sim);
}

static void
gx_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    groups_exec *g = ctx;
    hvf_error err = HVF_ERROR_INIT;

    switch (ev->type) {
    case HVF_SIM_EV_TIMER:
        g->retry_pending = false;
        gx_pump_group(g, sim);
        gx_maybe_next(g, sim);
        break;
    case HVF_SIM_EV_MIGRATION_ABORT:
        if (ev->to == g->home[ev->vm])
            g->ret_fail[ev->vm]++;
        else
            g->attempts[ev->vm]++;
        gx_pump_group(g, sim);
        gx_maybe_next(g, sim);
        break;
    case HVF_SIM_EV_MIGRATION_END:
        /* a VM going home is not moved again by the tool: hroller moves it once per group */
        if (ev->to != g->home[ev->vm] && ++g->moves[ev->vm] == 2)
            g->rep.vms_moved_twice++;
        /* a freed target slot may unblock any host of the group, or a VM going home */
        gx_pump_group(g, sim);
        gx_pump_returns(g, sim);
        gx_maybe_next(g, sim);
        break;
    case HVF_SIM_EV_HOST_EVACUATED:
        if (g->phase[ev->host] == GX_EVACUATING &&
            hvf_sim_begin_maintenance(sim, ev->host, g->o.maintenance_us, &err) == 0)
            g->phase[ev->host] = GX_MAINTENANCE;
        break;
    case HVF_SIM_EV_HOST_IN_SERVICE:
        if (g->phase[ev->host] == GX_MAINTENANCE) {
            g->rep.hosts_maintained++;
            gx_host_back(g, sim, ev->host);
        } else if (g->phase[ev->host] == GX_EVACUATING) {
            /* back from a crash mid-evacuation: evacuate again */
            if (hvf_sim_set_host_state(sim, ev->host, HVF_SIM_HOST_EVACUATING, &err) == 0)
                gx_pump(g, sim, ev->host);
        }
        break;
    default:
        break;
    }
}

void *
bench_exec_groups_new(const bench_exec_opts *o, int32_t *const *groups, const size_t *sizes,
                      size_t ngroups, int32_t *const *targets, size_t nvms, hvf_sim_controller *ctl)
{
    groups_exec *g = HVF_NEW(groups_exec);

    g->o = *o;
    g->ngroups = ngroups;
    g->groups = hvf_calloc(ngroups + 1, sizeof(int32_t *));
    g->sizes = hvf_calloc(ngroups + 1, sizeof(size_t));
    for (size_t i = 0; i < ngroups; i++) {
        g->sizes[i] = sizes[i];
        g->groups[i] = hvf_calloc(sizes[i] + 1, sizeof(int32_t));
        memcpy(g->groups[i], groups[i], sizes[i] * sizeof(int32_t));
        g->rep.hosts_planned += (uint32_t)sizes[i];
    }
    if (targets) {
        g->nvms = nvms;
        g->targets = hvf_calloc(ngroups + 1, sizeof(int32_t *));
        for (size_t i = 0; i < ngroups; i++) {
            g->targets[i] = hvf_calloc(nvms + 1, sizeof(int32_t));
            memcpy(g->targets[i], targets[i], nvms * sizeof(int32_t));
        }
    }
    g->rep.first_evacuation_us = -1;
    g->rep.last_back_us = -1;
    ctl->name = "hroller-groups";
    ctl->ctx = g;
    ctl->on_start = gx_on_start;
    ctl->on_event = gx_on_event;
    ctl->on_finish = NULL;
    return g;
}

void
bench_exec_groups_report(const void *ctx, bench_exec_report *out)
{
    const groups_exec *g = ctx;

    *out = g->rep;
}

void
bench_exec_groups_free(void *ctx)
{
    groups_exec *g = ctx;

    if (!g)
        return;
    for (size_t i = 0; i < g->ngroups; i++) {
        free(g->groups[i]);
        if (g->targets)
            free(g->targets[i]);
    }
    free(g->targets);
    free(g->home);
    free(g->ret);
    free(g->ret_fail);
    free(g->groups);
    free(g->sizes);
    free(g->phase);
    free(g->attempts);
    free(g->moves);
    free(g->parked_at);
    free(g);
}
