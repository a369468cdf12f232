/* SPDX-License-Identifier: MIT */
/*
 * Several controllers on one PostgreSQL store (docs/controller-ha.md): one leads, the others
 * stand by. Leadership is a lease row in the store, taken and renewed by one statement on the
 * database's clock (hvf_store_lease_acquire). This file's thread renews it; the controller
 * thread acts only while hvfd_leading() holds, which ends on this process's monotonic clock a
 * second before the database could give the lease to another: a leader that cannot renew (the
 * store unreachable, this process stalled) stops acting before anyone else starts. What it
 * still tries to write after that is refused by the store (every run, claim and journal write
 * is fenced by the lease's term), so two controllers never act at once.
 *
 * Standbys answer the routes the store serves (runs, events, incidents, plans, freeze, the
 * cluster) and send every other request to the leader with a 307 (method and body kept); with
 * no leader, a 503 and Retry-After.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"

/* A leader stops acting this long before the database lets its lease go: the two clocks (this
 * process's monotonic one, the database's) may run apart by that much over a lease. */
#define LEASE_MARGIN_MS 1000
/* A leader that cannot open its driver lets the lease go and waits this long before it asks
 * for it again, so another controller gets its chance. */
#define HOLD_OFF_MS 5000

bool
hvfd_leading(hvfd *d)
{
    return !d->cluster || hvfd_mono_ms() < atomic_load(&d->lead_until_ms);
}

int64_t
hvfd_lead_term(hvfd *d)
{
    return d->cluster ? atomic_load(&d->lead_term) : 0;
}

const char *
hvfd_role(hvfd *d)
{
    return !d->cluster ? "single" : hvfd_leading(d) ? "leader" : "standby";
}

/* The lease and the controllers as the store has them now (for the leader's URL). */
static void
cluster_look(hvfd *d, hvf_store *st)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store_lease l;
    hvf_store_controller *cs = NULL;
    int64_t now_ms = 0;
    long n;
    int found = hvf_store_lease_get(st, &l, &err);

    if (found < 0)
        return;
    n = hvf_store_controllers(st, &cs, &now_ms, &err);
    pthread_mutex_lock(&d->lease_lock);
    d->lease_seen = l;
    d->leader_url[0] = d->leader_name[0] = '\0';
    if (found == 1 && l.expires_ms > l.now_ms)
        for (long i = 0; i < n; i++)
            if (strcmp(cs[i].instance, l.holder) == 0) {
                hvf_strlcpy(d->leader_url, cs[i].url, sizeof(d->leader_url));
                hvf_strlcpy(d->leader_name, cs[i].name, sizeof(d->leader_name));
            }
    pthread_mutex_unlock(&d->lease_lock);
    free(cs);
}

static void
cluster_wake_controller(hvfd *d)
{
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* One round: renew or take the lease, say we are alive, look at who leads. */
static void
cluster_round(hvfd *d, hvf_store **stp, int64_t *warned_ms)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store_lease l;
    int64_t t0 = hvfd_mono_ms();
    bool was = hvfd_leading(d);
    int rc = -1;
    hvf_store_controller me;

    if (!*stp)
        *stp = hvf_store_open(d->store_loc, &err);
    if (*stp && t0 >= atomic_load(&d->hold_off_until_ms))
        rc = hvf_store_lease_acquire(*stp, d->instance, d->cfg.lease_ttl_ms, &l, &err);
    else if (*stp)
        rc = hvf_store_lease_get(*stp, &l, &err) < 0 ? -1 : 0;
    if (rc == 1) {
        atomic_store(&d->lead_term, l.term);
        atomic_store(&d->lead_until_ms, t0 + (int64_t)d->cfg.lease_ttl_ms - LEASE_MARGIN_MS);
        if (!was) {
            hvfd_log(
                HVFD_INFO, "leading: this controller holds the lease",
                json_pack("{s:s, s:I}", "controller", d->ctl_name, "term", (json_int_t)l.term));
            hvfd_event(d, *stp, "controller", 0,
                       json_pack("{s:s, s:s, s:I, s:s}", "event", "lead", "controller", d->ctl_name,
                                 "term", (json_int_t)l.term, "url", d->url));
            cluster_wake_controller(d);
        }
    } else if (rc == 0) {
        if (was) { /* another holds it: our lease lapsed without our knowing */
            atomic_store(&d->lead_until_ms, 0);
            hvfd_log(HVFD_WARN, "standing by: another controller holds the lease",
                     json_pack("{s:s}", "holder", l.holder));
        }
    } else {
        if (t0 - *warned_ms >= 10000) {
            hvfd_log(HVFD_WARN,
                     "cannot renew or take the lease (a leader stops acting when it "
                     "lapses)",
                     json_pack("{s:s, s:b}", "error", err.msg, "leading", was));
            *warned_ms = t0;
        }
        hvf_store_close(*stp); /* a fresh connection next round */
        *stp = NULL;
        return;
    }
    memset(&me, 0, sizeof(me));
    hvf_strlcpy(me.name, d->ctl_name, sizeof(me.name));
    hvf_strlcpy(me.instance, d->instance, sizeof(me.instance));
    hvf_strlcpy(me.url, d->url, sizeof(me.url));
    me.started_unix = d->started_unix;
    if (hvf_store_controller_seen(*stp, &me, &err) < 0)
        hvfd_log(HVFD_WARN, "cannot record this controller's heartbeat",
                 json_pack("{s:s}", "error", err.msg));
    cluster_look(d, *stp);
}

static void *
cluster_main(void *arg)
{
    hvfd *d = arg;
    hvf_store *st = NULL;
    int64_t warned_ms = -100000;

    while (!atomic_load(&d->stopping)) {
        struct timespec until;
        bool leading;

        cluster_round(d, &st, &warned_ms);
        leading = hvfd_leading(d);
        /* a standby asks every renewal too: it takes over within one period of the lapse */
        hvfd_deadline(&until, (int)d->cfg.lease_renew_ms);
        pthread_mutex_lock(&d->lease_lock);
        while (!atomic_load(&d->stopping) &&
               pthread_cond_timedwait(&d->lease_cond, &d->lease_lock, &until) == 0)
            ;
        pthread_mutex_unlock(&d->lease_lock);
        if (leading && !hvfd_leading(d))
            hvfd_log(HVFD_WARN, "the lease lapsed before it was renewed: stopped acting",
                     json_pack("{s:s}", "controller", d->ctl_name));
    }
    hvf_store_close(st);
    return NULL;
}

int
hvfd_cluster_start(hvfd *d, hvf_error *err)
{
    uint32_t inc = 0;
    char host[64] = "hvfleetd";
    const char *lh = d->cfg.listen_host;
    bool any = strcmp(lh, "0.0.0.0") == 0 || strcmp(lh, "::") == 0 || !*lh;

    char q[64];

    if (d->cfg.name && !hvfd_controller_name_ok(d->cfg.name)) {
        hvf_quote_value(d->cfg.name, strlen(d->cfg.name), q, sizeof(q));
        hvf_error_set(err, HVF_ERR_INVALID,
                      "name %s: expected 1 to 48 letters, digits, '.', '_', ':' or '-'", q);
        return -1;
    }
    if (d->cfg.advertise_url && !hvfd_url_ok(d->cfg.advertise_url)) {
        hvf_quote_value(d->cfg.advertise_url, strlen(d->cfg.advertise_url), q, sizeof(q));
        hvf_error_set(err, HVF_ERR_INVALID, "advertise-url %s: expected an http:// or https:// URL",
                      q);
        return -1;
    }
    pthread_mutex_init(&d->lease_lock, NULL);
    pthread_cond_init(&d->lease_cond, NULL);
    d->lease_init = true;
    (void)gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (d->cfg.name)
        hvf_strlcpy(d->ctl_name, d->cfg.name, sizeof(d->ctl_name));
    else
        snprintf(d->ctl_name, sizeof(d->ctl_name), "%.40s:%d", host, d->port);
    if (getrandom(&inc, sizeof(inc), 0) != (ssize_t)sizeof(inc))
        inc = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    /* a restarted controller is another instance: it never renews its predecessor's lease */
    snprintf(d->instance, sizeof(d->instance), "%.48s/%08x", d->ctl_name, inc);
    if (d->cfg.advertise_url)
        hvf_strlcpy(d->url, d->cfg.advertise_url, sizeof(d->url));
    else
        snprintf(d->url, sizeof(d->url), "%s://%s%s%s:%d", d->cfg.tls_cert ? "https" : "http",
                 strchr(any ? host : lh, ':') ? "[" : "", any ? host : lh,
                 strchr(any ? host : lh, ':') ? "]" : "", d->port);
    if (!d->cluster)
        return 0;
    if (pthread_create(&d->leaser, NULL, cluster_main, d) != 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "cannot start the lease thread");
        return -1;
    }
    d->leaser_started = true;
    return 0;
}

void
hvfd_cluster_stop(hvfd *d)
{
    if (!d->lease_init)
        return;
    if (d->leaser_started) {
        pthread_mutex_lock(&d->lease_lock);
        pthread_cond_broadcast(&d->lease_cond);
        pthread_mutex_unlock(&d->lease_lock);
        pthread_join(d->leaser, NULL);
        d->leaser_started = false;
    }
    /* the controller has stopped acting (joined before): a standby may take over at once */
    if (d->cluster && atomic_load(&d->lead_term))
        hvfd_cluster_release(d, "stopping");
    pthread_cond_destroy(&d->lease_cond);
    pthread_mutex_destroy(&d->lease_lock);
    d->lease_init = false;
}

void
hvfd_cluster_release(hvfd *d, const char *why)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    int64_t term = atomic_load(&d->lead_term);

    if (!d->cluster)
        return;
    atomic_store(&d->lead_until_ms, 0);
    atomic_store(&d->hold_off_until_ms, hvfd_mono_ms() + HOLD_OFF_MS);
    st = hvf_store_open(d->store_loc, &err);
    if (!st || hvf_store_lease_release(st, d->instance, term, &err) < 0)
        hvfd_log(HVFD_WARN, "could not let the lease go (it lapses by itself)",
                 json_pack("{s:s}", "error", err.msg));
    else
        hvfd_log(HVFD_INFO, "let the lease go",
                 json_pack("{s:s, s:I, s:s}", "controller", d->ctl_name, "term", (json_int_t)term,
                           "why", why));
    hvf_store_close(st);
}

/* ---- requests on a standby ---- */

/* The routes a standby answers itself: what the store holds. */
static bool
cluster_standby_serves(const hvfd_route *rt)
{
    static const char *const served[] = {
        "/",
        "/v1/health",
        "/v1/version",
        "/v1/openapi.json",
        "/metrics",
        "/v1/cluster",
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/events",
        "/v1/events/stream",
        "/v1/incidents",
        "/v1/plans/{hash}",
        "/v1/plans/{hash}/approvals",
        "/v1/freeze",
        "/v1/monitors",
    };

    if (strcmp(rt->method, "GET") != 0)
        return false;
    for (size_t i = 0; i < HVF_ARRAY_LEN(served); i++)
        if (strcmp(rt->pattern, served[i]) == 0)
            return true;
    return false;
}

int
hvfd_cluster_gate(hvfd_req *r)
{
    hvfd *d = r->d;
    char url[512], name[64];

    if (!d->cluster || hvfd_leading(d) || cluster_standby_serves(r->route))
        return 0;
    pthread_mutex_lock(&d->lease_lock);
    hvf_strlcpy(url, d->leader_url, sizeof(url));
    hvf_strlcpy(name, d->leader_name, sizeof(name));
    pthread_mutex_unlock(&d->lease_lock);
    if (!url[0] || strcmp(url, d->url) == 0) {
        r->retry_after_s = 2;
        return hvfd_fail_code(r, 503, "no-leader", NULL,
                              "this controller (%s) stands by and no controller leads now (the "
                              "lease is free or lapsing): retry in a few seconds",
                              d->ctl_name) -
               1;
    }
    {
        HVF_AUTOFREE char *q = hvfd_req_query_string(r);

        free(r->location);
        r->location = hvf_asprintf("%s%s%s", url, r->path, q);
    }
    hvfd_fail_code(r, 307, "standby", NULL,
                   "this controller (%s) stands by; the leader is %s at %s", d->ctl_name, name,
                   url);
    json_object_set_new(r->json, "leader", json_string(url));
    return -1;
}

/* ---- GET /v1/cluster, /metrics ---- */

int
hvfd_api_cluster(hvfd_req *r)
{
    hvfd *d = r->d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    hvf_store_controller *cs = NULL;
    hvf_store_lease l;
    int64_t now_ms = 0;
    long n = -1;
    int found = -1;
    json_t *list, *lease, *body;

    if (st && (found = hvf_store_lease_get(st, &l, &err)) >= 0)
        n = hvf_store_controllers(st, &cs, &now_ms, &err);
    hvfd_store_put(d, st);
    if (n < 0)
        return hvfd_fail(r, 503, NULL, "the store cannot be read: %s", err.msg);
    list = json_array();
    for (long i = 0; i < n; i++) {
        bool leads = found == 1 && l.expires_ms > l.now_ms && strcmp(cs[i].instance, l.holder) == 0;
        /* alive: seen within a lease (a controller says so every renewal) */
        bool alive = now_ms - cs[i].seen_ms < (int64_t)d->cfg.lease_ttl_ms;

        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:b, s:b, s:I, s:I}", "name",
                                              cs[i].name, "url", cs[i].url, "instance",
                                              cs[i].instance, "leader", leads, "alive", alive,
                                              "seen_ms_ago", (json_int_t)(now_ms - cs[i].seen_ms),
                                              "started_unix", (json_int_t)cs[i].started_unix));
    }
    if (!d->cluster && n == 0) /* one controller on SQLite: itself */
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:b, s:b, s:I, s:I}", "name", d->ctl_name,
                                        "url", d->url, "instance", d->instance, "leader", true,
                                        "alive", true, "seen_ms_ago", (json_int_t)0, "started_unix",
                                        (json_int_t)d->started_unix));
    lease = found == 1 ? json_pack("{s:s, s:I, s:b, s:I, s:I}", "holder", l.holder, "term",
                                   (json_int_t)l.term, "valid", l.expires_ms > l.now_ms,
                                   "expires_in_ms", (json_int_t)(l.expires_ms - l.now_ms),
                                   "held_ms", (json_int_t)(l.now_ms - l.since_ms))
                       : json_null();
    body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "store",
                     hvf_store_is_uri(d->store_loc) ? "postgresql" : "sqlite", "this", d->ctl_name,
                     "role", hvfd_role(d), "url", d->url, "lease", lease, "controllers", list);
    free(cs);
    return hvfd_reply(r, 200, body);
}

void
hvfd_cluster_metrics(hvfd *d, hvf_strbuf *sb)
{
    hvf_store_lease l;

    pthread_mutex_lock(&d->lease_lock);
    l = d->lease_seen;
    pthread_mutex_unlock(&d->lease_lock);
    hvf_strbuf_puts(sb, "# HELP hvfleet_controller_leader 1 when this controller leads (acts); "
                        "0 when it stands by.\n"
                        "# TYPE hvfleet_controller_leader gauge\n");
    hvf_strbuf_printf(sb, "hvfleet_controller_leader %d\n", hvfd_leading(d) ? 1 : 0);
    hvf_strbuf_puts(sb, "# HELP hvfleet_controller_lease_term The leader's lease term as this "
                        "controller last read it (grows at each change of leader).\n"
                        "# TYPE hvfleet_controller_lease_term gauge\n");
    hvf_strbuf_printf(sb, "hvfleet_controller_lease_term %" PRId64 "\n", d->cluster ? l.term : 0);
    hvf_strbuf_puts(sb, "# HELP hvfleet_controller_lease_remaining_seconds Time left on the "
                        "leader's lease when this controller last read it.\n"
                        "# TYPE hvfleet_controller_lease_remaining_seconds gauge\n");
    hvf_strbuf_printf(
        sb, "hvfleet_controller_lease_remaining_seconds %.3f\n",
        d->cluster && l.expires_ms > l.now_ms ? (double)(l.expires_ms - l.now_ms) / 1000.0 : 0.0);
}
