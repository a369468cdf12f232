/* SPDX-License-Identifier: MIT */
/* Approvals bound to a plan's hash, one file per approved plan in the state directory. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"

static char *
approval_path(const char *state_dir, const char *hash)
{
    return hvf_asprintf("%s/approvals/%s.json", state_dir, hash);
}

/* Writes the approval of the plan with @hash; @extra (owned, may be NULL) adds plan sizes. */
static int
approval_write(const char *state_dir, const char *hash, hvf_plan_verdict verdict, const char *by,
               json_t *extra, hvf_error *err)
{
    HVF_AUTOFREE char *dir = hvf_asprintf("%s/approvals", state_dir);
    HVF_AUTOFREE char *path = NULL;
    json_t *o;
    char *text;
    int rc;

    if (hvf_state_dir_ensure(dir, err) < 0) {
        json_decref(extra);
        return -1;
    }
    o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "schema", HVF_APPROVAL_SCHEMA, "plan_hash", hash,
                  "approved_by", by && *by ? by : "unknown", "approved_at_unix",
                  (json_int_t)time(NULL), "verdict", hvf_plan_verdict_to_string(verdict));
    if (!o) {
        json_decref(extra);
        hvf_error_set(err, HVF_ERR_INVALID, "approver name must be UTF-8 text");
        return -1;
    }
    if (extra)
        json_object_update(o, extra);
    json_decref(extra);
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    path = approval_path(state_dir, hash);
    rc = hvf_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int
approval_refuse(const char *hash, hvf_plan_verdict verdict, const char *reason, hvf_error *err)
{
    if (verdict != HVF_PLAN_VERDICT_REFUSED)
        return 0;
    hvf_error_set(err, HVF_ERR_REFUSED,
                  "plan %.12s was refused by the seatbelt (%s): it cannot be approved", hash,
                  reason ? reason : "no reason recorded");
    return -1;
}

int
hvf_approval_record(const char *state_dir, const hvf_plan *plan, const char *by, hvf_error *err)
{
    if (!hvf_plan_hash_ok(plan)) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "plan_hash %.12s does not match the plan's content: the plan was changed "
                      "after it was made; make a new plan",
                      plan->summary.plan_hash);
        return -1;
    }
    if (approval_refuse(plan->summary.plan_hash, plan->summary.verdict,
                        plan->summary.nreasons ? plan->summary.reasons[0] : NULL, err) < 0)
        return -1;
    return approval_write(state_dir, plan->summary.plan_hash, plan->summary.verdict, by,
                          json_pack("{s:I, s:I}", "hosts", (json_int_t)plan->nhosts,
                                    "migrations", (json_int_t)plan->nmigrations),
                          err);
}

int
hvf_approval_record_change(const char *state_dir, const hvf_change_plan_file *plan,
                           const char *by, hvf_error *err)
{
    if (!hvf_change_plan_file_hash_ok(plan)) {
        hvf_error_set(err, HVF_ERR_CONFLICT,
                      "plan_hash %.12s does not match the change plan's content (%.12s): the "
                      "plan was changed after it was made; make a new plan",
                      plan->plan_hash, plan->content_hash);
        return -1;
    }
    if (approval_refuse(plan->plan_hash, plan->verdict,
                        plan->nreasons ? plan->reasons[0] : NULL, err) < 0)
        return -1;
    return approval_write(state_dir, plan->plan_hash, plan->verdict, by, NULL, err);
}

typedef struct approval_file {
    char *schema, *hash, *by, *verdict;
    double at, hosts, migrations;
} approval_file;

static const hvf_field_spec approval_fields[] = {
    {.name = "schema",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(approval_file, schema),
     .required = true},
    {.name = "plan_hash",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(approval_file, hash),
     .required = true},
    {.name = "approved_by",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(approval_file, by),
     .required = true},
    {.name = "approved_at_unix",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(approval_file, at),
     .min = 0,
     .max = 1e12},
    {.name = "verdict", .type = HVF_FIELD_STRING, .offset = offsetof(approval_file, verdict)},
    {.name = "hosts", .type = HVF_FIELD_DOUBLE, .offset = offsetof(approval_file, hosts)},
    {.name = "migrations", .type = HVF_FIELD_DOUBLE, .offset = offsetof(approval_file, migrations)},
};

static int
approval_find_hash(const char *state_dir, const char *hash, hvf_plan_verdict verdict,
                   hvf_approval *out, hvf_error *err)
{
    HVF_AUTOFREE char *path = NULL;
    approval_file af = {0};
    hvf_diags diags;
    hvf_reader r;
    int rc = 1;

    path = approval_path(state_dir, hash);
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    hvf_diags_init(&diags);
    if (hvf_reader_open_file(&r, path, &diags, err) < 0) {
        hvf_diags_clear(&diags);
        return -1;
    }
    if (hvf_reader_map(&r, hvf_reader_root(&r), "", approval_fields, HVF_ARRAY_LEN(approval_fields),
                       &af) != 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s", diags.lines[0]);
        rc = -1;
    } else if (strcmp(af.schema, HVF_APPROVAL_SCHEMA) != 0 ||
               strcmp(af.hash, hash) != 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "approval '%s' is not for plan %.12s", path,
                      hash);
        rc = -1;
    } else {
        hvf_strlcpy(out->plan_hash, af.hash, sizeof(out->plan_hash));
        hvf_strlcpy(out->by, af.by, sizeof(out->by));
        out->at_unix = (int64_t)af.at;
        out->verdict = verdict;
    }
    hvf_reader_close(&r);
    hvf_reader_free_fields(approval_fields, HVF_ARRAY_LEN(approval_fields), &af);
    hvf_diags_clear(&diags);
    return rc;
}

int
hvf_approval_find(const char *state_dir, const hvf_plan *plan, hvf_approval *out, hvf_error *err)
{
    memset(out, 0, sizeof(*out));
    /* An edited plan keeps its old hash: it must not inherit that hash's approval. */
    if (!hvf_plan_hash_ok(plan))
        return 0;
    return approval_find_hash(state_dir, plan->summary.plan_hash, plan->summary.verdict, out, err);
}

int
hvf_approval_find_change(const char *state_dir, const hvf_change_plan_file *plan,
                         hvf_approval *out, hvf_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!hvf_change_plan_file_hash_ok(plan))
        return 0;
    return approval_find_hash(state_dir, plan->plan_hash, plan->verdict, out, err);
}

bool
hvf_approval_plan_may_run(const char *state_dir, const hvf_plan *plan)
{
    hvf_approval a;
    hvf_error err = HVF_ERROR_INIT;

    if (!hvf_plan_hash_ok(plan))
        return false;
    switch (plan->summary.verdict) {
    case HVF_PLAN_VERDICT_AUTO:
        return true;
    case HVF_PLAN_VERDICT_NEEDS_APPROVAL:
        return hvf_approval_find(state_dir, plan, &a, &err) == 1;
    default:
        return false;
    }
}
