/* SPDX-License-Identifier: MIT */
/*
 * Maintenance planning by running the twin: which hosts evacuate when, where every VM goes and
 * how long it all takes, predicted by the live-migration model and the twin's link sharing.
 *
 * Strategy "hvfleet" (docs/planning.md): hosts evacuate under the policy's limits (max hosts
 * out of service fleet-wide, per rack, per zone, max share of capacity offline), emptiest
 * first; migrations take a claim on their target before they start and stay within the
 * in/out limits per host; targets come from placement (maintained hosts first, a host still
 * to be maintained only when nothing else fits and no maintained host is coming back); VMs
 * predicted not to converge are handled per the policy's non_converging (auto-converge,
 * post-copy, shutdown into stops[], or refuse the host). Strategy "naive" runs the twin's
 * scheduler of seed 000 (short windows one after another, no claims) and records what it did.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/plan.h"
#include "hvfleet/policy.h"
#include "hvfleet/sim.h"

/* Called after each event the planner handled (@ev) and after its own batches (@ev NULL). */
typedef void (*hvf_maint_observer)(hvf_sim *sim, const hvf_sim_event *ev, void *ctx);

typedef struct hvf_maint_opts {
    hvf_plan_kind kind;
    hvf_plan_strategy strategy;
    const int32_t *hosts; /* fleet indexes to maintain or drain; duplicates are ignored */
    size_t nhosts;
    const hvf_policy *policy; /* NULL = the defaults */
    /* The twin: NULL = its defaults. The policy's migration_share and downtime_limit apply. */
    const hvf_sim_params *sim;
    const hvf_sim_host_override *overrides;
    size_t noverrides;
    /* Strategy naive: its schedule; NULL = hvf_maintenance_naive_opts() of the policy. */
    const hvf_sim_naive_opts *naive;
    hvf_maint_observer observe; /* may be NULL; for tests */
    void *observe_ctx;
    /* NULL = computed; else hvf_plan_inventory_fingerprint(fleet) already known (a caller that
     * plans the same fleet twice need not hash it twice) */
    const char *inventory_fingerprint;
    /* Only @out is wanted (a comparison's figures): the plan comes back without its inventory
     * fingerprint, seatbelt verdict and hash, which take a large fleet a good part of a second
     * to compute. Such a plan must not be saved or executed. */
    bool outcome_only;
    /* The caller sets the plan's inventory_fingerprint, then seals it (hvf_plan_seal): it hashes
     * the inventory meanwhile, on another thread. Until then the plan has no hash. */
    bool caller_seals;
} hvf_maint_opts;

/* What the twin saw, beyond the plan: the figures the naive comparison prints. */
typedef struct hvf_maint_outcome {
    bool finished; /* every requested host maintained (or drained) */
    uint32_t hosts_done;
    uint32_t hosts_failed; /* could not be evacuated, or refused by non_converging */
    int64_t makespan_ms;
    uint32_t peak_concurrent_evacuations;
    double peak_host_memory_ratio;
    uint32_t hosts_over_committed;
    uint32_t vms_at_risk; /* on an over-committed host at some moment, or killed/crashed */
    uint32_t vms_crashed; /* died with their host or ended by the OOM killer */
    uint32_t hosts_crashed;
    uint64_t migrations;
} hvf_maint_outcome;

void hvf_maint_opts_init(hvf_maint_opts *o);

/*
 * The naive schedule of seed 000 for @hosts under @policy: one window per host, one after
 * another, each maintenance_time long, max_migrations_out_per_host at a time, no claims.
 * Fills @out; out->hosts is owned by the caller (free()).
 */
void hvf_maintenance_naive_opts(const hvf_policy *policy, const int32_t *hosts, size_t nhosts,
                                hvf_sim_naive_opts *out);

/*
 * hvf_maintenance_plan: plans by simulation. @fleet is copied into the twin and not modified.
 * The plan's summary, seatbelt verdict (hvf_seatbelt_evaluate with the policy) and hash are
 * filled. Returns an owned plan, or NULL with @err set (HVF_ERR_INVALID: no hosts, bad
 * indexes, a twin that cannot start). @out (may be NULL) receives the twin's figures.
 */
hvf_plan *hvf_maintenance_plan(const hvf_fleet *fleet, const hvf_maint_opts *opts,
                               hvf_maint_outcome *out, hvf_error *err);

/*
 * hvf_maintenance_register_scheduler: makes scenarios with `maintenance: {scheduler: hvfleet,
 * policy: ...}` runnable (hvf_scenario_sim_new, hvfleet simulate, hvfleet replay): adds the
 * hvfleet strategy to the twin's table of schedulers (hvfleet/sim-sched.h). When the
 * maintenance starts, it plans it as hvf_maintenance_plan does, on the twin's fleet at that
 * moment; the seatbelt's verdict is logged as a `decision` incident event when the plan needs
 * approval (approved as it stands) or is refused (the maintenance does not start); then the
 * planner's controller runs it with the policy's limits and claims. Call once at start-up,
 * before any simulation; calling it again changes nothing.
 */
void hvf_maintenance_register_scheduler(void);
