/* SPDX-License-Identifier: MIT */
/*
 * The document side of the reader: turning bytes into a libfyaml document (UTF-8 check, syntax
 * errors, one document per file), the text of scalars, and line numbers for messages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf/reader-priv.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/utf8.h"
#include "util/text.h"

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
char *
hvf_reader_scalar_text(struct fy_node *node, size_t *len)
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
            return reader_single_quoted(src->text + a->input_pos, b->input_pos - a->input_pos, len);
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
    bad = hvf_utf8_invalid_at(owned_buf, len);
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
    /*
     * YAML allows only printable characters (spec 5.1): other C0 controls are refused here.
     * Tabs are replaced by spaces: libfyaml 0.7.12 overruns a buffer when it reports an error
     * on a line holding tabs (tests/fuzz/crashes/inventory/libfyaml-tab-*). A tab is never
     * indentation in YAML and only whitespace in JSON; inside a quoted string it becomes a
     * space, which docs/inventory.md states.
     */
    for (size_t i = 0, line = 1; i < len; i++) {
        unsigned char c = (unsigned char)owned_buf[i];
        if (c == '\n') {
            line++;
        } else if (c == '\t') {
            owned_buf[i] = ' ';
        } else if ((c < 0x20 && c != '\r') || c == 0x7f) {
            hvf_diags_add(diags, "%s:%zu: syntax: expected printable text, found the control "
                          "character 0x%02X", name, line, c);
            free(owned_buf);
            hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid YAML or JSON", name);
            return -1;
        }
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
    size_t n = 0;
    char *buf = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &n, err);

    if (!buf)
        return -1;
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
bool
hvf_reader_is_null(struct fy_node *node)
{
    const char *s;
    size_t len = 0;

    if (!node)
        return true;
    if (!fy_node_is_scalar(node) || fy_node_is_alias(node) || fy_node_get_style(node) != FYNS_PLAIN)
        return false;
    if (fy_node_is_null(node))
        return true;
    s = fy_node_get_scalar(node, &len);
    if (!s)
        return true;
    return (len == 1 && s[0] == '~') ||
           (len == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0));
}
