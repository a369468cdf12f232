/* SPDX-License-Identifier: MIT */
/*
 * Executors for the hroller comparison: twin controllers that carry out another tool's
 * maintenance output, so that hroller's reboot groups and our plan are judged by the same
 * simulated fleet (bench/peer-hroller.c).
 *
 *   groups  hroller's output (`--print-moves`): groups one after another; every host of a
 *           group starts evacuating at once, each VM to the node hroller named for it (hroller
 *           checks those moves against the nodes' free memory, as if every instance were back
 *           on its own node); a group's hosts are maintained once empty, its VMs then go back
 *           to their own hosts (hroller's assumption), and the next group starts when they are.
 *           A VM hroller gave no node, or whose node has no room left in the twin (headroom,
 *           claims of migrations in flight), goes to the host outside the group with the most
 *           free memory (counted as redirected).
 *   plan    an hvfleet.plan/v1 file, as planned: each migration at its planned time to its
 *           planned target, each host's maintenance once it is empty; a step whose VM or target
 *           is not ready (the fleet deviated from the plan) waits until it is.
 *
 * Both use claims, the same per-host migration limits and headroom, and park (shut down, then
 * restart after the maintenance) VMs that cannot live-migrate or keep failing to.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/plan.h"
#include "hvfleet/sim.h"

typedef struct bench_exec_opts {
    uint32_t out_per_host; /* concurrent migrations leaving one host */
    uint32_t in_per_host;  /* concurrent migrations arriving on one host */
    double headroom_share; /* of usable memory, kept free on targets */
    int64_t maintenance_us;
    int64_t retry_us;
    uint32_t max_retries;
    hvf_sim_strategy strategy;
} bench_exec_opts;

/* What an execution did to the fleet, beyond hvf_sim_stats. */
typedef struct bench_exec_report {
    int64_t first_evacuation_us, last_back_us; /* -1 until known */
    uint32_t hosts_maintained, hosts_planned;
    uint32_t vms_parked;         /* shut down for a maintenance instead of migrated */
    int64_t parked_us;           /* their downtime, summed */
    uint32_t vms_moved_twice;    /* VMs migrated more than once */
    uint32_t peak_offline_hosts; /* hosts evacuating or in maintenance at once */
    double peak_offline_share;   /* their share of the fleet's usable memory */
    uint32_t late_steps;         /* plan: steps started over 1 s after their planned time */
    int64_t max_lateness_us;     /* plan: the latest one */
    uint32_t stuck_steps;        /* plan: steps never started */
    uint32_t redirected_steps;   /* sent elsewhere than planned: no room on the planned target
                                    (plan: refusing too long; groups: no room at all) */
    uint32_t returns;            /* groups: migrations back to the VM's own host */
    uint32_t returns_given_up;   /* groups: VMs left away from it (no room, or failing) */
} bench_exec_report;

/*
 * bench_exec_groups_new: a controller for @ngroups groups of fleet host indexes (@groups[g] has
 * @sizes[g] hosts; all copied). @targets may be NULL; else @targets[g][vm] is the host hroller
 * moves VM vm to during group g, or -1 (each array has @nvms entries; copied). Fills @ctl;
 * returns the context to free with bench_exec_groups_free after the run.
 */
void *bench_exec_groups_new(const bench_exec_opts *o, int32_t *const *groups, const size_t *sizes,
                            size_t ngroups, int32_t *const *targets, size_t nvms,
                            hvf_sim_controller *ctl);
void bench_exec_groups_report(const void *ctx, bench_exec_report *out);
void bench_exec_groups_free(void *ctx);

/*
 * bench_exec_plan_new: a controller carrying out @plan (read, not kept) on the fleet @f it was
 * made for. Returns the context (free with bench_exec_plan_free), or NULL with HVF_ERR_INVALID
 * when the plan names a host or VM the fleet does not have.
 */
void *bench_exec_plan_new(const bench_exec_opts *o, const hvf_plan *plan, const hvf_fleet *f,
                          hvf_sim_controller *ctl, hvf_error *err);
void bench_exec_plan_report(const void *ctx, bench_exec_report *out);
void bench_exec_plan_free(void *ctx);
