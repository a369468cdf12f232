/* SPDX-License-Identifier: MIT */
/*
 * Internals of the remediation component shared by its files: remediation.c (monitoring,
 * correlation, operators), remediation-exec.c (the orchestrator: the action queue, deployments,
 * zombies) and remediation-setup.c (defaults, options, figures). Not installed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/actionq.h"
#include "hvfleet/fallout.h"
#include "hvfleet/sim.h"

/* Timer tags: the kind in the high bits, an index or a version below. */
#define REM_TAG_SHIFT 32
enum {
    REM_T_CHECK = 1,
    REM_T_EXEC,       /* low bits: the exec version */
    REM_T_DEPLOY_END, /* low bits: the deployment */
    REM_T_DEP_ALERT,  /* low bits: the dependency */
    REM_T_OP_PAUSE,
    REM_T_OP_ZOMBIES,
};

typedef struct rem_vm {
    uint32_t fails;      /* consecutive failed checks */
    bool unreachable;    /* failed unreachable_after checks in a row, not yet reachable */
    int64_t since_us;    /* unreachable since */
    int64_t reported_us; /* last redeploy requested; -1 */
    int64_t upscale_us;  /* last upscale requested; -1 */
    bool app_failed;     /* a dependent whose app lost its dependency */
    uint32_t copy;       /* the VM's copy the app state belongs to */
} rem_vm;

typedef struct rem_load {
    int32_t vm;
    int32_t host;
    double cpu, io, mem;
    bool alive;
    bool zombie; /* an old copy; else an instance added by an upscale */
} rem_load;

typedef struct rem_deploy {
    int32_t kind; /* action queue kind */
    int32_t vm, target;
    uint32_t copy; /* the VM's copy when the deployment started */
    bool active;
} rem_deploy;

typedef struct rem_ctx {
    hvf_remediation_opts o; /* selections and names not kept */
    int32_t id;
    int32_t *watch; /* owned: VM indexes watched */
    size_t nwatch;
    bool *dependent;                  /* owned, per VM */
    rem_vm *vms;                      /* owned, per VM */
    int32_t dep_dependents, dep_orch; /* dependency ids, -1 */
    int32_t *corr;                    /* owned: dependency ids that open an incident */
    size_t ncorr;

    hvf_actionq *q; /* owned */
    int32_t k_redeploy, k_upscale, k_stop;
    uint64_t push_seq; /* per_vm: every push is its own action */
    uint32_t exec_ver;
    int64_t exec_at_us;   /* the pending exec timer, -1 */
    int64_t orch_free_us; /* the orchestrator takes its next action from then */

    rem_deploy *deploys; /* owned */
    size_t ndeploys, deploys_cap;
    uint32_t deploys_running;
    uint32_t *host_deploys; /* owned, per host: deployments running there */
    rem_load *loads;        /* owned: zombies and upscaled instances */
    size_t nloads, loads_cap;
    uint32_t zombies_alive;

    /* incidents and pauses */
    bool *dep_alerted; /* owned, per dependency id (grown): alerted for the current outage */
    size_t ndep_alerted;
    bool incident_open;
    bool incident_by_share; /* opened by a fleet-wide symptom, not by a failed dependency */
    int64_t clear_since_us; /* symptom gone since; -1 */
    bool paused;            /* per-VM remediation paused (by correlation or operators) */
    int64_t paused_since_us;
    bool *host_alerted; /* owned, per host: alerted for its current trouble */
    bool engaged;       /* something was alerted and not yet declared over */
    int64_t first_host_alert_us;
    uint32_t unreachable_now;

    hvf_remediation_stats st;
} rem_ctx;

/* remediation-exec.c */
void rem_exec_schedule(hvf_sim *sim, rem_ctx *c, int64_t at_us);
void rem_exec_run(hvf_sim *sim, rem_ctx *c, uint32_t ver);
void rem_deploy_end(hvf_sim *sim, rem_ctx *c, int32_t d);
void rem_host_crashed(hvf_sim *sim, rem_ctx *c, int32_t host);
/* Pushes an action (logged as queued or dropped) and wakes the orchestrator. */
void rem_push(hvf_sim *sim, rem_ctx *c, int32_t kind, int32_t vm, int64_t arg, const char *why);
/* Stops every zombie whose host answers; returns how many. */
uint32_t rem_stop_zombies(hvf_sim *sim, rem_ctx *c, const char *by);
void rem_reconcile(hvf_sim *sim, rem_ctx *c);

/* remediation.c */
/* Whether monitoring reads @vm as answering now. */
bool rem_vm_reachable(hvf_sim *sim, rem_ctx *c, int32_t vm);
/* The component's callbacks (hvf_sim_component). */
void rem_start(hvf_sim *sim, void *ctx);
void rem_timer(hvf_sim *sim, int64_t tag, void *ctx);
void rem_event(hvf_sim *sim, const hvf_sim_event *ev, void *ctx);
