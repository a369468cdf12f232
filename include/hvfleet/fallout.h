/* SPDX-License-Identifier: MIT */
/*
 * Fallout components of the twin: what happens to a fleet when a shared dependency misbehaves,
 * and what hvfleet does instead. Each is a component (hvf_sim_add_component) with its
 * parameters in a scenario section (docs/scenarios.md), its figures in summary.json under its
 * name, and its events in events.jsonl.
 *
 *   telemetry    agents in VMs buffer what they cannot ship to a dependency (seed 003): without
 *                a bound, small guests run out of memory, swap and thrash, their disk IO
 *                saturates the host, hung tasks panic it. src/platform/telemetry.c
 *   remediation  monitoring reads slow VMs as unreachable; per VM it redeploys each one through
 *                the orchestrator (the storm, zombies when the old copy still runs), or it
 *                correlates a fleet-wide symptom into one incident, pauses per-VM remediation
 *                and paces actions through an action queue (hvfleet/actionq.h).
 *                src/platform/remediation.c
 *   hv_agent     the hypervisor agent forking a process per notification behind a leaking proxy
 *                until the host's task limit stops qemu (seed 001), or hvfleet's agent: one
 *                process, one connection, a bounded worker pool and queue. src/platform/hvagent.c
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/fallout-types.h"
#include "hvfleet/sim.h"

/*
 * hvf_*_attach: adds the component to @sim before it runs (@o is copied). An empty selection
 * means every VM (telemetry, remediation) or every host (hv_agent). Returns the component id,
 * or -1 with HVF_ERR_INVALID (an index outside the fleet, a parameter out of range).
 */
int32_t hvf_telemetry_attach(hvf_sim *sim, const hvf_telemetry_opts *o, hvf_error *err);
int32_t hvf_remediation_attach(hvf_sim *sim, const hvf_remediation_opts *o, hvf_error *err);
int32_t hvf_hvagent_attach(hvf_sim *sim, const hvf_hvagent_opts *o, hvf_error *err);
/* Every part @o has, in that order (telemetry first: remediation reads what it did). */
int hvf_fallout_attach(hvf_sim *sim, const hvf_fallout_opts *o, hvf_error *err)
    __attribute__((warn_unused_result));

typedef struct hvf_telemetry_stats {
    uint32_t agents;
    double peak_buffer_mib;           /* the largest in-memory buffer of one agent */
    double peak_spill_mib;            /* the largest spill of one agent */
    double peak_guest_io_bytes_per_s; /* the most IO one guest put on its host */
    uint32_t vms_pressured;      /* VMs whose buffer went beyond their free memory at some time */
    uint32_t peak_vms_pressured; /* at once */
    uint32_t agents_oom_killed;  /* the guest's OOM killer ended the agent (its buffer lost) */
    double dropped_mib;          /* telemetry lost (dropped, or lost with the agent or VM) */
    double blocked_mib;          /* held back by a blocked source */
    double spilled_mib;          /* written to disk */
} hvf_telemetry_stats;

typedef struct hvf_remediation_stats {
    uint32_t checks_failed;    /* VM checks that read unreachable */
    uint32_t peak_unreachable; /* VMs unreachable at once */
    uint32_t incidents;        /* correlated: infrastructure incidents opened */
    uint64_t actions_pushed;   /* monitoring's requests */
    uint64_t actions_queued;   /* that became a queued action */
    uint64_t actions_merged;   /* de-duplicated */
    uint64_t actions_stale;    /* dropped when due: the VM was fine by then */
    uint64_t actions_run;      /* started by the orchestrator */
    uint32_t redeploys;        /* VMs redeployed */
    uint32_t upscales;         /* instances added */
    uint32_t zombies;          /* old copies left running by a redeploy */
    uint32_t peak_zombies;
    uint32_t zombies_stopped; /* found by reconciling, or by hand */
    size_t peak_backlog;      /* actions waiting at once */
    uint32_t peak_deploys;    /* deployments running at once */
    uint64_t rate_limited;    /* times the queue held actions back for the rate limit */
    int64_t paused_us;        /* how long per-VM remediation was paused */
} hvf_remediation_stats;

typedef struct hvf_hvagent_stats {
    uint32_t hosts;
    uint32_t peak_threads;       /* the most tasks on one host */
    uint32_t peak_agent_threads; /* the most tasks the agent held on one host */
    uint32_t hosts_exhausted;    /* hosts that reached their task limit */
    uint64_t notifications;      /* received */
    uint64_t forks_failed;       /* per_notification: fork refused at the limit */
    uint64_t dropped;            /* pooled: overflowed */
    uint32_t peak_queue;         /* pooled: the longest queue of one host */
    uint32_t vm_crashes;         /* qemu could not start a thread */
    uint32_t deploy_failures;    /* a VM could not boot: no task left for its qemu */
} hvf_hvagent_stats;

/* The figures of the component of that kind in @sim; false when it has none. */
bool hvf_telemetry_stats_get(const hvf_sim *sim, hvf_telemetry_stats *out);
bool hvf_remediation_stats_get(const hvf_sim *sim, hvf_remediation_stats *out);
bool hvf_hvagent_stats_get(const hvf_sim *sim, hvf_hvagent_stats *out);
