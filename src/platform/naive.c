/* SPDX-License-Identifier: MIT */
/*
 * The naive maintenance scheduler of seed 000 (Flying Circus, 2017), written on the twin's
 * controller API like any planner: every selected host gets a short window, windows one after
 * another over a span; when its window opens a host starts evacuating, N migrations at a time,
 * each VM to whichever active host reports the most free memory at that moment, without claims;
 * once empty it is maintained for the window's length and returns to service. Nothing predicts
 * how long an evacuation takes, so windows overlap evacuations and hosts pile up.
 */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/rng.h"
#include "hvfleet/sim-sched.h"
#include "hvfleet/sim.h"
#include "platform/naive-priv.h"

enum { NAIVE_WAITING, NAIVE_EVACUATING, NAIVE_MAINTENANCE, NAIVE_DONE };

typedef struct naive_entry {
    int32_t host;
    int64_t window_us;
    int phase;
    bool retry_pending;
} naive_entry;

/*
 * The index behind the target picker: a max-heap of hosts by free memory, ties to the lower
 * host index (the scan's order). A host's key is never below its free memory: it is exact when
 * refreshed, and memory only drops until an event names the host again (a VM leaving, a
 * migration aborted, a host back in service), which refreshes it. So the top, once its key is
 * checked against the host's free memory now, is the host the scan would find.
 */
typedef struct naive_index {
    uint64_t *key;  /* per host */
    int32_t *heap;  /* hosts */
    int32_t *pos;   /* per host: place in heap, -1 when out (held for a pick) */
    size_t n;
    int32_t *dirty; /* hosts to refresh before the next pick */
    bool *is_dirty;
    size_t ndirty;
    bool all_dirty; /* rebuild before the next pick */
    bool built;
} naive_index;

typedef struct naive {
    hvf_sim_naive_opts o;
    naive_entry *e;
    int32_t *entry_of_host; /* fleet host -> entry, -1 */
    uint32_t *attempts;     /* per VM: aborted or refused migrations */
    bool *parked;           /* per VM: shut down for the maintenance of its host */
    hvf_rng rng;
    naive_index ix;
} naive;

/* Tests set this to check every pick of the index against the scan (naive-priv.h). */
static bool naive_verify;

void
hvf_sim_naive_set_verify(bool on)
{
    naive_verify = on;
}

static void
naive_index_free(naive_index *ix)
{
    free(ix->key);
    free(ix->heap);
    free(ix->pos);
    free(ix->dirty);
    free(ix->is_dirty);
    memset(ix, 0, sizeof(*ix));
}

void
hvf_sim_naive_free(void *ctx)
{
    naive *n = ctx;

    if (!n)
        return;
    free(n->o.hosts);
    free(n->o.at_us);
    free(n->e);
    free(n->entry_of_host);
    free(n->attempts);
    free(n->parked);
    naive_index_free(&n->ix);
    free(n);
}

/* The active host with the most free memory as the naive script sees it, or -1: the scan. */
static int32_t
naive_pick_scan(naive *n, hvf_sim *sim, int32_t vm, int32_t src)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint64_t need = f->vms[vm].mem_mib, best = 0;
    int32_t pick = -1;
    size_t tries = n->o.target_candidates ? n->o.target_candidates : f->nhosts;

    for (size_t i = 0; i < tries; i++) {
        int32_t h = n->o.target_candidates
                        ? (int32_t)hvf_rng_range(&n->rng, 0, (uint64_t)f->nhosts - 1)
                        : (int32_t)i;
        uint64_t fr;
        if (h == src || hvf_sim_host_state_get(sim, h) != HVF_SIM_HOST_ACTIVE)
            continue;
        fr = hvf_sim_host_free_mib(sim, h, n->o.claims);
        if (fr >= need && (fr > best || (fr == best && pick >= 0 && h < pick))) {
            best = fr;
            pick = h;
        }
    }
    return pick;
}

/* ---- the index ---- */

/* True when host @a goes above host @b: more free memory, or as much and a lower index. */
static bool
ix_above(const naive_index *ix, int32_t a, int32_t b)
{
    return ix->key[a] > ix->key[b] || (ix->key[a] == ix->key[b] && a < b);
}

static void
ix_place(naive_index *ix, size_t i, int32_t h)
{
    ix->heap[i] = h;
    ix->pos[h] = (int32_t)i;
}

static void
ix_up(naive_index *ix, size_t i)
{
    int32_t h = ix->heap[i];

    while (i > 0 && ix_above(ix, h, ix->heap[(i - 1) / 2])) {
        ix_place(ix, i, ix->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    ix_place(ix, i, h);
}

static void
ix_down(naive_index *ix, size_t i)
{
    int32_t h = ix->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= ix->n)
            break;
        if (c + 1 < ix->n && ix_above(ix, ix->heap[c + 1], ix->heap[c]))
            c++;
        if (!ix_above(ix, ix->heap[c], h))
            break;
        ix_place(ix, i, ix->heap[c]);
        i = c;
    }
    ix_place(ix, i, h);
}

static void
ix_insert(naive_index *ix, int32_t h)
{
    ix->heap[ix->n] = h;
    ix->pos[h] = (int32_t)ix->n;
    ix->n++;
    ix_up(ix, ix->n - 1);
}

static int32_t
ix_pop(naive_index *ix)
{
    int32_t top = ix->heap[0];

    ix->n--;
    ix->pos[top] = -1;
    if (ix->n > 0) {
        ix_place(ix, 0, ix->heap[ix->n]);
        ix_down(ix, 0);
    }
    return top;
}

/* Sets the key of host @h (in the heap) and moves it to its place. */
static void
ix_set(naive_index *ix, int32_t h, uint64_t key)
{
    uint64_t old = ix->key[h];

    ix->key[h] = key;
    if (ix->pos[h] < 0)
        return;
    if (key > old)
        ix_up(ix, (size_t)ix->pos[h]);
    else if (key < old)
        ix_down(ix, (size_t)ix->pos[h]);
}

/* Host @h's free memory may have grown: refresh it before the next pick. */
static void
naive_index_touch(naive *n, int32_t h)
{
    naive_index *ix = &n->ix;

    if (!ix->built || h < 0 || ix->is_dirty[h])
        return;
    ix->is_dirty[h] = true;
    ix->dirty[ix->ndirty++] = h;
}

static void
naive_index_build(naive *n, hvf_sim *sim)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    naive_index *ix = &n->ix;

    if (!ix->built) {
        ix->key = hvf_calloc(f->nhosts + 1, sizeof(uint64_t));
        ix->heap = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
        ix->pos = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
        ix->dirty = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
        ix->is_dirty = hvf_calloc(f->nhosts + 1, sizeof(bool));
        ix->built = true;
    }
    for (size_t h = 0; h < f->nhosts; h++) {
        ix->key[h] = hvf_sim_host_free_mib(sim, (int32_t)h, n->o.claims);
        ix->heap[h] = (int32_t)h;
        ix->pos[h] = (int32_t)h;
        ix->is_dirty[h] = false;
    }
    ix->n = f->nhosts;
    ix->ndirty = 0;
    ix->all_dirty = false;
    for (size_t i = f->nhosts / 2; i-- > 0;)
        ix_down(ix, i);
}

/*
 * The scan's pick through the index: refresh what events touched, then take the top until
 * its key is its free memory now (keys only overstate); hosts that cannot take the VM (the
 * source, hosts not active) are held aside and put back after.
 */
static int32_t
naive_pick_index(naive *n, hvf_sim *sim, int32_t vm, int32_t src)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    naive_index *ix = &n->ix;
    uint64_t need = f->vms[vm].mem_mib;
    int32_t pick = -1;
    int32_t *held = NULL;
    size_t nheld = 0, held_cap = 0;

    if (!ix->built || ix->all_dirty) {
        naive_index_build(n, sim);
    } else {
        for (size_t i = 0; i < ix->ndirty; i++) {
            int32_t h = ix->dirty[i];
            ix->is_dirty[h] = false;
            ix_set(ix, h, hvf_sim_host_free_mib(sim, h, n->o.claims));
        }
        ix->ndirty = 0;
    }
    while (ix->n > 0) {
        int32_t h = ix->heap[0];
        uint64_t fr = hvf_sim_host_free_mib(sim, h, n->o.claims);

        if (fr != ix->key[h]) {
            ix_set(ix, h, fr);
            continue;
        }
        if (h == src || hvf_sim_host_state_get(sim, h) != HVF_SIM_HOST_ACTIVE) {
            hvf_grow(&held, &held_cap, nheld + 1, sizeof(int32_t));
            held[nheld++] = ix_pop(ix);
            continue;
        }
        pick = fr >= need ? h : -1;
        break;
    }
    for (size_t i = 0; i < nheld; i++)
        ix_insert(ix, held[i]);
    free(held);
    return pick;
}

static int32_t
naive_pick_target(naive *n, hvf_sim *sim, int32_t vm, int32_t src)
{
    int32_t pick;

    /* Drawing N random hosts is already cheap, and its draws must stay the same. */
    if (n->o.target_candidates)
        return naive_pick_scan(n, sim, vm, src);
    pick = naive_pick_index(n, sim, vm, src);
    if (naive_verify)
        HVF_ASSERT(pick == naive_pick_scan(n, sim, vm, src));
    return pick;
}

static void
naive_retry_later(naive *n, hvf_sim *sim, size_t i)
{
    if (n->e[i].retry_pending)
        return;
    n->e[i].retry_pending = true;
    hvf_sim_add_timer(sim, hvf_sim_now(sim) + n->o.retry_us, (int64_t)(n->o.nhosts + i));
}

/* Starts migrations out of entry @i up to the per-host limit. */
static void
naive_pump(naive *n, hvf_sim *sim, size_t i)
{
    int32_t host = n->e[i].host;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_migrate_opts opts = {.claim = n->o.claims};
    const int32_t *vms;
    size_t nvms, k = 0;
    uint32_t out = 0;

    if (n->e[i].phase != NAIVE_EVACUATING || !hvf_sim_host_is_evacuating(sim, host))
        return;
    hvf_sim_host_migrations(sim, host, NULL, &out);
    while (out < n->o.migrations_per_host) {
        hvf_error err = HVF_ERROR_INIT;
        int32_t vm = -1, target;

        /* the list shifts as VMs leave: rescan from where we were */
        nvms = hvf_sim_host_vms(sim, host, &vms);
        for (; k < nvms; k++) {
            if (hvf_sim_vm_state_get(sim, vms[k]) == HVF_SIM_VM_RUNNING) {
                vm = vms[k];
                break;
            }
        }
        if (vm < 0)
            return;
        k++;
        if (!f->vms[vm].migratable || n->attempts[vm] > n->o.max_retries) {
            /* cannot move it: shut it down and boot it again after the maintenance */
            if (hvf_sim_stop_vm(sim, vm, &err) == 0) {
                n->parked[vm] = true;
                naive_index_touch(n, host);
                k = 0;
            }
            continue;
        }
        target = naive_pick_target(n, sim, vm, host);
        if (target < 0 || hvf_sim_start_migration(sim, vm, target, &opts, &err) < 0) {
            n->attempts[vm]++;
            hvf_sim_log(sim, "migration_refused", host, vm,
                        target < 0 ? "no host has enough free memory" : err.msg);
            naive_retry_later(n, sim, i);
            return;
        }
        k = 0;
        out++;
    }
}

static void
naive_open_window(naive *n, hvf_sim *sim, size_t i)
{
    hvf_error err = HVF_ERROR_INIT;
    int32_t host = n->e[i].host;

    if (hvf_sim_host_state_get(sim, host) != HVF_SIM_HOST_ACTIVE) {
        /* down or quarantined: the script waits for it */
        naive_retry_later(n, sim, i);
        return;
    }
    if (hvf_sim_set_host_state(sim, host, HVF_SIM_HOST_EVACUATING, &err) < 0)
        return;
    n->e[i].phase = NAIVE_EVACUATING;
    naive_pump(n, sim, i);
}

static void
naive_on_start(hvf_sim *sim, void *ctx)
{
    naive *n = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    uint64_t seed = hvf_sim_params_get(sim)->seed ^ 0x6e61697665ULL;

    free(n->entry_of_host);
    free(n->attempts);
    free(n->parked);
    n->entry_of_host = hvf_malloc((f->nhosts + 1) * sizeof(int32_t));
    for (size_t h = 0; h < f->nhosts; h++)
        n->entry_of_host[h] = -1;
    n->attempts = hvf_calloc(f->nvms + 1, sizeof(uint32_t));
    n->parked = hvf_calloc(f->nvms + 1, sizeof(bool));
    naive_index_free(&n->ix);
    /* its own stream, so target draws do not shift the engine's */
    hvf_rng_seed(&n->rng, hvf_rng_splitmix64(&seed));
    for (size_t i = 0; i < n->o.nhosts; i++) {
        HVF_ASSERT(n->e[i].host >= 0 && (size_t)n->e[i].host < f->nhosts);
        n->entry_of_host[n->e[i].host] = (int32_t)i;
        hvf_sim_add_timer(sim, n->e[i].window_us, (int64_t)i);
    }
}

/*
 * What an event may have given back: memory of the hosts it names. Crashes and the platform's
 * own moves (a VM restarted elsewhere, a service's load) may touch hosts it does not name, and
 * are rare: the index is rebuilt before the next pick.
 */
static void
naive_index_on_event(naive *n, const hvf_sim_event *ev)
{
    switch (ev->type) {
    case HVF_SIM_EV_TIMER:
        break;
    case HVF_SIM_EV_MIGRATION_END:
    case HVF_SIM_EV_MIGRATION_ABORT:
    case HVF_SIM_EV_HOST_EVACUATED:
    case HVF_SIM_EV_HOST_IN_SERVICE:
        naive_index_touch(n, ev->host);
        naive_index_touch(n, ev->from);
        naive_index_touch(n, ev->to);
        break;
    default:
        n->ix.all_dirty = true;
        break;
    }
}

static void
naive_on_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    naive *n = ctx;
    hvf_error err = HVF_ERROR_INIT;
    int32_t idx;

    naive_index_on_event(n, ev);
    switch (ev->type) {
    case HVF_SIM_EV_TIMER: {
        size_t i = (size_t)ev->tag;
        if (i < n->o.nhosts) {
            hvf_sim_log(sim, "maintenance_window", n->e[i].host, -1, "window opens");
            naive_open_window(n, sim, i);
        } else if ((i -= n->o.nhosts) < n->o.nhosts) {
            n->e[i].retry_pending = false;
            if (n->e[i].phase == NAIVE_WAITING)
                naive_open_window(n, sim, i);
            else
                naive_pump(n, sim, i);
        }
        break;
    }
    case HVF_SIM_EV_MIGRATION_ABORT:
        n->attempts[ev->vm]++;
        /* fall through */
    case HVF_SIM_EV_MIGRATION_END:
        idx = n->entry_of_host[ev->from];
        if (idx >= 0)
            naive_pump(n, sim, (size_t)idx);
        break;
    case HVF_SIM_EV_HOST_EVACUATED:
        idx = n->entry_of_host[ev->host];
        if (idx >= 0 && n->e[idx].phase == NAIVE_EVACUATING &&
            hvf_sim_begin_maintenance(sim, ev->host, n->o.window_us, &err) == 0)
            n->e[idx].phase = NAIVE_MAINTENANCE;
        break;
    case HVF_SIM_EV_HOST_IN_SERVICE: {
        const int32_t *vms;
        size_t nvms;
        idx = n->entry_of_host[ev->host];
        if (idx < 0)
            break;
        if (n->e[idx].phase == NAIVE_MAINTENANCE) {
            n->e[idx].phase = NAIVE_DONE;
            nvms = hvf_sim_host_vms(sim, ev->host, &vms);
            for (size_t k = 0; k < nvms; k++) {
                if (n->parked[vms[k]]) {
                    n->parked[vms[k]] = false;
                    if (hvf_sim_start_vm(sim, vms[k], ev->host, &err) < 0)
                        hvf_sim_log(sim, "vm_start_failed", ev->host, vms[k], err.msg);
                    nvms = hvf_sim_host_vms(sim, ev->host, &vms);
                }
            }
        } else if (n->e[idx].phase == NAIVE_EVACUATING) {
            /* back from a crash in the middle of its evacuation: start over */
            n->e[idx].phase = NAIVE_WAITING;
            naive_open_window(n, sim, (size_t)idx);
        }
        break;
    }
    default:
        break;
    }
}

void *
hvf_sim_naive_new(const hvf_sim_naive_opts *opts, hvf_sim_controller *ctl)
{
    naive *n = HVF_NEW(naive);

    n->o = *opts;
    n->o.hosts = hvf_calloc(opts->nhosts + 1, sizeof(int32_t));
    memcpy(n->o.hosts, opts->hosts, opts->nhosts * sizeof(int32_t));
    if (opts->at_us) {
        n->o.at_us = hvf_calloc(opts->nhosts + 1, sizeof(int64_t));
        memcpy(n->o.at_us, opts->at_us, opts->nhosts * sizeof(int64_t));
    }
    if (n->o.migrations_per_host == 0)
        n->o.migrations_per_host = 1;
    n->e = hvf_calloc(opts->nhosts + 1, sizeof(naive_entry));
    for (size_t i = 0; i < opts->nhosts; i++) {
        n->e[i].host = opts->hosts[i];
        n->e[i].window_us =
            opts->at_us ? opts->at_us[i]
                        : opts->start_us +
                              (int64_t)((double)opts->span_us * (double)i / (double)opts->nhosts);
    }
    ctl->name = "naive";
    ctl->ctx = n;
    ctl->on_start = naive_on_start;
    ctl->on_event = naive_on_event;
    ctl->on_finish = NULL;
    return n;
}
