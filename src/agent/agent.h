/* SPDX-License-Identifier: MIT */
/*
 * hvfleet-agent, the process on every hypervisor (docs/agent.md, docs/agent-protocol.md): one
 * connection to hvfleetd, a fixed pool of workers, bounded queues with stated drop policies,
 * commands idempotent by id through a record on disk, limits it sets itself.
 *
 * This one header is the agent's contract, in sections: the executor table (what runs a
 * command; the QEMU layer fills one later, sim.c fills one now), the command queue and the event
 * queue (queue.c), the record of results (results.c), the wire format (proto.c), the host's
 * facts and the agent's own figures and limits (host.c), and the program (agent.c, main.c).
 *
 * Threading: the queues and the record lock themselves; everything else belongs to the sync loop
 * (the main thread).
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/strbuf.h"

#define HVF_AGENT_VERSION "0.1.0"
#define HVF_AGENT_MAX_BODY ((size_t)1 << 20) /* each way, docs/agent-protocol.md */
#define HVF_AGENT_MAX_ID 128                 /* a command id, with its NUL */
#define HVF_AGENT_MAX_TYPE 32                /* a command type, with its NUL */

/* ---- Commands and the executor ------------------------------------------------------------ */

typedef struct hvf_agent_cmd {
    char id[HVF_AGENT_MAX_ID];
    int64_t seq;
    char type[HVF_AGENT_MAX_TYPE];
    json_t *args; /* owned, an object */
} hvf_agent_cmd;

void hvf_agent_cmd_free(hvf_agent_cmd *cmd);

/* What an executor may call back while it runs a command (agent.c, or a test's). */
typedef struct hvf_agent_ctx hvf_agent_ctx;

/*
 * One command's function: runs @cmd, sets *@data to an owned JSON object (or leaves it NULL) and
 * returns 0, or returns -1 with @err set (its message becomes the result's detail). Called from
 * a worker thread; several run at once, so @self is shared.
 */
typedef int (*hvf_agent_exec_fn)(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd,
                                 json_t **data, hvf_error *err);

/*
 * The executor: one function per command type of docs/agent-protocol.md (NULL: the command is
 * answered "error", unsupported), plus "sleep" (tests of busy queues). The sim executor fills it
 * now; the QEMU layer (src/driver/qemu/) will fill another.
 */
typedef struct hvf_agent_executor {
    const char *name;
    hvf_agent_exec_fn vm_start, vm_stop, vm_destroy, migrate_in, migrate_out, job_cancel,
        job_postcopy, dirty_rate, host_maintain, sleep, qemu_kill;
    /*
     * The VMs it runs, as {"vms": [...], "unknown_qemu": [...]} (owned), for the first sync's
     * facts (@status: asks each VM's QEMU) and each heartbeat (!@status: no QMP); NULL: none.
     */
    json_t *(*facts)(void *self, bool status);
    /* Called once, before the workers start, with the context its own threads may emit to. */
    void (*attach)(void *self, hvf_agent_ctx *ctx);
    /*
     * The self-fence (fence.c): kills every VM it runs at once (SIGKILL, not ACPI, no QMP), and
     * returns their names (owned array, maybe empty); sets *@failed when one could not be
     * killed or is still there (logged). Called from the fence's watchdog thread or a worker
     * while commands run: it waits for nothing a command may hold for long. NULL: the executor
     * runs nothing to fence.
     */
    json_t *(*fence)(void *self, bool *failed);
    void *self; /* owned by whoever made the table */
} hvf_agent_executor;

/*
 * host_maintain for any executor (maintain.c): runs args.command with /bin/sh -c in its own
 * process group, killed (the group) after args.timeout_s (0: a day); ok only on exit status 0.
 */
int hvf_agent_host_maintain(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd,
                            json_t **data, hvf_error *err);

/* The function for @type, or NULL (unknown type, or not supported by @ex). */
hvf_agent_exec_fn hvf_agent_executor_lookup(const hvf_agent_executor *ex, const char *type);

/* Queues an event (type "job", "job_done", "vm_state", ...); takes @fields (an object, may be NULL). */
void hvf_agent_ctx_emit(hvf_agent_ctx *ctx, const char *type, json_t *fields);
/* Sleeps @ms; returns false at once when the agent is stopping. */
bool hvf_agent_ctx_sleep_ms(hvf_agent_ctx *ctx, int64_t ms);

/*
 * The sim executor: records every command it runs in @record_path (one line "ID TYPE", appended
 * before it runs, so that a command run twice shows twice) and lasts @delay_ms[type] (per
 * command type, "sleep" takes args.ms instead); migrate_out emits a job progress sample every
 * @progress_ms meanwhile. Returns an owned table (free with hvf_agent_sim_free).
 */
typedef struct hvf_agent_sim_opts {
    const char *record_path;
    struct {
        char type[HVF_AGENT_MAX_TYPE];
        int64_t ms;
    } delay[16];
    size_t n_delay;
    int64_t progress_ms;
} hvf_agent_sim_opts;

hvf_agent_executor *hvf_agent_sim_new(const hvf_agent_sim_opts *opts, hvf_error *err);
void hvf_agent_sim_free(hvf_agent_executor *ex);

/*
 * The qemu executor (exec-qemu.c, docs/agent.md): runs the commands on QEMU VMs in
 * STATE/vms/NAME/ through the qemu driver (src/driver/qemu/). At creation it adopts the VMs
 * whose QEMU runs (never kills one) and notes the unknown QEMUs of the machine; both go in its
 * facts. migrate_out answers its job at once; one poller thread then posts "job" samples
 * (query-migrate, every second) and "job_done", and quits the source on completion. A job's id
 * is kept in STATE/vms/NAME/agent-job while it runs: after a restart, attach takes up the
 * migrations still in flight under their ids (and posts vm_state and qemu_unknown events).
 */
typedef struct hvf_agent_qemu_opts {
    const char *state_dir;   /* resolved to an absolute path */
    const char *binary;      /* NULL: qemu-system-x86_64 from PATH */
    const char *listen_addr; /* incoming migrations; NULL: 127.0.0.1 */
    int port_min, port_max;  /* 0: the driver's defaults (49152-49215) */
} hvf_agent_qemu_opts;

hvf_agent_executor *hvf_agent_qemu_new(const hvf_agent_qemu_opts *o, hvf_error *err);
/* Frees the table; the VMs keep running (the next agent adopts them). */
void hvf_agent_qemu_free(hvf_agent_executor *ex);
/* True when @binary (NULL: qemu-system-x86_64) is executable, by path or in PATH; @out: where. */
bool hvf_agent_qemu_find_binary(const char *binary, char *out, size_t size);

/* ---- The command queue (queue.c): bounded FIFO between the sync loop and the workers -------- */

typedef struct hvf_agent_cmdq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hvf_agent_cmd **items; /* ring of @cap */
    size_t cap, head, len;
    bool closed;
} hvf_agent_cmdq;

void hvf_agent_cmdq_init(hvf_agent_cmdq *q, size_t cap);
void hvf_agent_cmdq_clear(hvf_agent_cmdq *q); /* frees what is still queued */
/* Takes *@cmd (sets it NULL) and returns 0, or returns -1 when the queue is full or closed. */
int hvf_agent_cmdq_push(hvf_agent_cmdq *q, hvf_agent_cmd **cmd);
/* The oldest command (owned), waiting for one; NULL once the queue is closed. */
hvf_agent_cmd *hvf_agent_cmdq_pop(hvf_agent_cmdq *q);
/* Wakes every waiting worker; pop returns NULL from now on (queued commands stay, not run). */
void hvf_agent_cmdq_close(hvf_agent_cmdq *q);
size_t hvf_agent_cmdq_depth(hvf_agent_cmdq *q);

/*
 * The event queue (queue.c): at most @cap events, oldest first, each kept until the controller
 * acks its seq. When full, a new event first drops the oldest job progress sample ("job"); when
 * there is none, a new progress sample is dropped itself, and any other event drops the oldest
 * event. Results are not events: they never go through here.
 */
typedef struct hvf_agent_event {
    uint64_t seq;
    bool progress;
    char *json; /* owned: the whole event object */
} hvf_agent_event;

typedef struct hvf_agent_evq {
    pthread_mutex_t mu;
    hvf_agent_event *items; /* array, oldest first */
    size_t cap, len;
    uint64_t next_seq;
    uint64_t dropped_progress; /* job samples dropped */
    uint64_t dropped_events;   /* other events dropped (only when no progress sample was left) */
} hvf_agent_evq;

void hvf_agent_evq_init(hvf_agent_evq *q, size_t cap);
void hvf_agent_evq_clear(hvf_agent_evq *q);
/* Queues an event of @type at @t_us with @fields (taken, may be NULL); returns its seq. */
uint64_t hvf_agent_evq_push(hvf_agent_evq *q, const char *type, int64_t t_us, json_t *fields);
/* Appends up to @max events as JSON, comma-separated, to @sb; returns how many. */
size_t hvf_agent_evq_peek(hvf_agent_evq *q, size_t max, hvf_strbuf *sb);
/* Forgets the events up to @seq (acked). */
void hvf_agent_evq_ack(hvf_agent_evq *q, uint64_t seq);
size_t hvf_agent_evq_depth(hvf_agent_evq *q);

/* ---- The record of results (results.c): DIR/results.json ----------------------------------- */

typedef enum hvf_agent_res_state {
    HVF_AGENT_RES_QUEUED,  /* admitted, not started: forgotten by a restart (it never ran) */
    HVF_AGENT_RES_RUNNING, /* started: after a restart, answered "error" (interrupted) */
    HVF_AGENT_RES_DONE,
} hvf_agent_res_state;

typedef struct hvf_agent_result {
    char *id;   /* owned */
    int64_t seq;
    char *type; /* owned */
    hvf_agent_res_state state;
    bool ok;
    char *detail; /* owned, may be NULL */
    json_t *data; /* owned, may be NULL */
    bool acked;
} hvf_agent_result;

typedef struct hvf_agent_results {
    pthread_mutex_t mu;
    char *path; /* owned; NULL: in memory only (tests) */
    hvf_agent_result *items; /* oldest first */
    size_t len, alloc;
    size_t cap;       /* at most this many not acked (queued, running, done) */
    size_t acked_cap; /* acked ones kept to answer re-sent ids; oldest forgotten first */
    int64_t acked_max_seq;
    uint64_t writes;
} hvf_agent_results;

typedef enum hvf_agent_admit {
    HVF_AGENT_ADMIT_NEW,  /* recorded as queued: run it */
    HVF_AGENT_ADMIT_SEEN, /* its id is in the record: never run again */
    HVF_AGENT_ADMIT_FULL, /* @cap results are not acked: answer busy */
} hvf_agent_admit;

/*
 * Loads @path (missing: empty) into @r; entries that were running become done with an error
 * ("interrupted"), queued ones are forgotten. Returns 0, or -1 with HVF_ERR_INVALID naming the
 * file for a file that is not a record.
 */
int hvf_agent_results_load(hvf_agent_results *r, const char *path, size_t cap, size_t acked_cap,
                           hvf_error *err) __attribute__((warn_unused_result));
/* Parses a record's text (load's parser, for the fuzz target); @name names it in errors. */
int hvf_agent_results_parse(hvf_agent_results *r, const char *name, const char *text, size_t len,
                            hvf_error *err) __attribute__((warn_unused_result));
void hvf_agent_results_clear(hvf_agent_results *r);
hvf_agent_admit hvf_agent_results_admit(hvf_agent_results *r, const hvf_agent_cmd *cmd);
/* Marks @id running and writes the record (before the command runs). */
int hvf_agent_results_start(hvf_agent_results *r, const char *id, hvf_error *err);
/* Marks @id done, takes @data (may be NULL), writes the record. */
int hvf_agent_results_finish(hvf_agent_results *r, const char *id, bool ok, json_t *data,
                             const char *detail, hvf_error *err);
/* Appends the done, unacked results (oldest first, at most @max) to @sb; returns how many. */
size_t hvf_agent_results_pending(hvf_agent_results *r, size_t max, hvf_strbuf *sb);
/* Marks the results of these seqs acked, forgets acked ones beyond acked_cap, writes if changed. */
int hvf_agent_results_ack(hvf_agent_results *r, const int64_t *seqs, size_t n, hvf_error *err);
/* Forgets every queued (not started) entry: the agent stops without running them. */
int hvf_agent_results_forget_queued(hvf_agent_results *r, hvf_error *err);
size_t hvf_agent_results_unacked(hvf_agent_results *r);
/* The record as JSON text (owned), as written to the file. */
char *hvf_agent_results_format(hvf_agent_results *r);

/* ---- The wire format (proto.c) ------------------------------------------------------------- */

typedef struct hvf_agent_answer {
    char *session;           /* owned; NULL when absent */
    int64_t *acked_results;  /* owned */
    size_t n_acked;
    int64_t acked_events;    /* -1 when absent */
    hvf_agent_cmd **cmds;    /* owned */
    size_t n_cmds;
    int64_t heartbeat_s;     /* 0 when absent */
} hvf_agent_answer;

/*
 * Parses the controller's answer to a sync (at most HVF_AGENT_MAX_BODY bytes). Unknown fields
 * are ignored. Returns 0, or -1 with HVF_ERR_INVALID ("controller answer: FIELD: ..."), @out
 * cleared.
 */
int hvf_agent_answer_parse(const char *text, size_t len, hvf_agent_answer *out, hvf_error *err)
    __attribute__((warn_unused_result));
void hvf_agent_answer_clear(hvf_agent_answer *a);
/* The code of a 409 answer's body ({"error":{"code":...}}), owned; NULL when there is none. */
char *hvf_agent_error_code(const char *text, size_t len);

/* ---- The host and the agent itself (host.c) ------------------------------------------------ */

typedef struct hvf_agent_self {
    uint64_t rss_bytes;
    unsigned threads;
    unsigned open_files;
} hvf_agent_self;

/* The agent's own figures, from /proc/self (statm, status, fd). */
void hvf_agent_self_read(hvf_agent_self *s);
/* Host facts for the first sync: agent_version, kernel, cpus, mem_mib, boot_id, nics. Owned. */
json_t *hvf_agent_facts(void);
/* /proc/sys/kernel/random/boot_id, or "" (owned). */
char *hvf_agent_boot_id(void);
/*
 * Sets RLIMIT_NOFILE to @nofile, RLIMIT_NPROC (when not root) to what the user runs now plus
 * @tasks, and, where /sys/fs/cgroup is a writable cgroup v2, moves the process into a cgroup of
 * its own with pids.max @tasks and memory.max @max_rss (@tasks 0: neither NPROC nor the cgroup,
 * for the qemu executor whose QEMUs would inherit them). Best effort; returns an owned object
 * saying what was set and why not ("cgroup": "unavailable: ...").
 */
json_t *hvf_agent_limits_apply(unsigned nofile, unsigned tasks, uint64_t max_rss);

/* ---- The self-fence (fence.c) ------------------------------------------------------------- */

/*
 * An agent that has had no successful sync (a 200) for --fence-after fences itself: its
 * watchdog thread (not the sync loop, which may be stuck in a read) kills every VM through the
 * executor's fence, writes DIR/fenced.json ({at_unix, boot_id, vms, fence_after_ms, complete})
 * and logs
 * it. From then on the agent starts no VM (vm_start and migrate_in answer "error") until the
 * report went to the controller in a sync's "fenced" field and a 200 answered that sync; then
 * the file is removed. The file survives restarts: a new agent reports it the same way.
 * Optionally the thread also pets a Linux watchdog device (one byte a second) while the last
 * good sync is younger than --fence-after or the fence is done, and writes the magic 'V' on a
 * clean stop, so that a host whose agent died or hung is reset by the device.
 *
 * Threading: every function may be called from any thread; the struct locks itself.
 */
typedef struct hvf_agent_fence {
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* the thread's sleep: stop */
    int64_t after_ms;         /* 0: off (no thread, nothing ever fenced) */
    _Atomic int64_t pet_ms;   /* CLOCK_BOOTTIME ms of the last successful sync */
    char *path;               /* owned: DIR/fenced.json */
    char *boot_id;            /* owned */
    hvf_agent_executor *ex;   /* borrowed, set by the caller before hvf_agent_fence_start */
    json_t *record;           /* owned, may be NULL: the fence not yet acknowledged, under mu */
    uint64_t gen;             /* bumped whenever the record changes, under mu */
    _Atomic bool active;      /* record != NULL */
    _Atomic bool incomplete;  /* a VM of the record could not be killed: fenced again, no pets */
    _Atomic uint64_t fences;  /* fences done by this process (a worker compares it) */
    int wd_fd;                /* the watchdog device, or -1 */
    char *wd_path;            /* owned, may be NULL */
    pthread_t thread;
    bool started, stopping;
} hvf_agent_fence;

/*
 * Sets @f up: DIR/fenced.json is read (a fence of an earlier process, not yet acknowledged: @f
 * starts active); @wd_path (may be NULL) is opened for writing. Returns 0, or -1 with @err
 * (HVF_ERR_INVALID naming the file that is not a fence record, HVF_ERR_IO naming the device);
 * @f is then cleared.
 */
int hvf_agent_fence_init(hvf_agent_fence *f, const char *state_dir, int64_t after_ms,
                         const char *wd_path, const char *boot_id, hvf_error *err)
    __attribute__((warn_unused_result));
/*
 * Fences again at once when a record of an earlier process stands (a VM adopted since would
 * belie it), then starts the watchdog thread (after_ms > 0); the clock of the last sync starts
 * now.
 */
int hvf_agent_fence_start(hvf_agent_fence *f, hvf_error *err) __attribute__((warn_unused_result));
/* Stops and joins the thread; @clean: the magic close of the device (it is disarmed). */
void hvf_agent_fence_clear(hvf_agent_fence *f, bool clean);
/* The sync loop after every 200: the controller is there. */
void hvf_agent_fence_pet(hvf_agent_fence *f);
/*
 * Kills every VM now and records it (merged into a record not yet acknowledged); with
 * @only_if_active, only while such a record exists (else returns 1 at once). Returns 0, or -1
 * when the record could not be written (logged; the fence itself is done).
 */
int hvf_agent_fence_now(hvf_agent_fence *f, const char *why, bool only_if_active);
/* True from a fence until its acknowledgement: no VM may start. */
bool hvf_agent_fence_active(hvf_agent_fence *f);
/* Sets @err: @cmd (one that would start a VM) is refused while the fence is active. */
void hvf_agent_fence_refuse(hvf_agent_fence *f, const hvf_agent_cmd *cmd, hvf_error *err);
/* The record to report (owned copy) and its generation, or NULL. */
json_t *hvf_agent_fence_report(hvf_agent_fence *f, uint64_t *gen);
/* A 200 answered a sync that carried the report of @gen: forgets it and removes the file. */
void hvf_agent_fence_acked(hvf_agent_fence *f, uint64_t gen);
/*
 * Reads a fence record's text (@name names it in errors): an object with at_unix (integer),
 * boot_id (string), vms (a list of strings), fence_after_ms (integer) and complete (true or
 * false; absent: true). Returns an owned
 * object, or NULL with HVF_ERR_INVALID ("NAME: FIELD: expected ...").
 */
json_t *hvf_agent_fence_parse(const char *name, const char *text, size_t len, hvf_error *err);

/* ---- The program (agent.c) ----------------------------------------------------------------- */

typedef struct hvf_agent_opts {
    /* owned: the controllers, each http(s)://HOST[:PORT] without a trailing '/'; the agent
     * syncs with one, moves to the next when it does not answer, and follows a standby's 307
     * to the leader only when the leader is one of them (its token goes nowhere else) */
    char **urls;
    size_t nurls;
    char *token;     /* owned */
    char *host;      /* owned */
    char *state_dir; /* owned */
    char *cacert;    /* owned, may be NULL */
    unsigned workers;
    size_t queue;
    size_t events;
    size_t batch;
    int64_t heartbeat_ms;
    uint64_t max_rss;
    int64_t backoff_max_ms;
    hvf_agent_sim_opts sim;
    char *executor;      /* owned: "auto" (qemu when its binary is found, else sim), "sim", "qemu" */
    char *qemu_binary;   /* owned, may be NULL */
    char *migration_address; /* owned, may be NULL (127.0.0.1) */
    int port_min, port_max;  /* --migration-ports */
    int64_t fence_after_ms;  /* --fence-after: 0 off */
    char *watchdog_device;   /* owned, may be NULL: --watchdog-device */
} hvf_agent_opts;

/*
 * Parses the command line into @o (main.c). Returns 0; 1 for --help/--version (printed);
 * -1 with HVF_ERR_INVALID naming the flag and value.
 */
int hvf_agent_opts_parse(int argc, char **argv, hvf_agent_opts *o, hvf_error *err);
void hvf_agent_opts_clear(hvf_agent_opts *o);

/* Runs the agent until SIGTERM/SIGINT. Returns the exit status (0, or 2 for bad setup). */
int hvf_agent_run(const hvf_agent_opts *o);
