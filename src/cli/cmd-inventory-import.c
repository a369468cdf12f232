/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "cli/cli.h"

int
hvf_cli_inventory_import(int argc, char **argv)
{
    fprintf(stderr, "hvfleet: inventory import: not built yet\n");
    return 2;
}
