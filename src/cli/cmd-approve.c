/* SPDX-License-Identifier: MIT */
/* hvfleet approve, freeze, unfreeze: the human switches on automation. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"
#include "hvfleet/store.h"

static const char *
cli_user(const char *given)
{
    const char *u = given ? given : getenv("USER");
    return u && *u ? u : "unknown";
}

hvf_plan *
hvf_cli_load_plan(const char *path, int *rc)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *p;

    hvf_diags_init(&diags);
    p = hvf_plan_load(path, &diags, &err);
    if (!p) {
        hvf_diags_print(&diags, stderr);
        *rc = hvf_cli_fail(&err);
    }
    hvf_diags_clear(&diags);
    return p;
}

bool
hvf_cli_plan_is_change(const char *path)
{
    /* dispatch on the parsed schema, as plan check does */
    return hvf_cli_plan_file_is_change(path);
}

hvf_change_plan_file *
hvf_cli_load_change_plan(const char *path, int *rc)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan_file *p;

    hvf_diags_init(&diags);
    p = hvf_change_plan_file_load(path, &diags, &err);
    if (!p) {
        hvf_diags_print(&diags, stderr);
        *rc = hvf_cli_fail(&err);
    }
    hvf_diags_clear(&diags);
    return p;
}

static int
approve_change(const char *path, const char *dir, const char *by)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_change_plan_file *plan;
    int rc = 0;

    if (!(plan = hvf_cli_load_change_plan(path, &rc)))
        return rc;
    if (hvf_approval_record_change(dir, plan, by, &err) < 0) {
        rc = hvf_cli_fail(&err);
    } else {
        printf("approved change plan %.12s (%s, change %s, %zu units in %zu waves) by %s "
               "(state in %s)\n",
               plan->plan_hash, hvf_plan_verdict_to_string(plan->verdict), plan->change,
               plan->nunits, plan->nwaves, by, hvf_store_where(dir));
        if (plan->verdict == HVF_PLAN_VERDICT_AUTO)
            printf("note: this plan's verdict is auto; it needed no approval\n");
    }
    hvf_change_plan_file_free(plan);
    return rc;
}

int
hvf_cli_approve(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 'd'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *by = NULL;
    hvf_error err = HVF_ERROR_INIT;
    hvf_plan *plan;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'b':
            by = optarg;
            break;
        case 'h':
            printf("usage: hvfleet approve PLAN.json [--state-dir DIR] [--by NAME]\n"
                   "Records your approval of exactly this plan (its plan_hash): a maintenance plan\n"
                   "or a change plan (hvfleet plan change -o). Any change to the\n"
                   "plan, or a new plan for a changed inventory, needs a new approval. Refused\n"
                   "plans cannot be approved (exit 1). Every approval is kept (who, when); a\n"
                   "plan that needs approval cannot be approved by the person who made it.\n"
                   "State directory: --state-dir, else $HVFLEET_STATE_DIR, else\n"
                   "/var/lib/hvfleet (root) or $XDG_STATE_HOME/hvfleet (~/.local/state/hvfleet).\n");
            return 0;
        default:
            fprintf(stderr, "hvfleet: approve: bad option '%s'; see hvfleet approve --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: approve: expected one PLAN.json\n");
        return 2;
    }
    if (hvf_cli_plan_is_change(argv[optind]))
        return approve_change(argv[optind], hvf_state_dir(dir), cli_user(by));
    if (!(plan = hvf_cli_load_plan(argv[optind], &rc)))
        return rc;
    dir = hvf_state_dir(dir);
    if (hvf_approval_record(dir, plan, cli_user(by), &err) < 0) {
        rc = hvf_cli_fail(&err);
    } else {
        hvf_approval appr;
        hvf_error ferr = HVF_ERROR_INIT;
        uint32_t n = hvf_approval_find(dir, plan, &appr, &ferr) == 1 ? appr.count : 1;

        printf("approved plan %.12s (%s, %zu hosts, %zu migrations) by %s: %u approval%s "
               "(state in %s)\n",
               plan->summary.plan_hash, hvf_plan_verdict_to_string(plan->summary.verdict),
               plan->nhosts, plan->nmigrations, cli_user(by), n, n == 1 ? "" : "s",
               hvf_store_where(dir));
        if (plan->summary.verdict == HVF_PLAN_VERDICT_AUTO)
            printf("note: this plan's verdict is auto; it needed no approval\n");
    }
    hvf_plan_free(plan);
    return rc;
}

static int
freeze_status(const char *dir, bool json)
{
    hvf_freeze_info info;
    hvf_error err = HVF_ERROR_INIT;
    char when[32] = "";
    time_t t;
    struct tm tm;
    int rc = hvf_freeze_status(dir, &info, &err);

    t = (time_t)info.since_unix;
    if (info.since_unix > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (json) {
        json_t *o = json_pack("{s:s, s:b, s:b, s:s, s:s, s:s, s:s}", "schema",
                              HVF_FREEZE_SCHEMA, "frozen", info.frozen, "unreadable",
                              info.unreadable, "reason", rc < 0 ? err.msg : info.reason, "by",
                              info.by, "since", when, "state_dir", dir);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(o);
    } else if (rc < 0) {
        printf("frozen: %s\n", err.msg);
    } else if (info.frozen) {
        printf("frozen since %s by %s: %s (state in %s)\n", when[0] ? when : "an unknown time",
               info.by[0] ? info.by : "unknown", info.reason[0] ? info.reason : "no reason given",
               hvf_store_where(dir));
    } else {
        printf("not frozen (state in %s)\n", hvf_store_where(dir));
    }
    /* As `systemctl is-active`: the exit status answers the question. */
    return info.frozen ? 0 : 1;
}

int
hvf_cli_freeze(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 'd'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"status", no_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *reason = NULL, *by = NULL;
    bool status = false, json = false;
    hvf_error err = HVF_ERROR_INIT;
    int c;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'b':
            by = optarg;
            break;
        case 's':
            status = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            printf("usage: hvfleet freeze [--reason TEXT] [--by NAME] [--state-dir DIR]\n"
                   "       hvfleet freeze --status [--json] [--state-dir DIR]\n"
                   "Stops all automation: every automated action refuses to start while frozen;\n"
                   "migrations in flight finish. Undo with hvfleet unfreeze. --status exits 0\n"
                   "when frozen, 1 when not. State directory: --state-dir, else\n"
                   "$HVFLEET_STATE_DIR, else /var/lib/hvfleet (root) or\n"
                   "$XDG_STATE_HOME/hvfleet (~/.local/state/hvfleet).\n");
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
    dir = hvf_state_dir(dir);
    if (status)
        return freeze_status(dir, json);
    if (hvf_freeze_set(dir, reason, cli_user(by), &err) < 0)
        return hvf_cli_fail(&err);
    printf("frozen: automated actions will refuse to start until 'hvfleet unfreeze' (state in "
           "%s)\n",
           hvf_store_where(dir));
    return 0;
}

int
hvf_cli_unfreeze(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    hvf_error err = HVF_ERROR_INIT;
    int c;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'h':
            printf("usage: hvfleet unfreeze [--state-dir DIR]\nLifts the freeze.\n");
            return 0;
        default:
            fprintf(stderr, "hvfleet: unfreeze: bad option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "hvfleet: unfreeze: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    dir = hvf_state_dir(dir);
    if (hvf_freeze_clear(dir, &err) < 0)
        return hvf_cli_fail(&err);
    printf("not frozen: automation may start actions again (state in %s)\n", hvf_store_where(dir));
    return 0;
}
