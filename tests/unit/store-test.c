/* SPDX-License-Identifier: MIT */
/* The store: schema migrations, a newer schema refused, the journal append-only, approvals
 * kept, runs and claims, a damaged file refused rather than read, the leader's lease and its
 * fence. With HVF_TEST_PG=postgresql://... (tests/daemon/store-pg.py starts a server) the same
 * tests run on PostgreSQL, each on an emptied database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "hvfleet/alloc.h"
#include "hvfleet/store.h"

static char *
st_tmpdir(void)
{
    char *d = hvf_asprintf("%s/hvf-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

    assert_non_null(mkdtemp(d));
    return d;
}

static void
st_rmrf(const char *d)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", d);

    assert_int_equal(system(cmd), 0);
}

static const char *
pg_uri(void)
{
    const char *u = getenv("HVF_TEST_PG");

    return u && *u ? u : NULL;
}

/* Runs @sql on the database behind the store's back: 0, or -1 with the database's message. */
static int
st_sql(const char *loc, const char *sql, char *msg, size_t len)
{
    int rc = 0;

    if (msg && len)
        msg[0] = '\0';
    if (pg_uri()) {
        PGconn *c = PQconnectdb(loc);
        PGresult *res = PQexec(c, sql);

        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = -1;
            if (msg)
                snprintf(msg, len, "%s", PQerrorMessage(c));
        }
        PQclear(res);
        PQfinish(c);
    } else {
        HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", loc, HVF_STORE_FILE);
        sqlite3 *db;
        char *e = NULL;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
            rc = -1;
            if (msg)
                snprintf(msg, len, "%s", e ? e : "");
        }
        sqlite3_free(e);
        sqlite3_close(db);
    }
    return rc;
}

/* A store location of its own: a new directory, or the PostgreSQL database emptied. */
static char *
st_fresh(void)
{
    if (!pg_uri())
        return st_tmpdir();
    assert_int_equal(st_sql(pg_uri(), "DROP SCHEMA public CASCADE; CREATE SCHEMA public", NULL, 0),
                     0);
    return hvf_strdup(pg_uri());
}

static void
st_done(const char *loc)
{
    if (!pg_uri())
        st_rmrf(loc);
}

static void
test_records(void **state)
{
    HVF_AUTOFREE char *dir = st_fresh();
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvf_store_open(dir, &err);
    hvf_store_approval a = {0}, *list = NULL;
    hvf_store_run run = {0}, got;
    hvf_store_entry e = {0}, *j = NULL;
    hvf_store_claim c = {0}, *cl = NULL;
    char author[64], msg[512];

    (void)state;
    assert_non_null(st);
    assert_int_equal(hvf_store_schema_version(st), HVF_STORE_SCHEMA_VERSION);
    /* approvals: every one kept, the same person twice refused */
    hvf_strlcpy(a.plan_hash, "ab", sizeof(a.plan_hash));
    hvf_strlcpy(a.by, "alice", sizeof(a.by));
    hvf_strlcpy(a.verdict, "needs-approval", sizeof(a.verdict));
    assert_int_equal(hvf_store_approval_add(st, &a, &err), 0);
    assert_int_equal(hvf_store_approval_add(st, &a, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    hvf_strlcpy(a.by, "bob", sizeof(a.by));
    assert_int_equal(hvf_store_approval_add(st, &a, &err), 0);
    assert_int_equal(hvf_store_approvals(st, "ab", &list, &err), 2);
    assert_string_equal(list[0].by, "alice");
    assert_string_equal(list[1].by, "bob");
    free(list);
    /* plans: the first author stays */
    assert_int_equal(hvf_store_plan_put(st, "ab", "maintenance", "carol", "{}", &err), 0);
    assert_int_equal(hvf_store_plan_put(st, "ab", "maintenance", "dave", NULL, &err), 0);
    assert_int_equal(hvf_store_plan_author(st, "ab", author, sizeof(author), &err), 1);
    assert_string_equal(author, "carol");
    assert_int_equal(hvf_store_plan_author(st, "zz", author, sizeof(author), &err), 0);
    /* runs, the journal, claims */
    hvf_strlcpy(run.plan_hash, "ab", sizeof(run.plan_hash));
    assert_int_equal(hvf_store_run_add(st, &run, &err), 0);
    assert_int_equal(hvf_store_run_get(st, 0, &got, &err), 1);
    assert_int_equal(got.id, run.id);
    assert_int_equal(hvf_store_run_set_control(st, run.id, HVF_STORE_CONTROL_PAUSE, &err), 0);
    assert_int_equal(hvf_store_run_get(st, run.id, &got, &err), 1);
    assert_int_equal(got.control, HVF_STORE_CONTROL_PAUSE);
    e.run = run.id;
    e.kind = HVF_STORE_INTENT;
    hvf_strlcpy(e.action, "migrate", sizeof(e.action));
    hvf_strlcpy(e.vm, "v1", sizeof(e.vm));
    e.job = -1;
    assert_int_equal(hvf_store_journal_append(st, &e, &err), 0);
    assert_true(e.seq > 0);
    assert_int_equal(hvf_store_journal(st, run.id, &j, &err), 1);
    assert_string_equal(j[0].vm, "v1");
    assert_int_equal(j[0].kind, HVF_STORE_INTENT);
    free(j);
    hvf_strlcpy(c.vm, "v1", sizeof(c.vm));
    hvf_strlcpy(c.host, "h2", sizeof(c.host));
    c.mem_mib = 4096;
    assert_int_equal(hvf_store_claim_add(st, run.id, &c, &err), 0);
    assert_int_equal(hvf_store_claims(st, run.id, &cl, &err), 1);
    assert_int_equal(cl[0].mem_mib, 4096);
    free(cl);
    assert_int_equal(hvf_store_claim_drop(st, run.id, "v1", &err), 0);
    assert_int_equal(hvf_store_claims(st, run.id, &cl, &err), 0);
    free(cl);
    hvf_store_close(st);

    /* the journal is append-only, whoever writes to the database */
    assert_int_equal(st_sql(dir, "UPDATE journal SET vm = 'x'", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "append-only"));
    assert_int_equal(st_sql(dir, "DELETE FROM journal", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "append-only"));
    /* a database from a newer hvfleet is refused, not misread */
    assert_int_equal(st_sql(dir,
                            pg_uri() ? "UPDATE meta SET value = 99 WHERE key = 'schema_version'"
                                     : "PRAGMA user_version = 99",
                            msg, sizeof(msg)),
                     0);
    assert_null(hvf_store_open(dir, &err));
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "schema version 99"));
    st_done(dir);
}

static void
test_damaged(void **state)
{
    HVF_AUTOFREE char *dir = NULL;
    HVF_AUTOFREE char *path = NULL;
    hvf_error err = HVF_ERROR_INIT;
    FILE *fp;

    (void)state;
    if (pg_uri())
        skip(); /* a file of the state directory */
    dir = st_tmpdir();
    path = hvf_asprintf("%s/%s", dir, HVF_STORE_FILE);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("not a database at all, just some text long enough for a header.............", fp);
    fclose(fp);
    assert_null(hvf_store_open(dir, &err));
    assert_int_equal(err.code, HVF_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    /* a file where the directory should be */
    assert_null(hvf_store_open(path, &err));
    st_rmrf(dir);
}

/* Tokens by name and hash; the event feed gets every journal entry from the database itself. */
static void
test_tokens_events(void **state)
{
    HVF_AUTOFREE char *dir = st_fresh();
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvf_store_open(dir, &err);
    hvf_store_token t = {0}, *toks = NULL;
    hvf_store_run run = {0};
    hvf_store_entry e = {0};
    hvf_store_event *evs = NULL;
    int64_t seq = 0;
    long n;

    (void)state;
    assert_non_null(st);
    hvf_strlcpy(t.name, "alice", sizeof(t.name));
    hvf_strlcpy(t.role, "operator", sizeof(t.role));
    hvf_strlcpy(t.sha256, "aa", sizeof(t.sha256));
    assert_int_equal(hvf_store_token_add(st, &t, &err), 0);
    assert_int_equal(hvf_store_token_add(st, &t, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    hvf_strlcpy(t.name, "bob", sizeof(t.name));
    assert_int_equal(hvf_store_token_add(st, &t, &err), -1); /* the same hash twice */
    hvf_strlcpy(t.sha256, "bb", sizeof(t.sha256));
    assert_int_equal(hvf_store_token_add(st, &t, &err), 0);
    assert_int_equal(hvf_store_tokens(st, &toks, &err), 2);
    assert_string_equal(toks[1].name, "bob");
    free(toks);
    assert_int_equal(hvf_store_token_revoke(st, "alice", &err), 0);
    assert_int_equal(hvf_store_token_revoke(st, "alice", &err), -1);
    assert_int_equal(err.code, HVF_ERR_NOT_FOUND);

    /* an abort asked while the executor writes its own view of the run is not lost */
    assert_int_equal(hvf_store_run_add(st, &run, &err), 0);
    assert_int_equal(hvf_store_run_set_control(st, run.id, HVF_STORE_CONTROL_ABORT, &err), 0);
    run.control = HVF_STORE_CONTROL_NONE;
    assert_int_equal(hvf_store_run_update(st, &run, &err), 0);
    {
        hvf_store_run got;

        assert_int_equal(hvf_store_run_get(st, run.id, &got, &err), 1);
        assert_int_equal(got.control, HVF_STORE_CONTROL_ABORT);
    }
    memset(&run, 0, sizeof(run));
    assert_int_equal(hvf_store_event_last(st), 0);
    assert_int_equal(hvf_store_event_add(st, "freeze", 0, "{\"reason\":\"x\"}", &seq, &err), 0);
    assert_true(seq > 0);
    assert_int_equal(hvf_store_run_add(st, &run, &err), 0);
    e.run = run.id;
    e.kind = HVF_STORE_INTENT;
    hvf_strlcpy(e.action, "migrate", sizeof(e.action));
    hvf_strlcpy(e.vm, "vm-1", sizeof(e.vm));
    assert_int_equal(hvf_store_journal_append(st, &e, &err), 0);
    n = hvf_store_events(st, seq, 10, &evs, &err);
    assert_int_equal(n, 1);
    assert_string_equal(evs[0].type, "journal");
    assert_int_equal(evs[0].run, run.id);
    assert_non_null(strstr(evs[0].data, "\"vm\":\"vm-1\""));
    assert_non_null(strstr(evs[0].data, "\"action\":\"migrate\""));
    assert_int_equal(hvf_store_event_last(st), evs[0].seq);
    hvf_store_events_free(evs, (size_t)n);
    assert_int_equal(hvf_store_events(st, 0, 1, &evs, &err), 1); /* the limit holds */
    hvf_store_events_free(evs, 1);
    hvf_store_close(st);
    st_done(dir);
}

/* The lease: one holder at a time, renewals keep the term, a lapse or a release hands it over
 * with a new term; a fenced handle writes only under its own live lease. */
static void
test_lease(void **state)
{
    HVF_AUTOFREE char *dir = st_fresh();
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *a = hvf_store_open(dir, &err), *b = hvf_store_open(dir, &err);
    hvf_store_lease l;
    hvf_store_run run = {0};
    hvf_store_entry e = {0}, *j = NULL;
    hvf_store_claim c = {0};
    hvf_store_controller ctl = {0}, *ctls = NULL;
    int64_t now_ms;

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(hvf_store_lease_get(a, &l, &err), 0);
    assert_int_equal(hvf_store_lease_acquire(a, "c1/1", 60000, &l, &err), 1);
    assert_int_equal(l.term, 1);
    assert_true(l.expires_ms > l.now_ms);
    assert_int_equal(hvf_store_lease_acquire(b, "c2/1", 60000, &l, &err), 0);
    assert_string_equal(l.holder, "c1/1"); /* who holds it */
    assert_int_equal(hvf_store_lease_acquire(a, "c1/1", 60000, &l, &err), 1);
    assert_int_equal(l.term, 1); /* renewed, not taken again */
    /* writes under a fence: the holder's go, a stale term's are refused */
    hvf_store_fence(a, "c1/1", 1);
    assert_int_equal(hvf_store_run_add(a, &run, &err), 0);
    e.run = run.id;
    e.kind = HVF_STORE_INTENT;
    hvf_strlcpy(e.action, "migrate", sizeof(e.action));
    assert_int_equal(hvf_store_journal_append(a, &e, &err), 0);
    hvf_store_fence(b, "c2/1", 1);
    assert_int_equal(hvf_store_journal_append(b, &e, &err), -1);
    assert_int_equal(err.code, HVF_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "lease"));
    /* a release hands it over at once, with a new term; the old holder's writes stop */
    assert_int_equal(hvf_store_lease_release(a, "c1/1", 1, &err), 0);
    assert_int_equal(hvf_store_lease_acquire(b, "c2/1", 60000, &l, &err), 1);
    assert_int_equal(l.term, 2);
    hvf_store_fence(b, "c2/1", 2);
    hvf_strlcpy(c.vm, "v1", sizeof(c.vm));
    assert_int_equal(hvf_store_claim_add(a, run.id, &c, &err), -1);
    assert_int_equal(hvf_store_run_update(a, &run, &err), -1);
    assert_int_equal(hvf_store_journal_append(a, &e, &err), -1);
    assert_int_equal(hvf_store_claim_add(b, run.id, &c, &err), 0);
    assert_int_equal(hvf_store_journal_append(b, &e, &err), 0);
    assert_int_equal(hvf_store_journal(b, run.id, &j, &err), 2);
    assert_string_equal(j[0].controller, "c1/1");
    assert_int_equal(j[0].term, 1);
    assert_string_equal(j[1].controller, "c2/1");
    assert_int_equal(j[1].term, 2);
    free(j);
    /* a lease not renewed lapses: another takes it with the next term */
    assert_int_equal(hvf_store_lease_acquire(b, "c2/1", 1, &l, &err), 1);
    usleep(20000);
    assert_int_equal(hvf_store_journal_append(b, &e, &err), -1);
    assert_int_equal(hvf_store_lease_acquire(a, "c1/2", 60000, &l, &err), 1);
    assert_int_equal(l.term, 3);
    /* the controllers' heartbeats */
    hvf_strlcpy(ctl.name, "c1", sizeof(ctl.name));
    hvf_strlcpy(ctl.instance, "c1/2", sizeof(ctl.instance));
    hvf_strlcpy(ctl.url, "http://127.0.0.1:1", sizeof(ctl.url));
    assert_int_equal(hvf_store_controller_seen(a, &ctl, &err), 0);
    hvf_strlcpy(ctl.url, "http://127.0.0.1:2", sizeof(ctl.url));
    assert_int_equal(hvf_store_controller_seen(a, &ctl, &err), 0);
    assert_int_equal(hvf_store_controllers(b, &ctls, &now_ms, &err), 1);
    assert_string_equal(ctls[0].url, "http://127.0.0.1:2");
    assert_true(ctls[0].seen_ms <= now_ms && ctls[0].seen_ms > now_ms - 60000);
    free(ctls);
    hvf_store_close(a);
    hvf_store_close(b);
    st_done(dir);
}

/* A database server that does not answer: a clear error naming it, soon, no password shown. */
static void
test_unreachable(void **state)
{
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    assert_null(hvf_store_open("postgresql://hvf:secret@127.0.0.1:1/hvfleet", &err));
    assert_int_equal(err.code, HVF_ERR_IO);
    assert_non_null(strstr(err.msg, "postgresql://hvf:***@127.0.0.1:1/hvfleet"));
    assert_null(strstr(err.msg, "secret"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),       cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_tokens_events), cmocka_unit_test(test_lease),
        cmocka_unit_test(test_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
