/* SPDX-License-Identifier: MIT */
/* hvfleet --server URL run: start a plan in hvfleetd and follow it; pause, resume, abort it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/remote.h"
#include "hvfleet/alloc.h"

#define RUN_POLL_MS 500

typedef struct rr_args {
    const char *arg; /* PLAN_HASH | PLAN.json, or a run id with the control verbs */
    bool json, detach, status, pause, abort, cancel_running, resume;
} rr_args;

static void
rr_usage(FILE *out)
{
    fprintf(out,
            "usage: hvfleet --server URL run PLAN_HASH|PLAN.json [--detach] [--json]\n"
            "       hvfleet --server URL run --status | --pause | --abort [--cancel-running]\n"
            "                                | --resume [--detach] [--json]   [RUN_ID]\n"
            "Starts an approved plan in hvfleetd (POST /v1/plans/HASH/runs) and follows it\n"
            "(GET /v1/runs/ID twice a second) until it ends: a progress line, or with --json\n"
            "hvfleetd's view of the run as one JSON object a line when it changes. --detach\n"
            "returns once it started; Ctrl-C stops following, not the run. The control verbs\n"
            "act on RUN_ID, else on the unfinished run (running or paused). Exit: 0 done or\n"
            "asked, 1 refused, paused, aborted, failed or no unfinished run, 2 bad input.\n");
}

static int
rr_opts(int argc, char **argv, rr_args *a)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"detach", no_argument, NULL, 'D'},
                                         {"status", no_argument, NULL, 'T'},
                                         {"pause", no_argument, NULL, 'P'},
                                         {"abort", no_argument, NULL, 'A'},
                                         {"cancel-running", no_argument, NULL, 'c'},
                                         {"resume", no_argument, NULL, 'R'},
                                         {"inventory", required_argument, NULL, 'L'},
                                         {"driver", required_argument, NULL, 'L'},
                                         {"state-dir", required_argument, NULL, 'L'},
                                         {"policy", required_argument, NULL, 'L'},
                                         {"speed", required_argument, NULL, 'L'},
                                         {"record", required_argument, NULL, 'L'},
                                         {"deviations", required_argument, NULL, 'L'},
                                         {"maintenance-command", required_argument, NULL, 'L'},
                                         {"maintenance-timeout", required_argument, NULL, 'L'},
                                         {"tolerance", required_argument, NULL, 'L'},
                                         {"stall-timeout", required_argument, NULL, 'L'},
                                         {"completion-timeout", required_argument, NULL, 'L'},
                                         {"by", required_argument, NULL, 'L'},
                                         {"check-ledger", no_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, li = 0;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        switch (c) {
        case 'j': a->json = true; break;
        case 'D': a->detach = true; break;
        case 'T': a->status = true; break;
        case 'P': a->pause = true; break;
        case 'A': a->abort = true; break;
        case 'c': a->cancel_running = true; break;
        case 'R': a->resume = true; break;
        case 'L':
            fprintf(stderr, "hvfleet: run: --%s is for running on files; with --server hvfleetd "
                            "runs the plan with its own driver and settings (drop --%s, or "
                            "--server)\n", opts[li].name, opts[li].name);
            return 2;
        case 'h':
            rr_usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: run: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: run: bad option '%s'; see hvfleet --server URL run --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc)
        a->arg = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "hvfleet: run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if ((int)a->status + (int)a->pause + (int)a->abort + (int)a->resume > 1) {
        fprintf(stderr, "hvfleet: run: --status, --pause, --abort and --resume go alone\n");
        return 2;
    }
    if (a->cancel_running && !a->abort) {
        fprintf(stderr, "hvfleet: run: --cancel-running goes with --abort\n");
        return 2;
    }
    if (!a->status && !a->pause && !a->abort && !a->resume && !a->arg) {
        fprintf(stderr, "hvfleet: run: expected PLAN_HASH or PLAN.json (or --status, --pause, "
                        "--abort, --resume)\n");
        return 2;
    }
    return -1;
}

/* GET /v1/runs/@id: 1 with *@out (owned), 0 when there is no such run, -1 after a message. */
static int
rr_get(hvf_client *c, int64_t id, json_t **out, int *rc)
{
    char path[48];
    hvf_error err = HVF_ERROR_INIT;
    long status;

    snprintf(path, sizeof(path), "/v1/runs/%" PRId64, id);
    status = hvf_client_request(c, "GET", path, NULL, out, &err);
    if (status == 404) {
        json_decref(*out);
        *out = NULL;
        return 0;
    }
    if (status < 0) {
        fprintf(stderr, "hvfleet: %s\n", err.msg);
        *rc = 1;
        return -1;
    }
    if (status != 200 || !*out) {
        *rc = hvf_client_fail("run", status, *out);
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

static bool
rr_unfinished(const json_t *run)
{
    const char *st = json_string_value(json_object_get(run, "state"));

    return st && (strcmp(st, "running") == 0 || strcmp(st, "paused") == 0);
}

/* hvf_cli_remote_find_run: the unfinished run's id (running or paused): 1 with *@id, 0 when
 * none, -1 after a message. */
int
hvf_cli_remote_find_run(hvf_client *c, int64_t *id, int *rc)
{
    json_t *l = hvf_cli_remote_call(c, "run", "GET", "/v1/runs?state=unfinished&limit=1", NULL,
                                    rc);
    json_t *first;

    if (!l)
        return -1;
    first = json_array_get(json_object_get(l, "runs"), 0);
    if (first)
        *id = json_integer_value(json_object_get(first, "id"));
    json_decref(l);
    return first ? 1 : 0;
}

/* RUN_ID from the argument, or the unfinished run's. 1, 0 (none) or -1 as
 * hvf_cli_remote_find_run. */
static int
rr_id(hvf_client *c, const rr_args *a, int64_t *id, int *rc)
{
    char *end;

    if (!a->arg)
        return hvf_cli_remote_find_run(c, id, rc);
    errno = 0;
    *id = strtoll(a->arg, &end, 10);
    if (errno || *end || end == a->arg || *id <= 0) {
        fprintf(stderr, "hvfleet: run: '%s': expected a run id (a positive integer)\n", a->arg);
        *rc = 2;
        return -1;
    }
    return 1;
}

/* ---- the display ---- */

static void
rr_fmt_s(char *buf, size_t len, double s)
{
    int64_t t = s > 0 ? (int64_t)(s + 0.5) : 0;

    if (t >= 3600)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", t / 3600, t / 60 % 60);
    else
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", t / 60, t % 60);
}

static json_int_t
rr_int(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* One line of progress: "[####   ] 3/12 migrations, hosts 1 done 1 active 0 failed, ...". */
static void
rr_line(const json_t *run, char *buf, size_t len)
{
    const json_t *p = json_object_get(run, "progress");
    const char *state = json_string_value(json_object_get(run, "state"));
    double pct = json_number_value(json_object_get(p, "pct"));
    int width = 30, fill = (int)(width * (pct < 0 ? 0 : pct > 100 ? 100 : pct) / 100);
    char el[32], eta[32];

    rr_fmt_s(el, sizeof(el), json_number_value(json_object_get(p, "elapsed_s")));
    rr_fmt_s(eta, sizeof(eta), (double)rr_int(p, "eta_s"));
    snprintf(buf, len,
             "[%.*s%*s] %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " migrations, hosts %"
             JSON_INTEGER_FORMAT " done %" JSON_INTEGER_FORMAT " active %" JSON_INTEGER_FORMAT
             " failed, %s elapsed, ~%s left (%s)",
             fill, "##############################", width - fill, "",
             rr_int(p, "migrations_done") + rr_int(p, "migrations_failed"),
             rr_int(p, "migrations_total"), rr_int(p, "hosts_done"), rr_int(p, "hosts_active"),
             rr_int(p, "hosts_failed"), el, eta, state ? state : "?");
}

static void
rr_summary(const json_t *run, const char *url)
{
    const json_t *p = json_object_get(run, "progress");
    const char *result = json_string_value(json_object_get(run, "result"));
    const char *note = json_string_value(json_object_get(run, "note"));
    double pred = json_number_value(json_object_get(run, "predicted_makespan_s"));
    double act = json_number_value(json_object_get(run, "actual_makespan_s"));

    printf("\nrun %" JSON_INTEGER_FORMAT " %s: %" JSON_INTEGER_FORMAT " hosts done, %"
           JSON_INTEGER_FORMAT " failed; %" JSON_INTEGER_FORMAT " migrations done, %"
           JSON_INTEGER_FORMAT " failed\n",
           rr_int(run, "id"), result ? result : json_string_value(json_object_get(run, "state")),
           rr_int(p, "hosts_done"), rr_int(p, "hosts_failed"), rr_int(p, "migrations_done"),
           rr_int(p, "migrations_failed"));
    if (json_object_get(run, "actual_makespan_s"))
        printf("predicted vs actual: makespan %.0f s predicted, %.0f s actual (%+.1f %%)\n", pred,
               act, pred > 0 ? 100.0 * (act - pred) / pred : 0.0);
    if (note && *note)
        printf("note: %s\n", note);
    printf("record: %s on hvfleetd's host (%s)\n",
           json_string_value(json_object_get(run, "record")) ?: "?", url);
}

static void
rr_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Follows run @id until it ends or pauses. Returns the exit status. */
static int
rr_follow(hvf_client *c, int64_t id, bool json)
{
    bool tty = !json && isatty(STDOUT_FILENO);
    HVF_AUTOFREE char *prev = NULL;
    json_t *run = NULL;
    int rc = 0;

    for (;;) {
        char line[512];
        HVF_AUTOFREE char *now = NULL;
        int found = rr_get(c, id, &run, &rc);

        if (found <= 0) {
            if (found == 0)
                fprintf(stderr, "hvfleet: run: hvfleetd at %s has no run %" PRId64 "\n",
                        hvf_client_url(c), id);
            else
                fprintf(stderr, "hvfleet: run: stopped following run %" PRId64 "; it goes on in "
                                "hvfleetd (hvfleet --server %s run --status %" PRId64 ")\n",
                        id, hvf_client_url(c), id);
            return found == 0 ? 1 : rc;
        }
        if (json) {
            now = json_dumps(run, JSON_COMPACT | JSON_PRESERVE_ORDER);
        } else {
            rr_line(run, line, sizeof(line));
            now = hvf_strdup(line);
        }
        if (!prev || strcmp(prev, now) != 0) {
            if (tty)
                printf("\r\033[2K%s", now);
            else
                printf("%s\n", now);
            fflush(stdout);
            free(prev);
            prev = hvf_steal_ptr(&now);
        }
        if (!rr_unfinished(run) ||
            strcmp(json_string_value(json_object_get(run, "state")), "paused") == 0)
            break;
        json_decref(run);
        run = NULL;
        rr_sleep_ms(RUN_POLL_MS);
    }
    if (tty)
        printf("\n");
    {
        const char *state = json_string_value(json_object_get(run, "state"));
        const char *result = json_string_value(json_object_get(run, "result"));

        if (strcmp(state, "paused") == 0) {
            if (!json)
                printf("run %" PRId64 " paused; resume it with: hvfleet --server %s run "
                       "--resume %" PRId64 "\n", id, hvf_client_url(c), id);
            rc = 1;
        } else {
            if (!json)
                rr_summary(run, hvf_client_url(c));
            rc = strcmp(state, "done") == 0 && (!result || strcmp(result, "done") == 0) ? 0 : 1;
        }
    }
    json_decref(run);
    return rc;
}

/* ---- the verbs ---- */

static int
rr_status(hvf_client *c, const rr_args *a)
{
    int64_t id = 0;
    int rc = 0, found = rr_id(c, a, &id, &rc);
    json_t *run = NULL;

    if (found < 0)
        return rc;
    if (found == 0) {
        printf("no unfinished run (hvfleetd at %s)\n", hvf_client_url(c));
        return 1;
    }
    if ((found = rr_get(c, id, &run, &rc)) <= 0) {
        if (found == 0)
            fprintf(stderr, "hvfleet: run --status: hvfleetd at %s has no run %" PRId64 "\n",
                    hvf_client_url(c), id);
        return found == 0 ? 2 : rc;
    }
    if (a->json) {
        json_dumpf(run, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
    } else {
        const char *note = json_string_value(json_object_get(run, "note"));
        char line[512];

        printf("run %" PRId64 ": %s, plan %.12s, record %s%s%s\n", id,
               json_string_value(json_object_get(run, "state")) ?: "?",
               json_string_value(json_object_get(run, "plan_hash")) ?: "?",
               json_string_value(json_object_get(run, "record")) ?: "?",
               note && *note ? ": " : "", note ? note : "");
        if (json_object_get(run, "progress")) {
            rr_line(run, line, sizeof(line));
            printf("  %s\n", line);
        }
    }
    rc = a->arg || rr_unfinished(run) ? 0 : 1;
    json_decref(run);
    return rc;
}

static int
rr_control(hvf_client *c, const rr_args *a)
{
    const char *action = a->pause ? "pause" : a->abort ? "abort" : "resume";
    int64_t id = 0;
    int rc = 0, found = rr_id(c, a, &id, &rc);
    char path[64], what[32];
    json_t *body, *answer;

    if (found < 0)
        return rc;
    if (found == 0) {
        fprintf(stderr, "hvfleet: run --%s: no unfinished run in hvfleetd at %s\n", action,
                hvf_client_url(c));
        return 1;
    }
    snprintf(path, sizeof(path), "/v1/runs/%" PRId64 "/%s", id, action);
    snprintf(what, sizeof(what), "run --%s", action);
    body = a->cancel_running ? json_pack("{s:b}", "cancel_running", true) : json_object();
    answer = hvf_cli_remote_call(c, what, "POST", path, body, &rc);
    json_decref(body);
    if (!answer)
        return rc;
    json_decref(answer);
    if (!a->resume) {
        printf("run %" PRId64 ": asked to %s%s (hvfleetd at %s)\n", id, action,
               a->cancel_running ? ", cancelling the migrations in flight" : "",
               hvf_client_url(c));
        return 0;
    }
    if (a->detach) {
        printf("run %" PRId64 " resumed in hvfleetd at %s\n", id, hvf_client_url(c));
        return 0;
    }
    return rr_follow(c, id, a->json);
}

static int
rr_start(hvf_client *c, const rr_args *a)
{
    int rc = 0;
    HVF_AUTOFREE char *hash = hvf_cli_remote_plan_hash("run", a->arg, &rc);
    HVF_AUTOFREE char *path = NULL;
    json_t *body, *answer;
    int64_t id;

    if (!hash)
        return rc;
    path = hvf_asprintf("/v1/plans/%s/runs", hash);
    body = json_object();
    answer = hvf_cli_remote_call(c, "run", "POST", path, body, &rc);
    json_decref(body);
    if (!answer)
        return rc;
    id = json_integer_value(json_object_get(answer, "id"));
    json_decref(answer);
    if (a->detach) {
        printf("run %" PRId64 " of plan %.12s started in hvfleetd at %s; follow it with: hvfleet "
               "--server %s run --status %" PRId64 "\n",
               id, hash, hvf_client_url(c), hvf_client_url(c), id);
        return 0;
    }
    if (!a->json)
        printf("run %" PRId64 ": plan %.12s in hvfleetd at %s\n", id, hash, hvf_client_url(c));
    return rr_follow(c, id, a->json);
}

int
hvf_cli_remote_run(const hvf_client_opts *o, int argc, char **argv)
{
    rr_args a = {0};
    hvf_client *c;
    int rc = rr_opts(argc, argv, &a);

    if (rc >= 0)
        return rc;
    rc = 0;
    if (!(c = hvf_cli_remote_open(o, &rc)))
        return rc;
    if (a.status)
        rc = rr_status(c, &a);
    else if (a.pause || a.abort || a.resume)
        rc = rr_control(c, &a);
    else
        rc = rr_start(c, &a);
    hvf_client_free(c);
    return rc;
}
