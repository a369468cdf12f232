/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor agent and the host's task limit (seed 001). Each host counts its tasks: its
 * own (base_threads), each running VM's qemu (one per vCPU plus qemu_threads) and the agent's.
 * Against threads_max (pids.max, kernel.threads-max), every mechanism a small function with its
 * parameters in the scenario's hv_agent: section:
 *
 *   per_notification  the agent forks a process (process_threads tasks) per notification; it
 *                     ends after handle_time, unless the proxy leaks connections: then it waits
 *                     on its connection for good. A fork at the limit fails.
 *   pooled            hvfleet's agent: one process, one persistent connection, `workers`
 *                     threads and a queue of queue_max; beyond it the overflow policy drops
 *                     (newest or oldest) or blocks the sender. 1 + workers tasks, whatever comes.
 *   qemu              each running qemu starts a worker thread qemu_spawns_per_min times a minute;
 *                     at the limit the thread cannot start and the VM crashes. A VM that boots
 *                     (the platform restarting it) needs all its tasks at once: at the limit it
 *                     fails to start (a failed deployment) and crashes again.
 *   operators         (per_notification) alert_after_crashes VM crashes raise an alert
 *                     alert_delay later; the update is suspected diagnose_after the alert and
 *                     reverted from decide_after, host by host over revert_duration (the agent
 *                     restarts: its processes are gone); confirm_after the last host, declared
 * fine.
 *
 * Notifications per host: notifications_per_min, plus burst_per_min during the burst. Fractions
 * carry over from tick to tick, so the counts are exact over time and deterministic.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fallout.h"
#include "hvfleet/incident.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

enum { AG_T_TICK = 1, AG_T_START, AG_T_ALERT, AG_T_DIAGNOSE, AG_T_DECIDE, AG_T_REVERT, AG_T_FINE };
#define AG_TAG_SHIFT 32

/* Processes that end at a known time (no leak): a FIFO of (end, tasks) per host. */
typedef struct ag_batch {
    int64_t end_us;
    double tasks;
} ag_batch;

typedef struct ag_host {
    double agent_tasks;
    double carry;
    ag_batch *batches; /* owned */
    size_t nb, b_head, b_cap;
    double queue;
    bool exhausted, queue_full, reverted, down;
} ag_host;

typedef struct ag_ctx {
    hvf_hvagent_opts o;
    int32_t id;
    int32_t *hosts; /* owned */
    size_t nhosts;
    int32_t *slot;       /* owned, per fleet host: index into ag, -1 */
    ag_host *ag;         /* owned */
    double *spawn_carry; /* owned, per VM */
    bool *was_running;   /* owned, per VM */
    bool started;
    uint32_t crashes;
    bool alerted, shedding;
    size_t reverted_hosts;
    hvf_hvagent_stats st;
} ag_ctx;

static void
ag_timer_at(hvf_sim *sim, ag_ctx *c, int64_t t_us, int64_t kind, int64_t low)
{
    hvf_sim_component_timer(sim, c->id, t_us, (kind << AG_TAG_SHIFT) | low);
}

static uint32_t
ag_vm_tasks(const hvf_vm *v, const hvf_hvagent_opts *o)
{
    return v->vcpus + o->qemu_threads;
}

/* Tasks on @host now: its own, its running qemus, the agent's. */
static double
ag_tasks(hvf_sim *sim, ag_ctx *c, int32_t host, const ag_host *a)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    const int32_t *vms;
    size_t n = hvf_sim_host_vms(sim, host, &vms);
    double t = c->o.base_threads + a->agent_tasks;

    for (size_t i = 0; i < n; i++) {
        hvf_sim_vm_state s = hvf_sim_vm_state_get(sim, vms[i]);
        if (s == HVF_SIM_VM_RUNNING || s == HVF_SIM_VM_MIGRATING || s == HVF_SIM_VM_PAUSED)
            t += ag_vm_tasks(&f->vms[vms[i]], &c->o);
    }
    return t;
}

/* Notifications arriving at one host over [@from_us, @to_us]: the steady rate, plus the burst
 * for the part of the interval it covers. */
static double
ag_arrivals(const ag_ctx *c, int64_t from_us, int64_t to_us)
{
    double n = c->o.notifications_per_min / 60.0 * (double)(to_us - from_us) / 1e6;

    if (c->o.burst_at_us >= 0) {
        int64_t a = from_us > c->o.burst_at_us ? from_us : c->o.burst_at_us;
        int64_t b = c->o.burst_at_us + c->o.burst_duration_us;
        if (to_us < b)
            b = to_us;
        if (b > a)
            n += c->o.burst_per_min / 60.0 * (double)(b - a) / 1e6;
    }
    return n;
}

/* per_notification: a process per notification, held for good behind a leaking proxy. */
static void
ag_fork(hvf_sim *sim, ag_ctx *c, ag_host *a, uint64_t n, double *used)
{
    int64_t now = hvf_sim_now(sim);
    double pt = c->o.process_threads;

    while (a->b_head < a->nb && a->batches[a->b_head].end_us <= now) {
        a->agent_tasks -= a->batches[a->b_head].tasks;
        *used -= a->batches[a->b_head].tasks;
        a->b_head++;
    }
    if (a->b_head > 64 && a->b_head * 2 > a->nb) {
        /* keep the FIFO as long as what is in flight, not as everything ever forked */
        memmove(a->batches, a->batches + a->b_head, (a->nb - a->b_head) * sizeof(ag_batch));
        a->nb -= a->b_head;
        a->b_head = 0;
    }
    if (a->reverted)
        return; /* the update is gone: notifications are handled without forking */
    for (uint64_t i = 0; i < n; i++) {
        if (*used + pt > c->o.threads_max) {
            c->st.forks_failed += n - i;
            break;
        }
        a->agent_tasks += pt;
        *used += pt;
        if (!c->o.proxy_leaks) {
            hvf_grow(&a->batches, &a->b_cap, a->nb + 1, sizeof(ag_batch));
            a->batches[a->nb++] = (ag_batch){now + c->o.handle_time_us, pt};
        }
    }
}

/* pooled: a bounded queue in front of a fixed pool of workers. */
static void
ag_pool(hvf_sim *sim, ag_ctx *c, int32_t host, ag_host *a, uint64_t n, double dt)
{
    double capacity = c->o.workers * dt * 1e6 / (double)c->o.handle_time_us;
    double served, over;

    a->queue += (double)n;
    served = fmin(a->queue, capacity);
    a->queue -= served;
    over = a->queue - c->o.queue_max;
    if (over > 0) {
        a->queue = c->o.queue_max;
        if (c->o.overflow != HVF_OVERFLOW_BLOCK)
            c->st.dropped += (uint64_t)llround(over);
        if (!a->queue_full) {
            a->queue_full = true;
            hvf_incident_log(sim, HVF_INCIDENT_ALERT, host, -1,
                             "hvfleet-agent reports its queue full (%u): %s, still %u tasks",
                             c->o.queue_max, hvf_overflow_names[c->o.overflow], 1 + c->o.workers);
            if (!c->shedding) {
                c->shedding = true;
                hvf_incident_log(sim, HVF_INCIDENT_DECISION, host, -1,
                                 "agents shed load by their overflow policy (%s); workers and "
                                 "tasks stay bounded",
                                 hvf_overflow_names[c->o.overflow]);
            }
        }
    } else if (a->queue_full && a->queue < 0.1 * c->o.queue_max) {
        a->queue_full = false;
    }
    if (a->queue > c->st.peak_queue)
        c->st.peak_queue = (uint32_t)ceil(a->queue);
}

static void
ag_crash_vm(hvf_sim *sim, ag_ctx *c, int32_t vm, const char *why, double *used)
{
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_sim_crash_vm(sim, vm, why, &err) < 0)
        return;
    *used -= ag_vm_tasks(&hvf_sim_fleet(sim)->vms[vm], &c->o);
    if (++c->crashes == c->o.alert_after_crashes && !c->alerted)
        ag_timer_at(sim, c, hvf_sim_now(sim) + c->o.alert_delay_us, AG_T_ALERT, 0);
}

/* qemu at the limit: VMs that just booted cannot start; running ones fail to start threads. */
static void
ag_qemu(hvf_sim *sim, ag_ctx *c, int32_t host, double dt, double *used)
{
    const int32_t *list;
    size_t n = hvf_sim_host_vms(sim, host, &list);
    HVF_AUTOFREE int32_t *vms = hvf_malloc((n + 1) * sizeof(int32_t));

    /* the list changes as VMs crash; walk a copy */
    memcpy(vms, list, n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        int32_t vm = vms[i];
        bool runs = hvf_sim_vm_state_get(sim, vm) == HVF_SIM_VM_RUNNING;
        bool booted = runs && !c->was_running[vm];

        c->was_running[vm] = runs;
        if (!runs)
            continue;
        if (booted && *used > c->o.threads_max) {
            c->st.deploy_failures++;
            ag_crash_vm(sim, c, vm, "qemu could not start: the host's task limit is reached", used);
            c->was_running[vm] = false;
            continue;
        }
        c->spawn_carry[vm] += c->o.qemu_spawns_per_min / 60.0 * dt;
        if (c->spawn_carry[vm] < 1.0)
            continue;
        c->spawn_carry[vm] -= floor(c->spawn_carry[vm]);
        if (*used + 1 > c->o.threads_max) {
            c->st.vm_crashes++;
            ag_crash_vm(sim, c, vm, "qemu cannot create a thread: the host's task limit is reached",
                        used);
            c->was_running[vm] = false;
        }
    }
}

static void
ag_tick_host(hvf_sim *sim, ag_ctx *c, size_t i, double dt)
{
    int32_t host = c->hosts[i];
    ag_host *a = &c->ag[i];
    double used, want;
    uint64_t n;
    char detail[160];

    if (hvf_sim_host_state_get(sim, host) == HVF_SIM_HOST_DOWN) {
        /* a reboot ends every process; the agent starts again clean */
        a->down = true;
        return;
    }
    if (a->down) {
        a->down = false;
        a->agent_tasks = c->o.model == HVF_HVAGENT_POOLED ? 1 + c->o.workers : 1;
        a->nb = a->b_head = 0;
    }
    want = ag_arrivals(c, hvf_sim_now(sim) - c->o.tick_us, hvf_sim_now(sim)) + a->carry;
    n = (uint64_t)floor(want);
    a->carry = want - (double)n;
    c->st.notifications += n;
    used = ag_tasks(sim, c, host, a);
    if (c->o.model == HVF_HVAGENT_PER_NOTIFICATION)
        ag_fork(sim, c, a, n, &used);
    else
        ag_pool(sim, c, host, a, n, dt);
    if (a->agent_tasks > c->st.peak_agent_threads)
        c->st.peak_agent_threads = (uint32_t)ceil(a->agent_tasks);
    if (used >= c->o.threads_max && !a->exhausted) {
        a->exhausted = true;
        c->st.hosts_exhausted++;
        snprintf(detail, sizeof(detail), "%.0f of %u tasks in use, the agent holds %.0f", used,
                 c->o.threads_max, a->agent_tasks);
        hvf_sim_log(sim, "host_tasks_exhausted", host, -1, detail);
    } else if (used < c->o.threads_max * 0.9) {
        a->exhausted = false;
    }
    ag_qemu(sim, c, host, dt, &used);
    used = ag_tasks(sim, c, host, a);
    if (used > c->st.peak_threads)
        c->st.peak_threads = (uint32_t)ceil(used);
}

static void
ag_tick(hvf_sim *sim, ag_ctx *c)
{
    double dt = (double)c->o.tick_us / 1e6;
    bool all_clear = true;

    for (size_t i = 0; i < c->nhosts; i++) {
        ag_tick_host(sim, c, i, dt);
        all_clear = all_clear && !c->ag[i].queue_full;
    }
    if (c->shedding && all_clear &&
        !(c->o.burst_at_us >= 0 && hvf_sim_now(sim) < c->o.burst_at_us + c->o.burst_duration_us)) {
        c->shedding = false;
        hvf_incident_log(sim, HVF_INCIDENT_RESOLVED, -1, -1,
                         "agent queues drained; no VM was affected");
    }
}

static void
ag_revert_host(hvf_sim *sim, ag_ctx *c, size_t i)
{
    ag_host *a = &c->ag[i];

    if (a->reverted)
        return;
    a->reverted = true;
    /* the patched agent restarts: its forked processes and their connections are gone */
    a->agent_tasks = 1;
    a->nb = a->b_head = 0;
    hvf_sim_log(sim, "agent_reverted", c->hosts[i], -1,
                "notification update reverted: the agent restarts without forking");
    c->reverted_hosts++;
}

static void
ag_start_model(hvf_sim *sim, ag_ctx *c)
{
    c->started = true;
    for (size_t i = 0; i < c->nhosts; i++)
        c->ag[i].agent_tasks = c->o.model == HVF_HVAGENT_POOLED ? 1 + c->o.workers : 1;
    hvf_sim_log(sim, c->o.proxy_leaks ? "proxy_saturated" : "notifications_start", -1, -1,
                c->o.model == HVF_HVAGENT_POOLED
                    ? "hvfleet-agent: one process, one persistent connection, a bounded worker "
                      "pool"
                    : "the agent forks a process per notification, each with its own "
                      "connection");
    ag_timer_at(sim, c, hvf_sim_now(sim) + c->o.tick_us, AG_T_TICK, 0);
}

static void
ag_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    ag_ctx *c = ctx;
    int64_t now = hvf_sim_now(sim);
    int64_t kind = tag >> AG_TAG_SHIFT, low = tag & 0xffffffffLL;

    switch (kind) {
    case AG_T_START:
        ag_start_model(sim, c);
        break;
    case AG_T_TICK:
        ag_tick(sim, c);
        ag_timer_at(sim, c, now + c->o.tick_us, AG_T_TICK, 0);
        break;
    case AG_T_ALERT:
        c->alerted = true;
        hvf_incident_log(sim, HVF_INCIDENT_ALERT, -1, -1,
                         "via monitoring: VMs crashing on hypervisors (%u so far): qemu threads "
                         "killed, too many processes",
                         c->crashes);
        ag_timer_at(sim, c, now + c->o.diagnose_after_us, AG_T_DIAGNOSE, 0);
        ag_timer_at(sim, c, now + c->o.decide_after_us, AG_T_DECIDE, 0);
        break;
    case AG_T_DIAGNOSE:
        hvf_sim_log(sim, "diagnosis", -1, -1,
                    "operators suspect the recent agent update of exhausting the hosts' threads");
        break;
    case AG_T_DECIDE:
        hvf_incident_log(sim, HVF_INCIDENT_DECISION, -1, -1,
                         "revert the notification update on every hypervisor (%zu hosts over "
                         "%.0f min)",
                         c->nhosts, (double)c->o.revert_duration_us / 60e6);
        for (size_t i = 0; i < c->nhosts; i++)
            ag_timer_at(sim, c,
                        now + (int64_t)((double)c->o.revert_duration_us * (double)(i + 1) /
                                        (double)c->nhosts),
                        AG_T_REVERT, (int64_t)i);
        ag_timer_at(sim, c, now + c->o.revert_duration_us + c->o.confirm_after_us, AG_T_FINE, 0);
        break;
    case AG_T_REVERT:
        ag_revert_host(sim, c, (size_t)low);
        break;
    case AG_T_FINE:
        hvf_incident_log(sim, HVF_INCIDENT_RESOLVED, -1, -1,
                         "every hypervisor checked after the revert: fine");
        break;
    default:
        HVF_ASSERT(!"unknown agent timer");
    }
}

static void
ag_start(hvf_sim *sim, void *ctx)
{
    ag_ctx *c = ctx;
    const hvf_fleet *f = hvf_sim_fleet(sim);

    for (size_t v = 0; v < f->nvms; v++)
        c->was_running[v] = hvf_sim_vm_state_get(sim, (int32_t)v) == HVF_SIM_VM_RUNNING;
    ag_timer_at(sim, c, c->o.start_us, AG_T_START, 0);
}

static void
ag_finish(hvf_sim *sim, void *ctx)
{
    ag_ctx *c = ctx;
    const hvf_hvagent_stats *s = &c->st;
    HVF_AUTOFREE char *json = hvf_asprintf(
        "{\"model\":\"%s\",\"hosts\":%u,\"threads_max\":%u,\"peak_threads\":%u,"
        "\"peak_agent_threads\":%u,\"hosts_exhausted\":%u,\"notifications\":%" PRIu64
        ",\"forks_failed\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"peak_queue\":%u,"
        "\"vm_crashes\":%u,\"deploy_failures\":%u,\"hosts_reverted\":%zu}",
        hvf_hvagent_model_names[c->o.model], s->hosts, c->o.threads_max, s->peak_threads,
        s->peak_agent_threads, s->hosts_exhausted, s->notifications, s->forks_failed, s->dropped,
        s->peak_queue, s->vm_crashes, s->deploy_failures, c->reverted_hosts);

    hvf_sim_add_summary(sim, "hv_agent", json);
}

static void
ag_free(void *ctx)
{
    ag_ctx *c = ctx;

    for (size_t i = 0; i < c->nhosts; i++)
        free(c->ag[i].batches);
    free(c->hosts);
    free(c->slot);
    free(c->ag);
    free(c->spawn_carry);
    free(c->was_running);
    free(c);
}

int32_t
hvf_hvagent_attach(hvf_sim *sim, const hvf_hvagent_opts *o, hvf_error *err)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_component comp = {.name = "hv_agent",
                              .on_start = ag_start,
                              .on_timer = ag_timer,
                              .on_finish = ag_finish,
                              .free_ctx = ag_free};
    ag_ctx *c;

    if ((unsigned)o->model >= HVF_HVAGENT_LAST || (unsigned)o->overflow >= HVF_OVERFLOW_LAST ||
        o->tick_us <= 0 || o->start_us < 0 || o->notifications_per_min < 0 ||
        o->burst_per_min < 0 || o->burst_duration_us < 0 || o->handle_time_us <= 0 ||
        o->threads_max == 0 || o->workers == 0 || o->qemu_spawns_per_min < 0 ||
        o->alert_delay_us < 0 || o->diagnose_after_us < 0 || o->decide_after_us < 0 ||
        o->revert_duration_us < 0 || o->confirm_after_us < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "hv_agent: a parameter is out of range");
        return -1;
    }
    for (size_t i = 0; i < o->nhosts; i++) {
        if (o->hosts[i] < 0 || (size_t)o->hosts[i] >= f->nhosts) {
            hvf_error_set(err, HVF_ERR_INVALID, "hv_agent: host index %d does not exist",
                          o->hosts[i]);
            return -1;
        }
    }
    c = HVF_NEW(ag_ctx);
    c->o = *o;
    c->o.hosts = NULL;
    c->o.nhosts = 0;
    c->nhosts = o->nhosts ? o->nhosts : f->nhosts;
    c->hosts = hvf_calloc(c->nhosts + 1, sizeof(int32_t));
    c->slot = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
    for (size_t h = 0; h < f->nhosts; h++)
        c->slot[h] = -1;
    for (size_t i = 0; i < c->nhosts; i++) {
        c->hosts[i] = o->nhosts ? o->hosts[i] : (int32_t)i;
        c->slot[c->hosts[i]] = (int32_t)i;
    }
    c->ag = hvf_calloc(c->nhosts + 1, sizeof(ag_host));
    c->spawn_carry = hvf_calloc(f->nvms + 1, sizeof(double));
    /* spread qemu's thread starts over the minute, deterministically */
    for (size_t v = 0; v < f->nvms; v++)
        c->spawn_carry[v] = (double)(v % 60) / 60.0;
    c->was_running = hvf_calloc(f->nvms + 1, sizeof(bool));
    c->st.hosts = (uint32_t)c->nhosts;
    comp.ctx = c;
    c->id = hvf_sim_add_component(sim, &comp);
    return c->id;
}

bool
hvf_hvagent_stats_get(const hvf_sim *sim, hvf_hvagent_stats *out)
{
    const ag_ctx *c = sim_component_ctx(sim, "hv_agent");

    if (!c)
        return false;
    *out = c->st;
    return true;
}
