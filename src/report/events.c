/* SPDX-License-Identifier: MIT */
/* events.jsonl of a simulation run: one JSON object per line, checked field by field. */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "report/run.h"

static const char *const event_known_keys[] = {
    "t_s", "type", "host", "vm", "from", "to", "detail", "converged", "downtime_ms", "duration_s",
};

static void
event_clear(hvf_run_event *e)
{
    free(e->type);
    free(e->host);
    free(e->vm);
    free(e->from);
    free(e->to);
    free(e->detail);
    free(e->extra);
    memset(e, 0, sizeof(*e));
}

static bool
event_known(const char *key)
{
    for (size_t i = 0; i < HVF_ARRAY_LEN(event_known_keys); i++) {
        if (strcmp(key, event_known_keys[i]) == 0)
            return true;
    }
    return false;
}

/* An optional string field: absent and null leave *@out NULL. */
static int
event_string(const char *name, uint32_t line, const json_t *o, const char *key, char **out,
             hvf_error *err)
{
    const json_t *v = json_object_get(o, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: field '%s': expected a string", name,
                      (unsigned)line, key);
        return -1;
    }
    *out = hvf_strdup(json_string_value(v));
    return 0;
}

static int
event_number(const char *name, uint32_t line, const json_t *o, const char *key, double *out,
             hvf_error *err)
{
    const json_t *v = json_object_get(o, key);

    *out = NAN;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: field '%s': expected a number", name,
                      (unsigned)line, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* Unknown scalar fields are kept as "key=value" so the timeline still shows them. */
static char *
event_extra(const json_t *o)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    const char *key;
    const json_t *v;

    json_object_foreach((json_t *)o, key, v)
    {
        if (event_known(key) || json_is_null(v) || json_is_object(v) || json_is_array(v))
            continue;
        hvf_strbuf_printf(&sb, "%s%s=", sb.len ? ", " : "", key);
        if (json_is_string(v))
            hvf_strbuf_puts(&sb, json_string_value(v));
        else if (json_is_integer(v))
            hvf_strbuf_printf(&sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            hvf_strbuf_printf(&sb, "%g", json_real_value(v));
        else
            hvf_strbuf_puts(&sb, json_is_true(v) ? "true" : "false");
    }
    return sb.len ? hvf_strbuf_steal(&sb) : NULL;
}

static int
event_parse_line(const char *name, uint32_t line, const char *text, size_t len, hvf_run_event *e,
                 hvf_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *v;
    int rc = -1;

    memset(e, 0, sizeof(*e));
    e->line = line;
    e->converged = -1;
    if (!o) {
        hvf_run_printable(jerr.text);
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%d: %s", name, (unsigned)line, jerr.column,
                      jerr.text);
        return -1;
    }
    if (!json_is_object(o)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: expected a JSON object", name, (unsigned)line);
        goto out;
    }
    v = json_object_get(o, "t_s");
    if (!json_is_number(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: field 't_s': expected a number of seconds",
                      name, (unsigned)line);
        goto out;
    }
    e->t_s = json_number_value(v);
    v = json_object_get(o, "type");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: field 'type': expected a non-empty string",
                      name, (unsigned)line);
        goto out;
    }
    e->type = hvf_strdup(json_string_value(v));
    if (event_string(name, line, o, "host", &e->host, err) < 0 ||
        event_string(name, line, o, "vm", &e->vm, err) < 0 ||
        event_string(name, line, o, "from", &e->from, err) < 0 ||
        event_string(name, line, o, "to", &e->to, err) < 0 ||
        event_string(name, line, o, "detail", &e->detail, err) < 0 ||
        event_number(name, line, o, "downtime_ms", &e->downtime_ms, err) < 0 ||
        event_number(name, line, o, "duration_s", &e->duration_s, err) < 0)
        goto out;
    v = json_object_get(o, "converged");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: field 'converged': expected true or false",
                          name, (unsigned)line);
            goto out;
        }
        e->converged = json_is_true(v);
    }
    e->extra = event_extra(o);
    rc = 0;

out:
    json_decref(o);
    if (rc < 0)
        event_clear(e);
    return rc;
}

static int
event_cmp(const void *a, const void *b)
{
    const hvf_run_event *x = a, *y = b;

    if (x->t_s != y->t_s)
        return x->t_s < y->t_s ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

int
hvf_run_parse_events(const char *name, const char *data, size_t len, hvf_run *run, hvf_error *err)
{
    /* the array holds at least what it has; hvf_grow reallocates beyond that */
    size_t pos = 0, cap = run->nevents, base = run->nevents;
    uint32_t line = 0;

    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t n = end - pos;
        hvf_run_event e;

        line++;
        if (n > HVF_RUN_MAX_EVENT_LINE) {
            hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: line is longer than %d bytes", name,
                          (unsigned)line, HVF_RUN_MAX_EVENT_LINE);
            goto fail;
        }
        if (n > 0 && data[end - 1] == '\r')
            n--;
        {
            bool blank = true;
            for (size_t k = 0; k < n && blank; k++)
                blank = data[pos + k] == ' ' || data[pos + k] == '\t';
            if (blank) {
                pos = end + 1;
                continue;
            }
        }
        if (event_parse_line(name, line, data + pos, n, &e, err) < 0)
            goto fail;
        hvf_grow(&run->events, &cap, run->nevents + 1, sizeof(*run->events));
        run->events[run->nevents++] = e;
        pos = end + 1;
    }
    /* an empty log is valid: the twin writes one when recording events is switched off */
    if (run->nevents > 1)
        qsort(run->events, run->nevents, sizeof(*run->events), event_cmp);
    return 0;

fail:
    while (run->nevents > base)
        event_clear(&run->events[--run->nevents]);
    return -1;
}
