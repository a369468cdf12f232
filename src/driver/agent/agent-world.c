/* SPDX-License-Identifier: MIT */
/*
 * The agent:// driver's world: what the agents say (their registrations and liveness, the
 * results of commands, their events), folded into where VMs run, host states and jobs, and
 * turned into the driver's events (agent-driver.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/agent/agent-driver.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"

int64_t
ad_now(const ad_priv *p)
{
    return (hvf_drv_mono_ns() - p->t0_ns) / 1000;
}

void
ad_emit(ad_priv *p, hvf_drv_event_type type, const char *host, const char *vm,
        hvf_drv_vm_state vs, int64_t job, hvf_job_state js)
{
    hvf_drv_evq_push(&p->evq, ad_now(p), type, host, vm, vs, job, js);
}

int
ad_send(ad_priv *p, int32_t host, const char *type, json_t *args, ad_cmd_kind kind, int32_t vm,
        int64_t job, hvf_error *err)
{
    char id[64];
    ad_cmd *c;

    if (p->hub.send(p->hub.ctx, p->fleet->hosts[host].name, type, args, id, err) < 0)
        return -1;
    hvf_grow(&p->cmds, &p->cmds_cap, p->ncmds + 1, sizeof(*p->cmds));
    c = &p->cmds[p->ncmds++];
    memset(c, 0, sizeof(*c));
    hvf_strlcpy(c->id, id, sizeof(c->id));
    c->kind = kind;
    c->host = host;
    c->vm = vm;
    c->job = job;
    return 0;
}

ad_job *
ad_job_find(ad_priv *p, int64_t id)
{
    for (size_t i = 0; i < p->njobs; i++)
        if (p->jobs[i].id == id)
            return &p->jobs[i];
    return NULL;
}

/* Destroys the incoming QEMU a migration left on its target. */
static void
ad_drop_incoming(ad_priv *p, const ad_job *j)
{
    hvf_error err = HVF_ERROR_INIT;

    (void)ad_send(p, j->dst, "vm_destroy",
                  json_pack("{s:s}", "vm", p->fleet->vms[j->vm].name), AD_CMD_OTHER, -1, -1,
                  &err);
}

void
ad_job_end(ad_priv *p, ad_job *j, hvf_job_state state, const char *why)
{
    const char *vm = p->fleet->vms[j->vm].name;

    if (j->phase == AD_JOB_END)
        return;
    j->phase = AD_JOB_END;
    j->info.state = state;
    j->info.ended_us = ad_now(p);
    if (why)
        hvf_strlcpy(j->info.error, why, sizeof(j->info.error));
    p->vms[j->vm].job = -1;
    if (state == HVF_JOB_COMPLETED) {
        hvf_drv_vm_place(p->fleet, j->vm, j->dst);
        p->vms[j->vm].state = HVF_DRV_VM_RUNNING;
        j->info.remaining_bytes = 0;
    } else {
        p->vms[j->vm].state = HVF_DRV_VM_RUNNING;
        if (p->hosts[j->dst].agent == AD_AGENT_CONNECTED)
            ad_drop_incoming(p, j);
    }
    ad_emit(p, HVF_DRV_EV_JOB_DONE, p->fleet->hosts[j->src].name, vm, p->vms[j->vm].state, j->id,
            state);
}

/* ---- the hosts' agents ---- */

static void
ad_host_lost(ad_priv *p, int32_t h, const char *why)
{
    ad_host *ho = &p->hosts[h];

    for (size_t i = 0; i < p->njobs; i++) {
        ad_job *j = &p->jobs[i];

        if (j->phase != AD_JOB_END && (j->src == h || j->dst == h))
            ad_job_end(p, j, HVF_JOB_FAILED, why);
    }
    if (ho->state == HVF_DRV_HOST_DOWN)
        return;
    ho->state = HVF_DRV_HOST_DOWN;
    ho->maint_id[0] = '\0';
    ad_emit(p, HVF_DRV_EV_HOST_LOST, p->fleet->hosts[h].name, NULL, HVF_DRV_VM_RUNNING, -1,
            HVF_JOB_SETUP);
}

static void
ad_host_back(ad_priv *p, int32_t h)
{
    ad_host *ho = &p->hosts[h];

    ho->state = HVF_DRV_HOST_ACTIVE;
    ho->lost = false;
    ho->maint_id[0] = '\0';
    ho->maint_back = false;
    ad_emit(p, HVF_DRV_EV_HOST_BACK, p->fleet->hosts[h].name, NULL, HVF_DRV_VM_RUNNING, -1,
            HVF_JOB_SETUP);
}

static hvf_drv_vm_state
ad_vm_state_of(const char *s)
{
    return !s                           ? HVF_DRV_VM_LAST
           : strcmp(s, "running") == 0  ? HVF_DRV_VM_RUNNING
           : strcmp(s, "paused") == 0   ? HVF_DRV_VM_PAUSED
           : strcmp(s, "stopped") == 0  ? HVF_DRV_VM_STOPPED
           : strcmp(s, "crashed") == 0  ? HVF_DRV_VM_CRASHED
                                        : HVF_DRV_VM_LAST;
}

/* A VM an agent says runs (or is paused, or stopped) on @h. */
static void
ad_vm_seen(ad_priv *p, int32_t h, const char *name, hvf_drv_vm_state st, const char *raw,
           bool event)
{
    int32_t v = hvf_fleet_find_vm(p->fleet, name);
    ad_vm *vm;

    if (v < 0 || st == HVF_DRV_VM_LAST)
        return; /* not the inventory's: reconciliation's business (the HA issue) */
    vm = &p->vms[v];
    if (raw && strcmp(raw, "inmigrate") == 0)
        return; /* a migration's target, waiting for its stream */
    if (vm->job >= 0) {
        ad_job *j = ad_job_find(p, vm->job);

        /* the target's QEMU runs the guest once the stream is in: job_done says the rest */
        if (j && j->phase != AD_JOB_END && h == j->dst)
            return;
    }
    if (st == HVF_DRV_VM_STOPPED || st == HVF_DRV_VM_CRASHED) {
        if (p->fleet->vms[v].host != h)
            return; /* an old copy elsewhere stopped: the VM runs where it ran */
    } else {
        hvf_drv_vm_place(p->fleet, v, h);
    }
    if (vm->job >= 0 && st != HVF_DRV_VM_RUNNING)
        ad_job_end(p, ad_job_find(p, vm->job), HVF_JOB_FAILED, "the VM stopped while migrating");
    if (vm->state == st)
        return;
    vm->state = st;
    if (event)
        ad_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[h].name, name, st, -1, HVF_JOB_SETUP);
}

/* An agent registered: its facts say which VMs run there; the others of the host are stopped. */
static void
ad_facts(ad_priv *p, int32_t h, json_t *facts)
{
    json_t *vms = json_object_get(facts, "vms"), *x;
    bool *seen = hvf_calloc(p->fleet->nvms ? p->fleet->nvms : 1, sizeof(*seen));
    size_t i;

    json_array_foreach(vms, i, x) {
        const char *name = json_string_value(json_object_get(x, "name"));
        int32_t v = name ? hvf_fleet_find_vm(p->fleet, name) : -1;
        const char *st = json_string_value(json_object_get(x, "state"));

        if (v < 0)
            continue;
        if (st && strcmp(st, "busy") == 0) {
            seen[v] = p->fleet->vms[v].host == h; /* mid-command: as it was */
            continue;
        }
        ad_vm_seen(p, h, name, ad_vm_state_of(st),
                   json_string_value(json_object_get(x, "qemu_status")), true);
        seen[v] = p->fleet->vms[v].host == h;
    }
    for (size_t v = 0; v < p->fleet->nvms; v++)
        if (p->fleet->vms[v].host == h && !seen[v] && p->vms[v].job < 0 &&
            p->vms[v].state != HVF_DRV_VM_STOPPED) {
            p->vms[v].state = HVF_DRV_VM_STOPPED;
            ad_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[h].name, p->fleet->vms[v].name,
                    HVF_DRV_VM_STOPPED, -1, HVF_JOB_SETUP);
        }
    free(seen);
}

static void
ad_agent_message(ad_priv *p, int32_t h, json_t *m)
{
    ad_host *ho = &p->hosts[h];
    const char *state = json_string_value(json_object_get(m, "state"));
    const char *identity = json_string_value(json_object_get(m, "identity"));
    const char *boot = json_string_value(json_object_get(m, "boot_id"));
    json_t *facts = json_object_get(m, "facts");
    ad_agent_state was = ho->agent;

    if (!state)
        return;
    hvf_strlcpy(ho->identity, identity ? identity : "", sizeof(ho->identity));
    if (ho->identity[0]) {
        /* seed 002: not the host the inventory knows; out of service until it is updated */
        ho->agent = AD_AGENT_CONNECTED;
        ad_host_lost(p, h, ho->identity);
        ho->lost = true; /* back once it registers as itself */
        return;
    }
    if (strcmp(state, "suspect") == 0) {
        ho->agent = AD_AGENT_SUSPECT;
        return;
    }
    if (strcmp(state, "down") == 0) {
        ho->agent = AD_AGENT_DOWN;
        if (ho->state == HVF_DRV_HOST_MAINTENANCE && ho->maint_id[0])
            return; /* its maintenance may reboot it: the new boot brings it back */
        ad_host_lost(p, h, "its agent stopped answering");
        ho->lost = true;
        return;
    }
    ho->agent = AD_AGENT_CONNECTED;
    if (facts && json_is_object(facts))
        ad_facts(p, h, facts);
    if (ho->state == HVF_DRV_HOST_MAINTENANCE && ho->maint_id[0] && boot && *ho->maint_boot &&
        strcmp(boot, ho->maint_boot) != 0)
        ad_host_back(p, h); /* it rebooted for its maintenance and came back */
    else if (ho->state == HVF_DRV_HOST_DOWN && (ho->lost || was == AD_AGENT_NONE))
        ad_host_back(p, h);
    if (boot)
        hvf_strlcpy(ho->boot_id, boot, sizeof(ho->boot_id));
}

/* ---- results of commands ---- */

static void
ad_result(ad_priv *p, int32_t h, json_t *m)
{
    const char *id = json_string_value(json_object_get(m, "id"));
    bool ok = json_is_true(json_object_get(m, "ok")) ||
              (json_string_value(json_object_get(m, "status")) &&
               strcmp(json_string_value(json_object_get(m, "status")), "ok") == 0);
    json_t *data = json_object_get(m, "data");
    const char *detail = json_string_value(json_object_get(m, "detail"));
    hvf_error err = HVF_ERROR_INIT;
    ad_cmd c;
    size_t i;
    ad_job *j;

    for (i = 0; i < p->ncmds; i++)
        if (id && strcmp(p->cmds[i].id, id) == 0)
            break;
    if (i == p->ncmds)
        return; /* not this connection's (another driver's, before a reopen) */
    c = p->cmds[i];
    p->cmds[i] = p->cmds[--p->ncmds];
    if (!detail)
        detail = "the agent gave no detail";
    switch (c.kind) {
    case AD_CMD_MIGRATE_IN: {
        const char *listen = json_string_value(json_object_get(data, "listen"));

        if (!(j = ad_job_find(p, c.job)) || j->phase != AD_JOB_IN)
            break;
        if (!ok || !listen) {
            char why[192];

            snprintf(why, sizeof(why), "target %s: %.150s", p->fleet->hosts[j->dst].name,
                     ok ? "migrate_in answered no listen address" : detail);
            ad_job_end(p, j, HVF_JOB_FAILED, why);
            break;
        }
        if (j->want_cancel) {
            ad_job_end(p, j, HVF_JOB_CANCELLED, NULL);
            break;
        }
        if (ad_send(p, j->src, "migrate_out",
                    json_pack("{s:s, s:s, s:I, s:I, s:b, s:b}", "vm",
                              p->fleet->vms[j->vm].name, "target", listen, "max_bytes_per_s",
                              (json_int_t)j->p.max_bytes_per_s, "downtime_limit_ms",
                              (json_int_t)(j->p.downtime_limit_us / 1000), "auto_converge",
                              j->p.auto_converge, "postcopy", j->p.postcopy_allowed),
                    AD_CMD_MIGRATE_OUT, j->vm, j->id, &err) < 0) {
            ad_job_end(p, j, HVF_JOB_FAILED, err.msg);
            break;
        }
        j->phase = AD_JOB_OUT;
        break;
    }
    case AD_CMD_MIGRATE_OUT: {
        json_t *aj = json_object_get(data, "job");

        if (!(j = ad_job_find(p, c.job)) || j->phase != AD_JOB_OUT)
            break;
        if (!ok || !json_is_integer(aj)) {
            char why[192];

            snprintf(why, sizeof(why), "source %s: %.150s", p->fleet->hosts[j->src].name,
                     ok ? "migrate_out answered no job" : detail);
            ad_job_end(p, j, HVF_JOB_FAILED, why);
            break;
        }
        j->agent_job = json_integer_value(aj);
        j->phase = AD_JOB_RUN;
        if (j->info.state == HVF_JOB_SETUP)
            j->info.state = HVF_JOB_ACTIVE;
        break;
    }
    case AD_CMD_VM_START:
        if (c.vm >= 0 && ok) {
            hvf_drv_vm_place(p->fleet, c.vm, c.host);
            if (p->vms[c.vm].state != HVF_DRV_VM_RUNNING) {
                p->vms[c.vm].state = HVF_DRV_VM_RUNNING;
                ad_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[c.host].name,
                        p->fleet->vms[c.vm].name, HVF_DRV_VM_RUNNING, -1, HVF_JOB_SETUP);
            }
        } else if (c.vm >= 0) {
            /* still stopped: the event says so, the feed has the agent's reason */
            ad_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[c.host].name,
                    p->fleet->vms[c.vm].name, p->vms[c.vm].state, -1, HVF_JOB_SETUP);
        }
        break;
    case AD_CMD_VM_STOP:
        if (c.vm >= 0 && ok && p->fleet->vms[c.vm].host == c.host &&
            p->vms[c.vm].state != HVF_DRV_VM_STOPPED) {
            p->vms[c.vm].state = HVF_DRV_VM_STOPPED;
            ad_emit(p, HVF_DRV_EV_VM_STATE, p->fleet->hosts[c.host].name,
                    p->fleet->vms[c.vm].name, HVF_DRV_VM_STOPPED, -1, HVF_JOB_SETUP);
        }
        break;
    case AD_CMD_MAINTAIN: {
        json_t *st = json_object_get(data, "exit_status");
        ad_host *ho = &p->hosts[c.host];

        if (strcmp(ho->maint_id, c.id) != 0)
            break;
        if (ok && (!st || json_integer_value(st) == 0))
            ad_host_back(p, c.host);
        else
            ad_host_lost(p, c.host, detail);
        break;
    }
    case AD_CMD_DIRTY:
        if (ok && c.vm >= 0 && json_is_number(json_object_get(data, "dirty_bytes_per_s")))
            p->vms[c.vm].measured_dirty = json_number_value(json_object_get(data,
                                                                            "dirty_bytes_per_s"));
        break;
    case AD_CMD_OTHER:
        break;
    }
    (void)h;
}

/* ---- events ---- */

static hvf_job_state
ad_job_state_of(const char *s)
{
    return !s                                  ? HVF_JOB_ACTIVE
           : strcmp(s, "setup") == 0           ? HVF_JOB_SETUP
           : strcmp(s, "postcopy-active") == 0 ? HVF_JOB_POSTCOPY
           : strcmp(s, "postcopy-paused") == 0 ? HVF_JOB_POSTCOPY
           : strcmp(s, "completed") == 0       ? HVF_JOB_COMPLETED
           : strcmp(s, "failed") == 0          ? HVF_JOB_FAILED
           : strcmp(s, "cancelled") == 0       ? HVF_JOB_CANCELLED
                                               : HVF_JOB_ACTIVE;
}

static uint64_t
ad_u64(json_t *o, const char *key, uint64_t dflt)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v)
           : json_is_real(v) && json_real_value(v) >= 0     ? (uint64_t)json_real_value(v)
                                                            : dflt;
}

/* The job of the source agent @h for @vm (its events name both; their job id may come before
 * the migrate_out result that tells it). */
static ad_job *
ad_job_of(ad_priv *p, int32_t h, const char *vm)
{
    int32_t v = vm ? hvf_fleet_find_vm(p->fleet, vm) : -1;
    ad_job *j;

    if (v < 0 || p->vms[v].job < 0 || !(j = ad_job_find(p, p->vms[v].job)))
        return NULL;
    return j->src == h && j->phase != AD_JOB_END && j->phase != AD_JOB_IN ? j : NULL;
}

static void
ad_event(ad_priv *p, int32_t h, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *vm = json_string_value(json_object_get(ev, "vm"));
    ad_job *j;

    if (!type)
        return;
    if (strcmp(type, "vm_state") == 0 && vm) {
        ad_vm_seen(p, h, vm, ad_vm_state_of(json_string_value(json_object_get(ev, "state"))),
                   json_string_value(json_object_get(ev, "qemu_status")), true);
    } else if (strcmp(type, "dirty_rate") == 0 && vm) {
        int32_t v = hvf_fleet_find_vm(p->fleet, vm);

        if (v >= 0)
            p->vms[v].measured_dirty = (double)ad_u64(ev, "dirty_bytes_per_s", 0);
    } else if ((strcmp(type, "job") == 0 || strcmp(type, "job_done") == 0) &&
               (j = ad_job_of(p, h, vm))) {
        hvf_job_info *in = &j->info;
        hvf_job_state st = ad_job_state_of(json_string_value(json_object_get(ev, "state")));
        json_t *mbps = json_object_get(ev, "mbps");

        in->transferred_bytes = ad_u64(ev, "transferred", in->transferred_bytes);
        in->remaining_bytes = ad_u64(ev, "remaining", in->remaining_bytes);
        in->total_bytes = ad_u64(ev, "total", in->total_bytes);
        in->dirty_bytes_per_s = (double)ad_u64(ev, "dirty_bytes_per_s", 0);
        in->throttle_pct = (uint32_t)ad_u64(ev, "throttle_pct", 0);
        if (json_is_number(mbps))
            in->bytes_per_s = json_number_value(mbps) * 1e6 / 8;
        if (json_object_get(ev, "expected_downtime_ms"))
            in->expected_downtime_us = (int64_t)ad_u64(ev, "expected_downtime_ms", 0) * 1000;
        if (json_object_get(ev, "downtime_ms"))
            in->downtime_us = (int64_t)ad_u64(ev, "downtime_ms", 0) * 1000;
        if (in->dirty_bytes_per_s > 0)
            p->vms[j->vm].measured_dirty = in->dirty_bytes_per_s;
        if (strcmp(type, "job_done") == 0) {
            if (st != HVF_JOB_COMPLETED && st != HVF_JOB_CANCELLED)
                st = HVF_JOB_FAILED;
            ad_job_end(p, j, st, json_string_value(json_object_get(ev, "error")));
        } else if (st != HVF_JOB_COMPLETED && st != HVF_JOB_FAILED &&
                   st != HVF_JOB_CANCELLED) {
            in->state = st;
        }
    }
}

void
ad_message(ad_priv *p, json_t *m)
{
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *host = json_string_value(json_object_get(m, "host"));
    int32_t h = host ? hvf_fleet_find_host(p->fleet, host) : -1;

    if (!kind || h < 0)
        return; /* an agent of a host the inventory does not have */
    if (strcmp(kind, "agent") == 0)
        ad_agent_message(p, h, m);
    else if (strcmp(kind, "result") == 0)
        ad_result(p, h, m);
    else if (strcmp(kind, "event") == 0 && json_is_object(json_object_get(m, "event")))
        ad_event(p, h, json_object_get(m, "event"));
}

#define AD_DIRTY_EVERY_US (60 * 1000000LL) /* each running VM's dirty rate, measured again */
#define AD_DIRTY_SECONDS 1                  /* QMP calc-dirty-rate's sampling period */
#define AD_DIRTY_PER_TICK 16                /* measurements asked at most per poll */

/*
 * The twin predicts with the dirty rates the hosts measure (QMP calc-dirty-rate), not the
 * inventory's guesses: each running VM is measured once a minute, one VM at a time per host (a
 * measurement holds one of its agent's workers for a second), a few per poll.
 */
static void
ad_measure_dirty(ad_priv *p, int64_t now)
{
    size_t asked = 0;
    hvf_error err = HVF_ERROR_INIT;

    for (size_t v = 0; v < p->fleet->nvms && asked < AD_DIRTY_PER_TICK; v++) {
        ad_vm *vm = &p->vms[v];
        int32_t h = p->fleet->vms[v].host;
        ad_host *ho;

        if (h < 0 || vm->state != HVF_DRV_VM_RUNNING || vm->job >= 0 ||
            (vm->dirty_at_us && now - vm->dirty_at_us < AD_DIRTY_EVERY_US))
            continue;
        ho = &p->hosts[h];
        if (ho->agent != AD_AGENT_CONNECTED || ho->identity[0] || now < ho->dirty_until_us)
            continue;
        vm->dirty_at_us = now;
        ho->dirty_until_us = now + (AD_DIRTY_SECONDS + 1) * 1000000LL;
        asked++;
        (void)ad_send(p, h, "dirty_rate",
                      json_pack("{s:s, s:i}", "vm", p->fleet->vms[v].name, "seconds",
                                AD_DIRTY_SECONDS),
                      AD_CMD_DIRTY, (int32_t)v, -1, &err);
    }
}

void
ad_tick(ad_priv *p)
{
    int64_t now = ad_now(p);
    hvf_error err = HVF_ERROR_INIT;

    ad_measure_dirty(p, now);

    for (size_t h = 0; h < p->fleet->nhosts; h++)
        if (p->hosts[h].maint_back)
            ad_host_back(p, (int32_t)h);
    for (size_t i = 0; i < p->njobs; i++) {
        ad_job *j = &p->jobs[i];

        if (j->phase == AD_JOB_RUN && !j->cancel_sent && j->p.completion_timeout_us > 0 &&
            now - j->info.started_us > j->p.completion_timeout_us) {
            j->cancel_sent = true;
            if (ad_send(p, j->src, "job_cancel",
                        json_pack("{s:I}", "job", (json_int_t)j->agent_job), AD_CMD_OTHER, -1,
                        -1, &err) < 0)
                ad_job_end(p, j, HVF_JOB_FAILED, err.msg);
        }
    }
}

/* "{name}", "{mem_mib}" and "{dirty_mib_per_s}" of the URI's append= replaced for @vm. */
static char *
ad_append(const ad_priv *p, const hvf_vm *v)
{
    char mem[24], dirty[32];
    const char *const kv[] = {"name", v->name, "mem_mib", mem, "dirty_mib_per_s", dirty, NULL};

    snprintf(mem, sizeof(mem), "%" PRIu64, v->mem_mib);
    snprintf(dirty, sizeof(dirty), "%.3f", v->dirty_bytes_per_s / (1024.0 * 1024.0));
    return hvf_template_expand(p->append, kv);
}

json_t *
ad_vm_spec(const ad_priv *p, int32_t vm)
{
    const hvf_vm *v = &p->fleet->vms[vm];
    json_t *o = json_pack("{s:s, s:I, s:i, s:s, s:s}", "vm", v->name, "mem_mib",
                          (json_int_t)v->mem_mib, "vcpus", (int)v->vcpus, "image", p->image,
                          "accel", p->accel);

    if (p->append && *p->append) {
        HVF_AUTOFREE char *append = ad_append(p, v);

        json_object_set_new(o, "append", json_string(append));
    }
    return o;
}
