/* SPDX-License-Identifier: MIT */
/* Approvals bound to a plan's hash, one file per approved plan in the state directory. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"
#include "hvfleet/store.h"

/* Adds @by's approval of @hash. The two-person rule: when the plan needs an approval, its
 * author (recorded when it was made, hvf_approval_note_plan) cannot give it. */
static int
approval_write(const char *state_dir, const char *hash, hvf_plan_verdict verdict, const char *by,
               hvf_error *err)
{
    hvf_store_approval a;
    hvf_store *st = hvf_state_open(state_dir, err);
    char author[64];
    int rc;

    if (!st)
        return -1;
    memset(&a, 0, sizeof(a));
    hvf_strlcpy(a.plan_hash, hash, sizeof(a.plan_hash));
    hvf_strlcpy(a.by, by && *by ? by : "unknown", sizeof(a.by));
    a.at_unix = (int64_t)time(NULL);
    hvf_strlcpy(a.verdict, hvf_plan_verdict_to_string(verdict), sizeof(a.verdict));
    rc = hvf_store_plan_author(st, hash, author, sizeof(author), err);
    if (rc == 1 && verdict == HVF_PLAN_VERDICT_NEEDS_APPROVAL && author[0] &&
        strcmp(author, "unknown") != 0 && strcmp(author, a.by) == 0) {
        hvf_error_set(err, HVF_ERR_REFUSED,
                      "plan %.12s was made by '%s', who cannot approve it: a plan that needs "
                      "approval needs a second person (state in %s)",
                      hash, author, hvf_store_path(st));
        rc = -1;
    } else if (rc >= 0) {
        rc = hvf_store_approval_add(st, &a, err);
        if (rc < 0)
            hvf_error_prefix(err, "state in %s: ", hvf_store_path(st));
    }
    hvf_store_close(st);
    return rc < 0 ? -1 : 0;
}

int
hvf_approval_note_plan(const char *state_dir, const char *hash, const char *kind,
                       const char *author, hvf_error *err)
{
    hvf_store *st = hvf_state_open(state_dir, err);
    int rc;

    if (!st)
        return -1;
    rc = hvf_store_plan_put(st, hash, kind, author && *author ? author : "unknown", NULL, err);
    hvf_store_close(st);
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
    return approval_write(state_dir, plan->summary.plan_hash, plan->summary.verdict, by, err);
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
    return approval_write(state_dir, plan->plan_hash, plan->verdict, by, err);
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

/* Imports the approvals/HASH.json files of older hvfleet into @st, then renames the
 * directory approvals.imported. A file that cannot be read approves nothing. */
int
hvf_approval_import_legacy(hvf_store *st, const char *state_dir, hvf_error *err)
{
    HVF_AUTOFREE char *dir = hvf_asprintf("%s/approvals", state_dir);
    HVF_AUTOFREE char *done = hvf_asprintf("%s/approvals.imported", state_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return 0;
    while (rc == 0 && (de = readdir(d))) {
        HVF_AUTOFREE char *path = NULL;
        approval_file af = {0};
        hvf_store_approval a;
        hvf_error why = HVF_ERROR_INIT;
        hvf_diags diags;
        hvf_reader r;

        if (!strstr(de->d_name, ".json"))
            continue;
        path = hvf_asprintf("%s/%s", dir, de->d_name);
        hvf_diags_init(&diags);
        if (hvf_reader_open_file(&r, path, &diags, &why) == 0) {
            if (hvf_reader_map(&r, hvf_reader_root(&r), "", approval_fields,
                               HVF_ARRAY_LEN(approval_fields), &af) == 0 &&
                strcmp(af.schema, HVF_APPROVAL_SCHEMA) == 0 && strlen(af.hash) == 64) {
                memset(&a, 0, sizeof(a));
                hvf_strlcpy(a.plan_hash, af.hash, sizeof(a.plan_hash));
                hvf_strlcpy(a.by, af.by, sizeof(a.by));
                a.at_unix = (int64_t)af.at;
                hvf_strlcpy(a.verdict, af.verdict ? af.verdict : "needs-approval",
                            sizeof(a.verdict));
                if (hvf_store_approval_add(st, &a, &why) < 0 && why.code != HVF_ERR_CONFLICT) {
                    *err = why;
                    rc = -1;
                }
            }
            hvf_reader_close(&r);
        }
        hvf_reader_free_fields(approval_fields, HVF_ARRAY_LEN(approval_fields), &af);
        hvf_diags_clear(&diags);
    }
    closedir(d);
    if (rc == 0 && rename(dir, done) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot rename '%s' after importing it: %s", dir,
                      strerror(errno));
        return -1;
    }
    return rc;
}

static int
approval_find_hash(const char *state_dir, const char *hash, hvf_plan_verdict verdict,
                   hvf_approval *out, hvf_error *err)
{
    hvf_store *st = hvf_state_open(state_dir, err);
    hvf_store_approval *list = NULL;
    long n;

    if (!st)
        return -1;
    n = hvf_store_approvals(st, hash, &list, err);
    hvf_store_close(st);
    if (n <= 0) {
        free(list);
        return n < 0 ? -1 : 0;
    }
    hvf_strlcpy(out->plan_hash, hash, sizeof(out->plan_hash));
    hvf_strlcpy(out->by, list[n - 1].by, sizeof(out->by));
    out->at_unix = list[n - 1].at_unix;
    out->verdict = verdict;
    out->count = (uint32_t)n;
    free(list);
    return 1;
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
