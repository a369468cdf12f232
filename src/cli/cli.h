/* SPDX-License-Identifier: MIT */
/* Subcommands of the hvfleet CLI. Each takes argv with argv[0] = its own name, returns an exit status. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

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

/* sim-change-print.c: the lines simulate prints about changes and services (none without). */
typedef struct hvf_sim hvf_sim;
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
