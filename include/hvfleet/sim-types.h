/* SPDX-License-Identifier: MIT */
/*
 * Plain data shared by the twin (src/sim) and the scenario reader (src/conf): simulator
 * parameters, faults, maintenance schedules and services. Besides the data, only its names,
 * defaults and clearing (src/conf/sim-types.c), so that conf/ can fill these without depending
 * on the engine (docs/internals/layers.md).
 *
 * Units are in field names: _us (integer microseconds, the twin's clock), _mib, _bytes_per_s.
 * Every parameter has a documented default (hvf_sim_params_default, docs/simulator.md).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

/* What the kernel does when a host runs out of memory and swap. */
typedef enum hvf_sim_oom {
    HVF_SIM_OOM_KILL_LARGEST, /* the OOM killer ends the largest guest (default Linux) */
    HVF_SIM_OOM_PANIC,        /* vm.panic_on_oom=1: the host crashes */
    HVF_SIM_OOM_LAST
} hvf_sim_oom;

extern const char *const hvf_sim_oom_names[];

typedef enum hvf_sim_strategy {
    HVF_SIM_STRATEGY_DEFAULT, /* the scenario's params */
    HVF_SIM_STRATEGY_PRECOPY, /* pre-copy, abort at the completion timeout */
    HVF_SIM_STRATEGY_AUTO_CONVERGE,
    HVF_SIM_STRATEGY_POSTCOPY,
    HVF_SIM_STRATEGY_LAST
} hvf_sim_strategy;

/* Per-host dynamics parameters; a scenario may override them for a set of hosts. */
typedef struct hvf_sim_host_params {
    uint64_t swap_mib;          /* swap space; 0 = none (then OOM) */
    double disk_io_bytes_per_s; /* what the host's disks sustain */
    bool hung_task_panic;       /* kernel.hung_task_panic */
    hvf_sim_oom oom;
} hvf_sim_host_params;

typedef struct hvf_sim_params {
    int64_t duration_us;
    uint64_t seed;
    int64_t metrics_interval_us;

    /* network */
    double migration_nic_share;       /* share of each NIC migrations may use, (0, 1] */
    double rack_uplink_bytes_per_s;   /* per direction; 0 = not a bottleneck */
    double zone_core_bytes_per_s;     /* per zone and direction; 0 = not modelled */
    double migration_max_bytes_per_s; /* default per-migration cap; 0 = none */
    int64_t migration_setup_min_us;   /* connection and target start, drawn uniformly */
    int64_t migration_setup_max_us;

    /* migration model defaults (a controller may override per migration) */
    int64_t downtime_limit_us;           /* QEMU downtime-limit, 300 ms */
    double zero_page_fraction;           /* share of guest memory never sent (zero pages) */
    hvf_sim_strategy strategy;           /* default PRECOPY (auto-converge off, like Nova) */
    double completion_timeout_s_per_gib; /* abort after this (Nova: 800 s/GiB); 0 = never */

    /* CPU */
    double migration_cpu_cores; /* CPU one migration costs on each end */

    /* memory and IO */
    hvf_sim_host_params host;     /* defaults for every host */
    double swap_io_fraction;      /* share of swapped memory guests touch per second */
    int64_t hung_task_timeout_us; /* kernel.hung_task_timeout_secs, 120 s */
    int64_t pressure_tick_us;     /* re-evaluation period of a swapping host */

    /* platform */
    int64_t vm_restart_delay_us; /* a killed/crashed VM is restarted after this */
    int64_t host_reboot_us;      /* a crashed host is back after this */
    bool vm_restart_same_host;   /* crashed VMs wait for their own host (local disks), never
                                    restart elsewhere */
    bool vm_restart_off;         /* crashed VMs stay crashed: a controller outside the twin
                                    restarts them (hvfleetd's HA, docs/ha.md) */

    /* output */
    bool record_events;      /* keep the event log (events.jsonl) */
    bool record_host_series; /* keep per-host metric series */
} hvf_sim_params;

typedef struct hvf_sim_host_override {
    int32_t *hosts; /* owned, fleet indexes */
    size_t nhosts;
    hvf_sim_host_params p;
} hvf_sim_host_override;

typedef enum hvf_sim_fault_type {
    HVF_SIM_FAULT_HOST_CRASH,
    HVF_SIM_FAULT_HOST_REBOOT,
    HVF_SIM_FAULT_LINK_DROP,
    HVF_SIM_FAULT_DIRTY_RATE,
    HVF_SIM_FAULT_SERVICE_DOWN, /* a shared dependency (the message bus) stops serving */
    HVF_SIM_FAULT_LAST
} hvf_sim_fault_type;

extern const char *const hvf_sim_fault_names[];

typedef enum hvf_sim_dir {
    HVF_SIM_DIR_BOTH,
    HVF_SIM_DIR_OUT,
    HVF_SIM_DIR_IN,
    HVF_SIM_DIR_LAST
} hvf_sim_dir;

extern const char *const hvf_sim_dir_names[];

typedef struct hvf_sim_fault {
    hvf_sim_fault_type type;
    int64_t at_us;
    int32_t host;           /* host faults, or the host whose NIC drops; -1 */
    int32_t rack;           /* link_drop on a rack uplink; -1 */
    int32_t vm;             /* dirty_rate; -1 */
    int64_t duration_us;    /* reboot: time down; crash: time until back (-1 = stays down);
                               link_drop: until restored (-1 = for good) */
    bool renamed_nics;      /* reboot: NIC names differ from the inventory afterwards */
    int64_t fixed_after_us; /* renamed NICs: inventory fixed this long after the host is up;
                               -1 = never */
    double bytes_per_s;     /* link_drop: new capacity; dirty_rate: new rate */
    hvf_sim_dir dir;        /* link_drop */
    char service[64];       /* service_down: the dependency's name */
} hvf_sim_fault;

/* The naive scheduler of seed 000, or an explicit list of maintenance times driven the same way. */
typedef struct hvf_sim_naive_opts {
    int32_t *hosts; /* owned, fleet indexes, in window order */
    int64_t *at_us; /* owned, may be NULL: windows spread over span_us from start_us */
    size_t nhosts;
    int64_t start_us;
    int64_t span_us;
    int64_t window_us;            /* maintenance time once the host is empty */
    uint32_t migrations_per_host; /* concurrent migrations out of one source */
    bool claims;                  /* claim memory on targets (false: the race of seed 000) */
    int64_t retry_us;             /* wait before retrying a VM that found no target or aborted */
    uint32_t max_retries;         /* then the VM is shut down and restarted after maintenance */
    uint32_t target_candidates;   /* 0 = scan every host for the most free memory; N = the best
                                     of N hosts drawn at random (for very large fleets) */
} hvf_sim_naive_opts;

/* The documented defaults (docs/simulator.md). */
void hvf_sim_params_default(hvf_sim_params *p);

/*
 * Bounds on a run's work, checked before it starts: the twin samples every host each
 * metrics_interval, so samples x hosts is what a run costs in time and in metrics
 * (docs/simulator.md, "Limits").
 */
#define HVF_SIM_MAX_DURATION_US (366LL * 86400 * 1000000) /* a year and a day */
#define HVF_SIM_MAX_SAMPLES 1000000ULL                   /* rows of metrics-fleet.csv */
#define HVF_SIM_MAX_HOST_SAMPLES 20000000ULL             /* samples x hosts */

/*
 * hvf_sim_params_check_work: refuses a run of @p over @nhosts hosts beyond the bounds above.
 * On failure sets *@field (may be NULL) to the field to blame, "duration" or
 * "metrics_interval", and @err (HVF_ERR_INVALID) to what was expected, naming the limit and
 * the metrics_interval that would fit, without the field's name. Returns 0 or -1.
 */
int hvf_sim_params_check_work(const hvf_sim_params *p, size_t nhosts, const char **field,
                              hvf_error *err) __attribute__((warn_unused_result));

/* Services as the twin sees their work (hvfleet/sim-svc.h), as a scenario declares them. */
typedef enum hvf_sim_svc_kind {
    HVF_SIM_SVC_REPLICATED,
    HVF_SIM_SVC_STORAGE,
    HVF_SIM_SVC_LAST
} hvf_sim_svc_kind;

extern const char *const hvf_sim_svc_kind_names[]; /* NULL-terminated */

typedef struct hvf_sim_svc_spec {
    char *name; /* owned */
    hvf_sim_svc_kind kind;
    int32_t service; /* replicated: the inventory service's index */
    int32_t *nodes;  /* owned, storage: hosts */
    size_t nnodes;
    int32_t *clients; /* owned: storage: VMs; replicated: hosts */
    size_t nclients;
    int64_t latency_us;   /* storage: a healthy client's IO latency */
    int64_t reconnect_us; /* storage: clients reconnect this long after the cause is gone */
    uint32_t span;        /* storage: nodes a client's data is spread over; 0 = all */
} hvf_sim_svc_spec;

/* Frees what @spec owns. */
void hvf_sim_svc_spec_clear(hvf_sim_svc_spec *spec);
