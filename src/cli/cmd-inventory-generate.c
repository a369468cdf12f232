/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli/cli.h"

int
hvf_cli_inventory_generate(int argc, char **argv)
{
    fprintf(stderr, "hvfleet: inventory generate: not built yet\n");
    return 2;
}
