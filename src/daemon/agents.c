/* SPDX-License-Identifier: MIT */
/*
 * hvfleet-agents as hvfleetd sees them (docs/agent-protocol.md): POST /v1/agent/sync, the one
 * exchange an agent has with the daemon (its results, events and heartbeat in; the commands
 * queued for its host out, held until there are some or the agent's wait_s passes, on a parked
 * connection rather than a thread); GET /v1/agents; each host's liveness (connected, suspect
 * after 3 missed heartbeats, down after agent_down_after: 60 s), written to the feed when it
 * changes.
 *
 * Commands are queued by hvfd_agent_command (the agent driver's side, next) and kept until the
 * agent's result for them arrives; a command re-sent after a reconnect is answered by the agent
 * from its record, never run twice.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"

#define AGENT_MAX_CMDS 1024

typedef struct hvfd_agent_cmd {
    char id[64];
    int64_t seq;
    char type[32];
    json_t *args;
    bool done;
    int64_t sent_ms; /* when an answer last carried it; 0 never (this session) */
    char status[16];
    json_t *result; /* the agent's data */
} hvfd_agent_cmd;

typedef enum agent_state { AGENT_CONNECTED, AGENT_SUSPECT, AGENT_DOWN } agent_state;
static const char *const agent_state_names[] = {"connected", "suspect", "down"};

typedef struct hvfd_agent {
    char host[HVF_DRV_NAME_MAX];
    char session[40];
    char boot_id[64];
    int64_t registered_unix, last_ms;
    agent_state state;
    json_t *facts, *heartbeat; /* owned */
    json_t *fenced;            /* owned, may be NULL: the last self-fence the agent reported */
    int64_t events_acked;
    uint64_t syncs, events, results;
    hvfd_agent_cmd *cmds;
    size_t ncmds, cmds_cap;
    size_t pending; /* commands without their result */
    /* the last heartbeat's figures, read once when it comes (GET /metrics sums 10,000 of them) */
    uint64_t hb_dropped_events, hb_dropped_progress, hb_busy, hb_rss, hb_threads;
    int64_t next_seq;
    char identity[256]; /* "" or why the host is not who the inventory says (seed 002) */
} hvfd_agent;

static void
agent_free(hvfd_agent *a)
{
    for (size_t i = 0; i < a->ncmds; i++) {
        json_decref(a->cmds[i].args);
        json_decref(a->cmds[i].result);
    }
    free(a->cmds);
    json_decref(a->facts);
    json_decref(a->heartbeat);
    json_decref(a->fenced);
    free(a);
}

void
hvfd_agents_clear(hvfd *d)
{
    hvf_hash_clear(&d->agent_index);
    for (size_t i = 0; i < d->nagents; i++)
        agent_free(d->agents[i]);
    free(d->agents);
    d->agents = NULL;
    d->nagents = 0;
}

/* Under agent_lock. */
static hvfd_agent *
agent_find(hvfd *d, const char *host)
{
    int32_t i = hvf_hash_get(&d->agent_index, host);

    return i < 0 ? NULL : d->agents[i];
}

#define AGENT_RESEND_MS 10000 /* a command without a result goes again after this */

/* Whether an answer has something for the agent: a command it never got, or one whose answer
 * may have been lost (sent long ago, no result yet: the agent answers it from its record). */
static bool
agent_pending(const hvfd_agent *a)
{
    int64_t now;

    if (!a->pending)
        return false;
    now = hvfd_mono_ms();
    for (size_t i = 0; i < a->ncmds; i++)
        if (!a->cmds[i].done &&
            (!a->cmds[i].sent_ms || now - a->cmds[i].sent_ms >= AGENT_RESEND_MS))
            return true;
    return false;
}

static json_t *
agent_commands_json(hvfd_agent *a)
{
    json_t *arr = json_array();
    int64_t now = hvfd_mono_ms();

    for (size_t i = 0; i < a->ncmds; i++)
        if (!a->cmds[i].done) {
            a->cmds[i].sent_ms = now;
            json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:O}", "id", a->cmds[i].id,
                                                 "seq", (json_int_t)a->cmds[i].seq, "type",
                                                 a->cmds[i].type, "args", a->cmds[i].args));
        }
    return arr;
}

int
hvfd_agent_command(hvfd *d, const char *host, const char *type, json_t *args, char id[64],
                   hvf_error *err)
{
    hvfd_agent *a;
    hvfd_agent_cmd *c;

    pthread_mutex_lock(&d->agent_lock);
    a = agent_find(d, host);
    if (!a || a->ncmds >= AGENT_MAX_CMDS) {
        pthread_mutex_unlock(&d->agent_lock);
        json_decref(args);
        hvf_error_set(err, a ? HVF_ERR_CAPACITY : HVF_ERR_NOT_FOUND,
                      a ? "host %s has %d commands waiting for its agent already"
                        : "no agent has registered for host %s",
                      host, AGENT_MAX_CMDS);
        return -1;
    }
    hvf_grow(&a->cmds, &a->cmds_cap, a->ncmds + 1, sizeof(*a->cmds));
    c = &a->cmds[a->ncmds++];
    memset(c, 0, sizeof(*c));
    c->seq = ++a->next_seq;
    snprintf(c->id, sizeof(c->id), "%.40s-%" PRId64, host, c->seq);
    hvf_strlcpy(c->type, type, sizeof(c->type));
    c->args = args ? args : json_object();
    a->pending++;
    if (id)
        memcpy(id, c->id, sizeof(c->id));
    pthread_mutex_unlock(&d->agent_lock);
    hvfd_park_wake(d); /* its parked sync answers now */
    return 0;
}

/* Forgets the commands whose results came: they are in the feed (and the driver's hub). */
static void
agent_compact(hvfd_agent *a)
{
    size_t k = 0;

    for (size_t i = 0; i < a->ncmds; i++) {
        if (a->cmds[i].done) {
            json_decref(a->cmds[i].args);
            json_decref(a->cmds[i].result);
            continue;
        }
        a->cmds[k++] = a->cmds[i];
    }
    a->ncmds = k;
}

/* ---- the sync's parked answer ---- */

typedef struct agent_wait {
    hvfd *d;
    hvfd_agent *a;  /* agents live as long as the daemon */
    json_t *answer; /* what the sync answers whatever comes: session, acks */
} agent_wait;

/* Called for every parked sync each time the parked are woken: one read, no lookup. */
static bool
agent_wait_ready(void *ctx)
{
    agent_wait *w = ctx;
    bool ready;

    pthread_mutex_lock(&w->d->agent_lock);
    ready = agent_pending(w->a);
    pthread_mutex_unlock(&w->d->agent_lock);
    return ready;
}

static json_t *
agent_wait_answer(void *ctx)
{
    agent_wait *w = ctx;
    json_t *body = w->answer;

    w->answer = NULL;
    pthread_mutex_lock(&w->d->agent_lock);
    json_object_set_new(body, "commands", agent_commands_json(w->a));
    pthread_mutex_unlock(&w->d->agent_lock);
    return body;
}

static void
agent_wait_free(void *ctx)
{
    agent_wait *w = ctx;

    json_decref(w->answer);
    free(w);
}

static const hvfd_park_ops agent_wait_ops = {agent_wait_ready, agent_wait_answer, agent_wait_free};

/* ---- what the agent:// driver hears (agent-hub.c) ---- */

static json_t *
agent_hub_state(const char *host, const char *state, json_t *facts, const char *boot,
                const char *identity)
{
    json_t *m = json_pack("{s:s, s:s, s:s}", "kind", "agent", "host", host, "state", state);

    if (facts)
        json_object_set(m, "facts", facts);
    if (boot)
        json_object_set_new(m, "boot_id", json_string(boot));
    if (identity && *identity)
        json_object_set_new(m, "identity", json_string(identity));
    return m;
}

/* One sync's news: a registration (@facts), then results and events, in the feed's order. */
static void
agent_hub_post(hvfd *d, const char *host, json_t *facts, const char *boot, const char *identity,
               json_t *feed)
{
    size_t i;
    json_t *x;

    if (facts)
        hvfd_hub_post(d, agent_hub_state(host, "connected", facts, boot, identity));
    json_array_foreach(feed, i, x) {
        const char *type = json_string_value(json_object_get(x, "type"));

        if (strcmp(type, "agent_result") == 0)
            hvfd_hub_post(d, json_pack("{s:s, s:s, s:O, s:O, s:O*, s:O*}", "kind", "result",
                                       "host", host, "id", json_object_get(x, "id"), "status",
                                       json_object_get(x, "status"), "data",
                                       json_object_get(x, "data"), "detail",
                                       json_object_get(x, "detail")));
        else if (strcmp(type, "agent_event") == 0)
            hvfd_hub_post(d, json_pack("{s:s, s:s, s:O}", "kind", "event", "host", host,
                                       "event", json_object_get(x, "event")));
        else if (strcmp(type, "agent_back") == 0)
            hvfd_hub_post(d, agent_hub_state(host, "connected", NULL, boot, identity));
    }
}

void
hvfd_agents_replay(hvfd *d)
{
    pthread_mutex_lock(&d->agent_lock);
    for (size_t i = 0; i < d->nagents; i++) {
        const hvfd_agent *a = d->agents[i];

        hvfd_hub_post(d, agent_hub_state(a->host, agent_state_names[a->state], a->facts,
                                         a->boot_id, a->identity));
    }
    pthread_mutex_unlock(&d->agent_lock);
}

/* ---- identity (seed 002: a host that came back with renamed NICs) ---- */

#define AGENT_MAX_NICS 256

/* Under agent_lock: @host's agent, made on first sight. */
static hvfd_agent *
agent_get(hvfd *d, const char *host)
{
    hvfd_agent *a = agent_find(d, host);

    if (!a) {
        a = HVF_NEW(hvfd_agent);
        hvf_strlcpy(a->host, host, sizeof(a->host));
        hvf_grow(&d->agents, &d->agents_cap, d->nagents + 1, sizeof(*d->agents));
        d->agents[d->nagents] = a;
        (void)hvf_hash_put(&d->agent_index, a->host, (int32_t)d->nagents++);
    }
    return a;
}

/*
 * Whether @facts' NICs agree with the inventory's for @host (hosts without `nics` there always
 * do); @why: the first difference. The inventory is the current snapshot's fleet.
 */
static bool
agent_identity_ok(hvfd *d, const char *host, json_t *facts, char *why, size_t n)
{
    hvfd_snap *s = hvfd_snap_get(d);
    json_t *nics = json_object_get(facts, "nics"), *x;
    hvf_nic_report rep[AGENT_MAX_NICS];
    size_t k = 0, i;
    int32_t h;
    bool ok = true;

    why[0] = '\0';
    if (s && s->fleet && (h = hvf_fleet_find_host(s->fleet, host)) >= 0) {
        json_array_foreach(nics, i, x) {
            if (k == AGENT_MAX_NICS)
                break;
            rep[k].name = json_string_value(json_object_get(x, "name"));
            rep[k++].mac = json_string_value(json_object_get(x, "mac"));
        }
        ok = hvf_host_nics_match(&s->fleet->hosts[h], rep, k, why, n);
    }
    hvfd_snap_unref(s);
    return ok;
}

/*
 * The agent of a host that is not who the inventory says: not registered (no session), kept
 * out of service by the driver, and answered 409 identity-mismatch; it keeps syncing its
 * facts, and registers once they agree (the inventory was updated, or the NICs fixed). The
 * feed hears of it once when it starts, not at every sync.
 */
static void
agent_mismatch(hvfd_req *r, const char *host, const char *boot, json_t *facts, const char *why)
{
    hvfd *d = r->d;
    hvfd_agent *a;
    bool news;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;

    pthread_mutex_lock(&d->agent_lock);
    a = agent_get(d, host);
    news = !a->identity[0]; /* the host's list of NICs may change meanwhile: one entry */
    hvf_strlcpy(a->identity, why, sizeof(a->identity));
    a->session[0] = '\0';
    a->state = AGENT_CONNECTED;
    a->last_ms = hvfd_mono_ms();
    a->syncs++;
    json_decref(a->facts);
    a->facts = json_incref(facts);
    hvf_strlcpy(a->boot_id, boot ? boot : "", sizeof(a->boot_id));
    pthread_mutex_unlock(&d->agent_lock);
    if (news) {
        if ((st = hvfd_store_get(d, &err))) {
            hvfd_event(d, st, "agent", 0,
                       json_pack("{s:s, s:s, s:s}", "type", "agent_identity_mismatch", "host",
                                 host, "why", why));
            hvfd_store_put(d, st);
        }
        hvfd_log(HVFD_WARN, "agent refused: not the host the inventory knows",
                 json_pack("{s:s, s:s}", "host", host, "why", why));
    }
    hvfd_hub_post(d, agent_hub_state(host, "connected", NULL, boot, why));
    hvfd_fail_code(r, 409, "identity-mismatch", "facts",
                   "identity-mismatch: host '%s' is not the one the inventory knows: %s; it "
                   "stays out of service until the inventory (its nics) is updated",
                   host, why);
}

/* ---- POST /v1/agent/sync ---- */

/* A non-negative integer member of @o, else 0. */
static uint64_t
agent_count(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int
agent_check_results(hvfd_req *r, json_t *results)
{
    size_t i;
    json_t *x;

    if (results && (!json_is_array(results) || json_array_size(results) > AGENT_MAX_CMDS))
        return hvfd_fail(r, 400, "results", "'results' must be a list of at most %d results",
                         AGENT_MAX_CMDS) - 1;
    json_array_foreach(results, i, x) {
        const char *st = json_string_value(json_object_get(x, "status"));
        char f[32];

        snprintf(f, sizeof(f), "results[%zu]", i);
        if (!json_is_object(x) || !json_is_string(json_object_get(x, "id")) ||
            json_string_length(json_object_get(x, "id")) >= 64 || !st ||
            (strcmp(st, "ok") != 0 && strcmp(st, "error") != 0 && strcmp(st, "failed") != 0 &&
             strcmp(st, "busy") != 0))
            return hvfd_fail(r, 400, f,
                             "'%s' must be {id: a command id, status: ok, error or busy, "
                             "data, detail}",
                             f) - 1;
    }
    return 0;
}

static int
agent_check_events(hvfd_req *r, json_t *events)
{
    size_t i;
    json_t *x;

    if (events && (!json_is_array(events) || json_array_size(events) > 4096))
        return hvfd_fail(r, 400, "events", "'events' must be a list of at most 4096 events") - 1;
    json_array_foreach(events, i, x) {
        char f[32];

        snprintf(f, sizeof(f), "events[%zu]", i);
        if (!json_is_object(x) || !json_is_integer(json_object_get(x, "seq")) ||
            json_integer_value(json_object_get(x, "seq")) < 1 ||
            !json_is_string(json_object_get(x, "type")))
            return hvfd_fail(r, 400, f, "'%s' must be an object with seq (from 1) and type", f) -
                   1;
    }
    return 0;
}

int
hvfd_api_agent_sync(hvfd_req *r)
{
    static const char *const fields[] = {"host",   "boot_id",   "session", "acked",
                                         "results", "events", "heartbeat", "facts",
                                         "wait_s", "wait_ms", "fenced", NULL};
    hvfd *d = r->d;
    json_t *body = hvfd_body_object(r, fields);
    const char *host = NULL, *boot = NULL, *session = NULL;
    uint64_t wait_s = 0, wait_ms = 0, acked = 0;
    json_t *results, *events, *hb, *facts, *acked_ids, *feed, *answer = NULL;
    hvfd_agent *a;
    bool registered = false, now_ready;
    char identity[256];
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st;
    size_t i;
    json_t *x;

    if (!body)
        return 0;
    if (hvfd_field_name(r, body, "host", true, &host) < 0 ||
        hvfd_field_string(r, body, "boot_id", false, 63, &boot) < 0 ||
        hvfd_field_string(r, body, "session", false, 39, &session) < 0 ||
        hvfd_field_uint(r, body, "wait_s", false, 60, &wait_s) < 0 ||
        hvfd_field_uint(r, body, "wait_ms", false, 60000, &wait_ms) < 0 ||
        hvfd_field_uint(r, body, "acked", false, INT64_MAX, &acked) < 0)
        goto out;
    results = json_object_get(body, "results");
    events = json_object_get(body, "events");
    hb = json_object_get(body, "heartbeat");
    facts = json_object_get(body, "facts");
    if (agent_check_results(r, results) < 0 || agent_check_events(r, events) < 0)
        goto out;
    if ((hb && !json_is_object(hb)) || (facts && !json_is_object(facts)) ||
        (json_object_get(body, "fenced") && !json_is_object(json_object_get(body, "fenced")))) {
        hvfd_fail(r, 400, hb && !json_is_object(hb) ? "heartbeat"
                          : facts && !json_is_object(facts) ? "facts" : "fenced",
                  "must be an object");
        goto out;
    }
    if (strcmp(host, r->who.host) != 0) {
        hvfd_fail(r, 403, "host", "the token '%s' speaks for host '%s', not '%s'", r->who.name,
                  r->who.host, host);
        goto out;
    }
    if ((!session || !*session) && !facts) {
        hvfd_fail(r, 400, "facts", "the first sync of an agent (no session) carries its facts");
        goto out;
    }
    if ((!session || !*session) &&
        !agent_identity_ok(d, host, facts, identity, sizeof(identity))) {
        agent_mismatch(r, host, boot, facts, identity);
        goto out;
    }
    acked_ids = json_array();
    feed = json_array();
    pthread_mutex_lock(&d->agent_lock);
    a = agent_get(d, host);
    if (!session || !*session) {
        uint8_t raw[16];

        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
            memset(raw, 0, sizeof(raw));
        for (int k = 0; k < 16; k++)
            snprintf(a->session + 2 * k, 3, "%02x", raw[k]);
        json_decref(a->facts);
        a->facts = json_incref(facts);
        a->registered_unix = (int64_t)time(NULL);
        for (size_t k = 0; k < a->ncmds; k++)
            a->cmds[k].sent_ms = 0; /* a new process: it has none of them */
        hvf_strlcpy(a->boot_id, boot ? boot : "", sizeof(a->boot_id));
        registered = true;
    } else if (strcmp(session, a->session) != 0) {
        pthread_mutex_unlock(&d->agent_lock);
        json_decref(acked_ids);
        json_decref(feed);
        hvfd_fail_code(r, 409, "re-register", "session",
                       "re-register: session '%.40s' is not this daemon's (it "
                                     "restarted, or another agent took the host)",
                  session);
        goto out;
    }
    if (a->state != AGENT_CONNECTED && !registered)
        json_array_append_new(feed, json_pack("{s:s, s:s, s:s}", "type", "agent_back", "host",
                                              host, "was", agent_state_names[a->state]));
    a->state = AGENT_CONNECTED;
    a->last_ms = hvfd_mono_ms();
    if (registered)
        a->identity[0] = '\0';
    hvf_strlcpy(identity, a->identity, sizeof(identity));
    a->syncs++;
    if (json_object_get(body, "fenced")) {
        json_decref(a->fenced);
        a->fenced = json_incref(json_object_get(body, "fenced"));
    }
    if (hb) {
        json_t *dropped = json_object_get(hb, "dropped");

        json_decref(a->heartbeat);
        a->heartbeat = json_incref(hb);
        a->hb_dropped_events = agent_count(dropped, "events");
        a->hb_dropped_progress = agent_count(dropped, "progress");
        a->hb_busy = agent_count(dropped, "commands_busy");
        a->hb_rss = agent_count(hb, "rss_bytes");
        a->hb_threads = agent_count(hb, "threads");
    }
    json_array_foreach(results, i, x) {
        const char *id = json_string_value(json_object_get(x, "id"));
        const char *status = json_string_value(json_object_get(x, "status"));

        for (size_t k = 0; k < a->ncmds; k++) {
            hvfd_agent_cmd *c = &a->cmds[k];

            if (strcmp(c->id, id) != 0 || c->done)
                continue;
            if (strcmp(status, "busy") == 0)
                break; /* sent again with the next answer */
            c->done = true;
            a->pending--;
            hvf_strlcpy(c->status, status, sizeof(c->status));
            c->result = json_incref(json_object_get(x, "data"));
            a->results++;
            json_array_append_new(feed, json_pack("{s:s, s:s, s:s, s:s, s:O*, s:O*}", "type",
                                                  "agent_result", "host", host, "id", id,
                                                  "status", status, "data",
                                                  json_object_get(x, "data"), "detail",
                                                  json_object_get(x, "detail")));
        }
        /* acknowledged by seq (docs/agent-protocol.md), the key of the agent's record */
        if (json_is_integer(json_object_get(x, "seq")))
            json_array_append_new(acked_ids, json_integer(json_integer_value(
                                                 json_object_get(x, "seq"))));
    }
    agent_compact(a);
    json_array_foreach(events, i, x) {
        int64_t seq = json_integer_value(json_object_get(x, "seq"));

        if (seq <= a->events_acked)
            continue; /* sent again after a lost answer: already in the feed */
        a->events_acked = seq;
        a->events++;
        json_array_append_new(feed, json_pack("{s:s, s:s, s:O}", "type", "agent_event", "host",
                                              host, "event", x));
    }
    answer = json_pack("{s:s, s:o, s:I, s:i}", "session", a->session, "acked_results", acked_ids,
                       "acked_events", (json_int_t)a->events_acked, "heartbeat_s",
                       (int)d->cfg.agent_heartbeat_s);
    /* wait_ms (finer, for an agent with commands in flight) wins over wait_s */
    if (!json_object_get(body, "wait_ms"))
        wait_ms = wait_s * 1000;
    now_ready = wait_ms == 0 || agent_pending(a);
    if (now_ready)
        json_object_set_new(answer, "commands", agent_commands_json(a));
    pthread_mutex_unlock(&d->agent_lock);
    /* what the agent told is committed before it is acknowledged */
    if (json_array_size(feed) || registered) {
        if (!(st = hvfd_store_get(d, &err))) {
            json_decref(feed);
            json_decref(answer);
            hvfd_fail_err(r, &err);
            goto out;
        }
        if (registered)
            hvfd_event(d, st, "agent", 0,
                       json_pack("{s:s, s:s, s:s, s:O}", "type", "agent_registered", "host", host,
                                 "boot_id", boot ? boot : "", "facts", facts));
        json_array_foreach(feed, i, x) {
            const char *type = json_string_value(json_object_get(x, "type"));

            hvfd_event(d, st, strcmp(type, "agent_event") == 0 ? "agent_event" : "agent", 0,
                       json_incref(x));
        }
        hvfd_store_put(d, st);
    }
    if (hvfd_hub_listening(d))
        agent_hub_post(d, host, registered ? facts : NULL, boot, identity, feed);
    json_decref(feed);
    if (now_ready) {
        hvfd_reply(r, 200, answer);
    } else {
        agent_wait *w = HVF_NEW(agent_wait);

        w->d = d;
        w->a = a;
        w->answer = answer;
        /* held at most a heartbeat: the agent's next sync carries its next heartbeat */
        if (wait_ms > (uint64_t)d->cfg.agent_heartbeat_s * 1000)
            wait_ms = (uint64_t)d->cfg.agent_heartbeat_s * 1000;
        hvfd_park(r, (int64_t)wait_ms, &agent_wait_ops, w);
    }
out:
    json_decref(body);
    return 0;
}

/* ---- liveness, and what GET /v1/agents and /metrics show ---- */

void
hvfd_agents_tick(hvfd *d)
{
    int64_t now = hvfd_mono_ms();
    int64_t suspect_ms = (int64_t)d->cfg.agent_heartbeat_s * 3000;
    int64_t down_ms = (int64_t)d->cfg.agent_down_after_s * 1000;
    json_t *changed = NULL;

    pthread_mutex_lock(&d->agent_lock);
    for (size_t i = 0; i < d->nagents; i++) {
        hvfd_agent *a = d->agents[i];
        agent_state s = now - a->last_ms >= down_ms      ? AGENT_DOWN
                        : now - a->last_ms >= suspect_ms ? AGENT_SUSPECT
                                                         : AGENT_CONNECTED;

        if (s == a->state)
            continue;
        a->state = s;
        if (!changed)
            changed = json_array();
        json_array_append_new(changed,
                              json_pack("{s:s, s:s, s:I}", "host", a->host, "state",
                                        agent_state_names[s], "silent_s",
                                        (json_int_t)((now - a->last_ms) / 1000)));
    }
    pthread_mutex_unlock(&d->agent_lock);
    if (changed) {
        hvf_error err = HVF_ERROR_INIT;
        hvf_store *st = hvfd_store_get(d, &err);
        size_t i;
        json_t *x;

        json_array_foreach(changed, i, x) {
            hvfd_hub_post(d, agent_hub_state(json_string_value(json_object_get(x, "host")),
                                             json_string_value(json_object_get(x, "state")),
                                             NULL, NULL, NULL));
            hvfd_event(d, st, "agent", 0,
                           json_pack("{s:s, s:O, s:O, s:O}", "type",
                                     strcmp(json_string_value(json_object_get(x, "state")),
                                            "down") == 0
                                         ? "agent_down"
                                         : "agent_suspect",
                                     "host", json_object_get(x, "host"), "state",
                                     json_object_get(x, "state"), "silent_s",
                                     json_object_get(x, "silent_s")));
        }
        hvfd_store_put(d, st);
        json_decref(changed);
    }
}

bool
hvfd_agents_any(hvfd *d)
{
    bool any;

    pthread_mutex_lock(&d->agent_lock);
    any = d->nagents > 0;
    pthread_mutex_unlock(&d->agent_lock);
    return any;
}

size_t
hvfd_agents_view(hvfd *d, hvfd_agent_view **out)
{
    size_t n;

    pthread_mutex_lock(&d->agent_lock);
    n = d->nagents;
    *out = hvf_calloc(n ? n : 1, sizeof(**out));
    for (size_t i = 0; i < n; i++) {
        const hvfd_agent *a = d->agents[i];

        hvf_strlcpy((*out)[i].host, a->host, sizeof((*out)[i].host));
        (*out)[i].state = (int)a->state;
        (*out)[i].last_ms = a->last_ms;
        (*out)[i].identity_ok = !a->identity[0];
        (*out)[i].vm_list = json_incref(json_object_get(a->heartbeat, "vm_list"));
        (*out)[i].unknown = json_incref(json_object_get(a->heartbeat, "unknown_qemu"));
    }
    pthread_mutex_unlock(&d->agent_lock);
    return n;
}

void
hvfd_agents_view_free(hvfd_agent_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(v[i].vm_list);
        json_decref(v[i].unknown);
    }
    free(v);
}

void
hvfd_agents_counts(hvfd *d, hvfd_agent_counts *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&d->agent_lock);
    for (size_t i = 0; i < d->nagents; i++) {
        const hvfd_agent *a = d->agents[i];

        out->by_state[a->state]++;
        out->dropped_events += a->hb_dropped_events;
        out->dropped_progress += a->hb_dropped_progress;
        out->commands_busy += a->hb_busy;
        if (a->hb_rss > out->max_rss_bytes)
            out->max_rss_bytes = a->hb_rss;
        if (a->hb_threads > out->max_threads)
            out->max_threads = a->hb_threads;
        out->commands_waiting += a->pending;
    }
    pthread_mutex_unlock(&d->agent_lock);
}

int
hvfd_api_agents(hvfd_req *r)
{
    hvfd *d = r->d;
    int64_t now = hvfd_mono_ms();
    json_t *arr = json_array();

    pthread_mutex_lock(&d->agent_lock);
    for (size_t i = 0; i < d->nagents; i++) {
        const hvfd_agent *a = d->agents[i];
        size_t waiting = a->pending;

        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:f, s:s, s:I, s:I, s:I, s:I, s:I, s:O*, s:O*, s:O*}",
                           "host", a->host, "state", agent_state_names[a->state], "identity",
                           a->identity, "last_seen_s",
                           (double)(now - a->last_ms) / 1000.0, "boot_id", a->boot_id,
                           "registered_unix", (json_int_t)a->registered_unix, "syncs",
                           (json_int_t)a->syncs, "events", (json_int_t)a->events, "results",
                           (json_int_t)a->results, "commands_waiting", (json_int_t)waiting,
                           "facts", a->facts, "heartbeat", a->heartbeat, "fenced", a->fenced));
    }
    pthread_mutex_unlock(&d->agent_lock);
    return hvfd_reply(r, 200, json_pack("{s:o}", "agents", arr));
}
