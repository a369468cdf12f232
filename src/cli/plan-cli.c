/* SPDX-License-Identifier: MIT */
/* Loading inventories and policies for the planning subcommands, with their problems printed. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/inventory.h"
#include "hvfleet/plan.h"

hvf_fleet *
hvf_cli_load_fleet(const char *path, int *rc)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    hvf_fleet *f;

    hvf_diags_init(&diags);
    f = hvf_inventory_load(path, &diags, &err);
    if (!f) {
        hvf_diags_print(&diags, stderr);
        *rc = hvf_cli_fail(&err);
    }
    hvf_diags_clear(&diags);
    return f;
}

int
hvf_cli_load_policy(const char *path, hvf_policy *out)
{
    hvf_diags diags;
    hvf_error err = HVF_ERROR_INIT;
    int rc = 0;

    if (!path) {
        hvf_policy_default(out);
        return 0;
    }
    hvf_diags_init(&diags);
    if (hvf_policy_load(path, out, &diags, &err) < 0) {
        hvf_diags_print(&diags, stderr);
        rc = hvf_cli_fail(&err);
    }
    hvf_diags_clear(&diags);
    return rc;
}

bool
hvf_cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

bool
hvf_cli_plan_file_is_change(const char *path)
{
    return hvf_plan_file_kind_load(path) == HVF_PLAN_FILE_CHANGE;
}
