/* SPDX-License-Identifier: MIT */
/* hvfleet plan maintenance | plan drain: plan by running the twin, compare with seed 000's way. */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/maintenance.h"
#include "hvfleet/scenario.h"
#include "hvfleet/units.h"

typedef struct pm_args {
    bool drain;
    const char *inventory, *scenario, *policy, *out, *hosts_sel;
    hvf_plan_strategy strategy;
    bool json, compare, write_refused;
    char **drain_hosts;
    int ndrain_hosts;
    const hvf_fleet *fleet; /* borrowed: the planned fleet, for printing */
} pm_args;

static void
pm_usage(FILE *out, bool drain)
{
    if (drain)
        fprintf(out,
                "usage: hvfleet plan drain HOST... (--inventory FILE | --scenario FILE)\n"
                "                          [--policy FILE] [--json] [-o PLAN.json]\n"
                "                          [--write-refused]\n"
                "Plans the evacuation of HOST... (no maintenance; they stay out of service).\n");
    else
        fprintf(
            out,
            "usage: hvfleet plan maintenance (--inventory FILE | --scenario FILE)\n"
            "         [--hosts SEL] [--policy FILE]\n"
            "         [--strategy hvfleet|naive] [--no-compare] [--json] [-o PLAN.json]\n"
            "         [--write-refused]\n"
            "Plans a maintenance of the hosts (default all) by running the twin: every host is\n"
            "evacuated (claims, limits, predicted migrations), maintained for maintenance_time\n"
            "and put back. Prints the seatbelt's verdict, the makespan and a comparison with\n"
            "the naive schedule of seed 000 on the same fleet. A scenario file supplies the\n"
            "twin's parameters and its maintenance: with scheduler naive, the schedule of\n"
            "the naive run; with scheduler hvfleet, the hosts and the policy (unless --hosts\n"
            "or --policy are given).\n"
            "SEL: terms all, NAME, rack:ZONE/RACK (rack:RACK when one zone has it), zone:Z,\n"
            "tag:T; ',' unites, '+' intersects, a leading '!' excludes (after every inclusion):\n"
            "  --hosts 'zone:z1+tag:gpu'   --hosts 'all,!tag:gpu'   --hosts 'zone:z1,!rack:z1/r02'\n"
            "Groups mean their active hosts (docs/planning.md, \"Selecting hosts\").\n");
    fprintf(out, "-o writes the plan, unless the seatbelt refuses it: then nothing is written,\n"
                 "except with --write-refused (the file's verdict says refused).\n"
                 "Exit status: 0 auto or needs-approval, 1 refused, 2 bad input.\n");
}

static int
pm_parse(int argc, char **argv, pm_args *a)
{
    static const struct option opts[] = {{"inventory", required_argument, NULL, 'i'},
                                         {"scenario", required_argument, NULL, 's'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"hosts", required_argument, NULL, 'H'},
                                         {"strategy", required_argument, NULL, 'S'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"no-compare", no_argument, NULL, 'n'},
                                         {"write-refused", no_argument, NULL, 'W'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cmd = a->drain ? "plan drain" : "plan maintenance";
    int c;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            a->inventory = optarg;
            break;
        case 's':
            a->scenario = optarg;
            break;
        case 'p':
            a->policy = optarg;
            break;
        case 'H':
            if (a->drain) {
                fprintf(stderr, "hvfleet: plan drain: name the hosts as arguments, not --hosts\n");
                return 2;
            }
            a->hosts_sel = optarg;
            break;
        case 'S': {
            int s = hvf_plan_strategy_from_string(optarg);
            if (s < 0) {
                fprintf(stderr, "hvfleet: %s: --strategy '%s': expected hvfleet or naive\n", cmd,
                        optarg);
                return 2;
            }
            a->strategy = (hvf_plan_strategy)s;
            break;
        }
        case 'o':
            a->out = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'n':
            a->compare = false;
            break;
        case 'W':
            a->write_refused = true;
            break;
        case 'h':
            pm_usage(stdout, a->drain);
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: %s: %s needs a value\n", cmd, argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: %s: unknown option '%s'; see hvfleet %s --help\n", cmd,
                    argv[optind - 1], cmd);
            return 2;
        }
    }
    if (!a->inventory == !a->scenario) {
        fprintf(stderr, "hvfleet: %s: give one of --inventory FILE or --scenario FILE\n", cmd);
        return 2;
    }
    if (a->drain) {
        if (optind >= argc) {
            fprintf(stderr, "hvfleet: plan drain: name at least one HOST\n");
            return 2;
        }
        a->drain_hosts = argv + optind;
        a->ndrain_hosts = argc - optind;
        a->compare = false;
        if (a->strategy == HVF_PLAN_STRATEGY_NAIVE) {
            fprintf(stderr, "hvfleet: plan drain: only the hvfleet strategy drains\n");
            return 2;
        }
    } else if (optind < argc) {
        fprintf(stderr, "hvfleet: %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return 2;
    }
    return -1;
}

/* --hosts: a selector expression (docs/planning.md, "Selecting hosts"). A group means its
 * active hosts; a host named on its own must be active (checked by the planner, which says so). */
static int
pm_select(const hvf_fleet *f, const char *sel, int32_t **hosts, size_t *n)
{
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_scenario_select(f, sel, HVF_SELECT_ACTIVE_GROUPS, hosts, n, &err) < 0) {
        fprintf(stderr, "hvfleet: --hosts '%s': %s\n", sel, hvf_scenario_selector_msg(sel, err.msg));
        return 2;
    }
    if (*n == 0) {
        fprintf(stderr, "hvfleet: --hosts '%s': expected at least one host\n", sel);
        return 2;
    }
    return 0;
}

static void
pm_row(const char *label, const char *a, const char *b)
{
    printf("  %-30s %-16s %s\n", label, a, b);
}

static void
pm_outcome_cols(const hvf_maint_outcome *o, bool have, char cols[6][40])
{
    char d[32];

    if (!have) {
        for (int i = 0; i < 6; i++)
            snprintf(cols[i], 40, "-");
        return;
    }
    snprintf(cols[0], 40, "%s%s", hvf_units_format_duration(o->makespan_ms * 1000, d, sizeof(d)),
             o->finished ? "" : " (unfinished)");
    snprintf(cols[1], 40, "%u", o->peak_concurrent_evacuations);
    snprintf(cols[2], 40, "%.1f%%", o->peak_host_memory_ratio * 100);
    snprintf(cols[3], 40, "%u", o->vms_at_risk);
    snprintf(cols[4], 40, "%u", o->vms_crashed);
    snprintf(cols[5], 40, "%u", o->hosts_failed);
}

static json_t *
pm_outcome_json(const hvf_maint_outcome *o)
{
    return json_pack("{s:b, s:f, s:i, s:f, s:i, s:i, s:i, s:i, s:i}", "finished", o->finished,
                     "makespan_s", (double)o->makespan_ms / 1000.0, "peak_concurrent_evacuations",
                     (int)o->peak_concurrent_evacuations, "peak_host_memory_ratio",
                     o->peak_host_memory_ratio, "vms_at_risk", (int)o->vms_at_risk, "vms_crashed",
                     (int)o->vms_crashed, "hosts_crashed", (int)o->hosts_crashed,
                     "hosts_not_maintained", (int)o->hosts_failed, "migrations",
                     (int)o->migrations);
}

/* The VMs pre-copy would not move, apart from those that cannot live-migrate at all. */
static void
pm_print_non_converging(const hvf_fleet *f, const hvf_plan_summary *s)
{
    size_t n[2] = {0, 0}, first[2] = {0, 0};

    for (size_t i = 0; i < s->nnon_converging; i++) {
        int32_t vm = f ? hvf_fleet_find_vm(f, s->non_converging[i].vm) : -1;
        int k = vm >= 0 && !f->vms[vm].migratable;
        if (n[k]++ == 0)
            first[k] = i;
    }
    if (n[0])
        printf("non-converging VMs: %zu (first: %s, %s)\n", n[0], s->non_converging[first[0]].vm,
               hvf_non_converging_to_string(s->non_converging[first[0]].action));
    if (n[1])
        printf("VMs that cannot live-migrate (migratable: false): %zu (first: %s, %s)\n", n[1],
               s->non_converging[first[1]].vm,
               hvf_non_converging_to_string(s->non_converging[first[1]].action));
}

/* The plan's VMs that cannot live-migrate at all (migratable: false), by name. */
static json_t *
pm_unmigratable_json(const hvf_fleet *f, const hvf_plan *plan)
{
    json_t *a = json_array();

    for (size_t i = 0; i < plan->summary.nnon_converging; i++) {
        int32_t vm = hvf_fleet_find_vm(f, plan->summary.non_converging[i].vm);
        if (vm >= 0 && !f->vms[vm].migratable)
            json_array_append_new(a, json_string(f->vms[vm].name));
    }
    return a;
}

static void
pm_print_text(const pm_args *a, const hvf_plan *plan, const hvf_maint_outcome *mine,
              const hvf_maint_outcome *other, bool have_other)
{
    const hvf_plan_summary *s = &plan->summary;
    const hvf_maint_outcome *hv = a->strategy == HVF_PLAN_STRATEGY_HVFLEET ? mine : other;
    const hvf_maint_outcome *nv = a->strategy == HVF_PLAN_STRATEGY_HVFLEET ? other : mine;
    bool have_hv = a->strategy == HVF_PLAN_STRATEGY_HVFLEET || have_other;
    bool have_nv = a->strategy == HVF_PLAN_STRATEGY_NAIVE || have_other;
    char d[32], c1[6][40], c2[6][40];
    static const char *const labels[] = {
        "makespan",    "peak concurrent evacuations", "peak host memory (of usable)",
        "VMs at risk", "VMs crashed or OOM-killed",   "hosts not maintained"};

    printf("verdict: %s\n", hvf_plan_verdict_to_string(s->verdict));
    for (size_t i = 0; i < s->nreasons; i++)
        printf("  - %s\n", s->reasons[i]);
    printf("makespan: %s for %zu host%s, %zu migration%s, %zu stop%s, up to %u host%s out of "
           "service at once (%s strategy)\n",
           hvf_units_format_duration(s->makespan_ms * 1000, d, sizeof(d)), plan->nhosts,
           plan->nhosts == 1 ? "" : "s", plan->nmigrations, plan->nmigrations == 1 ? "" : "s",
           plan->nstops, plan->nstops == 1 ? "" : "s", s->max_parallel_hosts_seen,
           s->max_parallel_hosts_seen == 1 ? "" : "s", hvf_plan_strategy_to_string(plan->strategy));
    pm_print_non_converging(a->fleet, s);
    if (s->vms_moved_more_than_once)
        printf("VMs moved more than once: %u\n", s->vms_moved_more_than_once);
    if (!have_other)
        return;
    printf("\ncompared with the naive schedule of seed 000 on the same fleet (twin):\n");
    pm_outcome_cols(hv, have_hv, c1);
    pm_outcome_cols(nv, have_nv, c2);
    pm_row("", "hvfleet", "naive");
    for (int i = 0; i < 6; i++)
        pm_row(labels[i], c1[i], c2[i]);
}

/* The comparison's twin runs on a second thread while the chosen strategy's runs on this one:
 * the two only read the fleet (hvf_maintenance_plan copies it into its twin) and share no
 * mutable state, so each gives what it gives alone (determinism), in the time of the longer.
 * Only its figures are printed, so its plan is made outcome_only (no fingerprint, seatbelt or
 * hash: on 30,000 hosts a second less on that thread) and freed there. That thread also hashes
 * the inventory for the plan of this one, which seals its plan once both are done: the
 * comparison's twin takes about half the time of the planner's. */
typedef struct pm_job {
    const hvf_fleet *fleet;
    hvf_maint_opts o;
    hvf_maint_outcome out;
    bool done; /* out is filled */
    char fingerprint[HVF_SHA256_HEX_LEN + 1];
} pm_job;

static void *
pm_job_main(void *arg)
{
    pm_job *j = arg;
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *plan;

    hvf_plan_inventory_fingerprint(j->fleet, j->fingerprint);
    plan = hvf_maintenance_plan(j->fleet, &j->o, &j->out, &err);
    j->done = plan != NULL;
    hvf_plan_free(plan);
    return NULL;
}

static int
pm_run(pm_args *a)
{
    HVF_AUTOFREE int32_t *hosts = NULL;
    hvf_scenario *sc = NULL;
    hvf_fleet *fleet = NULL;
    hvf_policy policy;
    hvf_maint_opts o;
    hvf_maint_outcome mine, other;
    hvf_plan *plan = NULL;
    hvf_error err = HVF_ERROR_INIT;
    pm_job job;
    pthread_t tid;
    bool threaded = false;
    size_t n = 0;
    bool refused = false, written = false;
    int rc = 0;

    if ((rc = hvf_cli_load_policy(a->policy, &policy)) != 0)
        return rc;
    if (a->scenario) {
        hvf_diags diags;
        hvf_diags_init(&diags);
        sc = hvf_scenario_load(a->scenario, &diags, &err);
        hvf_diags_print(&diags, stderr);
        hvf_diags_clear(&diags);
        if (!sc)
            return hvf_cli_fail(&err);
        fleet = sc->fleet;
    } else if (!(fleet = hvf_cli_load_fleet(a->inventory, &rc))) {
        return rc;
    }
    if (a->drain) {
        for (int i = 0; i < a->ndrain_hosts && rc == 0; i++) {
            int32_t h = hvf_fleet_find_host(fleet, a->drain_hosts[i]);
            if (h < 0) {
                fprintf(stderr, "hvfleet: plan drain: host '%s' is not in the inventory\n",
                        a->drain_hosts[i]);
                rc = 2;
                break;
            }
            hosts = hvf_realloc(hosts, (n + 1) * sizeof(int32_t));
            hosts[n++] = h;
        }
    } else if (a->hosts_sel) {
        rc = pm_select(fleet, a->hosts_sel, &hosts, &n);
    } else if (sc && sc->has_maintenance) {
        hosts = hvf_calloc(sc->naive.nhosts + 1, sizeof(int32_t));
        for (size_t i = 0; i < sc->naive.nhosts; i++) {
            int32_t h = sc->naive.hosts[i];
            /* the hvfleet scheduler leaves out hosts not active in the inventory, as here */
            if (sc->scheduler == HVF_SCENARIO_SCHED_NAIVE ||
                fleet->hosts[h].state == HVF_HOST_STATE_ACTIVE)
                hosts[n++] = h;
        }
    } else {
        rc = pm_select(fleet, "all", &hosts, &n);
    }
    if (rc != 0)
        goto out;
    a->fleet = fleet;

    memset(&job, 0, sizeof(job));
    hvf_maint_opts_init(&o);
    o.kind = a->drain ? HVF_PLAN_KIND_DRAIN : HVF_PLAN_KIND_MAINTENANCE;
    o.strategy = a->strategy;
    o.hosts = hosts;
    o.nhosts = n;
    o.policy = &policy;
    if (sc) {
        o.sim = &sc->params;
        o.overrides = sc->overrides;
        o.noverrides = sc->noverrides;
        if (sc->has_maintenance && sc->scheduler == HVF_SCENARIO_SCHED_NAIVE && !a->hosts_sel)
            o.naive = &sc->naive; /* the scenario's own schedule: seed 000 as it happened */
        if (sc->has_maintenance && sc->scheduler == HVF_SCENARIO_SCHED_HVFLEET && !a->policy)
            policy = sc->policy; /* the scenario's own policy, unless --policy says otherwise */
    }
    if (a->compare) {
        job.fleet = fleet;
        job.o = o;
        job.o.strategy = a->strategy == HVF_PLAN_STRATEGY_HVFLEET ? HVF_PLAN_STRATEGY_NAIVE
                                                                  : HVF_PLAN_STRATEGY_HVFLEET;
        job.o.outcome_only = true;
        threaded = pthread_create(&tid, NULL, pm_job_main, &job) == 0;
        if (!threaded)
            pm_job_main(&job); /* no second thread: one after the other */
    }
    if (!a->compare)
        hvf_plan_inventory_fingerprint(fleet, job.fingerprint);
    o.caller_seals = true;
    plan = hvf_maintenance_plan(fleet, &o, &mine, &err);
    if (threaded)
        pthread_join(tid, NULL);
    other = job.out;
    if (!plan) {
        rc = hvf_cli_fail(&err);
        goto out;
    }
    hvf_strlcpy(plan->inventory_fingerprint, job.fingerprint, sizeof(plan->inventory_fingerprint));
    hvf_plan_seal(plan);
    refused = plan->summary.verdict == HVF_PLAN_VERDICT_REFUSED;
    written = a->out && (!refused || a->write_refused);
    if (written && hvf_plan_save(plan, a->out, &err) < 0) {
        rc = hvf_cli_fail(&err);
        goto out;
    }
    if (a->out && written)
        hvf_cli_note_plan_author(plan->summary.plan_hash, plan->summary.verdict, "maintenance");
    if (a->out && !written)
        fprintf(stderr,
                "hvfleet: %s: the seatbelt refused the plan: '%s' not written "
                "(--write-refused writes it, marked refused)\n",
                a->drain ? "plan drain" : "plan maintenance", a->out);
    if (a->json) {
        hvf_strbuf sb = HVF_STRBUF_INIT;
        json_t *root = json_object();
        json_error_t jerr;
        json_t *jplan;

        hvf_plan_format(plan, &sb);
        jplan = json_loads(sb.buf, 0, &jerr);
        hvf_strbuf_clear(&sb);
        json_object_set_new(root, "schema", json_string("hvfleet.maintenance-result/v1"));
        json_object_set_new(root, "twin", pm_outcome_json(&mine));
        if (job.done)
            json_object_set_new(root,
                                a->strategy == HVF_PLAN_STRATEGY_HVFLEET ? "naive" : "hvfleet",
                                pm_outcome_json(&other));
        json_object_set_new(root, "plan", jplan ? jplan : json_null());
        json_object_set_new(root, "not_live_migratable", pm_unmigratable_json(fleet, plan));
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        printf("\n");
        json_decref(root);
    } else {
        pm_print_text(a, plan, &mine, &other, job.done);
        if (written)
            printf("\nplan written to %s (plan_hash %.12s)%s%s\n", a->out, plan->summary.plan_hash,
                   plan->summary.verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL
                       ? "; approve it with: hvfleet approve "
                       : "",
                   plan->summary.verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL ? a->out : "");
    }
    rc = refused ? 1 : 0;
out:
    hvf_plan_free(plan);
    if (sc)
        hvf_scenario_free(sc);
    else
        hvf_fleet_free(fleet);
    return rc;
}

int
hvf_cli_plan_maintenance(int argc, char **argv)
{
    pm_args a = {.strategy = HVF_PLAN_STRATEGY_HVFLEET, .compare = true};
    int rc = pm_parse(argc, argv, &a);

    return rc >= 0 ? rc : pm_run(&a);
}

int
hvf_cli_plan_drain(int argc, char **argv)
{
    pm_args a = {.drain = true, .strategy = HVF_PLAN_STRATEGY_HVFLEET, .compare = false};
    int rc = pm_parse(argc, argv, &a);

    return rc >= 0 ? rc : pm_run(&a);
}
