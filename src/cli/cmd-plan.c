/* SPDX-License-Identifier: MIT */
/* hvfleet plan check (and, with the twin, plan maintenance / plan drain). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"

static int
plan_check(int argc, char **argv)
{
    static const struct option opts[] = {{"inventory", required_argument, NULL, 'i'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *inventory = NULL, *dir = NULL;
    bool json = false, approved = false, frozen;
    hvf_approval appr;
    hvf_error err = HVF_ERROR_INIT;
    hvf_diags problems;
    hvf_plan *plan;
    hvf_fleet *f;
    const char *verdict;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inventory = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            printf(
                "usage: hvfleet plan check PLAN.json --inventory FILE [--state-dir DIR] [--json]\n"
                "Re-verifies a plan before it runs: unchanged since it was made, made for this\n"
                "inventory, hosts and VMs still where and what the plan expects, approved if\n"
                "its verdict needs it, fleet not frozen. Exit 0 when it may run, 1 when not.\n"
                "A change plan is checked for its targets and their variants (kernel, hw, ...).\n");
            return 0;
        default:
            fprintf(stderr, "hvfleet: plan check: bad option '%s'; see hvfleet plan check --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 1 != argc || !inventory) {
        fprintf(stderr, "hvfleet: plan check: expected PLAN.json and --inventory FILE\n");
        return 2;
    }
    if (hvf_cli_plan_file_is_change(argv[optind]))
        return hvf_cli_plan_check_change(argv[optind], inventory, hvf_state_dir(dir), json);
    if (!(plan = hvf_cli_load_plan(argv[optind], &rc)))
        return rc;
    if (!(f = hvf_cli_load_fleet(inventory, &rc))) {
        hvf_plan_free(plan);
        return rc;
    }
    dir = hvf_state_dir(dir);
    hvf_diags_init(&problems);
    hvf_plan_check(plan, f, &problems);
    if (plan->summary.verdict == HVF_PLAN_VERDICT_REFUSED)
        hvf_diags_add(&problems, "the seatbelt refused this plan: %s",
                      plan->summary.nreasons ? plan->summary.reasons[0] : "no reason recorded");
    if (plan->summary.verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL) {
        int found = hvf_approval_find(dir, plan, &appr, &err);
        approved = found == 1;
        if (found < 0)
            hvf_diags_add(&problems, "approval unreadable: %s", err.msg);
        else if (!approved)
            hvf_diags_add(&problems, "the plan needs an approval: hvfleet approve %s",
                          argv[optind]);
    }
    frozen = hvf_freeze_is_frozen(dir);
    if (frozen && hvf_freeze_check(dir, "running this plan", &err) < 0)
        hvf_diags_add(&problems, "%s", err.msg);
    verdict = problems.total ? "refused" : "ok";
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "schema", "hvfleet.plan-check/v1",
                              "result", verdict, "plan_hash", plan->summary.plan_hash,
                              "plan_verdict", hvf_plan_verdict_to_string(plan->summary.verdict),
                              "approved", approved, "frozen", frozen);
        json_t *lines = json_array();
        for (size_t i = 0; i < problems.n; i++)
            json_array_append_new(lines, json_string(problems.lines[i]));
        json_object_set_new(o, "problems", lines);
        json_object_set_new(o, "problems_total", json_integer((json_int_t)problems.total));
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(o);
    } else if (problems.total) {
        printf("refused: plan %.12s cannot run now (%zu problem%s)\n", plan->summary.plan_hash,
               problems.total, problems.total == 1 ? "" : "s");
        for (size_t i = 0; i < problems.n; i++)
            printf("  - %s\n", problems.lines[i]);
        if (problems.total > problems.n)
            printf("  ... and %zu more\n", problems.total - problems.n);
    } else {
        printf("ok: plan %.12s matches the inventory; verdict %s%s%s\n", plan->summary.plan_hash,
               hvf_plan_verdict_to_string(plan->summary.verdict), approved ? ", approved by " : "",
               approved ? appr.by : "");
    }
    rc = problems.total ? 1 : 0;
    hvf_diags_clear(&problems);
    hvf_fleet_free(f);
    hvf_plan_free(plan);
    return rc;
}

static const hvf_cli_command plan_subs[] = {
    {"maintenance", "plan a maintenance of hosts by running the twin", hvf_cli_plan_maintenance},
    {"drain", "plan the evacuation of hosts that stay out of service", hvf_cli_plan_drain},
    {"check", "re-verify a plan against the current inventory", plan_check},
    {"change", "plan a rolling change in waves (canary covering every variant)", hvf_cli_plan_change},
    {"show", "per host: its VMs, where each goes, when", hvf_cli_plan_show},
    {"diff", "hosts, migrations, stops added, removed, changed (exit 1 if any)", hvf_cli_plan_diff},
};

int
hvf_cli_plan(int argc, char **argv)
{
    if (hvf_cli_subcommands_wanted(argc, argv, plan_subs, HVF_ARRAY_LEN(plan_subs)))
        return 0;
    if (argc >= 2) {
        for (size_t i = 0; i < HVF_ARRAY_LEN(plan_subs); i++) {
            if (strcmp(argv[1], plan_subs[i].name) == 0)
                return plan_subs[i].run(argc - 1, argv + 1);
        }
    }
    if (argc >= 2 && hvf_cli_is_help(argv[1])) {
        printf("usage: hvfleet plan SUBCOMMAND\n");
        for (size_t i = 0; i < HVF_ARRAY_LEN(plan_subs); i++)
            printf("  %-12s %s\n", plan_subs[i].name, plan_subs[i].summary);
        return 0;
    }
    fprintf(stderr, "hvfleet: plan: expected one of");
    for (size_t i = 0; i < HVF_ARRAY_LEN(plan_subs); i++)
        fprintf(stderr, " %s", plan_subs[i].name);
    fprintf(stderr, "%s%s%s\n", argc >= 2 ? ", got '" : "", argc >= 2 ? argv[1] : "",
            argc >= 2 ? "'" : "");
    return 2;
}
