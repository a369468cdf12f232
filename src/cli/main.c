/* SPDX-License-Identifier: MIT */
/* hvfleet: one CLI, a table of subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/plan-cli.h"
#include "cli/remote.h"
#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/maintenance.h"

const hvf_cli_command hvf_cli_commands[] = {
    {"inventory", "check, import, export or generate an inventory", hvf_cli_inventory},
    {"estimate", "predict one live migration (time, downtime, convergence)", hvf_cli_estimate},
    {"simulate", "run a scenario in the twin (events, metrics, summary)", hvf_cli_simulate},
    {"replay", "replay an incident: its variants side by side (KPIs)", hvf_cli_replay},
    {"audit", "fault domains whose loss breaks a critical service, and the fixes", hvf_cli_audit},
    {"place", "where a new VM would go and why other hosts were rejected", hvf_cli_place},
    {"plan", "plan a maintenance, drain or rolling change; show, diff or check a plan",
     hvf_cli_plan},
    {"approve", "approve one exact plan (bound to its plan_hash)", hvf_cli_approve},
    {"run", "carry out an approved plan through a driver; pause, resume or abort a run",
     hvf_cli_run},
    {"freeze", "stop all automation (or show the freeze with --status)", hvf_cli_freeze},
    {"unfreeze", "let automation start actions again", hvf_cli_unfreeze},
    {"token", "make, list or revoke hvfleetd's API tokens", hvf_cli_token},
    {"status", "hvfleetd's fleet, run and freeze at a glance (with --server)", hvf_cli_status},
    {"events", "hvfleetd's event feed, or follow it (with --server)", hvf_cli_events},
    {"report", "turn a simulation run directory into an HTML report", hvf_cli_report},
    {"completion", "print a shell completion script (bash)", hvf_cli_completion},
    {"lab", "a fleet of network namespaces on this machine (root): up, down, status", hvf_cli_lab},
};
const size_t hvf_cli_ncommands = HVF_ARRAY_LEN(hvf_cli_commands);

static void
cli_usage(FILE *out)
{
    fprintf(out, "usage: hvfleet [--server URL [--token-file FILE] [--cacert FILE]] COMMAND [ARGS]"
                 "\n\ncommands:\n");
    for (size_t i = 0; i < hvf_cli_ncommands; i++) {
        size_t nsubs;
        const hvf_cli_command *subs = hvf_cli_subcommands_of(&hvf_cli_commands[i], &nsubs);
        fprintf(out, "  %-12s %s\n", hvf_cli_commands[i].name, hvf_cli_commands[i].summary);
        /* every subcommand, from the command's own table: none can be left out here */
        for (size_t s = 0; s < nsubs; s++)
            fprintf(out, "    %-11s %s\n", subs[s].name, subs[s].summary);
    }
    fprintf(out,
            "\nWith --server URL (or $HVFLEET_SERVER), plan maintenance|drain, approve, run,\n"
            "freeze, unfreeze, status and events go to hvfleetd at URL (http:// or https://)\n"
            "instead of working on files; the token is $HVFLEET_TOKEN or --token-file FILE's,\n"
            "a self-signed daemon certificate needs --cacert FILE (or $HVFLEET_CACERT).\n"
            "Other commands work on files as they do without it.\n"
            "\nRun 'hvfleet COMMAND --help' for a command's options.\n"
            "Exit status: 0 ok, 1 the answer is no, 2 bad input or usage.\n");
}

/* The global options before the command: "--NAME VALUE" or "--NAME=VALUE". Returns how many
 * arguments they took (0 when argv[@i] is not @name), or -1 after a message. */
static int
cli_global_opt(int argc, char **argv, int i, const char *name, const char **out)
{
    size_t n = strlen(name);

    if (strncmp(argv[i], name, n) != 0)
        return 0;
    if (argv[i][n] == '=') {
        *out = argv[i] + n + 1;
        return 1;
    }
    if (argv[i][n] != '\0')
        return 0;
    if (i + 1 >= argc) {
        fprintf(stderr, "hvfleet: %s needs a value\n", name);
        return -1;
    }
    *out = argv[i + 1];
    return 2;
}

int
main(int argc, char **argv)
{
    hvf_client_opts remote = {0};
    int first = 1;

    /* Scenarios may name the planner's strategy as their scheduler (hvfleet/sim-sched.h) and
     * run rolling changes, which the twin plans with the change planner (hvfleet/sim-change.h). */
    hvf_maintenance_register_scheduler();
    hvf_change_register_planner();
    while (first < argc) {
        int n = cli_global_opt(argc, argv, first, "--server", &remote.server);

        if (n == 0)
            n = cli_global_opt(argc, argv, first, "--token-file", &remote.token_file);
        if (n == 0)
            n = cli_global_opt(argc, argv, first, "--cacert", &remote.cacert);
        if (n < 0)
            return 2;
        if (n == 0)
            break;
        first += n;
    }
    if (!remote.server && getenv("HVFLEET_SERVER") && *getenv("HVFLEET_SERVER"))
        remote.server = getenv("HVFLEET_SERVER");
    if (!remote.server && (remote.token_file || remote.cacert)) {
        fprintf(stderr, "hvfleet: %s goes with --server URL (or HVFLEET_SERVER)\n",
                remote.token_file ? "--token-file" : "--cacert");
        return 2;
    }
    if (remote.server && !remote.cacert && getenv("HVFLEET_CACERT") && *getenv("HVFLEET_CACERT"))
        remote.cacert = getenv("HVFLEET_CACERT");
    argc -= first - 1;
    argv += first - 1;
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    if (remote.server) {
        int rc = hvf_cli_remote(&remote, argc - 1, argv + 1);

        if (rc >= 0)
            return rc;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("hvfleet %s\n", HVF_VERSION);
        return 0;
    }
    for (size_t i = 0; i < hvf_cli_ncommands; i++) {
        if (strcmp(argv[1], hvf_cli_commands[i].name) == 0)
            return hvf_cli_commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "hvfleet: unknown command '%s'; run 'hvfleet --help' for the list\n", argv[1]);
    return 2;
}
