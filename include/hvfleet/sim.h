/* SPDX-License-Identifier: MIT */
/*
 * The twin: a deterministic discrete-event simulator of a fleet.
 *
 * Time is integer microseconds from 0. Events are ordered by (time, priority class, insertion
 * sequence), so the same fleet, parameters, faults and controller give byte-identical output.
 *
 * A controller (a scheduler or planner) drives the twin through callbacks: on_start once, then
 * on_event after every state change it may care about. From inside a callback (or before
 * hvf_sim_run) it calls the action functions below; actions take effect at hvf_sim_now().
 * The twin owns a copy of the fleet; hvf_sim_fleet() exposes it read-only, with each host's
 * used/claimed accounting and each VM's host kept current.
 *
 * Memory: a migration started with a claim reserves the VM's memory on the target
 * (hvf_host_claim) and commits it on arrival; without one, the target only accounts pages as
 * they arrive, and the VM is placed with HVF_OVERCOMMIT when it completes (the race of seed 000).
 *
 * Not thread-safe: one simulation per thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/monitor.h"
#include "hvfleet/sim-types.h"

typedef struct hvf_sim hvf_sim;

typedef enum hvf_sim_host_state {
    HVF_SIM_HOST_ACTIVE,
    HVF_SIM_HOST_EVACUATING,  /* in service, being emptied: takes no new VMs */
    HVF_SIM_HOST_MAINTENANCE, /* out of service, empty */
    HVF_SIM_HOST_DOWN,        /* crashed or rebooting */
    HVF_SIM_HOST_QUARANTINED, /* up, but its NICs do not match the inventory */
    HVF_SIM_HOST_LAST
} hvf_sim_host_state;

typedef enum hvf_sim_vm_state {
    HVF_SIM_VM_RUNNING,
    HVF_SIM_VM_MIGRATING,
    HVF_SIM_VM_PAUSED,  /* stopped for the final copy of its migration */
    HVF_SIM_VM_STOPPED, /* shut down by a controller */
    HVF_SIM_VM_CRASHED, /* killed (OOM) or died with its host: the platform restarts it */
    HVF_SIM_VM_LAST
} hvf_sim_vm_state;

extern const char *const hvf_sim_host_state_names[];
extern const char *const hvf_sim_vm_state_names[];

typedef enum hvf_sim_event_type {
    HVF_SIM_EV_MIGRATION_END,   /* completed: vm now on `to` */
    HVF_SIM_EV_MIGRATION_ABORT, /* vm still on `from` (or crashed with it) */
    HVF_SIM_EV_HOST_EVACUATED,  /* an evacuating host holds no VM and no migration */
    HVF_SIM_EV_HOST_IN_SERVICE, /* back from maintenance, a reboot or quarantine */
    HVF_SIM_EV_TIMER,
    HVF_SIM_EV_HOST_CRASH,
    HVF_SIM_EV_VM_DOWN, /* a VM was killed or crashed (the platform restarts it) */
    HVF_SIM_EV_SERVICE, /* degraded clients or replicas changed (hvfleet/sim-svc.h) */
    HVF_SIM_EV_DEPENDENCY, /* a shared dependency stopped or resumed serving; tag = its id */
    HVF_SIM_EV_VM_UP,      /* a crashed VM was restarted by the platform; host = where */
    HVF_SIM_EV_LAST
} hvf_sim_event_type;

typedef struct hvf_sim_event {
    hvf_sim_event_type type;
    int64_t t_us;
    int32_t host;      /* the host concerned, or -1 */
    int32_t vm;        /* -1 */
    int32_t from, to;  /* migrations; -1 */
    int32_t migration; /* id returned by hvf_sim_start_migration; -1 */
    int64_t tag;       /* timers */
    bool converged;    /* migration end: false when it relied on a forced switchover */
} hvf_sim_event;

typedef struct hvf_sim_controller {
    const char *name;
    void *ctx; /* borrowed */
    void (*on_start)(hvf_sim *sim, void *ctx);
    void (*on_event)(hvf_sim *sim, const hvf_sim_event *ev, void *ctx);
    /* May be NULL: called once when the run ends. */
    void (*on_finish)(hvf_sim *sim, void *ctx);
    /* May be NULL: when set, the twin owns ctx and frees it in hvf_sim_free. */
    void (*free_ctx)(void *ctx);
} hvf_sim_controller;

typedef struct hvf_sim_migrate_opts {
    bool claim;             /* reserve the VM's memory on the target first */
    double max_bytes_per_s; /* this migration's cap; 0 = the scenario's default */
    hvf_sim_strategy strategy;
    int64_t downtime_limit_us; /* 0 = the scenario's default */
} hvf_sim_migrate_opts;

/*
 * hvf_sim_new: a simulation of a copy of @fleet with @params (copied). @overrides (may be NULL)
 * set per-host dynamics for some hosts. Faults are added with hvf_sim_add_fault, the controller
 * with hvf_sim_set_controller. Returns an owned simulation (hvf_sim_free).
 */
hvf_sim *hvf_sim_new(const hvf_fleet *fleet, const hvf_sim_params *params,
                     const hvf_sim_host_override *overrides, size_t noverrides);
void hvf_sim_free(hvf_sim *sim);

/* Scenario name written into outputs; copied. */
void hvf_sim_set_name(hvf_sim *sim, const char *name);
/* @ctl is copied; its ctx stays the caller's unless ctl->free_ctx is set. One controller per
 * simulation. */
void hvf_sim_set_controller(hvf_sim *sim, const hvf_sim_controller *ctl);
/* Returns 0, or -1 with HVF_ERR_INVALID (bad indexes, time outside the run). */
int hvf_sim_add_fault(hvf_sim *sim, const hvf_sim_fault *fault, hvf_error *err)
    __attribute__((warn_unused_result));
/* Called about every 2^16 events with the simulated time; for progress lines. */
void hvf_sim_set_progress(hvf_sim *sim, void (*fn)(int64_t now_us, int64_t end_us, void *ctx),
                          void *ctx);

/* Runs until the duration; once only. */
void hvf_sim_run(hvf_sim *sim);

/* The files of a run directory, and its manifest run.json (docs/simulator.md). */
#define HVF_SIM_RUN_FILES "summary.json", "events.jsonl", "metrics-fleet.csv", "metrics-hosts.csv"
#define HVF_SIM_MANIFEST "run.json"
#define HVF_SIM_MANIFEST_SCHEMA "hvfleet.sim-run/v1"
/* Every name a run directory may hold (the files, report.html, run.json), NULL-terminated. */
extern const char *const hvf_sim_output_files[];

/*
 * hvf_sim_write_outputs: writes summary.json, events.jsonl, metrics-fleet.csv and
 * metrics-hosts.csv into @dir (created if missing), each atomically, then seals them
 * (hvf_sim_seal_outputs). Callers that must never leave a mix of two runs write into a staging
 * directory and swap it in whole (the CLI does). Returns 0 or -1 (HVF_ERR_IO).
 */
int hvf_sim_write_outputs(hvf_sim *sim, const char *dir, hvf_error *err)
    __attribute__((warn_unused_result));
/*
 * hvf_sim_seal_outputs: writes @dir/run.json: each run file's size and SHA-256, and a run id
 * derived from them, so that a directory mixing files of two runs is recognised (hvfleet
 * report refuses it). Call again after changing a file (as a replay adds its KPIs).
 */
int hvf_sim_seal_outputs(const char *dir, hvf_error *err) __attribute__((warn_unused_result));
/* The summary as compact JSON text (owned). */
char *hvf_sim_summary_json(hvf_sim *sim);

typedef struct hvf_sim_stats {
    uint64_t migrations_started, migrations_completed, migrations_aborted;
    int64_t makespan_us; /* first maintenance window to last host back */
    uint32_t peak_concurrent_migrations;
    uint32_t peak_concurrent_evacuations;
    double peak_host_memory_ratio; /* (used + claimed + arriving) / usable */
    uint32_t hosts_over_committed; /* hosts whose ratio exceeded 1 at some time */
    uint32_t vms_crashed;          /* VMs that died with their host */
    uint32_t vms_rebooted;         /* VMs the OOM killer ended, restarted */
    uint32_t hosts_crashed;
    uint32_t hosts_hung; /* IO-saturated past the hung-task timeout, no panic */
    uint32_t hosts_maintained;
    uint64_t events;               /* event-log entries */
    uint64_t sim_events;           /* engine events processed */
    uint64_t flow_recomputes;      /* bandwidth recomputations (connected components) */
    uint64_t flow_recompute_flows; /* flows visited by them */
} hvf_sim_stats;

void hvf_sim_get_stats(const hvf_sim *sim, hvf_sim_stats *out);

/*
 * hvf_sim_check: the claims ledger invariant, for tests and assertions. Every host's used
 * memory and vCPUs equal what its running VMs hold, its claims equal the claimed migrations in
 * flight towards it, and (unless @allow_overcommit) used + claimed <= usable memory.
 * Returns 0, or -1 with the first violation in @err.
 */
int hvf_sim_check(const hvf_sim *sim, bool allow_overcommit, hvf_error *err)
    __attribute__((warn_unused_result));

/* ---- controller API: time and queries ---- */

int64_t hvf_sim_now(const hvf_sim *sim);
int64_t hvf_sim_end(const hvf_sim *sim);
const hvf_fleet *hvf_sim_fleet(const hvf_sim *sim);
const hvf_sim_params *hvf_sim_params_get(const hvf_sim *sim);

hvf_sim_host_state hvf_sim_host_state_get(const hvf_sim *sim, int32_t host);
bool hvf_sim_host_is_evacuating(const hvf_sim *sim, int32_t host);
/*
 * Free memory of @host in MiB. With @count_claims: usable - used - claimed - the whole size of
 * VMs migrating in without a claim (what a careful planner must assume). Without: usable - used
 * - pages already arrived, i.e. what the host itself reports at this moment (the naive view).
 */
uint64_t hvf_sim_host_free_mib(const hvf_sim *sim, int32_t host, bool count_claims);
/* (used + claimed + arriving) / usable. */
double hvf_sim_host_memory_ratio(const hvf_sim *sim, int32_t host);
void hvf_sim_host_migrations(const hvf_sim *sim, int32_t host, uint32_t *in, uint32_t *out);
/* VMs placed on @host (running, migrating out, waiting for restart there); borrowed, valid until
 * the next action or event. */
size_t hvf_sim_host_vms(const hvf_sim *sim, int32_t host, const int32_t **vms);
int32_t hvf_sim_vm_host(const hvf_sim *sim, int32_t vm);
hvf_sim_vm_state hvf_sim_vm_state_get(const hvf_sim *sim, int32_t vm);
/* Migration in flight for @vm, or -1. */
int32_t hvf_sim_vm_migration(const hvf_sim *sim, int32_t vm);

/* What a migration did in the twin, as QMP's query-migrate would report it. */
typedef struct hvf_sim_migration_info {
    int32_t vm, from, to;
    bool active;    /* in flight: the figures so far (as of its last phase boundary) */
    bool completed; /* ended on the target; false while in flight or once aborted */
    bool converged; /* completed without a forced switchover (post-copy) */
    bool claimed;   /* the target's memory was claimed first */
    int64_t start_us;
    int64_t end_us;      /* -1 while in flight */
    int64_t downtime_us; /* guest paused for the final copy and switchover; 0 unless completed */
    uint32_t rounds;     /* live passes: dirty-bitmap syncs (QMP dirty-sync-count) */
    /* The mechanism it relied on: PRECOPY, AUTO_CONVERGE once the guest was throttled, POSTCOPY
     * once it switched; never DEFAULT. */
    hvf_sim_strategy strategy;
    uint32_t throttle_pct; /* auto-converge's last throttle */
    uint64_t bytes_sent;
} hvf_sim_migration_info;

/*
 * hvf_sim_migration_result: the figures of migration @migration (an id from
 * hvf_sim_start_migration or an event's `migration`): real downtime, rounds and mechanism, from
 * the twin rather than the model's prediction at a constant bandwidth. Ids are reused once a
 * migration ends, so a finished migration's figures are there until the next
 * hvf_sim_start_migration: read them in the callback of its end or abort event, before acting.
 * Returns 0, or -1 with HVF_ERR_NOT_FOUND for an id that never existed.
 */
int hvf_sim_migration_result(const hvf_sim *sim, int32_t migration, hvf_sim_migration_info *out,
                             hvf_error *err) __attribute__((warn_unused_result));
uint32_t hvf_sim_migrations_active(const hvf_sim *sim);

/* ---- controller API: actions (each returns 0 / an id, or -1 with @err set) ---- */

/*
 * hvf_sim_start_migration: live-migrates @vm (running) to @target (active, not its host). With
 * opts->claim the target's memory is claimed first (HVF_ERR_CAPACITY when it has no room).
 * @opts may be NULL (no claim, defaults). Returns the migration id. HVF_ERR_CONFLICT when the VM
 * is not running or a host is not in a state to take part.
 */
int32_t hvf_sim_start_migration(hvf_sim *sim, int32_t vm, int32_t target,
                                const hvf_sim_migrate_opts *opts, hvf_error *err);
/* ACTIVE <-> EVACUATING; QUARANTINED -> ACTIVE only once the inventory matches. */
int hvf_sim_set_host_state(hvf_sim *sim, int32_t host, hvf_sim_host_state state, hvf_error *err)
    __attribute__((warn_unused_result));
/* An empty host (no VM, no migration) goes to maintenance for @duration_us, then back. */
int hvf_sim_begin_maintenance(hvf_sim *sim, int32_t host, int64_t duration_us, hvf_error *err)
    __attribute__((warn_unused_result));
/* Shuts down a running VM; it stays placed on its host but frees its memory and CPU. */
int hvf_sim_stop_vm(hvf_sim *sim, int32_t vm, hvf_error *err) __attribute__((warn_unused_result));
/* Boots a stopped or crashed VM on @host (active or evacuating), moving it there if needed; a
 * crashed VM's own restart by the platform (vm_restart_delay) is called off. */
int hvf_sim_start_vm(hvf_sim *sim, int32_t vm, int32_t host, hvf_error *err)
    __attribute__((warn_unused_result));
/*
 * hvf_sim_crash_vm: a running or migrating VM dies (its qemu crashed: a process limit, a bug),
 * for components that model such causes. Its migration aborts; the platform restarts it after
 * restart_delay like any crashed VM. Logs vm_crashed with @why (may be NULL).
 * HVF_ERR_CONFLICT when the VM is not running.
 */
int hvf_sim_crash_vm(hvf_sim *sim, int32_t vm, const char *why, hvf_error *err)
    __attribute__((warn_unused_result));
/*
 * hvf_sim_repair_host: an operator fixes what keeps @host out of service, now: a quarantined
 * host (renamed NICs) has its inventory corrected; a down host is brought back up (with its
 * NICs right). Logs host_up with @why (may be NULL). HVF_ERR_CONFLICT for a host in service.
 */
int hvf_sim_repair_host(hvf_sim *sim, int32_t host, const char *why, hvf_error *err)
    __attribute__((warn_unused_result));
/* Fires HVF_SIM_EV_TIMER with @tag at @t_us (>= now). */
void hvf_sim_add_timer(hvf_sim *sim, int64_t t_us, int64_t tag);
/* Appends an entry to the event log ({"t_s":..,"type":@type,...}); @host/@vm may be -1,
 * @detail NULL. */
void hvf_sim_log(hvf_sim *sim, const char *type, int32_t host, int32_t vm, const char *detail);

/* ---- components: more controllers in one simulation ---- */

/*
 * A component is a controller the twin runs beside the main one (hvf_sim_set_controller):
 * monitors, an action queue, an agent model, a rolling change (the platform's models,
 * src/platform/). Components see every event the
 * controller sees, after it, in the order they were added; timers they set with
 * hvf_sim_component_timer come back to them alone through on_timer. Every callback may be NULL.
 */
typedef struct hvf_sim_component {
    const char *name; /* borrowed; a string literal */
    void *ctx;
    void (*on_start)(hvf_sim *sim, void *ctx);
    void (*on_event)(hvf_sim *sim, const hvf_sim_event *ev, void *ctx);
    void (*on_timer)(hvf_sim *sim, int64_t tag, void *ctx);
    void (*on_finish)(hvf_sim *sim, void *ctx);
    void (*free_ctx)(void *ctx); /* when set, the twin frees ctx in hvf_sim_free */
} hvf_sim_component;

/* hvf_sim_add_component: adds @c (copied) before hvf_sim_run. Returns its id (0, 1, ...). */
int32_t hvf_sim_add_component(hvf_sim *sim, const hvf_sim_component *c);

/* Calls component @id's on_timer with @tag at @t_us (>= now). */
void hvf_sim_component_timer(hvf_sim *sim, int32_t id, int64_t t_us, int64_t tag);

/* ---- shared dependencies, guest load, load beyond the fleet's VMs (src/sim/ext.c) ---- */

/*
 * Shared dependencies: services many components use, by name ("bus"), serving or not. A
 * service_down fault stops one for a while; components may too. Each change is logged
 * (dependency_down, dependency_up) and sent as HVF_SIM_EV_DEPENDENCY with the id in tag.
 * hvf_sim_dependency_id returns the id of @name, declaring it (serving) on first use;
 * hvf_sim_dependency_find returns -1 for an unknown name.
 */
int32_t hvf_sim_dependency_id(hvf_sim *sim, const char *name);
int32_t hvf_sim_dependency_find(const hvf_sim *sim, const char *name);
const char *hvf_sim_dependency_name(const hvf_sim *sim, int32_t id);
bool hvf_sim_dependency_serving(const hvf_sim *sim, int32_t id);
void hvf_sim_dependency_set(hvf_sim *sim, int32_t id, bool serving, const char *why);

/*
 * hvf_sim_vm_set_guest_load: what happens inside @vm's guest that its host feels: disk IO the
 * guest generates (its own swap, a telemetry spill), counted in the host's IO while the VM runs,
 * and the guest's own speed (1 = unimpeded; a thrashing guest answers slowly whatever its host
 * does). Kept until changed; reset when the VM is redeployed.
 */
void hvf_sim_vm_set_guest_load(hvf_sim *sim, int32_t vm, double io_bytes_per_s, double speed);
double hvf_sim_vm_guest_io(const hvf_sim *sim, int32_t vm);
/* How fast @vm answers: its host's speed (CPU and IO contention) x its guest's own; 0 when it
 * does not run or its host is down. */
double hvf_sim_vm_speed(const hvf_sim *sim, int32_t vm);

/*
 * hvf_sim_host_add_load: adds (or, negative, removes) load on @host that no fleet VM holds: CPU
 * cores, disk IO and resident memory (a deployment in progress, a zombie copy of a VM). The
 * caller removes exactly what it added; a crashed host keeps the figures but does not run them.
 */
void hvf_sim_host_add_load(hvf_sim *sim, int32_t host, double cpu_cores, double io_bytes_per_s,
                           double mem_mib);
/* The host's speed (1 = guests run at full speed; 0 when down) and disk IO utilisation. */
double hvf_sim_host_speed(const hvf_sim *sim, int32_t host);
double hvf_sim_host_io_util(const hvf_sim *sim, int32_t host);

/*
 * hvf_sim_redeploy_vm: the orchestrator's redeploy: a new copy of running @vm takes over on
 * @target (active, not its host) and the VM is accounted there from now; the switch itself is
 * not modelled as downtime. Whether the old copy really stopped is the caller's business (a
 * zombie is load it adds with hvf_sim_host_add_load). Logs vm_redeployed with @why.
 * HVF_ERR_CONFLICT when the VM does not run or the target cannot take it.
 */
int hvf_sim_redeploy_vm(hvf_sim *sim, int32_t vm, int32_t target, const char *why,
                        hvf_error *err) __attribute__((warn_unused_result));
/* How many times @vm was redeployed: state kept per copy of a VM resets when it changes. */
uint32_t hvf_sim_vm_copy(const hvf_sim *sim, int32_t vm);

/* hvf_sim_add_summary: adds (or replaces) @key in summary.json with @json (a JSON value as text;
 * copied), for a component's figures. */
void hvf_sim_add_summary(hvf_sim *sim, const char *key, const char *json);

/* ---- stepping and live control, for drivers that put the twin behind a backend table ---- */

/*
 * hvf_sim_run_until: runs events up to @t_us (capped at the run's end) and leaves the clock
 * there, so a caller can interleave its own actions with time passing: the sim driver polls
 * the twin this way. May be called repeatedly with growing times; do not mix with hvf_sim_run.
 * hvf_sim_next_event_us returns the time of the next pending event, or INT64_MAX.
 */
void hvf_sim_run_until(hvf_sim *sim, int64_t t_us);
int64_t hvf_sim_next_event_us(const hvf_sim *sim);

/* What a migration in flight reports, as QMP's query-migrate does. */
typedef struct hvf_sim_migration_progress {
    bool active;
    bool postcopy;            /* switched to post-copy */
    uint64_t total_bytes;     /* guest RAM */
    uint64_t transferred_bytes;
    uint64_t remaining_bytes; /* first-pass pages unsent + dirty pages to resend */
    double dirty_bytes_per_s; /* the guest's rate after any throttle */
    double bytes_per_s;       /* the migration's current share of the network */
    uint32_t dirty_sync_count;
    uint32_t throttle_pct;
    int64_t expected_downtime_us; /* remaining / share, as QEMU estimates it */
} hvf_sim_migration_progress;

/* Fills @out for migration @migration (inactive ones give active = false). Returns 0, or -1
 * with HVF_ERR_NOT_FOUND. Brings the migration's model up to now first. */
int hvf_sim_migration_progress_get(hvf_sim *sim, int32_t migration,
                                   hvf_sim_migration_progress *out, hvf_error *err)
    __attribute__((warn_unused_result));
/* Cancels a migration in flight (QMP migrate_cancel): the VM stays running on its source, a
 * claim on the target is released, HVF_SIM_EV_MIGRATION_ABORT is sent. HVF_ERR_CONFLICT when
 * it is not active. */
int hvf_sim_cancel_migration(hvf_sim *sim, int32_t migration, const char *why, hvf_error *err)
    __attribute__((warn_unused_result));
/* Lets a pre-copy or auto-converge migration switch to post-copy at its next dirty sync
 * (QMP migrate-start-postcopy). HVF_ERR_CONFLICT when it is not active. */
int hvf_sim_migration_start_postcopy(hvf_sim *sim, int32_t migration, hvf_error *err)
    __attribute__((warn_unused_result));
/* Injects @fault (time ignored: it fires now), after the run started. Same checks as
 * hvf_sim_add_fault. */
int hvf_sim_inject_fault(hvf_sim *sim, const hvf_sim_fault *fault, hvf_error *err)
    __attribute__((warn_unused_result));
