/* SPDX-License-Identifier: MIT */
/*
 * The store's two databases behind one small query interface: SQLite (a file in the state
 * directory, the default) and PostgreSQL (libpq, for several controllers).
 *
 * Contract: SQL is written once with $1, $2, ... parameters and two tokens the backend
 * replaces: {now_ms} (the database's clock in milliseconds since the epoch: a lease's expiry
 * is judged by one clock, the database's, whichever controller reads it) and {order} (a
 * column giving insertion order: SQLite's rowid, PostgreSQL's `n`). Every value is bound as
 * text or a 64-bit integer. A unique or check constraint refused is HVF_ERR_CONFLICT; every
 * other failure is HVF_ERR_IO naming the store. Internal to src/store.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/error.h"
#include "hvfleet/store.h"

typedef enum store_kind { STORE_SQLITE, STORE_PG } store_kind;

struct hvf_store {
    store_kind kind;
    void *db;   /* sqlite3 * or PGconn * */
    char *dir;  /* owned: the state directory (SQLite) or the URI without its password */
    char *path; /* owned: what messages name (the database file, or that URI) */
    bool in_tx;
    char fence_holder[64]; /* hvf_store_fence */
    int64_t fence_term;
};

typedef struct store_q store_q;

/* Opens the database of @st->path; sets @st->db. */
int store_db_open_sqlite(hvf_store *st, hvf_error *err);
int store_db_open_pg(hvf_store *st, const char *uri, hvf_error *err);
void store_db_close(hvf_store *st);

/* Runs a script of statements without parameters (migrations, BEGIN, COMMIT). */
int store_exec(hvf_store *st, const char *sql, hvf_error *err);

store_q *sq_prep(hvf_store *st, const char *sql, hvf_error *err);
void sq_int(store_q *q, int64_t v);
void sq_text(store_q *q, const char *v); /* NULL binds '' */
void sq_null(store_q *q);
/* 1: a row is ready, 0: no more rows, -1: error (@err set). */
int sq_step(store_q *q, hvf_error *err);
int64_t sq_col_int(store_q *q, int i);
const char *sq_col_text(store_q *q, int i); /* NULL when SQL NULL */
void sq_col_copy(store_q *q, int i, char *dst, size_t len);
/* Rows the last statement changed. */
int64_t sq_changes(store_q *q);
void sq_free(store_q *q);
/* Steps @q until it is done, frees it; 0 or -1. */
int sq_run(store_q *q, hvf_error *err);
/* sq_run for an INSERT ... RETURNING: the first column of its row into @id (may be NULL). */
int sq_run_returning(store_q *q, int64_t *id, hvf_error *err);
