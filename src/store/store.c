/* SPDX-License-Identifier: MIT */
/* The store's schema, migrations and records (hvfleet/store.h), on either database. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hvfleet/alloc.h"
#include "hvfleet/store.h"
#include "hvfleet/strbuf.h"
#include "store/store-db.h"
#include "util/text.h"

const char *const hvf_store_run_state_names[] = {"running", "paused", "done", "aborted",
                                                 "failed", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_store_run_state_names) == HVF_STORE_RUN_LAST + 1,
               "run state names");
const char *const hvf_store_control_names[] = {"none", "pause", "abort", "abort-cancel", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_store_control_names) == HVF_STORE_CONTROL_LAST + 1,
               "control names");

/* Numbered migrations: migrations[i] brings the schema from version i to i + 1, the same
 * schema in each database's dialect. */
static const char *const sqlite_migrations[] = {
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
    /* 3: several controllers (docs/controller-ha.md): the leader's lease, the controllers seen,
     * and who wrote each journal entry under which term */
    "CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL,"
    "  term INTEGER NOT NULL, expires_ms INTEGER NOT NULL, since_ms INTEGER NOT NULL);"
    "CREATE TABLE controllers (name TEXT PRIMARY KEY, instance TEXT NOT NULL,"
    "  url TEXT NOT NULL, started_unix INTEGER NOT NULL, seen_ms INTEGER NOT NULL);"
    "ALTER TABLE journal ADD COLUMN controller TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE journal ADD COLUMN term INTEGER NOT NULL DEFAULT 0;",
};
_Static_assert(HVF_ARRAY_LEN(sqlite_migrations) == HVF_STORE_SCHEMA_VERSION,
               "one migration a version");

/* PostgreSQL: 64-bit integers, plpgsql triggers. The event feed's sequence is given out under
 * a lock held to the commit, so the feed's readers (seq > last seen) never skip an event that a
 * slower transaction commits later with a smaller number. */
static const char *const pg_migrations[] = {
    "CREATE TABLE \"freeze\" (id INTEGER PRIMARY KEY CHECK (id = 1), reason TEXT NOT NULL,"
    "  by TEXT NOT NULL, since_unix BIGINT NOT NULL);"
    "CREATE TABLE plans (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, author TEXT NOT NULL,"
    "  made_unix BIGINT NOT NULL, text TEXT);"
    "CREATE TABLE approvals (n BIGSERIAL, plan_hash TEXT NOT NULL, by TEXT NOT NULL,"
    "  at_unix BIGINT NOT NULL, verdict TEXT NOT NULL, PRIMARY KEY (plan_hash, by));"
    "CREATE TABLE runs (id BIGSERIAL PRIMARY KEY, plan_hash TEXT NOT NULL,"
    "  state TEXT NOT NULL, control TEXT NOT NULL, started_unix BIGINT NOT NULL,"
    "  updated_unix BIGINT NOT NULL, pid BIGINT NOT NULL, driver_uri TEXT NOT NULL,"
    "  plan_path TEXT NOT NULL, inventory_path TEXT NOT NULL, record_path TEXT NOT NULL,"
    "  note TEXT NOT NULL);"
    "CREATE TABLE journal (seq BIGSERIAL PRIMARY KEY, run BIGINT NOT NULL"
    "  REFERENCES runs(id), kind TEXT NOT NULL, intent BIGINT NOT NULL, t_us BIGINT NOT NULL,"
    "  action TEXT NOT NULL, vm TEXT NOT NULL, host TEXT NOT NULL, target TEXT NOT NULL,"
    "  job BIGINT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX journal_run ON journal (run, seq);"
    "CREATE TABLE claims (run BIGINT NOT NULL REFERENCES runs(id), vm TEXT NOT NULL,"
    "  host TEXT NOT NULL, mem_mib BIGINT NOT NULL, vcpus BIGINT NOT NULL,"
    "  job BIGINT NOT NULL, PRIMARY KEY (run, vm));"
    "CREATE FUNCTION hvf_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$ BEGIN RAISE EXCEPTION 'the journal is append-only'; END $$;"
    "CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal"
    "  FOR EACH ROW EXECUTE FUNCTION hvf_journal_append_only();",
    "CREATE TABLE tokens (name TEXT PRIMARY KEY, role TEXT NOT NULL, host TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL UNIQUE, created_unix BIGINT NOT NULL, by TEXT NOT NULL);"
    "CREATE TABLE events (seq BIGSERIAL PRIMARY KEY, at_unix BIGINT NOT NULL,"
    "  type TEXT NOT NULL, run BIGINT NOT NULL, data TEXT NOT NULL);"
    "CREATE FUNCTION hvf_events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    "  $$ BEGIN RAISE EXCEPTION 'the event feed is append-only'; END $$;"
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events"
    "  FOR EACH ROW EXECUTE FUNCTION hvf_events_append_only();"
    "CREATE FUNCTION hvf_events_in_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  PERFORM pg_advisory_xact_lock(48270001);"
    "  NEW.seq := nextval(pg_get_serial_sequence('events', 'seq')); RETURN NEW; END $$;"
    "CREATE TRIGGER events_in_order BEFORE INSERT ON events"
    "  FOR EACH ROW EXECUTE FUNCTION hvf_events_in_order();"
    "CREATE FUNCTION hvf_journal_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    "  INSERT INTO events (at_unix, type, run, data) VALUES (extract(epoch from now())::bigint,"
    "  'journal', NEW.run, format('{\"journal_seq\":%s,\"kind\":%s,\"intent\":%s,"
    "\"t_us\":%s,\"action\":%s,\"vm\":%s,\"host\":%s,\"target\":%s,\"job\":%s,"
    "\"result\":%s,\"detail\":%s}', NEW.seq, to_json(NEW.kind), NEW.intent, NEW.t_us,"
    "  to_json(NEW.action), to_json(NEW.vm), to_json(NEW.host), to_json(NEW.target), NEW.job,"
    "  to_json(NEW.result), to_json(NEW.detail))); RETURN NULL; END $$;"
    "CREATE TRIGGER journal_event AFTER INSERT ON journal"
    "  FOR EACH ROW EXECUTE FUNCTION hvf_journal_event();",
    "CREATE TABLE lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL,"
    "  term BIGINT NOT NULL, expires_ms BIGINT NOT NULL, since_ms BIGINT NOT NULL);"
    "CREATE TABLE controllers (name TEXT PRIMARY KEY, instance TEXT NOT NULL,"
    "  url TEXT NOT NULL, started_unix BIGINT NOT NULL, seen_ms BIGINT NOT NULL);"
    "ALTER TABLE journal ADD COLUMN controller TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE journal ADD COLUMN term BIGINT NOT NULL DEFAULT 0;",
};
_Static_assert(HVF_ARRAY_LEN(pg_migrations) == HVF_STORE_SCHEMA_VERSION, "one migration a version");

static const char *const entry_kind_names[] = {"intent", "outcome", "note"};
_Static_assert(HVF_ARRAY_LEN(entry_kind_names) == HVF_STORE_ENTRY_LAST, "entry kinds");

static bool
is_pg_uri(const char *loc)
{
    return strncmp(loc, "postgresql://", 13) == 0 || strncmp(loc, "postgres://", 11) == 0;
}

bool
hvf_store_is_uri(const char *loc)
{
    return loc && is_pg_uri(loc);
}

static char *uri_redacted(const char *uri);

const char *
hvf_store_where(const char *loc)
{
    static _Thread_local char buf[1100];
    HVF_AUTOFREE char *r = is_pg_uri(loc) ? uri_redacted(loc) : NULL;

    if (r)
        snprintf(buf, sizeof(buf), "%s", r);
    else
        snprintf(buf, sizeof(buf), "%s/%s", loc, HVF_STORE_FILE);
    return buf;
}

/* @uri with its password (user:PASSWORD@) written as ***: messages and logs name the store. */
static char *
uri_redacted(const char *uri)
{
    const char *at, *colon, *rest = strstr(uri, "://");

    if (!rest)
        return hvf_strdup(uri);
    rest += 3;
    at = strchr(rest, '@');
    colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
    if (!colon)
        return hvf_strdup(uri);
    return hvf_asprintf("%.*s:***%s", (int)(colon - uri), uri, at);
}

static int
store_version(hvf_store *st, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         st->kind == STORE_SQLITE ? "PRAGMA user_version"
                                                  : "SELECT COALESCE((SELECT value FROM meta"
                                                    " WHERE key = 'schema_version'), 0)",
                         err);
    int v = -1;

    if (q && sq_step(q, err) == 1)
        v = (int)sq_col_int(q, 0);
    sq_free(q);
    return v;
}

static int
store_migrate(hvf_store *st, hvf_error *err)
{
    const char *const *migrations = st->kind == STORE_SQLITE ? sqlite_migrations : pg_migrations;
    int version;

    /* PostgreSQL: several controllers may start on an empty database at once; one migrates,
     * the others wait for it and find the schema current */
    if (st->kind == STORE_PG && (store_exec(st,
                                            "BEGIN; SELECT pg_advisory_xact_lock(48270000);"
                                            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY,"
                                            " value BIGINT NOT NULL)",
                                            err) < 0))
        return -1;
    if (st->kind == STORE_SQLITE && store_exec(st, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    st->in_tx = true;
    version = store_version(st, err);
    if (version < 0) {
        hvf_error_prefix(err, "reading the schema version: ");
        hvf_store_rollback(st);
        return -1;
    }
    if (version > HVF_STORE_SCHEMA_VERSION) {
        hvf_store_rollback(st);
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "store '%s' has schema version %d; this hvfleet knows up to %d: use a "
                      "newer hvfleet",
                      st->path, version, HVF_STORE_SCHEMA_VERSION);
        return -1;
    }
    for (int v = version; v < HVF_STORE_SCHEMA_VERSION; v++) {
        char set[160];

        if (st->kind == STORE_SQLITE)
            snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
        else
            snprintf(set, sizeof(set),
                     "INSERT INTO meta (key, value) VALUES ('schema_version', %d) ON CONFLICT"
                     " (key) DO UPDATE SET value = excluded.value",
                     v + 1);
        if (store_exec(st, migrations[v], err) < 0 || store_exec(st, set, err) < 0) {
            hvf_error_prefix(err, "migrating to schema version %d: ", v + 1);
            hvf_store_rollback(st);
            return -1;
        }
    }
    return hvf_store_commit(st, err);
}

static hvf_store *
store_open_pg(const char *uri, hvf_error *err)
{
    hvf_store *st = HVF_NEW(hvf_store);

    st->dir = uri_redacted(uri);
    st->path = hvf_strdup(st->dir);
    if (store_db_open_pg(st, uri, err) < 0 || store_migrate(st, err) < 0) {
        hvf_error_prefix(err, "opening the store: ");
        hvf_store_close(st);
        return NULL;
    }
    return st;
}

hvf_store *
hvf_store_open(const char *dir, hvf_error *err)
{
    HVF_AUTOFREE char *path = NULL;
    hvf_store *st;
    struct stat sb;

    if (is_pg_uri(dir))
        return store_open_pg(dir, err);
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
    if (store_db_open_sqlite(st, err) < 0) {
        hvf_store_close(st);
        return NULL;
    }
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
    store_db_close(st);
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

const char *
hvf_store_backend(const hvf_store *st)
{
    return st->kind == STORE_SQLITE ? "sqlite" : "postgresql";
}

int
hvf_store_schema_version(hvf_store *st)
{
    hvf_error ignore = HVF_ERROR_INIT;

    return store_version(st, &ignore);
}

int
hvf_store_begin(hvf_store *st, hvf_error *err)
{
    if (store_exec(st, st->kind == STORE_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", err) < 0)
        return -1;
    st->in_tx = true;
    return 0;
}

int
hvf_store_commit(hvf_store *st, hvf_error *err)
{
    int rc = store_exec(st, "COMMIT", err);

    if (rc < 0)
        hvf_store_rollback(st);
    st->in_tx = false;
    return rc;
}

void
hvf_store_rollback(hvf_store *st)
{
    hvf_error ignore = HVF_ERROR_INIT;

    (void)store_exec(st, "ROLLBACK", &ignore);
    st->in_tx = false;
}

/* ---- fencing: writes that act for a leader are taken only while its lease holds ---- */

void
hvf_store_fence(hvf_store *st, const char *holder, int64_t term)
{
    hvf_strlcpy(st->fence_holder, holder ? holder : "", sizeof(st->fence_holder));
    st->fence_term = holder ? term : 0;
}

/* Opens a transaction (when none is) in which the lease is checked and, on PostgreSQL, held
 * against a takeover until the commit; @own says whether fenced_end commits it. */
static int
fenced_begin(hvf_store *st, bool *own, hvf_error *err)
{
    store_q *q;
    int rc;

    *own = false;
    if (!st->fence_term)
        return 0;
    if (!st->in_tx) {
        if (hvf_store_begin(st, err) < 0)
            return -1;
        *own = true;
    }
    q = sq_prep(st,
                st->kind == STORE_SQLITE ? "SELECT 1 FROM lease WHERE holder = $1 AND term = $2 AND"
                                           " expires_ms > {now_ms}"
                                         : "SELECT 1 FROM lease WHERE holder = $1 AND term = $2 AND"
                                           " expires_ms > {now_ms} FOR SHARE",
                err);
    if (!q)
        rc = -1;
    else {
        sq_text(q, st->fence_holder);
        sq_int(q, st->fence_term);
        rc = sq_step(q, err);
        sq_free(q);
    }
    if (rc == 0)
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "store '%s': this controller (%s) no longer holds the lease of term %" PRId64
                      ": it does not act",
                      st->path, st->fence_holder, st->fence_term);
    if (rc != 1) {
        if (*own)
            hvf_store_rollback(st);
        *own = false;
        return -1;
    }
    return 0;
}

static int
fenced_end(hvf_store *st, bool own, int rc, hvf_error *err)
{
    if (!own)
        return rc;
    if (rc < 0) {
        hvf_store_rollback(st);
        return rc;
    }
    return hvf_store_commit(st, err);
}

/* ---- freeze ---- */

int
hvf_store_freeze_set(hvf_store *st, const char *reason, const char *by, int64_t at_unix,
                     hvf_error *err)
{
    store_q *q =
        sq_prep(st,
                "INSERT INTO \"freeze\" (id, reason, by, since_unix) VALUES (1, $1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET reason = excluded.reason,"
                " by = excluded.by, since_unix = excluded.since_unix",
                err);

    if (!q)
        return -1;
    sq_text(q, reason);
    sq_text(q, by && *by ? by : "unknown");
    sq_int(q, at_unix);
    return sq_run(q, err);
}

int
hvf_store_freeze_clear(hvf_store *st, hvf_error *err)
{
    return store_exec(st, "DELETE FROM \"freeze\"", err);
}

int
hvf_store_freeze_get(hvf_store *st, hvf_store_freeze *out, hvf_error *err)
{
    store_q *q = sq_prep(st, "SELECT reason, by, since_unix FROM \"freeze\"", err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -1;
    rc = sq_step(q, err);
    if (rc == 1) {
        out->frozen = true;
        sq_col_copy(q, 0, out->reason, sizeof(out->reason));
        sq_col_copy(q, 1, out->by, sizeof(out->by));
        out->since_unix = sq_col_int(q, 2);
    }
    sq_free(q);
    if (rc < 0)
        hvf_error_prefix(err, "reading the freeze: ");
    return rc < 0 ? -1 : 0;
}

/* ---- plans and approvals ---- */

int
hvf_store_plan_put(hvf_store *st, const char *hash, const char *kind, const char *author,
                   const char *text, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "INSERT INTO plans (hash, kind, author, made_unix, text)"
                         " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                         err);

    if (!q)
        return -1;
    sq_text(q, hash);
    sq_text(q, kind);
    sq_text(q, author);
    sq_int(q, (int64_t)time(NULL));
    if (text)
        sq_text(q, text);
    else
        sq_null(q);
    return sq_run(q, err);
}

int
hvf_store_plan_author(hvf_store *st, const char *hash, char *author, size_t len, hvf_error *err)
{
    store_q *q = sq_prep(st, "SELECT author FROM plans WHERE hash = $1", err);
    int rc;

    if (len)
        author[0] = '\0';
    if (!q)
        return -1;
    sq_text(q, hash);
    rc = sq_step(q, err);
    if (rc == 1)
        sq_col_copy(q, 0, author, len);
    sq_free(q);
    return rc;
}

char *
hvf_store_plan_text(hvf_store *st, const char *hash, hvf_error *err)
{
    store_q *q = sq_prep(st, "SELECT text FROM plans WHERE hash = $1", err);
    char *text = NULL;

    if (!q)
        return NULL;
    sq_text(q, hash);
    if (sq_step(q, err) == 1 && sq_col_text(q, 0))
        text = hvf_strdup(sq_col_text(q, 0));
    sq_free(q);
    return text;
}

int
hvf_store_approval_add(hvf_store *st, const hvf_store_approval *a, hvf_error *err)
{
    store_q *q = sq_prep(
        st, "INSERT INTO approvals (plan_hash, by, at_unix, verdict) VALUES ($1, $2, $3, $4)", err);

    if (!q)
        return -1;
    sq_text(q, a->plan_hash);
    sq_text(q, a->by);
    sq_int(q, a->at_unix);
    sq_text(q, a->verdict);
    if (sq_run(q, err) < 0) {
        if (err && err->code == HVF_ERR_CONFLICT)
            hvf_error_set(err, HVF_ERR_CONFLICT, "plan %.12s is already approved by '%s'",
                          a->plan_hash, a->by);
        return -1;
    }
    return 0;
}

/* Reads rows of @q into a grown array of @size-byte records with @fill; the count or -1. */
typedef void (*row_fill)(store_q *q, void *rec);

static long
store_rows(store_q *q, void **out, size_t size, row_fill fill, const char *what, hvf_error *err)
{
    size_t n = 0, cap = 0;
    char *arr = NULL;
    int rc;

    *out = NULL;
    if (!q)
        return -1;
    while ((rc = sq_step(q, err)) == 1) {
        hvf_grow(&arr, &cap, n + 1, size);
        memset(arr + n * size, 0, size);
        fill(q, arr + n * size);
        n++;
    }
    sq_free(q);
    if (rc < 0) {
        free(arr);
        hvf_error_prefix(err, "reading %s: ", what);
        return -1;
    }
    *out = arr;
    return (long)n;
}

static void
approval_fill(store_q *q, void *rec)
{
    hvf_store_approval *a = rec;

    sq_col_copy(q, 0, a->plan_hash, sizeof(a->plan_hash));
    sq_col_copy(q, 1, a->by, sizeof(a->by));
    a->at_unix = sq_col_int(q, 2);
    sq_col_copy(q, 3, a->verdict, sizeof(a->verdict));
}

long
hvf_store_approvals(hvf_store *st, const char *hash, hvf_store_approval **out, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "SELECT plan_hash, by, at_unix, verdict FROM approvals"
                         " WHERE plan_hash = $1 ORDER BY at_unix, {order}",
                         err);

    *out = NULL;
    if (q)
        sq_text(q, hash);
    return store_rows(q, (void **)out, sizeof(**out), approval_fill, "approvals", err);
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
    bool own;
    store_q *q;

    if (fenced_begin(st, &own, err) < 0)
        return -1;
    q = sq_prep(st,
                "INSERT INTO runs (plan_hash, state, control, started_unix, updated_unix, pid,"
                " driver_uri, plan_path, inventory_path, record_path, note)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                err);
    if (!q)
        return fenced_end(st, own, -1, err);
    run->started_unix = run->updated_unix = (int64_t)time(NULL);
    sq_text(q, run->plan_hash);
    sq_text(q, hvf_store_run_state_names[run->state]);
    sq_text(q, hvf_store_control_names[run->control]);
    sq_int(q, run->started_unix);
    sq_int(q, run->updated_unix);
    sq_int(q, run->pid);
    sq_text(q, run->driver_uri);
    sq_text(q, run->plan_path);
    sq_text(q, run->inventory_path);
    sq_text(q, run->record_path);
    sq_text(q, run->note);
    return fenced_end(st, own, sq_run_returning(q, &run->id, err), err);
}

int
hvf_store_run_update(hvf_store *st, const hvf_store_run *run, hvf_error *err)
{
    bool own;
    store_q *q;

    if (fenced_begin(st, &own, err) < 0)
        return -1;
    /* an abort an operator asked for is never written over: the executor may write its own
     * view of the run between the request and its next read of it */
    q = sq_prep(st,
                "UPDATE runs SET state = $1, control = CASE WHEN control IN"
                " ('abort', 'abort-cancel') THEN control ELSE $2 END, pid = $3,"
                " note = $4, record_path = $5, updated_unix = $6 WHERE id = $7",
                err);
    if (!q)
        return fenced_end(st, own, -1, err);
    sq_text(q, hvf_store_run_state_names[run->state]);
    sq_text(q, hvf_store_control_names[run->control]);
    sq_int(q, run->pid);
    sq_text(q, run->note);
    sq_text(q, run->record_path);
    sq_int(q, (int64_t)time(NULL));
    sq_int(q, run->id);
    return fenced_end(st, own, sq_run(q, err), err);
}

#define RUN_COLS                                                                                   \
    "SELECT id, plan_hash, state, control, started_unix, updated_unix, pid, driver_uri,"           \
    " plan_path, inventory_path, record_path, note FROM runs"

int
hvf_store_run_get(hvf_store *st, int64_t id, hvf_store_run *out, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         id > 0 ? RUN_COLS " WHERE id = $1"
                                : RUN_COLS " WHERE state IN ('running', 'paused')"
                                           " ORDER BY id DESC LIMIT 1",
                         err);
    char state[32], control[32];
    int rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -1;
    if (id > 0)
        sq_int(q, id);
    rc = sq_step(q, err);
    if (rc == 1) {
        out->id = sq_col_int(q, 0);
        sq_col_copy(q, 1, out->plan_hash, sizeof(out->plan_hash));
        sq_col_copy(q, 2, state, sizeof(state));
        sq_col_copy(q, 3, control, sizeof(control));
        out->started_unix = sq_col_int(q, 4);
        out->updated_unix = sq_col_int(q, 5);
        out->pid = sq_col_int(q, 6);
        sq_col_copy(q, 7, out->driver_uri, sizeof(out->driver_uri));
        sq_col_copy(q, 8, out->plan_path, sizeof(out->plan_path));
        sq_col_copy(q, 9, out->inventory_path, sizeof(out->inventory_path));
        sq_col_copy(q, 10, out->record_path, sizeof(out->record_path));
        sq_col_copy(q, 11, out->note, sizeof(out->note));
        out->state = (hvf_store_run_state)name_index(hvf_store_run_state_names, state);
        out->control = (hvf_store_control)name_index(hvf_store_control_names, control);
        if ((int)out->state < 0 || (int)out->control < 0) {
            sq_free(q);
            hvf_error_set(err, HVF_ERR_IO, "store '%s': run %" PRId64 " has state '%s', control "
                          "'%s': not a state this hvfleet knows", st->path, out->id, state,
                          control);
            return -1;
        }
    }
    sq_free(q);
    if (rc < 0)
        hvf_error_prefix(err, "reading runs: ");
    return rc;
}

int
hvf_store_run_of_plan(hvf_store *st, const char *plan_hash, hvf_store_run *out, hvf_error *err)
{
    store_q *q =
        sq_prep(st, "SELECT id FROM runs WHERE plan_hash = $1 ORDER BY id DESC LIMIT 1", err);
    int64_t id = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -1;
    sq_text(q, plan_hash);
    rc = sq_step(q, err);
    if (rc == 1)
        id = sq_col_int(q, 0);
    sq_free(q);
    if (rc < 0)
        return -1;
    return id > 0 ? hvf_store_run_get(st, id, out, err) : 0;
}

int
hvf_store_run_set_control(hvf_store *st, int64_t id, hvf_store_control c, hvf_error *err)
{
    store_q *q = sq_prep(st, "UPDATE runs SET control = $1, updated_unix = $2 WHERE id = $3", err);

    if (!q)
        return -1;
    sq_text(q, hvf_store_control_names[c]);
    sq_int(q, (int64_t)time(NULL));
    sq_int(q, id);
    return sq_run(q, err);
}

/* ---- journal ---- */

int
hvf_store_journal_append(hvf_store *st, hvf_store_entry *e, hvf_error *err)
{
    bool own;
    store_q *q;

    if (fenced_begin(st, &own, err) < 0)
        return -1;
    q = sq_prep(st,
                "INSERT INTO journal (run, kind, intent, t_us, action, vm, host, target, job,"
                " result, detail, controller, term) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                " $10, $11, $12, $13) RETURNING seq",
                err);
    if (!q)
        return fenced_end(st, own, -1, err);
    hvf_strlcpy(e->controller, st->fence_holder, sizeof(e->controller));
    e->term = st->fence_term;
    sq_int(q, e->run);
    sq_text(q, entry_kind_names[e->kind]);
    sq_int(q, e->intent);
    sq_int(q, e->t_us);
    sq_text(q, e->action);
    sq_text(q, e->vm);
    sq_text(q, e->host);
    sq_text(q, e->target);
    sq_int(q, e->job);
    sq_text(q, e->result);
    sq_text(q, e->detail);
    sq_text(q, e->controller);
    sq_int(q, e->term);
    return fenced_end(st, own, sq_run_returning(q, &e->seq, err), err);
}

static void
entry_fill(store_q *q, void *rec)
{
    hvf_store_entry *e = rec;
    char kind[16];
    int k;

    e->seq = sq_col_int(q, 0);
    e->run = sq_col_int(q, 1);
    sq_col_copy(q, 2, kind, sizeof(kind));
    k = name_index(entry_kind_names, kind);
    e->kind = k < 0 ? HVF_STORE_NOTE : (hvf_store_entry_kind)k;
    e->intent = sq_col_int(q, 3);
    e->t_us = sq_col_int(q, 4);
    sq_col_copy(q, 5, e->action, sizeof(e->action));
    sq_col_copy(q, 6, e->vm, sizeof(e->vm));
    sq_col_copy(q, 7, e->host, sizeof(e->host));
    sq_col_copy(q, 8, e->target, sizeof(e->target));
    e->job = sq_col_int(q, 9);
    sq_col_copy(q, 10, e->result, sizeof(e->result));
    sq_col_copy(q, 11, e->detail, sizeof(e->detail));
    sq_col_copy(q, 12, e->controller, sizeof(e->controller));
    e->term = sq_col_int(q, 13);
}

long
hvf_store_journal(hvf_store *st, int64_t run, hvf_store_entry **out, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "SELECT seq, run, kind, intent, t_us, action, vm, host, target, job,"
                         " result, detail, controller, term FROM journal WHERE run = $1"
                         " ORDER BY seq",
                         err);

    if (q)
        sq_int(q, run);
    return store_rows(q, (void **)out, sizeof(**out), entry_fill, "the journal", err);
}

/* ---- claims ---- */

int
hvf_store_claim_add(hvf_store *st, int64_t run, const hvf_store_claim *c, hvf_error *err)
{
    bool own;
    store_q *q;

    if (fenced_begin(st, &own, err) < 0)
        return -1;
    q = sq_prep(st,
                "INSERT INTO claims (run, vm, host, mem_mib, vcpus, job) VALUES ($1, $2, $3, $4,"
                " $5, $6) ON CONFLICT (run, vm) DO UPDATE SET host = excluded.host,"
                " mem_mib = excluded.mem_mib, vcpus = excluded.vcpus, job = excluded.job",
                err);
    if (!q)
        return fenced_end(st, own, -1, err);
    sq_int(q, run);
    sq_text(q, c->vm);
    sq_text(q, c->host);
    sq_int(q, (int64_t)c->mem_mib);
    sq_int(q, c->vcpus);
    sq_int(q, c->job);
    return fenced_end(st, own, sq_run(q, err), err);
}

int
hvf_store_claim_drop(hvf_store *st, int64_t run, const char *vm, hvf_error *err)
{
    bool own;
    store_q *q;

    if (fenced_begin(st, &own, err) < 0)
        return -1;
    q = sq_prep(st, "DELETE FROM claims WHERE run = $1 AND vm = $2", err);
    if (!q)
        return fenced_end(st, own, -1, err);
    sq_int(q, run);
    sq_text(q, vm);
    return fenced_end(st, own, sq_run(q, err), err);
}

static void
claim_fill(store_q *q, void *rec)
{
    hvf_store_claim *c = rec;

    sq_col_copy(q, 0, c->vm, sizeof(c->vm));
    sq_col_copy(q, 1, c->host, sizeof(c->host));
    c->mem_mib = (uint64_t)sq_col_int(q, 2);
    c->vcpus = (uint32_t)sq_col_int(q, 3);
    c->job = sq_col_int(q, 4);
}

long
hvf_store_claims(hvf_store *st, int64_t run, hvf_store_claim **out, hvf_error *err)
{
    store_q *q = sq_prep(
        st, "SELECT vm, host, mem_mib, vcpus, job FROM claims WHERE run = $1 ORDER BY vm", err);

    if (q)
        sq_int(q, run);
    return store_rows(q, (void **)out, sizeof(**out), claim_fill, "claims", err);
}

long
hvf_store_runs(hvf_store *st, const char *state, size_t limit, hvf_store_run **out,
               hvf_error *err)
{
    bool unfinished = state && strcmp(state, "unfinished") == 0;
    store_q *q = sq_prep(st,
                         !state       ? "SELECT id FROM runs ORDER BY id DESC LIMIT $1"
                         : unfinished ? "SELECT id FROM runs WHERE state IN ('running', 'paused')"
                                        " ORDER BY id DESC LIMIT $1"
                                      : "SELECT id FROM runs WHERE state = $1 ORDER BY id DESC"
                                        " LIMIT $2",
                         err);
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!q)
        return -1;
    if (state && !unfinished)
        sq_text(q, state);
    sq_int(q, (int64_t)limit);
    while ((rc = sq_step(q, err)) == 1) {
        hvf_grow(&ids, &cap, n + 1, sizeof(*ids));
        ids[n++] = sq_col_int(q, 0);
    }
    sq_free(q);
    if (rc < 0) {
        free(ids);
        hvf_error_prefix(err, "listing runs: ");
        return -1;
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
    store_q *q = sq_prep(st,
                         "INSERT INTO tokens (name, role, host, sha256, created_unix, by)"
                         " VALUES ($1, $2, $3, $4, $5, $6)",
                         err);

    if (!q)
        return -1;
    sq_text(q, t->name);
    sq_text(q, t->role);
    sq_text(q, t->host);
    sq_text(q, t->sha256);
    sq_int(q, t->created_unix);
    sq_text(q, t->by);
    if (sq_run(q, err) < 0) {
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
    store_q *q = sq_prep(st, "DELETE FROM tokens WHERE name = $1", err);
    int64_t changed;

    if (!q)
        return -1;
    sq_text(q, name);
    if (sq_step(q, err) < 0) {
        sq_free(q);
        return -1;
    }
    changed = sq_changes(q);
    sq_free(q);
    if (changed == 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "no token named '%s' in '%s'", name, st->path);
        return -1;
    }
    return 0;
}

static void
token_fill(store_q *q, void *rec)
{
    hvf_store_token *t = rec;

    sq_col_copy(q, 0, t->name, sizeof(t->name));
    sq_col_copy(q, 1, t->role, sizeof(t->role));
    sq_col_copy(q, 2, t->host, sizeof(t->host));
    sq_col_copy(q, 3, t->sha256, sizeof(t->sha256));
    t->created_unix = sq_col_int(q, 4);
    sq_col_copy(q, 5, t->by, sizeof(t->by));
}

long
hvf_store_tokens(hvf_store *st, hvf_store_token **out, hvf_error *err)
{
    store_q *q = sq_prep(
        st, "SELECT name, role, host, sha256, created_unix, by FROM tokens ORDER BY name", err);

    return store_rows(q, (void **)out, sizeof(**out), token_fill, "tokens", err);
}

/* ---- events ---- */

int
hvf_store_event_add(hvf_store *st, const char *type, int64_t run, const char *data,
                    int64_t *seq, hvf_error *err)
{
    store_q *q = sq_prep(
        st, "INSERT INTO events (at_unix, type, run, data) VALUES ($1, $2, $3, $4) RETURNING seq",
        err);

    if (!q)
        return -1;
    sq_int(q, (int64_t)time(NULL));
    sq_text(q, type);
    sq_int(q, run);
    sq_text(q, data && *data ? data : "{}");
    return sq_run_returning(q, seq, err);
}

static void
event_fill(store_q *q, void *rec)
{
    hvf_store_event *e = rec;
    const char *data = sq_col_text(q, 4);

    e->seq = sq_col_int(q, 0);
    e->at_unix = sq_col_int(q, 1);
    sq_col_copy(q, 2, e->type, sizeof(e->type));
    e->run = sq_col_int(q, 3);
    e->data = hvf_strdup(data ? data : "{}");
}

long
hvf_store_events(hvf_store *st, int64_t since, size_t limit, hvf_store_event **out,
                 hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "SELECT seq, at_unix, type, run, data FROM events"
                         " WHERE seq > $1 ORDER BY seq LIMIT $2",
                         err);

    if (q) {
        sq_int(q, since);
        sq_int(q, (int64_t)(limit ? limit : 1));
    }
    return store_rows(q, (void **)out, sizeof(**out), event_fill, "events", err);
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
    hvf_error ignore = HVF_ERROR_INIT;
    store_q *q = sq_prep(st, "SELECT COALESCE(MAX(seq), 0) FROM events", &ignore);
    int64_t seq = -1;

    if (q && sq_step(q, &ignore) == 1)
        seq = sq_col_int(q, 0);
    sq_free(q);
    return seq;
}
