/* SPDX-License-Identifier: MIT */
/* hvfleet plan check for change plans: still fits the fleet, approved if needed, not frozen. */
#include <jansson.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/freeze.h"

static void
print_json(const hvf_change_plan_file *plan, const hvf_diags *problems, bool approved,
           bool frozen)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "schema", "hvfleet.plan-check/v1",
                          "result", problems->total ? "refused" : "ok", "plan_schema",
                          HVF_CHANGE_PLAN_SCHEMA, "plan_hash", plan->plan_hash, "plan_verdict",
                          hvf_plan_verdict_to_string(plan->verdict), "approved", approved,
                          "frozen", frozen);
    json_t *lines = json_array();

    for (size_t i = 0; i < problems->n; i++)
        json_array_append_new(lines, json_string(problems->lines[i]));
    json_object_set_new(o, "problems", lines);
    json_object_set_new(o, "problems_total", json_integer((json_int_t)problems->total));
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(o);
}

int
hvf_cli_plan_check_change(const char *path, const char *inventory, const char *dir, bool json)
{
    hvf_change_plan_file *plan;
    hvf_fleet *f;
    hvf_diags problems;
    hvf_approval appr;
    hvf_error err = HVF_ERROR_INIT;
    bool approved = false, frozen;
    int rc = 0;

    if (!(plan = hvf_cli_load_change_plan(path, &rc)))
        return rc;
    if (!(f = hvf_cli_load_fleet(inventory, &rc))) {
        hvf_change_plan_file_free(plan);
        return rc;
    }
    hvf_diags_init(&problems);
    hvf_change_plan_file_check(plan, f, &problems);
    if (plan->verdict == HVF_PLAN_VERDICT_REFUSED)
        hvf_diags_add(&problems, "the seatbelt refused this plan: %s",
                      plan->nreasons ? plan->reasons[0] : "no reason recorded");
    if (plan->verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL) {
        int found = hvf_approval_find_change(dir, plan, &appr, &err);
        approved = found == 1;
        if (found < 0)
            hvf_diags_add(&problems, "approval unreadable: %s", err.msg);
        else if (!approved)
            hvf_diags_add(&problems, "the plan needs an approval: hvfleet approve %s", path);
    }
    frozen = hvf_freeze_is_frozen(dir);
    if (frozen && hvf_freeze_check(dir, "running this plan", &err) < 0)
        hvf_diags_add(&problems, "%s", err.msg);
    if (json) {
        print_json(plan, &problems, approved, frozen);
    } else if (problems.total) {
        printf("refused: change plan %.12s cannot run now (%zu problem%s)\n", plan->plan_hash,
               problems.total, problems.total == 1 ? "" : "s");
        for (size_t i = 0; i < problems.n; i++)
            printf("  - %s\n", problems.lines[i]);
        if (problems.total > problems.n)
            printf("  ... and %zu more\n", problems.total - problems.n);
    } else {
        printf("ok: change plan %.12s (%s) matches the inventory; verdict %s%s%s\n",
               plan->plan_hash, plan->change, hvf_plan_verdict_to_string(plan->verdict),
               approved ? ", approved by " : "", approved ? appr.by : "");
    }
    rc = problems.total ? 1 : 0;
    hvf_diags_clear(&problems);
    hvf_fleet_free(f);
    hvf_change_plan_file_free(plan);
    return rc;
}
