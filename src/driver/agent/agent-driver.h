/* SPDX-License-Identifier: MIT */
/*
 * The agent:// driver (docs/agent-driver.md): the driver table on real hosts, through the
 * hvfleet-agents hvfleetd holds. Its world is the inventory's fleet with what the agents say
 * folded in: where each VM runs (their facts and events), which hosts answer (their liveness),
 * the dirty rates they measure. Every action is a command for one host's agent, sent at once;
 * its result and the agent's events come back through the hub and move the world on, so that
 * no call blocks on a host (the driver contract's non-blocking rule).
 *
 * A migration is two commands: migrate_in on the target (QEMU listening, answered with its
 * address), then migrate_out on the source with that address. Its progress is the source
 * agent's job events; job_done ends it. A failed or cancelled one has the target's incoming
 * QEMU destroyed.
 *
 * Contract: one thread uses a connection (the driver table's rule); the hub is the only thing
 * shared with hvfleetd's request threads, and it locks itself.
 */
#pragma once

#include <jansson.h>

#include "driver/driver-world.h"
#include "hvfleet/driver.h"
#include "hvfleet/fleet.h"

typedef enum ad_agent_state {
    AD_AGENT_NONE, /* no agent has registered for the host since the driver opened */
    AD_AGENT_CONNECTED,
    AD_AGENT_SUSPECT,
    AD_AGENT_DOWN,
} ad_agent_state;

typedef struct ad_host {
    hvf_drv_host_state state;
    ad_agent_state agent;
    char boot_id[64];
    char identity[256]; /* "" when the host is who the inventory says; else why not */
    bool lost;          /* DOWN because its agent went silent (back when it syncs again) */
    char maint_id[64];  /* the host_maintain command running, "" none */
    char maint_boot[64]; /* boot id when maintenance began: a new one means it rebooted */
    bool maint_back;    /* maintenance with no command: back at the next poll */
    int64_t dirty_until_us; /* a dirty_rate measurement runs there until then (one at a time) */
} ad_host;

typedef struct ad_vm {
    hvf_drv_vm_state state;
    int64_t job; /* its migration, -1 */
    double measured_dirty; /* bytes/s an agent measured; < 0 none */
    int64_t dirty_at_us;   /* when it was last asked for; 0 never */
} ad_vm;

typedef enum ad_phase {
    AD_JOB_IN,  /* migrate_in sent to the target */
    AD_JOB_OUT, /* migrate_out sent to the source */
    AD_JOB_RUN, /* the source's QEMU migrates */
    AD_JOB_END,
} ad_phase;

typedef struct ad_job {
    int64_t id;
    int32_t vm, src, dst;
    ad_phase phase;
    hvf_migrate_job_params p;
    int64_t agent_job; /* the source agent's id, 0 until known */
    bool want_cancel, want_postcopy, cancel_sent, postcopy_sent;
    hvf_job_info info;
} ad_job;

typedef enum ad_cmd_kind {
    AD_CMD_MIGRATE_IN,
    AD_CMD_MIGRATE_OUT,
    AD_CMD_VM_START,
    AD_CMD_VM_STOP,
    AD_CMD_MAINTAIN,
    AD_CMD_DIRTY,
    AD_CMD_OTHER,
} ad_cmd_kind;

/* A command sent and not answered yet. */
typedef struct ad_cmd {
    char id[64];
    ad_cmd_kind kind;
    int32_t host, vm;
    int64_t job;
} ad_cmd;

typedef struct ad_priv {
    hvf_drv_world_view view; /* first: the shared listings read it (driver-world.h) */
    hvf_agent_hub hub;
    char *inv_path, *image, *accel, *append;
    hvf_fleet *fleet; /* the inventory, VMs where they run now */
    ad_host *hosts;
    ad_vm *vms;
    ad_job *jobs;
    size_t njobs, jobs_cap;
    int64_t next_job;
    ad_cmd *cmds;
    size_t ncmds, cmds_cap;
    hvf_drv_evq evq;
    int64_t t0_ns; /* CLOCK_MONOTONIC at open */
} ad_priv;

extern const hvf_driver hvf_agent_driver;

/* agent-world.c: what the agents say, folded into the world. */
int64_t ad_now(const ad_priv *p);
void ad_emit(ad_priv *p, hvf_drv_event_type type, const char *host, const char *vm,
             hvf_drv_vm_state vs, int64_t job, hvf_job_state js);
/* Sends a command; on success records it (@kind, @host, @vm, @job) for its result. */
int ad_send(ad_priv *p, int32_t host, const char *type, json_t *args, ad_cmd_kind kind,
            int32_t vm, int64_t job, hvf_error *err);
ad_job *ad_job_find(ad_priv *p, int64_t id);
/* Ends @j in @state (@why for failures): the VM stays on its source (or moves, completed). */
void ad_job_end(ad_priv *p, ad_job *j, hvf_job_state state, const char *why);
/* Handles one hub message. */
void ad_message(ad_priv *p, json_t *msg);
/* Timers: maintenance without a command, completion timeouts, dirty rates to measure. */
void ad_tick(ad_priv *p);
/* The spec of @vm for vm_start and migrate_in (owned object). */
json_t *ad_vm_spec(const ad_priv *p, int32_t vm);
