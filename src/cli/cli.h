/* SPDX-License-Identifier: MIT */
/* Subcommands of the hvfleet CLI. Each takes argv with argv[0] = its own name, returns an exit status. */
#pragma once

#include <stdbool.h>

#include "hvfleet/error.h"

#define HVF_VERSION "0.1.0"

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

/* sim-change-print.c: the lines simulate prints about changes and services (none without). */
typedef struct hvf_sim hvf_sim;
void hvf_cli_print_changes(hvf_sim *sim);

/* Prints "hvfleet: MSG" to stderr and returns the exit status for @err's code. */
int hvf_cli_fail(const hvf_error *err);

int hvf_cli_inventory_import(int argc, char **argv);
int hvf_cli_inventory_generate(int argc, char **argv);
int hvf_cli_inventory_export(int argc, char **argv);

/* Records the current user ($USER) as the author of a plan that needs approval, in the state
 * directory, so that `approve` keeps the two-person rule; a warning when it cannot. */
void hvf_cli_note_plan_author(const char *hash, int verdict, const char *kind);
