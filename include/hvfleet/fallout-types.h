/* SPDX-License-Identifier: MIT */
/*
 * Plain data for the twin's fallout components (include/hvfleet/fallout.h), read from a
 * scenario's telemetry:, remediation: and hv_agent: sections by src/conf. Besides the data, only
 * its names, defaults and clearing (src/conf/fallout-types.c), so conf fills these without
 * depending on the components (docs/internals/layers.md). Units are in field names; every field
 * has a documented default (hvf_*_opts_default, docs/scenarios.md).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HVF_FALLOUT_NAME_MAX 64

/* What a telemetry agent does with what it cannot ship (Vector's buffer.type / when_full). */
typedef enum hvf_buffer_policy {
    HVF_BUFFER_UNBOUNDED,   /* keeps everything in memory (what happened in seed 003) */
    HVF_BUFFER_BLOCK,       /* memory capped; the source is blocked and keeps the rest */
    HVF_BUFFER_DROP_NEWEST, /* memory capped; new events beyond it are dropped */
    HVF_BUFFER_SPILL,       /* memory capped, then written to disk up to a cap, then dropped */
    HVF_BUFFER_LAST
} hvf_buffer_policy;

extern const char *const hvf_buffer_policy_names[]; /* "unbounded", "block", ... */

/* Telemetry agents in VMs shipping to a shared dependency (the message bus of seed 003). */
typedef struct hvf_telemetry_opts {
    int32_t *vms; /* owned, fleet order: VMs that run an agent */
    size_t nvms;
    char dependency[HVF_FALLOUT_NAME_MAX]; /* where telemetry goes */
    double rate_bytes_per_s;               /* telemetry an agent produces, on average */
    double rate_spread; /* agents' rates spread evenly over rate x [1 - s/2, 1 + s/2], [0, 1.9] */
    hvf_buffer_policy policy;
    uint64_t buffer_max_mib;       /* memory cap (block, drop_newest, spill) */
    uint64_t spill_max_mib;        /* disk cap (spill) */
    double drain_bytes_per_s;      /* shipping a backlog once the dependency serves again */
    double guest_used;             /* share of a VM's memory its workload uses, [0, 1) */
    uint64_t guest_swap_mib;       /* swap inside each guest; beyond it the guest OOM-kills */
    double guest_swap_io_fraction; /* share of the guest's swapped memory faulted back per s */
    double thrash_io_bytes_per_s;  /* page cache gone: code and data re-read from disk */
    double thrash_speed;           /* how fast a guest under memory pressure answers, (0, 1] */
    int64_t tick_us;
} hvf_telemetry_opts;

typedef enum hvf_remediation_mode {
    HVF_REMEDIATION_PER_VM,     /* every unreachable VM gets its own redeploy (as it happened) */
    HVF_REMEDIATION_CORRELATED, /* one incident for a fleet-wide symptom; an action queue */
    HVF_REMEDIATION_LAST
} hvf_remediation_mode;

extern const char *const hvf_remediation_mode_names[]; /* "per_vm", "correlated" */

/* Monitoring, the orchestrator it feeds, and what handles its alerts. */
typedef struct hvf_remediation_opts {
    hvf_remediation_mode mode;
    int32_t *vms; /* owned: VMs monitoring watches */
    size_t nvms;
    int64_t check_interval_us;
    uint32_t unreachable_after; /* consecutive failed checks before acting */
    int64_t renotify_us;        /* a VM still unreachable is reported again this often */
    double slow_speed;          /* a VM answering slower than this reads as unreachable */
    double upscale_speed;       /* a VM slower than this (and reachable) is upscaled; 0 = never */
    int64_t alert_delay_us;     /* from a failed dependency or a host in trouble to the alert */

    /* VMs whose health check uses a dependency: they fail while it does not serve */
    int32_t *dependents; /* owned */
    size_t ndependents;
    char dependents_on[HVF_FALLOUT_NAME_MAX];
    bool dependents_need_restart; /* they stay failed until redeployed */

    /* the orchestrator */
    char orchestrator_on[HVF_FALLOUT_NAME_MAX]; /* a dependency deployments go through, or "" */
    double deploys_per_min;                     /* its capacity */
    int64_t deploy_time_us;                     /* a deployment's work on the target */
    double deploy_cpu_cores;
    double deploy_io_bytes_per_s;

    /* correlated: a fleet-wide symptom or a failed shared dependency */
    double fleet_share;  /* more than this share of watched VMs unreachable at once */
    char **correlate_on; /* owned: shared dependencies whose failure opens the incident */
    size_t ncorrelate_on;
    int64_t clear_after_us;  /* the symptom gone this long closes the incident */
    double redeploy_per_min; /* action queue: rate limit of redeploys */
    uint32_t redeploy_burst;
    double upscale_per_min;
    int64_t cooldown_us; /* a VM redeployed is not redeployed again before this */
    uint32_t queue_max;  /* 0 = unbounded */
    bool reconcile;      /* find zombies (desired vs actual copies) and stop them */

    /* per_vm: what the operators did by hand */
    int64_t operator_pause_after_us;   /* after the first host alert: pause per-VM remediation;
                                          -1 = never */
    int64_t operator_zombies_after_us; /* after the first host alert: clean zombies; -1 never */
} hvf_remediation_opts;

typedef enum hvf_hvagent_model {
    HVF_HVAGENT_PER_NOTIFICATION, /* forks a process per notification (seed 001) */
    HVF_HVAGENT_POOLED,           /* one process, one connection, a bounded worker pool */
    HVF_HVAGENT_LAST
} hvf_hvagent_model;

typedef enum hvf_overflow {
    HVF_OVERFLOW_DROP_NEWEST,
    HVF_OVERFLOW_DROP_OLDEST,
    HVF_OVERFLOW_BLOCK, /* stop reading the connection: the sender keeps them */
    HVF_OVERFLOW_LAST
} hvf_overflow;

extern const char *const hvf_hvagent_model_names[];
extern const char *const hvf_overflow_names[];

/* The hypervisor agent and the host's task limit (seed 001). */
typedef struct hvf_hvagent_opts {
    hvf_hvagent_model model;
    int32_t *hosts; /* owned: hosts running it */
    size_t nhosts;
    int64_t start_us;             /* the new notification subsystem goes live */
    double notifications_per_min; /* per host */
    int64_t burst_at_us;          /* a surge of notifications; -1 = none */
    int64_t burst_duration_us;
    double burst_per_min;
    bool proxy_leaks;           /* the proxy never closes a connection */
    uint32_t process_threads;   /* tasks a forked notification process holds */
    int64_t handle_time_us;     /* a notification's work */
    uint32_t threads_max;       /* the host's task limit (pids.max, kernel.threads-max) */
    uint32_t base_threads;      /* the host's own tasks */
    uint32_t qemu_threads;      /* tasks of a VM's qemu beyond one per vCPU */
    double qemu_spawns_per_min; /* worker threads each qemu starts per minute */
    uint32_t workers;           /* pooled */
    uint32_t queue_max;         /* pooled */
    hvf_overflow overflow;      /* pooled */
    int64_t tick_us;

    /* operators (per_notification) */
    uint32_t alert_after_crashes; /* VM crashes before monitoring alerts; 0 = never */
    int64_t alert_delay_us;
    int64_t diagnose_after_us;  /* after the alert: the update is suspected */
    int64_t decide_after_us;    /* after the alert: revert it */
    int64_t revert_duration_us; /* rolled over the hosts in this time */
    int64_t confirm_after_us;   /* after the revert: checked, declared fine */
} hvf_hvagent_opts;

/* A scenario's fallout sections; each part only when has_* is set. */
typedef struct hvf_fallout_opts {
    bool has_telemetry, has_remediation, has_hv_agent;
    hvf_telemetry_opts telemetry;
    hvf_remediation_opts remediation;
    hvf_hvagent_opts hv_agent;
} hvf_fallout_opts;

/* The documented defaults; selections (vms, hosts) empty. */
void hvf_telemetry_opts_default(hvf_telemetry_opts *o);
void hvf_remediation_opts_default(hvf_remediation_opts *o);
void hvf_hvagent_opts_default(hvf_hvagent_opts *o);
/* Frees what the options own (selections, names) and zeroes them. */
void hvf_fallout_opts_clear(hvf_fallout_opts *o);
