/* SPDX-License-Identifier: MIT */
/* Table-driven reading of YAML/JSON mappings with precise, collected error messages. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "conf/reader-priv.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/fleet.h"
#include "hvfleet/units.h"

/* A short, printable rendering of a node's value for messages. */
static void
reader_value_text(const hvf_node *node, char *buf, size_t size)
{
    if (!node) {
        snprintf(buf, size, "(empty)");
        return;
    }
    if (hvf_node_is_mapping(node)) {
        snprintf(buf, size, "(a mapping)");
        return;
    }
    if (hvf_node_is_sequence(node)) {
        snprintf(buf, size, "(a list)");
        return;
    }
    if (hvf_node_is_alias(node)) {
        snprintf(buf, size, "'*%.*s'", (int)(node->len < 40 ? node->len : 40), node->text);
        return;
    }
    if (node->len == 0 && node->style == HVF_NODE_PLAIN) {
        snprintf(buf, size, "(empty)");
        return;
    }
    hvf_quote_value(node->text, node->len, buf, size);
}

static void __attribute__((format(printf, 4, 0)))
reader_vreport(hvf_reader *r, const hvf_node *node, const char *field, const char *fmt,
               va_list ap)
{
    char value[64];
    char msg[512];

    reader_value_text(node, value, sizeof(value));
    vsnprintf(msg, sizeof(msg), fmt, ap);
    hvf_diags_add(r->diags, "%s:%d: %s: %s: %s", r->file, hvf_reader_line(node),
                  *field ? field : "(document)", value, msg);
}

void
hvf_reader_report(hvf_reader *r, const hvf_node *node, const char *field, const char *fmt,
                  ...)
{
    va_list ap;

    va_start(ap, fmt);
    reader_vreport(r, node, field, fmt, ap);
    va_end(ap);
}

void
hvf_reader_report_field(hvf_reader *r, hvf_node *map, const char *path, const char *key,
                        const char *fmt, ...)
{
    hvf_node *v = hvf_node_lookup(map, key, (size_t)-1);
    char field[160];
    va_list ap;

    snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
    va_start(ap, fmt);
    reader_vreport(r, v ? v : map, field, fmt, ap);
    va_end(ap);
}

bool
hvf_reader_expect_seq(hvf_reader *r, hvf_node *node, const char *field)
{
    if (!node)
        return true;
    if (hvf_node_is_sequence(node))
        return true;
    hvf_reader_report(r, node, field, "expected a list");
    return false;
}

char *
hvf_reader_scalar_dup(hvf_node *node)
{
    size_t len = 0;
    char *s = hvf_reader_scalar_text(node, &len);

    if (s && memchr(s, '\0', len)) {
        free(s);
        return NULL;
    }
    return s;
}

static bool
reader_parse_uint(const char *s, uint64_t *out)
{
    char *end = NULL;

    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool
reader_parse_double(const char *s, double *out)
{
    char *end = NULL;

    if (!*s || isspace((unsigned char)*s))
        return false;
    if (hvf_units_decimal(s, strlen(s), out)) /* cpu_load of every VM: strtod's value, faster */
        return true;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static bool
reader_in_range(const hvf_field_spec *spec, double v)
{
    if (spec->max > spec->min)
        return v >= spec->min && v <= spec->max;
    return v >= spec->min;
}

static void
reader_range_text(const hvf_field_spec *spec, char *buf, size_t size)
{
    if (spec->max > spec->min)
        snprintf(buf, size, "between %.15g and %.15g", spec->min, spec->max);
    else
        snprintf(buf, size, "at least %.15g", spec->min);
}

static char *
reader_enum_list(const char *const *names, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (int i = 0; names[i] && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? " | " : "", names[i]);
    return buf;
}

/*
 * Aliases are refused because a few lines of them can expand to gigabytes; anchors with them,
 * so that a file says what it means where it means it. Reports and returns true for an alias;
 * an anchor is reported and its node still read, to find the other problems in one pass.
 */
static bool
reader_refuse_refs(hvf_reader *r, hvf_node *node, const char *field)
{
    if (!node)
        return false;
    if (hvf_node_is_alias(node)) {
        hvf_reader_report(r, node, field, "aliases (*name) are not supported");
        return true;
    }
    if (hvf_node_has_anchor(node))
        hvf_reader_report(r, node, field, "anchors (&name) are not supported");
    return false;
}

/* "PATH.KEY" (or "KEY") into @buf, cut to fit: a memcpy, as this runs for every field read. */
static void
reader_join(char *buf, size_t size, const char *path, const char *key)
{
    size_t p = strlen(path), k = strlen(key), o = 0;

    if (p > size - 1)
        p = size - 1;
    memcpy(buf, path, p);
    o = p;
    if (p && o < size - 1)
        buf[o++] = '.';
    if (k > size - 1 - o)
        k = size - 1 - o;
    memcpy(buf + o, key, k);
    buf[o + k] = '\0';
}

/* The text of scalar @v when it holds no NUL byte (borrowed from the document), else NULL. */
static const char *
reader_text(const hvf_node *v)
{
    if (!hvf_node_is_scalar(v) || strlen(v->text) != v->len)
        return NULL;
    return v->text;
}

/* Reads one scalar-typed field; returns false after reporting a problem. */
static bool
reader_field(hvf_reader *r, const hvf_field_spec *spec, hvf_node *v, const char *field,
             void *obj)
{
    char *base = (char *)obj;
    const char *text = NULL;
    hvf_error err = HVF_ERROR_INIT;
    char range[96];

    if (spec->type == HVF_FIELD_NODE) {
        *(hvf_node **)(base + spec->offset) = v;
        return true;
    }
    if (spec->type == HVF_FIELD_STRLIST) {
        char ***list = (char ***)(base + spec->offset);
        size_t *count = (size_t *)(base + spec->offset2);
        hvf_node *item;
        void *iter = NULL;
        size_t n = 0;

        if (!hvf_node_is_sequence(v)) {
            hvf_reader_report(r, v, field, "expected a list of strings");
            return false;
        }
        for (size_t i = 0; i < *count; i++)
            free((*list)[i]);
        free(*list);
        *list = hvf_calloc(hvf_node_count(v) + 1, sizeof(char *));
        *count = 0;
        while ((item = hvf_node_iterate(v, &iter)) != NULL) {
            char *s;

            if (reader_refuse_refs(r, item, field))
                continue;
            s = hvf_reader_is_null(item) ? NULL : hvf_reader_scalar_dup(item);
            if (!s) {
                hvf_reader_report(r, item, field, "expected a string");
                continue;
            }
            (*list)[n++] = s;
        }
        *count = n;
        return true;
    }
    if (!(text = reader_text(v))) {
        hvf_reader_report(r, v, field, "expected a single value");
        return false;
    }
    switch (spec->type) {
    case HVF_FIELD_NAME:
        if (!hvf_name_is_valid(text)) {
            hvf_reader_report(r, v, field, "expected 1-63 characters of A-Z a-z 0-9 . _ -");
            return false;
        }
        /* fall through */
    case HVF_FIELD_STRING: {
        char **dst = (char **)(base + spec->offset);
        if (strlen(text) > 4096) {
            hvf_reader_report(r, v, field, "expected at most 4096 characters");
            return false;
        }
        free(*dst);
        *dst = hvf_strndup(text, v->len);
        return true;
    }
    case HVF_FIELD_UINT: {
        uint64_t u = 0;
        if (!reader_parse_uint(text, &u) || u > UINT32_MAX || !reader_in_range(spec, (double)u)) {
            reader_range_text(spec, range, sizeof(range));
            hvf_reader_report(r, v, field, "expected a whole number %s", range);
            return false;
        }
        *(uint32_t *)(base + spec->offset) = (uint32_t)u;
        return true;
    }
    case HVF_FIELD_DOUBLE: {
        double d = 0;
        if (!reader_parse_double(text, &d) || !reader_in_range(spec, d)) {
            reader_range_text(spec, range, sizeof(range));
            hvf_reader_report(r, v, field, "expected a number %s", range);
            return false;
        }
        *(double *)(base + spec->offset) = d;
        return true;
    }
    case HVF_FIELD_BOOL:
        if (strcasecmp(text, "true") == 0) {
            *(bool *)(base + spec->offset) = true;
        } else if (strcasecmp(text, "false") == 0) {
            *(bool *)(base + spec->offset) = false;
        } else {
            hvf_reader_report(r, v, field, "expected true or false");
            return false;
        }
        return true;
    case HVF_FIELD_SIZE_MIB: {
        uint64_t bytes = 0;
        if (hvf_units_parse_size(text, HVF_MIB, &bytes, &err) < 0) {
            hvf_reader_report(r, v, field,
                              "expected a size such as 512GiB, 8 GiB or 4096 (MiB)");
            return false;
        }
        /* Round up: a VM of 1.5 GB needs every byte of its last MiB. */
        *(uint64_t *)(base + spec->offset) = bytes / HVF_MIB + (bytes % HVF_MIB ? 1 : 0);
        return true;
    }
    case HVF_FIELD_RATE: {
        double bps = 0;
        if (hvf_units_parse_rate(text, &bps, &err) < 0 || !reader_in_range(spec, bps)) {
            hvf_reader_report(r, v, field, "expected a rate such as 10Gbit, 1.25GB/s or 50MiB/s");
            return false;
        }
        *(double *)(base + spec->offset) = bps;
        return true;
    }
    case HVF_FIELD_DURATION: {
        int64_t us = 0;
        if (hvf_units_parse_duration(text, &us, &err) < 0) {
            hvf_reader_report(r, v, field, "expected a duration such as 300ms, 90s or 2h");
            return false;
        }
        *(int64_t *)(base + spec->offset) = us;
        return true;
    }
    case HVF_FIELD_ENUM:
        for (int i = 0; spec->enum_names[i]; i++) {
            if (strcmp(spec->enum_names[i], text) == 0) {
                *(int *)(base + spec->offset) = i;
                return true;
            }
        }
        hvf_reader_report(r, v, field, "expected one of %s",
                          reader_enum_list(spec->enum_names, range, sizeof(range)));
        return false;
    default:
        HVF_ASSERT(!"unhandled field type");
    }
    return false;
}

size_t
hvf_reader_map(hvf_reader *r, hvf_node *node, const char *path, const hvf_field_spec *specs,
               size_t nspecs, void *obj)
{
    size_t before = r->diags->total;
    /* runs for every VM of an inventory: no allocation for the usual handful of specs */
    bool seen_small[32] = {false};
    HVF_AUTOFREE bool *seen_big = nspecs > HVF_ARRAY_LEN(seen_small)
                                      ? hvf_calloc(nspecs, sizeof(bool))
                                      : NULL;
    bool *seen = seen_big ? seen_big : seen_small;
    size_t hint = 0; /* where the next key's spec is looked for first: files list them in order */
    hvf_node *k, *v;
    void *iter = NULL;
    char field[160];

    if (reader_refuse_refs(r, node, path))
        return r->diags->total - before;
    if (!hvf_node_is_mapping(node)) {
        hvf_reader_report(r, node, path, "expected a mapping of fields");
        return r->diags->total - before;
    }
    while ((k = hvf_node_pair_iterate(node, &iter, &v)) != NULL) {
        const char *key = reader_text(k);
        size_t i;

        if (reader_refuse_refs(r, k, path))
            continue;
        if (!key) {
            hvf_reader_report(r, k, path, "expected a field name");
            continue;
        }
        /* the spec named @key (names are unique), from @hint on and round; nspecs if none */
        for (i = 0; i < nspecs; i++) {
            const hvf_field_spec *sp = &specs[(hint + i) % nspecs];

            if (sp->name[0] == key[0] && strcmp(sp->name, key) == 0)
                break;
        }
        if (i < nspecs) {
            i = (hint + i) % nspecs;
            hint = i + 1;
        }
        reader_join(field, sizeof(field), path, key);
        if (i == nspecs) {
            hvf_reader_report(r, k, field, "unknown field");
            continue;
        }
        seen[i] = true;
        if (reader_refuse_refs(r, v, field))
            continue;
        if (hvf_reader_is_null(v)) {
            if (specs[i].required)
                hvf_reader_report(r, v, field, "a value is required");
            continue;
        }
        if (reader_field(r, &specs[i], v, field, obj) && specs[i].present)
            *(bool *)((char *)obj + specs[i].present - 1) = true;
    }
    for (size_t i = 0; i < nspecs; i++) {
        if (specs[i].required && !seen[i]) {
            snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", specs[i].name);
            hvf_diags_add(r->diags, "%s:%d: %s: (missing): a value is required", r->file,
                          hvf_reader_line(node), field);
        }
    }
    return r->diags->total - before;
}

void
hvf_reader_free_fields(const hvf_field_spec *specs, size_t nspecs, void *obj)
{
    char *base = (char *)obj;

    for (size_t i = 0; i < nspecs; i++) {
        if (specs[i].type == HVF_FIELD_STRING || specs[i].type == HVF_FIELD_NAME) {
            char **p = (char **)(base + specs[i].offset);
            free(*p);
            *p = NULL;
        } else if (specs[i].type == HVF_FIELD_STRLIST) {
            char ***list = (char ***)(base + specs[i].offset);
            size_t *count = (size_t *)(base + specs[i].offset2);
            for (size_t j = 0; j < *count; j++)
                free((*list)[j]);
            free(*list);
            *list = NULL;
            *count = 0;
        }
    }
}
