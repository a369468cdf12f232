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
#include "hvfleet/freeze.h"
#include "hvfleet/strbuf.h"

const char *
hvf_state_dir(const char *explicit_dir)
{
    const char *env;

    if (explicit_dir && *explicit_dir)
        return explicit_dir;
    env = getenv("HVFLEET_STATE_DIR");
    if (env && *env)
        return env;
    return "./.hvfleet";
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

static char *
freeze_path(const char *state_dir)
{
    return hvf_asprintf("%s/freeze.json", state_dir);
}

int
hvf_freeze_set(const char *state_dir, const char *reason, const char *by, hvf_error *err)
{
    HVF_AUTOFREE char *path = freeze_path(state_dir);
    json_t *o;
    char *text;
    int rc;

    if (hvf_state_dir_ensure(state_dir, err) < 0)
        return -1;
    o = json_pack("{s:s, s:b, s:s, s:s, s:I}", "schema", HVF_FREEZE_SCHEMA, "frozen", 1, "reason",
                  reason ? reason : "", "by", by ? by : "unknown", "since_unix",
                  (json_int_t)time(NULL));
    if (!o) {
        hvf_error_set(err, HVF_ERR_INVALID, "freeze reason and name must be UTF-8 text");
        return -1;
    }
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    rc = hvf_file_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

int
hvf_freeze_clear(const char *state_dir, hvf_error *err)
{
    HVF_AUTOFREE char *path = freeze_path(state_dir);

    if (unlink(path) < 0 && errno != ENOENT) {
        hvf_error_set(err, HVF_ERR_IO, "cannot remove '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

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

int
hvf_freeze_status(const char *state_dir, hvf_freeze_info *out, hvf_error *err)
{
    HVF_AUTOFREE char *path = freeze_path(state_dir);
    freeze_file ff = {0};
    hvf_diags diags;
    hvf_reader r;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    hvf_diags_init(&diags);
    if (hvf_reader_open_file(&r, path, &diags, err) < 0) {
        rc = -1;
    } else {
        if (hvf_reader_map(&r, hvf_reader_root(&r), "", freeze_fields, HVF_ARRAY_LEN(freeze_fields),
                           &ff) != 0 ||
            strcmp(ff.schema, HVF_FREEZE_SCHEMA) != 0) {
            hvf_error_set(err, HVF_ERR_INVALID, "%s", diags.n ? diags.lines[0] : "bad schema");
            rc = -1;
        }
        hvf_reader_close(&r);
    }
    if (rc < 0) {
        hvf_error_prefix(err, "freeze state unreadable, treated as frozen: ");
        out->frozen = true;
        out->unreadable = true;
    } else {
        out->frozen = ff.frozen;
        hvf_strlcpy(out->reason, ff.reason ? ff.reason : "", sizeof(out->reason));
        hvf_strlcpy(out->by, ff.by ? ff.by : "", sizeof(out->by));
        out->since_unix = (int64_t)ff.since;
    }
    hvf_reader_free_fields(freeze_fields, HVF_ARRAY_LEN(freeze_fields), &ff);
    hvf_diags_clear(&diags);
    return rc;
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
    hvf_error_set(err, HVF_ERR_CONFLICT, "%s refused: the fleet is frozen since %s by %s (%s)",
                  action, when, info.by[0] ? info.by : "unknown",
                  info.reason[0] ? info.reason : "no reason given");
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
