/* SPDX-License-Identifier: MIT */
/* The freeze switch as a state file, read fail-closed. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "util/text.h"
#include "hvfleet/approval.h"
#include "hvfleet/freeze.h"
#include "hvfleet/store.h"
#include "hvfleet/strbuf.h"

const char *
hvf_state_dir(const char *explicit_dir)
{
    static char home_dir[4096];
    const char *env;

    if (explicit_dir && *explicit_dir)
        return explicit_dir;
    env = getenv("HVFLEET_STATE_DIR");
    if (env && *env)
        return env;
    if (geteuid() == 0)
        return "/var/lib/hvfleet";
    env = getenv("XDG_STATE_HOME");
    if (env && *env)
        snprintf(home_dir, sizeof(home_dir), "%s/hvfleet", env);
    else
        snprintf(home_dir, sizeof(home_dir), "%s/.local/state/hvfleet",
                 getenv("HOME") && *getenv("HOME") ? getenv("HOME") : "/tmp");
    return home_dir;
}

int
hvf_state_dir_ensure(const char *dir, hvf_error *err)
{
    struct stat st;

    if (hvf_file_mkdirs(dir, 0700, err) < 0)
        return -1;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        hvf_error_set(err, HVF_ERR_IO, "state directory '%s' is not a directory", dir);
        return -1;
    }
    return 0;
}

/* ---- files of hvfleet before the store (freeze.json), imported once ---- */

typedef struct freeze_file {
    char *schema, *reason, *by;
    bool frozen;
    double since;
} freeze_file;

static const hvf_field_spec freeze_fields[] = {
    {.name = "schema",
     .type = HVF_FIELD_STRING,
     .offset = offsetof(freeze_file, schema),
     .required = true},
    {.name = "frozen",
     .type = HVF_FIELD_BOOL,
     .offset = offsetof(freeze_file, frozen),
     .required = true},
    {.name = "reason", .type = HVF_FIELD_STRING, .offset = offsetof(freeze_file, reason)},
    {.name = "by", .type = HVF_FIELD_STRING, .offset = offsetof(freeze_file, by)},
    {.name = "since_unix",
     .type = HVF_FIELD_DOUBLE,
     .offset = offsetof(freeze_file, since),
     .min = 0,
     .max = 1e12},
};

/* Imports DIR/freeze.json into @st, then renames it *.imported. An unreadable file freezes the
 * fleet: whoever wrote it meant to stop automation. */
static int
freeze_import_legacy(hvf_store *st, const char *dir, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/freeze.json", dir);
    HVF_AUTOFREE char *done = hvf_asprintf("%s/freeze.json.imported", dir);
    freeze_file ff = {0};
    hvf_diags diags;
    hvf_reader r;
    hvf_error why = HVF_ERROR_INIT;
    int rc = 0;

    if (access(path, F_OK) < 0)
        return 0;
    hvf_diags_init(&diags);
    if (hvf_reader_open_file(&r, path, &diags, &why) < 0) {
        rc = hvf_store_freeze_set(st, "an old freeze file could not be read", "unknown",
                                  (int64_t)time(NULL), err);
    } else {
        if (hvf_reader_map(&r, hvf_reader_root(&r), "", freeze_fields,
                           HVF_ARRAY_LEN(freeze_fields), &ff) != 0 ||
            strcmp(ff.schema, HVF_FREEZE_SCHEMA) != 0)
            rc = hvf_store_freeze_set(st, "an old freeze file could not be read", "unknown",
                                      (int64_t)time(NULL), err);
        else if (ff.frozen)
            rc = hvf_store_freeze_set(st, ff.reason ? ff.reason : "", ff.by ? ff.by : "unknown",
                                      (int64_t)ff.since, err);
        hvf_reader_close(&r);
    }
    hvf_reader_free_fields(freeze_fields, HVF_ARRAY_LEN(freeze_fields), &ff);
    hvf_diags_clear(&diags);
    if (rc == 0 && rename(path, done) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot rename '%s' after importing it: %s", path,
                      strerror(errno));
        return -1;
    }
    return rc;
}

hvf_store *
hvf_state_open(const char *state_dir, hvf_error *err)
{
    hvf_store *st = hvf_store_open(state_dir, err);

    if (!st)
        return NULL;
    if (freeze_import_legacy(st, state_dir, err) < 0 ||
        hvf_approval_import_legacy(st, state_dir, err) < 0) {
        hvf_store_close(st);
        return NULL;
    }
    return st;
}

int
hvf_freeze_set(const char *state_dir, const char *reason, const char *by, hvf_error *err)
{
    hvf_store *st = hvf_state_open(state_dir, err);
    int rc;

    if (!st)
        return -1;
    rc = hvf_store_freeze_set(st, reason ? reason : "", by, (int64_t)time(NULL), err);
    hvf_store_close(st);
    return rc;
}

int
hvf_freeze_clear(const char *state_dir, hvf_error *err)
{
    hvf_store *st = hvf_state_open(state_dir, err);
    int rc;

    if (!st)
        return -1;
    rc = hvf_store_freeze_clear(st, err);
    hvf_store_close(st);
    return rc;
}

int
hvf_freeze_status(const char *state_dir, hvf_freeze_info *out, hvf_error *err)
{
    hvf_store_freeze fz;
    hvf_store *st;
    int rc;

    memset(out, 0, sizeof(*out));
    st = hvf_state_open(state_dir, err);
    rc = st ? hvf_store_freeze_get(st, &fz, err) : -1;
    hvf_store_close(st);
    if (rc < 0) {
        hvf_error_prefix(err, "freeze state unreadable, treated as frozen: ");
        out->frozen = true;
        out->unreadable = true;
        return -1;
    }
    out->frozen = fz.frozen;
    hvf_strlcpy(out->reason, fz.reason, sizeof(out->reason));
    hvf_strlcpy(out->by, fz.by, sizeof(out->by));
    out->since_unix = fz.since_unix;
    return 0;
}

bool
hvf_freeze_is_frozen(const char *state_dir)
{
    hvf_freeze_info info;
    hvf_error err = HVF_ERROR_INIT;

    hvf_freeze_status(state_dir, &info, &err);
    return info.frozen;
}

int
hvf_freeze_check(const char *state_dir, const char *action, hvf_error *err)
{
    hvf_freeze_info info;
    hvf_error why = HVF_ERROR_INIT;
    char when[32] = "an unknown time";
    time_t t;
    struct tm tm;

    if (hvf_freeze_status(state_dir, &info, &why) == 0 && !info.frozen)
        return 0;
    if (info.unreadable) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s refused: %s", action, why.msg);
        return -1;
    }
    t = (time_t)info.since_unix;
    if (info.since_unix > 0 && gmtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    hvf_error_set(err, HVF_ERR_CONFLICT,
                  "%s refused: the fleet is frozen since %s by %s (%s; state in %s)", action, when,
                  info.by[0] ? info.by : "unknown",
                  info.reason[0] ? info.reason : "no reason given", hvf_store_where(state_dir));
    return -1;
}

/* ---- the action queue's check ----------------------------------------------------------- */

typedef struct fz_queue_check {
    char *dir; /* owned; NULL = hvf_state_dir's default, looked up at each pop */
} fz_queue_check;

static bool
fz_queue_is_frozen(void *ctx)
{
    const fz_queue_check *c = ctx;

    return hvf_freeze_is_frozen(hvf_state_dir(c->dir));
}

static void
fz_queue_check_free(void *ctx)
{
    fz_queue_check *c = ctx;

    free(c->dir);
    free(c);
}

void
hvf_actionq_set_freeze_dir(hvf_actionq *q, const char *state_dir)
{
    fz_queue_check *c = HVF_NEW(fz_queue_check);

    c->dir = state_dir ? hvf_strdup(state_dir) : NULL;
    hvf_actionq_set_freeze_owned(q, fz_queue_is_frozen, c, fz_queue_check_free);
}
