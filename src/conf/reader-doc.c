/* SPDX-License-Identifier: MIT */
/*
 * The document side of the reader: turning bytes into a document tree (UTF-8 check, YAML through
 * libyaml's event API, strict JSON through reader-json.c, syntax and memory errors, one document
 * per file), the text of scalars, and line numbers for messages.
 *
 * libyaml (not libfyaml, used before): libfyaml 0.7.12, the version Debian 12 has, overran stack
 * buffers three times on malformed input (the libfyaml-* files of tests/fuzz/crashes), looped on
 * some bytes and kept a tree of about 6 KiB per inventory VM. libyaml is the reference parser
 * behind PyYAML, fuzzed continuously upstream; its events carry line and column marks, and the
 * tree built from them here takes about 100 bytes per VM.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <yaml.h>

#include "conf/reader-priv.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/utf8.h"
#include "util/text.h"

static size_t reader_memory_limit = HVF_CONF_MAX_TREE_BYTES;

size_t
hvf_reader_set_memory_limit(size_t bytes)
{
    size_t old = reader_memory_limit;

    reader_memory_limit = bytes ? bytes : HVF_CONF_MAX_TREE_BYTES;
    return old;
}

/* A scalar's text, owned (may hold NUL bytes: see *@len); NULL for anything but a scalar. */
char *
hvf_reader_scalar_text(hvf_node *node, size_t *len)
{
    char *s;

    *len = 0;
    if (!hvf_node_is_scalar(node))
        return NULL;
    s = hvf_malloc((size_t)node->len + 1);
    memcpy(s, node->text, (size_t)node->len + 1);
    *len = node->len;
    return s;
}

/* "while parsing a flow mapping" -> "a flow mapping", "while scanning a ..." -> "a ..." */
static const char *
reader_yaml_context(const char *context)
{
    static const char *const prefixes[] = {"while parsing ", "while scanning "};

    for (size_t i = 0; i < HVF_ARRAY_LEN(prefixes); i++) {
        if (strncmp(context, prefixes[i], strlen(prefixes[i])) == 0)
            return context + strlen(prefixes[i]);
    }
    return context;
}

/* Open collections while reading YAML, for "without a closing bracket". */
typedef struct reader_open {
    char kind[HVF_TREE_MAX_DEPTH + 1]; /* 's' or 'm' */
    int line[HVF_TREE_MAX_DEPTH + 1];
    bool flow[HVF_TREE_MAX_DEPTH + 1];
    size_t depth;
} reader_open;

/* True when only blanks and comments follow @at. */
static bool
reader_rest_is_blank(const char *text, size_t len, size_t at)
{
    bool comment = false;

    for (; at < len; at++) {
        char c = text[at];
        if (c == '\n')
            comment = false;
        else if (c == '#')
            comment = true;
        else if (!comment && c != ' ' && c != '\r')
            return false;
    }
    return true;
}

/* libyaml's error, in the builder's terms. */
static void
reader_yaml_error(const yaml_parser_t *p, const char *text, size_t len, const reader_open *open,
                  hvf_tree_builder *b)
{
    int line = 1;

    /* "[a, b" at the end of the file: name what is missing, where it was opened. */
    if (p->error == YAML_PARSER_ERROR && open->depth > 0 && open->flow[open->depth - 1] &&
        reader_rest_is_blank(text, len, p->problem_mark.index)) {
        bool seq = open->kind[open->depth - 1] == 's';
        hvf_tree_fail(b, HVF_TREE_SYNTAX, open->line[open->depth - 1],
                      seq ? "flow sequence without a closing bracket"
                          : "flow mapping without a closing brace");
        return;
    }
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        hvf_tree_fail(b, HVF_TREE_MEMORY, (int)p->mark.line + 1, "ran out of memory reading it");
        return;
    case YAML_READER_ERROR:
        for (size_t i = 0; i < p->problem_offset; i++)
            line += text[i] == '\n';
        hvf_tree_fail(b, HVF_TREE_SYNTAX, line, "%s", p->problem ? p->problem : "unreadable text");
        return;
    default: {
        char where[48];

        if (p->problem_mark.index >= len)
            snprintf(where, sizeof(where), "at the end of the file");
        else
            snprintf(where, sizeof(where), "column %zu", p->problem_mark.column + 1);
        if (p->context)
            hvf_tree_fail(b, HVF_TREE_SYNTAX, (int)p->problem_mark.line + 1,
                          "%s (%s, in %s started on line %zu)",
                          p->problem ? p->problem : "unexpected text", where,
                          reader_yaml_context(p->context), p->context_mark.line + 1);
        else
            hvf_tree_fail(b, HVF_TREE_SYNTAX, (int)p->problem_mark.line + 1, "%s (%s)",
                          p->problem ? p->problem : "unexpected text", where);
        return;
    }
    }
}

/*
 * YAML into @b through libyaml's events. One document per file: a second one (hosts appended
 * after a "---" would silently not exist) is read to its end, so that a syntax error in it is
 * reported as such, and then refused.
 */
void
hvf_yaml_parse(const char *text, size_t len, hvf_tree_builder *b)
{
    /*
     * libyaml puts what ends at the end of the file (an empty value, an unclosed quote) on the
     * line after the last one; messages name the last line instead, one that exists.
     */
    int last = 1;

    for (size_t i = 0; i + 1 < len; i++)
        last += text[i] == '\n';
    yaml_parser_t p;
    yaml_event_t ev;
    int docs = 0, extra_line = 0;
    bool done = false;
    reader_open open;

    if (!yaml_parser_initialize(&p)) {
        hvf_tree_fail(b, HVF_TREE_MEMORY, 1, "ran out of memory reading it");
        return;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    open.depth = 0;
    while (!done && b->status == HVF_TREE_OK) {
        int line;

        if (!yaml_parser_parse(&p, &ev)) {
            reader_yaml_error(&p, text, len, &open, b);
            if (b->line > last)
                b->line = last;
            break;
        }
        line = (int)ev.start_mark.line + 1;
        if (line > last)
            line = last;
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs == 2)
                extra_line = line;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (docs >= 2) {
                hvf_tree_fail(b, HVF_TREE_SYNTAX, extra_line,
                              "expected one document, found another one here");
                done = true;
            }
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (open.depth > HVF_TREE_MAX_DEPTH) {
                hvf_tree_fail(b, HVF_TREE_SYNTAX, line,
                              "expected at most %d levels of nested lists and mappings",
                              HVF_TREE_MAX_DEPTH);
                break;
            }
            open.kind[open.depth] = ev.type == YAML_MAPPING_START_EVENT ? 'm' : 's';
            open.line[open.depth] = line;
            open.flow[open.depth] = ev.type == YAML_MAPPING_START_EVENT
                                        ? ev.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                                        : ev.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
            open.depth++;
            if (docs >= 2)
                break;
            if (ev.type == YAML_SEQUENCE_START_EVENT)
                hvf_tree_start(b, HVF_NODE_SEQUENCE, line, ev.data.sequence_start.anchor != NULL);
            else
                hvf_tree_start(b, HVF_NODE_MAPPING, line, ev.data.mapping_start.anchor != NULL);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (open.depth > 0)
                open.depth--;
            if (docs < 2)
                hvf_tree_end(b);
            break;
        case YAML_SCALAR_EVENT:
            if (docs < 2)
                hvf_tree_scalar(b, HVF_NODE_SCALAR,
                                ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? HVF_NODE_PLAIN
                                                                                : HVF_NODE_QUOTED,
                                (const char *)ev.data.scalar.value, ev.data.scalar.length, line,
                                ev.data.scalar.anchor != NULL);
            break;
        case YAML_ALIAS_EVENT:
            if (docs < 2)
                hvf_tree_scalar(b, HVF_NODE_ALIAS, HVF_NODE_PLAIN,
                                (const char *)ev.data.alias.anchor,
                                strlen((const char *)ev.data.alias.anchor), line, false);
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
}

/* A document with no content at all: "---" alone, only comments, or a plain null. */
static bool
reader_is_empty(const hvf_doc *doc)
{
    hvf_node *root = doc->nnodes ? &doc->nodes[0] : NULL;

    return !root || (hvf_node_is_scalar(root) && !root->anchored && hvf_reader_is_null(root));
}

/* True when @text holds only printable ASCII, tabs and newlines (written to vectorize). */
static bool
reader_is_printable_ascii(const char *text, size_t len)
{
    bool ok = true;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        ok &= (c >= 0x20 && c < 0x7f) | (c == '\n') | (c == '\t');
    }
    return ok;
}

static int
reader_parse(hvf_reader *r, const char *name, char *owned_buf, size_t len, hvf_diags *diags,
             hvf_error *err)
{
    hvf_tree_builder b;
    hvf_doc doc = {0};
    bool json, ascii;
    size_t bad;

    r->file = name;
    r->diags = diags;
    r->doc = NULL;
    /* Most files are printable ASCII: one quick pass, and the two checks below cannot fail. */
    ascii = reader_is_printable_ascii(owned_buf, len);
    /* YAML and JSON files are UTF-8: say where they are not, in our words. */
    bad = ascii ? len : hvf_utf8_invalid_at(owned_buf, len);
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
    /* YAML allows only printable characters (spec 5.1), JSON none outside strings either. */
    for (size_t i = 0, line = 1; i < len && !ascii; i++) {
        unsigned char c = (unsigned char)owned_buf[i];
        if (c == '\n') {
            line++;
        } else if ((c < 0x20 && c != '\r' && c != '\t') || c == 0x7f) {
            hvf_diags_add(diags, "%s:%zu: syntax: expected printable text, found the control "
                          "character 0x%02X", name, line, c);
            free(owned_buf);
            hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid YAML or JSON", name);
            return -1;
        }
    }
    hvf_tree_init(&b, reader_memory_limit);
    json = hvf_json_expected(name, owned_buf, len);
    if (json) {
        bool blank = true;

        for (size_t i = 0; i < len && blank; i++)
            blank = strchr(" \t\r\n", owned_buf[i]) != NULL;
        if (!blank)
            hvf_json_parse(owned_buf, len, &b);
    } else {
        /*
         * A tab is never indentation in YAML; files indented with tabs have always been read
         * as if they were spaces (inside a quoted string a tab becomes a space, which
         * docs/inventory.md states), and still are.
         */
        for (char *t = memchr(owned_buf, '\t', len); t;
             t = memchr(t, '\t', len - (size_t)(t - owned_buf)))
            *t = ' ';
        /* the plain YAML of large inventories quickly; anything else through libyaml */
        if (hvf_yaml_fast_parse(owned_buf, len, &b) < 0) {
            hvf_tree_discard(&b);
            hvf_tree_init(&b, reader_memory_limit);
            hvf_yaml_parse(owned_buf, len, &b);
        }
    }
    free(owned_buf);
    if (b.status == HVF_TREE_OK && b.doc.nnodes == 0) {
        hvf_tree_discard(&b);
        hvf_diags_add(diags, "%s:1: syntax: expected a YAML or JSON document", name);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid YAML or JSON", name);
        return -1;
    }
    if (b.status == HVF_TREE_MEMORY) {
        hvf_diags_add(diags, "%s:%d: memory: %s", name, b.line, b.msg);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' cannot be read: %s", name, b.msg);
        hvf_tree_discard(&b);
        return -1;
    }
    if (hvf_tree_finish(&b, &doc) < 0) {
        hvf_diags_add(diags, "%s:%d: syntax: %s", name, b.line, b.msg);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid %s", name,
                      json ? "JSON" : "YAML or JSON");
        return -1;
    }
    /* An empty document ("---" alone, only comments) has nothing to read, like an empty file. */
    if (reader_is_empty(&doc)) {
        hvf_doc_free(&doc);
        hvf_diags_add(diags, "%s:1: syntax: expected a YAML or JSON document", name);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is not valid YAML or JSON", name);
        return -1;
    }
    r->doc = HVF_NEW(hvf_doc);
    *r->doc = doc;
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
    if (r->doc) {
        hvf_doc_free(r->doc);
        free(r->doc);
    }
    r->doc = NULL;
}

hvf_node *
hvf_reader_root(const hvf_reader *r)
{
    return r->doc && r->doc->nnodes ? &r->doc->nodes[0] : NULL;
}

/*
 * 1-based line of @node, 0 for none. A collection is placed where its first scalar is (the
 * first key of a mapping, even when its '{' is on the line before), as messages always did.
 */
int
hvf_reader_line(const hvf_node *node)
{
    if (!node)
        return 0;
    while ((node->kind == HVF_NODE_SEQUENCE || node->kind == HVF_NODE_MAPPING) && node->first)
        node = node + node->first;
    return (int)node->line;
}

/*
 * A YAML null: an empty value, or plain ~ / null (JSON's null). It means "not given", so an
 * optional field keeps its default instead of becoming the string "null".
 */
bool
hvf_reader_is_null(hvf_node *node)
{
    const char *s;

    if (!node)
        return true;
    if (node->kind != HVF_NODE_SCALAR || node->style != HVF_NODE_PLAIN)
        return false;
    s = node->text;
    switch (node->len) {
    case 0:
        return true;
    case 1:
        return s[0] == '~';
    case 4:
        return memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 ||
               memcmp(s, "NULL", 4) == 0;
    default:
        return false;
    }
}
