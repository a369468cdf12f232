/* SPDX-License-Identifier: MIT */
/* Strict, table-driven checks of jansson values, and the line scan that locates them. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/fleet.h"
#include "plan/plan-json.h"

/* ---- where things are ------------------------------------------------------------------------ */

#define RJ_DEPTH 4

typedef struct rj_frame {
    bool is_obj;
    char key[40]; /* objects: the key being read or last read */
    long rec;     /* arrays whose items are recorded: index in ctx->lines, else -1 */
} rj_frame;

/* Index of a new record (the array grows: keep indexes, not pointers). */
static long
rj_slot(rj_ctx *c, const char *key, int line)
{
    rj_lines *l;

    hvf_grow(&c->lines, &c->cap, c->nlines + 1, sizeof(rj_lines));
    l = &c->lines[c->nlines];
    memset(l, 0, sizeof(*l));
    hvf_strlcpy(l->key, key, sizeof(l->key));
    l->line = line;
    return (long)c->nlines++;
}

/*
 * One pass over text jansson accepted: strings (with escapes) are skipped, brackets tracked to a
 * few levels. Records the line of each field of the root and of its objects, and of each item of
 * arrays at those levels.
 */
void
rj_init(rj_ctx *c, const char *file, hvf_diags *diags, const char *buf, size_t len)
{
    rj_frame st[RJ_DEPTH + 1];
    int depth = 0, line = 1;
    bool want_value = false, in_key = false;
    char key[40];
    size_t klen = 0;

    memset(c, 0, sizeof(*c));
    c->file = file;
    c->diags = diags;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];

        if (ch == '\n') {
            line++;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == ':')
            continue;
        if (ch == ',') {
            want_value = depth > 0 && depth <= RJ_DEPTH && !st[depth - 1].is_obj;
            continue;
        }
        if (ch == '}' || ch == ']') {
            depth--;
            want_value = false;
            continue;
        }
        if (ch == '"' && depth > 0 && depth <= RJ_DEPTH && st[depth - 1].is_obj && !want_value) {
            in_key = true; /* a key: read it, then its value follows */
        } else if (want_value || depth == 0) {
            /* A value starts here: record it where wanted. */
            rj_frame *top = depth > 0 && depth <= RJ_DEPTH ? &st[depth - 1] : NULL;
            long made = -1;
            if (top && top->is_obj && depth <= 2) {
                char full[96];
                snprintf(full, sizeof(full), "%s%s%s", depth == 2 ? st[0].key : "",
                         depth == 2 ? "." : "", top->key);
                made = rj_slot(c, full, line);
            } else if (top && !top->is_obj && top->rec >= 0) {
                rj_lines *rec = &c->lines[top->rec];
                hvf_grow(&rec->items, &rec->cap, rec->nitems + 1, sizeof(int));
                rec->items[rec->nitems++] = line;
            }
            want_value = false;
            if (ch == '{' || ch == '[') {
                if (depth < RJ_DEPTH) {
                    st[depth].is_obj = ch == '{';
                    st[depth].key[0] = '\0';
                    st[depth].rec = ch == '[' ? made : -1;
                }
                depth++;
                want_value = ch == '[';
                continue;
            }
        }
        if (ch == '"') {
            /* skip the string; keep it when it is a key */
            klen = 0;
            for (i++; i < len && buf[i] != '"'; i++) {
                if (buf[i] == '\\')
                    i++;
                else if (in_key && klen + 1 < sizeof(key))
                    key[klen++] = buf[i];
            }
            if (in_key) {
                key[klen] = '\0';
                hvf_strlcpy(st[depth - 1].key, key, sizeof(st[depth - 1].key));
                in_key = false;
                want_value = true;
            }
            continue;
        }
        /* the rest of a number, true, false or null */
        while (i + 1 < len && (isalnum((unsigned char)buf[i + 1]) || buf[i + 1] == '.' ||
                               buf[i + 1] == '-' || buf[i + 1] == '+'))
            i++;
    }
    /* Look-ups must not be linear: a hostile plan may hold a million fields. */
    hvf_hash_init(&c->index);
    for (size_t k = 0; k < c->nlines; k++)
        (void)hvf_hash_put(&c->index, c->lines[k].key, (int32_t)k);
}

void
rj_free(rj_ctx *c)
{
    for (size_t i = 0; i < c->nlines; i++)
        free(c->lines[i].items);
    free(c->lines);
    c->lines = NULL;
    c->nlines = 0;
    hvf_hash_clear(&c->index);
}

static const rj_lines *
rj_find(const rj_ctx *c, const char *key)
{
    int32_t i = c->nlines ? hvf_hash_get(&c->index, key) : -1;

    return i >= 0 ? &c->lines[i] : NULL;
}

int
rj_line(const rj_ctx *c, const char *key)
{
    const rj_lines *l = rj_find(c, key);
    return l ? l->line : 1;
}

int
rj_item_line(const rj_ctx *c, const char *key, size_t i)
{
    const rj_lines *l = rj_find(c, key);

    if (!l)
        return 1;
    return i < l->nitems ? l->items[i] : l->line;
}

/* ---- checks ---------------------------------------------------------------------------------- */

static void
rj_value_text(const json_t *v, char *buf, size_t size)
{
    const char *s;
    size_t n;

    if (!v) {
        snprintf(buf, size, "(missing)");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        snprintf(buf, size, "(a mapping)");
        return;
    case JSON_ARRAY:
        snprintf(buf, size, "(a list)");
        return;
    case JSON_INTEGER:
        snprintf(buf, size, "'%" JSON_INTEGER_FORMAT "'", json_integer_value(v));
        return;
    case JSON_REAL:
        snprintf(buf, size, "'%.15g'", json_real_value(v));
        return;
    case JSON_TRUE:
        snprintf(buf, size, "'true'");
        return;
    case JSON_FALSE:
        snprintf(buf, size, "'false'");
        return;
    case JSON_NULL:
        snprintf(buf, size, "'null'");
        return;
    default:
        break;
    }
    s = json_string_value(v);
    n = json_string_length(v);
    hvf_quote_value(s, n, buf, size);
}

void
rj_report(rj_ctx *c, int line, const char *field, const json_t *v, const char *fmt, ...)
{
    char value[64], msg[400];
    va_list ap;

    rj_value_text(v, value, sizeof(value));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hvf_diags_add(c->diags, "%s:%d: %s: %s: %s", c->file, line, field, value, msg);
}

static bool
rj_in_range(const rj_field *f, double v)
{
    return v >= f->min && (f->max <= f->min || v <= f->max);
}

/* Checks one present value against its field; returns false after reporting. */
static bool
rj_check(rj_ctx *c, int line, const char *field, const rj_field *f, json_t *v)
{
    switch (f->type) {
    case RJ_NAME:
    case RJ_STRING:
    case RJ_ENUM: {
        const char *s = json_string_value(v);
        if (!s) {
            rj_report(c, line, field, v, "expected a string");
            return false;
        }
        if (strlen(s) != json_string_length(v) || json_string_length(v) > 4096) {
            rj_report(c, line, field, v, "expected at most 4096 characters and no NUL");
            return false;
        }
        if (f->type == RJ_NAME && !hvf_name_is_valid(s)) {
            rj_report(c, line, field, v, "expected 1-63 characters of A-Z a-z 0-9 . _ -");
            return false;
        }
        if (f->type == RJ_ENUM) {
            char list[160];
            size_t o = 0;
            for (int i = 0; f->names[i]; i++) {
                if (strcmp(f->names[i], s) == 0)
                    return true;
            }
            list[0] = '\0';
            for (int i = 0; f->names[i] && o < sizeof(list); i++)
                o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? " | " : "",
                                      f->names[i]);
            rj_report(c, line, field, v, "expected one of %s", list);
            return false;
        }
        return true;
    }
    case RJ_UINT:
        if (!json_is_integer(v) || !rj_in_range(f, (double)json_integer_value(v))) {
            rj_report(c, line, field, v, "expected a whole number between %.15g and %.15g", f->min,
                      f->max);
            return false;
        }
        return true;
    case RJ_NUMBER:
        if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
            !rj_in_range(f, json_number_value(v))) {
            rj_report(c, line, field, v, "expected a number between %.15g and %.15g", f->min,
                      f->max);
            return false;
        }
        return true;
    case RJ_BOOL:
        if (!json_is_boolean(v)) {
            rj_report(c, line, field, v, "expected true or false");
            return false;
        }
        return true;
    case RJ_ARRAY:
        if (!json_is_array(v)) {
            rj_report(c, line, field, v, "expected a list");
            return false;
        }
        return true;
    case RJ_OBJECT:
        if (!json_is_object(v)) {
            rj_report(c, line, field, v, "expected a mapping of fields");
            return false;
        }
        return true;
    }
    return false;
}

size_t
rj_object(rj_ctx *c, json_t *obj, const char *path, int line, const rj_field *fields, size_t n,
          json_t **vals)
{
    size_t before = c->diags->total;
    const char *key;
    json_t *v;
    char field[160];

    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    if (!json_is_object(obj)) {
        rj_report(c, line, *path ? path : "plan", obj, "expected a mapping of fields");
        return c->diags->total - before;
    }
    json_object_foreach(obj, key, v)
    {
        size_t i;
        int at;
        for (i = 0; i < n; i++) {
            if (strcmp(fields[i].name, key) == 0)
                break;
        }
        snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
        at = rj_find(c, field) ? rj_line(c, field) : line;
        if (i == n) {
            json_t *k = json_string(key);
            rj_report(c, at, field, k, "unknown field");
            json_decref(k);
            continue;
        }
        if (rj_check(c, at, field, &fields[i], v))
            vals[i] = v;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(obj, fields[i].name)) {
            snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", fields[i].name);
            hvf_diags_add(c->diags, "%s:%d: %s: (missing): a value is required", c->file, line,
                          field);
        }
    }
    return c->diags->total - before;
}
