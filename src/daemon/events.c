/* SPDX-License-Identifier: MIT */
/*
 * The event feed over HTTP: GET /v1/events?since=SEQ (long-poll) and /v1/events/stream (SSE).
 * The store's events table is the feed (read by seq, indexed); a tailer thread watches its
 * newest seq and wakes the connections waiting for more. A waiting connection is suspended in
 * libmicrohttpd, so it holds no thread: a thousand followers cost a thousand sockets, not a
 * thousand threads (seed 001).
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"

#define EV_MAX_WAITERS 64
#define EV_KEEPALIVE_MS 15000

struct hvfd_waiter {
    hvfd_waiter *next;
    hvfd *d;
    struct MHD_Connection *conn;
    bool sse;
    int64_t since;       /* the last seq sent */
    size_t limit;        /* long-poll: events an answer holds at most */
    int64_t deadline_ms; /* long-poll: answer (maybe empty) by then */
    int64_t keepalive_ms;
    bool suspended;      /* under ev_lock */
    atomic_bool closed;  /* the response is gone: the tailer frees it */
    bool finished;       /* long-poll: the answer is written */
    hvf_strbuf out;      /* what is to be sent */
    size_t out_off;
    /* a parked answer (hvfd_park): not the feed's */
    const hvfd_park_ops *park;
    void *park_ctx;
};

static json_t *
ev_json(const hvf_store_event *e)
{
    json_t *data = json_loads(e->data, 0, NULL);

    return json_pack("{s:I, s:I, s:s, s:I, s:o}", "seq", (json_int_t)e->seq, "at_unix",
                     (json_int_t)e->at_unix, "type", e->type, "run", (json_int_t)e->run, "data",
                     data ? data : json_object());
}

/* Events after @since, at most @limit, as JSON objects appended to @arr, read from the store
 * (indexed by seq: cheap), so that a writer reads its own event at once. Returns the last seq
 * added (@since when none), -1 on a store error. */
static int64_t
ev_collect(hvfd *d, int64_t since, size_t limit, json_t *arr)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    hvf_store_event *evs = NULL;
    long n = st ? hvf_store_events(st, since, limit, &evs, &err) : -1;
    int64_t last = since;

    hvfd_store_put(d, st);
    if (n < 0)
        return -1;
    for (long i = 0; i < n; i++) {
        json_array_append_new(arr, ev_json(&evs[i]));
        last = evs[i].seq;
    }
    hvf_store_events_free(evs, (size_t)n);
    return last;
}

static bool
ev_has_news(hvfd *d, int64_t since)
{
    return d->ev_last > since; /* under ev_lock */
}

static void
ev_waiter_free(hvfd_waiter *w)
{
    if (w->park && w->park->free)
        w->park->free(w->park_ctx);
    hvf_strbuf_clear(&w->out);
    free(w);
}

/* True when @w has something to send now. Under ev_lock. A parked answer is asked only when
 * @ask (hvfd_park_wake said something changed): the tailer's rounds check deadlines alone, so
 * 10,000 parked syncs cost nothing between commands. */
static bool
ev_ready_ask(hvfd *d, hvfd_waiter *w, int64_t now, bool ask)
{
    if (w->park)
        return now >= w->deadline_ms || (ask && w->park->ready(w->park_ctx));
    return ev_has_news(d, w->since) || (!w->sse && now >= w->deadline_ms) ||
           (w->sse && now >= w->keepalive_ms);
}

static bool
ev_ready(hvfd *d, hvfd_waiter *w, int64_t now)
{
    return ev_ready_ask(d, w, now, true);
}

/* ---- the tailer ---- */

/* Resumes the waiters of list @pw that have something to do (all of them with @all); frees
 * those whose response is gone. Under ev_lock. */
static void
ev_wake_list(hvfd *d, hvfd_waiter **pw, int64_t now, bool all, bool ask)
{
    while (*pw) {
        hvfd_waiter *w = *pw;

        if (atomic_load(&w->closed)) {
            *pw = w->next;
            if (!w->park)
                d->nstreams--;
            ev_waiter_free(w);
            continue;
        }
        if (w->suspended && (all || ev_ready_ask(d, w, now, ask))) {
            w->suspended = false;
            MHD_resume_connection(w->conn);
        }
        pw = &w->next;
    }
}

/* The feed's followers every round (10 a second); the parked answers (one per agent: 10,000)
 * when asked to (a command came) and otherwise 4 times a second for their deadlines, which are
 * seconds away. Under ev_lock. */
static void
ev_wake(hvfd *d, bool all)
{
    int64_t now = hvfd_mono_ms();
    bool ask = d->park_kick;

    d->park_kick = false;
    ev_wake_list(d, &d->waiters, now, all, false);
    if (all || ask || now - d->parked_swept_ms >= 250) {
        d->parked_swept_ms = now;
        ev_wake_list(d, &d->parked, now, all, ask);
    }
}

void *
hvfd_tailer_main(void *arg)
{
    hvfd *d = arg;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    int64_t last;

    last = st ? hvf_store_event_last(st) : 0;
    pthread_mutex_lock(&d->ev_lock);
    d->ev_last = last > 0 ? last : 0;
    pthread_mutex_unlock(&d->ev_lock);
    while (!atomic_load(&d->stopping)) {
        int64_t now_last = st ? hvf_store_event_last(st) : -1;
        struct timespec until;

        hvfd_agents_tick(d);
        pthread_mutex_lock(&d->ev_lock);
        if (now_last > d->ev_last)
            d->ev_last = now_last;
        ev_wake(d, false);
        if (!atomic_load(&d->stopping)) {
            hvfd_deadline(&until, 100);
            pthread_cond_timedwait(&d->ev_cond, &d->ev_lock, &until);
        }
        pthread_mutex_unlock(&d->ev_lock);
    }
    /* stopping: every waiter is resumed once more and ends; libmicrohttpd may not stop with a
     * connection suspended */
    pthread_mutex_lock(&d->ev_lock);
    ev_wake(d, true);
    pthread_mutex_unlock(&d->ev_lock);
    hvfd_store_put(d, st);
    return NULL;
}

void
hvfd_events_clear(hvfd *d)
{
    while (d->waiters) {
        hvfd_waiter *w = d->waiters;

        d->waiters = w->next;
        ev_waiter_free(w);
    }
    while (d->parked) {
        hvfd_waiter *w = d->parked;

        d->parked = w->next;
        ev_waiter_free(w);
    }
}

/* ---- the two routes ---- */

/* Fills w->out with what is to be sent now. Returns false when there is nothing yet. */
static bool
ev_fill(hvfd_waiter *w)
{
    hvfd *d = w->d;
    json_t *arr = json_array();
    int64_t last = ev_collect(d, w->since, w->sse ? 100 : w->limit, arr);

    if (last < 0) { /* the store failed: end what we can */
        json_decref(arr);
        if (w->sse)
            hvf_strbuf_puts(&w->out, "event: error\ndata: {\"message\":\"the store failed\"}\n\n");
        w->finished = true;
        return true;
    }
    if (w->sse) {
        size_t i;
        json_t *e;

        json_array_foreach(arr, i, e) {
            char *text = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);

            hvf_strbuf_printf(&w->out, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n",
                              (int64_t)json_integer_value(json_object_get(e, "seq")),
                              json_string_value(json_object_get(e, "type")), text ? text : "{}");
            free(text);
        }
        if (!json_array_size(arr) && hvfd_mono_ms() >= w->keepalive_ms)
            hvf_strbuf_puts(&w->out, ": keepalive\n\n");
        if (w->out.len)
            w->keepalive_ms = hvfd_mono_ms() + EV_KEEPALIVE_MS;
    } else if (json_array_size(arr) || hvfd_mono_ms() >= w->deadline_ms ||
               atomic_load(&d->stopping)) {
        json_t *body = json_pack("{s:o, s:I}", "events", arr, "last", (json_int_t)last);
        char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);

        hvf_strbuf_puts(&w->out, text ? text : "{\"events\":[]}");
        hvf_strbuf_puts(&w->out, "\n");
        free(text);
        json_decref(body);
        w->finished = true;
        arr = NULL;
    }
    json_decref(arr);
    w->since = last;
    return w->out.len > w->out_off;
}

static ssize_t
ev_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    hvfd_waiter *w = cls;
    hvfd *d = w->d;
    size_t n;

    (void)pos;
    if (w->out_off == w->out.len && w->park) {
        w->out.len = w->out_off = 0;
        if (w->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&d->ev_lock);
        if (!atomic_load(&d->stopping) && !ev_ready(d, w, hvfd_mono_ms())) {
            w->suspended = true;
            MHD_suspend_connection(w->conn);
            pthread_mutex_unlock(&d->ev_lock);
            return 0;
        }
        pthread_mutex_unlock(&d->ev_lock);
        {
            json_t *body = w->park->answer(w->park_ctx);
            char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

            hvf_strbuf_puts(&w->out, text ? text : "{}");
            hvf_strbuf_puts(&w->out, "\n");
            free(text);
            json_decref(body);
            w->finished = true;
        }
    } else if (w->out_off == w->out.len) {
        w->out.len = w->out_off = 0;
        if (w->finished && !w->sse)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!ev_fill(w)) {
            pthread_mutex_lock(&d->ev_lock);
            if (atomic_load(&d->stopping)) {
                pthread_mutex_unlock(&d->ev_lock);
                return MHD_CONTENT_READER_END_OF_STREAM;
            }
            if (!ev_has_news(d, w->since)) {
                /* nothing yet: park the connection; the tailer resumes it */
                w->suspended = true;
                MHD_suspend_connection(w->conn);
                pthread_mutex_unlock(&d->ev_lock);
                return 0;
            }
            pthread_mutex_unlock(&d->ev_lock);
            return 0; /* news arrived meanwhile: called again at once */
        }
    }
    n = w->out.len - w->out_off;
    if (n > max)
        n = max;
    memcpy(buf, w->out.buf + w->out_off, n);
    w->out_off += n;
    return (ssize_t)n;
}

static void
ev_reader_free(void *cls)
{
    hvfd_waiter *w = cls;

    /* counted out at once, not when the tailer frees it, so that a busy daemon's count is of
     * the requests really parked */
    if (w->park)
        atomic_fetch_sub(&w->d->nparked, 1);
    atomic_store(&w->closed, true);
}

/* Parses ?since= and ?limit= and ?timeout=. Returns 0 or answers 400. */
static int
ev_args(hvfd_req *r, int64_t *since, size_t *limit, int64_t *timeout_ms)
{
    static const struct {
        const char *name;
        long long max;
    } args[] = {{"since", INT64_MAX}, {"limit", 1000}, {"timeout", 120}};
    long long v[3] = {-1, 100, 0};

    for (size_t i = 0; i < 3; i++) {
        HVF_AUTOFREE char *s = hvfd_query(r, args[i].name);
        char *end;

        if (!s)
            continue;
        errno = 0;
        v[i] = strtoll(s, &end, 10);
        if (errno || *end || end == s || v[i] < 0 || v[i] > args[i].max)
            return hvfd_fail(r, 400, args[i].name,
                             "?%s=%.40s: expected an integer from 0 to %lld", args[i].name, s,
                             args[i].max) - 1;
    }
    if (v[1] == 0)
        v[1] = 1;
    *since = v[0];
    *limit = (size_t)v[1];
    *timeout_ms = v[2] * 1000;
    return 0;
}

/* Answers @r 200 with what @w's reader writes as it comes, in blocks of @block bytes. */
static int
ev_respond(hvfd_req *r, hvfd_waiter *w, const char *ctype, size_t block)
{
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block,
                                                                  ev_reader, w, ev_reader_free);

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    r->response = resp;
    r->status = 200;
    r->answered = true;
    return 0;
}

static int
ev_wait(hvfd_req *r, hvfd_waiter *w)
{
    hvfd *d = r->d;

    pthread_mutex_lock(&d->ev_lock);
    if (d->nstreams >= EV_MAX_WAITERS) {
        pthread_mutex_unlock(&d->ev_lock);
        ev_waiter_free(w);
        r->retry_after_s = 5;
        return hvfd_fail(r, 429, NULL,
                         "%d followers of the event feed already: poll /v1/events without "
                         "?timeout, or retry later",
                         EV_MAX_WAITERS);
    }
    d->nstreams++;
    w->next = d->waiters;
    d->waiters = w;
    pthread_mutex_unlock(&d->ev_lock);
    return ev_respond(r, w, w->sse ? "text/event-stream" : "application/json", 16 * 1024);
}

int
hvfd_park(hvfd_req *r, int64_t wait_ms, const hvfd_park_ops *ops, void *ctx)
{
    hvfd *d = r->d;
    hvfd_waiter *w;

    pthread_mutex_lock(&d->ev_lock);
    if (atomic_load(&d->nparked) >= d->cfg.max_connections) {
        pthread_mutex_unlock(&d->ev_lock);
        if (ops->free)
            ops->free(ctx);
        r->retry_after_s = 5;
        return hvfd_fail(r, 429, NULL, "%u requests are waiting already: retry later",
                         atomic_load(&d->nparked));
    }
    w = HVF_NEW(hvfd_waiter);
    w->d = d;
    w->conn = r->conn;
    w->park = ops;
    w->park_ctx = ctx;
    w->deadline_ms = hvfd_mono_ms() + wait_ms;
    atomic_init(&w->closed, false);
    atomic_fetch_add(&d->nparked, 1);
    w->next = d->parked;
    d->parked = w;
    pthread_mutex_unlock(&d->ev_lock);
    /* a small block: parked answers are small, and there may be one per agent */
    return ev_respond(r, w, "application/json", 2048);
}

void
hvfd_park_wake(hvfd *d)
{
    pthread_mutex_lock(&d->ev_lock);
    d->park_kick = true;
    ev_wake(d, false);
    pthread_mutex_unlock(&d->ev_lock);
}

int
hvfd_api_events(hvfd_req *r)
{
    hvfd *d = r->d;
    int64_t since, timeout_ms;
    size_t limit;
    json_t *arr;
    int64_t last;
    hvfd_waiter *w;

    if (ev_args(r, &since, &limit, &timeout_ms) < 0)
        return 0;
    if (since < 0)
        since = 0;
    arr = json_array();
    last = ev_collect(d, since, limit, arr);
    if (last < 0) {
        json_decref(arr);
        return hvfd_fail(r, 500, NULL, "the store could not be read");
    }
    if (json_array_size(arr) || timeout_ms == 0)
        return hvfd_reply(r, 200,
                          json_pack("{s:o, s:I}", "events", arr, "last", (json_int_t)last));
    json_decref(arr);
    w = HVF_NEW(hvfd_waiter);
    w->d = d;
    w->conn = r->conn;
    w->since = since;
    w->limit = limit;
    w->deadline_ms = hvfd_mono_ms() + timeout_ms;
    atomic_init(&w->closed, false);
    return ev_wait(r, w);
}

int
hvfd_api_events_stream(hvfd_req *r)
{
    hvfd *d = r->d;
    int64_t since, timeout_ms;
    size_t limit;
    hvfd_waiter *w;
    const char *last_id = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                      "Last-Event-ID");

    if (ev_args(r, &since, &limit, &timeout_ms) < 0)
        return 0;
    if (last_id && since < 0) {
        char *end;

        errno = 0;
        since = strtoll(last_id, &end, 10);
        if (errno || *end || since < 0)
            return hvfd_fail(r, 400, "Last-Event-ID", "'%.40s': expected a sequence number",
                             last_id);
    }
    if (since < 0) { /* from now on */
        hvf_error err = HVF_ERROR_INIT;
        hvf_store *st = hvfd_store_get(d, &err);

        since = st ? hvf_store_event_last(st) : -1;
        hvfd_store_put(d, st);
        if (since < 0)
            return hvfd_fail_err(r, &err);
    }
    w = HVF_NEW(hvfd_waiter);
    w->d = d;
    w->conn = r->conn;
    w->sse = true;
    w->since = since;
    w->keepalive_ms = hvfd_mono_ms(); /* a first comment at once: the client sees it is connected */
    atomic_init(&w->closed, false);
    return ev_wait(r, w);
}
