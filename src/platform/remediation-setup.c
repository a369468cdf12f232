/* SPDX-License-Identifier: MIT */
/*
 * Setting up the remediation component: its documented defaults, checking options, the action
 * queue's kinds per mode, and its figures (summary.json and hvf_remediation_stats_get).
 */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/units.h"
#include "platform/remediation-priv.h"
#include "sim/sim-priv.h"

static void
rem_finish(hvf_sim *sim, void *ctx)
{
    rem_ctx *c = ctx;
    const hvf_remediation_stats *s = &c->st;
    hvf_actionq_stats qs;
    HVF_AUTOFREE char *json = NULL;

    if (c->paused) {
        c->st.paused_us += hvf_sim_now(sim) - c->paused_since_us;
        c->paused_since_us = hvf_sim_now(sim);
    }
    hvf_actionq_get_stats(c->q, &qs);
    c->st.rate_limited = qs.rate_limited;
    json = hvf_asprintf(
        "{\"mode\":\"%s\",\"vms_watched\":%zu,\"checks_failed\":%u,\"peak_unreachable\":%u,"
        "\"incidents\":%u,\"actions_pushed\":%" PRIu64 ",\"actions_queued\":%" PRIu64
        ",\"actions_merged\":%" PRIu64 ",\"actions_stale\":%" PRIu64 ",\"actions_run\":%" PRIu64
        ",\"backlog_at_end\":%zu,\"peak_backlog\":%zu,\"peak_deploys\":%u,\"redeploys\":%u,"
        "\"upscales\":%u,\"zombies\":%u,\"peak_zombies\":%u,\"zombies_stopped\":%u,"
        "\"zombies_at_end\":%u,\"rate_limited\":%" PRIu64 ",\"paused_s\":%.3f}",
        hvf_remediation_mode_names[c->o.mode], c->nwatch, s->checks_failed, s->peak_unreachable,
        s->incidents, s->actions_pushed, s->actions_queued, s->actions_merged, s->actions_stale,
        s->actions_run, hvf_actionq_len(c->q), s->peak_backlog, s->peak_deploys, s->redeploys,
        s->upscales, s->zombies, s->peak_zombies, s->zombies_stopped, c->zombies_alive,
        s->rate_limited, (double)s->paused_us / 1e6);
    hvf_sim_add_summary(sim, "remediation", json);
}

static void
rem_free(void *ctx)
{
    rem_ctx *c = ctx;

    hvf_actionq_free(c->q);
    free(c->watch);
    free(c->dependent);
    free(c->vms);
    free(c->corr);
    free(c->deploys);
    free(c->loads);
    free(c->dep_alerted);
    free(c->host_alerted);
    free(c->host_deploys);
    free(c);
}

static int
rem_check_opts(const hvf_fleet *f, const hvf_remediation_opts *o, hvf_error *err)
{
    if ((unsigned)o->mode >= HVF_REMEDIATION_LAST || o->check_interval_us <= 0 ||
        o->unreachable_after == 0 || o->renotify_us <= 0 || !(o->slow_speed >= 0) ||
        o->slow_speed > 1 || !(o->upscale_speed >= 0) || o->upscale_speed > 1 ||
        o->alert_delay_us < 0 || !(o->deploys_per_min > 0) || o->deploy_time_us < 0 ||
        o->deploy_cpu_cores < 0 || o->deploy_io_bytes_per_s < 0 || !(o->fleet_share >= 0) ||
        o->fleet_share > 1 || o->clear_after_us < 0 || o->redeploy_per_min < 0 ||
        o->upscale_per_min < 0 || o->cooldown_us < 0 || (o->ndependents && !o->dependents_on[0])) {
        hvf_error_set(err, HVF_ERR_INVALID, "remediation: a parameter is out of range");
        return -1;
    }
    for (size_t i = 0; i < o->nvms + o->ndependents; i++) {
        int32_t v = i < o->nvms ? o->vms[i] : o->dependents[i - o->nvms];
        if (v < 0 || (size_t)v >= f->nvms) {
            hvf_error_set(err, HVF_ERR_INVALID, "remediation: VM index %d does not exist", v);
            return -1;
        }
    }
    return 0;
}

static void
rem_kinds(rem_ctx *c)
{
    const hvf_remediation_opts *o = &c->o;
    bool corr = o->mode == HVF_REMEDIATION_CORRELATED;
    /* per_vm: what the orchestrator was told, in order, as fast as it goes */
    hvf_actionq_kind_opts redeploy = {"redeploy", corr ? o->redeploy_per_min / 60.0 : 0,
                                      corr ? (o->redeploy_burst ? o->redeploy_burst : 1) : 0,
                                      corr ? o->cooldown_us : 0, 2};
    hvf_actionq_kind_opts upscale = {"upscale", corr ? o->upscale_per_min / 60.0 : 0, corr ? 1 : 0,
                                     corr ? o->cooldown_us : 0, 1};
    hvf_actionq_kind_opts stop = {"stop_zombie", 0, 0, 0, 3};
    hvf_error err = HVF_ERROR_INIT;

    c->q = hvf_actionq_new(corr ? o->queue_max : 0);
    c->k_redeploy = hvf_actionq_add_kind(c->q, &redeploy, &err);
    c->k_upscale = hvf_actionq_add_kind(c->q, &upscale, &err);
    c->k_stop = hvf_actionq_add_kind(c->q, &stop, &err);
    HVF_ASSERT(c->k_redeploy >= 0 && c->k_upscale >= 0 && c->k_stop >= 0);
}

int32_t
hvf_remediation_attach(hvf_sim *sim, const hvf_remediation_opts *o, hvf_error *err)
{
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_component comp = {.name = "remediation",
                              .on_start = rem_start,
                              .on_event = rem_event,
                              .on_timer = rem_timer,
                              .on_finish = rem_finish,
                              .free_ctx = rem_free};
    rem_ctx *c;

    if (rem_check_opts(f, o, err) < 0)
        return -1;
    c = HVF_NEW(rem_ctx);
    c->o = *o;
    c->o.vms = c->o.dependents = NULL;
    c->o.correlate_on = NULL;
    c->o.nvms = c->o.ndependents = c->o.ncorrelate_on = 0;
    c->nwatch = o->nvms ? o->nvms : f->nvms;
    c->watch = hvf_calloc(c->nwatch + 1, sizeof(int32_t));
    for (size_t i = 0; i < c->nwatch; i++)
        c->watch[i] = o->nvms ? o->vms[i] : (int32_t)i;
    c->dependent = hvf_calloc(f->nvms + 1, sizeof(bool));
    for (size_t i = 0; i < o->ndependents; i++)
        c->dependent[o->dependents[i]] = true;
    c->vms = hvf_calloc(f->nvms + 1, sizeof(rem_vm));
    for (size_t v = 0; v < f->nvms; v++) {
        c->vms[v].reported_us = -1;
        c->vms[v].upscale_us = -1;
    }
    c->dep_dependents = o->ndependents ? hvf_sim_dependency_id(sim, o->dependents_on) : -1;
    c->dep_orch = o->orchestrator_on[0] ? hvf_sim_dependency_id(sim, o->orchestrator_on) : -1;
    c->corr = hvf_calloc(o->ncorrelate_on + 1, sizeof(int32_t));
    for (size_t i = 0; i < o->ncorrelate_on; i++)
        c->corr[c->ncorr++] = hvf_sim_dependency_id(sim, o->correlate_on[i]);
    c->host_alerted = hvf_calloc(f->nhosts + 1, sizeof(bool));
    c->host_deploys = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    c->first_host_alert_us = -1;
    c->clear_since_us = -1;
    c->exec_at_us = -1;
    rem_kinds(c);
    comp.ctx = c;
    c->id = hvf_sim_add_component(sim, &comp);
    return c->id;
}

bool
hvf_remediation_stats_get(const hvf_sim *sim, hvf_remediation_stats *out)
{
    const rem_ctx *c = sim_component_ctx(sim, "remediation");
    hvf_actionq_stats qs;

    if (!c)
        return false;
    *out = c->st;
    hvf_actionq_get_stats(c->q, &qs);
    out->rate_limited = qs.rate_limited;
    return true;
}
