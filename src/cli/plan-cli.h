/* SPDX-License-Identifier: MIT */
/* Helpers shared by the planning subcommands (place, plan, approve, freeze). */
#pragma once

#include <stdbool.h>

#include "hvfleet/fleet.h"
#include "hvfleet/policy.h"

/* Loads an inventory, printing its problems; returns NULL and the exit status in *@rc. */
hvf_fleet *hvf_cli_load_fleet(const char *path, int *rc);
/* Loads @path (NULL = built-in defaults) into @out; returns 0 or the exit status. */
int hvf_cli_load_policy(const char *path, hvf_policy *out);
/* True when @arg is --help or -h. */
bool hvf_cli_is_help(const char *arg);

#include "hvfleet/change-plan-file.h"
#include "hvfleet/plan.h"

/* Loads a plan file, printing its problems; returns NULL and the exit status in *@rc. */
hvf_plan *hvf_cli_load_plan(const char *path, int *rc);
/* True when @path holds a change plan (schema hvfleet.change-plan/v1); then loads it the same way. */
bool hvf_cli_plan_is_change(const char *path);
/* The same, by parsing the file and reading its top-level schema wherever it is (plan-cli.c). */
bool hvf_cli_plan_file_is_change(const char *path);
hvf_change_plan_file *hvf_cli_load_change_plan(const char *path, int *rc);
/* hvfleet plan check for a change plan (cmd-plan-check-change.c). */
int hvf_cli_plan_check_change(const char *path, const char *inventory, const char *dir, bool json);

int hvf_cli_approve(int argc, char **argv);
int hvf_cli_freeze(int argc, char **argv);
int hvf_cli_unfreeze(int argc, char **argv);
int hvf_cli_plan(int argc, char **argv);
int hvf_cli_plan_maintenance(int argc, char **argv);
int hvf_cli_plan_drain(int argc, char **argv);
int hvf_cli_plan_change(int argc, char **argv); /* cmd-plan-change.c */
int hvf_cli_plan_show(int argc, char **argv);   /* cmd-plan-show.c */
int hvf_cli_plan_diff(int argc, char **argv);   /* cmd-plan-show.c */
int hvf_cli_place(int argc, char **argv);
