/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"

int
hvf_cli_fail(const hvf_error *err)
{
    fprintf(stderr, "hvfleet: %s\n", err->msg[0] ? err->msg : hvf_errcode_to_string(err->code));
    return hvf_errcode_exit_status(err->code);
}

void
hvf_cli_note_plan_author(const char *hash, int verdict, const char *kind)
{
    hvf_error err = HVF_ERROR_INIT;
    const char *user = getenv("USER");

    if (verdict != HVF_PLAN_VERDICT_NEEDS_APPROVAL)
        return;
    if (hvf_approval_note_plan(hvf_state_dir(NULL), hash, kind, user && *user ? user : "unknown",
                               &err) < 0)
        fprintf(stderr, "hvfleet: warning: the plan's author is not recorded (%s): the "
                        "two-person rule cannot apply to it\n",
                err.msg);
}
