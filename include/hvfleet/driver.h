/* SPDX-License-Identifier: MIT */
/*
 * Drivers: one table of function pointers per backend, picked by URI scheme, in the style of
 * libvirt's virHypervisorDriver. `sim:` puts the twin behind the table (the default and the
 * test bed); `agent://` drives real hosts through hvfleetd's agents (src/driver/agent/,
 * docs/agent-driver.md); `libvirt:` drives hosts' libvirt daemons (src/driver/libvirt/,
 * docs/libvirt.md).
 *
 * Contract:
 * - The public entry points (hvf_driver_*) check their arguments and hand off; a NULL entry in
 *   a backend's table is HVF_ERR_UNSUPPORTED naming the operation and the scheme.
 * - Names, not indexes: hosts and VMs are named as in the inventory, so a real backend answers
 *   the same questions.
 * - Non-blocking: hvf_driver_migrate returns a job at once; the caller polls jobs and events
 *   with hvf_driver_poll. One caller thread drives hundreds of jobs; a driver never starts a
 *   thread or a process per migration (seed 001).
 * - Time: hvf_driver_now_us is the backend's clock in microseconds since it was opened for the
 *   first time (the sim driver's virtual or scaled clock; wall time for real hosts).
 * - A connection is used by one thread at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

typedef struct hvf_fleet hvf_fleet;
typedef struct hvf_conn hvf_conn;

typedef enum hvf_drv_host_state {
    HVF_DRV_HOST_ACTIVE,      /* in service, takes VMs */
    HVF_DRV_HOST_DRAINING,    /* in service, being emptied: takes no new VMs */
    HVF_DRV_HOST_MAINTENANCE, /* out of service (its maintenance action runs or ran) */
    HVF_DRV_HOST_DOWN,        /* lost: crashed, unreachable, rebooting */
    HVF_DRV_HOST_LAST
} hvf_drv_host_state;

typedef enum hvf_drv_vm_state {
    HVF_DRV_VM_RUNNING,
    HVF_DRV_VM_MIGRATING,
    HVF_DRV_VM_PAUSED,
    HVF_DRV_VM_STOPPED,
    HVF_DRV_VM_CRASHED,
    HVF_DRV_VM_LAST
} hvf_drv_vm_state;

typedef enum hvf_job_state {
    HVF_JOB_SETUP,     /* connecting, before the first byte */
    HVF_JOB_ACTIVE,    /* pre-copy (or auto-converge) passes */
    HVF_JOB_POSTCOPY,  /* running on the target, pulling pages */
    HVF_JOB_COMPLETED, /* the VM runs on the target */
    HVF_JOB_FAILED,    /* the VM still runs on its source (or died with it) */
    HVF_JOB_CANCELLED, /* cancelled by the caller; the VM runs on its source */
    HVF_JOB_LAST
} hvf_job_state;

typedef enum hvf_drv_event_type {
    HVF_DRV_EV_JOB_DONE,   /* a job reached COMPLETED, FAILED or CANCELLED */
    HVF_DRV_EV_VM_STATE,   /* a VM changed state outside a job (crashed, restarted) */
    HVF_DRV_EV_HOST_LOST,  /* a host went down */
    HVF_DRV_EV_HOST_BACK,  /* a host is back in service after maintenance or a crash */
    HVF_DRV_EV_CHANGE_DONE, /* a change (or its rollback) finished applying on a host */
    HVF_DRV_EV_LAST
} hvf_drv_event_type;

extern const char *const hvf_drv_host_state_names[];
extern const char *const hvf_drv_vm_state_names[];
extern const char *const hvf_job_state_names[];
extern const char *const hvf_drv_event_type_names[];

#define HVF_DRV_NAME_MAX 128

typedef struct hvf_drv_host {
    char name[HVF_DRV_NAME_MAX];
    hvf_drv_host_state state;
    uint64_t usable_mib, used_mib;
    uint32_t vcpus, used_vcpus;
    char change[64]; /* the last change applied to it (empty: none, or rolled back) */
    bool applying;   /* a change or its rollback is being applied */
    /* DOWN and known to run nothing (the twin's crashed hosts are powered off): it needs no
     * fence. False for a host the backend merely cannot reach. */
    bool off;
} hvf_drv_host;

/* What a host's clients see: the facts functional health gates read. */
typedef struct hvf_drv_health {
    bool up;
    int64_t client_io_latency_us; /* disk IO latency its VMs see (p99) */
    double answered;              /* share of requests its services answer, [0, 1] */
} hvf_drv_health;

typedef struct hvf_drv_vm {
    char name[HVF_DRV_NAME_MAX];
    char host[HVF_DRV_NAME_MAX]; /* where it runs (the source while migrating) */
    hvf_drv_vm_state state;
    uint64_t mem_mib;
    uint32_t vcpus;
    int64_t job; /* its migration job, or -1 */
} hvf_drv_vm;

#define HVF_DRV_DIRTY_MIB_MAX 1048576 /* 1 TiB/s: any guest's rate, finite in bytes */

/*
 * A new VM, as hvf_driver_vm_define takes it: what the twin and placement need of it. Its
 * working set is its memory and its CPU load the inventory's default (docs/inventory.md).
 */
typedef struct hvf_drv_vm_spec {
    char name[HVF_DRV_NAME_MAX];    /* 1-63 characters of A-Z a-z 0-9 . _ - (as an inventory's) */
    uint64_t mem_mib;               /* > 0 */
    uint32_t vcpus;                 /* > 0 */
    double dirty_mib_per_s;         /* how fast the guest writes memory; 0 = none, as an
                                       inventory VM without dirty_rate */
    char service[HVF_DRV_NAME_MAX]; /* a service of the fleet, or empty: none */
    bool migratable;                /* false: it cannot live-migrate (plans stop and start it) */
    bool ha;                        /* restarted elsewhere when its host is lost (issue 13) */
    bool ha_set;                    /* false: ha is its service's (hvf_vm_is_ha) */
} hvf_drv_vm_spec;

/* Parameters of one migration, as libvirt's virDomainMigrate3 typed parameters name them. */
typedef struct hvf_migrate_job_params {
    double max_bytes_per_s;        /* max-bandwidth; 0 = the backend's default */
    int64_t downtime_limit_us;     /* 0 = the backend's default (QEMU: 300 ms) */
    bool auto_converge;
    bool postcopy_allowed;         /* hvf_driver_job_postcopy may switch it */
    int64_t completion_timeout_us; /* the backend aborts it after this; 0 = never */
} hvf_migrate_job_params;

/* A job's progress, as QMP's query-migrate reports it. */
typedef struct hvf_job_info {
    int64_t id;
    hvf_job_state state;
    char vm[HVF_DRV_NAME_MAX], source[HVF_DRV_NAME_MAX], target[HVF_DRV_NAME_MAX];
    int64_t started_us, ended_us; /* backend clock; ended -1 while running */
    uint64_t total_bytes, remaining_bytes, transferred_bytes;
    double dirty_bytes_per_s;
    double bytes_per_s;
    uint32_t dirty_sync_count;
    int64_t expected_downtime_us;
    uint32_t throttle_pct;
    int64_t downtime_us; /* once completed */
    char error[192];     /* why it failed */
} hvf_job_info;

typedef struct hvf_drv_event {
    hvf_drv_event_type type;
    int64_t t_us;
    int64_t job; /* JOB_DONE; else -1 */
    hvf_job_state job_state;
    char vm[HVF_DRV_NAME_MAX];
    char host[HVF_DRV_NAME_MAX];
    hvf_drv_vm_state vm_state;
} hvf_drv_event;

/*
 * What the agent:// driver needs of hvfleetd (src/daemon/ implements it): the agents. The
 * driver runs on one thread; the hub's functions may be called from it while the daemon's
 * request threads post what agents say.
 * - send: queues a command of @type with @args (a JSON object, stolen) for @host's agent and
 *   fills @id; 0, or -1 with @err (HVF_ERR_NOT_FOUND: no agent registered for @host;
 *   HVF_ERR_CAPACITY: too many commands wait for it).
 * - take: what agents said since the last take, as an owned JSON array of messages (oldest
 *   first), waiting up to @wait_us of wall time for the first; NULL when nothing came.
 *   Messages (docs/agent-driver.md): {"kind":"agent", host, state, facts, identity},
 *   {"kind":"result", host, id, status, data, detail}, {"kind":"event", host, event}.
 * - attach: @on starts collecting messages (and posts one "agent" message per known agent, so
 *   that a driver opened late learns every host); !@on stops and drops what was collected.
 */
struct json_t;
typedef struct hvf_agent_hub {
    void *ctx;
    int (*send)(void *ctx, const char *host, const char *type, struct json_t *args, char id[64],
                hvf_error *err);
    struct json_t *(*take)(void *ctx, int64_t wait_us);
    void (*attach)(void *ctx, bool on);
} hvf_agent_hub;

/* Options of hvf_driver_open that every backend understands. */
typedef struct hvf_driver_opts {
    const char *state_dir; /* where a backend keeps what must outlive the process (may be NULL) */
    double speed;          /* sim: 0 = virtual time, N = N simulated seconds per wall second */
    /* The share of each NIC migrations may use (the policy's migration_share): real hosts
     * enforce it by shaping their migration network, the twin models it. 0 = all of it. */
    double migration_nic_share;
    const hvf_agent_hub *agent_hub; /* agent:// only: hvfleetd's agents (borrowed) */
    /* The caller restarts crashed VMs itself (hvfleetd's HA): a backend that models a
     * platform restarting them (the twin) does not. */
    bool controller_restarts;
    /* Asked before every action (NULL: always yes): false refuses it (HVF_ERR_REFUSED), and
     * the twin writes no world file. hvfleetd's leadership (docs/controller-ha.md): a
     * controller that woke from a stall after another took over does not touch the fleet. */
    bool (*may_act)(void *ctx);
    void *may_act_ctx;
} hvf_driver_opts;

/* One backend. NULL entries are operations it does not support. */
typedef struct hvf_driver {
    const char *scheme; /* "sim" */
    int (*open)(hvf_conn *conn, const char *uri, const hvf_driver_opts *opts, hvf_error *err);
    void (*close)(hvf_conn *conn);
    int64_t (*now_us)(hvf_conn *conn);
    int (*poll)(hvf_conn *conn, int64_t max_wait_us, hvf_drv_event *evs, size_t cap,
                size_t *nevs, hvf_error *err);
    long (*list_hosts)(hvf_conn *conn, hvf_drv_host **out, hvf_error *err);
    long (*list_vms)(hvf_conn *conn, hvf_drv_vm **out, hvf_error *err);
    hvf_fleet *(*fleet)(hvf_conn *conn, hvf_error *err);
    int (*host_set_state)(hvf_conn *conn, const char *host, hvf_drv_host_state state,
                          hvf_error *err);
    int (*host_maintain)(hvf_conn *conn, const char *host, const char *command,
                         int64_t expected_us, int64_t timeout_us, hvf_error *err);
    int (*vm_start)(hvf_conn *conn, const char *vm, const char *host, hvf_error *err);
    int (*vm_stop)(hvf_conn *conn, const char *vm, int64_t timeout_us, hvf_error *err);
    int (*vm_destroy)(hvf_conn *conn, const char *vm, hvf_error *err);
    int64_t (*migrate)(hvf_conn *conn, const char *vm, const char *target,
                       const hvf_migrate_job_params *p, hvf_error *err);
    int (*job_info)(hvf_conn *conn, int64_t job, hvf_job_info *out, hvf_error *err);
    int (*job_postcopy)(hvf_conn *conn, int64_t job, hvf_error *err);
    int (*job_cancel)(hvf_conn *conn, int64_t job, hvf_error *err);
    int (*job_forget)(hvf_conn *conn, int64_t job, hvf_error *err);
    int (*host_apply)(hvf_conn *conn, const char *host, const char *change, bool rollback,
                      int64_t expected_us, hvf_error *err);
    int (*host_health)(hvf_conn *conn, const char *host, hvf_drv_health *out, hvf_error *err);
    int (*vm_define)(hvf_conn *conn, const hvf_drv_vm_spec *spec, const char *host, hvf_error *err);
    int (*vm_undefine)(hvf_conn *conn, const char *vm, hvf_error *err);
    int (*host_fenced)(hvf_conn *conn, const char *host, hvf_error *err);
} hvf_driver;

/* A connection: the driver's table and its private data. */
struct hvf_conn {
    const hvf_driver *drv; /* borrowed, static */
    void *priv;            /* the backend's */
    char *uri;             /* owned */
    bool (*may_act)(void *ctx); /* hvf_driver_opts' */
    void *may_act_ctx;
};

/*
 * hvf_driver_open: the backend registered for @uri's scheme ("sim:///default", "sim:FILE",
 * "sim:///abs/path.yaml?deviations=FILE"), opened. Returns an owned connection
 * (hvf_driver_close) or NULL with @err set (HVF_ERR_NOT_FOUND: no backend for the scheme,
 * HVF_ERR_INVALID: a bad URI, or what the backend's open says).
 */
hvf_conn *hvf_driver_open(const char *uri, const hvf_driver_opts *opts, hvf_error *err);
void hvf_driver_close(hvf_conn *conn);
/* Registered schemes, NULL-terminated (borrowed). */
const char *const *hvf_driver_schemes(void);

int64_t hvf_driver_now_us(hvf_conn *conn);
/*
 * hvf_driver_poll: lets up to @max_wait_us of backend time pass (less when an event comes
 * first) and returns the events that happened into @evs (at most @cap; the rest wait for the
 * next poll). Returns 0 or -1 with @err set.
 */
int hvf_driver_poll(hvf_conn *conn, int64_t max_wait_us, hvf_drv_event *evs, size_t cap,
                    size_t *nevs, hvf_error *err) __attribute__((warn_unused_result));
/* Hosts and VMs with their facts and states (owned arrays, free()); the count, or -1. */
long hvf_driver_list_hosts(hvf_conn *conn, hvf_drv_host **out, hvf_error *err);
long hvf_driver_list_vms(hvf_conn *conn, hvf_drv_vm **out, hvf_error *err);
/* The fleet as the backend sees it now, as an inventory (owned; hvf_fleet_free): VMs where
 * they run, for fingerprints and re-planning. */
hvf_fleet *hvf_driver_fleet(hvf_conn *conn, hvf_error *err);
/* ACTIVE <-> DRAINING, and back to ACTIVE from MAINTENANCE. */
int hvf_driver_host_set_state(hvf_conn *conn, const char *host, hvf_drv_host_state state,
                              hvf_error *err) __attribute__((warn_unused_result));
/*
 * hvf_driver_host_maintain: takes an empty, draining @host out of service and runs its
 * maintenance action (@command: a shell command with {host} replaced, or NULL/"none"); the plan
 * expects it to take @expected_us (the sim driver takes that long). HVF_DRV_EV_HOST_BACK comes
 * when it is back, healthy and in service (ACTIVE) again. A command that fails or outlasts
 * @timeout_us (0 = none) leaves the host DOWN (HVF_DRV_EV_HOST_LOST).
 */
int hvf_driver_host_maintain(hvf_conn *conn, const char *host, const char *command,
                             int64_t expected_us, int64_t timeout_us, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_driver_vm_start(hvf_conn *conn, const char *vm, const char *host, hvf_error *err)
    __attribute__((warn_unused_result));
/* Clean shutdown; destroyed after @timeout_us (0 = at once). */
int hvf_driver_vm_stop(hvf_conn *conn, const char *vm, int64_t timeout_us, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_driver_vm_destroy(hvf_conn *conn, const char *vm, hvf_error *err)
    __attribute__((warn_unused_result));
/* Starts live-migrating @vm to @target; returns the job id (>= 0) or -1 with @err set. */
int64_t hvf_driver_migrate(hvf_conn *conn, const char *vm, const char *target,
                           const hvf_migrate_job_params *p, hvf_error *err);
int hvf_driver_job_info(hvf_conn *conn, int64_t job, hvf_job_info *out, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_driver_job_postcopy(hvf_conn *conn, int64_t job, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_driver_job_cancel(hvf_conn *conn, int64_t job, hvf_error *err)
    __attribute__((warn_unused_result));
/*
 * hvf_driver_job_forget: the caller recorded the end of @job (ended: completed, failed or
 * cancelled), so the backend may drop it: a long run does not carry every job it ever ran.
 * HVF_ERR_CONFLICT for a job still running. Backends without it keep their jobs (0).
 */
int hvf_driver_job_forget(hvf_conn *conn, int64_t job, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_driver_host_apply: starts applying @change (a name; the backend knows its action) to
 * @host, or rolling it back; HVF_DRV_EV_CHANGE_DONE comes when it finished. The plan expects
 * it to take @expected_us (the sim driver takes that long).
 */
int hvf_driver_host_apply(hvf_conn *conn, const char *host, const char *change, bool rollback,
                          int64_t expected_us, hvf_error *err) __attribute__((warn_unused_result));
/* What @host's clients see now, for functional gates (not "is the process up"). */
int hvf_driver_host_health(hvf_conn *conn, const char *host, hvf_drv_health *out,
                           hvf_error *err) __attribute__((warn_unused_result));

/*
 * hvf_driver_vm_define: defines a new VM @spec on @host, stopped (hvf_driver_vm_start starts
 * it); it is listed at once and outlives the connection like every other VM. Returns 0, or -1
 * with @err set: HVF_ERR_INVALID (a bad name or size), HVF_ERR_CONFLICT (the name is taken; @host
 * is not active; the backend cannot define now, e.g. the sim driver while a migration runs),
 * HVF_ERR_NOT_FOUND (an unknown host or service), HVF_ERR_CAPACITY (@host lacks the memory or
 * vCPUs, the message says which).
 */
int hvf_driver_vm_define(hvf_conn *conn, const hvf_drv_vm_spec *spec, const char *host,
                         hvf_error *err) __attribute__((warn_unused_result));
/*
 * hvf_driver_vm_undefine: removes the stopped VM @vm for good. HVF_ERR_NOT_FOUND for an unknown
 * VM, HVF_ERR_CONFLICT for one not stopped (the message names its state) or when the backend
 * cannot remove now. The ended jobs of @vm are forgotten with it.
 */
int hvf_driver_vm_undefine(hvf_conn *conn, const char *vm, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_driver_host_fenced: @host, lost (DOWN), is known to run nothing any more: it was fenced
 * (its agent destroyed its VMs itself, or a fence command powered it off). Its VMs become
 * crashed (a VM_STATE event each), so that they may be started elsewhere; the host stays DOWN
 * until it is back. HVF_ERR_CONFLICT for a host that is not DOWN.
 */
int hvf_driver_host_fenced(hvf_conn *conn, const char *host, hvf_error *err)
    __attribute__((warn_unused_result));
