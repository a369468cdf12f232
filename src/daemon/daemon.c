/* SPDX-License-Identifier: MIT */
/* The daemon's life: its state directory (locked), its threads, its stores, its commands. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/freeze.h"

int64_t
hvfd_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
hvfd_mono_ms(void)
{
    return hvfd_mono_ns() / 1000000;
}

void
hvfd_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

void
hvfd_snap_unref(hvfd_snap *s)
{
    if (!s || atomic_fetch_sub(&s->ref, 1) != 1)
        return;
    free(s->hosts);
    free(s->vms);
    hvf_fleet_free(s->fleet);
    free(s);
}

hvfd_snap *
hvfd_snap_get(hvfd *d)
{
    hvfd_snap *s;

    pthread_mutex_lock(&d->lock);
    s = d->snap;
    if (s)
        atomic_fetch_add(&s->ref, 1);
    pthread_mutex_unlock(&d->lock);
    return s;
}

hvf_store *
hvfd_store_get(hvfd *d, hvf_error *err)
{
    hvf_store *st = NULL;

    pthread_mutex_lock(&d->store_lock);
    if (d->nstores)
        st = d->stores[--d->nstores];
    pthread_mutex_unlock(&d->store_lock);
    return st ? st : hvf_store_open(d->store_loc, err);
}

void
hvfd_store_put(hvfd *d, hvf_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&d->store_lock);
    hvf_grow(&d->stores, &d->stores_cap, d->nstores + 1, sizeof(*d->stores));
    d->stores[d->nstores++] = st;
    pthread_mutex_unlock(&d->store_lock);
}

void
hvfd_event(hvfd *d, hvf_store *st, const char *type, int64_t run, json_t *data)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *own = st ? NULL : hvfd_store_get(d, &err);
    char *text = json_dumps(data ? data : json_object(), JSON_COMPACT | JSON_PRESERVE_ORDER);

    if (!text || !(st ? st : own) ||
        hvf_store_event_add(st ? st : own, type, run, text, NULL, &err) < 0)
        hvfd_log(HVFD_ERROR, "the event feed missed an event",
                 json_pack("{s:s, s:s}", "type", type, "error", err.msg));
    hvfd_store_put(d, own);
    free(text);
    json_decref(data);
}

bool
hvfd_cmd_call(hvfd *d, hvfd_cmd *c, int timeout_ms)
{
    struct timespec until;
    bool done;

    if (d->cfg.monitor_only) { /* no controller to ask */
        c->done = true;
        hvf_error_set(&c->err, HVF_ERR_UNSUPPORTED, "this hvfleetd runs --monitor-only: no driver");
        return true;
    }
    hvfd_deadline(&until, timeout_ms);
    pthread_mutex_lock(&d->lock);
    c->next = NULL;
    if (d->cmds_tail)
        d->cmds_tail->next = c;
    else
        d->cmds = c;
    d->cmds_tail = c;
    pthread_cond_broadcast(&d->cond);
    while (!c->done && !atomic_load(&d->stopping))
        if (pthread_cond_timedwait(&d->cond, &d->lock, &until) == ETIMEDOUT)
            break;
    done = c->done;
    if (!done)
        c->detached = true; /* the controller frees it when it gets to it */
    pthread_mutex_unlock(&d->lock);
    return done;
}

bool
hvfd_cmd_run(hvfd_req *r, hvfd_cmd *c, int timeout_ms)
{
    if (!hvfd_cmd_call(r->d, c, timeout_ms)) {
        r->retry_after_s = 5;
        hvfd_fail(r, 503, NULL, "the controller did not answer within %d s (it may still act: "
                                "GET /v1/health and /v1/runs say what goes)",
                  timeout_ms / 1000);
        return false;
    }
    if (c->err.code) {
        hvfd_fail_err(r, &c->err);
        hvfd_cmd_free(c);
        return false;
    }
    return true;
}

void
hvfd_cmd_free(hvfd_cmd *c)
{
    if (!c)
        return;
    free(c->plan_text);
    free(c->plan_hash);
    free(c->by);
    json_decref(c->spec);
    json_decref(c->result);
    free(c);
}

/* One daemon per state directory: two would run two executors on one fleet. */
static int
daemon_lock(hvfd *d, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/hvfleetd.lock", d->state_dir);

    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lock_fd < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "another hvfleetd holds the state directory '%s' (%s is locked)",
                      d->state_dir, path);
        close(d->lock_fd);
        d->lock_fd = -1;
        return -1;
    }
    return 0;
}

int
hvfd_start(hvfd *d, hvf_error *err)
{
    hvf_store *st;
    const char *dir = hvf_state_dir(d->cfg.state_dir);

    d->lock_fd = -1;
    if (!dir) {
        hvf_error_set(err, HVF_ERR_INVALID, "no state directory: give --state-dir");
        return -1;
    }
    d->state_dir = hvf_strdup(dir);
    if (d->cfg.store && !hvf_store_is_uri(d->cfg.store)) {
        char q[64];

        hvf_quote_value(d->cfg.store, strlen(d->cfg.store), q, sizeof(q));
        hvf_error_set(err, HVF_ERR_INVALID,
                      "--store %s: expected a PostgreSQL URI (postgresql://USER@HOST:PORT/DB); "
                      "without --store the state directory holds the store",
                      q);
        return -1;
    }
    d->store_loc = hvf_strdup(d->cfg.store ? d->cfg.store : d->state_dir);
    d->cluster = d->cfg.store != NULL;
    d->started_unix = (int64_t)time(NULL);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_mutex_init(&d->store_lock, NULL);
    pthread_mutex_init(&d->tok_lock, NULL);
    pthread_mutex_init(&d->ev_lock, NULL);
    pthread_mutex_init(&d->agent_lock, NULL);
    hvfd_hub_init(d);
    pthread_cond_init(&d->ev_cond, NULL);
    d->metrics = hvfd_metrics_new();
    if (hvf_state_dir_ensure(d->state_dir, err) < 0 || daemon_lock(d, err) < 0)
        return -1;
    {
        /* an older daemon's port must not be read as ours: it is written again once we listen */
        HVF_AUTOFREE char *port = hvf_asprintf("%s/hvfleetd.port", d->state_dir);

        (void)unlink(port);
    }
    /* opening the store here migrates its schema and imports older files once, before any
     * thread needs it */
    if (!(st = hvf_state_open(d->store_loc, err)))
        return -1;
    hvfd_store_put(d, st);
    /* listening first: a port in use or a bad certificate stops the start before the driver
     * is opened; until the controller's first snapshot, fleet routes answer 503 */
    if (hvfd_http_start(d, err) < 0 || hvfd_cluster_start(d, err) < 0)
        return -1;
    /* --monitor-only: no controller, so no driver and no snapshot (fleet routes answer 503,
     * commands 501); the API, the feed, the monitors and the alerts run (docs/ha.md) */
    if (!d->cfg.monitor_only &&
        pthread_create(&d->controller, NULL, hvfd_controller_main, d) != 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "cannot start the controller thread");
        return -1;
    }
    d->controller_started = !d->cfg.monitor_only;
    /* the controller opens the driver; wait for it, so that a bad URI stops the start */
    pthread_mutex_lock(&d->lock);
    while (d->controller_started && !d->controller_ready)
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
    if (d->driver_error[0]) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s", d->driver_error);
        return -1;
    }
    if (pthread_create(&d->tailer, NULL, hvfd_tailer_main, d) != 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "cannot start the event tailer thread");
        return -1;
    }
    d->tailer_started = true;
    return hvfd_alerts_start(d, err);
}

void
hvfd_stop(hvfd *d)
{
    atomic_store(&d->stopping, true);
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_mutex_lock(&d->ev_lock);
    pthread_cond_broadcast(&d->ev_cond);
    pthread_mutex_unlock(&d->ev_lock);
    /* the tailer resumes every suspended follower before it ends (libmicrohttpd may not stop
     * with one suspended); then the HTTP side, whose requests stop waiting on the controller */
    if (d->tailer_started)
        pthread_join(d->tailer, NULL);
    hvfd_alerts_stop(d);
    hvfd_http_stop(d);
    if (d->controller_started)
        pthread_join(d->controller, NULL);
    hvfd_cluster_stop(d);
    while (d->cmds) {
        hvfd_cmd *c = d->cmds;

        d->cmds = c->next;
        hvfd_cmd_free(c);
    }
    hvfd_snap_unref(d->snap);
    d->snap = NULL;
    for (size_t i = 0; i < d->nstores; i++)
        hvf_store_close(d->stores[i]);
    free(d->stores);
    hvfd_alerts_clear(d);
    hvfd_auth_clear(d);
    hvfd_events_clear(d);
    hvfd_agents_clear(d);
    hvfd_hub_clear(d);
    hvfd_ha_free(d);
    hvfd_reconcile_free(d);
    hvfd_metrics_free(d->metrics);
    free(d->run.migs);
    free(d->run.hosts);
    for (size_t i = 0; i < d->run.nnames; i++)
        free(d->run.names[i]);
    free(d->run.names);
    for (size_t i = 0; i < d->run.nhosts_in_plan; i++)
        free(d->run.hosts_in_plan[i]);
    free(d->run.hosts_in_plan);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    free(d->state_dir);
    free(d->store_loc);
    free(d->driver_uri);
}
