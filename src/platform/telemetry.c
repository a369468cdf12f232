/* SPDX-License-Identifier: MIT */
/*
 * Telemetry agents in VMs (seed 003): each ships what it produces to a shared dependency; while
 * that does not serve, it buffers by its policy, and a buffer that outgrows the guest's free
 * memory turns into guest swap and thrashing, i.e. disk IO on the host (the twin's dynamics
 * then saturate the disks, hang tasks and, with hung_task_panic, crash the host).
 *
 * Each mechanism is a small function with its parameters in the scenario's telemetry: section:
 *
 *   produce   rate_bytes_per_s per agent on average, always; with rate_spread the agents' rates
 *             cover rate x [1 - spread/2, 1 + spread/2] evenly (a golden-ratio sequence over the
 *             agents, so no two neighbours are alike and no randomness is involved)
 *   buffer    dependency down: unbounded keeps all in memory; block / drop_newest cap memory at
 *             buffer_max (the rest stays with the blocked source, or is lost); spill caps memory,
 *             then writes to disk up to spill_max (the writes are guest IO), then drops
 *   ship      dependency up: new telemetry leaves at once and the backlog drains at drain
 *             times how fast the VM runs (a thrashing guest ships slowly), memory first, then
 *             the spill, read back from disk
 *   pressure  free guest memory = memory x (1 - guest_used); a buffer beyond it is swapped inside
 *             the guest (up to guest_swap; beyond, the guest's OOM killer ends the agent and its
 *             buffer is lost); a guest under pressure answers at thrash_speed and reads from disk
 *             thrash_io plus guest_swap_io_fraction of what it swapped, per second
 *
 * State advances at every tick, at dependency changes and when a VM goes down (its memory
 * buffer is lost; a spill on disk survives), so results do not depend on the tick alone.
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/alloc.h"
#include "hvfleet/fallout.h"
#include "hvfleet/units.h"
#include "sim/sim-priv.h"

typedef struct tel_vm {
    int32_t vm;
    uint32_t copy; /* the VM's copy its buffer lives in: a redeploy starts a fresh one */
    double rate_factor;
    double buf_mib, spill_mib;
    bool pressured, ever_pressured;
} tel_vm;

typedef struct tel_ctx {
    hvf_telemetry_opts o;
    int32_t id, dep;
    tel_vm *vms; /* owned */
    size_t n;
    int64_t last_us;
    bool serving; /* the dependency's state since last_us: the twin notifies after a change */
    uint32_t pressured_now;
    hvf_telemetry_stats st;
} tel_ctx;

/* What the agent keeps when it cannot ship @mib: per policy, into memory, the spill, or not. */
static double
tel_buffer(tel_ctx *c, tel_vm *t, double mib)
{
    const hvf_telemetry_opts *o = &c->o;
    double room, spilled = 0;

    if (o->policy == HVF_BUFFER_UNBOUNDED) {
        t->buf_mib += mib;
        return 0;
    }
    room = fmax(0, (double)o->buffer_max_mib - t->buf_mib);
    t->buf_mib += fmin(mib, room);
    mib -= fmin(mib, room);
    if (o->policy == HVF_BUFFER_SPILL) {
        room = fmax(0, (double)o->spill_max_mib - t->spill_mib);
        spilled = fmin(mib, room);
        t->spill_mib += spilled;
        c->st.spilled_mib += spilled;
        mib -= spilled;
    }
    if (o->policy == HVF_BUFFER_BLOCK)
        c->st.blocked_mib += mib;
    else
        c->st.dropped_mib += mib;
    return spilled;
}

/* Ships up to @mib of backlog: memory first, then the spill (which is read back from disk).
 * Returns what was read from the spill. */
static double
tel_ship(tel_vm *t, double mib)
{
    double from_mem = fmin(t->buf_mib, mib), from_spill;

    t->buf_mib -= from_mem;
    from_spill = fmin(t->spill_mib, mib - from_mem);
    t->spill_mib -= from_spill;
    return from_spill;
}

/* The guest under its agent's buffer: swap, OOM, thrashing; sets the guest's load. */
static void
tel_pressure(hvf_sim *sim, tel_ctx *c, tel_vm *t, double disk_mib_per_s)
{
    const hvf_telemetry_opts *o = &c->o;
    const hvf_vm *v = &hvf_sim_fleet(sim)->vms[t->vm];
    double headroom = (double)v->mem_mib * (1.0 - o->guest_used);
    double excess = t->buf_mib - headroom;
    double io = disk_mib_per_s * (double)HVF_MIB, speed = 1.0;
    char detail[160];
    bool was = t->pressured;

    if (excess > (double)o->guest_swap_mib) {
        snprintf(detail, sizeof(detail),
                 "guest out of memory: the telemetry agent is killed, %.0f MiB of buffer lost",
                 t->buf_mib);
        hvf_sim_log(sim, "agent_oom_killed", hvf_sim_vm_host(sim, t->vm), t->vm, detail);
        c->st.agents_oom_killed++;
        c->st.dropped_mib += t->buf_mib;
        t->buf_mib = 0;
        excess = -headroom;
    }
    t->pressured = excess > 0;
    if (t->pressured) {
        io += o->thrash_io_bytes_per_s + excess * (double)HVF_MIB * o->guest_swap_io_fraction;
        speed = o->thrash_speed;
    }
    if (t->pressured && !was) {
        snprintf(detail, sizeof(detail),
                 "telemetry buffer %.0f MiB beyond the guest's %.0f MiB free: swapping", t->buf_mib,
                 headroom);
        hvf_sim_log(sim, "vm_memory_pressure", hvf_sim_vm_host(sim, t->vm), t->vm, detail);
        c->pressured_now++;
        if (!t->ever_pressured) {
            t->ever_pressured = true;
            c->st.vms_pressured++;
        }
        if (c->pressured_now > c->st.peak_vms_pressured)
            c->st.peak_vms_pressured = c->pressured_now;
    } else if (!t->pressured && was) {
        c->pressured_now--;
    }
    if (io > c->st.peak_guest_io_bytes_per_s)
        c->st.peak_guest_io_bytes_per_s = io;
    hvf_sim_vm_set_guest_load(sim, t->vm, io, speed);
}

/* The agent's copy is gone (VM down, or redeployed elsewhere): its memory buffer with it. */
static void
tel_lose(hvf_sim *sim, tel_ctx *c, tel_vm *t)
{
    c->st.dropped_mib += t->buf_mib;
    t->buf_mib = 0;
    if (t->pressured) {
        t->pressured = false;
        c->pressured_now--;
    }
    hvf_sim_vm_set_guest_load(sim, t->vm, 0, 1.0);
}

/* Brings every agent from the last advance to now, under the dependency's state until now. */
static void
tel_advance(hvf_sim *sim, tel_ctx *c)
{
    const hvf_telemetry_opts *o = &c->o;
    int64_t now = hvf_sim_now(sim);
    double dt = (double)(now - c->last_us) / 1e6;
    bool serving = c->serving;
    double produced = o->rate_bytes_per_s * dt / (double)HVF_MIB;
    double drain = o->drain_bytes_per_s * dt / (double)HVF_MIB;

    c->last_us = now;
    for (size_t i = 0; i < c->n; i++) {
        tel_vm *t = &c->vms[i];
        hvf_sim_vm_state s = hvf_sim_vm_state_get(sim, t->vm);
        double disk_mib = 0;

        if (s != HVF_SIM_VM_RUNNING && s != HVF_SIM_VM_MIGRATING) {
            if (t->buf_mib > 0 || t->pressured)
                tel_lose(sim, c, t);
            continue;
        }
        if (hvf_sim_vm_copy(sim, t->vm) != t->copy) {
            /* a migration carries the guest's memory along; a redeploy starts a new guest (the
             * old copy and its buffer are the remediation's zombie, if it still runs) */
            t->copy = hvf_sim_vm_copy(sim, t->vm);
            c->st.dropped_mib += t->buf_mib;
            t->buf_mib = 0;
            t->spill_mib = 0;
            if (t->pressured) {
                t->pressured = false;
                c->pressured_now--;
            }
        }
        if (dt > 0) {
            if (serving)
                disk_mib += tel_ship(t, drain * hvf_sim_vm_speed(sim, t->vm)) / dt;
            else
                disk_mib += tel_buffer(c, t, produced * t->rate_factor) / dt;
        }
        c->st.peak_buffer_mib = fmax(c->st.peak_buffer_mib, t->buf_mib);
        c->st.peak_spill_mib = fmax(c->st.peak_spill_mib, t->spill_mib);
        tel_pressure(sim, c, t, disk_mib);
    }
    c->serving = hvf_sim_dependency_serving(sim, c->dep);
}

static void
tel_start(hvf_sim *sim, void *ctx)
{
    tel_ctx *c = ctx;

    c->last_us = hvf_sim_now(sim);
    c->serving = hvf_sim_dependency_serving(sim, c->dep);
    hvf_sim_component_timer(sim, c->id, c->last_us + c->o.tick_us, 0);
}

static void
tel_timer(hvf_sim *sim, int64_t tag, void *ctx)
{
    tel_ctx *c = ctx;

    tel_advance(sim, c);
    hvf_sim_component_timer(sim, c->id, hvf_sim_now(sim) + c->o.tick_us, 0);
}

static void
tel_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx)
{
    tel_ctx *c = ctx;

    if ((ev->type == HVF_SIM_EV_DEPENDENCY && ev->tag == c->dep) ||
        ev->type == HVF_SIM_EV_VM_DOWN || ev->type == HVF_SIM_EV_HOST_CRASH)
        tel_advance(sim, c);
}

static void
tel_finish(hvf_sim *sim, void *ctx)
{
    tel_ctx *c = ctx;
    const hvf_telemetry_stats *s = &c->st;
    HVF_AUTOFREE char *json = NULL;

    tel_advance(sim, c);
    json = hvf_asprintf(
        "{\"policy\":\"%s\",\"agents\":%u,\"peak_buffer_mib\":%.3f,\"peak_spill_mib\":%.3f,"
        "\"peak_guest_io_bytes_per_s\":%.0f,\"vms_pressured\":%u,\"peak_vms_pressured\":%u,"
        "\"agents_oom_killed\":%u,\"dropped_mib\":%.3f,\"blocked_mib\":%.3f,"
        "\"spilled_mib\":%.3f}",
        hvf_buffer_policy_names[c->o.policy], s->agents, s->peak_buffer_mib, s->peak_spill_mib,
        s->peak_guest_io_bytes_per_s, s->vms_pressured, s->peak_vms_pressured, s->agents_oom_killed,
        s->dropped_mib, s->blocked_mib, s->spilled_mib);
    hvf_sim_add_summary(sim, "telemetry", json);
}

static void
tel_free(void *ctx)
{
    tel_ctx *c = ctx;

    free(c->o.vms);
    free(c->vms);
    free(c);
}

int32_t
hvf_telemetry_attach(hvf_sim *sim, const hvf_telemetry_opts *o, hvf_error *err)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_component comp = {.name = "telemetry",
                              .on_start = tel_start,
                              .on_event = tel_event,
                              .on_timer = tel_timer,
                              .on_finish = tel_finish,
                              .free_ctx = tel_free};
    tel_ctx *c;

    if (o->tick_us <= 0 || o->rate_bytes_per_s < 0 || o->drain_bytes_per_s <= 0 ||
        !(o->rate_spread >= 0 && o->rate_spread <= 1.9) ||
        !(o->guest_used >= 0 && o->guest_used < 1) || !(o->thrash_speed > 0) ||
        o->thrash_speed > 1 || (unsigned)o->policy >= HVF_BUFFER_LAST || !o->dependency[0]) {
        hvf_error_set(err, HVF_ERR_INVALID, "telemetry: a parameter is out of range");
        return -1;
    }
    for (size_t i = 0; i < o->nvms; i++) {
        if (o->vms[i] < 0 || (size_t)o->vms[i] >= f->nvms) {
            hvf_error_set(err, HVF_ERR_INVALID, "telemetry: VM index %d does not exist", o->vms[i]);
            return -1;
        }
    }
    c = HVF_NEW(tel_ctx);
    c->o = *o;
    c->o.vms = NULL;
    c->o.nvms = 0;
    c->n = o->nvms ? o->nvms : f->nvms;
    c->vms = hvf_calloc(c->n + 1, sizeof(tel_vm));
    for (size_t i = 0; i < c->n; i++) {
        double u = fmod((double)(i + 1) * 0.6180339887498949, 1.0);
        c->vms[i].vm = o->nvms ? o->vms[i] : (int32_t)i;
        c->vms[i].rate_factor = 1.0 + o->rate_spread * (u - 0.5);
    }
    c->st.agents = (uint32_t)c->n;
    c->dep = hvf_sim_dependency_id(sim, o->dependency);
    comp.ctx = c;
    c->id = hvf_sim_add_component(sim, &comp);
    return c->id;
}

bool
hvf_telemetry_stats_get(const hvf_sim *sim, hvf_telemetry_stats *out)
{
    const tel_ctx *c = sim_component_ctx(sim, "telemetry");

    if (!c)
        return false;
    *out = c->st;
    return true;
}
