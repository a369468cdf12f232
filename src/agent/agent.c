/* SPDX-License-Identifier: MIT */
/*
 * The agent's process: the sync loop on one libcurl handle (the main thread), a fixed pool of
 * workers running commands through the executor, and the bounded queues between them
 * (docs/agent-protocol.md). No thread or process is ever started per message.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "driver/qemu/qemu-vm.h"
#include "hvfleet/alloc.h"
#include "util/text.h"

#define AGENT_NOFILE 256
#define AGENT_FIXED_TASKS 16        /* the main thread and a margin; the workers come on top */
#define AGENT_WORKER_STACK (256 << 10)
#define AGENT_MAX_RESULTS_PER_SYNC 256
#define AGENT_MAX_BUSY 4096         /* busy notices waiting to be sent; more are only counted */
#define AGENT_MIN_GAP_MS 100        /* between two syncs, whatever wakes the loop */
#define AGENT_BUSY_WAIT_MS 250      /* the long-poll's hold while commands or events flow */
#define AGENT_CONNECT_TIMEOUT_MS 5000L
#define AGENT_SYNC_SLACK_MS 10000L  /* a sync may last its wait plus this */
#define AGENT_BACKOFF_BASE_MS 1000

static volatile sig_atomic_t agent_signal;

struct hvf_agent_ctx {
    struct agent *a;
};

typedef struct busy_notice {
    char id[HVF_AGENT_MAX_ID];
    int64_t seq;
} busy_notice;

typedef struct agent {
    const hvf_agent_opts *o;
    hvf_agent_executor *ex;
    bool qemu; /* ex is the qemu executor */
    hvf_agent_cmdq cmdq;
    hvf_agent_evq evq;
    hvf_agent_results res;
    hvf_agent_fence fence;
    bool fence_ready; /* fence initialized */
    hvf_agent_ctx ctx;
    pthread_t *workers;
    unsigned n_workers;

    pthread_mutex_t mu; /* wake, and the stop condition the executors sleep on */
    pthread_cond_t wake_cv;
    pthread_cond_t stop_cv;
    bool wake;
    atomic_bool stopping;

    CURL *curl;
    struct curl_slist *headers;
    char curl_err[CURL_ERROR_SIZE];
    char *sync_url;  /* owned */
    size_t cur;      /* the controller synced with: o->urls[cur] */
    hvf_strbuf answer;
    bool answer_too_big;

    char *session; /* owned, "" until the controller assigns one */
    char *boot_id; /* owned */
    json_t *limits; /* owned: what hvf_agent_limits_apply set */
    int64_t heartbeat_ms;

    busy_notice *busy;
    size_t n_busy;
    uint64_t busy_total;           /* commands refused busy */
    uint64_t busy_notices_dropped; /* refusals not reported one by one (AGENT_MAX_BUSY) */
    uint64_t syncs, sync_failures;
    bool over_rss;
    bool more; /* the last sync left something to send: do not wait for the heartbeat */
    uint64_t rng;
} agent;

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
agent_log(const char *fmt, ...)
{
    va_list ap;
    char line[1024];

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hvfleet-agent: %s\n", line);
}

static void
agent_wake(agent *a)
{
    pthread_mutex_lock(&a->mu);
    a->wake = true;
    pthread_cond_signal(&a->wake_cv);
    pthread_mutex_unlock(&a->mu);
}

static void
deadline_ts(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void
cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

/* Notices a signal: the handler can only set a flag, the loop turns it into the stop. */
static bool
agent_check_stop(agent *a)
{
    if (agent_signal && !atomic_load(&a->stopping)) {
        pthread_mutex_lock(&a->mu);
        atomic_store(&a->stopping, true);
        pthread_cond_broadcast(&a->stop_cv);
        pthread_cond_broadcast(&a->wake_cv);
        pthread_mutex_unlock(&a->mu);
    }
    return atomic_load(&a->stopping);
}

/* Sleeps up to @ms, in slices so that a signal is seen; returns early when woken (if @wakeable). */
static void
agent_wait(agent *a, int64_t ms, bool wakeable)
{
    int64_t end = now_ms() + ms;

    for (;;) {
        int64_t left = end - now_ms();
        struct timespec ts;

        if (left <= 0 || agent_check_stop(a))
            return;
        deadline_ts(&ts, left < 100 ? left : 100);
        pthread_mutex_lock(&a->mu);
        if (!(wakeable && a->wake))
            pthread_cond_timedwait(&a->wake_cv, &a->mu, &ts);
        if (wakeable && a->wake) {
            a->wake = false;
            pthread_mutex_unlock(&a->mu);
            return;
        }
        pthread_mutex_unlock(&a->mu);
    }
}

/* ---- What executors call back -------------------------------------------------------------- */

void
hvf_agent_ctx_emit(hvf_agent_ctx *ctx, const char *type, json_t *fields)
{
    hvf_agent_evq_push(&ctx->a->evq, type, wall_us(), fields);
    agent_wake(ctx->a);
}

bool
hvf_agent_ctx_sleep_ms(hvf_agent_ctx *ctx, int64_t ms)
{
    agent *a = ctx->a;
    struct timespec ts;
    bool stopping;

    deadline_ts(&ts, ms);
    pthread_mutex_lock(&a->mu);
    while (!atomic_load(&a->stopping) &&
           pthread_cond_timedwait(&a->stop_cv, &a->mu, &ts) != ETIMEDOUT)
        ;
    stopping = atomic_load(&a->stopping);
    pthread_mutex_unlock(&a->mu);
    return !stopping;
}

/* ---- The executor ----------------------------------------------------------------------- */

hvf_agent_exec_fn
hvf_agent_executor_lookup(const hvf_agent_executor *ex, const char *type)
{
    static const struct {
        const char *type;
        size_t off;
    } table[] = {
        {"vm_start", offsetof(hvf_agent_executor, vm_start)},
        {"vm_stop", offsetof(hvf_agent_executor, vm_stop)},
        {"vm_destroy", offsetof(hvf_agent_executor, vm_destroy)},
        {"migrate_in", offsetof(hvf_agent_executor, migrate_in)},
        {"migrate_out", offsetof(hvf_agent_executor, migrate_out)},
        {"job_cancel", offsetof(hvf_agent_executor, job_cancel)},
        {"job_postcopy", offsetof(hvf_agent_executor, job_postcopy)},
        {"dirty_rate", offsetof(hvf_agent_executor, dirty_rate)},
        {"host_maintain", offsetof(hvf_agent_executor, host_maintain)},
        {"sleep", offsetof(hvf_agent_executor, sleep)},
        {"qemu_kill", offsetof(hvf_agent_executor, qemu_kill)},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(table); i++)
        if (strcmp(table[i].type, type) == 0) {
            hvf_agent_exec_fn fn;

            memcpy(&fn, (const char *)ex + table[i].off, sizeof(fn));
            return fn;
        }
    return NULL;
}

/* ---- Workers ------------------------------------------------------------------------------- */

/* The commands that start a VM: refused while the host is fenced. */
static bool
cmd_starts_vm(const char *type)
{
    return strcmp(type, "vm_start") == 0 || strcmp(type, "migrate_in") == 0;
}

/*
 * @cmd started its VM while the host fenced itself: the fence may have missed it. While the
 * fence stands, everything is fenced again (its name joins the record); once hvfleetd has
 * acknowledged it, other VMs may run legitimately, so only this one is destroyed.
 */
static void
worker_fence_late(agent *a, const hvf_agent_cmd *cmd, hvf_error *err)
{
    hvf_agent_cmd d = {.seq = cmd->seq, .type = "vm_destroy"};
    hvf_error e2 = HVF_ERROR_INIT;
    json_t *data = NULL;
    const char *vm = json_string_value(json_object_get(cmd->args, "vm"));

    if (hvf_agent_fence_now(&a->fence, "a VM started while the host fenced itself", true) == 1 &&
        vm && a->ex->vm_destroy) {
        snprintf(d.id, sizeof(d.id), "fence-%.60s:%.60s", cmd->id, vm);
        d.args = json_pack("{s:s}", "vm", vm);
        if (a->ex->vm_destroy(a->ex->self, &a->ctx, &d, &data, &e2) < 0)
            agent_log("fence: %s", e2.msg);
        else
            agent_log("fence: vm '%s' started as the host fenced itself: destroyed", vm);
        json_decref(data);
        json_decref(d.args);
    }
    hvf_error_set(err, HVF_ERR_REFUSED, "%s '%s': the host fenced itself while the VM started: "
                  "killed", cmd->type, cmd->id);
}

static void *
worker_main(void *p)
{
    agent *a = p;
    hvf_agent_cmd *cmd;

    while ((cmd = hvf_agent_cmdq_pop(&a->cmdq))) {
        hvf_error err = HVF_ERROR_INIT;
        hvf_agent_exec_fn fn = hvf_agent_executor_lookup(a->ex, cmd->type);
        json_t *data = NULL;
        bool starts = cmd_starts_vm(cmd->type);
        uint64_t fences = atomic_load(&a->fence.fences);
        int rc;

        /* On disk as running before it runs: after a crash it is answered, never run again. */
        if (hvf_agent_results_start(&a->res, cmd->id, &err) < 0) {
            agent_log("%s", err.msg);
            rc = -1;
        } else if (starts && hvf_agent_fence_active(&a->fence)) {
            hvf_agent_fence_refuse(&a->fence, cmd, &err);
            rc = -1;
        } else if (!fn) {
            hvf_error_set(&err, HVF_ERR_UNSUPPORTED,
                          "command type '%s' is not supported by the %s executor", cmd->type,
                          a->ex->name);
            rc = -1;
        } else {
            rc = fn(a->ex->self, &a->ctx, cmd, &data, &err);
            /* The host fenced itself while this VM started: it may have missed it. */
            if (starts && rc == 0 && atomic_load(&a->fence.fences) != fences) {
                worker_fence_late(a, cmd, &err);
                rc = -1;
            }
        }
        if (rc < 0) {
            json_decref(data);
            data = NULL;
        }
        if (hvf_agent_results_finish(&a->res, cmd->id, rc == 0, data,
                                     rc == 0 ? NULL : err.msg, &err) < 0)
            agent_log("%s", err.msg);
        hvf_agent_cmd_free(cmd);
        agent_wake(a);
    }
    return NULL;
}

/* ---- The connection ------------------------------------------------------------------------ */

static size_t
sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    agent *a = userdata;
    size_t n = size * nmemb;

    if (a->answer.len + n > HVF_AGENT_MAX_BODY) {
        a->answer_too_big = true;
        return 0;
    }
    hvf_strbuf_add(&a->answer, ptr, n);
    return n;
}

static int
on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    return agent_check_stop(p) ? 1 : 0;
}

static const char *
agent_url(const agent *a)
{
    return a->o->urls[a->cur];
}

/* Syncs with controller @i from now on (a new connection: libcurl keeps one per host). */
static void
agent_use(agent *a, size_t i)
{
    a->cur = i;
    free(a->sync_url);
    a->sync_url = hvf_asprintf("%s/v1/agent/sync", agent_url(a));
    curl_easy_setopt(a->curl, CURLOPT_URL, a->sync_url);
}

/* The controller of --controller that @location (a 307's) points into, or -1. */
static long
agent_url_of(const agent *a, const char *location)
{
    for (size_t i = 0; location && i < a->o->nurls; i++) {
        size_t n = strlen(a->o->urls[i]);

        if (strncmp(location, a->o->urls[i], n) == 0 && location[n] == '/')
            return (long)i;
    }
    return -1;
}

static int
agent_curl_init(agent *a, hvf_error *err)
{
    HVF_AUTOFREE char *auth = hvf_asprintf("Authorization: Bearer %s", a->o->token);
    CURL *c = curl_easy_init();

    if (!c) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "cannot initialize libcurl");
        return -1;
    }
    a->curl = c;
    a->headers = curl_slist_append(a->headers, auth);
    a->headers = curl_slist_append(a->headers, "Content-Type: application/json");
    a->headers = curl_slist_append(a->headers, "Expect:");
    agent_use(a, 0);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* One connection, reused: never a second one behind the first. */
    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, AGENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->o->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, a->o->cacert);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hvfleet-agent/" HVF_AGENT_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, a->curl_err);
    return 0;
}

static json_t *
agent_heartbeat(agent *a)
{
    hvf_agent_self s;
    uint64_t dropped_events, dropped_progress;

    hvf_agent_self_read(&s);
    pthread_mutex_lock(&a->evq.mu);
    dropped_events = a->evq.dropped_events;
    dropped_progress = a->evq.dropped_progress;
    pthread_mutex_unlock(&a->evq.mu);
    a->over_rss = s.rss_bytes > a->o->max_rss;
    json_t *vms = a->ex->facts ? a->ex->facts(a->ex->self, false) : NULL;
    json_t *hb = json_pack("{s:I, s:i, s:i, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:i, s:[], "
                     "s:O, s:b, s:I, s:I, s:s}",
                     "rss_bytes", (json_int_t)s.rss_bytes, "threads", (int)s.threads,
                     "open_files", (int)s.open_files, "queues", "commands",
                     (json_int_t)hvf_agent_cmdq_depth(&a->cmdq), "events",
                     (json_int_t)hvf_agent_evq_depth(&a->evq), "results",
                     (json_int_t)hvf_agent_results_unacked(&a->res), "dropped", "events",
                     (json_int_t)dropped_events, "progress",
                     (json_int_t)dropped_progress, "commands_busy",
                     (json_int_t)a->busy_total, "busy_notices", (json_int_t)a->busy_notices_dropped,
                     "vms", 0, "unknown_qemu", "limits", a->limits, "over_rss", a->over_rss,
                     "syncs", (json_int_t)a->syncs, "sync_failures", (json_int_t)a->sync_failures,
                     "executor", a->ex->name);

    if (vms) {
        json_object_set_new(hb, "vms",
                            json_integer((json_int_t)json_array_size(json_object_get(vms, "vms"))));
        json_object_set(hb, "unknown_qemu", json_object_get(vms, "unknown_qemu"));
        /* which VMs' QEMUs live: hvfleetd reconciles them with where it believes they run */
        json_object_set(hb, "vm_list", json_object_get(vms, "vms"));
        json_decref(vms);
    }
    return hb;
}

/* The host's facts with the executor's VMs and unknown QEMUs. */
static json_t *
agent_facts(agent *a)
{
    json_t *f = hvf_agent_facts();
    json_t *vms = a->ex->facts ? a->ex->facts(a->ex->self, true) : NULL;

    if (vms) {
        json_object_update(f, vms);
        json_decref(vms);
    }
    return f;
}

static void
add_json(hvf_strbuf *sb, const char *key, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    HVF_ASSERT(text);
    hvf_strbuf_printf(sb, ",\"%s\":%s", key, text);
    free(text);
    json_decref(v);
}

/*
 * The body of one sync; *@n_busy says how many busy notices it carries (forgotten once the
 * controller has the answer's 200), *@wait_ms how long the controller may hold it.
 */
static char *
agent_body(agent *a, size_t *n_busy, int64_t *wait_ms, json_t **fenced, uint64_t *fence_gen)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    size_t nres, nev;
    bool more;

    hvf_strbuf_puts(&sb, "{\"host\":");
    hvf_strbuf_quote(&sb, a->o->host);
    hvf_strbuf_puts(&sb, ",\"boot_id\":");
    hvf_strbuf_quote(&sb, a->boot_id);
    hvf_strbuf_puts(&sb, ",\"session\":");
    hvf_strbuf_quote(&sb, a->session);
    hvf_strbuf_printf(&sb, ",\"acked\":%" PRId64 ",\"results\":[", a->res.acked_max_seq);
    nres = hvf_agent_results_pending(&a->res, AGENT_MAX_RESULTS_PER_SYNC, &sb);
    *n_busy = a->n_busy < AGENT_MAX_RESULTS_PER_SYNC ? a->n_busy : AGENT_MAX_RESULTS_PER_SYNC;
    for (size_t i = 0; i < *n_busy; i++) {
        if (nres || i)
            hvf_strbuf_puts(&sb, ",");
        hvf_strbuf_puts(&sb, "{\"id\":");
        hvf_strbuf_quote(&sb, a->busy[i].id);
        hvf_strbuf_printf(&sb,
                          ",\"seq\":%" PRId64 ",\"status\":\"busy\",\"detail\":\"%s\","
                          "\"retry_after_s\":%" PRId64 "}",
                          a->busy[i].seq,
                          a->over_rss ? "agent memory over --max-rss" : "command queue full",
                          a->heartbeat_ms / 1000);
    }
    hvf_strbuf_puts(&sb, "],\"events\":[");
    nev = hvf_agent_evq_peek(&a->evq, a->o->batch, &sb);
    hvf_strbuf_puts(&sb, "]");
    add_json(&sb, "heartbeat", agent_heartbeat(a));
    if (!*a->session)
        add_json(&sb, "facts", agent_facts(a));
    /* A fence goes in every sync until a 200 answers one that carried it. */
    if ((*fenced = hvf_agent_fence_report(&a->fence, fence_gen)))
        add_json(&sb, "fenced", json_incref(*fenced));
    more = nres == AGENT_MAX_RESULTS_PER_SYNC || *n_busy < a->n_busy ||
           nev < hvf_agent_evq_depth(&a->evq);
    /*
     * With more to say than one request carries, the controller must not hold the answer.
     * While commands run or events come (a migration's progress), it holds it briefly: what
     * they produce goes out within AGENT_BUSY_WAIT_MS, as the one connection cannot carry
     * a result while a long-poll occupies it.
     */
    *wait_ms = more                                          ? 0
               : hvf_agent_results_unacked(&a->res) || nev ? AGENT_BUSY_WAIT_MS
                                                             : a->heartbeat_ms;
    a->more = more;
    hvf_strbuf_printf(&sb, ",\"wait_s\":%" PRId64 ",\"wait_ms\":%" PRId64 "}",
                      (*wait_ms + 999) / 1000, *wait_ms);
    return hvf_strbuf_steal(&sb);
}

static void
agent_busy(agent *a, const hvf_agent_cmd *cmd)
{
    a->busy_total++;
    if (a->n_busy == AGENT_MAX_BUSY) {
        a->busy_notices_dropped++;
        return;
    }
    hvf_strlcpy(a->busy[a->n_busy].id, cmd->id, sizeof(a->busy[0].id));
    a->busy[a->n_busy++].seq = cmd->seq;
}

/*
 * A command that would start a VM while the host is fenced: recorded and answered error at
 * once. Those of the answer that acknowledges the fence too, as hvfleetd may have chosen them
 * before it read the report.
 */
static void
agent_refuse_fenced(agent *a, const hvf_agent_cmd *cmd)
{
    hvf_error why = HVF_ERROR_INIT, err = HVF_ERROR_INIT;

    hvf_agent_fence_refuse(&a->fence, cmd, &why);
    if (hvf_agent_results_start(&a->res, cmd->id, &err) < 0 ||
        hvf_agent_results_finish(&a->res, cmd->id, false, NULL, why.msg, &err) < 0)
        agent_log("%s", err.msg);
}

static void
agent_commands(agent *a, hvf_agent_answer *ans)
{
    for (size_t i = 0; i < ans->n_cmds; i++) {
        hvf_agent_cmd *cmd = ans->cmds[i];
        bool refuse = cmd_starts_vm(cmd->type) && hvf_agent_fence_active(&a->fence);

        /* The main thread is the only producer: a free slot now is still free at the push. */
        if (a->over_rss || hvf_agent_cmdq_depth(&a->cmdq) >= a->cmdq.cap) {
            agent_busy(a, cmd);
            continue;
        }
        switch (hvf_agent_results_admit(&a->res, cmd)) {
        case HVF_AGENT_ADMIT_SEEN:
            break;
        case HVF_AGENT_ADMIT_FULL:
            agent_busy(a, cmd);
            break;
        case HVF_AGENT_ADMIT_NEW:
            if (refuse)
                agent_refuse_fenced(a, cmd);
            else
                HVF_ASSERT(hvf_agent_cmdq_push(&a->cmdq, &ans->cmds[i]) == 0);
            break;
        }
    }
}

/* One sync. Returns 1 when the controller held it to its wait, 0 for an answer, -1 failed. */
static int
agent_sync(agent *a, bool *connected)
{
    size_t n_busy = 0;
    int64_t wait_ms = 0, start = now_ms();
    json_t *fenced = NULL;
    uint64_t fence_gen = 0;
    HVF_AUTOFREE char *body = agent_body(a, &n_busy, &wait_ms, &fenced, &fence_gen);
    hvf_agent_answer ans;
    hvf_error err = HVF_ERROR_INIT;
    long status = 0;
    CURLcode rc;

    hvf_strbuf_clear(&a->answer);
    a->answer_too_big = false;
    a->curl_err[0] = '\0';
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, (long)(wait_ms + AGENT_SYNC_SLACK_MS));
    rc = curl_easy_perform(a->curl);
    a->syncs++;
    if (rc != CURLE_OK) {
        if (!agent_check_stop(a))
            agent_log("sync with %s failed: %s", agent_url(a),
                      a->answer_too_big ? "answer over 1 MiB"
                      : a->curl_err[0]  ? a->curl_err
                                        : curl_easy_strerror(rc));
        goto fail;
    }
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 307 || status == 308) { /* a standby: the leader is elsewhere */
        char *loc = NULL;
        long i;

        curl_easy_getinfo(a->curl, CURLINFO_REDIRECT_URL, &loc);
        i = agent_url_of(a, loc);
        if (i < 0) {
            agent_log("%s sends agents to %.300s, which is not one of --controller: not "
                      "followed",
                      agent_url(a), loc ? loc : "(no Location)");
            goto fail;
        }
        agent_log("%s stands by; syncing with the leader %s", agent_url(a), a->o->urls[i]);
        agent_use(a, (size_t)i);
        json_decref(fenced);
        return 0; /* an answer: sync again at once */
    }
    if (status == 409) {
        HVF_AUTOFREE char *code = hvf_agent_error_code(a->answer.buf ? a->answer.buf : "",
                                                       a->answer.len);

        /* The controller answered: no backoff, the connection is fine. */
        if (code && strcmp(code, "re-register") == 0) {
            agent_log("controller asks to register again: sending facts");
            free(a->session);
            a->session = hvf_strdup("");
            a->more = true;
        } else {
            agent_log("controller refused the sync (409 %s); syncing heartbeats only",
                      code ? code : "conflict");
        }
        a->sync_failures++;
        json_decref(fenced);
        return 0;
    }
    if (status != 200) {
        /* the controller's one-line reason, so that an operator sees what it refused */
        agent_log("sync with %s failed: HTTP %ld: %.300s", agent_url(a), status,
                  a->answer.buf && a->answer.len ? a->answer.buf : "(no body)");
        goto fail;
    }
    if (hvf_agent_answer_parse(a->answer.buf ? a->answer.buf : "", a->answer.len, &ans, &err) <
        0) {
        agent_log("%s", err.msg);
        goto fail;
    }
    /* Only a 200 the agent could read counts: a held sync is alive once it is answered. */
    hvf_agent_fence_pet(&a->fence);
    if (!*connected)
        agent_log("connected to %s", agent_url(a));
    *connected = true;
    /* Delivered: the busy notices are not kept (the controller re-sends those commands). */
    memmove(a->busy, a->busy + n_busy, (a->n_busy - n_busy) * sizeof(*a->busy));
    a->n_busy -= n_busy;
    if (ans.session) {
        free(a->session);
        a->session = hvf_steal_ptr(&ans.session);
    }
    if (ans.n_acked && hvf_agent_results_ack(&a->res, ans.acked_results, ans.n_acked, &err) < 0)
        agent_log("%s", err.msg);
    if (ans.acked_events >= 0)
        hvf_agent_evq_ack(&a->evq, (uint64_t)ans.acked_events);
    if (ans.heartbeat_s)
        a->heartbeat_ms = ans.heartbeat_s * 1000 < a->o->heartbeat_ms ? ans.heartbeat_s * 1000
                                                                      : a->o->heartbeat_ms;
    agent_commands(a, &ans);
    hvf_agent_answer_clear(&ans);
    if (fenced) {
        hvf_agent_fence_acked(&a->fence, fence_gen);
        json_decref(fenced);
    }
    return wait_ms > 0 && now_ms() - start >= wait_ms ? 1 : 0;

fail:
    json_decref(fenced);
    a->sync_failures++;
    if (*connected && !agent_check_stop(a))
        agent_log("disconnected from %s", agent_url(a));
    *connected = false;
    if (a->o->nurls > 1) /* the next controller, in turn: whichever answers */
        agent_use(a, (a->cur + 1) % a->o->nurls);
    return -1;
}

static uint64_t
agent_rand(agent *a)
{
    /* xorshift64*: jitter only, no need for more */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 2685821657736338717ULL;
}

static void
agent_loop(agent *a)
{
    unsigned failures = 0;
    bool connected = false;

    while (!agent_check_stop(a)) {
        int64_t start = now_ms();
        int rc = agent_sync(a, &connected);

        if (rc < 0) {
            /* Exponential backoff with full jitter: a fleet of agents does not come back at once. */
            int64_t cap = AGENT_BACKOFF_BASE_MS << (failures < 16 ? failures : 16);

            if (cap > a->o->backoff_max_ms)
                cap = a->o->backoff_max_ms;
            /* fencing on: several tries before the fence, whatever --backoff-max says */
            if (a->o->fence_after_ms > 0 && cap > a->o->fence_after_ms / 4)
                cap = a->o->fence_after_ms / 4 > AGENT_BACKOFF_BASE_MS ? a->o->fence_after_ms / 4
                                                                       : AGENT_BACKOFF_BASE_MS;
            failures++;
            agent_wait(a, (int64_t)(agent_rand(a) % (uint64_t)(cap + 1)), false);
            continue;
        }
        failures = 0;
        if (rc == 1)
            continue; /* the controller held it: it is the long-poll, go again at once */
        /* Answered early: wait for something to send, or the next heartbeat. */
        {
            int64_t spent = now_ms() - start;

            if (spent < AGENT_MIN_GAP_MS)
                agent_wait(a, AGENT_MIN_GAP_MS - spent, false);
            spent = now_ms() - start;
            /* commands in flight: sync again at once (a short hold), new ones may be waiting */
            if (spent < a->heartbeat_ms && !a->more && !a->n_busy &&
                !hvf_agent_results_unacked(&a->res) && !hvf_agent_evq_depth(&a->evq))
                agent_wait(a, a->heartbeat_ms - spent, true);
        }
    }
}

/* ---- Start and stop ------------------------------------------------------------------------ */

static void
on_signal(int sig)
{
    agent_signal = sig;
}

static int
agent_lock(const char *dir, int *fd_out)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/agent.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        fprintf(stderr, "hvfleet-agent: --state-dir '%s': cannot open %s: %s\n", dir, path,
                strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "hvfleet-agent: --state-dir '%s': another hvfleet-agent runs on it "
                "(%s is locked)\n", dir, path);
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

/*
 * The executor --executor asks for: sim; qemu (its binary must be found); auto: qemu when its
 * binary is found, else sim, said in the log either way.
 */
static int
agent_executor_new(agent *a, const char *record, hvf_error *err)
{
    const hvf_agent_opts *o = a->o;
    char found[4096];
    bool have = hvf_agent_qemu_find_binary(o->qemu_binary, found, sizeof(found));
    const char *want = o->executor ? o->executor : "auto";

    if (strcmp(want, "qemu") == 0 && !have) {
        hvf_error_set(err, HVF_ERR_INVALID, "--executor qemu: %s: not found or not executable "
                      "(install QEMU, or name it with --qemu-binary)",
                      o->qemu_binary ? o->qemu_binary : "qemu-system-x86_64 in PATH");
        return -1;
    }
    if (strcmp(want, "sim") == 0 || !have) {
        hvf_agent_sim_opts sim_opts = o->sim;

        if (strcmp(want, "auto") == 0)
            agent_log("executor sim: %s not found, so no VM will run (--executor qemu to insist, "
                      "--qemu-binary to name it)",
                      o->qemu_binary ? o->qemu_binary : "qemu-system-x86_64 in PATH");
        sim_opts.record_path = record;
        a->ex = hvf_agent_sim_new(&sim_opts, err);
        return a->ex ? 0 : -1;
    }
    {
        hvf_agent_qemu_opts qo = {.state_dir = o->state_dir,
                                  .binary = found,
                                  .listen_addr = o->migration_address,
                                  .port_min = o->port_min,
                                  .port_max = o->port_max};

        agent_log("executor qemu: %s, migrations on %s ports %d-%d", found,
                  o->migration_address ? o->migration_address : "127.0.0.1",
                  o->port_min ? o->port_min : HVF_QVM_PORT_MIN_DEFAULT,
                  o->port_max ? o->port_max : HVF_QVM_PORT_MAX_DEFAULT);
        a->ex = hvf_agent_qemu_new(&qo, err);
        a->qemu = a->ex != NULL;
        return a->ex ? 0 : -1;
    }
}

static void
agent_executor_free(agent *a)
{
    if (a->qemu)
        hvf_agent_qemu_free(a->ex);
    else
        hvf_agent_sim_free(a->ex);
    a->ex = NULL;
    a->qemu = false;
}

int
hvf_agent_run(const hvf_agent_opts *o)
{
    agent a = {.o = o};
    hvf_error err = HVF_ERROR_INIT;
    HVF_AUTOFREE char *res_path = hvf_asprintf("%s/results.json", o->state_dir);
    HVF_AUTOFREE char *sim_dir = hvf_asprintf("%s/sim", o->state_dir);
    HVF_AUTOFREE char *record = hvf_asprintf("%s/executed.log", sim_dir);
    struct sigaction sa = {0};
    pthread_attr_t attr;
    int lock_fd = -1;
    int status = 0;

    if (hvf_file_mkdirs(sim_dir, 0700, &err) < 0) {
        fprintf(stderr, "hvfleet-agent: --state-dir '%s': %s\n", o->state_dir, err.msg);
        return 2;
    }
    if (agent_lock(o->state_dir, &lock_fd) < 0)
        return 2;
    if (hvf_agent_results_load(&a.res, res_path, o->queue, o->queue, &err) < 0) {
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
        hvf_agent_results_clear(&a.res);
        close(lock_fd);
        return 2;
    }
    a.boot_id = hvf_agent_boot_id();
    if (hvf_agent_fence_init(&a.fence, o->state_dir, o->fence_after_ms, o->watchdog_device,
                             a.boot_id, &err) < 0) {
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
        hvf_agent_results_clear(&a.res);
        free(a.boot_id);
        close(lock_fd);
        return 2;
    }
    if (agent_executor_new(&a, record, &err) < 0) {
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
        hvf_agent_fence_clear(&a.fence, true);
        hvf_agent_results_clear(&a.res);
        free(a.boot_id);
        close(lock_fd);
        return 2;
    }
    a.fence.ex = a.ex;
    a.fence_ready = true;
    /*
     * QEMUs the agent starts inherit its cgroup and count in its user's RLIMIT_NPROC: with the
     * qemu executor those two limits would kill them (docs/agent.md), so only NOFILE is set.
     */
    a.limits = hvf_agent_limits_apply(AGENT_NOFILE, a.qemu ? 0 : o->workers + AGENT_FIXED_TASKS,
                                      o->max_rss);
    {
        char *text = json_dumps(a.limits, JSON_COMPACT);

        agent_log("limits: %s", text ? text : "?");
        free(text);
    }
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    a.ctx.a = &a;
    a.session = hvf_strdup("");
    a.heartbeat_ms = o->heartbeat_ms;
    a.rng = ((uint64_t)wall_us() ^ ((uint64_t)getpid() << 32)) | 1;
    a.busy = hvf_calloc(AGENT_MAX_BUSY, sizeof(*a.busy));
    pthread_mutex_init(&a.mu, NULL);
    cond_init_monotonic(&a.wake_cv);
    cond_init_monotonic(&a.stop_cv);
    atomic_init(&a.stopping, false);
    hvf_agent_cmdq_init(&a.cmdq, o->queue);
    hvf_agent_evq_init(&a.evq, o->events);
    if (a.ex->attach)
        a.ex->attach(a.ex->self, &a.ctx);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (agent_curl_init(&a, &err) < 0) {
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
        status = 2;
        goto out;
    }
    a.workers = hvf_calloc(o->workers, sizeof(*a.workers));
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, AGENT_WORKER_STACK);
    for (unsigned i = 0; i < o->workers; i++) {
        int e = pthread_create(&a.workers[i], &attr, worker_main, &a);

        if (e) {
            fprintf(stderr, "hvfleet-agent: cannot start worker %u of %u: %s\n", i + 1,
                    o->workers, strerror(e));
            status = 2;
            agent_signal = SIGTERM;
            break;
        }
        a.n_workers++;
    }
    pthread_attr_destroy(&attr);
    if (!status && hvf_agent_fence_start(&a.fence, &err) < 0) {
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
        status = 2;
        agent_signal = SIGTERM;
    }
    agent_log("%s: %u workers, queue %zu, events %zu, heartbeat %" PRId64 " ms, executor %s, "
              "fence after %" PRId64 " ms%s%s", o->host, a.n_workers, o->queue, o->events,
              o->heartbeat_ms, a.ex->name, o->fence_after_ms,
              o->watchdog_device ? ", watchdog device " : "",
              o->watchdog_device ? o->watchdog_device : "");
    agent_loop(&a);
    agent_check_stop(&a);
    hvf_agent_cmdq_close(&a.cmdq);
    for (unsigned i = 0; i < a.n_workers; i++)
        pthread_join(a.workers[i], NULL);
    /* after the workers (one may fence a VM it started), before the executor the thread uses */
    hvf_agent_fence_clear(&a.fence, true);
    a.fence_ready = false;
    /* Never started: the controller re-sends them to the next agent, which runs them once. */
    if (hvf_agent_results_forget_queued(&a.res, &err) < 0)
        agent_log("%s", err.msg);
    agent_executor_free(&a); /* its poller posts events: before the queues go */
    agent_log("stopped");

out:
    if (a.fence_ready)
        hvf_agent_fence_clear(&a.fence, true);
    if (a.curl)
        curl_easy_cleanup(a.curl);
    curl_slist_free_all(a.headers);
    curl_global_cleanup();
    hvf_strbuf_clear(&a.answer);
    free(a.sync_url);
    free(a.workers);
    hvf_agent_cmdq_clear(&a.cmdq);
    hvf_agent_evq_clear(&a.evq);
    agent_executor_free(&a);
    hvf_agent_results_clear(&a.res);
    json_decref(a.limits);
    free(a.busy);
    free(a.session);
    free(a.boot_id);
    pthread_cond_destroy(&a.wake_cv);
    pthread_cond_destroy(&a.stop_cv);
    pthread_mutex_destroy(&a.mu);
    close(lock_fd);
    return status;
}
