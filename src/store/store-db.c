/* SPDX-License-Identifier: MIT */
/* The store's query interface on SQLite and on PostgreSQL (store-db.h). */
#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "store/store-db.h"

#define SQ_MAX_PARAMS 16

struct store_q {
    hvf_store *st;
    char *sql; /* owned, as the backend reads it */
    int nparams;
    /* SQLite */
    sqlite3_stmt *stmt;
    /* PostgreSQL: parameters as text, the whole result at once */
    char *params[SQ_MAX_PARAMS];
    PGresult *res;
    int row, nrows;
    int64_t changes;
};

static const char *
now_ms_sql(store_kind k)
{
    return k == STORE_SQLITE ? "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
                             : "(extract(epoch from clock_timestamp()) * 1000)::bigint";
}

/* The SQL with its tokens replaced and, for SQLite, $N written ?N. */
static char *
sq_rewrite(store_kind k, const char *sql)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    for (const char *p = sql; *p; p++) {
        if (strncmp(p, "{now_ms}", 8) == 0) {
            hvf_strbuf_puts(&sb, now_ms_sql(k));
            p += 7;
        } else if (strncmp(p, "{order}", 7) == 0) {
            hvf_strbuf_puts(&sb, k == STORE_SQLITE ? "rowid" : "n");
            p += 6;
        } else if (*p == '$' && k == STORE_SQLITE && isdigit((unsigned char)p[1])) {
            hvf_strbuf_add(&sb, "?", 1);
        } else {
            hvf_strbuf_add(&sb, p, 1);
        }
    }
    return hvf_strbuf_steal(&sb);
}

/* libpq's messages end with a newline and may span lines: the first line is the message. */
static void
pg_msg(const char *m, char *dst, size_t len)
{
    size_t n = m ? strcspn(m, "\n") : 0;

    snprintf(dst, len, "%.*s", (int)n, m ? m : "");
    if (!*dst)
        snprintf(dst, len, "the server closed the connection");
}

int
store_db_open_sqlite(hvf_store *st, hvf_error *err)
{
    sqlite3 *db = NULL;

    st->kind = STORE_SQLITE;
    if (sqlite3_open_v2(st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        hvf_error_set(err, HVF_ERR_IO, "cannot open store '%s': %s", st->path,
                      db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    st->db = db;
    sqlite3_busy_timeout(db, 5000);
    return 0;
}

int
store_db_open_pg(hvf_store *st, const char *uri, hvf_error *err)
{
    /* Our bounds come first: the URI's own settings override them. A query never waits on a
     * dead server or a lock for long (a leader must notice in time that it cannot renew its
     * lease), and a process stopped inside a transaction (a stalled leader) does not hold the
     * lease row's lock for ever: the server ends such a session. */
    static const char *const keys[] = {"connect_timeout",
                                       "tcp_user_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "application_name",
                                       "options",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"5",
                          "5000",
                          "5",
                          "2",
                          "2",
                          "hvfleet",
                          "-c idle_in_transaction_session_timeout=5s -c lock_timeout=5s",
                          uri,
                          NULL};
    PGconn *c;
    char msg[512];

    st->kind = STORE_PG;
    c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        pg_msg(c ? PQerrorMessage(c) : "out of memory", msg, sizeof(msg));
        hvf_error_set(err, HVF_ERR_IO, "cannot open store '%s': %s", st->path, msg);
        PQfinish(c);
        return -1;
    }
    st->db = c;
    /* notices (e.g. "relation already exists, skipping") are not errors: not on stderr */
    PQsetNoticeProcessor(c, NULL, NULL);
    return 0;
}

void
store_db_close(hvf_store *st)
{
    if (!st->db)
        return;
    if (st->kind == STORE_SQLITE)
        sqlite3_close(st->db);
    else
        PQfinish(st->db);
    st->db = NULL;
}

/* A broken connection is opened again before the next statement, unless a transaction was
 * open on it (that transaction is lost: its caller must hear so). */
static void
pg_revive(hvf_store *st)
{
    if (PQstatus(st->db) == CONNECTION_BAD && !st->in_tx)
        PQreset(st->db);
}

static bool
pg_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);

    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/*
 * A statement that failed because the connection was found broken (the server restarted since
 * the last one): true, after reopening it, when @sql may simply be sent again: outside a
 * transaction, and a read or the BEGIN of one (every write of a leader's executor opens one),
 * which the server cannot have carried out. A write sent alone is not sent twice.
 */
static bool
pg_lost(hvf_store *st, const char *sql)
{
    if (PQstatus(st->db) != CONNECTION_BAD || st->in_tx ||
        (strncmp(sql, "SELECT", 6) != 0 && strncmp(sql, "BEGIN", 5) != 0))
        return false;
    PQreset(st->db);
    return PQstatus(st->db) == CONNECTION_OK;
}

static int
pg_fail(hvf_store *st, PGresult *res, hvf_error *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[512];

    pg_msg(res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(st->db),
           msg, sizeof(msg));
    hvf_error_set(err, state && strncmp(state, "23", 2) == 0 ? HVF_ERR_CONFLICT : HVF_ERR_IO,
                  "store '%s': %s", st->path, msg);
    return -1;
}

int
store_exec(hvf_store *st, const char *sql, hvf_error *err)
{
    if (st->kind == STORE_SQLITE) {
        char *msg = NULL;
        HVF_AUTOFREE char *text = sq_rewrite(st->kind, sql);

        if (sqlite3_exec(st->db, text, NULL, NULL, &msg) != SQLITE_OK) {
            hvf_error_set(err, HVF_ERR_IO, "store '%s': %s", st->path, msg ? msg : "error");
            sqlite3_free(msg);
            return -1;
        }
        return 0;
    }
    {
        HVF_AUTOFREE char *text = sq_rewrite(st->kind, sql);
        PGresult *res;
        int rc = 0;

        pg_revive(st);
        res = PQexec(st->db, text);
        if (!pg_ok(res) && pg_lost(st, text)) {
            PQclear(res);
            res = PQexec(st->db, text);
        }
        if (!pg_ok(res))
            rc = pg_fail(st, res, err);
        PQclear(res);
        return rc;
    }
}

store_q *
sq_prep(hvf_store *st, const char *sql, hvf_error *err)
{
    store_q *q = HVF_NEW(store_q);

    q->st = st;
    q->sql = sq_rewrite(st->kind, sql);
    q->row = -1;
    if (st->kind == STORE_SQLITE &&
        sqlite3_prepare_v2(st->db, q->sql, -1, &q->stmt, NULL) != SQLITE_OK) {
        hvf_error_set(err, HVF_ERR_IO, "store '%s': prepare: %s", st->path, sqlite3_errmsg(st->db));
        sq_free(q);
        return NULL;
    }
    return q;
}

static void
sq_param(store_q *q, char *text)
{
    if (q->nparams >= SQ_MAX_PARAMS) { /* a programming error: every statement is ours */
        free(text);
        abort();
    }
    q->params[q->nparams++] = text;
}

void
sq_int(store_q *q, int64_t v)
{
    if (q->st->kind == STORE_SQLITE)
        sqlite3_bind_int64(q->stmt, ++q->nparams, v);
    else
        sq_param(q, hvf_asprintf("%" PRId64, v));
}

void
sq_text(store_q *q, const char *v)
{
    if (q->st->kind == STORE_SQLITE)
        sqlite3_bind_text(q->stmt, ++q->nparams, v ? v : "", -1, SQLITE_TRANSIENT);
    else
        sq_param(q, hvf_strdup(v ? v : ""));
}

void
sq_null(store_q *q)
{
    if (q->st->kind == STORE_SQLITE)
        sqlite3_bind_null(q->stmt, ++q->nparams);
    else
        sq_param(q, NULL);
}

int
sq_step(store_q *q, hvf_error *err)
{
    hvf_store *st = q->st;

    if (st->kind == STORE_SQLITE) {
        int rc = sqlite3_step(q->stmt);

        if (rc == SQLITE_ROW)
            return 1;
        if (rc == SQLITE_DONE) {
            q->changes = sqlite3_changes(st->db);
            return 0;
        }
        hvf_error_set(err, rc == SQLITE_CONSTRAINT ? HVF_ERR_CONFLICT : HVF_ERR_IO,
                      "store '%s': %s", st->path, sqlite3_errmsg(st->db));
        return -1;
    }
    if (!q->res) {
        for (int tries = 0; tries < 2; tries++) {
            PQclear(q->res);
            pg_revive(st);
            q->res = PQexecParams(st->db, q->sql, q->nparams, NULL,
                                  (const char *const *)q->params, NULL, NULL, 0);
            if (pg_ok(q->res) || !pg_lost(st, q->sql))
                break;
        }
        if (!pg_ok(q->res))
            return pg_fail(st, q->res, err);
        q->nrows = PQntuples(q->res);
        q->changes = strtoll(PQcmdTuples(q->res), NULL, 10);
    }
    return ++q->row < q->nrows ? 1 : 0;
}

int64_t
sq_col_int(store_q *q, int i)
{
    if (q->st->kind == STORE_SQLITE)
        return sqlite3_column_int64(q->stmt, i);
    return strtoll(PQgetvalue(q->res, q->row, i), NULL, 10);
}

const char *
sq_col_text(store_q *q, int i)
{
    if (q->st->kind == STORE_SQLITE)
        return (const char *)sqlite3_column_text(q->stmt, i);
    return PQgetisnull(q->res, q->row, i) ? NULL : PQgetvalue(q->res, q->row, i);
}

void
sq_col_copy(store_q *q, int i, char *dst, size_t len)
{
    const char *v = sq_col_text(q, i);

    hvf_strlcpy(dst, v ? v : "", len);
}

int64_t
sq_changes(store_q *q)
{
    return q->changes;
}

void
sq_free(store_q *q)
{
    if (!q)
        return;
    sqlite3_finalize(q->stmt);
    for (int i = 0; i < q->nparams && q->st->kind == STORE_PG; i++)
        free(q->params[i]);
    PQclear(q->res);
    free(q->sql);
    free(q);
}

int
sq_run(store_q *q, hvf_error *err)
{
    int rc;

    while ((rc = sq_step(q, err)) == 1)
        ;
    sq_free(q);
    return rc;
}

int
sq_run_returning(store_q *q, int64_t *id, hvf_error *err)
{
    int rc = sq_step(q, err);

    if (rc == 1 && id)
        *id = sq_col_int(q, 0);
    if (rc != 1) {
        if (rc == 0)
            hvf_error_set(err, HVF_ERR_INTERNAL, "store '%s': an insert returned no row",
                          q->st->path);
        sq_free(q);
        return -1;
    }
    return sq_run(q, err);
}
