/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli/cli.h"

int
hvf_cli_estimate(int argc, char **argv)
{
    fprintf(stderr, "hvfleet: estimate: not built yet\n");
    return 2;
}
