/* SPDX-License-Identifier: MIT */
/* Loading a simulation run directory: bounded file reads, checked against the run's manifest
 * (run.json) when it has one, then one parser per file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sha256.h"
#include "hvfleet/sim.h"
#include "report/run.h"

void
hvf_run_printable(char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
    }
}

int
hvf_run_read_file(const char *path, char **data, size_t *len, hvf_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int fd;

    *data = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read '%s': not a regular file", path);
        close(fd);
        return -1;
    }
    /* read until EOF rather than trusting st_size: the file may still be growing */
    for (;;) {
        ssize_t got;
        if (n == HVF_RUN_MAX_FILE_BYTES) {
            hvf_error_set(err, HVF_ERR_INVALID, "%s: file is larger than %u MiB", path,
                          HVF_RUN_MAX_FILE_BYTES / (1024 * 1024));
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > HVF_RUN_MAX_FILE_BYTES)
                cap = HVF_RUN_MAX_FILE_BYTES;
            buf = hvf_realloc(buf, cap + 1);
        }
        got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            hvf_error_set(err, HVF_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (!buf)
        buf = hvf_malloc(1);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;

fail:
    close(fd);
    free(buf);
    return -1;
}

/* The manifest's file names, in the order of hvf_run_manifest's arrays (run_file's order). */
static const char *const run_manifest_names[HVF_RUN_MANIFEST_FILES] = {HVF_SIM_RUN_FILES};

static bool
run_is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

int
hvf_run_parse_manifest(const char *name, const char *data, size_t len, hvf_run_manifest *m,
                       hvf_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *v, *files;
    int rc = -1;

    memset(m, 0, sizeof(*m));
    if (!root) {
        hvf_run_printable(jerr.text);
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                      jerr.text);
        return -1;
    }
    v = json_object_get(root, "schema");
    if (!json_is_string(v) || strcmp(json_string_value(v), HVF_SIM_MANIFEST_SCHEMA) != 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'schema': expected \"%s\"", name,
                      HVF_SIM_MANIFEST_SCHEMA);
        goto out;
    }
    v = json_object_get(root, "run_id");
    if (!json_is_string(v) || !run_is_hex(json_string_value(v), 16)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'run_id': expected 16 lowercase hex digits",
                      name);
        goto out;
    }
    hvf_strlcpy(m->run_id, json_string_value(v), sizeof(m->run_id));
    files = json_object_get(root, "files");
    for (size_t i = 0; i < HVF_RUN_MANIFEST_FILES; i++) {
        const json_t *f = json_object_get(files, run_manifest_names[i]);
        const json_t *bytes = json_object_get(f, "bytes");
        const json_t *sha = json_object_get(f, "sha256");
        if (!json_is_integer(bytes) || json_integer_value(bytes) < 0 || !json_is_string(sha) ||
            !run_is_hex(json_string_value(sha), 64)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s: field 'files.%s': expected {\"bytes\": N, \"sha256\": 64 hex "
                          "digits}",
                          name, run_manifest_names[i]);
            goto out;
        }
        m->bytes[i] = (uint64_t)json_integer_value(bytes);
        hvf_strlcpy(m->sha256[i], json_string_value(sha), sizeof(m->sha256[i]));
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The manifest of @dir into @m: 1 read, 0 when there is none, -1 with @err. */
static int
run_load_manifest(const char *dir, hvf_run_manifest *m, hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", dir, HVF_SIM_MANIFEST);
    HVF_AUTOFREE char *data = NULL;
    struct stat st;
    size_t len = 0;

    if (lstat(path, &st) < 0 && errno == ENOENT)
        return 0;
    if (hvf_run_read_file(path, &data, &len, err) < 0 ||
        hvf_run_parse_manifest(path, data, len, m, err) < 0)
        return -1;
    return 1;
}

typedef enum run_file { RUN_SUMMARY, RUN_EVENTS, RUN_FLEET, RUN_HOSTS } run_file;

static int
run_load_file(hvf_run *run, run_file which, const char *base, const hvf_run_manifest *m,
              hvf_error *err)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/%s", run->dir, base);
    HVF_AUTOFREE char *data = NULL;
    size_t len = 0;

    if (hvf_run_read_file(path, &data, &len, err) < 0)
        return -1;
    if (m) {
        char hex[HVF_SHA256_HEX_LEN + 1];
        hvf_sha256_hex(data, len, hex);
        if (len != m->bytes[which] || strcmp(hex, m->sha256[which]) != 0) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "run directory '%s' mixes runs: %s is not the file of run %s "
                          "(run.json: %" PRIu64 " bytes, sha256 %.12s; found %zu bytes, sha256 "
                          "%.12s): re-run the simulation",
                          run->dir, base, m->run_id, m->bytes[which], m->sha256[which], len, hex);
            return -1;
        }
    }
    switch (which) {
    case RUN_SUMMARY:
        run->summary = hvf_run_parse_summary(path, data, len, err);
        return run->summary ? 0 : -1;
    case RUN_EVENTS:
        return hvf_run_parse_events(path, data, len, run, err);
    case RUN_FLEET:
        return hvf_run_parse_fleet(path, data, len, run, err);
    case RUN_HOSTS:
        return hvf_run_parse_hosts(path, data, len, run, err);
    }
    return -1;
}

hvf_run *
hvf_run_load(const char *dir, hvf_error *err)
{
    static const struct {
        run_file which;
        const char *base;
    } files[] = {
        {RUN_SUMMARY, "summary.json"},
        {RUN_EVENTS, "events.jsonl"},
        {RUN_FLEET, "metrics-fleet.csv"},
        {RUN_HOSTS, "metrics-hosts.csv"},
    };
    struct stat st;
    hvf_run_manifest manifest;
    const hvf_run_manifest *m = NULL;
    hvf_run *run;

    if (stat(dir, &st) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot open run directory '%s': %s", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "'%s' is not a directory (expected a simulation run's output directory)",
                      dir);
        return NULL;
    }
    run = HVF_NEW(hvf_run);
    run->dir = hvf_strdup(dir);
    /* "runs/x/" and "runs/x" name the same files in messages */
    for (size_t n = strlen(run->dir); n > 1 && run->dir[n - 1] == '/'; n--)
        run->dir[n - 1] = '\0';
    switch (run_load_manifest(run->dir, &manifest, err)) {
    case -1:
        hvf_run_free(run);
        return NULL;
    case 1:
        m = &manifest;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(files); i++) {
        HVF_ASSERT(strcmp(files[i].base, run_manifest_names[files[i].which]) == 0);
        if (run_load_file(run, files[i].which, files[i].base, m, err) < 0) {
            hvf_run_free(run);
            return NULL;
        }
    }
    return run;
}

void
hvf_run_free(hvf_run *run)
{
    if (!run)
        return;
    free(run->dir);
    json_decref(run->summary);
    for (size_t i = 0; i < run->nevents; i++) {
        hvf_run_event *e = &run->events[i];
        free(e->type);
        free(e->host);
        free(e->vm);
        free(e->from);
        free(e->to);
        free(e->detail);
        free(e->extra);
    }
    free(run->events);
    free(run->fleet_t_s);
    for (size_t k = 0; k < HVF_RUN_FLEET_LAST; k++)
        free(run->fleet[k]);
    for (size_t i = 0; i < run->nhosts; i++) {
        free(run->hosts[i].name);
        free(run->hosts[i].t_s);
        for (size_t k = 0; k < HVF_RUN_HOST_LAST; k++)
            free(run->hosts[i].v[k]);
    }
    free(run->hosts);
    free(run);
}
