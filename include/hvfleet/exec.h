/* SPDX-License-Identifier: MIT */
/*
 * The executor: runs an approved plan (hvfleet.plan/v1: maintenance, drain or an audit's
 * rebalance) through a driver, with every safety limit enforced at execution time, and
 * survives the death of the process that runs it.
 *
 * Contract:
 * - Before it starts and before every action: the freeze switch, the plan's seatbelt verdict
 *   and (when it needs one) an approval of exactly its hash, read from the store; before it
 *   starts, the inventory fingerprint of the fleet as the driver reports it; before each
 *   migration, that the VM is still where the plan found it.
 * - Claims ledger: a migration reserves memory and vCPUs on its target before it starts; the
 *   source is released when it completes; a failed or cancelled job releases its claim.
 * - Limits at every instant: hosts out of service fleet-wide, per rack, per zone; migrations in
 *   and out per host; capacity offline; the window. The plan's order is followed; an action
 *   starts when its preconditions hold, not at the plan's clock time.
 * - Journal: an intent is committed before every action and an outcome after it; `--resume`
 *   reconciles the journal with what the driver reports, never starting a migration twice.
 * - One thread, one driver connection, polling: no thread or process per migration.
 *
 * docs/execution.md describes the states, deviations, the store's tables and resuming.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/driver.h"
#include "hvfleet/error.h"
#include "hvfleet/plan.h"
#include "hvfleet/policy.h"

#define HVF_EXEC_RECORD_SCHEMA "hvfleet.execution/v1"

struct hvf_exec_progress;

typedef struct hvf_exec_opts {
    const char *plan_path;      /* for messages and the run's record */
    const char *inventory_path; /* the same */
    const char *state_dir;      /* the store, and where records go; required */
    const char *store;          /* the store when it is elsewhere (a PostgreSQL URI); NULL */
    /* Several controllers on one store: the run's writes are taken only while this holder
     * holds the lease of this term (hvf_store_fence); its record goes to STATE_DIR even when
     * another controller began the run. NULL: one controller. */
    const char *fence_holder;
    int64_t fence_term;
    const char *record_path;    /* NULL = STATE_DIR/runs/run-ID.json */
    const hvf_policy *policy;   /* NULL = defaults */
    double tolerance;           /* deviation beyond which the rest is re-planned; 0.25 */
    int64_t stall_timeout_us;   /* no progress on remaining bytes for this long: 150 s */
    double completion_timeout_s_per_gib; /* 800 s/GiB (Nova); 0 = never */
    const char *maintenance_command;     /* "ssh {host} systemctl reboot", NULL/"none" */
    int64_t maintenance_timeout_us;      /* 0 = none */
    bool resume;       /* continue the newest unfinished run of this state directory */
    bool check_ledger; /* assert the ledger and limits after every event (tests) */
    const char *by;    /* who runs it, for the record */
    /* Called for every event of the run (may be NULL): one JSON object per line in --json,
     * the progress display otherwise. @json is borrowed for the call. */
    void (*on_event)(const char *json, void *ctx);
    /* Called every progress_interval_us of backend time (default 1 s) with the progress (may
     * be NULL). */
    void (*on_progress)(const struct hvf_exec_progress *p, void *ctx);
    void *ctx;
    int64_t progress_interval_us;
    /* Asked before every round (may be NULL): true makes the run return at once, as a kill
     * would leave it (running in the store, jobs in flight going on), with result DETACHED;
     * `resume` continues it. hvfleetd's graceful shutdown. */
    bool (*should_detach)(void *ctx);
} hvf_exec_opts;

void hvf_exec_opts_init(hvf_exec_opts *o);

/* One line of the progress display. */
typedef struct hvf_exec_progress_mig {
    const char *vm, *from, *to; /* borrowed */
    double pct;                 /* percent: 100 x transferred / (transferred + remaining) */
    int64_t eta_us;             /* from the migration model fed with measured rates; -1 */
    double bytes_per_s, dirty_bytes_per_s;
    uint32_t throttle_pct;
    bool postcopy;
} hvf_exec_progress_mig;

/* A host out of service in the run, and the time the plan gives it still. */
typedef struct hvf_exec_progress_host {
    const char *host;  /* borrowed */
    const char *state; /* "draining", "maintaining" */
    int64_t remaining_us;
} hvf_exec_progress_host;

typedef struct hvf_exec_progress {
    int64_t now_us; /* since the run started */
    size_t hosts_total, hosts_done, hosts_failed, hosts_active;
    size_t migrations_total, migrations_done, migrations_failed;
    int64_t remaining_us; /* predicted time to the end of the run */
    const hvf_exec_progress_mig *migs;
    size_t nmigs;
    const hvf_exec_progress_host *hosts; /* the hosts out of service now */
    size_t nhosts;
    const char *state; /* "running", "paused", ... */
} hvf_exec_progress;

typedef enum hvf_exec_result {
    HVF_EXEC_DONE,    /* every host maintained, every migration done */
    HVF_EXEC_PARTIAL, /* finished, but some hosts or VMs were left as they were (reasons) */
    HVF_EXEC_PAUSED,  /* waiting for a person (approval of a re-plan, --pause) */
    HVF_EXEC_ABORTED,
    HVF_EXEC_REFUSED, /* did not start: frozen, not approved, stale, ... */
    HVF_EXEC_DETACHED, /* should_detach said so: left running for a later resume */
    HVF_EXEC_RESULT_LAST
} hvf_exec_result;

extern const char *const hvf_exec_result_names[];

typedef struct hvf_exec_summary {
    hvf_exec_result result;
    int64_t run_id;
    char record_path[1024];
    int64_t predicted_makespan_us, actual_makespan_us;
    size_t hosts_done, hosts_failed, migrations_done, migrations_failed, vms_stopped;
    uint32_t replans;
    char note[512]; /* why it paused, refused or left work undone */
} hvf_exec_summary;

/*
 * hvf_exec_run: runs @plan (not modified; owned by the caller) on @conn. Returns 0 with @out
 * filled whatever the result (refused, paused, partial are results), or -1 with @err set for a
 * failure of the machinery itself (store, driver, record). A run killed at any point is
 * continued by calling again with opts->resume.
 */
int hvf_exec_run(hvf_conn *conn, const hvf_plan *plan, const hvf_exec_opts *opts,
                 hvf_exec_summary *out, hvf_error *err) __attribute__((warn_unused_result));

/*
 * hvf_exec_run_change: runs a change plan (hvfleet.change-plan/v1, host units) on @conn: its
 * waves in order, each baked under the plan's functional gates read from the hosts; a failed
 * gate halts the run and rolls back the units changed so far (when the plan says so). The same
 * checks before every action, the same journal and resume as hvf_exec_run.
 */
struct hvf_change_plan_file;
int hvf_exec_run_change(hvf_conn *conn, const struct hvf_change_plan_file *plan,
                        const hvf_exec_opts *opts, hvf_exec_summary *out, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_exec_control: asks the newest unfinished run of @state_dir to pause, abort or abort and
 * cancel its migrations (HVF_STORE_CONTROL_*), or (NONE) clears a pause so that `--resume`
 * continues. Fills @run_id. HVF_ERR_NOT_FOUND when no run is unfinished.
 */
int hvf_exec_control(const char *state_dir, int control, int64_t *run_id, hvf_error *err)
    __attribute__((warn_unused_result));
