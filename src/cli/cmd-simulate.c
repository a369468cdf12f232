/* SPDX-License-Identifier: MIT */
/* hvfleet simulate: runs a scenario in the twin and writes its events, metrics and summary. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/incident.h"
#include "hvfleet/report.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"
#include "hvfleet/units.h"
#include "util/outpath.h"

typedef struct sim_progress {
    struct timespec start;
    bool shown;
} sim_progress;

static double
sim_elapsed_s(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* A progress line on a terminal, once the run has taken more than a second. */
static void
sim_show_progress(int64_t now_us, int64_t end_us, void *ctx)
{
    sim_progress *p = ctx;
    char t[32];

    if (sim_elapsed_s(&p->start) < 1.0)
        return;
    p->shown = true;
    fprintf(stderr, "\r  simulated %s (%.0f%%) ", hvf_units_format_duration(now_us, t, sizeof(t)),
            end_us > 0 ? 100.0 * (double)now_us / (double)end_us : 100.0);
    fflush(stderr);
}

static void
sim_print_summary(hvf_sim *sim, const char *name, const char *dir, double wall_s)
{
    hvf_sim_stats st;
    char a[32], b[32];

    hvf_sim_get_stats(sim, &st);
    printf("scenario %s: %zu host%s, %zu VM%s, seed %" PRIu64 ", simulated %s in %.2f s\n", name,
           hvf_sim_fleet(sim)->nhosts, HVF_CLI_S(hvf_sim_fleet(sim)->nhosts),
           hvf_sim_fleet(sim)->nvms, HVF_CLI_S(hvf_sim_fleet(sim)->nvms),
           hvf_sim_params_get(sim)->seed,
           hvf_units_format_duration(hvf_sim_end(sim), a, sizeof(a)), wall_s);
    printf("  migrations           %" PRIu64 " started, %" PRIu64 " completed, %" PRIu64
           " aborted\n",
           st.migrations_started, st.migrations_completed, st.migrations_aborted);
    printf("  hosts maintained     %u, makespan %s\n", st.hosts_maintained,
           hvf_units_format_duration(st.makespan_us, b, sizeof(b)));
    printf("  peak concurrency     %u migration%s, %u host%s evacuating\n",
           st.peak_concurrent_migrations, HVF_CLI_S(st.peak_concurrent_migrations),
           st.peak_concurrent_evacuations, HVF_CLI_S(st.peak_concurrent_evacuations));
    printf("  peak host memory     %.0f%% of usable (used + claimed + arriving); %u host%s over "
           "100%%\n",
           st.peak_host_memory_ratio * 100, st.hosts_over_committed,
           HVF_CLI_S(st.hosts_over_committed));
    printf("  VMs                  %u rebooted (OOM killer), %u crashed with their host\n",
           st.vms_rebooted, st.vms_crashed);
    printf("  hosts                %u crashed, %u hung (IO saturated past the hung-task timeout)\n",
           st.hosts_crashed, st.hosts_hung);
    {
        hvf_incident_kpis k;
        char ev[32], det[48], res[48];
        hvf_incident_kpis_get(sim, &k);
        if (k.event_us >= 0)
            printf("  incident             event at %s, detection %s, resolution %s; %u VMs down, "
                   "%.1f VM-minutes lost\n",
                   hvf_incident_format_value(&k, HVF_INCIDENT_ROW_EVENT, ev, sizeof(ev)),
                   hvf_incident_format_value(&k, HVF_INCIDENT_ROW_DETECTION, det, sizeof(det)),
                   hvf_incident_format_value(&k, HVF_INCIDENT_ROW_RESOLUTION, res, sizeof(res)),
                   k.vms_down_distinct, k.vm_minutes_lost);
    }
    hvf_cli_print_changes(sim);
    printf("  output               %s/ (report.html, summary.json, events.jsonl, metrics-*.csv)\n", dir);
}

/* simulate --plan: the twin runs a plan as it stands (cmd-simulate-plan.c). */
static int
sim_run_plan(const char *plan_path, const char *inventory, const char *policy,
             const uint64_t *seed, int nargs, const char *out, bool json, bool quiet)
{
    HVF_AUTOFREE char *outdir = NULL;
    HVF_AUTOFREE char *name = NULL;
    hvf_error err = HVF_ERROR_INIT;
    hvf_cli_plan_run *run = NULL;
    sim_progress prog = {.shown = false};
    hvf_sim *sim;
    double wall;
    int rc = 0;

    if (!plan_path || !inventory || nargs != 0) {
        fprintf(stderr, "hvfleet: simulate: --plan PLAN.json needs --inventory FILE and no "
                        "SCENARIO (a scenario re-plans; a plan runs as it stands)\n");
        return 2;
    }
    if (!(sim = hvf_cli_plan_sim_new(plan_path, inventory, policy, seed, &run, &rc)))
        return rc;
    name = hvf_asprintf("plan-%.12s", hvf_cli_plan_run_hash(run));
    outdir = out ? hvf_strdup(out) : hvf_asprintf("out/%s", name);
    clock_gettime(CLOCK_MONOTONIC, &prog.start);
    if (!quiet && isatty(STDERR_FILENO))
        hvf_sim_set_progress(sim, sim_show_progress, &prog);
    hvf_sim_run(sim);
    wall = sim_elapsed_s(&prog.start);
    if (prog.shown)
        fprintf(stderr, "\r\033[K");
    if (hvf_sim_write_outputs(sim, outdir, &err) < 0 || hvf_report_write_html(outdir, &err) < 0) {
        hvf_sim_free(sim);
        return hvf_cli_fail(&err);
    }
    if (json) {
        HVF_AUTOFREE char *s = hvf_sim_summary_json(sim);
        printf("%s\n", s);
    } else if (!quiet) {
        sim_print_summary(sim, name, outdir, wall);
        hvf_cli_plan_run_print(run);
    }
    hvf_sim_free(sim);
    return 0;
}

int
hvf_cli_simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"out", required_argument, NULL, 'o'},  {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},       {"plan", required_argument, NULL, 'P'},
        {"inventory", required_argument, NULL, 'i'}, {"policy", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0}};
    const char *plan_path = NULL, *inventory = NULL, *policy = NULL;
    bool json = false, quiet = false, seed_set = false;
    uint64_t seed = 0;
    const char *out = NULL;
    HVF_AUTOFREE char *outdir = NULL;
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;
    hvf_outdir od;
    sim_progress prog = {.shown = false};
    double wall;
    int c;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:jo:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's': {
            char *end = NULL;
            errno = 0;
            seed = strtoull(optarg, &end, 10);
            if (!*optarg || *optarg == '-' || errno || *end) {
                fprintf(stderr, "hvfleet: simulate: --seed '%s': expected a whole number\n",
                        optarg);
                return 2;
            }
            seed_set = true;
            break;
        }
        case 'j':
            json = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'P':
            plan_path = optarg;
            break;
        case 'i':
            inventory = optarg;
            break;
        case 'p':
            policy = optarg;
            break;
        case 'h':
            printf("usage: hvfleet simulate SCENARIO [--seed N] [--json] [--out DIR] [--quiet]\n"
                   "Runs a scenario in the twin (deterministic discrete-event simulator) and "
                   "writes\nDIR (default out/<scenario name>/): report.html, summary.json, events.jsonl, "
                   "metrics-fleet.csv,\nmetrics-hosts.csv, run.json (their sizes, SHA-256s and "
                   "run id). --seed overrides the\nscenario's seed; --json prints the summary as "
                   "JSON; --quiet prints nothing but errors.\nThe run replaces DIR as a whole; DIR "
                   "must be new, empty or an earlier run's.\n"
                   "       hvfleet simulate --plan PLAN.json --inventory FILE [--policy FILE] [...]\n"
                   "runs exactly that plan (its migrations in its order at its times, its stops\n"
                   "and maintenances) without re-planning, and says where the twin differs from\n"
                   "the plan (also in summary.json: plan_run). --policy: the one the plan was\n"
                   "made with. Refused (2) unless the plan's hash matches its content and its\n"
                   "inventory fingerprint matches FILE (hvfleet plan check's test).\n"
                   "Exit status: 0 when it ran (whatever happened inside), 2 on bad input.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (plan_path || inventory || policy)
        return sim_run_plan(plan_path, inventory, policy, seed_set ? &seed : NULL, argc - optind,
                            out, json, quiet);
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: simulate: expected one SCENARIO file, got %d arguments\n",
                argc - optind);
        return 2;
    }
    hvf_diags_init(&diags);
    sc = hvf_scenario_load(argv[optind], &diags, &err);
    if (!sc) {
        hvf_diags_print(&diags, stderr);
        hvf_diags_clear(&diags);
        return hvf_cli_fail(&err);
    }
    hvf_diags_clear(&diags);
    if (seed_set)
        sc->params.seed = seed;
    outdir = out ? hvf_strdup(out) : hvf_asprintf("out/%s", sc->name);
    /* The run is written beside DIR and swapped in whole: a kill leaves the previous run, never
     * a mix. Checked before running, so a bad DIR fails fast. */
    if (hvf_outdir_begin(&od, outdir, hvf_sim_output_files, &err) < 0) {
        hvf_scenario_free(sc);
        return hvf_cli_fail(&err);
    }
    sim = hvf_scenario_sim_new(sc, NULL, &err);
    if (!sim) {
        hvf_outdir_clear(&od);
        hvf_scenario_free(sc);
        return hvf_cli_fail(&err);
    }
    clock_gettime(CLOCK_MONOTONIC, &prog.start);
    if (!quiet && isatty(STDERR_FILENO))
        hvf_sim_set_progress(sim, sim_show_progress, &prog);
    hvf_sim_run(sim);
    wall = sim_elapsed_s(&prog.start);
    if (prog.shown)
        fprintf(stderr, "\r\033[K");
    if (hvf_sim_write_outputs(sim, od.tmp, &err) < 0 || hvf_report_write_html(od.tmp, &err) < 0 ||
        hvf_outdir_commit(&od, &err) < 0) {
        hvf_outdir_clear(&od);
        hvf_sim_free(sim);
        hvf_scenario_free(sc);
        return hvf_cli_fail(&err);
    }
    hvf_outdir_clear(&od);
    if (json) {
        HVF_AUTOFREE char *s = hvf_sim_summary_json(sim);
        printf("%s\n", s);
    } else if (!quiet) {
        sim_print_summary(sim, sc->name, outdir, wall);
    }
    hvf_sim_free(sim);
    hvf_scenario_free(sc);
    return 0;
}
