/* SPDX-License-Identifier: MIT */
/* hvfleet --server URL: which verbs go to hvfleetd, and freeze, unfreeze, status, events there. */
#include <getopt.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "cli/remote.h"
#include "hvfleet/alloc.h"
#include "util/sse.h"

/* an event of the stream is one store event: far below this */
#define EVENTS_MAX (4 << 20)

hvf_client *
hvf_cli_remote_open(const hvf_client_opts *o, int *rc)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_client *c = hvf_client_new(o, &err);

    if (!c)
        *rc = hvf_cli_fail(&err);
    return c;
}

json_t *
hvf_cli_remote_call(hvf_client *c, const char *what, const char *method, const char *path,
                    const json_t *body, int *rc)
{
    hvf_error err = HVF_ERROR_INIT;
    json_t *answer = NULL;
    long status = hvf_client_request(c, method, path, body, &answer, &err);

    if (status < 0) {
        fprintf(stderr, "hvfleet: %s\n", err.msg);
        *rc = 1;
        return NULL;
    }
    if (status < 200 || status >= 300) {
        *rc = hvf_client_fail(what, status, answer);
        json_decref(answer);
        return NULL;
    }
    if (!answer) {
        fprintf(stderr, "hvfleet: %s: hvfleetd at %s answered HTTP %ld without JSON\n", what,
                hvf_client_url(c), status);
        *rc = 1;
    }
    return answer;
}

char *
hvf_cli_remote_plan_hash(const char *what, const char *arg, int *rc)
{
    size_t hex = strspn(arg, "0123456789abcdef");
    char *hash = NULL;

    if (hvf_client_is_plan_hash(arg))
        return hvf_strdup(arg);
    if (access(arg, F_OK) != 0) {
        if (hex == strlen(arg) && hex >= 8)
            fprintf(stderr, "hvfleet: %s: '%s' is a prefix: hvfleetd finds a plan by its whole "
                            "plan_hash (64 hex digits); give it, or the plan file\n",
                    what, arg);
        else
            fprintf(stderr, "hvfleet: %s: '%s': expected a plan_hash (64 hex digits) or a plan "
                            "file (%s)\n",
                    what, arg, strerror(errno));
        *rc = 2;
        return NULL;
    }
    if (hvf_cli_plan_is_change(arg)) {
        hvf_change_plan_file *cp = hvf_cli_load_change_plan(arg, rc);

        if (cp)
            hash = hvf_strdup(cp->plan_hash);
        hvf_change_plan_file_free(cp);
    } else {
        hvf_plan *p = hvf_cli_load_plan(arg, rc);

        if (p)
            hash = hvf_strdup(p->summary.plan_hash);
        hvf_plan_free(p);
    }
    return hash;
}

/* An option that works on the local state and means nothing to the daemon. */
static int
remote_local_only(const char *verb, const char *opt)
{
    fprintf(stderr, "hvfleet: %s: %s works on local files; with --server hvfleetd uses its own "
                    "state and knows you by your token (drop %s, or --server)\n",
            verb, opt, opt);
    return 2;
}

static void
remote_when(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || !gmtime_r(&tt, &tm))
        snprintf(buf, len, "an unknown time");
    else
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
remote_print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
}

/* ---- freeze, unfreeze ---- */

static void
freeze_print(const json_t *f, const char *url)
{
    char when[32];

    if (json_is_true(json_object_get(f, "frozen"))) {
        remote_when(json_integer_value(json_object_get(f, "since_unix")), when, sizeof(when));
        printf("frozen since %s by %s: %s (hvfleetd at %s)\n", when,
               json_string_value(json_object_get(f, "by")) ?: "unknown",
               json_string_value(json_object_get(f, "reason")) ?: "no reason given", url);
    } else {
        printf("not frozen (hvfleetd at %s)\n", url);
    }
}

static int
freeze_remote(const hvf_client_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"status", no_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"by", required_argument, NULL, 'L'},
                                         {"state-dir", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    bool status = false, json = false;
    hvf_client *c;
    json_t *f, *body = NULL;
    int ch, li = 0, rc = 0;
    char opt[32];

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        switch (ch) {
        case 'r': reason = optarg; break;
        case 's': status = true; break;
        case 'j': json = true; break;
        case 'L':
            snprintf(opt, sizeof(opt), "--%s", opts[li].name);
            return remote_local_only("freeze", opt);
        case 'h':
            printf("usage: hvfleet --server URL freeze --reason TEXT\n"
                   "       hvfleet --server URL freeze --status [--json]\n"
                   "Freezes the fleet hvfleetd runs (PUT /v1/freeze): every automated action\n"
                   "refuses to start until unfreeze. --status (GET /v1/freeze) exits 0 when\n"
                   "frozen, 1 when not.\n");
            return 0;
        default:
            fprintf(stderr, "hvfleet: freeze: bad option '%s'; see hvfleet freeze --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hvfleet: freeze: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!(c = hvf_cli_remote_open(o, &rc)))
        return rc;
    if (status) {
        f = hvf_cli_remote_call(c, "freeze --status", "GET", "/v1/freeze", NULL, &rc);
    } else {
        body = reason ? json_pack("{s:s}", "reason", reason) : json_object();
        if (!body) {
            fprintf(stderr, "hvfleet: freeze: --reason: expected UTF-8 text\n");
            hvf_client_free(c);
            return 2;
        }
        f = hvf_cli_remote_call(c, "freeze", "PUT", "/v1/freeze", body, &rc);
    }
    if (f) {
        if (json)
            remote_print_json(f);
        else
            freeze_print(f, hvf_client_url(c));
        rc = status && !json_is_true(json_object_get(f, "frozen")) ? 1 : 0;
    }
    json_decref(body);
    json_decref(f);
    hvf_client_free(c);
    return rc;
}

static int
unfreeze_remote(const hvf_client_opts *o, int argc, char **argv)
{
    hvf_client *c;
    json_t *f;
    int rc = 0;

    if (argc >= 2 && hvf_cli_is_help(argv[1])) {
        printf("usage: hvfleet --server URL unfreeze\nLifts hvfleetd's freeze (DELETE "
               "/v1/freeze).\n");
        return 0;
    }
    if (argc >= 2) {
        if (strcmp(argv[1], "--state-dir") == 0 || strncmp(argv[1], "--state-dir=", 12) == 0)
            return remote_local_only("unfreeze", "--state-dir");
        fprintf(stderr, "hvfleet: unfreeze: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    if (!(c = hvf_cli_remote_open(o, &rc)))
        return rc;
    if ((f = hvf_cli_remote_call(c, "unfreeze", "DELETE", "/v1/freeze", NULL, &rc))) {
        printf("not frozen: automation may start actions again (hvfleetd at %s)\n",
               hvf_client_url(c));
        json_decref(f);
    }
    hvf_client_free(c);
    return rc;
}

/* ---- status ---- */

/* Counts of @arr's objects by their "state", as {"state": n} (insertion ordered). */
static json_t *
status_by_state(const json_t *arr)
{
    json_t *by = json_object();
    size_t i;
    json_t *x;

    json_array_foreach(arr, i, x) {
        const char *st = json_string_value(json_object_get(x, "state"));
        json_t *n;

        if (!st)
            st = "unknown";
        n = json_object_get(by, st);
        json_object_set_new(by, st, json_integer(n ? json_integer_value(n) + 1 : 1));
    }
    return by;
}

static void
status_print_counts(const char *what, const json_t *arr, const json_t *by)
{
    const char *k;
    json_t *v;
    bool first = true;

    printf("%s: %zu", what, json_array_size(arr));
    json_object_foreach((json_t *)by, k, v) {
        printf("%s%s %" JSON_INTEGER_FORMAT, first ? " (" : ", ", k, json_integer_value(v));
        first = false;
    }
    printf("%s\n", first ? "" : ")");
}

static int
status_remote(const hvf_client_opts *o, int argc, char **argv)
{
    bool json = false;
    hvf_client *c;
    json_t *health = NULL, *hosts = NULL, *vms = NULL, *freeze = NULL, *run = NULL;
    json_t *hby = NULL, *vby = NULL;
    const json_t *runid;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (hvf_cli_is_help(argv[i])) {
            printf("usage: hvfleet --server URL status [--json]\n"
                   "hvfleetd at a glance: its health, hosts and VMs by state, the unfinished run\n"
                   "(running or paused, if any) and the freeze. Needs --server (or\n"
                   "HVFLEET_SERVER).\n");
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        fprintf(stderr, "hvfleet: status: unexpected argument '%s'; see hvfleet status --help\n",
                argv[i]);
        return 2;
    }
    if (!(c = hvf_cli_remote_open(o, &rc)))
        return rc;
    if (!(health = hvf_cli_remote_call(c, "status", "GET", "/v1/health", NULL, &rc)) ||
        !(hosts = hvf_cli_remote_call(c, "status", "GET", "/v1/hosts", NULL, &rc)) ||
        !(vms = hvf_cli_remote_call(c, "status", "GET", "/v1/vms", NULL, &rc)) ||
        !(freeze = hvf_cli_remote_call(c, "status", "GET", "/v1/freeze", NULL, &rc)))
        goto out;
    runid = json_object_get(health, "run");
    {
        int64_t id = json_is_integer(runid) ? (int64_t)json_integer_value(runid) : 0;
        int found = id ? 1 : hvf_cli_remote_find_run(c, &id, &rc); /* a paused one */
        char path[64];

        if (found < 0)
            goto out;
        snprintf(path, sizeof(path), "/v1/runs/%" PRId64, id);
        if (found && !(run = hvf_cli_remote_call(c, "status", "GET", path, NULL, &rc)))
            goto out;
    }
    hby = status_by_state(json_object_get(hosts, "hosts"));
    vby = status_by_state(json_object_get(vms, "vms"));
    if (json) {
        json_t *all = json_pack("{s:s, s:O, s:O, s:O, s:O, s:O}", "server", hvf_client_url(c),
                                "health", health, "hosts_by_state", hby, "vms_by_state", vby,
                                "run", run ? run : json_null(), "freeze", freeze);

        remote_print_json(all);
        json_decref(all);
    } else {
        printf("hvfleetd at %s: %s, driver %s, up %" JSON_INTEGER_FORMAT " s\n",
               hvf_client_url(c), json_string_value(json_object_get(health, "status")) ?: "?",
               json_string_value(json_object_get(health, "driver")) ?: "none",
               json_integer_value(json_object_get(health, "uptime_s")));
        status_print_counts("hosts", json_object_get(hosts, "hosts"), hby);
        status_print_counts("VMs", json_object_get(vms, "vms"), vby);
        if (run) {
            const json_t *p = json_object_get(run, "progress");

            printf("run %" JSON_INTEGER_FORMAT ": %s, plan %.12s, %.1f %% (%" JSON_INTEGER_FORMAT
                   "/%" JSON_INTEGER_FORMAT " migrations, %" JSON_INTEGER_FORMAT
                   "/%" JSON_INTEGER_FORMAT " hosts), ~%" JSON_INTEGER_FORMAT " s left\n",
                   json_integer_value(json_object_get(run, "id")),
                   json_string_value(json_object_get(run, "state")) ?: "?",
                   json_string_value(json_object_get(run, "plan_hash")) ?: "?",
                   json_number_value(json_object_get(p, "pct")),
                   json_integer_value(json_object_get(p, "migrations_done")),
                   json_integer_value(json_object_get(p, "migrations_total")),
                   json_integer_value(json_object_get(p, "hosts_done")),
                   json_integer_value(json_object_get(p, "hosts_total")),
                   json_integer_value(json_object_get(p, "eta_s")));
        } else {
            printf("run: none unfinished\n");
        }
        freeze_print(freeze, hvf_client_url(c));
    }
out:
    json_decref(hby);
    json_decref(vby);
    json_decref(health);
    json_decref(hosts);
    json_decref(vms);
    json_decref(freeze);
    json_decref(run);
    hvf_client_free(c);
    return rc;
}

/* ---- events ---- */

/* An event of the stream: its data is the event as GET /v1/events lists it (seq, type, ...). */
static void
events_on_event(const char *event, const char *id, const char *data, void *ctx)
{
    size_t *n = ctx;

    printf("%s\n", data);
    fflush(stdout);
    (*n)++;
}

static bool
events_on_data(const char *buf, size_t len, void *ctx)
{
    hvf_sse_feed(ctx, buf, len);
    return true;
}

static int
events_remote(const hvf_client_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long long since = -1;
    bool follow = false;
    hvf_client *c;
    char *end;
    int ch, rc = 0;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":hf", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            errno = 0;
            since = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || since < 0) {
                fprintf(stderr, "hvfleet: events: --since '%s': expected an event seq "
                                "(an integer from 0)\n", optarg);
                return 2;
            }
            break;
        case 'f': follow = true; break;
        case 'h':
            printf("usage: hvfleet --server URL events [--since SEQ] [--follow]\n"
                   "Prints hvfleetd's events after SEQ (default 0: all; GET /v1/events), one JSON\n"
                   "object a line: seq, at_unix, type, run, data. --follow keeps printing them\n"
                   "as they happen (GET /v1/events/stream; from now on without --since) until\n"
                   "interrupted (Ctrl-C) or the daemon stops (exit 1).\n");
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: events: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: events: bad option '%s'; see hvfleet events --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hvfleet: events: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!(c = hvf_cli_remote_open(o, &rc)))
        return rc;
    if (follow) {
        hvf_sse s;
        size_t n = 0;
        hvf_error err = HVF_ERROR_INIT;
        json_t *answer = NULL;
        char path[80] = "/v1/events/stream";
        long status;

        if (since >= 0)
            snprintf(path, sizeof(path), "/v1/events/stream?since=%lld", since);
        hvf_sse_init(&s, EVENTS_MAX, events_on_event, &n);
        status = hvf_client_stream(c, path, events_on_data, &s, &answer, &err);
        if (status < 0) {
            fprintf(stderr, "hvfleet: %s\n", err.msg);
            rc = 1;
        } else if (status >= 300) {
            rc = hvf_client_fail("events --follow", status, answer);
        } else {
            fprintf(stderr, "hvfleet: events --follow: hvfleetd at %s ended the stream\n",
                    hvf_client_url(c));
            rc = 1;
        }
        if (s.dropped)
            fprintf(stderr, "hvfleet: events --follow: %zu events over %d MiB were left out\n",
                    s.dropped, EVENTS_MAX >> 20);
        json_decref(answer);
        hvf_sse_clear(&s);
    } else {
        long long last = since < 0 ? 0 : since;

        for (;;) {
            char path[96];
            json_t *page, *e;
            size_t i, n;

            snprintf(path, sizeof(path), "/v1/events?since=%lld&limit=1000", last);
            if (!(page = hvf_cli_remote_call(c, "events", "GET", path, NULL, &rc)))
                break;
            n = json_array_size(json_object_get(page, "events"));
            json_array_foreach(json_object_get(page, "events"), i, e) {
                char *text = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);

                printf("%s\n", text ? text : "{}");
                free(text);
            }
            if (json_integer_value(json_object_get(page, "last")) <= last)
                n = 0; /* no progress: done, whatever the page said */
            last = json_integer_value(json_object_get(page, "last"));
            json_decref(page);
            if (n == 0)
                break;
        }
        fflush(stdout);
    }
    hvf_client_free(c);
    return rc;
}

/* ---- the verbs that go to the daemon ---- */

int
hvf_cli_remote(const hvf_client_opts *o, int argc, char **argv)
{
    if (strcmp(argv[0], "plan") == 0) {
        if (argc >= 2 && (strcmp(argv[1], "maintenance") == 0 || strcmp(argv[1], "drain") == 0))
            return hvf_cli_remote_plan(o, argc - 1, argv + 1);
        return -1;
    }
    if (strcmp(argv[0], "approve") == 0)
        return hvf_cli_remote_approve(o, argc, argv);
    if (strcmp(argv[0], "run") == 0)
        return hvf_cli_remote_run(o, argc, argv);
    if (strcmp(argv[0], "freeze") == 0)
        return freeze_remote(o, argc, argv);
    if (strcmp(argv[0], "unfreeze") == 0)
        return unfreeze_remote(o, argc, argv);
    if (strcmp(argv[0], "status") == 0)
        return status_remote(o, argc, argv);
    if (strcmp(argv[0], "events") == 0)
        return events_remote(o, argc, argv);
    return -1;
}

/* ---- without --server ---- */

static int
remote_needed(const char *verb, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"since", required_argument, NULL, 's'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};

    if (hvf_cli_options_wanted(opts))
        return 0;
    if (argc >= 2 && hvf_cli_is_help(argv[1])) {
        printf("usage: hvfleet --server URL %s ...\n"
               "Asks hvfleetd; see hvfleet --server URL %s --help. Without --server (or\n"
               "HVFLEET_SERVER) there is no daemon to ask.\n",
               verb, verb);
        return 0;
    }
    fprintf(stderr, "hvfleet: %s asks hvfleetd: give --server URL before it (or set "
                    "HVFLEET_SERVER), e.g. hvfleet --server http://127.0.0.1:8470 %s\n",
            verb, verb);
    return 2;
}

int
hvf_cli_status(int argc, char **argv)
{
    return remote_needed("status", argc, argv);
}

int
hvf_cli_events(int argc, char **argv)
{
    return remote_needed("events", argc, argv);
}
