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

#include "hvfleet/plan.h"

/* Loads a plan file, printing its problems; returns NULL and the exit status in *@rc. */
hvf_plan *hvf_cli_load_plan(const char *path, int *rc);

int hvf_cli_approve(int argc, char **argv);
int hvf_cli_freeze(int argc, char **argv);
int hvf_cli_unfreeze(int argc, char **argv);
int hvf_cli_plan(int argc, char **argv);
int hvf_cli_plan_maintenance(int argc, char **argv);
int hvf_cli_plan_drain(int argc, char **argv);
int hvf_cli_plan_change(int argc, char **argv); /* cmd-plan-change.c */
int hvf_cli_place(int argc, char **argv);
