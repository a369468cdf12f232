/* SPDX-License-Identifier: MIT */
/*
 * Alerts and the monitors that raise them (docs/ha.md, "Alert paths and monitors").
 *
 * An alert (hvfd_alert) is written to the event feed (type "alert") and queued, bounded
 * (alert_queue, 1024): beyond it the oldest info alert is dropped, else the oldest, each drop
 * counted per path. One sender thread delivers each alert to every path on its own schedule:
 * - a webhook: a JSON POST (libcurl, one handle per webhook, reused), retried with exponential
 *   backoff and jitter up to alert_backoff_max, alert_retries times (once while the path is
 *   already failing, so that a dead webhook does not hold its queue for hours), then given up;
 * - the command hook: /bin/sh -c CMD in a process group of its own, the alert JSON on stdin and
 *   HVFLEET_ALERT_* in its environment, killed (the group) after alert_command_timeout; never
 *   more than one at a time: the others wait in the queue (seed 001).
 * A path that gives an alert up (a webhook out of retries, the hook failing or timing out)
 * raises "alert-path-failed" once, through the other paths only, and "alert-path-back" when it
 * delivers again. An alert is never sent back into a path it reports on.
 *
 * One monitor thread raises alerts from what it watches:
 * - the feed: host-lost and run-halted (the incidents of incidents.c, as they are opened) and
 *   agent-down, from events newer than the start;
 * - peers: GET PEER/v1/health every peer_every; silent (no HTTP answer) peer_down_after:
 *   "peer-down", once, and "peer-back" when it answers again;
 * - the dead-man's switch: GET deadman_url every deadman_every; its failure is "deadman-failed"
 *   (once; "deadman-back" when it answers 2xx again), sent through the alert paths.
 * Each HTTP request of either thread has a total timeout: neither thread waits unbounded.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "util/text.h"

extern char **environ;

#define ALERT_PATHS_MAX 16       /* webhooks and the hook: bits of a mask */
#define ALERT_BODY_MAX (60 << 10) /* fits a pipe's buffer: the hook's stdin never blocks */
#define ALERT_TEXT_MAX 1024       /* a summary, at most */
#define ALERT_HOLD_MS 5000        /* host-lost and agent-down wait this long for a storm */
#define ALERT_HOLD_MAX 4096       /* held at once; beyond, raised at once */

/* A host-lost or agent-down alert held for the storm window (monitor thread only). */
typedef struct held_alert {
    int64_t due_ms;
    char severity[16], kind[64];
    char summary[512];
    json_t *details; /* owned */
} held_alert;

typedef struct alert {
    int64_t id;
    bool info;
    unsigned pending; /* paths still to deliver it */
    unsigned skip;    /* paths it reports on: never sent there */
    char severity[16], kind[64];
    char *summary;
    char *body; /* the JSON document sent */
} alert;

typedef struct apath {
    char name[32]; /* "webhook0", ..., "command" */
    bool is_cmd;
    const char *target; /* borrowed from the config */
    CURL *curl;
    struct curl_slist *headers;
    int64_t cur_id; /* the alert its attempts count for */
    unsigned attempts;
    int64_t due_ms;
    bool failing;
    uint64_t sent, failed, dropped, attempts_failed;
    int64_t last_ok_unix, last_fail_unix;
    char last_error[256];
    /* the hook's process while it runs */
    pid_t pid;
    int64_t pid_deadline_ms, pid_alert;
    char pid_kind[64]; /* its alert's, which a full queue may drop meanwhile */
    unsigned pid_skip;
} apath;

typedef enum { PEER_UNKNOWN, PEER_UP, PEER_DOWN } peer_state;
static const char *const peer_state_names[] = {"unknown", "up", "down"};

typedef struct peer {
    const char *url; /* borrowed from the config */
    char *health_url;
    CURL *curl;
    peer_state state;
    int64_t last_ok_ms; /* monotonic; the start while it never answered */
    int64_t next_ms;
    int64_t last_ok_unix, last_fail_unix;
    long last_status;
    uint64_t ok, failures;
    char last_error[256];
} peer;

struct hvfd_alerts {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    alert **q;
    size_t nq, qmax;
    int64_t next_id;
    uint64_t raised[3]; /* info, warning, critical */
    uint64_t dropped;
    apath paths[ALERT_PATHS_MAX];
    size_t npaths;
    unsigned all_paths;
    peer *peers;
    size_t npeers;
    struct curl_slist *peer_headers;
    /* the dead-man's switch */
    CURL *dm_curl;
    int dm_state; /* 0 unknown, 1 ok, 2 failing */
    int64_t dm_next_ms, dm_last_ok_unix, dm_last_fail_unix;
    uint64_t dm_hits, dm_failures;
    char dm_error[256];
    /* the feed */
    int64_t feed_last, feed_next_ms, halted_run;
    held_alert *held; /* monitor thread only: alerts waiting for the storm window */
    size_t nheld, held_cap;
    bool storm;           /* between HA's storm and storm_over: host alerts are the storm's */
    uint64_t storm_folded; /* host alerts folded into the current storm's */
    char instance[160];
    uint64_t rng;
    pthread_t sender, monitor;
    bool sender_started, monitor_started, curl_inited;
};

static const char *const severities[] = {"info", "warning", "critical"};

static void
alert_free(alert *a)
{
    if (!a)
        return;
    free(a->summary);
    free(a->body);
    free(a);
}

/* ---- raising ---- */

/* Queues an alert for every path not in @skip, after writing it to the feed. */
static void
alert_raise(hvfd *d, const char *severity, const char *kind, const char *summary,
            json_t *details, unsigned skip)
{
    hvfd_alerts *al = d->alerts;
    int sev = 0;
    json_t *doc;
    alert *a;
    int64_t id;
    HVF_AUTOFREE char *text = hvf_strndup(summary, strnlen(summary, ALERT_TEXT_MAX));

    for (int i = 0; i < 3; i++)
        if (strcmp(severity, severities[i]) == 0)
            sev = i;
    if (!details)
        details = json_object();
    {
        /* a summary cut short (%.200s) may end inside a UTF-8 sequence: JSON takes none */
        json_t *probe = json_string(text);

        if (!probe)
            for (char *c = text; *c; c++)
                if ((unsigned char)*c >= 0x80)
                    *c = '?';
        json_decref(probe);
    }
    pthread_mutex_lock(&al->lock);
    id = ++al->next_id;
    al->raised[sev]++;
    pthread_mutex_unlock(&al->lock);
    doc = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o}", "id", (json_int_t)id, "instance",
                    al->instance, "severity", severities[sev], "kind", kind, "summary", text,
                    "at_unix", (json_int_t)time(NULL), "details", details);
    if (!doc) { /* not expected: the texts were checked */
        hvfd_log(HVFD_ERROR, "an alert could not be written", json_pack("{s:s}", "kind", kind));
        return;
    }
    hvfd_log(sev == 0 ? HVFD_INFO : HVFD_WARN, "alert", json_deep_copy(doc));
    a = HVF_NEW(alert);
    a->id = id;
    a->info = sev == 0;
    a->skip = skip;
    a->pending = al->all_paths & ~skip;
    hvf_strlcpy(a->severity, severities[sev], sizeof(a->severity));
    hvf_strlcpy(a->kind, kind, sizeof(a->kind));
    a->summary = hvf_strdup(text);
    a->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (a->body && strlen(a->body) > ALERT_BODY_MAX) { /* details too big: sent without them */
        free(a->body);
        json_object_set_new(doc, "details", json_pack("{s:b}", "truncated", 1));
        a->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    hvfd_event(d, NULL, "alert", 0, doc);
    if (!a->pending || !a->body) {
        alert_free(a);
        return;
    }
    pthread_mutex_lock(&al->lock);
    if (al->nq == al->qmax) {
        size_t victim = 0;

        for (size_t i = 0; i < al->nq; i++)
            if (al->q[i]->info) {
                victim = i;
                break;
            }
        for (size_t p = 0; p < al->npaths; p++)
            if (al->q[victim]->pending & (1u << p))
                al->paths[p].dropped++;
        al->dropped++;
        alert_free(al->q[victim]);
        memmove(&al->q[victim], &al->q[victim + 1], (al->nq - victim - 1) * sizeof(*al->q));
        al->nq--;
    }
    al->q[al->nq++] = a;
    pthread_cond_broadcast(&al->cond);
    pthread_mutex_unlock(&al->lock);
}

void
hvfd_alert(hvfd *d, const char *severity, const char *kind, const char *summary,
           json_t *details)
{
    if (!d->alerts) { /* not started (a failed start) or stopped */
        json_decref(details);
        return;
    }
    alert_raise(d, severity, kind, summary, details, 0);
}

/* ---- the sender ---- */

static size_t
sink(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

/* A request in flight ends when the daemon stops (libcurl asks at least once a second). */
static int
on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
            curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&((hvfd *)ctx)->stopping) ? 1 : 0;
}

static CURL *
http_handle(hvfd *d, long timeout_ms, struct curl_slist *headers)
{
    CURL *h = curl_easy_init();

    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hvfleetd/" HVFD_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
    if (headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    return h;
}

/* One request on @h; 0 when answered 2xx (or @ok_status), else -1 with @why. */
static int
http_do(CURL *h, long *status, long ok_status, char *why, size_t why_len)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;

    *status = 0;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (rc != CURLE_OK) {
        snprintf(why, why_len, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if ((*status >= 200 && *status < 300) || *status == ok_status)
        return 0;
    snprintf(why, why_len, "answered HTTP %ld", *status);
    return -1;
}

/* The first queued alert @p has to deliver, or NULL. */
static alert *
path_head(hvfd_alerts *al, size_t p)
{
    for (size_t i = 0; i < al->nq; i++)
        if (al->q[i]->pending & (1u << p))
            return al->q[i];
    return NULL;
}

static alert *
alert_by_id(hvfd_alerts *al, int64_t id, size_t *at)
{
    for (size_t i = 0; i < al->nq; i++)
        if (al->q[i]->id == id) {
            *at = i;
            return al->q[i];
        }
    return NULL;
}

/* What a path's outcome raises, once the lock is let go. */
typedef struct followup {
    bool raise;
    char severity[16], kind[32];
    char summary[512];
    json_t *details;
    unsigned skip;
} followup;

/* Records @p's outcome for alert @id, of @kind and @skip (the alert itself may be gone: dropped
from a full queue meanwhile). Under the lock. */
static void
path_outcome(hvfd *d, size_t p, int64_t id, const char *kind, unsigned skip, bool ok,
             const char *why, followup *fu)
{
    hvfd_alerts *al = d->alerts;
    apath *ap = &al->paths[p];
    int64_t now = hvfd_mono_ms();
    size_t at = 0;
    alert *a = alert_by_id(al, id, &at);
    bool give_up;

    if (ok) {
        ap->sent++;
        ap->last_ok_unix = (int64_t)time(NULL);
        ap->attempts = 0;
        give_up = true;
        if (ap->failing) {
            ap->failing = false;
            fu->raise = true;
            hvf_strlcpy(fu->severity, "info", sizeof(fu->severity));
            hvf_strlcpy(fu->kind, "alert-path-back", sizeof(fu->kind));
            snprintf(fu->summary, sizeof(fu->summary), "alert path %s delivers again",
                     ap->name);
            fu->details = json_pack("{s:s, s:s}", "path", ap->name, "path_kind",
                                    ap->is_cmd ? "command" : "webhook");
            fu->skip = 0;
        }
    } else {
        ap->attempts++;
        ap->attempts_failed++;
        ap->last_fail_unix = (int64_t)time(NULL);
        hvf_strlcpy(ap->last_error, why, sizeof(ap->last_error));
        give_up = ap->is_cmd || ap->failing || ap->attempts > d->cfg.alert_retries;
        if (!give_up) {
            /* exponential, capped, with jitter: half fixed, half random */
            uint64_t delay = d->cfg.alert_backoff_ms;

            for (unsigned i = 1; i < ap->attempts && delay < d->cfg.alert_backoff_max_ms; i++)
                delay *= 2;
            if (delay > d->cfg.alert_backoff_max_ms)
                delay = d->cfg.alert_backoff_max_ms;
            al->rng ^= al->rng << 13;
            al->rng ^= al->rng >> 7;
            al->rng ^= al->rng << 17;
            ap->due_ms = now + (int64_t)(delay / 2 + al->rng % (delay / 2 + 1));
        } else {
            ap->failed++;
            hvfd_log(HVFD_WARN, "an alert path gave an alert up",
                     json_pack("{s:s, s:I, s:s, s:i}", "path", ap->name, "alert",
                               (json_int_t)id, "error", why, "attempts", (int)ap->attempts));
            if (!ap->failing) {
                ap->failing = true;
                fu->raise = true;
                hvf_strlcpy(fu->severity, "critical", sizeof(fu->severity));
                hvf_strlcpy(fu->kind, "alert-path-failed", sizeof(fu->kind));
                snprintf(fu->summary, sizeof(fu->summary),
                         "alert path %s failed: %.200s (alert %" PRId64 " %s given up after %u "
                         "attempts)",
                         ap->name, why, id, kind, ap->attempts);
                fu->details = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i}", "path", ap->name,
                                        "path_kind", ap->is_cmd ? "command" : "webhook",
                                        "error", why, "alert_id", (json_int_t)id, "alert_kind",
                                        kind, "attempts", (int)ap->attempts);
                /* never back into the failed path, nor into those the lost alert reported on */
                fu->skip = (1u << p) | skip;
            }
            ap->attempts = 0;
        }
    }
    if (give_up && a) {
        a->pending &= ~(1u << p);
        if (!a->pending) {
            alert_free(a);
            memmove(&al->q[at], &al->q[at + 1], (al->nq - at - 1) * sizeof(*al->q));
            al->nq--;
        }
    }
}

/* Starts the hook for @a (under the lock; posix_spawn is quick). Returns 0, or -1 with @why. */
static int
hook_spawn(hvfd *d, apath *ap, const alert *a, char *why, size_t why_len)
{
    char *argv[] = {"/bin/sh", "-c", (char *)ap->target, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    size_t nenv = 0;
    char **envp;
    char *mine[4];
    int fds[2], rc;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return -1;
    }
    while (environ[nenv])
        nenv++;
    mine[0] = hvf_asprintf("HVFLEET_ALERT_SEVERITY=%s", a->severity);
    mine[1] = hvf_asprintf("HVFLEET_ALERT_KIND=%s", a->kind);
    mine[2] = hvf_asprintf("HVFLEET_ALERT_SUMMARY=%s", a->summary);
    mine[3] = hvf_asprintf("HVFLEET_ALERT_ID=%" PRId64, a->id);
    envp = hvf_calloc(nenv + 5, sizeof(*envp));
    for (size_t i = 0, k = 0; i < nenv; i++)
        if (strncmp(environ[i], "HVFLEET_ALERT_", 14) != 0)
            envp[k++] = environ[i];
    for (size_t i = 0, k = 0; i < 4; i++) {
        while (envp[k])
            k++;
        envp[k] = mine[i];
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 4; i++)
        free(mine[i]);
    free(envp);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        snprintf(why, why_len, "cannot start /bin/sh: %s", strerror(rc));
        return -1;
    }
    /* the body fits the pipe's buffer: written at once, never blocking; a hook that does not
     * read it is its own business */
    (void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
    {
        size_t len = strlen(a->body);

        if (write(fds[1], a->body, len) == (ssize_t)len)
            (void)!write(fds[1], "\n", 1);
    }
    close(fds[1]);
    ap->pid = pid;
    ap->pid_alert = a->id;
    hvf_strlcpy(ap->pid_kind, a->kind, sizeof(ap->pid_kind));
    ap->pid_skip = a->skip;
    ap->pid_deadline_ms = hvfd_mono_ms() + d->cfg.alert_command_timeout_ms;
    return 0;
}

/* The hook, when it ran: 1 done (@ok, @why), 0 still running. Under the lock. */
static int
hook_reap(hvfd *d, apath *ap, bool *ok, char *why, size_t why_len)
{
    int status = 0;
    pid_t got = waitpid(ap->pid, &status, WNOHANG);

    if (got == 0) {
        if (hvfd_mono_ms() < ap->pid_deadline_ms)
            return 0;
        (void)kill(-ap->pid, SIGKILL);
        (void)waitpid(ap->pid, &status, 0);
        *ok = false;
        snprintf(why, why_len, "timed out after %u ms (its process group killed)",
                 d->cfg.alert_command_timeout_ms);
    } else if (got < 0) {
        *ok = false;
        snprintf(why, why_len, "waitpid: %s", strerror(errno));
    } else if (WIFEXITED(status)) {
        *ok = WEXITSTATUS(status) == 0;
        snprintf(why, why_len, "exited with status %d", WEXITSTATUS(status));
    } else {
        *ok = false;
        snprintf(why, why_len, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    /* what the hook left running in its group goes with it */
    (void)kill(-ap->pid, SIGKILL);
    ap->pid = 0;
    return 1;
}

static void
followup_raise(hvfd *d, followup *fu)
{
    if (fu->raise)
        alert_raise(d, fu->severity, fu->kind, fu->summary, fu->details, fu->skip);
    memset(fu, 0, sizeof(*fu));
}

static void *
sender_main(void *arg)
{
    hvfd *d = arg;
    hvfd_alerts *al = d->alerts;
    char why[256];
    size_t next = 0; /* round robin: a busy path does not starve the others */

    pthread_mutex_lock(&al->lock);
    while (!atomic_load(&d->stopping)) {
        int64_t now = hvfd_mono_ms(), wake = now + 1000;
        followup fu = {0};
        bool worked = false;

        size_t start = next;

        for (size_t k = 0; k < al->npaths && !worked; k++) {
            size_t p = (start + k) % al->npaths;
            apath *ap = &al->paths[p];
            alert *a;

            next = p + 1;
            if (ap->is_cmd && ap->pid > 0) {
                bool ok = false;
                int64_t id = ap->pid_alert;

                if (hook_reap(d, ap, &ok, why, sizeof(why)) == 0) {
                    if (wake > now + 20)
                        wake = now + 20;
                    continue;
                }
                path_outcome(d, p, id, ap->pid_kind, ap->pid_skip, ok, why, &fu);
                worked = true;
                break;
            }
            if (!(a = path_head(al, p)))
                continue;
            if (a->id != ap->cur_id) {
                ap->cur_id = a->id;
                ap->attempts = 0;
                ap->due_ms = now;
            }
            if (ap->due_ms > now) {
                if (ap->due_ms < wake)
                    wake = ap->due_ms;
                continue;
            }
            worked = true;
            if (ap->is_cmd) {
                if (hook_spawn(d, ap, a, why, sizeof(why)) < 0)
                    path_outcome(d, p, a->id, a->kind, a->skip, false, why, &fu);
            } else {
                HVF_AUTOFREE char *body = hvf_strdup(a->body);
                int64_t id = a->id;
                unsigned skip = a->skip;
                char kind[64];
                long status;
                int rc;

                hvf_strlcpy(kind, a->kind, sizeof(kind));
                /* the POST runs unlocked: hvfd_alert and GET /v1/monitors go on meanwhile */
                pthread_mutex_unlock(&al->lock);
                curl_easy_setopt(ap->curl, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(ap->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
                rc = http_do(ap->curl, &status, 0, why, sizeof(why));
                pthread_mutex_lock(&al->lock);
                if (atomic_load(&d->stopping)) /* cut short by the stop: not the path's fault */
                    break;
                path_outcome(d, p, id, kind, skip, rc == 0, why, &fu);
            }
        }
        if (fu.raise) {
            pthread_mutex_unlock(&al->lock);
            followup_raise(d, &fu);
            pthread_mutex_lock(&al->lock);
        }
        if (!worked && !atomic_load(&d->stopping)) {
            struct timespec until;

            hvfd_deadline(&until, (int)(wake - now > 0 ? wake - now : 1));
            pthread_cond_timedwait(&al->cond, &al->lock, &until);
        }
    }
    /* stopping: a hook still running is not left behind */
    for (size_t p = 0; p < al->npaths; p++)
        if (al->paths[p].pid > 0) {
            (void)kill(-al->paths[p].pid, SIGKILL);
            (void)waitpid(al->paths[p].pid, NULL, 0);
            al->paths[p].pid = 0;
        }
    pthread_mutex_unlock(&al->lock);
    return NULL;
}

/* ---- the monitor: the feed, peers, the dead-man's switch ---- */

static const char *
jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

/*
 * A host's alert (host-lost, agent-down, ha-not-fenced, ha-fence-failed) waits ALERT_HOLD_MS: many hosts lost together become a storm
 * within that window (HA's storm guard), and the storm sends one alert instead of one per host.
 * During a storm they are folded into it at once; a lone host is alerted after the delay.
 */
static void
feed_hold(hvfd *d, const char *severity, const char *kind, const char *summary,
          json_t *details)
{
    hvfd_alerts *al = d->alerts;
    held_alert *h;

    if (al->storm) {
        al->storm_folded++;
        json_decref(details);
        return;
    }
    if (al->nheld == ALERT_HOLD_MAX) {
        alert_raise(d, severity, kind, summary, details, 0);
        return;
    }
    hvf_grow(&al->held, &al->held_cap, al->nheld + 1, sizeof(*al->held));
    h = &al->held[al->nheld++];
    h->due_ms = hvfd_mono_ms() + ALERT_HOLD_MS;
    hvf_strlcpy(h->severity, severity, sizeof(h->severity));
    hvf_strlcpy(h->kind, kind, sizeof(h->kind));
    hvf_strlcpy(h->summary, summary, sizeof(h->summary));
    h->details = details;
}

/* Held alerts whose window passed without a storm are raised; @fold: the storm came, each is
 * folded into its alert instead. Returns how many were folded. */
static size_t
feed_release(hvfd *d, bool fold)
{
    hvfd_alerts *al = d->alerts;
    int64_t now = hvfd_mono_ms();
    size_t k = 0, folded = 0;

    for (size_t i = 0; i < al->nheld; i++) {
        held_alert *h = &al->held[i];

        if (fold) {
            json_decref(h->details);
            folded++;
        } else if (h->due_ms <= now) {
            alert_raise(d, h->severity, h->kind, h->summary, h->details, 0);
        } else {
            al->held[k++] = *h;
        }
    }
    al->nheld = k;
    return folded;
}

/* The alert an event of the feed opens, if any: the incidents of incidents.c, agents down. */
static void
feed_event(hvfd *d, const hvf_store_event *e)
{
    hvfd_alerts *al = d->alerts;
    json_t *data;
    const char *ev;
    char summary[512];

    if (strcmp(e->type, "run_event") != 0 && strcmp(e->type, "driver") != 0 &&
        strcmp(e->type, "agent") != 0 && strcmp(e->type, "ha") != 0 &&
        strcmp(e->type, "reconcile") != 0)
        return;
    if (!(data = json_loads(e->data, 0, NULL)))
        return;
    ev = jstr(data, "event");
    if (strcmp(e->type, "ha") == 0) {
        /* what HA could not do, or chose not to: a person must look (docs/ha.md) */
        static const struct {
            const char *event, *severity, *kind, *what;
        } ha[] = {
            {"storm", "critical", "ha-storm",
             "many hosts lost at once (the network?): nothing is fenced or restarted"},
            {"not_fenced", "critical", "ha-not-fenced",
             "a lost host cannot be fenced: its VMs are unknown, none restarted"},
            {"fence_failed", "critical", "ha-fence-failed", "fencing a lost host failed"},
            {"restart_failed", "warning", "ha-restart-failed", "an HA VM could not be restarted"},
            {"infra_failed", "critical", "ha-infrastructure",
             "an infrastructure incident: per-VM remediation is paused"},
        };

        if (strcmp(ev, "storm") == 0) {
            al->storm = true;
            al->storm_folded = feed_release(d, true);
        } else if (strcmp(ev, "storm_over") == 0) {
            al->storm = false;
        }
        for (size_t i = 0; i < sizeof(ha) / sizeof(ha[0]); i++) {
            bool per_host = strcmp(ev, "not_fenced") == 0 || strcmp(ev, "fence_failed") == 0;

            if (strcmp(ev, ha[i].event) != 0)
                continue;
            snprintf(summary, sizeof(summary), "%s%s%.100s", ha[i].what,
                     *jstr(data, "host") || *jstr(data, "vm") ? ": " : "",
                     *jstr(data, "host") ? jstr(data, "host") : jstr(data, "vm"));
            if (strcmp(ev, "infra_failed") == 0)
                snprintf(summary, sizeof(summary), "%s: %.300s", ha[i].what, jstr(data, "why"));
            if (strcmp(ev, "storm") == 0) {
                char more[128];

                snprintf(more, sizeof(more), " (%" PRId64 " of %" PRId64 " hosts lost)",
                         (int64_t)json_integer_value(json_object_get(data, "lost")),
                         (int64_t)json_integer_value(json_object_get(data, "hosts")));
                if (strlen(summary) + strlen(more) < sizeof(summary))
                    memcpy(summary + strlen(summary), more, strlen(more) + 1);
                json_object_set_new(data, "folded_alerts", json_integer((json_int_t)
                                                                        al->storm_folded));
            }
            json_object_set_new(data, "seq", json_integer(e->seq));
            if (per_host) /* a host's: a storm's when many go together */
                feed_hold(d, ha[i].severity, ha[i].kind, summary, json_incref(data));
            else
                alert_raise(d, ha[i].severity, ha[i].kind, summary, json_incref(data), 0);
        }
    } else if (strcmp(e->type, "reconcile") == 0) {
        if (strcmp(ev, "found") == 0) {
            snprintf(summary, sizeof(summary), "VM %.100s: %s on %.100s", jstr(data, "vm"),
                     jstr(data, "kind"), jstr(data, "hosts"));
            json_object_set_new(data, "seq", json_integer(e->seq));
            alert_raise(d, strcmp(jstr(data, "kind"), "duplicate") == 0 ? "critical" : "warning",
                        "divergence", summary, json_incref(data), 0);
        }
    } else if (strcmp(e->type, "agent") == 0) {
        if (strcmp(jstr(data, "type"), "agent_down") == 0) {
            snprintf(summary, sizeof(summary), "the agent of host %.100s is down (silent %" PRId64
                     " s)", jstr(data, "host"),
                     (int64_t)json_integer_value(json_object_get(data, "silent_s")));
            feed_hold(d, "warning", "agent-down", summary,
                      json_pack("{s:s, s:I}", "host", jstr(data, "host"), "seq",
                                (json_int_t)e->seq));
        }
    } else if (strcmp(ev, "host_lost") == 0) {
        snprintf(summary, sizeof(summary), "host %.100s went down%s", jstr(data, "host"),
                 e->run ? " during a run" : "");
        feed_hold(d, "critical", "host-lost", summary,
                  json_pack("{s:s, s:I, s:I}", "host", jstr(data, "host"), "run",
                            (json_int_t)e->run, "seq", (json_int_t)e->seq));
    } else if (strcmp(ev, "halt") == 0) {
        al->halted_run = e->run;
        snprintf(summary, sizeof(summary), "run %" PRId64 " halted: %.200s", e->run,
                 jstr(data, "reason"));
        alert_raise(d, "warning", "run-halted", summary,
                    json_pack("{s:I, s:I}", "run", (json_int_t)e->run, "seq", (json_int_t)e->seq),
                    0);
    } else if (strcmp(ev, "run_end") == 0 && e->run != al->halted_run &&
               (strcmp(jstr(data, "result"), "aborted") == 0 ||
                strcmp(jstr(data, "result"), "partial") == 0)) {
        snprintf(summary, sizeof(summary), "run %" PRId64 " ended %s: %.200s", e->run,
                 jstr(data, "result"), jstr(data, "note"));
        alert_raise(d, "warning", "run-halted", summary,
                    json_pack("{s:I, s:s, s:I}", "run", (json_int_t)e->run, "result",
                              jstr(data, "result"), "seq", (json_int_t)e->seq), 0);
    }
    json_decref(data);
}

static void
feed_scan(hvfd *d, hvf_store *st)
{
    hvfd_alerts *al = d->alerts;
    hvf_error err = HVF_ERROR_INIT;

    for (int rounds = 0; rounds < 20; rounds++) { /* at most 10000 events a second */
        hvf_store_event *evs = NULL;
        long got = hvf_store_events(st, al->feed_last, 500, &evs, &err);

        if (got < 0) {
            hvfd_log(HVFD_WARN, "alerts: cannot read the event feed",
                     json_pack("{s:s}", "error", err.msg));
            return;
        }
        for (long k = 0; k < got; k++)
            feed_event(d, &evs[k]);
        if (got)
            al->feed_last = evs[got - 1].seq;
        hvf_store_events_free(evs, (size_t)got);
        if (got < 500)
            return;
    }
}

static void
peer_check(hvfd *d, peer *pr)
{
    hvfd_alerts *al = d->alerts;
    char why[256] = "", summary[512];
    int64_t now;
    long status = 0;
    int rc = http_do(pr->curl, &status, 503, why, sizeof(why)); /* 503: alive, starting */
    peer_state was;

    if (atomic_load(&d->stopping)) /* cut short by the stop */
        return;
    now = hvfd_mono_ms();
    pthread_mutex_lock(&al->lock);
    was = pr->state;
    pr->last_status = status;
    pr->next_ms = now + d->cfg.peer_every_ms;
    if (rc == 0) {
        pr->ok++;
        pr->last_ok_ms = now;
        pr->last_ok_unix = (int64_t)time(NULL);
        pr->state = PEER_UP;
    } else {
        pr->failures++;
        pr->last_fail_unix = (int64_t)time(NULL);
        hvf_strlcpy(pr->last_error, why, sizeof(pr->last_error));
        if (now - pr->last_ok_ms >= (int64_t)d->cfg.peer_down_after_ms)
            pr->state = PEER_DOWN;
    }
    pthread_mutex_unlock(&al->lock);
    if (pr->state == PEER_DOWN && was != PEER_DOWN) {
        snprintf(summary, sizeof(summary), "peer %.200s is silent for %" PRId64 " s: %.200s",
                 pr->url, (now - pr->last_ok_ms) / 1000, why);
        alert_raise(d, "critical", "peer-down", summary,
                    json_pack("{s:s, s:s, s:I}", "peer", pr->url, "error", why, "silent_s",
                              (json_int_t)((now - pr->last_ok_ms) / 1000)),
                    0);
    } else if (pr->state == PEER_UP && was == PEER_DOWN) {
        snprintf(summary, sizeof(summary), "peer %.200s answers again", pr->url);
        alert_raise(d, "info", "peer-back", summary, json_pack("{s:s}", "peer", pr->url), 0);
    }
}

static void
deadman_hit(hvfd *d)
{
    hvfd_alerts *al = d->alerts;
    char why[256] = "", summary[512];
    long status = 0;
    int rc = http_do(al->dm_curl, &status, 0, why, sizeof(why));
    int was;

    if (atomic_load(&d->stopping)) /* cut short by the stop */
        return;
    pthread_mutex_lock(&al->lock);
    was = al->dm_state;
    al->dm_next_ms = hvfd_mono_ms() + d->cfg.deadman_every_ms;
    if (rc == 0) {
        al->dm_hits++;
        al->dm_last_ok_unix = (int64_t)time(NULL);
        al->dm_state = 1;
    } else {
        al->dm_failures++;
        al->dm_last_fail_unix = (int64_t)time(NULL);
        hvf_strlcpy(al->dm_error, why, sizeof(al->dm_error));
        al->dm_state = 2;
    }
    pthread_mutex_unlock(&al->lock);
    if (rc != 0 && was != 2) {
        snprintf(summary, sizeof(summary), "the dead-man's switch cannot be reached: %.200s",
                 why);
        alert_raise(d, "critical", "deadman-failed", summary,
                    json_pack("{s:s}", "error", why), 0);
    } else if (rc == 0 && was == 2) {
        alert_raise(d, "info", "deadman-back", "the dead-man's switch is reached again", NULL, 0);
    }
}

static void *
monitor_main(void *arg)
{
    hvfd *d = arg;
    hvfd_alerts *al = d->alerts;
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);

    if (!st)
        hvfd_log(HVFD_ERROR, "alerts: no store: the feed raises no alert",
                 json_pack("{s:s}", "error", err.msg));
    else
        al->feed_last = hvf_store_event_last(st);
    while (!atomic_load(&d->stopping)) {
        int64_t now = hvfd_mono_ms();
        struct timespec until;

        if (st && now >= al->feed_next_ms) {
            feed_scan(d, st);
            al->feed_next_ms = now + 500;
        }
        if (al->nheld)
            feed_release(d, false);
        for (size_t i = 0; i < al->npeers && !atomic_load(&d->stopping); i++)
            if (hvfd_mono_ms() >= al->peers[i].next_ms)
                peer_check(d, &al->peers[i]);
        if (al->dm_curl && hvfd_mono_ms() >= al->dm_next_ms && !atomic_load(&d->stopping))
            deadman_hit(d);
        pthread_mutex_lock(&al->lock);
        if (!atomic_load(&d->stopping)) {
            hvfd_deadline(&until, 100);
            pthread_cond_timedwait(&al->cond, &al->lock, &until);
        }
        pthread_mutex_unlock(&al->lock);
    }
    hvfd_store_put(d, st);
    return NULL;
}

/* ---- life ---- */

/* @url without what may be a secret (user info, path, query): scheme://host:port/... */
static json_t *
url_shown(const char *url)
{
    const char *auth = strstr(url, "://");
    const char *end, *at;

    if (!auth)
        return json_string("");
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at)
        auth = at + 1;
    return json_sprintf("%.*s%.*s%s", (int)(strstr(url, "://") + 3 - url), url,
                        (int)(end - auth), auth, *end ? "/..." : "");
}

int
hvfd_alerts_start(hvfd *d, hvf_error *err)
{
    hvfd_config *c = &d->cfg;
    hvfd_alerts *al;

    if (c->nalert_webhooks > ALERT_PATHS_MAX - 1) { /* config.c refuses more */
        hvf_error_set(err, HVF_ERR_INVALID, "alert_webhooks: %zu URLs, at most %d",
                      c->nalert_webhooks, ALERT_PATHS_MAX - 1);
        return -1;
    }
    al = d->alerts = HVF_NEW(hvfd_alerts);
    pthread_mutex_init(&al->lock, NULL);
    pthread_cond_init(&al->cond, NULL);
    al->qmax = c->alert_queue;
    al->q = hvf_calloc(al->qmax, sizeof(*al->q));
    al->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)hvfd_mono_ns() ^ 0x9e3779b97f4a7c15ull;
    snprintf(al->instance, sizeof(al->instance), "%s:%d", c->listen_host, d->port);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "libcurl could not start");
        return -1;
    }
    al->curl_inited = true;
    for (size_t i = 0; i < c->nalert_webhooks; i++) {
        apath *ap = &al->paths[al->npaths];

        snprintf(ap->name, sizeof(ap->name), "webhook%zu", i);
        ap->target = c->alert_webhooks[i];
        ap->headers = curl_slist_append(NULL, "Content-Type: application/json");
        ap->headers = curl_slist_append(ap->headers, "Expect:");
        if (!(ap->curl = http_handle(d, c->alert_webhook_timeout_ms, ap->headers))) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "libcurl could not make a handle");
            return -1;
        }
        curl_easy_setopt(ap->curl, CURLOPT_URL, ap->target);
        curl_easy_setopt(ap->curl, CURLOPT_POST, 1L);
        al->all_paths |= 1u << al->npaths++;
    }
    if (c->alert_command) {
        apath *ap = &al->paths[al->npaths];

        hvf_strlcpy(ap->name, "command", sizeof(ap->name));
        ap->is_cmd = true;
        ap->target = c->alert_command;
        al->all_paths |= 1u << al->npaths++;
    }
    if (c->peer_token_file) {
        HVF_AUTOFREE char *tok = NULL;
        size_t len = 0;

        if (!(tok = hvf_text_read_file(c->peer_token_file, 4096, &len, err))) {
            hvf_error_prefix(err, "peer_token_file: ");
            if (err)
                err->code = HVF_ERR_INVALID; /* a setting: exit 2 */
            return -1;
        }
        while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
            tok[--len] = '\0';
        if (!len || strpbrk(tok, "\r\n")) {
            hvf_error_set(err, HVF_ERR_INVALID, "peer_token_file '%s': expected one token",
                          c->peer_token_file);
            return -1;
        }
        {
            HVF_AUTOFREE char *h = hvf_asprintf("Authorization: Bearer %s", tok);

            al->peer_headers = curl_slist_append(NULL, h);
            memset(h, 0, strlen(h));
        }
        memset(tok, 0, len);
    }
    al->peers = hvf_calloc(c->npeers ? c->npeers : 1, sizeof(*al->peers));
    for (size_t i = 0; i < c->npeers; i++) {
        peer *pr = &al->peers[al->npeers++];
        size_t n = strlen(c->peers[i]);
        long timeout = c->peer_every_ms < 2000 ? (long)c->peer_every_ms : 2000L;

        pr->url = c->peers[i];
        pr->health_url = hvf_asprintf("%.*s/v1/health", (int)(n && c->peers[i][n - 1] == '/'
                                                                  ? n - 1
                                                                  : n),
                                      c->peers[i]);
        pr->last_ok_ms = hvfd_mono_ms();
        if (!(pr->curl = http_handle(d, timeout, al->peer_headers))) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "libcurl could not make a handle");
            return -1;
        }
        curl_easy_setopt(pr->curl, CURLOPT_URL, pr->health_url);
    }
    if (c->deadman_url) {
        if (!(al->dm_curl = http_handle(d, 10000, NULL))) {
            hvf_error_set(err, HVF_ERR_INTERNAL, "libcurl could not make a handle");
            return -1;
        }
        curl_easy_setopt(al->dm_curl, CURLOPT_URL, c->deadman_url);
    }
    if (pthread_create(&al->sender, NULL, sender_main, d) != 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "cannot start the alert sender thread");
        return -1;
    }
    al->sender_started = true;
    if (pthread_create(&al->monitor, NULL, monitor_main, d) != 0) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "cannot start the monitor thread");
        return -1;
    }
    al->monitor_started = true;
    return 0;
}

void
hvfd_alerts_stop(hvfd *d)
{
    hvfd_alerts *al = d->alerts;

    if (!al)
        return;
    pthread_mutex_lock(&al->lock);
    pthread_cond_broadcast(&al->cond);
    pthread_mutex_unlock(&al->lock);
    if (al->monitor_started)
        pthread_join(al->monitor, NULL);
    if (al->sender_started)
        pthread_join(al->sender, NULL);
    al->monitor_started = al->sender_started = false;
}

void
hvfd_alerts_clear(hvfd *d)
{
    hvfd_alerts *al = d->alerts;

    if (!al)
        return;
    hvfd_alerts_stop(d);
    d->alerts = NULL;
    for (size_t i = 0; i < al->nq; i++)
        alert_free(al->q[i]);
    free(al->q);
    for (size_t i = 0; i < al->nheld; i++)
        json_decref(al->held[i].details);
    free(al->held);
    for (size_t p = 0; p < al->npaths; p++) {
        if (al->paths[p].curl)
            curl_easy_cleanup(al->paths[p].curl);
        curl_slist_free_all(al->paths[p].headers);
    }
    for (size_t i = 0; i < al->npeers; i++) {
        if (al->peers[i].curl)
            curl_easy_cleanup(al->peers[i].curl);
        free(al->peers[i].health_url);
    }
    free(al->peers);
    if (al->peer_headers) {
        for (struct curl_slist *h = al->peer_headers; h; h = h->next)
            memset(h->data, 0, strlen(h->data));
        curl_slist_free_all(al->peer_headers);
    }
    if (al->dm_curl)
        curl_easy_cleanup(al->dm_curl);
    if (al->curl_inited)
        curl_global_cleanup();
    pthread_mutex_destroy(&al->lock);
    pthread_cond_destroy(&al->cond);
    free(al);
}

/* ---- what GET /v1/monitors and /metrics show ---- */

static json_t *
unix_or_null(int64_t t)
{
    return t ? json_integer(t) : json_null();
}

static json_t *
text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

int
hvfd_api_monitors(hvfd_req *r)
{
    hvfd *d = r->d;
    hvfd_alerts *al = d->alerts;
    json_t *peers = json_array(), *paths = json_array(), *dm = json_null();
    int64_t now = hvfd_mono_ms();
    size_t depth;
    uint64_t dropped;

    if (!al)
        return hvfd_fail(r, 503, NULL, "the monitors are not running");
    pthread_mutex_lock(&al->lock);
    for (size_t i = 0; i < al->npeers; i++) {
        const peer *pr = &al->peers[i];

        json_array_append_new(
            peers, json_pack("{s:s, s:s, s:f, s:o, s:o, s:o, s:I, s:I, s:o}", "url", pr->url,
                             "state", peer_state_names[pr->state], "silent_s",
                             (double)(now - pr->last_ok_ms) / 1000.0, "last_ok_unix",
                             unix_or_null(pr->last_ok_unix), "last_fail_unix",
                             unix_or_null(pr->last_fail_unix), "last_status",
                             pr->last_status ? json_integer(pr->last_status) : json_null(),
                             "answers", (json_int_t)pr->ok, "failures",
                             (json_int_t)pr->failures, "last_error",
                             text_or_null(pr->last_error)));
    }
    for (size_t p = 0; p < al->npaths; p++) {
        const apath *ap = &al->paths[p];
        size_t queued = 0;

        for (size_t i = 0; i < al->nq; i++)
            queued += (al->q[i]->pending >> p) & 1;
        json_array_append_new(
            paths,
            json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "name",
                      ap->name, "kind", ap->is_cmd ? "command" : "webhook", "target",
                      ap->is_cmd ? json_string("") : url_shown(ap->target), "state",
                      ap->failing                              ? "failing"
                      : ap->last_ok_unix || ap->last_fail_unix ? "ok"
                                                               : "unknown",
                      "queued", (json_int_t)queued, "sent", (json_int_t)ap->sent, "failed",
                      (json_int_t)ap->failed, "dropped", (json_int_t)ap->dropped,
                      "last_ok_unix", unix_or_null(ap->last_ok_unix), "last_fail_unix",
                      unix_or_null(ap->last_fail_unix), "last_error",
                      text_or_null(ap->last_error)));
    }
    if (al->dm_curl)
        dm = json_pack("{s:o, s:f, s:s, s:I, s:I, s:o, s:o, s:o}", "url",
                       url_shown(d->cfg.deadman_url), "every_s",
                       (double)d->cfg.deadman_every_ms / 1000.0, "state",
                       al->dm_state == 1 ? "ok" : al->dm_state == 2 ? "failing" : "unknown",
                       "hits", (json_int_t)al->dm_hits, "failures", (json_int_t)al->dm_failures,
                       "last_ok_unix", unix_or_null(al->dm_last_ok_unix), "last_fail_unix",
                       unix_or_null(al->dm_last_fail_unix), "last_error",
                       text_or_null(al->dm_error));
    depth = al->nq;
    dropped = al->dropped;
    pthread_mutex_unlock(&al->lock);
    return hvfd_reply(r, 200,
                      json_pack("{s:s, s:b, s:o, s:o, s:o, s:{s:I, s:I, s:I}}", "instance",
                                al->instance, "monitor_only", d->cfg.monitor_only, "peers",
                                peers, "deadman", dm, "paths", paths, "queue", "depth",
                                (json_int_t)depth, "max", (json_int_t)al->qmax, "dropped",
                                (json_int_t)dropped));
}

static void
family(hvf_strbuf *sb, const char *name, const char *type, const char *help)
{
    hvf_strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
hvfd_alerts_metrics(hvfd *d, hvf_strbuf *sb)
{
    hvfd_alerts *al = d->alerts;
    size_t peers[3] = {0};

    if (!al)
        return;
    pthread_mutex_lock(&al->lock);
    family(sb, "hvfleet_alerts_raised_total", "counter", "Alerts raised, by severity.");
    for (int i = 0; i < 3; i++)
        hvf_strbuf_printf(sb, "hvfleet_alerts_raised_total{severity=\"%s\"} %" PRIu64 "\n",
                          severities[i], al->raised[i]);
    family(sb, "hvfleet_alerts_total", "counter",
           "Alerts by path and what became of them (failed: given up after its retries).");
    for (size_t p = 0; p < al->npaths; p++) {
        const apath *ap = &al->paths[p];

        hvf_strbuf_printf(sb,
                          "hvfleet_alerts_total{path=\"%s\",result=\"sent\"} %" PRIu64 "\n"
                          "hvfleet_alerts_total{path=\"%s\",result=\"failed\"} %" PRIu64 "\n"
                          "hvfleet_alerts_total{path=\"%s\",result=\"dropped\"} %" PRIu64 "\n",
                          ap->name, ap->sent, ap->name, ap->failed, ap->name, ap->dropped);
    }
    family(sb, "hvfleet_alert_attempts_failed_total", "counter",
           "Deliveries that failed, retries included, by path.");
    for (size_t p = 0; p < al->npaths; p++)
        hvf_strbuf_printf(sb, "hvfleet_alert_attempts_failed_total{path=\"%s\"} %" PRIu64 "\n",
                          al->paths[p].name, al->paths[p].attempts_failed);
    family(sb, "hvfleet_alert_path_up", "gauge",
           "1 unless the path gave its last alert up.");
    for (size_t p = 0; p < al->npaths; p++)
        hvf_strbuf_printf(sb, "hvfleet_alert_path_up{path=\"%s\"} %d\n", al->paths[p].name,
                          !al->paths[p].failing);
    family(sb, "hvfleet_alerts_queued", "gauge", "Alerts waiting for a path.");
    hvf_strbuf_printf(sb, "hvfleet_alerts_queued %zu\n", al->nq);
    family(sb, "hvfleet_alerts_dropped_total", "counter",
           "Alerts dropped from a full queue (the oldest info alerts first).");
    hvf_strbuf_printf(sb, "hvfleet_alerts_dropped_total %" PRIu64 "\n", al->dropped);
    for (size_t i = 0; i < al->npeers; i++)
        peers[al->peers[i].state]++;
    family(sb, "hvfleet_peers", "gauge", "Peer monitors by state.");
    for (int i = 0; i < 3; i++)
        hvf_strbuf_printf(sb, "hvfleet_peers{state=\"%s\"} %zu\n", peer_state_names[i],
                          peers[i]);
    if (al->dm_curl) {
        family(sb, "hvfleet_deadman_hits_total", "counter",
               "Hits of the dead-man's switch, by result.");
        hvf_strbuf_printf(sb,
                          "hvfleet_deadman_hits_total{result=\"ok\"} %" PRIu64 "\n"
                          "hvfleet_deadman_hits_total{result=\"failed\"} %" PRIu64 "\n",
                          al->dm_hits, al->dm_failures);
    }
    pthread_mutex_unlock(&al->lock);
}
