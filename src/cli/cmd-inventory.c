/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli/cli.h"

int
hvf_cli_inventory(int argc, char **argv)
{
    fprintf(stderr, "hvfleet: inventory: not built yet\n");
    return 2;
}
