/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands. */
#include <stdio.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"

int
hvf_cli_fail(const hvf_error *err)
{
    fprintf(stderr, "hvfleet: %s\n", err->msg[0] ? err->msg : hvf_errcode_to_string(err->code));
    return hvf_errcode_exit_status(err->code);
}
