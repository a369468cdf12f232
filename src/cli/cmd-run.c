/* SPDX-License-Identifier: MIT */
/* hvfleet run: carry out an approved plan through a driver, with progress; control a run. */
#include <getopt.h>
#include <jansson.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change-plan-file.h"
#include "hvfleet/driver.h"
#include "hvfleet/exec.h"
#include "hvfleet/freeze.h"
#include "hvfleet/policy.h"
#include "hvfleet/store.h"
#include "hvfleet/units.h"
#include "util/outpath.h"

typedef struct run_args {
    const char *plan, *inventory, *driver, *state_dir, *policy, *record, *deviations;
    const char *maint_cmd, *by;
    double speed, tolerance;
    int64_t stall_us, maint_timeout_us;
    double timeout_s_per_gib;
    bool json, resume, pause, abort, cancel_running, status, check_ledger;
} run_args;

typedef struct run_view {
    bool json, tty;
    int drawn; /* lines of the live display on the terminal */
} run_view;

static void
run_usage(FILE *out)
{
    fprintf(out,
            "usage: hvfleet run PLAN.json --inventory FILE [--driver URI] [--state-dir DIR]\n"
            "                   [--policy FILE] [--speed N] [--record FILE] [--deviations FILE]\n"
            "                   [--maintenance-command CMD] [--tolerance F] [--json]\n"
            "       hvfleet run --resume [--state-dir DIR] [--speed N] [--json]\n"
            "       hvfleet run --pause | --abort [--cancel-running] | --status [--state-dir DIR]\n"
            "Runs a maintenance, drain, audit fix or change plan through a driver (default: the\n"
            "twin, sim:INVENTORY, in virtual time). A change plan runs wave by wave, each baked\n"
            "under its functional gates; a failed gate halts it and rolls back what changed.\n"
            "Before it starts and before every action it checks\n"
            "the freeze switch, the approval of this exact plan and (at the start) that the plan\n"
            "still matches the fleet. Limits (hosts out of service per fleet, rack and zone,\n"
            "migrations per host, capacity offline, the window) hold at every instant;\n"
            "migrations claim their target first. A migration later than predicted by more\n"
            "than --tolerance (0.25) re-plans the rest with the twin; a worse verdict pauses\n"
            "for approval. Killed at any point, --resume continues from the journal without\n"
            "starting any migration twice. --speed N runs the twin N times faster than real\n"
            "time (0: as fast as it goes). --deviations FILE injects deviations into the sim\n"
            "driver (docs/execution.md). The record (hvfleet.execution/v1) goes to --record\n"
            "or STATE_DIR/runs/run-ID.json; hvfleet report renders it. Exit: 0 done, 1 refused,\n"
            "paused, aborted or partly done, 2 bad input.\n");
}

static int
run_opts(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {
        {"inventory", required_argument, NULL, 'i'},
        {"driver", required_argument, NULL, 'D'},
        {"state-dir", required_argument, NULL, 'd'},
        {"policy", required_argument, NULL, 'p'},
        {"speed", required_argument, NULL, 's'},
        {"record", required_argument, NULL, 'r'},
        {"deviations", required_argument, NULL, 'v'},
        {"maintenance-command", required_argument, NULL, 'm'},
        {"maintenance-timeout", required_argument, NULL, 'M'},
        {"tolerance", required_argument, NULL, 't'},
        {"stall-timeout", required_argument, NULL, 'S'},
        {"completion-timeout", required_argument, NULL, 'C'},
        {"by", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'j'},
        {"resume", no_argument, NULL, 'R'},
        {"pause", no_argument, NULL, 'P'},
        {"abort", no_argument, NULL, 'A'},
        {"cancel-running", no_argument, NULL, 'c'},
        {"status", no_argument, NULL, 'T'},
        {"check-ledger", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    hvf_error err = HVF_ERROR_INIT;
    char *end;
    int c;

    if (hvf_cli_options_wanted(opts))
        return -1;
    a->tolerance = 0.25;
    a->stall_us = 150LL * 1000000;
    a->timeout_s_per_gib = 800;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': a->inventory = optarg; break;
        case 'D': a->driver = optarg; break;
        case 'd': a->state_dir = optarg; break;
        case 'p': a->policy = optarg; break;
        case 'r': a->record = optarg; break;
        case 'v': a->deviations = optarg; break;
        case 'm': a->maint_cmd = optarg; break;
        case 'b': a->by = optarg; break;
        case 'j': a->json = true; break;
        case 'R': a->resume = true; break;
        case 'P': a->pause = true; break;
        case 'A': a->abort = true; break;
        case 'c': a->cancel_running = true; break;
        case 'T': a->status = true; break;
        case 'L': a->check_ledger = true; break;
        case 's':
            a->speed = strtod(optarg, &end);
            if (*end || !(a->speed >= 0 && a->speed <= 1e6)) {
                fprintf(stderr, "hvfleet: run: --speed '%s': expected a number from 0 (virtual "
                                "time) to 1000000\n", optarg);
                return 2;
            }
            break;
        case 't':
            a->tolerance = strtod(optarg, &end);
            if (*end || !(a->tolerance > 0 && a->tolerance <= 100)) {
                fprintf(stderr, "hvfleet: run: --tolerance '%s': expected a share such as 0.25 "
                                "(25 %%), above 0\n", optarg);
                return 2;
            }
            break;
        case 'S':
        case 'M':
            if (hvf_units_parse_duration(optarg, c == 'S' ? &a->stall_us : &a->maint_timeout_us,
                                         &err) < 0) {
                fprintf(stderr, "hvfleet: run: --%s '%s': %s\n",
                        c == 'S' ? "stall-timeout" : "maintenance-timeout", optarg, err.msg);
                return 2;
            }
            break;
        case 'C':
            a->timeout_s_per_gib = strtod(optarg, &end);
            if (*end || !(a->timeout_s_per_gib >= 0 && a->timeout_s_per_gib <= 1e6)) {
                fprintf(stderr, "hvfleet: run: --completion-timeout '%s': expected seconds per "
                                "GiB of RAM (800, as Nova; 0 = none)\n", optarg);
                return 2;
            }
            break;
        case 'h':
            run_usage(stdout);
            return -1;
        default:
            fprintf(stderr, "hvfleet: run: bad option '%s'; see hvfleet run --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc)
        a->plan = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "hvfleet: run: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (a->maint_cmd) {
        /* a template: {host} is the only placeholder; "none" runs nothing */
        for (const char *p = strchr(a->maint_cmd, '{'); p; p = strchr(p + 1, '{')) {
            if (strncmp(p, "{host}", 6) != 0) {
                fprintf(stderr, "hvfleet: run: --maintenance-command '%s': unknown placeholder "
                                "at '%.12s': expected {host} only, e.g. 'ssh {host} systemctl "
                                "reboot', or none\n", a->maint_cmd, p);
                return 2;
            }
        }
    }
    if ((int)a->pause + (int)a->abort + (int)a->status + (int)(a->resume && !a->plan) > 1) {
        fprintf(stderr, "hvfleet: run: --pause, --abort, --status and --resume go alone\n");
        return 2;
    }
    if (!a->pause && !a->abort && !a->status && !a->resume && (!a->plan || !a->inventory)) {
        fprintf(stderr, "hvfleet: run: expected PLAN.json and --inventory FILE (or --resume, "
                        "--pause, --abort, --status)\n");
        return 2;
    }
    if (a->cancel_running && !a->abort) {
        fprintf(stderr, "hvfleet: run: --cancel-running goes with --abort\n");
        return 2;
    }
    return 0;
}

/* ---- the display ---- */

static void
run_on_event(const char *json, void *ctx)
{
    run_view *v = ctx;

    if (v->json) {
        printf("%s\n", json);
        fflush(stdout);
    }
}

static void
fmt_eta(char *buf, size_t len, int64_t us)
{
    if (us < 0)
        snprintf(buf, len, "?");
    else if (us >= 3600LL * 1000000)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", us / (int64_t)3600000000,
                 us / (int64_t)60000000 % 60);
    else
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", us / (int64_t)60000000,
                 us / 1000000 % 60);
}

static void
run_on_progress(const hvf_exec_progress *p, void *ctx)
{
    run_view *v = ctx;
    char eta[32], el[32];
    size_t done = p->migrations_done + p->migrations_failed;
    int width = 30, fill;
    size_t shown;

    if (v->json || !v->tty)
        return;
    for (int i = 0; i < v->drawn; i++)
        printf("\033[1A\033[2K");
    v->drawn = 0;
    shown = p->nmigs < 8 ? p->nmigs : 8;
    for (size_t i = 0; i < shown; i++) {
        const hvf_exec_progress_mig *m = &p->migs[i];

        fmt_eta(eta, sizeof(eta), m->eta_us);
        printf("  %-16.16s %-10.10s -> %-10.10s %5.1f%%  %7.1f MiB/s  dirty %6.1f MiB/s  eta "
               "%s%s%s\n",
               m->vm, m->from, m->to, m->pct, m->bytes_per_s / HVF_MIB,
               m->dirty_bytes_per_s / HVF_MIB, eta, m->throttle_pct ? "  throttled" : "",
               m->postcopy ? "  post-copy" : "");
        v->drawn++;
    }
    if (p->nmigs > shown) {
        printf("  ... and %zu more migrations\n", p->nmigs - shown);
        v->drawn++;
    }
    for (size_t i = 0; i < p->nhosts && i < 4; i++) {
        fmt_eta(eta, sizeof(eta), p->hosts[i].remaining_us);
        printf("  host %-12.12s %-11s ~%s left as planned\n", p->hosts[i].host,
               p->hosts[i].state, eta);
        v->drawn++;
    }
    fill = p->migrations_total ? (int)(width * done / p->migrations_total) : width;
    fmt_eta(eta, sizeof(eta), p->remaining_us);
    fmt_eta(el, sizeof(el), p->now_us);
    printf("[%.*s%*s] %zu/%zu migrations, hosts %zu done %zu active %zu failed, %s elapsed, "
           "~%s left (%s)\n",
           fill, "##############################", width - fill, "", done, p->migrations_total,
           p->hosts_done, p->hosts_active, p->hosts_failed, el, eta, p->state);
    v->drawn++;
    fflush(stdout);
}

/* ---- control verbs ---- */

static int
run_control(const run_args *a, const char *dir)
{
    hvf_error err = HVF_ERROR_INIT;
    int64_t id;
    int c = a->pause ? HVF_STORE_CONTROL_PAUSE
                     : a->cancel_running ? HVF_STORE_CONTROL_ABORT_CANCEL : HVF_STORE_CONTROL_ABORT;

    if (hvf_exec_control(dir, c, &id, &err) < 0)
        return hvf_cli_fail(&err);
    printf("run %" PRId64 ": asked to %s (state in %s)\n", id, hvf_store_control_names[c],
           hvf_store_where(dir));
    return 0;
}

static int
run_status(const char *dir)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvf_state_open(dir, &err);
    hvf_store_run run;
    int found;

    if (!st)
        return hvf_cli_fail(&err);
    found = hvf_store_run_get(st, 0, &run, &err);
    hvf_store_close(st);
    if (found < 0)
        return hvf_cli_fail(&err);
    if (found == 0) {
        printf("no unfinished run (state in %s)\n", hvf_store_where(dir));
        return 1;
    }
    printf("run %" PRId64 ": %s, plan %.12s, driver %s, record %s%s%s\n", run.id,
           hvf_store_run_state_names[run.state], run.plan_hash, run.driver_uri, run.record_path,
           run.note[0] ? ": " : "", run.note);
    /* what its journal says so far, for an operator in another terminal */
    {
        hvf_store *js = hvf_state_open(dir, &err);
        hvf_store_entry *j = NULL;
        long n = js ? hvf_store_journal(js, run.id, &j, &err) : -1;
        size_t migrated = 0, failed = 0, hosts = 0, running = 0, replans = 0;

        for (long i = 0; i < n; i++) {
            if (strcmp(j[i].action, "migrated") == 0 && strcmp(j[i].result, "completed") == 0)
                migrated++;
            else if (strcmp(j[i].action, "migrated") == 0)
                failed++;
            else if (strcmp(j[i].action, "maintained") == 0 || strcmp(j[i].action, "drained") == 0 ||
                     strcmp(j[i].action, "applied") == 0)
                hosts++;
            else if (strcmp(j[i].action, "replan") == 0)
                replans++;
            else if (j[i].kind == HVF_STORE_OUTCOME && strcmp(j[i].action, "migrate") == 0 &&
                     strcmp(j[i].result, "started") == 0)
                running++;
        }
        if (n >= 0)
            printf("  so far: %zu migrations completed, %zu ended otherwise, %zu in flight; "
                   "%zu hosts done; %zu re-plans\n",
                   migrated, failed, running > migrated + failed ? running - migrated - failed : 0,
                   hosts, replans);
        free(j);
        hvf_store_close(js);
    }
    return 0;
}

/* ---- running ---- */

static char *
run_driver_uri(const run_args *a, const char *inventory)
{
    char abs[PATH_MAX];
    const char *inv = inventory && realpath(inventory, abs) ? abs : inventory;
    char devabs[PATH_MAX];
    const char *dev = a->deviations && realpath(a->deviations, devabs) ? devabs : a->deviations;

    /* "libvirt:" or "agent:" alone: that backend on --inventory */
    if (a->driver && a->driver[0] && a->driver[strlen(a->driver) - 1] == ':' && inv)
        return hvf_asprintf("%s//%s", a->driver, inv);
    if (a->driver)
        return hvf_strdup(a->driver);
    if (dev)
        return hvf_asprintf("sim://%s?deviations=%s", inv ? inv : "/default", dev);
    return hvf_asprintf("sim://%s", inv ? inv : "/default");
}

static void
run_print_summary(const hvf_exec_summary *s, const hvf_plan *plan)
{
    double pred = (double)s->predicted_makespan_us / 1e6, act = (double)s->actual_makespan_us / 1e6;

    printf("\nrun %" PRId64 " %s: %zu hosts done, %zu failed; %zu migrations done, %zu failed; "
           "%zu VMs shut down and started again; %u re-plans\n",
           s->run_id, hvf_exec_result_names[s->result], s->hosts_done, s->hosts_failed,
           s->migrations_done, s->migrations_failed, s->vms_stopped, s->replans);
    printf("predicted vs actual: makespan %.0f s predicted, %.0f s actual (%+.1f %%)\n", pred, act,
           pred > 0 ? 100.0 * (act - pred) / pred : 0.0);
    if (s->note[0])
        printf("note: %s\n", s->note);
    printf("record: %s (hvfleet report renders it)\n", s->record_path);
    (void)plan;
}

int
hvf_cli_run(int argc, char **argv)
{
    run_args a;
    run_view view = {0};
    hvf_exec_opts o;
    hvf_exec_summary sum;
    hvf_error err = HVF_ERROR_INIT;
    hvf_driver_opts dopts = {0};
    hvf_policy policy;
    hvf_plan *plan = NULL;
    hvf_change_plan_file *cplan = NULL;
    hvf_conn *conn = NULL;
    HVF_AUTOFREE char *uri = NULL;
    HVF_AUTOFREE char *stored_plan = NULL;
    /* what --resume takes from the store */
    HVF_AUTOFREE char *own_plan = NULL;
    HVF_AUTOFREE char *own_driver = NULL;
    HVF_AUTOFREE char *own_inventory = NULL;
    const char *dir;
    int rc;

    memset(&a, 0, sizeof(a));
    rc = run_opts(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    dir = hvf_state_dir(a.state_dir);
    if (a.pause || a.abort)
        return run_control(&a, dir);
    if (a.status)
        return run_status(dir);
    if (dir && hvf_store_is_uri(dir)) {
        /* a shared store has controllers: two executors on one fleet is what the lease forbids */
        fprintf(stderr, "hvfleet: run: --state-dir '%s' is a PostgreSQL store: runs on it go "
                        "through its leading hvfleetd (hvfleet --server URL run PLAN)\n",
                hvf_store_where(dir));
        return 2;
    }
    hvf_policy_default(&policy);
    if (a.policy) {
        hvf_diags diags;

        hvf_diags_init(&diags);
        if (hvf_policy_load(a.policy, &policy, &diags, &err) < 0) {
            hvf_diags_print(&diags, stderr);
            hvf_diags_clear(&diags);
            return hvf_cli_fail(&err);
        }
        hvf_diags_clear(&diags);
    }
    if (a.resume && !a.plan) {
        /* the run's own plan, driver and inventory, from the store */
        hvf_store *st = hvf_state_open(dir, &err);
        hvf_store_run run;
        int found = st ? hvf_store_run_get(st, 0, &run, &err) : -1;

        if (found == 1) {
            stored_plan = hvf_store_plan_text(st, run.plan_hash, &err);
            if (!stored_plan && run.plan_path[0])
                a.plan = own_plan = hvf_strdup(run.plan_path); /* a change plan: its file */
            if (!a.driver)
                a.driver = own_driver = hvf_strdup(run.driver_uri);
            if (!a.inventory)
                a.inventory = own_inventory = hvf_strdup(run.inventory_path);
        }
        hvf_store_close(st);
        if (found < 0)
            return hvf_cli_fail(&err);
        if (found == 0 || (!stored_plan && !a.plan)) {
            fprintf(stderr, "hvfleet: run --resume: no unfinished run in %s\n",
                    hvf_store_where(dir));
            return 1;
        }
        if (stored_plan) {
            hvf_diags diags;

            hvf_diags_init(&diags);
            plan = hvf_plan_parse("stored plan", stored_plan, strlen(stored_plan), &diags, &err);
            hvf_diags_clear(&diags);
            if (!plan)
                return hvf_cli_fail(&err);
        }
    }
    if (!plan && hvf_cli_plan_file_is_change(a.plan)) {
        if (!(cplan = hvf_cli_load_change_plan(a.plan, &rc)))
            return rc;
    } else if (!plan && !(plan = hvf_cli_load_plan(a.plan, &rc))) {
        return rc;
    }
    if (a.record) {
        /* refused before the run rather than after it did its work */
        bool exists = false;
        struct stat st;
        HVF_AUTOFREE char *to = hvf_outpath_resolve(a.record, &exists, &st, &err);

        if (!to || (exists && !S_ISREG(st.st_mode))) {
            if (to)
                hvf_error_set(&err, HVF_ERR_INVALID,
                              "--record '%s' is %s: expected a regular file or a new path",
                              a.record, hvf_outpath_kind(st.st_mode));
            hvf_plan_free(plan);
            hvf_change_plan_file_free(cplan);
            return hvf_cli_fail(&err);
        }
    }
    uri = run_driver_uri(&a, a.inventory);
    dopts.state_dir = dir;
    dopts.speed = a.speed;
    dopts.migration_nic_share = policy.migration_share;
    if (hvf_state_dir_ensure(dir, &err) < 0 || !(conn = hvf_driver_open(uri, &dopts, &err))) {
        hvf_plan_free(plan);
        hvf_change_plan_file_free(cplan);
        return hvf_cli_fail(&err);
    }
    view.json = a.json;
    view.tty = isatty(STDOUT_FILENO);
    hvf_exec_opts_init(&o);
    o.plan_path = a.plan;
    o.inventory_path = a.inventory;
    o.state_dir = dir;
    o.record_path = a.record;
    o.policy = &policy;
    o.tolerance = a.tolerance;
    o.stall_timeout_us = a.stall_us;
    o.completion_timeout_s_per_gib = a.timeout_s_per_gib;
    o.maintenance_command = a.maint_cmd;
    o.maintenance_timeout_us = a.maint_timeout_us;
    o.resume = a.resume;
    o.check_ledger = a.check_ledger;
    o.by = a.by;
    o.on_event = run_on_event;
    o.on_progress = view.tty && !a.json ? run_on_progress : NULL;
    /* about four lines a second of wall time, whatever the speed */
    o.progress_interval_us = a.speed > 4 ? (int64_t)(a.speed * 250000) : 1000000;
    o.ctx = &view;
    if (!a.json && cplan)
        printf("run: change plan %.12s (%s, %zu units in %zu waves) on %s%s\n",
               cplan->plan_hash, cplan->change, cplan->nunits, cplan->nwaves, uri,
               a.resume ? ", resuming" : "");
    else if (!a.json)
        printf("run: plan %.12s (%s, %zu hosts, %zu migrations) on %s%s\n",
               plan->summary.plan_hash, hvf_plan_kind_to_string(plan->kind), plan->nhosts,
               plan->nmigrations, uri, a.resume ? ", resuming" : "");
    if ((cplan ? hvf_exec_run_change(conn, cplan, &o, &sum, &err)
               : hvf_exec_run(conn, plan, &o, &sum, &err)) < 0) {
        hvf_driver_close(conn);
        hvf_plan_free(plan);
        hvf_change_plan_file_free(cplan);
        return hvf_cli_fail(&err);
    }
    hvf_driver_close(conn);
    if (a.json) {
        printf("{\"event\":\"summary\",\"result\":\"%s\",\"run\":%" PRId64 ",\"record\":\"%s\","
               "\"predicted_makespan_s\":%.3f,\"actual_makespan_s\":%.3f,\"hosts_done\":%zu,"
               "\"hosts_failed\":%zu,\"migrations_done\":%zu,\"migrations_failed\":%zu,"
               "\"replans\":%u,\"note\":",
               hvf_exec_result_names[sum.result], sum.run_id, sum.record_path,
               (double)sum.predicted_makespan_us / 1e6, (double)sum.actual_makespan_us / 1e6,
               sum.hosts_done, sum.hosts_failed, sum.migrations_done, sum.migrations_failed,
               sum.replans);
        {
            json_t *note = json_string(sum.note);

            json_dumpf(note ? note : json_null(), stdout, JSON_ENCODE_ANY);
            json_decref(note);
        }
        printf("}\n");
    } else if (sum.result == HVF_EXEC_REFUSED) {
        fprintf(stderr, "hvfleet: run refused: %s\n", sum.note);
    } else {
        run_print_summary(&sum, plan);
    }
    hvf_plan_free(plan);
    hvf_change_plan_file_free(cplan);
    return sum.result == HVF_EXEC_DONE ? 0 : 1;
}
