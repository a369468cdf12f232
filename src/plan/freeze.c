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
#include "hvfleet/freeze.h"
#include "hvfleet/strbuf.h"
#include "util/text.h"

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
    HVF_AUTOFREE char *copy = hvf_strdup(dir);
    struct stat st;

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
            hvf_error_set(err, HVF_ERR_IO, "cannot create state directory '%s': %s", copy,
                          strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
        hvf_error_set(err, HVF_ERR_IO, "cannot create state directory '%s': %s", dir,
                      strerror(errno));
        return -1;
    }
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

/* Reads the file ourselves so that non-UTF-8 bytes never reach libfyaml (see util/text.h). */
static int
freeze_open(hvf_reader *r, const char *path, hvf_diags *diags, hvf_error *err)
{
    size_t len = 0;
    HVF_AUTOFREE char *buf = hvf_text_read_file(path, 65536, &len, err);
    int line = 0, col = 0;

    if (!buf)
        return -1;
    if (!hvf_text_utf8_valid(buf, len, &line, &col)) {
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' line %d is not UTF-8 text", path, line);
        return -1;
    }
    return hvf_reader_open_buffer(r, path, buf, len, diags, err);
}

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
    if (freeze_open(&r, path, &diags, err) < 0) {
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
