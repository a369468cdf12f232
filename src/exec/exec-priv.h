/* SPDX-License-Identifier: MIT */
/*
 * The executor's state, shared by its files: exec.c (the loop), exec-ledger.c (claims and
 * limits), exec-journal.c (intents, outcomes, resume), exec-record.c (the record and events),
 * exec-replan.c (deviation -> re-plan).
 *
 * Names: x_* are executor internals; "predicted" figures come from the plan, "actual" from the
 * driver; times are microseconds of the driver's clock since the run started (run_t).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/driver.h"
#include "hvfleet/exec.h"
#include "hvfleet/fleet.h"
#include "hvfleet/plan.h"
#include "hvfleet/store.h"
#include "hvfleet/strbuf.h"

typedef enum xh_state {
    XH_PENDING,
    XH_DRAINING,    /* evacuating: its migrations and stops run */
    XH_MAINTAINING, /* empty; its maintenance action runs */
    XH_DONE,
    XH_FAILED, /* left as it was, with a reason */
    XH_LAST
} xh_state;

typedef enum xm_state {
    XM_PENDING,
    XM_RUNNING,
    XM_DONE,
    XM_FAILED,  /* the VM stays where it was */
    XM_SKIPPED, /* not needed any more (re-planned, aborted, its host failed) */
    XM_LAST
} xm_state;

typedef enum xs_state {
    XS_PENDING,
    XS_STOPPED,
    XS_STARTED,
    XS_FAILED,
    XS_LAST
} xs_state;

extern const char *const x_host_state_names[];
extern const char *const x_mig_state_names[];
extern const char *const x_stop_state_names[];

typedef struct x_host {
    char *name; /* owned */
    int32_t idx; /* in the executor's fleet */
    xh_state st;
    int64_t evac_start_us, evac_end_us, maint_start_us, maint_end_us; /* actual, -1 */
    int64_t pred_evac_start_us, pred_evac_end_us, pred_maint_start_us, pred_maint_end_us;
    bool undrain; /* failed while draining: the driver must put it back in service */
    uint32_t extra_replans; /* re-plans asked for because VMs the plan did not know are on it */
    bool late_reported;     /* its maintenance ran later than predicted, and was re-planned */
    char reason[256];
} x_host;

typedef struct x_mig {
    char *vm, *from, *to; /* owned */
    int32_t vm_idx, from_idx, to_idx;
    int32_t host; /* x_host index of the host it evacuates, or -1 (a rebalance or a return) */
    xm_state st;
    int64_t job;
    int64_t start_us, end_us; /* actual, -1 */
    /* since when this process watches it (its start, or the resume that adopted it): lateness,
     * stalls and timeouts are measured from here, not across a gap nobody watched */
    int64_t watch_us;
    int64_t pred_start_us, pred_end_us;
    hvf_plan_migration_mode mode;
    hvf_non_converging nc; /* what the plan says for this VM when it does not converge */
    bool has_nc;
    bool postcopy_switched;
    uint64_t best_remaining;
    int64_t best_at_us;
    int64_t downtime_us;
    bool late_reported;
    bool found_done; /* the resume found it on its target with no outcome journaled */
    char reason[256];
} x_mig;

typedef struct x_stop {
    char *vm, *host, *start_host; /* owned */
    int32_t vm_idx, host_x; /* host_x: x_host index, or -1 */
    xs_state st;
    int64_t stop_us, start_us; /* actual, -1 */
    int64_t pred_stop_us, pred_start_us;
    char reason[256];
} x_stop;

typedef struct x_ledger_host {
    uint64_t used_mib, claimed_mib, usable_mib;
    uint32_t used_vcpus, claimed_vcpus, usable_vcpus;
    uint32_t mig_in, mig_out;
} x_ledger_host;

typedef struct x_run {
    hvf_conn *conn;       /* borrowed */
    const hvf_exec_opts *o; /* borrowed */
    hvf_policy policy;
    hvf_store *st;        /* owned */
    hvf_store_run run;
    hvf_plan *plan;       /* owned: the plan in force (the approved one, or a re-plan) */
    /* whose approval the run needs: the plan's, or a worse re-plan's; a re-plan no worse than
     * the plan in force runs under the approval already given */
    char approval_hash[65];
    hvf_plan_verdict approval_verdict;
    hvf_fleet *fleet;     /* owned: the fleet as the driver reported it at the start */
    x_host *hosts;
    size_t nhosts;
    x_mig *migs;
    size_t nmigs, migs_cap;
    x_stop *stops;
    size_t nstops;
    x_ledger_host *ledger; /* per fleet host */
    int64_t t0_us;         /* driver time when the run started */
    int64_t now_us;        /* run time */
    uint64_t total_usable_mib;
    uint32_t replans;
    const char *want_replan; /* a reason to re-plan before going on, or NULL */
    bool cancel_running;
    bool aborting;
    int32_t *vm_mig; /* per fleet VM: running x_mig index, -1 */
    hvf_drv_vm_state *vm_state; /* per fleet VM, as the driver last listed it */
    hvf_exec_summary *sum;
    char note[512];
} x_run;

/* exec.c */
/* The store of @o (its own location or the state directory's), fenced when @o says so. */
hvf_store *x_store_open(const hvf_exec_opts *o, hvf_error *err);
/* Records a new run of the plan with @hash in the store: running, in this process. */
int x_run_add(x_run *x, const char *hash, hvf_error *err);
/* Names the run's record (--record, else its own, else STATE/runs/run-ID.json), in the summary
 * too. */
void x_run_record_path(x_run *x);

/* exec-work.c: the work, from the plan */
hvf_plan *x_plan_from_text(const char *name, const char *text, hvf_error *err);
hvf_plan *x_plan_dup(const hvf_plan *p, hvf_error *err);
int32_t x_host_of(const x_run *x, const char *name); /* index in x->hosts, or -1 */

/* exec-start.c: each returns 0 (done, or nothing may start now) or -1 with @err set */
/* 0 when actions may start; -1 with x->note saying why not (frozen, approval, operator). */
int x_may_act(x_run *x, const char *action);
int x_start_hosts(x_run *x, hvf_error *err);
int x_start_migs(x_run *x, hvf_error *err);
int x_run_stops(x_run *x, hvf_error *err);
int x_maintain_empty(x_run *x, hvf_error *err);
/* Hosts that failed while draining go back into service. */
int x_return_failed(x_run *x, hvf_error *err);
/* @m will not happen (@st: failed or skipped) for the reason given; a failure fails its host. */
void x_mig_fail(x_run *x, x_mig *m, xm_state st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* exec-watch.c */
/* The job of @m ended in @state: ledger, journal, and what it means for its host. */
int x_mig_ended(x_run *x, x_mig *m, hvf_job_state state, const char *why, hvf_error *err);
int x_handle_event(x_run *x, const hvf_drv_event *ev, hvf_error *err);
/* Stalls, timeouts, post-copy and lateness of running jobs and maintenances; sets *@replan. */
int x_watch_jobs(x_run *x, bool *replan, hvf_error *err);

/* exec-ledger.c */
void x_ledger_init(x_run *x, const hvf_drv_host *hosts, size_t nhosts, const hvf_drv_vm *vms,
                   size_t nvms);
bool x_ledger_fits(const x_run *x, int32_t host, uint64_t mem_mib, uint32_t vcpus, bool headroom);
void x_ledger_claim(x_run *x, const x_mig *m);
void x_ledger_complete(x_run *x, const x_mig *m);
void x_ledger_release(x_run *x, const x_mig *m);
/* Used memory and vCPUs per host, and where each VM is, from the driver (the platform restarts
 * crashed VMs behind the executor's back); claims stay the executor's. */
int x_ledger_sync(x_run *x, hvf_error *err);
/* Hosts out of service now (draining or maintaining), in all, in @rack and in @zone. */
void x_out_of_service(const x_run *x, int32_t rack, int32_t zone, uint32_t *all,
                      uint32_t *in_rack, uint32_t *in_zone, uint64_t *offline_mib);
/* The invariants, checked against the driver: 0 or -1 with @err naming the first violation. */
int x_check(x_run *x, hvf_error *err);

/* exec-journal.c */
int x_intent(x_run *x, const char *action, const char *vm, const char *host, const char *target,
             int64_t ref, hvf_store_entry *e, hvf_error *err);
int x_outcome(x_run *x, const hvf_store_entry *intent, const char *result, int64_t job,
              const char *detail, hvf_error *err);
int x_note(x_run *x, const char *action, const char *vm, const char *host, const char *result,
           int64_t ref, const char *detail, hvf_error *err);
/* Rebuilds the run's state from its journal and the driver (resume). */
int x_resume(x_run *x, hvf_error *err);

/* exec-record.c */
void x_event(x_run *x, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int x_record_write(x_run *x, hvf_error *err);
void x_progress(x_run *x);

/* Marks @h failed with a reason; a draining host goes back into service (x_return_failed)
 * and the work planned for it is skipped. */
void x_host_fail(x_run *x, x_host *h, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* exec-replan.c: re-plans the work left from the fleet as it is; 1 replaced and going on,
 * 2 nothing to re-plan (the work in force goes on), 0 paused for approval (x->note says why),
 * -1 error. */
int x_replan(x_run *x, const char *why, hvf_error *err);
/* Applies the re-plan with @hash kept in the store (resume); @worse: it needs its own approval. */
int x_replan_apply_stored(x_run *x, const char *hash, bool worse, hvf_error *err);
/* Builds hosts, migrations and stops from x->plan (fresh run or after a re-plan). */
void x_load_plan_work(x_run *x, bool keep_done);
