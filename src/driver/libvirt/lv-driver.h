/* SPDX-License-Identifier: MIT */
/*
 * The libvirt: driver (docs/libvirt.md): the driver table on hosts that run libvirtd, through
 * libvirt's C API, without our agent. Its world is the inventory's fleet with what the hosts'
 * daemons say folded in: where each domain runs (listed when a host connects, then kept current
 * by lifecycle events), which hosts answer (a connection that closes takes its host down; it is
 * reopened with backoff), the dirty rates they measure.
 *
 * Threads (the driver contract's non-blocking rule, without a thread per migration):
 * - the caller's thread owns the world: only it reads or writes lv_priv's hosts, VMs and jobs;
 * - one event-loop thread per process runs libvirt's default event implementation (keepalive,
 *   lifecycle and close callbacks); callbacks only post messages;
 * - a bounded pool of workers (workers=N, default 8) makes the calls that block for long:
 *   opening a connection, virDomainMigrate3, a shutdown with its timeout, a maintenance command.
 *   A migration waits for a free worker (SETUP) when all are busy. Workers post their results.
 * Messages reach the caller's thread through one locked queue (lv_queue), drained by poll.
 *
 * Migrations are libvirt's managed direct kind (virDomainMigrate3 with both connections held
 * here): the hosts' daemons need not reach each other's libvirt, only the target's migration
 * address (VIR_MIGRATE_PARAM_URI from the host's migration_address).
 */
#pragma once

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/driver-world.h"
#include "hvfleet/driver.h"
#include "hvfleet/fleet.h"

/* ---- the queue: what workers and callbacks tell the caller's thread ---- */

typedef enum lv_msg_kind {
    LV_MSG_OPENED,    /* a worker opened host's connection (conn, owned by the message) */
    LV_MSG_OPEN_FAILED,
    LV_MSG_CLOSED,    /* libvirt's close callback for conn */
    LV_MSG_LIFECYCLE, /* a domain event: vm, event, detail */
    LV_MSG_DONE,      /* a task ended: task id, ok, text */
} lv_msg_kind;

typedef struct lv_msg {
    lv_msg_kind kind;
    int32_t host;
    virConnectPtr conn;
    char vm[HVF_DRV_NAME_MAX];
    int event, detail;
    int64_t task;
    bool ok;
    char text[256];
} lv_msg;

/* Refcounted: the driver, each worker task and each registered callback hold a reference, so a
 * callback libvirt runs after the driver closed posts into a closed queue, not freed memory. */
typedef struct lv_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    bool closed;
    lv_msg *msgs;
    size_t n, cap;
} lv_queue;

lv_queue *lv_queue_new(void);
lv_queue *lv_queue_ref(lv_queue *q);
void lv_queue_unref(lv_queue *q);
void lv_queue_post(lv_queue *q, const lv_msg *m);
/* Waits up to @wait_us until the caller's is the last reference: libvirt frees a callback's
 * data from its event loop some time after the callback is deregistered. */
void lv_queue_wait_alone(lv_queue *q, int64_t wait_us);
/* Moves what was posted into *@out (owned), waiting up to @wait_us for the first. */
size_t lv_queue_take(lv_queue *q, int64_t wait_us, lv_msg **out);

/* ---- the worker pool ---- */

typedef enum lv_task_kind {
    LV_TASK_OPEN,
    LV_TASK_MIGRATE,
    LV_TASK_START,
    LV_TASK_STOP,
    LV_TASK_DESTROY,
    LV_TASK_ABORT, /* virDomainAbortJob: libvirt may wait for the migration to wind down */
    LV_TASK_SHELL,
} lv_task_kind;

typedef struct lv_task {
    int64_t id;
    lv_task_kind kind;
    int32_t host;
    char *uri;                   /* OPEN: the libvirt URI */
    virConnectPtr conn, dconn;   /* referenced (virConnectRef); dconn: MIGRATE's target */
    char vm[HVF_DRV_NAME_MAX];
    char *xml;                   /* START: a definition to define first, or NULL */
    virTypedParameterPtr params; /* MIGRATE */
    int nparams;
    unsigned int flags;
    int64_t timeout_us;          /* STOP: then destroy; SHELL: kill it */
    char *command;               /* SHELL */
    struct lv_task *next;
} lv_task;

typedef struct lv_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t *threads;
    size_t nthreads, busy;
    bool stop;
    lv_task *head, *tail;
    lv_queue *q;
} lv_pool;

void lv_pool_start(lv_pool *pool, size_t n, lv_queue *q);
void lv_pool_submit(lv_pool *pool, lv_task *t); /* steals @t */
void lv_pool_stop(lv_pool *pool);               /* joins; tasks not started are dropped */
void lv_task_free(lv_task *t);

/* The process's libvirt: initialised once, with its event loop on a thread of its own while
 * any connection of this driver is open. */
int lv_libvirt_use(hvf_error *err);
void lv_libvirt_unuse(void);
/* What an operator should read on standard error (no caller waits for it): "libvirt: ...". */
void lv_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* libvirt's last error on this thread, or @fallback. Valid until the thread's next libvirt
 * call, which resets it: copy it before calling libvirt again. */
const char *lv_last_error(const char *fallback);

/* ---- the world ---- */

typedef struct lv_host {
    char *uri;                 /* the libvirt URI (owned) */
    hvf_drv_host_state state;
    virConnectPtr conn;        /* NULL while not connected */
    int lifecycle_cb;          /* -1 none */
    void *close_ctx;           /* the close callback's data (ours: freed when unregistered) */
    bool opening;              /* a worker opens it */
    bool ever_up;              /* it was connected once: its return is news (HOST_BACK) */
    int64_t retry_at_us, backoff_us;
    char error[256];           /* why it is not connected */
    int64_t maint_task;        /* the maintenance command running, 0 none */
    bool maint_reconnect;      /* maintenance done: back once it connects again */
} lv_host;

typedef struct lv_vm {
    hvf_drv_vm_state state;
    int64_t job;               /* its migration, -1 */
    char *xml;                 /* its inactive definition, for a start on another host */
    double measured_dirty;     /* bytes/s libvirt measured; < 0 none */
    int64_t dirty_at_us;       /* a calculation was started then; 0 none */
    bool dirty_pending;        /* it runs: its result is read once it is done */
    int64_t task;              /* a start/stop/destroy in a worker, 0 none */
    lv_task_kind task_kind;
} lv_vm;

typedef struct lv_job {
    int64_t id, task;
    int32_t vm, src, dst;
    bool ended, cancel, abort_sent, timed_out, want_postcopy, postcopy_sent, downtime_set;
    char abort_why[256]; /* why the driver aborted it itself, "" none */
    hvf_migrate_job_params p;
    int64_t next_stats_us;
    hvf_job_info info;
} lv_job;

typedef struct lv_priv {
    hvf_drv_world_view view; /* first: the shared listings read it (driver-world.h) */
    char *inv_path, *tmpl;
    hvf_fleet *fleet; /* the inventory, VMs where they run now */
    lv_host *hosts;
    lv_vm *vms;
    lv_job *jobs;
    size_t njobs, jobs_cap;
    int64_t next_job, next_task;
    lv_queue *q;
    lv_pool pool;
    hvf_drv_evq evq;
    int64_t t0_ns;
    int64_t dirty_every_us; /* how often a running VM's dirty rate is measured; 0 never */
} lv_priv;

extern const hvf_driver hvf_libvirt_driver;

/* The driver URI into @p's inv_path, tmpl and dirty_every_us, @workers and @connect_s (left
 * as they are when the URI does not say): 0, or -1 with HVF_ERR_INVALID naming the URI and the
 * parameter. @p's strings are owned (free them, or lv_free's way). */
int lv_uri_parse(lv_priv *p, const char *uri, long *workers, long *connect_s, hvf_error *err);

int64_t lv_now(const lv_priv *p);
void lv_emit(lv_priv *p, hvf_drv_event_type type, const char *host, const char *vm,
             hvf_drv_vm_state vs, int64_t job, hvf_job_state js);
/* Queues a connection attempt for @h now (its backoff permitting). */
void lv_host_connect(lv_priv *p, int32_t h);
/* Closes @h's connection, its callbacks deregistered. */
void lv_host_drop(lv_priv *p, int32_t h);
/* Handles one message on the caller's thread. */
void lv_handle(lv_priv *p, lv_msg *m);
/* Reads @d's finished dirty-rate measurement into @out (bytes/s); false while it is still
 * measuring, or when there is none. */
bool lv_dirty_read(virDomainPtr d, double *out);
/* Timers: reconnections, job statistics and deadlines, dirty rates. */
void lv_tick(lv_priv *p);
lv_job *lv_job_find(lv_priv *p, int64_t id);
/* A new task with a fresh id, for @host. */
lv_task *lv_task_new(lv_priv *p, lv_task_kind kind, int32_t host);
/* Aborts @j's migration on its source, from a worker (fire and forget: its end says how). */
void lv_job_abort(lv_priv *p, lv_job *j);
/* "host 'kvm01' (URI)": for error messages. */
const char *lv_host_desc(const lv_priv *p, int32_t h, char *buf, size_t size);
