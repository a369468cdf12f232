/* SPDX-License-Identifier: MIT */
/*
 * The store: hvfleet's state on disk, one SQLite database (WAL) in the state directory.
 *
 * Contract: it persists records keyed by plan hashes, names and run ids, and knows no plan,
 * fleet or driver type (docs/internals/layers.md), so the planner's approvals and freeze switch
 * and the executor's runs, claims and journal share one database. Every write is one
 * transaction: a process killed at any instant (SIGKILL) leaves the database as it was after
 * the last committed write, and the next open sees exactly that (synchronous=NORMAL in WAL mode
 * survives a process crash; a power loss may lose the last commits, never corrupt).
 *
 * Tables (docs/execution.md): meta (schema version), freeze, plans (text and author by hash),
 * approvals (who, when, which hash; several per plan), runs (one per `hvfleet run`, its state
 * and the operator's control request), claims (the executor's ledger as of its last commit),
 * journal (append-only: an intent before each action, an outcome after it); since version 2,
 * tokens (hvfleetd's bearer tokens, by SHA-256) and events (hvfleetd's feed: every journal
 * entry, copied by a trigger, and the daemon's own decisions; append-only, one sequence).
 *
 * The schema is versioned with numbered migrations (PRAGMA user_version); opening an older
 * database upgrades it in one transaction, a newer one is refused.
 *
 * Threading: one hvf_store per thread; several processes may open the same directory (SQLite
 * locks; writers wait up to 5 s).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

#define HVF_STORE_FILE "hvfleet.db"
#define HVF_STORE_SCHEMA_VERSION 3

typedef struct hvf_store hvf_store;

/*
 * hvf_store_open: opens (creating @dir with mode 0700 and the database if missing) the store in
 * @dir and brings its schema up to date. @dir may instead be a PostgreSQL URI
 * (postgresql://USER@HOST:PORT/DB, libpq's form): the same schema and records in that database,
 * shared by several controllers (docs/controller-ha.md). Returns an owned store
 * (hvf_store_close), or NULL with @err set (HVF_ERR_IO: not a directory, unwritable, not a
 * database, no server; HVF_ERR_CONFLICT: made by a newer hvfleet).
 */
hvf_store *hvf_store_open(const char *dir, hvf_error *err);
void hvf_store_close(hvf_store *st);
/* The database file's path (borrowed) and its directory; for PostgreSQL, both the URI
 * without its password. */
const char *hvf_store_path(const hvf_store *st);
const char *hvf_store_dir(const hvf_store *st);
/* "sqlite" or "postgresql". */
const char *hvf_store_backend(const hvf_store *st);
/* What messages call the store at @loc: DIR/hvfleet.db, or the URI without its password
 * (a buffer of the calling thread, valid until its next call). */
const char *hvf_store_where(const char *loc);
/* True when @loc names a database server (a PostgreSQL URI) rather than a state directory. */
bool hvf_store_is_uri(const char *loc);
/* Schema version of the open database (after migrations). */
int hvf_store_schema_version(hvf_store *st);

/* Groups several writes in one transaction (nesting is not supported). */
int hvf_store_begin(hvf_store *st, hvf_error *err) __attribute__((warn_unused_result));
int hvf_store_commit(hvf_store *st, hvf_error *err) __attribute__((warn_unused_result));
void hvf_store_rollback(hvf_store *st);

/* ---- the leader's lease (several controllers on one store) ---- */

typedef struct hvf_store_lease {
    char holder[64];              /* a controller instance: "NAME/INCARNATION" */
    int64_t term;                 /* grows by one each time the lease changes hands (or lapses) */
    int64_t expires_ms, since_ms; /* the database's clock, ms since the epoch */
    int64_t now_ms;               /* the database's clock when it was read */
} hvf_store_lease;

/*
 * hvf_store_lease_acquire: takes the lease for @holder until the database's clock plus @ttl_ms,
 * if it is free, lapsed or already @holder's (a renewal keeps the term). One statement: two
 * controllers asking at once cannot both get it. Returns 1 held (@out: the term and expiry), 0
 * another holds it (@out: who, until when), -1 error.
 */
int hvf_store_lease_acquire(hvf_store *st, const char *holder, int64_t ttl_ms, hvf_store_lease *out,
                            hvf_error *err);
/* Ends @holder's lease of @term now (a clean stop: a standby takes over at once). */
int hvf_store_lease_release(hvf_store *st, const char *holder, int64_t term, hvf_error *err)
    __attribute__((warn_unused_result));
/* The lease as it stands: 1 (@out filled, maybe lapsed: expires_ms <= now_ms), 0 none, -1. */
int hvf_store_lease_get(hvf_store *st, hvf_store_lease *out, hvf_error *err);
/*
 * hvf_store_fence: from now on this handle writes runs, claims and journal entries only while
 * @holder holds the lease of @term (checked in the write's own transaction; on PostgreSQL the
 * lease row is share-locked to the commit, so no takeover lands in between); a write without
 * it fails with HVF_ERR_CONFLICT. Journal entries record @holder and @term. NULL: no fence.
 */
void hvf_store_fence(hvf_store *st, const char *holder, int64_t term);

typedef struct hvf_store_controller {
    char name[64];
    char instance[64]; /* NAME/INCARNATION of its current process */
    char url[512];     /* where people, agents and peers reach it */
    int64_t started_unix;
    int64_t seen_ms; /* last heartbeat, the database's clock */
} hvf_store_controller;

/* Records that controller @c->name is alive now (its heartbeat). */
int hvf_store_controller_seen(hvf_store *st, const hvf_store_controller *c, hvf_error *err)
    __attribute__((warn_unused_result));
/* Every controller by name (owned array, free()); @now_ms (may be NULL): the database's clock. */
long hvf_store_controllers(hvf_store *st, hvf_store_controller **out, int64_t *now_ms,
                           hvf_error *err);

/* ---- freeze ---- */

typedef struct hvf_store_freeze {
    bool frozen;
    char reason[256];
    char by[64];
    int64_t since_unix;
} hvf_store_freeze;

int hvf_store_freeze_set(hvf_store *st, const char *reason, const char *by, int64_t at_unix,
                         hvf_error *err) __attribute__((warn_unused_result));
int hvf_store_freeze_clear(hvf_store *st, hvf_error *err) __attribute__((warn_unused_result));
int hvf_store_freeze_get(hvf_store *st, hvf_store_freeze *out, hvf_error *err)
    __attribute__((warn_unused_result));

/* ---- plans and approvals ---- */

/* Records that the plan with @hash was made by @author (first writer wins); @text may be NULL. */
int hvf_store_plan_put(hvf_store *st, const char *hash, const char *kind, const char *author,
                       const char *text, hvf_error *err) __attribute__((warn_unused_result));
/* Author of @hash into @author (empty when unknown). Returns 1 found, 0 unknown, -1 error. */
int hvf_store_plan_author(hvf_store *st, const char *hash, char *author, size_t len,
                          hvf_error *err);
/* The stored text of @hash (owned), or NULL when unknown (@err untouched) or on error. */
char *hvf_store_plan_text(hvf_store *st, const char *hash, hvf_error *err);

typedef struct hvf_store_approval {
    char plan_hash[65];
    char by[64];
    int64_t at_unix;
    char verdict[32];
} hvf_store_approval;

/* Adds an approval; the same person approving the same hash again is HVF_ERR_CONFLICT. */
int hvf_store_approval_add(hvf_store *st, const hvf_store_approval *a, hvf_error *err)
    __attribute__((warn_unused_result));
/* Every approval of @hash, oldest first (owned array, free()). Returns the count, -1 on error. */
long hvf_store_approvals(hvf_store *st, const char *hash, hvf_store_approval **out,
                         hvf_error *err);

/* ---- runs ---- */

typedef enum hvf_store_run_state {
    HVF_STORE_RUN_RUNNING,
    HVF_STORE_RUN_PAUSED,  /* waits for an operator (a worse re-plan, --pause) */
    HVF_STORE_RUN_DONE,
    HVF_STORE_RUN_ABORTED,
    HVF_STORE_RUN_FAILED,
    HVF_STORE_RUN_LAST
} hvf_store_run_state;

/* What an operator asked of a run, read by its executor before every action. */
typedef enum hvf_store_control {
    HVF_STORE_CONTROL_NONE,
    HVF_STORE_CONTROL_PAUSE,
    HVF_STORE_CONTROL_ABORT,
    HVF_STORE_CONTROL_ABORT_CANCEL, /* abort and cancel the migrations in flight */
    HVF_STORE_CONTROL_LAST
} hvf_store_control;

extern const char *const hvf_store_run_state_names[];
extern const char *const hvf_store_control_names[];

typedef struct hvf_store_run {
    int64_t id;
    char plan_hash[65];
    hvf_store_run_state state;
    hvf_store_control control;
    int64_t started_unix, updated_unix;
    int64_t pid; /* the executor's process while it runs */
    char driver_uri[512];
    char plan_path[1024];
    char inventory_path[1024];
    char record_path[1024];
    char note[256]; /* why it paused, aborted or failed */
} hvf_store_run;

/* Creates a run (state running); fills run->id. */
int hvf_store_run_add(hvf_store *st, hvf_store_run *run, hvf_error *err)
    __attribute__((warn_unused_result));
/* Writes state, control, pid, note and updated_unix of @run; a stored abort request (ABORT,
 * ABORT_CANCEL) stays: an executor writing its run never loses an abort asked meanwhile. */
int hvf_store_run_update(hvf_store *st, const hvf_store_run *run, hvf_error *err)
    __attribute__((warn_unused_result));
/* Run @id, or (id 0) the newest run that is running or paused. 1 found, 0 none, -1 error. */
int hvf_store_run_get(hvf_store *st, int64_t id, hvf_store_run *out, hvf_error *err);
/* The newest run of the plan with @plan_hash, whatever its state. 1 found, 0 none, -1 error. */
int hvf_store_run_of_plan(hvf_store *st, const char *plan_hash, hvf_store_run *out,
                          hvf_error *err);
/* Up to @limit runs, newest first (owned array, free()): all (@state NULL), those in @state
 * ("running", "done", ...), or "unfinished" (running or paused). The count, -1 on error. */
long hvf_store_runs(hvf_store *st, const char *state, size_t limit, hvf_store_run **out,
                    hvf_error *err);
/* Sets only the control request of run @id (for `hvfleet run --pause` from another process). */
int hvf_store_run_set_control(hvf_store *st, int64_t id, hvf_store_control c, hvf_error *err)
    __attribute__((warn_unused_result));

/* ---- the journal ---- */

typedef enum hvf_store_entry_kind {
    HVF_STORE_INTENT,  /* written before an action */
    HVF_STORE_OUTCOME, /* written after it, naming the intent it closes */
    HVF_STORE_NOTE,    /* an observation (an event from the driver, a decision) */
    HVF_STORE_ENTRY_LAST
} hvf_store_entry_kind;

typedef struct hvf_store_entry {
    int64_t seq;   /* filled by hvf_store_journal_append */
    int64_t run;
    hvf_store_entry_kind kind;
    int64_t intent; /* outcome: the seq of its intent; else 0 */
    int64_t t_us;   /* run time */
    char action[32]; /* "migrate", "drain", "maintain", "stop", "start", "cancel", ... */
    char vm[128], host[128], target[128];
    int64_t job;    /* driver job id, or -1 */
    char result[32]; /* outcomes: "ok", "failed", "cancelled", "unknown", ... */
    char detail[256];
    char controller[64]; /* the lease holder it was written under (hvf_store_fence), or "" */
    int64_t term;        /* ... and its term, or 0 */
} hvf_store_entry;

int hvf_store_journal_append(hvf_store *st, hvf_store_entry *e, hvf_error *err)
    __attribute__((warn_unused_result));
/* Entries of run @run in order (owned array, free()). Returns the count, -1 on error. */
long hvf_store_journal(hvf_store *st, int64_t run, hvf_store_entry **out, hvf_error *err);

/* ---- claims: the executor's ledger as of its last commit ---- */

typedef struct hvf_store_claim {
    char vm[128], host[128];
    uint64_t mem_mib;
    uint32_t vcpus;
    int64_t job;
} hvf_store_claim;

int hvf_store_claim_add(hvf_store *st, int64_t run, const hvf_store_claim *c, hvf_error *err)
    __attribute__((warn_unused_result));
/* Removes the claim of @vm in @run (none is not an error). */
int hvf_store_claim_drop(hvf_store *st, int64_t run, const char *vm, hvf_error *err)
    __attribute__((warn_unused_result));
long hvf_store_claims(hvf_store *st, int64_t run, hvf_store_claim **out, hvf_error *err);

/* ---- tokens: hvfleetd's bearer tokens, only their SHA-256 kept ---- */

typedef struct hvf_store_token {
    char name[64];
    char role[48];   /* viewer, operator, approver, agent, or several: "operator,approver" */
    char host[128];  /* agent tokens: the one host it speaks for; else empty */
    char sha256[65]; /* of the token's text */
    int64_t created_unix;
    char by[64];
} hvf_store_token;

/* Adds a token; a name already used is HVF_ERR_CONFLICT. */
int hvf_store_token_add(hvf_store *st, const hvf_store_token *t, hvf_error *err)
    __attribute__((warn_unused_result));
/* Removes the token @name; none is HVF_ERR_NOT_FOUND. */
int hvf_store_token_revoke(hvf_store *st, const char *name, hvf_error *err)
    __attribute__((warn_unused_result));
/* Every token by name (owned array, free()). Returns the count, -1 on error. */
long hvf_store_tokens(hvf_store *st, hvf_store_token **out, hvf_error *err);

/* ---- events: one sequence for every journal entry and the daemon's decisions ---- */

typedef struct hvf_store_event {
    int64_t seq;
    int64_t at_unix;
    char type[32]; /* "journal", "freeze", "approval", "plan", "run", ... */
    int64_t run;   /* 0 = none */
    char *data;    /* owned: a JSON object */
} hvf_store_event;

/* Appends an event (@data a JSON object, NULL = {}); fills @seq (may be NULL). */
int hvf_store_event_add(hvf_store *st, const char *type, int64_t run, const char *data,
                        int64_t *seq, hvf_error *err) __attribute__((warn_unused_result));
/* Up to @limit events after @since, in order (free with hvf_store_events_free). Returns the
 * count, -1 on error. */
long hvf_store_events(hvf_store *st, int64_t since, size_t limit, hvf_store_event **out,
                      hvf_error *err);
void hvf_store_events_free(hvf_store_event *evs, size_t n);
/* The newest event's seq (0: none), -1 on error. */
int64_t hvf_store_event_last(hvf_store *st);
