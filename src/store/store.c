/* SPDX-License-Identifier: MIT */
/* The SQLite store: schema, migrations and the records of hvfleet/store.h. */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hvfleet/alloc.h"
#include "hvfleet/store.h"
#include "hvfleet/strbuf.h"
#include "util/text.h"

struct hvf_store {
    sqlite3 *db;
    char *dir;  /* owned */
    char *path; /* owned */
};

const char *const hvf_store_run_state_names[] = {"running", "paused", "done", "aborted",
                                                 "failed", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_store_run_state_names) == HVF_STORE_RUN_LAST + 1,
               "run state names");
const char *const hvf_store_control_names[] = {"none", "pause", "abort", "abort-cancel", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_store_control_names) == HVF_STORE_CONTROL_LAST + 1,
               "control names");

/* Numbered migrations: migrations[i] brings the schema from version i to i + 1. */
static const char *const migrations[] = {
    "CREATE TABLE freeze (id INTEGER PRIMARY KEY CHECK (id = 1), reason TEXT NOT NULL,"
    "  by TEXT NOT NULL, since_unix INTEGER NOT NULL);"
    "CREATE TABLE plans (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, author TEXT NOT NULL,"
    "  made_unix INTEGER NOT NULL, text TEXT);"
    "CREATE TABLE approvals (plan_hash TEXT NOT NULL, by TEXT NOT NULL,"
    "  at_unix INTEGER NOT NULL, verdict TEXT NOT NULL, PRIMARY KEY (plan_hash, by));"
    "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, plan_hash TEXT NOT NULL,"
    "  state TEXT NOT NULL, control TEXT NOT NULL, started_unix INTEGER NOT NULL,"
    "  updated_unix INTEGER NOT NULL, pid INTEGER NOT NULL, driver_uri TEXT NOT NULL,"
    "  plan_path TEXT NOT NULL, inventory_path TEXT NOT NULL, record_path TEXT NOT NULL,"
    "  note TEXT NOT NULL);"
    "CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL"
    "  REFERENCES runs(id), kind TEXT NOT NULL, intent INTEGER NOT NULL, t_us INTEGER NOT NULL,"
    "  action TEXT NOT NULL, vm TEXT NOT NULL, host TEXT NOT NULL, target TEXT NOT NULL,"
    "  job INTEGER NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX journal_run ON journal (run, seq);"
    "CREATE TABLE claims (run INTEGER NOT NULL REFERENCES runs(id), vm TEXT NOT NULL,"
    "  host TEXT NOT NULL, mem_mib INTEGER NOT NULL, vcpus INTEGER NOT NULL,"
    "  job INTEGER NOT NULL, PRIMARY KEY (run, vm));"
    /* The journal is append-only: the database itself refuses edits. */
    "CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal"
    "  BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"
    "CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal"
    "  BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;",
    /* 2: hvfleetd's tokens and its event feed. Every journal entry is also an event, written by
     * the database in the same transaction, so the feed cannot miss one. */
    "CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, host TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL UNIQUE, created_unix INTEGER NOT NULL, by TEXT NOT NULL);"
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_unix INTEGER NOT NULL,"
    "  type TEXT NOT NULL, run INTEGER NOT NULL, data TEXT NOT NULL);"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'the event feed is append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'the event feed is append-only'); END;"
    "CREATE TRIGGER journal_event AFTER INSERT ON journal BEGIN"
    "  INSERT INTO events (at_unix, type, run, data) VALUES (CAST(strftime('%s', 'now') AS"
    "  INTEGER), 'journal', NEW.run, json_object('journal_seq', NEW.seq, 'kind', NEW.kind,"
    "  'intent', NEW.intent, 't_us', NEW.t_us, 'action', NEW.action, 'vm', NEW.vm, 'host',"
    "  NEW.host, 'target', NEW.target, 'job', NEW.job, 'result', NEW.result, 'detail',"
    "  NEW.detail)); END;",
};
_Static_assert(HVF_ARRAY_LEN(migrations) == HVF_STORE_SCHEMA_VERSION, "one migration a version");

static const char *const entry_kind_names[] = {"intent", "outcome", "note"};
_Static_assert(HVF_ARRAY_LEN(entry_kind_names) == HVF_STORE_ENTRY_LAST, "entry kinds");

static int
store_fail(hvf_store *st, hvf_error *err, const char *what)
{
    hvf_error_set(err, HVF_ERR_IO, "store '%s': %s: %s", st->path, what, sqlite3_errmsg(st->db));
    return -1;
}

static int
store_exec(hvf_store *st, const char *sql, hvf_error *err)
{
    char *msg = NULL;

    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hvf_error_set(err, HVF_ERR_IO, "store '%s': %s", st->path, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *
store_prepare(hvf_store *st, const char *sql, hvf_error *err)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        store_fail(st, err, "prepare");
        return NULL;
    }
    return s;
}

/* Runs a statement that returns no rows and finalizes it. */
static int
store_step_done(hvf_store *st, sqlite3_stmt *s, hvf_error *err)
{
    int rc = sqlite3_step(s);

    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "store '%s': %s", st->path, sqlite3_errmsg(st->db));
        return -1;
    }
    if (rc != SQLITE_DONE)
        return store_fail(st, err, "write");
    return 0;
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void
col_text(sqlite3_stmt *s, int i, char *dst, size_t len)
{
    const unsigned char *v = sqlite3_column_text(s, i);

    hvf_strlcpy(dst, v ? (const char *)v : "", len);
}

static int
store_migrate(hvf_store *st, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st, "PRAGMA user_version", err);
    int version;

    if (!s)
        return -1;
    version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    if (version < 0)
        return store_fail(st, err, "reading the schema version");
    if (version > HVF_STORE_SCHEMA_VERSION) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "store '%s' has schema version %d; this hvfleet knows up to %d: use a "
                      "newer hvfleet",
                      st->path, version, HVF_STORE_SCHEMA_VERSION);
        return -1;
    }
    if (version == HVF_STORE_SCHEMA_VERSION)
        return 0;
    if (store_exec(st, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    for (int v = version; v < HVF_STORE_SCHEMA_VERSION; v++) {
        char pragma[64];

        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        if (store_exec(st, migrations[v], err) < 0 || store_exec(st, pragma, err) < 0) {
            hvf_error_prefix(err, "migrating to schema version %d: ", v + 1);
            hvf_store_rollback(st);
            return -1;
        }
    }
    return store_exec(st, "COMMIT", err);
}

hvf_store *
hvf_store_open(const char *dir, hvf_error *err)
{
    HVF_AUTOFREE char *path = NULL;
    hvf_store *st;
    struct stat sb;

    if (hvf_file_mkdirs(dir, 0700, err) < 0)
        return NULL;
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        hvf_error_set(err, HVF_ERR_IO, "state directory '%s' is not a directory", dir);
        return NULL;
    }
    path = hvf_asprintf("%s/%s", dir, HVF_STORE_FILE);
    st = HVF_NEW(hvf_store);
    st->dir = hvf_strdup(dir);
    st->path = hvf_steal_ptr(&path);
    if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        hvf_error_set(err, HVF_ERR_IO, "cannot open store '%s': %s", st->path,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
        hvf_store_close(st);
        return NULL;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       "PRAGMA foreign_keys=ON;",
                   err) < 0 ||
        store_migrate(st, err) < 0) {
        hvf_error_prefix(err, "opening the store: ");
        hvf_store_close(st);
        return NULL;
    }
    return st;
}

void
hvf_store_close(hvf_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    free(st->dir);
    free(st->path);
    free(st);
}

const char *
hvf_store_path(const hvf_store *st)
{
    return st->path;
}

const char *
hvf_store_dir(const hvf_store *st)
{
    return st->dir;
}

int
hvf_store_schema_version(hvf_store *st)
{
    sqlite3_stmt *s = NULL;
    int v = -1;

    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

int
hvf_store_begin(hvf_store *st, hvf_error *err)
{
    return store_exec(st, "BEGIN IMMEDIATE", err);
}

int
hvf_store_commit(hvf_store *st, hvf_error *err)
{
    return store_exec(st, "COMMIT", err);
}

void
hvf_store_rollback(hvf_store *st)
{
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- freeze ---- */

int
hvf_store_freeze_set(hvf_store *st, const char *reason, const char *by, int64_t at_unix,
                     hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st, "INSERT OR REPLACE INTO freeze (id, reason, by, since_unix) VALUES (1, ?, ?, ?)", err);

    if (!s)
        return -1;
    bind_text(s, 1, reason);
    bind_text(s, 2, by && *by ? by : "unknown");
    sqlite3_bind_int64(s, 3, at_unix);
    return store_step_done(st, s, err);
}

int
hvf_store_freeze_clear(hvf_store *st, hvf_error *err)
{
    return store_exec(st, "DELETE FROM freeze", err);
}

int
hvf_store_freeze_get(hvf_store *st, hvf_store_freeze *out, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st, "SELECT reason, by, since_unix FROM freeze", err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->frozen = true;
        col_text(s, 0, out->reason, sizeof(out->reason));
        col_text(s, 1, out->by, sizeof(out->by));
        out->since_unix = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(st, err, "reading the freeze");
    return 0;
}

/* ---- plans and approvals ---- */

int
hvf_store_plan_put(hvf_store *st, const char *hash, const char *kind, const char *author,
                   const char *text, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    "INSERT OR IGNORE INTO plans (hash, kind, author, made_unix,"
                                    " text) VALUES (?, ?, ?, ?, ?)",
                                    err);

    if (!s)
        return -1;
    bind_text(s, 1, hash);
    bind_text(s, 2, kind);
    bind_text(s, 3, author);
    sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    if (text)
        bind_text(s, 5, text);
    else
        sqlite3_bind_null(s, 5);
    return store_step_done(st, s, err);
}

int
hvf_store_plan_author(hvf_store *st, const char *hash, char *author, size_t len, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st, "SELECT author FROM plans WHERE hash = ?", err);
    int rc;

    if (len)
        author[0] = '\0';
    if (!s)
        return -1;
    bind_text(s, 1, hash);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        col_text(s, 0, author, len);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(st, err, "reading a plan");
    return rc == SQLITE_ROW;
}

char *
hvf_store_plan_text(hvf_store *st, const char *hash, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st, "SELECT text FROM plans WHERE hash = ?", err);
    char *text = NULL;

    if (!s)
        return NULL;
    bind_text(s, 1, hash);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_TEXT)
        text = hvf_strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return text;
}

int
hvf_store_approval_add(hvf_store *st, const hvf_store_approval *a, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st, "INSERT INTO approvals (plan_hash, by, at_unix, verdict) VALUES (?, ?, ?, ?)", err);

    if (!s)
        return -1;
    bind_text(s, 1, a->plan_hash);
    bind_text(s, 2, a->by);
    sqlite3_bind_int64(s, 3, a->at_unix);
    bind_text(s, 4, a->verdict);
    if (store_step_done(st, s, err) < 0) {
        if (err && err->code == HVF_ERR_CONFLICT)
            hvf_error_set(err, HVF_ERR_CONFLICT, "plan %.12s is already approved by '%s'",
                          a->plan_hash, a->by);
        return -1;
    }
    return 0;
}

long
hvf_store_approvals(hvf_store *st, const char *hash, hvf_store_approval **out, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    "SELECT plan_hash, by, at_unix, verdict FROM approvals"
                                    " WHERE plan_hash = ? ORDER BY at_unix, rowid",
                                    err);
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    bind_text(s, 1, hash);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hvf_store_approval *a;

        hvf_grow(out, &cap, n + 1, sizeof(**out));
        a = &(*out)[n++];
        memset(a, 0, sizeof(*a));
        col_text(s, 0, a->plan_hash, sizeof(a->plan_hash));
        col_text(s, 1, a->by, sizeof(a->by));
        a->at_unix = sqlite3_column_int64(s, 2);
        col_text(s, 3, a->verdict, sizeof(a->verdict));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return store_fail(st, err, "reading approvals");
    }
    return (long)n;
}

/* ---- runs ---- */

static int
name_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], v) == 0)
            return i;
    }
    return -1;
}

int
hvf_store_run_add(hvf_store *st, hvf_store_run *run, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st,
        "INSERT INTO runs (plan_hash, state, control, started_unix, updated_unix, pid,"
        " driver_uri, plan_path, inventory_path, record_path, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        err);

    if (!s)
        return -1;
    run->started_unix = run->updated_unix = (int64_t)time(NULL);
    bind_text(s, 1, run->plan_hash);
    bind_text(s, 2, hvf_store_run_state_names[run->state]);
    bind_text(s, 3, hvf_store_control_names[run->control]);
    sqlite3_bind_int64(s, 4, run->started_unix);
    sqlite3_bind_int64(s, 5, run->updated_unix);
    sqlite3_bind_int64(s, 6, run->pid);
    bind_text(s, 7, run->driver_uri);
    bind_text(s, 8, run->plan_path);
    bind_text(s, 9, run->inventory_path);
    bind_text(s, 10, run->record_path);
    bind_text(s, 11, run->note);
    if (store_step_done(st, s, err) < 0)
        return -1;
    run->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int
hvf_store_run_update(hvf_store *st, const hvf_store_run *run, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    /* an abort an operator asked for is never written over: the
                                     * executor may write its own view of the run between the
                                     * request and its next read of it */
                                    "UPDATE runs SET state = ?, control = CASE WHEN control IN"
                                    " ('abort', 'abort-cancel') THEN control ELSE ? END, pid = ?,"
                                    " note = ?, record_path = ?, updated_unix = ? WHERE id = ?",
                                    err);

    if (!s)
        return -1;
    bind_text(s, 1, hvf_store_run_state_names[run->state]);
    bind_text(s, 2, hvf_store_control_names[run->control]);
    sqlite3_bind_int64(s, 3, run->pid);
    bind_text(s, 4, run->note);
    bind_text(s, 5, run->record_path);
    sqlite3_bind_int64(s, 6, (int64_t)time(NULL));
    sqlite3_bind_int64(s, 7, run->id);
    return store_step_done(st, s, err);
}

int
hvf_store_run_get(hvf_store *st, int64_t id, hvf_store_run *out, hvf_error *err)
{
    const char *cols = "SELECT id, plan_hash, state, control, started_unix, updated_unix, pid,"
                       " driver_uri, plan_path, inventory_path, record_path, note FROM runs";
    HVF_AUTOFREE char *sql =
        id > 0 ? hvf_asprintf("%s WHERE id = ?", cols)
               : hvf_asprintf("%s WHERE state IN ('running', 'paused') ORDER BY id DESC LIMIT 1",
                              cols);
    sqlite3_stmt *s = store_prepare(st, sql, err);
    char state[32], control[32];
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return -1;
    if (id > 0)
        sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        col_text(s, 1, out->plan_hash, sizeof(out->plan_hash));
        col_text(s, 2, state, sizeof(state));
        col_text(s, 3, control, sizeof(control));
        out->started_unix = sqlite3_column_int64(s, 4);
        out->updated_unix = sqlite3_column_int64(s, 5);
        out->pid = sqlite3_column_int64(s, 6);
        col_text(s, 7, out->driver_uri, sizeof(out->driver_uri));
        col_text(s, 8, out->plan_path, sizeof(out->plan_path));
        col_text(s, 9, out->inventory_path, sizeof(out->inventory_path));
        col_text(s, 10, out->record_path, sizeof(out->record_path));
        col_text(s, 11, out->note, sizeof(out->note));
        out->state = (hvf_store_run_state)name_index(hvf_store_run_state_names, state);
        out->control = (hvf_store_control)name_index(hvf_store_control_names, control);
        if ((int)out->state < 0 || (int)out->control < 0) {
            sqlite3_finalize(s);
            hvf_error_set(err, HVF_ERR_IO, "store '%s': run %" PRId64 " has state '%s', control "
                          "'%s': not a state this hvfleet knows", st->path, out->id, state,
                          control);
            return -1;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(st, err, "reading runs");
    return rc == SQLITE_ROW;
}

int
hvf_store_run_of_plan(hvf_store *st, const char *plan_hash, hvf_store_run *out, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st, "SELECT id FROM runs WHERE plan_hash = ? ORDER BY id DESC LIMIT 1", err);
    int64_t id = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return -1;
    bind_text(s, 1, plan_hash);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(st, err, "reading runs");
    return id > 0 ? hvf_store_run_get(st, id, out, err) : 0;
}

int
hvf_store_run_set_control(hvf_store *st, int64_t id, hvf_store_control c, hvf_error *err)
{
    sqlite3_stmt *s =
        store_prepare(st, "UPDATE runs SET control = ?, updated_unix = ? WHERE id = ?", err);

    if (!s)
        return -1;
    bind_text(s, 1, hvf_store_control_names[c]);
    sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    sqlite3_bind_int64(s, 3, id);
    return store_step_done(st, s, err);
}

/* ---- journal ---- */

int
hvf_store_journal_append(hvf_store *st, hvf_store_entry *e, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st,
        "INSERT INTO journal (run, kind, intent, t_us, action, vm, host, target, job, result,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        err);

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, e->run);
    bind_text(s, 2, entry_kind_names[e->kind]);
    sqlite3_bind_int64(s, 3, e->intent);
    sqlite3_bind_int64(s, 4, e->t_us);
    bind_text(s, 5, e->action);
    bind_text(s, 6, e->vm);
    bind_text(s, 7, e->host);
    bind_text(s, 8, e->target);
    sqlite3_bind_int64(s, 9, e->job);
    bind_text(s, 10, e->result);
    bind_text(s, 11, e->detail);
    if (store_step_done(st, s, err) < 0)
        return -1;
    e->seq = sqlite3_last_insert_rowid(st->db);
    return 0;
}

long
hvf_store_journal(hvf_store *st, int64_t run, hvf_store_entry **out, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    "SELECT seq, run, kind, intent, t_us, action, vm, host,"
                                    " target, job, result, detail FROM journal WHERE run = ?"
                                    " ORDER BY seq",
                                    err);
    size_t n = 0, cap = 0;
    char kind[16];
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hvf_store_entry *e;
        int k;

        hvf_grow(out, &cap, n + 1, sizeof(**out));
        e = &(*out)[n++];
        memset(e, 0, sizeof(*e));
        e->seq = sqlite3_column_int64(s, 0);
        e->run = sqlite3_column_int64(s, 1);
        col_text(s, 2, kind, sizeof(kind));
        k = name_index(entry_kind_names, kind);
        e->kind = k < 0 ? HVF_STORE_NOTE : (hvf_store_entry_kind)k;
        e->intent = sqlite3_column_int64(s, 3);
        e->t_us = sqlite3_column_int64(s, 4);
        col_text(s, 5, e->action, sizeof(e->action));
        col_text(s, 6, e->vm, sizeof(e->vm));
        col_text(s, 7, e->host, sizeof(e->host));
        col_text(s, 8, e->target, sizeof(e->target));
        e->job = sqlite3_column_int64(s, 9);
        col_text(s, 10, e->result, sizeof(e->result));
        col_text(s, 11, e->detail, sizeof(e->detail));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return store_fail(st, err, "reading the journal");
    }
    return (long)n;
}

/* ---- claims ---- */

int
hvf_store_claim_add(hvf_store *st, int64_t run, const hvf_store_claim *c, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    "INSERT OR REPLACE INTO claims (run, vm, host, mem_mib, vcpus,"
                                    " job) VALUES (?, ?, ?, ?, ?, ?)",
                                    err);

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run);
    bind_text(s, 2, c->vm);
    bind_text(s, 3, c->host);
    sqlite3_bind_int64(s, 4, (int64_t)c->mem_mib);
    sqlite3_bind_int64(s, 5, c->vcpus);
    sqlite3_bind_int64(s, 6, c->job);
    return store_step_done(st, s, err);
}

int
hvf_store_claim_drop(hvf_store *st, int64_t run, const char *vm, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st, "DELETE FROM claims WHERE run = ? AND vm = ?", err);

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run);
    bind_text(s, 2, vm);
    return store_step_done(st, s, err);
}

long
hvf_store_claims(hvf_store *st, int64_t run, hvf_store_claim **out, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st, "SELECT vm, host, mem_mib, vcpus, job FROM claims WHERE run = ? ORDER BY vm", err);
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hvf_store_claim *c;

        hvf_grow(out, &cap, n + 1, sizeof(**out));
        c = &(*out)[n++];
        memset(c, 0, sizeof(*c));
        col_text(s, 0, c->vm, sizeof(c->vm));
        col_text(s, 1, c->host, sizeof(c->host));
        c->mem_mib = (uint64_t)sqlite3_column_int64(s, 2);
        c->vcpus = (uint32_t)sqlite3_column_int(s, 3);
        c->job = sqlite3_column_int64(s, 4);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return store_fail(st, err, "reading claims");
    }
    return (long)n;
}

long
hvf_store_runs(hvf_store *st, const char *state, size_t limit, hvf_store_run **out,
               hvf_error *err)
{
    bool unfinished = state && strcmp(state, "unfinished") == 0;
    sqlite3_stmt *s = store_prepare(
        st,
        !state       ? "SELECT id FROM runs ORDER BY id DESC LIMIT ?"
        : unfinished ? "SELECT id FROM runs WHERE state IN ('running', 'paused')"
                       " ORDER BY id DESC LIMIT ?"
                     : "SELECT id FROM runs WHERE state = ? ORDER BY id DESC LIMIT ?",
        err);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    if (state && !unfinished)
        bind_text(s, 1, state);
    sqlite3_bind_int64(s, state && !unfinished ? 2 : 1, (int64_t)limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hvf_grow(&ids, &cap, n + 1, sizeof(*ids));
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(ids);
        return store_fail(st, err, "listing runs");
    }
    *out = hvf_calloc(n + 1, sizeof(**out));
    for (size_t i = 0; i < n; i++) {
        if (hvf_store_run_get(st, ids[i], &(*out)[i], err) != 1) {
            free(ids);
            free(*out);
            *out = NULL;
            return -1;
        }
    }
    free(ids);
    return (long)n;
}

/* ---- tokens ---- */

int
hvf_store_token_add(hvf_store *st, const hvf_store_token *t, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    "INSERT INTO tokens (name, role, host, sha256, created_unix, by)"
                                    " VALUES (?, ?, ?, ?, ?, ?)",
                                    err);

    if (!s)
        return -1;
    bind_text(s, 1, t->name);
    bind_text(s, 2, t->role);
    bind_text(s, 3, t->host);
    bind_text(s, 4, t->sha256);
    sqlite3_bind_int64(s, 5, t->created_unix);
    bind_text(s, 6, t->by);
    if (store_step_done(st, s, err) < 0) {
        if (err && err->code == HVF_ERR_CONFLICT)
            hvf_error_set(err, HVF_ERR_CONFLICT, "a token named '%s' already exists in '%s'",
                          t->name, st->path);
        return -1;
    }
    return 0;
}

int
hvf_store_token_revoke(hvf_store *st, const char *name, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st, "DELETE FROM tokens WHERE name = ?", err);

    if (!s)
        return -1;
    bind_text(s, 1, name);
    if (store_step_done(st, s, err) < 0)
        return -1;
    if (sqlite3_changes(st->db) == 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "no token named '%s' in '%s'", name, st->path);
        return -1;
    }
    return 0;
}

long
hvf_store_tokens(hvf_store *st, hvf_store_token **out, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st, "SELECT name, role, host, sha256, created_unix, by FROM tokens ORDER BY name", err);
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hvf_store_token *t;

        hvf_grow(out, &cap, n + 1, sizeof(**out));
        t = &(*out)[n++];
        memset(t, 0, sizeof(*t));
        col_text(s, 0, t->name, sizeof(t->name));
        col_text(s, 1, t->role, sizeof(t->role));
        col_text(s, 2, t->host, sizeof(t->host));
        col_text(s, 3, t->sha256, sizeof(t->sha256));
        t->created_unix = sqlite3_column_int64(s, 4);
        col_text(s, 5, t->by, sizeof(t->by));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        return store_fail(st, err, "reading tokens");
    }
    return (long)n;
}

/* ---- events ---- */

int
hvf_store_event_add(hvf_store *st, const char *type, int64_t run, const char *data,
                    int64_t *seq, hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(
        st, "INSERT INTO events (at_unix, type, run, data) VALUES (?, ?, ?, ?)", err);

    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, (int64_t)time(NULL));
    bind_text(s, 2, type);
    sqlite3_bind_int64(s, 3, run);
    bind_text(s, 4, data && *data ? data : "{}");
    if (store_step_done(st, s, err) < 0)
        return -1;
    if (seq)
        *seq = sqlite3_last_insert_rowid(st->db);
    return 0;
}

long
hvf_store_events(hvf_store *st, int64_t since, size_t limit, hvf_store_event **out,
                 hvf_error *err)
{
    sqlite3_stmt *s = store_prepare(st,
                                    "SELECT seq, at_unix, type, run, data FROM events"
                                    " WHERE seq > ? ORDER BY seq LIMIT ?",
                                    err);
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, since);
    sqlite3_bind_int64(s, 2, (int64_t)(limit ? limit : 1));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        hvf_store_event *e;
        const unsigned char *data = sqlite3_column_text(s, 4);

        hvf_grow(out, &cap, n + 1, sizeof(**out));
        e = &(*out)[n++];
        memset(e, 0, sizeof(*e));
        e->seq = sqlite3_column_int64(s, 0);
        e->at_unix = sqlite3_column_int64(s, 1);
        col_text(s, 2, e->type, sizeof(e->type));
        e->run = sqlite3_column_int64(s, 3);
        e->data = hvf_strdup(data ? (const char *)data : "{}");
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        hvf_store_events_free(*out, n);
        *out = NULL;
        return store_fail(st, err, "reading events");
    }
    return (long)n;
}

void
hvf_store_events_free(hvf_store_event *evs, size_t n)
{
    for (size_t i = 0; evs && i < n; i++)
        free(evs[i].data);
    free(evs);
}

int64_t
hvf_store_event_last(hvf_store *st)
{
    sqlite3_stmt *s = store_prepare(st, "SELECT COALESCE(MAX(seq), 0) FROM events", NULL);
    int64_t seq = -1;

    if (!s)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        seq = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return seq;
}
