/* SPDX-License-Identifier: MIT */
/* Planning a maintenance by running the twin with the chosen strategy, then summing it up. */
#include "hvfleet/alloc.h"
#include "hvfleet/seatbelt.h"
#include "hvfleet/units.h"
#include "plan/maint-priv.h"

/* Long enough for any plan: the twin stops at its last event, so a long horizon costs nothing. */
#define MAINT_HORIZON_US (365LL * 86400 * HVF_US_PER_S)

void
hvf_maint_opts_init(hvf_maint_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = HVF_PLAN_KIND_MAINTENANCE;
    o->strategy = HVF_PLAN_STRATEGY_HVFLEET;
}

void
hvf_maintenance_naive_opts(const hvf_policy *pol, const int32_t *hosts, size_t nhosts,
                           hvf_sim_naive_opts *out)
{
    hvf_policy defaults;

    if (!pol) {
        hvf_policy_default(&defaults);
        pol = &defaults;
    }
    memset(out, 0, sizeof(*out));
    out->hosts = hvf_calloc(nhosts + 1, sizeof(int32_t));
    memcpy(out->hosts, hosts, nhosts * sizeof(int32_t));
    out->nhosts = nhosts;
    out->start_us = pol->window_start_us;
    /* "Every host gets a short window, one after another": as if evacuating took no time. */
    out->window_us = pol->maintenance_time_us;
    out->span_us = (int64_t)nhosts * pol->maintenance_time_us;
    out->migrations_per_host = pol->max_migrations_out_per_host;
    out->claims = false;
    out->retry_us = 60 * HVF_US_PER_S;
    out->max_retries = 3;
}

hvf_plan *
hvf_maintenance_plan(const hvf_fleet *fleet, const hvf_maint_opts *opts, hvf_maint_outcome *out,
                     hvf_error *err)
{
    HVF_AUTOFREE int32_t *hosts = NULL;
    HVF_AUTOFREE bool *seen = NULL;
    hvf_maint_opts o = *opts;
    hvf_maint_outcome res;
    hvf_sim_naive_opts naive = {0};
    hvf_sim_controller ctl = {0};
    hvf_sim_params params;
    hvf_sim_stats st;
    hvf_policy pol;
    hvf_plan *plan;
    hvf_sim *sim;
    mctl *m = NULL;
    mnaive *mn = NULL;
    size_t n = 0;
    int64_t first = 0, last = 0;

    memset(&res, 0, sizeof(res));
    if (opts->nhosts == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "no hosts to maintain");
        return NULL;
    }
    hosts = hvf_calloc(opts->nhosts, sizeof(int32_t));
    seen = hvf_calloc(fleet->nhosts + 1, sizeof(bool));
    for (size_t i = 0; i < opts->nhosts; i++) {
        int32_t h = opts->hosts[i];
        if (h < 0 || (size_t)h >= fleet->nhosts) {
            hvf_error_set(err, HVF_ERR_INVALID, "host index %d is not in the fleet", h);
            return NULL;
        }
        if (fleet->hosts[h].state != HVF_HOST_STATE_ACTIVE) {
            hvf_error_set(err, HVF_ERR_INVALID, "host '%s' is %s: only active hosts can be planned",
                          fleet->hosts[h].name, hvf_host_state_to_string(fleet->hosts[h].state));
            return NULL;
        }
        if (!seen[h]) {
            seen[h] = true;
            hosts[n++] = h;
        }
    }
    o.hosts = hosts;
    o.nhosts = n;
    if (opts->policy)
        pol = *opts->policy;
    else
        hvf_policy_default(&pol);
    o.policy = &pol;

    if (opts->sim)
        params = *opts->sim;
    else
        hvf_sim_params_default(&params);
    params.migration_nic_share = pol.migration_share;
    params.downtime_limit_us = pol.downtime_limit_us;
    params.metrics_interval_us = 0;
    params.record_events = false;
    params.record_host_series = false;
    if (params.duration_us < MAINT_HORIZON_US)
        params.duration_us = MAINT_HORIZON_US;

    plan = hvf_plan_new(opts->kind, opts->strategy);
    if (opts->outcome_only || opts->caller_seals)
        ; /* left empty: see hvf_maint_opts */
    else if (opts->inventory_fingerprint)
        hvf_strlcpy(plan->inventory_fingerprint, opts->inventory_fingerprint,
                    sizeof(plan->inventory_fingerprint));
    else
        hvf_plan_inventory_fingerprint(fleet, plan->inventory_fingerprint);
    sim = hvf_sim_new(fleet, &params, opts->overrides, opts->noverrides);
    if (opts->strategy == HVF_PLAN_STRATEGY_NAIVE) {
        if (opts->naive) {
            naive = *opts->naive;
        } else {
            hvf_maintenance_naive_opts(&pol, hosts, n, &naive);
        }
        mn = mnaive_new(&o, &naive, plan, &ctl);
        if (!opts->naive)
            free(naive.hosts);
    } else {
        m = mctl_new(&o, plan, &ctl);
    }
    hvf_sim_set_name(sim, opts->strategy == HVF_PLAN_STRATEGY_NAIVE ? "plan-naive" : "plan");
    hvf_sim_set_controller(sim, &ctl);
    hvf_sim_run(sim);
    if (m)
        mctl_result(m, &res);
    else
        mnaive_result(mn, &res);

    hvf_sim_get_stats(sim, &st);
    hvf_plan_span_ms(plan, &first, &last);
    plan->summary.makespan_ms = last - first;
    plan->summary.max_parallel_hosts_seen = hvf_plan_max_parallel_hosts(plan);
    plan->summary.peak_host_memory_ppm = hvf_plan_ppm(st.peak_host_memory_ratio);
    res.makespan_ms = plan->summary.makespan_ms;
    res.peak_concurrent_evacuations = st.peak_concurrent_evacuations;
    res.peak_host_memory_ratio = st.peak_host_memory_ratio;
    res.hosts_over_committed = st.hosts_over_committed;
    res.vms_crashed = st.vms_crashed + st.vms_rebooted;
    res.hosts_crashed = st.hosts_crashed;
    res.vms_at_risk = plan->summary.vms_at_risk;
    res.migrations = plan->nmigrations;
    if (!opts->outcome_only) {
        hvf_seatbelt_evaluate(plan, &pol, fleet);
        if (!opts->caller_seals)
            hvf_plan_seal(plan);
    }
    if (out)
        *out = res;
    hvf_sim_free(sim);
    mctl_free(m);
    mnaive_free(mn);
    return plan;
}
