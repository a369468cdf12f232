/* SPDX-License-Identifier: MIT */
/* Table-driven reading of YAML/JSON mappings with precise, collected error messages. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/fleet.h"
#include "hvfleet/units.h"

/*
 * The input text, reachable from any node through the document's parse configuration
 * (fy_document_get_cfg()->userdata), since hvf_reader_scalar_dup gets only a node. The text
 * itself belongs to libfyaml's input, which lives as long as the document.
 */
typedef struct reader_src {
    const char *text;
    size_t len;
} reader_src;

/*
 * The text of a single-quoted scalar, decoded from its source: '' is a quote, and line breaks
 * fold as YAML 1.2 says (a break with the blanks around it becomes a space, each further empty
 * line a newline). libfyaml 0.7.12 gets several '' escapes wrong ('''''baaa' reads as '''baa)
 * and leaks a buffer doing it, so this is done here; the folding matches libfyaml's.
 */
static char *
reader_single_quoted(const char *s, size_t len, size_t *out_len)
{
    char *out = hvf_malloc(len + 1);
    size_t o = 0, i = 0, empty = 0;
    bool first = true;

    for (;;) {
        size_t e = i, start, end, next;

        while (e < len && s[e] != '\n' && s[e] != '\r')
            e++;
        next = e < len ? e + 1 + (s[e] == '\r' && e + 1 < len && s[e + 1] == '\n') : len;
        start = i;
        end = e;
        if (!first) {
            while (start < end && (s[start] == ' ' || s[start] == '\t'))
                start++;
        }
        if (e < len) {
            while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                end--;
        }
        if (!first) {
            /* Blank lines inside count; the last line, even blank, ends the folding. */
            if (start == end && e < len) {
                empty++;
                i = next;
                continue;
            }
            if (empty) {
                memset(out + o, '\n', empty);
                o += empty;
            } else {
                out[o++] = ' ';
            }
            empty = 0;
        }
        for (size_t k = start; k < end; k++) {
            out[o++] = s[k];
            if (s[k] == '\'' && k + 1 < end && s[k + 1] == '\'')
                k++;
        }
        first = false;
        if (e >= len)
            break;
        i = next;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* A scalar's text, owned (may hold NUL bytes: see *@len); NULL for anything but a scalar. */
static char *
reader_scalar_text(struct fy_node *node, size_t *len)
{
    struct fy_document *doc;
    const reader_src *src;
    const struct fy_mark *a, *b;
    struct fy_token *t;
    const char *s;

    *len = 0;
    if (!node || !fy_node_is_scalar(node) || fy_node_is_alias(node))
        return NULL;
    if (fy_node_get_style(node) == FYNS_SINGLE_QUOTED) {
        doc = fy_node_document(node);
        src = doc ? fy_document_get_cfg(doc)->userdata : NULL;
        t = fy_node_get_scalar_token(node);
        a = t ? fy_token_start_mark(t) : NULL;
        b = t ? fy_token_end_mark(t) : NULL;
        if (src && a && b && a->input_pos <= b->input_pos && b->input_pos <= src->len)
            return reader_single_quoted(src->text + a->input_pos, b->input_pos - a->input_pos,
                                        len);
    }
    s = fy_node_get_scalar(node, len);
    if (!s) {
        *len = 0;
        return NULL;
    }
    return hvf_strndup(s, *len);
}

/* The first syntax error libfyaml reports, captured from its diagnostic output. */
typedef struct reader_syntax {
    int line;
    char msg[200];
} reader_syntax;

/*
 * libfyaml 0.7 does not hand collected errors back, so read its text: "SRC:LINE:COL: error: MSG"
 * followed by source lines we ignore.
 */
static void
reader_diag_capture(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    reader_syntax *syn = user;
    char line[512];
    char *e, *p;
    int col_start, n;

    if (syn->msg[0])
        return;
    n = len < sizeof(line) - 1 ? (int)len : (int)sizeof(line) - 1;
    memcpy(line, buf, (size_t)n);
    line[n] = '\0';
    e = strstr(line, ": error: ");
    if (!e)
        return;
    hvf_strlcpy(syn->msg, e + 9, sizeof(syn->msg));
    if ((p = strchr(syn->msg, '\n')) != NULL)
        *p = '\0';
    /* walk back over ":COL" then ":LINE" */
    *e = '\0';
    p = strrchr(line, ':');
    if (p) {
        *p = '\0';
        col_start = 0;
        p = strrchr(line, ':');
        if (p && sscanf(p + 1, "%d", &col_start) == 1)
            syn->line = col_start;
    }
}

/*
 * Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or @len when all of it is.
 */
static size_t
reader_utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3;
        else
            return i;
        /* The second byte's range excludes overlongs, surrogates and code points > 0x10FFFF. */
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        else if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (i + n >= len)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        }
        i += n + 1;
    }
    return len;
}

/* A document with no content at all: "---" alone, or only comments. */
static bool
reader_is_empty(struct fy_node *root)
{
    return !root || (fy_node_is_scalar(root) && !fy_node_is_alias(root) && fy_node_is_null(root));
}

/* Line of the "---" that starts @doc, for a stray second document. */
static int
reader_document_line(struct fy_document *doc)
{
    struct fy_document_state *st = fy_document_get_document_state(doc);
    const struct fy_mark *m = st ? fy_document_state_start_mark(st) : NULL;
    int line = hvf_reader_line(fy_document_root(doc));

    return m ? m->line + 1 : line;
}

static int
reader_parse(hvf_reader *r, const char *name, char *owned_buf, size_t len, hvf_diags *diags,
             hvf_error *err)
{
    struct fy_diag_cfg dcfg;
    struct fy_diag *diag;
    struct fy_parse_cfg cfg;
    struct fy_parser *parser;
    struct fy_document *extra = NULL;
    reader_syntax syn = {0, {0}};
    int extra_line = 0;
    reader_src *src;
    size_t bad;

    r->file = name;
    r->diags = diags;
    r->doc = NULL;
    r->src = NULL;
    /*
     * YAML and JSON files are UTF-8. Check before libfyaml sees the bytes: 0.7.12 loops forever
     * on some invalid sequences ("%\xff", an unknown directive) and passes others through.
     */
    bad = reader_utf8_invalid_at((const unsigned char *)owned_buf, len);
    if (bad < len) {
        int line = 1;
        for (size_t i = 0; i < bad; i++)
            line += owned_buf[i] == '\n';
        hvf_diags_add(diags, "%s:%d: syntax: expected UTF-8 text, found the byte 0x%02X", name,
                      line, (unsigned char)owned_buf[bad]);
        free(owned_buf);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid YAML or JSON", name);
        return -1;
    }
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = reader_diag_capture;
    dcfg.user = &syn;
    dcfg.colorize = false;
    dcfg.show_position = true;
    dcfg.show_source = false;
    dcfg.show_type = false;
    dcfg.show_module = false;
    diag = fy_diag_create(&dcfg);
    if (!diag) {
        free(owned_buf);
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': cannot create a YAML diagnostic object", name);
        return -1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.flags = FYPCF_QUIET | FYPCF_DISABLE_RECYCLING;
    cfg.diag = diag;
    src = HVF_NEW(reader_src);
    src->text = owned_buf;
    src->len = len;
    cfg.userdata = src;
    parser = fy_parser_create(&cfg);
    if (!parser || fy_parser_set_malloc_string(parser, owned_buf, len) < 0) {
        /* On failure the parser has not taken the buffer. */
        free(owned_buf);
        free(src);
        fy_parser_destroy(parser);
        fy_diag_destroy(diag);
        hvf_error_set(err, HVF_ERR_INTERNAL, "'%s': cannot create a YAML parser", name);
        return -1;
    }
    /*
     * One document per file. fy_document_build_* stop after the first and ignore the rest, so
     * hosts appended after a "---" would silently not exist; load a second one to refuse it.
     */
    r->doc = fy_parse_load_document(parser);
    if (r->doc && !syn.msg[0]) {
        extra = fy_parse_load_document(parser);
        if (extra) {
            extra_line = reader_document_line(extra);
            fy_parse_document_destroy(parser, extra);
        }
    }
    fy_parser_destroy(parser);
    fy_diag_destroy(diag);
    if (!syn.msg[0] && extra) {
        syn.line = extra_line;
        hvf_strlcpy(syn.msg, "expected one document, found another one here", sizeof(syn.msg));
    }
    /* An empty document ("---" alone, only comments) has nothing to read, like an empty file. */
    if (!r->doc || syn.msg[0] || reader_is_empty(fy_document_root(r->doc))) {
        if (syn.msg[0])
            hvf_diags_add(diags, "%s:%d: syntax: %s", name, syn.line, syn.msg);
        else
            hvf_diags_add(diags, "%s:1: syntax: expected a YAML or JSON document", name);
        fy_document_destroy(r->doc);
        r->doc = NULL;
        free(src);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid YAML or JSON", name);
        return -1;
    }
    r->src = src;
    return 0;
}

int
hvf_reader_open_buffer(hvf_reader *r, const char *name, const char *buf, size_t len,
                       hvf_diags *diags, hvf_error *err)
{
    char *copy;

    if (len > HVF_CONF_MAX_BYTES) {
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is %zu bytes: the limit is %u", name, len,
                      HVF_CONF_MAX_BYTES);
        return -1;
    }
    copy = hvf_malloc(len + 1);
    memcpy(copy, buf, len);
    copy[len] = '\0';
    return reader_parse(r, name, copy, len, diags, err);
}

int
hvf_reader_open_file(hvf_reader *r, const char *path, hvf_diags *diags, hvf_error *err)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    char *buf;
    size_t n;

    if (!fp) {
        hvf_error_set(err, HVF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        hvf_error_set(err, HVF_ERR_IO, "'%s' is not a regular file", path);
        return -1;
    }
    if ((uint64_t)st.st_size > HVF_CONF_MAX_BYTES) {
        fclose(fp);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is %" PRIu64 " bytes: the limit is %u", path,
                      (uint64_t)st.st_size, HVF_CONF_MAX_BYTES);
        return -1;
    }
    buf = hvf_malloc((size_t)st.st_size + 1);
    n = fread(buf, 1, (size_t)st.st_size, fp);
    if (ferror(fp)) {
        free(buf);
        fclose(fp);
        hvf_error_set(err, HVF_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    fclose(fp);
    buf[n] = '\0';
    return reader_parse(r, path, buf, n, diags, err);
}

void
hvf_reader_close(hvf_reader *r)
{
    fy_document_destroy(r->doc);
    r->doc = NULL;
    free(r->src);
    r->src = NULL;
}

struct fy_node *
hvf_reader_root(const hvf_reader *r)
{
    return r->doc ? fy_document_root(r->doc) : NULL;
}

/*
 * 1-based line of the first (or last) scalar inside @n, 0 when there is none. libfyaml 0.7
 * exposes marks only on tokens, so a collection starts where its first scalar does.
 */
static int
reader_edge_line(struct fy_node *n, bool last, int depth)
{
    struct fy_node_pair *pair;
    const struct fy_mark *m;
    struct fy_token *t;
    void *iter = NULL;
    int line = 0;

    if (!n || depth > 64)
        return 0;
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR:
        t = fy_node_get_scalar_token(n);
        m = t ? fy_token_start_mark(t) : NULL;
        return m ? m->line + 1 : 0;
    case FYNT_MAPPING:
        pair = last ? fy_node_mapping_reverse_iterate(n, &iter) : fy_node_mapping_iterate(n, &iter);
        if (!pair)
            return 0;
        if (last)
            line = reader_edge_line(fy_node_pair_value(pair), true, depth + 1);
        return line ? line : reader_edge_line(fy_node_pair_key(pair), last, depth + 1);
    default:
        n = last ? fy_node_sequence_reverse_iterate(n, &iter) : fy_node_sequence_iterate(n, &iter);
        return reader_edge_line(n, last, depth + 1);
    }
}

int
hvf_reader_line(const struct fy_node *node)
{
    struct fy_node *child = (struct fy_node *)node;
    struct fy_node *parent, *item;
    struct fy_node_pair *pair;
    int line = reader_edge_line(child, false, 0);
    void *iter;

    /*
     * An empty value or collection has no token: point at its key, or just after the list item
     * before it, climbing while those are empty too.
     */
    for (int depth = 0; line == 0 && child && depth < 64; depth++) {
        parent = fy_node_get_parent(child);
        if (!parent)
            break;
        iter = NULL;
        if (fy_node_is_mapping(parent)) {
            while ((pair = fy_node_mapping_iterate(parent, &iter)) != NULL) {
                if (fy_node_pair_value(pair) == child) {
                    line = reader_edge_line(fy_node_pair_key(pair), true, 0);
                    break;
                }
            }
        } else {
            int before = 0, l;
            while ((item = fy_node_sequence_iterate(parent, &iter)) != NULL && item != child) {
                if ((l = reader_edge_line(item, true, 0)) != 0)
                    before = l;
            }
            if (before)
                line = before + 1;
        }
        child = parent;
    }
    return line;
}

/*
 * A YAML null: an empty value, or plain ~ / null (JSON's null). It means "not given", so an
 * optional field keeps its default instead of becoming the string "null".
 */
static bool
reader_is_null(struct fy_node *node)
{
    const char *s;
    size_t len = 0;

    if (!node)
        return true;
    if (!fy_node_is_scalar(node) || fy_node_is_alias(node) ||
        fy_node_get_style(node) != FYNS_PLAIN)
        return false;
    if (fy_node_is_null(node))
        return true;
    s = fy_node_get_scalar(node, &len);
    if (!s)
        return true;
    return (len == 1 && s[0] == '~') ||
           (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
                         memcmp(s, "NULL", 4) == 0));
}

/* A short, printable rendering of a node's value for messages. */
static void
reader_value_text(const struct fy_node *node, char *buf, size_t size)
{
    HVF_AUTOFREE char *text = NULL;
    const char *s;
    size_t len = 0, o = 0;

    if (!node) {
        snprintf(buf, size, "(empty)");
        return;
    }
    switch (fy_node_get_type((struct fy_node *)node)) {
    case FYNT_MAPPING:
        snprintf(buf, size, "(a mapping)");
        return;
    case FYNT_SEQUENCE:
        snprintf(buf, size, "(a list)");
        return;
    default:
        break;
    }
    if (fy_node_is_alias((struct fy_node *)node)) {
        s = fy_node_get_scalar((struct fy_node *)node, &len);
        snprintf(buf, size, "'*%.*s'", s ? (int)(len < 40 ? len : 40) : 0, s ? s : "");
        return;
    }
    text = reader_scalar_text((struct fy_node *)node, &len);
    if (!text || fy_node_is_null((struct fy_node *)node)) {
        snprintf(buf, size, "(empty)");
        return;
    }
    s = text;
    buf[o++] = '\'';
    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = isprint(c) ? (char)c : '?';
        if (i == 40 && len > 44) {
            buf[o++] = '.';
            buf[o++] = '.';
            buf[o++] = '.';
            break;
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
}

static void __attribute__((format(printf, 4, 0)))
reader_vreport(hvf_reader *r, const struct fy_node *node, const char *field, const char *fmt,
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
hvf_reader_report(hvf_reader *r, const struct fy_node *node, const char *field, const char *fmt,
                  ...)
{
    va_list ap;

    va_start(ap, fmt);
    reader_vreport(r, node, field, fmt, ap);
    va_end(ap);
}

void
hvf_reader_report_field(hvf_reader *r, struct fy_node *map, const char *path, const char *key,
                        const char *fmt, ...)
{
    struct fy_node *v = NULL;
    struct fy_node_pair *pair;
    void *iter = NULL;
    char field[160];
    va_list ap;

    /* Not fy_node_mapping_lookup_by_string: it reads keys through libfyaml's text. */
    while (map && (pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        HVF_AUTOFREE char *k = hvf_reader_scalar_dup(fy_node_pair_key(pair));
        if (k && strcmp(k, key) == 0) {
            v = fy_node_pair_value(pair);
            break;
        }
    }

    snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
    va_start(ap, fmt);
    reader_vreport(r, v ? v : map, field, fmt, ap);
    va_end(ap);
}

bool
hvf_reader_expect_seq(hvf_reader *r, struct fy_node *node, const char *field)
{
    if (!node)
        return true;
    if (fy_node_is_sequence(node))
        return true;
    hvf_reader_report(r, node, field, "expected a list");
    return false;
}

char *
hvf_reader_scalar_dup(struct fy_node *node)
{
    size_t len = 0;
    char *s = reader_scalar_text(node, &len);

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
reader_refuse_refs(hvf_reader *r, struct fy_node *node, const char *field)
{
    if (!node)
        return false;
    if (fy_node_is_alias(node)) {
        hvf_reader_report(r, node, field, "aliases (*name) are not supported");
        return true;
    }
    if (fy_node_get_anchor(node))
        hvf_reader_report(r, node, field, "anchors (&name) are not supported");
    return false;
}

/* Reads one scalar-typed field; returns false after reporting a problem. */
static bool
reader_field(hvf_reader *r, const hvf_field_spec *spec, struct fy_node *v, const char *field,
             void *obj)
{
    char *base = (char *)obj;
    HVF_AUTOFREE char *text = NULL;
    hvf_error err = HVF_ERROR_INIT;
    char range[96];

    if (spec->type == HVF_FIELD_NODE) {
        *(struct fy_node **)(base + spec->offset) = v;
        return true;
    }
    if (spec->type == HVF_FIELD_STRLIST) {
        char ***list = (char ***)(base + spec->offset);
        size_t *count = (size_t *)(base + spec->offset2);
        struct fy_node *item;
        void *iter = NULL;
        size_t n = 0;

        if (!v || !fy_node_is_sequence(v)) {
            hvf_reader_report(r, v, field, "expected a list of strings");
            return false;
        }
        for (size_t i = 0; i < *count; i++)
            free((*list)[i]);
        free(*list);
        *list = hvf_calloc((size_t)fy_node_sequence_item_count(v) + 1, sizeof(char *));
        *count = 0;
        while ((item = fy_node_sequence_iterate(v, &iter)) != NULL) {
            char *s;

            if (reader_refuse_refs(r, item, field))
                continue;
            s = reader_is_null(item) ? NULL : hvf_reader_scalar_dup(item);
            if (!s) {
                hvf_reader_report(r, item, field, "expected a string");
                continue;
            }
            (*list)[n++] = s;
        }
        *count = n;
        return true;
    }
    if (!v || fy_node_is_alias(v) || !fy_node_is_scalar(v) || !(text = hvf_reader_scalar_dup(v))) {
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
        *dst = hvf_steal_ptr(&text);
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
hvf_reader_map(hvf_reader *r, struct fy_node *node, const char *path, const hvf_field_spec *specs,
               size_t nspecs, void *obj)
{
    size_t before = r->diags->total;
    HVF_AUTOFREE bool *seen = hvf_calloc(nspecs, sizeof(bool));
    struct fy_node_pair *pair;
    void *iter = NULL;
    char field[160];

    if (reader_refuse_refs(r, node, path))
        return r->diags->total - before;
    if (!node || !fy_node_is_mapping(node)) {
        hvf_reader_report(r, node, path, "expected a mapping of fields");
        return r->diags->total - before;
    }
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair);
        struct fy_node *v = fy_node_pair_value(pair);
        HVF_AUTOFREE char *key = hvf_reader_scalar_dup(k);
        size_t i;

        if (reader_refuse_refs(r, k, path))
            continue;
        if (!key) {
            hvf_reader_report(r, k, path, "expected a field name");
            continue;
        }
        for (i = 0; i < nspecs; i++) {
            if (strcmp(specs[i].name, key) == 0)
                break;
        }
        snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
        if (i == nspecs) {
            hvf_reader_report(r, k, field, "unknown field");
            continue;
        }
        seen[i] = true;
        if (reader_refuse_refs(r, v, field))
            continue;
        if (reader_is_null(v)) {
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
