/* SPDX-License-Identifier: MIT */
/*
 * The hub between hvfleetd's agents and its agent:// driver (hvf_agent_hub, hvfleet/driver.h):
 * request threads post what agents say (agents.c); the controller thread, the driver's only
 * user, takes it. Commands go the other way through hvfd_agent_command.
 *
 * Bounded: at most HUB_MAX messages wait. Beyond, a progress sample ("job" event) is dropped and
 * counted; anything else is kept, as those are bounded by the commands the driver sent and the
 * agents there are.
 */
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"

#define HUB_MAX 65536

static bool
hub_is_progress(json_t *msg)
{
    const char *kind = json_string_value(json_object_get(msg, "kind"));
    json_t *ev = json_object_get(msg, "event");
    const char *type = json_string_value(json_object_get(ev, "type"));

    return kind && strcmp(kind, "event") == 0 && type && strcmp(type, "job") == 0;
}

void
hvfd_hub_post(hvfd *d, json_t *msg)
{
    pthread_mutex_lock(&d->hub_lock);
    if (!d->hub_msgs) {
        json_decref(msg);
    } else if (json_array_size(d->hub_msgs) >= HUB_MAX && hub_is_progress(msg)) {
        d->hub_dropped++;
        json_decref(msg);
    } else {
        json_array_append_new(d->hub_msgs, msg);
        pthread_cond_broadcast(&d->hub_cond);
    }
    pthread_mutex_unlock(&d->hub_lock);
    /* the controller's idle wait is on the daemon's condition: news wakes it too */
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

bool
hvfd_hub_listening(hvfd *d)
{
    bool on;

    pthread_mutex_lock(&d->hub_lock);
    on = d->hub_msgs != NULL;
    pthread_mutex_unlock(&d->hub_lock);
    return on;
}

static int
hub_send(void *ctx, const char *host, const char *type, json_t *args, char id[64], hvf_error *err)
{
    return hvfd_agent_command(ctx, host, type, args, id, err);
}

static json_t *
hub_take(void *ctx, int64_t wait_us)
{
    hvfd *d = ctx;
    json_t *out = NULL;

    pthread_mutex_lock(&d->hub_lock);
    if (d->hub_msgs && !json_array_size(d->hub_msgs) && wait_us > 0 &&
        !atomic_load(&d->stopping)) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_us / 1000000;
        until.tv_nsec += (long)(wait_us % 1000000) * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->hub_cond, &d->hub_lock, &until);
    }
    if (d->hub_msgs && json_array_size(d->hub_msgs)) {
        out = d->hub_msgs;
        d->hub_msgs = json_array();
    }
    pthread_mutex_unlock(&d->hub_lock);
    return out;
}

static void
hub_attach(void *ctx, bool on)
{
    hvfd *d = ctx;

    /* a reopen opens the new driver before it closes the old: counted, not switched */
    pthread_mutex_lock(&d->hub_lock);
    d->hub_users += on ? 1 : -1;
    if (d->hub_users <= 0) {
        json_decref(d->hub_msgs);
        d->hub_msgs = NULL;
    } else if (!d->hub_msgs) {
        d->hub_msgs = json_array();
    }
    pthread_mutex_unlock(&d->hub_lock);
    if (on)
        hvfd_agents_replay(d);
}

void
hvfd_hub_init(hvfd *d)
{
    pthread_mutex_init(&d->hub_lock, NULL);
    pthread_cond_init(&d->hub_cond, NULL);
    d->hub.ctx = d;
    d->hub.send = hub_send;
    d->hub.take = hub_take;
    d->hub.attach = hub_attach;
}

void
hvfd_hub_clear(hvfd *d)
{
    pthread_mutex_lock(&d->hub_lock);
    json_decref(d->hub_msgs);
    d->hub_msgs = NULL;
    pthread_mutex_unlock(&d->hub_lock);
}
