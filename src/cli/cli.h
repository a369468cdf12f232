/* SPDX-License-Identifier: MIT */
/* Subcommands of the hvfleet CLI. Each takes argv with argv[0] = its own name, returns an exit status. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

#define HVF_VERSION "0.1.0"

/* The plural ending for a count: printf("%zu host%s", n, HVF_CLI_S(n)). */
#define HVF_CLI_S(n) ((n) == 1 ? "" : "s")

typedef struct hvf_cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} hvf_cli_command;

int hvf_cli_inventory(int argc, char **argv);
int hvf_cli_estimate(int argc, char **argv);
int hvf_cli_simulate(int argc, char **argv);
int hvf_cli_replay(int argc, char **argv);
int hvf_cli_audit(int argc, char **argv);
int hvf_cli_report(int argc, char **argv);
int hvf_cli_run(int argc, char **argv);
int hvf_cli_token(int argc, char **argv);
int hvf_cli_lab(int argc, char **argv); /* cmd-lab.c: lab up|down|status */

typedef struct hvf_sim hvf_sim;

/*
 * cmd-simulate-plan.c: a simulation that runs the plan in @plan_path exactly, on the fleet of
 * @inventory, with @policy (NULL = defaults) as the planner used it; refused (NULL, *@rc 2)
 * unless the plan's hash matches its content and its inventory fingerprint @inventory.
 * *@run (owned by the simulation) is for hvf_cli_plan_run_print after the run.
 */
typedef struct hvf_cli_plan_run hvf_cli_plan_run;
hvf_sim *hvf_cli_plan_sim_new(const char *plan_path, const char *inventory, const char *policy,
                              const uint64_t *seed, hvf_cli_plan_run **run, int *rc);
/* Where what happened differs from the plan (also in summary.json as plan_run). */
void hvf_cli_plan_run_print(const hvf_cli_plan_run *run);
const char *hvf_cli_plan_run_hash(const hvf_cli_plan_run *run);

/* sim-change-print.c: the lines simulate prints about changes and services (none without). */
void hvf_cli_print_changes(hvf_sim *sim);

/* Prints "hvfleet: MSG" to stderr and returns the exit status for @err's code. */
int hvf_cli_fail(const hvf_error *err);

/* The top-level command table (main.c), the one `hvfleet --help` prints. */
extern const hvf_cli_command hvf_cli_commands[];
extern const size_t hvf_cli_ncommands;

/*
 * Introspection for `hvfleet completion` and `hvfleet --help` (cmd-completion.c). Each command
 * calls hvf_cli_options_wanted(its getopt table) before parsing, and returns 0 at once when it
 * says true; a command with subcommands calls hvf_cli_subcommands_wanted(argc, argv, table, n)
 * first, likewise. Outside introspection both return false.
 */
struct option;
bool hvf_cli_options_wanted(const struct option *opts);
bool hvf_cli_subcommands_wanted(int argc, char **argv, const hvf_cli_command *subs, size_t n);
/* The subcommands of @cmd (NULL and 0 for a command without), from its own table. */
const hvf_cli_command *hvf_cli_subcommands_of(const hvf_cli_command *cmd, size_t *n);
int hvf_cli_completion(int argc, char **argv);

int hvf_cli_inventory_import(int argc, char **argv);
int hvf_cli_inventory_generate(int argc, char **argv);
int hvf_cli_inventory_export(int argc, char **argv);
int hvf_cli_inventory_discover(int argc, char **argv);

/* Records the current user ($USER) as the author of a plan that needs approval, in the state
 * directory, so that `approve` keeps the two-person rule; a warning when it cannot. */
void hvf_cli_note_plan_author(const char *hash, int verdict, const char *kind);
