/* SPDX-License-Identifier: MIT */
/*
 * hvfleet audit: which single host, rack or zone loss would break a critical service, its
 * dependencies or a must_not_share pair (seed 002), and the moves that fix it, as a plan.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/audit.h"

static void
audit_usage(FILE *out)
{
    fputs("usage: hvfleet audit --inventory FILE [--policy FILE] [--json] [-o FIXPLAN.json]\n"
          "                     [--write-refused] [--daemon-config HVFLEETD.yaml]\n"
          "Fault-domain audit: for every host, rack and zone, whether losing it would leave a\n"
          "critical service below min_available (or without any replica), stop a service a\n"
          "critical one depends on (depends_on), or stop two services that must not share a\n"
          "fate (must_not_share); then the moves that fix each finding, chosen by placement.\n"
          "-o writes the moves as a plan (kind rebalance) for 'hvfleet plan check' and the\n"
          "executor, unless the seatbelt refuses that plan: then it is not written, except\n"
          "with --write-refused (the file's verdict says refused). --policy gives the\n"
          "placement headroom and migration settings. --daemon-config also reports hvfleetd's\n"
          "peers, alert webhooks and dead-man's switch that run on a host or VM of the fleet\n"
          "they watch (they share its fault domain: seed 002).\n"
          "Exit status: 0 no findings, 1 findings, 2 bad input.\n",
          out);
}

int
hvf_cli_audit(int argc, char **argv)
{
    static const struct option opts[] = {{"inventory", required_argument, NULL, 'i'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"write-refused", no_argument, NULL, 'W'},
                                         {"daemon-config", required_argument, NULL, 'D'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *inventory = NULL, *policy_path = NULL, *fix_path = NULL, *dconf = NULL;
    hvf_watchers watchers = {0};
    hvf_watch_finding *wf = NULL;
    size_t nwf = 0;
    bool json = false, write_refused = false;
    hvf_policy policy;
    hvf_fleet *f;
    hvf_audit *a;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":i:p:jo:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inventory = optarg;
            break;
        case 'p':
            policy_path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'o':
            fix_path = optarg;
            break;
        case 'W':
            write_refused = true;
            break;
        case 'D':
            dconf = optarg;
            break;
        case 'h':
            audit_usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "hvfleet: audit: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "hvfleet: audit: unknown option '%s'; see hvfleet audit --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc || !inventory) {
        fprintf(stderr, "hvfleet: audit: expected --inventory FILE%s\n",
                optind != argc ? " and no other arguments" : "");
        return 2;
    }
    if ((rc = hvf_cli_load_policy(policy_path, &policy)) != 0)
        return rc;
    if (dconf) {
        hvf_error err = HVF_ERROR_INIT;

        if (hvf_watchers_load(dconf, &watchers, NULL, &err) < 0) {
            fprintf(stderr, "hvfleet: audit: %s\n", err.msg);
            return 2;
        }
    }
    if (!(f = hvf_cli_load_fleet(inventory, &rc))) {
        hvf_watchers_clear(&watchers);
        return rc;
    }
    a = hvf_audit_run(f, &policy);
    nwf = hvf_audit_watchers(f, &watchers, &wf);
    if (fix_path && a->nmoves > 0) {
        hvf_error err = HVF_ERROR_INIT;
        hvf_plan *plan = hvf_audit_fix_plan(a, f, &policy);
        int saved = 0;
        if (plan->summary.verdict != HVF_PLAN_VERDICT_REFUSED || write_refused) {
            saved = hvf_plan_save(plan, fix_path, &err);
        } else {
            fprintf(stderr,
                    "hvfleet: audit: the seatbelt refused the fix plan (%s): '%s' not written "
                    "(--write-refused writes it, marked refused)\n",
                    plan->summary.nreasons ? plan->summary.reasons[0] : "no reason recorded",
                    fix_path);
            fix_path = NULL;
        }
        hvf_plan_free(plan);
        if (saved < 0) {
            hvf_audit_free(a);
            hvf_fleet_free(f);
            hvf_watchers_clear(&watchers);
            free(wf);
            return hvf_cli_fail(&err);
        }
    }
    if (json) {
        HVF_AUTOFREE char *s = hvf_audit_json(a, f, fix_path && a->nmoves > 0 ? fix_path : NULL);

        if (dconf) { /* the watchers' findings, in the same document */
            json_t *root = json_loads(s, JSON_DECODE_ANY, NULL), *arr = json_array();
            char *out;

            for (size_t i = 0; i < nwf; i++) {
                const hvf_watcher *w = &watchers.v[wf[i].watcher];

                hvf_audit_watch_describe(f, &watchers, &wf[i], &sb);
                json_array_append_new(
                    arr, json_pack("{s:s, s:s, s:i, s:s*, s:s*, s:s}", "key",
                                   hvf_watcher_keys[w->kind], "host", w->host, "line", w->line,
                                   "on_host", wf[i].host >= 0 ? f->hosts[wf[i].host].name : NULL,
                                   "on_vm", wf[i].vm >= 0 ? f->vms[wf[i].vm].name : NULL,
                                   "text", sb.buf));
                hvf_strbuf_clear(&sb);
            }
            json_object_set_new(root, "daemon_config",
                                json_pack("{s:s, s:I, s:o}", "file", dconf, "watchers",
                                          (json_int_t)watchers.n, "findings", arr));
            out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", out);
            free(out);
            json_decref(root);
        } else {
            fputs(s, stdout);
        }
    } else {
        hvf_audit_format_text(a, f, fix_path && a->nmoves > 0 ? fix_path : NULL, &sb);
        if (fix_path && a->nmoves == 0 && a->nfindings > 0)
            hvf_strbuf_printf(&sb, "no moves: %s not written\n", fix_path);
        if (dconf) {
            hvf_strbuf_printf(&sb, "daemon config %s: %zu watcher%s, %zu in the fleet's fault "
                                   "domains\n",
                              dconf, watchers.n, watchers.n == 1 ? "" : "s", nwf);
            for (size_t i = 0; i < nwf; i++) {
                hvf_strbuf_puts(&sb, "  ");
                hvf_audit_watch_describe(f, &watchers, &wf[i], &sb);
                hvf_strbuf_puts(&sb, "\n");
            }
        }
        fputs(sb.buf ? sb.buf : "", stdout);
        hvf_strbuf_clear(&sb);
    }
    rc = a->nfindings > 0 || nwf > 0 ? 1 : 0;
    hvf_audit_free(a);
    hvf_fleet_free(f);
    hvf_watchers_clear(&watchers);
    free(wf);
    return rc;
}
