/* SPDX-License-Identifier: MIT */
/* The leader's lease and the controllers' heartbeats (hvfleet/store.h, docs/controller-ha.md). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/store.h"
#include "store/store-db.h"

static void
lease_fill(store_q *q, hvf_store_lease *out)
{
    sq_col_copy(q, 0, out->holder, sizeof(out->holder));
    out->term = sq_col_int(q, 1);
    out->expires_ms = sq_col_int(q, 2);
    out->since_ms = sq_col_int(q, 3);
    out->now_ms = sq_col_int(q, 4);
}

int
hvf_store_lease_get(hvf_store *st, hvf_store_lease *out, hvf_error *err)
{
    store_q *q = sq_prep(st, "SELECT holder, term, expires_ms, since_ms, {now_ms} FROM lease", err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -1;
    rc = sq_step(q, err);
    if (rc == 1)
        lease_fill(q, out);
    sq_free(q);
    return rc;
}

int
hvf_store_lease_acquire(hvf_store *st, const char *holder, int64_t ttl_ms, hvf_store_lease *out,
                        hvf_error *err)
{
    /* Taken when free or lapsed (a new term), renewed when it is still ours (the same term);
     * the WHERE of the upsert leaves another's live lease alone and then returns no row. */
    store_q *q = sq_prep(
        st,
        "INSERT INTO lease (id, holder, term, expires_ms, since_ms)"
        " VALUES (1, $1, 1, {now_ms} + $2, {now_ms})"
        " ON CONFLICT (id) DO UPDATE SET"
        " term = CASE WHEN lease.holder = excluded.holder AND lease.expires_ms > {now_ms}"
        "   THEN lease.term ELSE lease.term + 1 END,"
        " since_ms = CASE WHEN lease.holder = excluded.holder AND lease.expires_ms > {now_ms}"
        "   THEN lease.since_ms ELSE {now_ms} END,"
        " holder = excluded.holder, expires_ms = excluded.expires_ms"
        " WHERE lease.holder = excluded.holder OR lease.expires_ms <= {now_ms}"
        " RETURNING holder, term, expires_ms, since_ms, {now_ms}",
        err);
    int rc;

    memset(out, 0, sizeof(*out));
    if (!q)
        return -1;
    sq_text(q, holder);
    sq_int(q, ttl_ms);
    rc = sq_step(q, err);
    if (rc == 1)
        lease_fill(q, out);
    rc = rc == 1 ? (sq_run(q, err) < 0 ? -1 : 1) : (sq_free(q), rc);
    if (rc == 0 && hvf_store_lease_get(st, out, err) < 0)
        return -1;
    return rc;
}

int
hvf_store_lease_release(hvf_store *st, const char *holder, int64_t term, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "UPDATE lease SET expires_ms = {now_ms} WHERE holder = $1 AND term = $2"
                         " AND expires_ms > {now_ms}",
                         err);

    if (!q)
        return -1;
    sq_text(q, holder);
    sq_int(q, term);
    return sq_run(q, err);
}

int
hvf_store_controller_seen(hvf_store *st, const hvf_store_controller *c, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "INSERT INTO controllers (name, instance, url, started_unix, seen_ms)"
                         " VALUES ($1, $2, $3, $4, {now_ms}) ON CONFLICT (name) DO UPDATE SET"
                         " instance = excluded.instance, url = excluded.url,"
                         " started_unix = excluded.started_unix, seen_ms = excluded.seen_ms",
                         err);

    if (!q)
        return -1;
    sq_text(q, c->name);
    sq_text(q, c->instance);
    sq_text(q, c->url);
    sq_int(q, c->started_unix);
    return sq_run(q, err);
}

long
hvf_store_controllers(hvf_store *st, hvf_store_controller **out, int64_t *now_ms, hvf_error *err)
{
    store_q *q = sq_prep(st,
                         "SELECT name, instance, url, started_unix, seen_ms, {now_ms}"
                         " FROM controllers ORDER BY name",
                         err);
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    if (!q)
        return -1;
    if (now_ms)
        *now_ms = 0;
    while ((rc = sq_step(q, err)) == 1) {
        hvf_store_controller *c;

        hvf_grow(out, &cap, n + 1, sizeof(**out));
        c = &(*out)[n++];
        memset(c, 0, sizeof(*c));
        sq_col_copy(q, 0, c->name, sizeof(c->name));
        sq_col_copy(q, 1, c->instance, sizeof(c->instance));
        sq_col_copy(q, 2, c->url, sizeof(c->url));
        c->started_unix = sq_col_int(q, 3);
        c->seen_ms = sq_col_int(q, 4);
        if (now_ms)
            *now_ms = sq_col_int(q, 5);
    }
    sq_free(q);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        hvf_error_prefix(err, "reading controllers: ");
        return -1;
    }
    return (long)n;
}
