/* SPDX-License-Identifier: MIT */
/*
 * The record of commands and their results, DIR/results.json: what makes commands idempotent by
 * id, across reconnects and restarts. Written whole (temporary file, fsync, rename) on every
 * change, so it is never half-written; capped, so it stays small.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"
#include "util/text.h"

#define RESULTS_MAX_FILE ((size_t)16 << 20)
#define RESULTS_MAX_ENTRIES 65536
#define RESULTS_MAX_DETAIL 1024

static const char *const state_names[] = {"queued", "running", "done"};

static void
result_clear(hvf_agent_result *e)
{
    free(e->id);
    free(e->type);
    free(e->detail);
    json_decref(e->data);
    memset(e, 0, sizeof(*e));
}

void
hvf_agent_results_clear(hvf_agent_results *r)
{
    if (!r->path && !r->items && !r->alloc)
        return;
    for (size_t i = 0; i < r->len; i++)
        result_clear(&r->items[i]);
    free(r->items);
    free(r->path);
    pthread_mutex_destroy(&r->mu);
    memset(r, 0, sizeof(*r));
}

static hvf_agent_result *
results_find(hvf_agent_results *r, const char *id)
{
    for (size_t i = r->len; i-- > 0;)
        if (strcmp(r->items[i].id, id) == 0)
            return &r->items[i];
    return NULL;
}

static void
results_remove(hvf_agent_results *r, size_t i)
{
    result_clear(&r->items[i]);
    memmove(&r->items[i], &r->items[i + 1], (r->len - i - 1) * sizeof(*r->items));
    r->len--;
}

static size_t
results_unacked_locked(const hvf_agent_results *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->len; i++)
        n += !r->items[i].acked;
    return n;
}

static json_t *
result_to_json(const hvf_agent_result *e)
{
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:b, s:b}", "id", e->id, "seq",
                          (json_int_t)e->seq, "type", e->type, "state", state_names[e->state],
                          "ok", e->ok, "acked", e->acked);

    if (e->detail)
        json_object_set_new(o, "detail", json_string(e->detail));
    if (e->data)
        json_object_set(o, "data", e->data);
    return o;
}

static char *
results_format_locked(const hvf_agent_results *r)
{
    json_t *arr = json_array();
    json_t *doc;
    char *text;

    for (size_t i = 0; i < r->len; i++)
        json_array_append_new(arr, result_to_json(&r->items[i]));
    doc = json_pack("{s:i, s:I, s:o}", "version", 1, "acked_max_seq",
                    (json_int_t)r->acked_max_seq, "results", arr);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    HVF_ASSERT(text);
    return text;
}

char *
hvf_agent_results_format(hvf_agent_results *r)
{
    char *text;

    pthread_mutex_lock(&r->mu);
    text = results_format_locked(r);
    pthread_mutex_unlock(&r->mu);
    return text;
}

/* Writes the record beside its place, syncs it and renames it over; the lock is held. */
static int
results_write_locked(hvf_agent_results *r, hvf_error *err)
{
    HVF_AUTOFREE char *text = NULL;
    HVF_AUTOFREE char *tmp = NULL;
    size_t len, off = 0;
    int fd;

    if (!r->path)
        return 0;
    text = results_format_locked(r);
    len = strlen(text);
    tmp = hvf_asprintf("%s.tmp", r->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        hvf_error_set(err, HVF_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            hvf_error_set(err, HVF_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    if (fdatasync(fd) < 0 || close(fd) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "%s: cannot sync: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, r->path) < 0) {
        hvf_error_set(err, HVF_ERR_IO, "%s: cannot rename to %s: %s", tmp, r->path,
                      strerror(errno));
        unlink(tmp);
        return -1;
    }
    r->writes++;
    return 0;
}

/* A string field of at most @max bytes, printable, or NULL. */
static const char *
get_str(json_t *o, const char *key, size_t max)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    if (!s || !*s || strlen(s) > max || strlen(s) != json_string_length(v))
        return NULL;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return NULL;
    return s;
}

int
hvf_agent_results_parse(hvf_agent_results *r, const char *name, const char *text, size_t len,
                        hvf_error *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *arr, *v;
    size_t i;

    if (!doc) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%d: not JSON: %s", name, jerr.line, jerr.text);
        return -1;
    }
    arr = json_object_get(doc, "results");
    v = json_object_get(doc, "version");
    if (!json_is_object(doc) || !json_is_integer(v) || json_integer_value(v) != 1 ||
        !json_is_array(arr) || json_array_size(arr) > RESULTS_MAX_ENTRIES) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "%s: expected {\"version\": 1, \"results\": [...]} with at most %d "
                      "results, as hvfleet-agent writes it",
                      name, RESULTS_MAX_ENTRIES);
        json_decref(doc);
        return -1;
    }
    v = json_object_get(doc, "acked_max_seq");
    r->acked_max_seq = json_is_integer(v) ? json_integer_value(v) : 0;
    json_array_foreach(arr, i, v) {
        const char *id = get_str(v, "id", HVF_AGENT_MAX_ID - 1);
        const char *type = get_str(v, "type", HVF_AGENT_MAX_TYPE - 1);
        const char *state = get_str(v, "state", 16);
        const char *detail = get_str(v, "detail", RESULTS_MAX_DETAIL);
        json_t *seq = json_object_get(v, "seq");
        json_t *data = json_object_get(v, "data");
        hvf_agent_result e = {0};
        int st = -1;

        for (int s = 0; state && s < (int)HVF_ARRAY_LEN(state_names); s++)
            if (strcmp(state, state_names[s]) == 0)
                st = s;
        if (!id || !type || st < 0 || !json_is_integer(seq) || json_integer_value(seq) < 0 ||
            (data && !json_is_object(data)) || (json_object_get(v, "detail") && !detail)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s: results[%zu]: expected id, type, seq (>= 0), state (queued, "
                          "running or done) and optional detail and data (an object)",
                          name, i);
            json_decref(doc);
            return -1;
        }
        if (results_find(r, id))
            continue; /* the first one stays; a record never has two */
        e.id = hvf_strdup(id);
        e.type = hvf_strdup(type);
        e.seq = json_integer_value(seq);
        e.state = (hvf_agent_res_state)st;
        e.ok = json_is_true(json_object_get(v, "ok"));
        e.acked = json_is_true(json_object_get(v, "acked"));
        e.detail = detail ? hvf_strdup(detail) : NULL;
        e.data = data ? json_incref(data) : NULL;
        if (e.state == HVF_AGENT_RES_QUEUED) {
            /* It never started: the controller re-sends it and it runs once. */
            result_clear(&e);
            continue;
        }
        if (e.state == HVF_AGENT_RES_RUNNING) {
            e.state = HVF_AGENT_RES_DONE;
            e.ok = false;
            free(e.detail);
            e.detail = hvf_strdup("interrupted: the agent stopped while the command ran");
        }
        hvf_grow(&r->items, &r->alloc, r->len + 1, sizeof(*r->items));
        r->items[r->len++] = e;
    }
    json_decref(doc);
    return 0;
}

int
hvf_agent_results_load(hvf_agent_results *r, const char *path, size_t cap, size_t acked_cap,
                       hvf_error *err)
{
    HVF_AUTOFREE char *text = NULL;
    size_t len = 0;

    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->cap = cap;
    r->acked_cap = acked_cap;
    r->path = path ? hvf_strdup(path) : NULL;
    if (!path || access(path, F_OK) != 0)
        return 0;
    text = hvf_text_read_file(path, RESULTS_MAX_FILE, &len, err);
    if (!text || hvf_agent_results_parse(r, path, text, len, err) < 0) {
        if (err)
            err->code = HVF_ERR_INVALID;
        return -1;
    }
    return 0;
}

hvf_agent_admit
hvf_agent_results_admit(hvf_agent_results *r, const hvf_agent_cmd *cmd)
{
    hvf_agent_admit a = HVF_AGENT_ADMIT_NEW;

    pthread_mutex_lock(&r->mu);
    if (results_find(r, cmd->id)) {
        hvf_agent_result *e = results_find(r, cmd->id);

        /* Answered again from the record: sent at the next sync if it is done. */
        if (e->state == HVF_AGENT_RES_DONE)
            e->acked = false;
        a = HVF_AGENT_ADMIT_SEEN;
    } else if (results_unacked_locked(r) >= r->cap) {
        a = HVF_AGENT_ADMIT_FULL;
    } else {
        hvf_grow(&r->items, &r->alloc, r->len + 1, sizeof(*r->items));
        r->items[r->len++] = (hvf_agent_result){.id = hvf_strdup(cmd->id),
                                                .seq = cmd->seq,
                                                .type = hvf_strdup(cmd->type),
                                                .state = HVF_AGENT_RES_QUEUED};
    }
    pthread_mutex_unlock(&r->mu);
    return a;
}

int
hvf_agent_results_start(hvf_agent_results *r, const char *id, hvf_error *err)
{
    hvf_agent_result *e;
    int rc;

    pthread_mutex_lock(&r->mu);
    e = results_find(r, id);
    HVF_ASSERT(e && e->state == HVF_AGENT_RES_QUEUED);
    e->state = HVF_AGENT_RES_RUNNING;
    rc = results_write_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
hvf_agent_results_finish(hvf_agent_results *r, const char *id, bool ok, json_t *data,
                         const char *detail, hvf_error *err)
{
    hvf_agent_result *e;
    int rc;

    pthread_mutex_lock(&r->mu);
    e = results_find(r, id);
    HVF_ASSERT(e);
    e->state = HVF_AGENT_RES_DONE;
    e->ok = ok;
    json_decref(e->data);
    e->data = data;
    free(e->detail);
    /* hvf_strndup copies @n bytes: measure first */
    e->detail = detail ? hvf_strndup(detail, strnlen(detail, RESULTS_MAX_DETAIL)) : NULL;
    rc = results_write_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

size_t
hvf_agent_results_pending(hvf_agent_results *r, size_t max, hvf_strbuf *sb)
{
    size_t n = 0;

    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->len && n < max; i++) {
        hvf_agent_result *e = &r->items[i];
        json_t *o;
        char *text;

        if (e->acked || e->state != HVF_AGENT_RES_DONE)
            continue;
        o = json_pack("{s:s, s:I, s:s}", "id", e->id, "seq", (json_int_t)e->seq, "status",
                      e->ok ? "ok" : "error");
        if (e->data)
            json_object_set(o, "data", e->data);
        if (e->detail)
            json_object_set_new(o, "detail", json_string(e->detail));
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (n++)
            hvf_strbuf_puts(sb, ",");
        hvf_strbuf_puts(sb, text);
        free(text);
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

int
hvf_agent_results_ack(hvf_agent_results *r, const int64_t *seqs, size_t n, hvf_error *err)
{
    bool changed = false;
    size_t acked = 0;
    int rc = 0;

    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < r->len; i++) {
            hvf_agent_result *e = &r->items[i];

            if (e->seq == seqs[k] && e->state == HVF_AGENT_RES_DONE && !e->acked) {
                e->acked = true;
                changed = true;
                if (e->seq > r->acked_max_seq)
                    r->acked_max_seq = e->seq;
            }
        }
    }
    for (size_t i = 0; i < r->len; i++)
        acked += r->items[i].acked;
    /* Oldest acked first: a re-sent id that old is no longer answered from the record. */
    for (size_t i = 0; i < r->len && acked > r->acked_cap;) {
        if (r->items[i].acked) {
            results_remove(r, i);
            acked--;
            changed = true;
        } else {
            i++;
        }
    }
    if (changed)
        rc = results_write_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int
hvf_agent_results_forget_queued(hvf_agent_results *r, hvf_error *err)
{
    bool changed = false;
    int rc = 0;

    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->len;) {
        if (r->items[i].state == HVF_AGENT_RES_QUEUED) {
            results_remove(r, i);
            changed = true;
        } else {
            i++;
        }
    }
    if (changed)
        rc = results_write_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

size_t
hvf_agent_results_unacked(hvf_agent_results *r)
{
    size_t n;

    pthread_mutex_lock(&r->mu);
    n = results_unacked_locked(r);
    pthread_mutex_unlock(&r->mu);
    return n;
}
