/* SPDX-License-Identifier: MIT */
/*
 * The verbs that go to hvfleetd with --server URL (cmd-remote*.c): plan maintenance|drain,
 * approve, run, freeze, unfreeze, status, events. Each takes argv with argv[0] = its own name
 * and returns an exit status, with the CLI's conventions (0 ok, 1 the answer is no or the
 * daemon failed, 2 bad input).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "cli/client.h"

/* Runs argv[0] against the daemon when it is one of the verbs above (for plan, only its
 * maintenance and drain); returns -1 for every other command, which then works on files. */
int hvf_cli_remote(const hvf_client_opts *o, int argc, char **argv);

/* A client for @o, or NULL with the message printed and the exit status in *@rc. */
hvf_client *hvf_cli_remote_open(const hvf_client_opts *o, int *rc);
/* hvf_client_request with its failures printed as "hvfleet: @what: ...": returns the answer
 * (owned) of a 2xx, or NULL with the exit status in *@rc. */
json_t *hvf_cli_remote_call(hvf_client *c, const char *what, const char *method,
                            const char *path, const json_t *body, int *rc);
/* A plan hash from @arg: the hash itself, or the plan_hash of the plan file @arg; NULL after
 * a message, with the exit status in *@rc. Owned. */
char *hvf_cli_remote_plan_hash(const char *what, const char *arg, int *rc);

/* The unfinished run (running or paused): 1 with its id in *@id, 0 when there is none, -1
 * after a message with the exit status in *@rc (cmd-remote-run.c says how it is found). */
int hvf_cli_remote_find_run(hvf_client *c, int64_t *id, int *rc);

int hvf_cli_remote_plan(const hvf_client_opts *o, int argc, char **argv);
int hvf_cli_remote_approve(const hvf_client_opts *o, int argc, char **argv);
int hvf_cli_remote_run(const hvf_client_opts *o, int argc, char **argv);

/* Without --server: status and events say they need it. */
int hvf_cli_status(int argc, char **argv);
int hvf_cli_events(int argc, char **argv);
