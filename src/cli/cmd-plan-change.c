/* SPDX-License-Identifier: MIT */
/* hvfleet plan change: waves for a rolling change, with a canary covering every variant. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/freeze.h"

static void
plan_change_usage(void)
{
    printf("usage: hvfleet plan change --inventory FILE --change CHANGE.yaml [--policy FILE]\n"
           "                           [--state-dir DIR] [--json] [-o PLAN.json]\n"
           "                           [--write-refused]\n"
           "Plans a rolling change (package, kernel, config_reload, firewall_rule) in waves:\n"
           "a canary that covers every variant present in the targets (kernel, hw, role, and\n"
           "whatever the change lists in variants_by), then waves growing by the change's\n"
           "factor up to its cap and the policy's max_parallel_hosts, each keeping racks,\n"
           "zones, redundancy and every service's min_available; a bake time and health gates\n"
           "after each wave, and a rollback that keeps the same limits. Prints the waves and\n"
           "the seatbelt's verdict (the fleet being frozen refuses it); -o writes the plan as\n"
           "JSON (schema hvfleet.change-plan/v1), unless the seatbelt refuses it: then nothing\n"
           "is written, except with --write-refused (the file's verdict says refused).\n"
           "Exit status: 0 auto or needs-approval, 1 refused, 2 bad input.\n");
}

static hvf_change *
plan_change_load(const char *path, int *rc)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change *c;

    hvf_diags_init(&diags);
    c = hvf_change_load(path, &diags, &err);
    if (!c) {
        hvf_diags_print(&diags, stderr);
        *rc = hvf_cli_fail(&err);
    }
    hvf_diags_clear(&diags);
    return c;
}

int
hvf_cli_plan_change(int argc, char **argv)
{
    static const struct option opts[] = {{"inventory", required_argument, NULL, 'i'},
                                         {"change", required_argument, NULL, 'c'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"state-dir", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"write-refused", no_argument, NULL, 'W'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *inventory = NULL, *change_path = NULL, *policy_path = NULL, *dir = NULL;
    const char *output = NULL;
    bool json = false, write_refused = false, refused;
    hvf_policy policy;
    hvf_change_plan_opts popts = {{0, 0, 0}, false};
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf out = HVF_STRBUF_INIT;
    hvf_fleet *fleet = NULL;
    hvf_change *change = NULL;
    hvf_change_plan *plan = NULL;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inventory = optarg;
            break;
        case 'c':
            change_path = optarg;
            break;
        case 'p':
            policy_path = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'o':
            output = optarg;
            break;
        case 'W':
            write_refused = true;
            break;
        case 'h':
            plan_change_usage();
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: plan change: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr,
                    "hvfleet: plan change: bad option '%s'; see hvfleet plan change --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc || !inventory || !change_path) {
        fprintf(stderr, "hvfleet: plan change: expected --inventory FILE and --change FILE%s%s\n",
                optind != argc ? ", got an extra argument " : "",
                optind != argc ? argv[optind] : "");
        return 2;
    }
    if ((rc = hvf_cli_load_policy(policy_path, &policy)) != 0)
        return rc;
    if (!(fleet = hvf_cli_load_fleet(inventory, &rc)))
        return rc;
    if (!(change = plan_change_load(change_path, &rc)))
        goto cleanup;
    hvf_change_limits_from_policy(&policy, &popts.limits);
    plan = hvf_change_plan_build(fleet, change, &popts, &err);
    if (!plan) {
        hvf_error_prefix(&err, "%s: ", change_path);
        rc = hvf_cli_fail(&err);
        goto cleanup;
    }
    hvf_change_plan_evaluate(plan, &policy, fleet, hvf_freeze_is_frozen(hvf_state_dir(dir)));
    refused = plan->verdict == HVF_PLAN_VERDICT_REFUSED;
    if (output && refused && !write_refused) {
        fprintf(stderr,
                "hvfleet: plan change: the seatbelt refused the plan: '%s' not written "
                "(--write-refused writes it, marked refused)\n",
                output);
        output = NULL;
    }
    if (output) {
        hvf_strbuf_clear(&out);
        hvf_change_plan_format_json(plan, &out);
        if (hvf_file_write_atomic(output, out.buf, out.len, &err) < 0) {
            rc = hvf_cli_fail(&err);
            goto cleanup;
        }
    }
    hvf_strbuf_clear(&out);
    if (json)
        hvf_change_plan_format_json(plan, &out);
    else
        hvf_change_plan_format_text(plan, &out);
    if (!(output && strcmp(output, "-") == 0))
        fputs(out.buf, stdout);
    rc = refused ? 1 : 0;

cleanup:
    hvf_strbuf_clear(&out);
    hvf_change_plan_free(plan);
    hvf_change_free(change);
    hvf_fleet_free(fleet);
    return rc;
}
