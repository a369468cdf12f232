/* SPDX-License-Identifier: MIT */
/* hvfleet --server URL plan maintenance|drain and approve: plans made and approved by hvfleetd. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "cli/remote.h"
#include "hvfleet/alloc.h"
#include "hvfleet/policy.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"

/* The policy file @path, checked here (its problems with file:line, as without --server) and
 * sent as the object hvfleetd parses: every field, as hvf_policy_format writes it, with its
 * values as text (the policy parser reads "50%" or "24h" either way). NULL with *@rc set. */
static json_t *
plan_policy_json(const char *path, int *rc)
{
    hvf_policy pol;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    json_t *root, *nested = NULL;
    char *line, *save = NULL;

    if ((*rc = hvf_cli_load_policy(path, &pol)) != 0)
        return NULL;
    hvf_policy_format(&pol, &sb);
    root = json_object();
    /* "key: value" lines; "key:" opens a map of "  key: value" lines (window, seatbelt) */
    for (line = strtok_r(sb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool inner = line[0] == ' ';
        char *key = line + strspn(line, " ");
        char *colon = strchr(key, ':');
        const char *value;

        if (!colon)
            continue;
        *colon = '\0';
        value = colon[1] == ' ' ? colon + 2 : colon + 1;
        if (!inner)
            nested = NULL;
        if (!inner && !*value) {
            nested = json_object();
            json_object_set_new(root, key, nested);
        } else {
            json_object_set_new(inner && nested ? nested : root, key, json_string(value));
        }
    }
    hvf_strbuf_clear(&sb);
    return root;
}

static void
plan_usage(FILE *out, bool drain)
{
    fprintf(out,
            "usage: hvfleet --server URL plan %s [--policy FILE]\n"
            "         [--strategy hvfleet|naive] [--json] [-o PLAN.json] [--write-refused]\n"
            "hvfleetd plans on the fleet it runs (POST /v1/plans) and keeps the plan; this\n"
            "prints its verdict, reasons, makespan and migrations, and the next step. SEL is a\n"
            "selector as without --server (rack:ZONE/RACK, zone:Z, tag:T, NAME, ',', '+', '!')\n"
            "or, for drain, host names as arguments. --policy FILE is checked here and sent.\n"
            "-o writes the plan (not a refused one, unless --write-refused); --json prints\n"
            "hvfleetd's answer. Exit status: 0 auto or needs-approval, 1 refused, 2 bad input.\n",
            drain ? "drain (HOST... | --hosts SEL)" : "maintenance [--hosts SEL]");
}

/* The text of a plan hvfleetd made, as plan maintenance prints it without --server. */
static void
plan_print(const hvf_plan *plan, const char *url)
{
    const hvf_plan_summary *s = &plan->summary;
    char d[32];

    printf("plan %.12s (%s) made by hvfleetd at %s\n", s->plan_hash,
           hvf_plan_kind_to_string(plan->kind), url);
    printf("verdict: %s\n", hvf_plan_verdict_to_string(s->verdict));
    for (size_t i = 0; i < s->nreasons; i++)
        printf("  - %s\n", s->reasons[i]);
    printf("makespan: %s for %zu host%s, %zu migration%s, %zu stop%s, up to %u host%s out of "
           "service at once (%s strategy)\n",
           hvf_units_format_duration(s->makespan_ms * 1000, d, sizeof(d)), plan->nhosts,
           HVF_CLI_S(plan->nhosts), plan->nmigrations, HVF_CLI_S(plan->nmigrations),
           plan->nstops, HVF_CLI_S(plan->nstops), s->max_parallel_hosts_seen,
           HVF_CLI_S(s->max_parallel_hosts_seen), hvf_plan_strategy_to_string(plan->strategy));
    if (s->nnon_converging)
        printf("non-converging or not live-migratable VMs: %zu (first: %s, %s)\n",
               s->nnon_converging, s->non_converging[0].vm,
               hvf_non_converging_to_string(s->non_converging[0].action));
    if (s->vms_moved_more_than_once)
        printf("VMs moved more than once: %u\n", s->vms_moved_more_than_once);
}

int
hvf_cli_remote_plan(const hvf_client_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"hosts", required_argument, NULL, 'H'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"strategy", required_argument, NULL, 'S'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"write-refused", no_argument, NULL, 'W'},
                                         {"no-compare", no_argument, NULL, 'n'},
                                         {"inventory", required_argument, NULL, 'L'},
                                         {"scenario", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool drain = strcmp(argv[0], "drain") == 0;
    const char *cmd = drain ? "plan drain" : "plan maintenance";
    const char *sel = NULL, *policy = NULL, *strategy = NULL, *out = NULL;
    bool json = false, write_refused = false;
    hvf_client *c = NULL;
    json_t *body = NULL, *answer = NULL, *jp;
    hvf_plan *plan = NULL;
    int ch, li = 0, rc = 0;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":ho:", opts, &li)) != -1) {
        switch (ch) {
        case 'H': sel = optarg; break;
        case 'p': policy = optarg; break;
        case 'S': strategy = optarg; break;
        case 'o': out = optarg; break;
        case 'j': json = true; break;
        case 'W': write_refused = true; break;
        case 'n': break; /* hvfleetd does not compare: nothing to leave out */
        case 'L':
            fprintf(stderr, "hvfleet: %s: --%s is for planning on files; with --server hvfleetd "
                            "plans on the fleet it runs (drop --%s, or --server)\n",
                    cmd, opts[li].name, opts[li].name);
            return 2;
        case 'h':
            plan_usage(stdout, drain);
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: %s: %s needs a value\n", cmd, argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: %s: unknown option '%s'; see hvfleet --server URL %s "
                            "--help\n", cmd, argv[optind - 1], cmd);
            return 2;
        }
    }
    if (strategy && hvf_plan_strategy_from_string(strategy) < 0) {
        fprintf(stderr, "hvfleet: %s: --strategy '%s': expected hvfleet or naive\n", cmd,
                strategy);
        return 2;
    }
    body = json_pack("{s:s}", "kind", drain ? "drain" : "maintenance");
    if (drain && optind < argc) {
        json_t *names = json_array();

        if (sel) {
            json_decref(names);
            fprintf(stderr, "hvfleet: plan drain: name the hosts as arguments or with --hosts, "
                            "not both\n");
            rc = 2;
            goto out;
        }
        for (int i = optind; i < argc; i++)
            json_array_append_new(names, json_string(argv[i]));
        json_object_set_new(body, "hosts", names);
    } else if (optind < argc) {
        fprintf(stderr, "hvfleet: %s: unexpected argument '%s'\n", cmd, argv[optind]);
        rc = 2;
        goto out;
    } else if (drain && !sel) {
        fprintf(stderr, "hvfleet: plan drain: name at least one HOST (or --hosts SEL)\n");
        rc = 2;
        goto out;
    } else {
        json_t *js = json_string(sel ? sel : "all");

        if (!js) {
            fprintf(stderr, "hvfleet: %s: --hosts: expected UTF-8 text\n", cmd);
            rc = 2;
            goto out;
        }
        json_object_set_new(body, "hosts", js);
    }
    if (json_object_size(body) < 2 ||
        (json_is_array(json_object_get(body, "hosts")) &&
         json_array_size(json_object_get(body, "hosts")) != (size_t)(argc - optind))) {
        fprintf(stderr, "hvfleet: %s: host names must be UTF-8 text\n", cmd);
        rc = 2;
        goto out;
    }
    if (strategy)
        json_object_set_new(body, "strategy", json_string(strategy));
    if (policy) {
        json_t *pj = plan_policy_json(policy, &rc);

        if (!pj)
            goto out;
        json_object_set_new(body, "policy", pj);
    }
    if (!(c = hvf_cli_remote_open(o, &rc)))
        goto out;
    if (!(answer = hvf_cli_remote_call(c, cmd, "POST", "/v1/plans", body, &rc)))
        goto out;
    jp = json_object_get(answer, "plan");
    {
        HVF_AUTOFREE char *text = json_is_object(jp) ? json_dumps(jp, JSON_COMPACT) : NULL;
        hvf_error err = HVF_ERROR_INIT;
        hvf_diags diags;

        hvf_diags_init(&diags);
        plan = text ? hvf_plan_parse("hvfleetd's plan", text, strlen(text), &diags, &err) : NULL;
        hvf_diags_clear(&diags);
        if (!plan) {
            fprintf(stderr, "hvfleet: %s: hvfleetd at %s answered a plan that does not read: %s\n",
                    cmd, hvf_client_url(c), text ? err.msg : "no \"plan\" object");
            rc = 1;
            goto out;
        }
    }
    {
        bool refused = plan->summary.verdict == HVF_PLAN_VERDICT_REFUSED;
        bool written = out && (!refused || write_refused);
        hvf_error err = HVF_ERROR_INIT;

        if (written && hvf_plan_save(plan, out, &err) < 0) {
            rc = hvf_cli_fail(&err);
            goto out;
        }
        if (out && !written)
            fprintf(stderr, "hvfleet: %s: the seatbelt refused the plan: '%s' not written "
                            "(--write-refused writes it, marked refused)\n", cmd, out);
        if (json) {
            json_dumpf(answer, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("\n");
        } else {
            plan_print(plan, hvf_client_url(c));
            if (written)
                printf("\nplan written to %s (plan_hash %.12s)\n", out, plan->summary.plan_hash);
            if (plan->summary.verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL)
                printf("%sanother person approves it with: hvfleet --server %s approve %s\n",
                       written ? "" : "\n", hvf_client_url(c), plan->summary.plan_hash);
            else if (!refused)
                printf("%srun it with: hvfleet --server %s run %s\n", written ? "" : "\n",
                       hvf_client_url(c), plan->summary.plan_hash);
        }
        rc = refused ? 1 : 0;
    }
out:
    hvf_plan_free(plan);
    json_decref(answer);
    json_decref(body);
    hvf_client_free(c);
    return rc;
}

int
hvf_cli_remote_approve(const hvf_client_opts *o, int argc, char **argv)
{
    static const struct option opts[] = {{"comment", required_argument, NULL, 'c'},
                                         {"by", required_argument, NULL, 'L'},
                                         {"state-dir", required_argument, NULL, 'L'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *comment = NULL;
    HVF_AUTOFREE char *hash = NULL;
    HVF_AUTOFREE char *path = NULL;
    hvf_client *c;
    json_t *body, *answer;
    int ch, li = 0, rc = 0;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        switch (ch) {
        case 'c': comment = optarg; break;
        case 'L':
            fprintf(stderr, "hvfleet: approve: --%s: with --server the approver is the token's "
                            "identity and hvfleetd keeps the approvals (drop it)\n",
                    opts[li].name);
            return 2;
        case 'h':
            printf("usage: hvfleet --server URL approve PLAN_HASH|PLAN.json [--comment TEXT]\n"
                   "Records, in hvfleetd, the approval of exactly this plan by the token's\n"
                   "identity (POST /v1/plans/HASH/approvals; a role that may approve). A plan\n"
                   "file stands for its plan_hash; hvfleetd needs the whole hash, not a prefix.\n"
                   "The person who made a plan that needs approval cannot approve it (exit 1).\n");
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: approve: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: approve: bad option '%s'; see hvfleet approve --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: approve: expected one PLAN_HASH or PLAN.json\n");
        return 2;
    }
    if (!(hash = hvf_cli_remote_plan_hash("approve", argv[optind], &rc)))
        return rc;
    body = comment ? json_pack("{s:s}", "comment", comment) : json_object();
    if (!body) {
        fprintf(stderr, "hvfleet: approve: --comment: expected UTF-8 text\n");
        return 2;
    }
    if (!(c = hvf_cli_remote_open(o, &rc))) {
        json_decref(body);
        return rc;
    }
    path = hvf_asprintf("/v1/plans/%s/approvals", hash);
    if ((answer = hvf_cli_remote_call(c, "approve", "POST", path, body, &rc))) {
        size_t n = json_array_size(json_object_get(answer, "approvals"));

        printf("approved plan %.12s by %s: %zu approval%s (hvfleetd at %s)\n", hash,
               json_string_value(json_object_get(answer, "by")) ?: "?", n, HVF_CLI_S(n),
               hvf_client_url(c));
        printf("run it with: hvfleet --server %s run %s\n", hvf_client_url(c), hash);
        json_decref(answer);
    }
    json_decref(body);
    hvf_client_free(c);
    return rc;
}
