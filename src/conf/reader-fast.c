/* SPDX-License-Identifier: MIT */
/*
 * A fast path for the YAML that large inventories are written in (issue 9): block mappings and
 * sequences of one-line scalars and one-line flow collections, the shape `hvfleet inventory
 * generate` and most hand-written files have. libyaml reads 27 MB of such YAML in half a second,
 * most of it spent making and freeing an event and a string per scalar; this reads it in a
 * fraction of that, straight into the same tree builder.
 *
 * It is a filter, not a second YAML parser: it accepts only text it is certain about, and builds
 * exactly the tree libyaml's events build (same nodes, styles, texts and lines). Anything else -
 * a tag, an anchor, an escape, a multi-line or empty value, a byte outside printable ASCII, a
 * duplicate key, any error - makes it give up, and the caller reads the whole text again with
 * libyaml. So every message and line number still comes from libyaml, and a file outside the
 * subset costs one wasted scan. tests/fuzz/fuzz-yaml-fast.c checks the "same tree" claim on
 * arbitrary input; tests/unit/reader-test.c on the repository's YAML files.
 *
 * The subset, in libyaml's terms:
 *   - block mappings whose keys start lines at one column, `key: value` or `key:` with the value
 *     below (more indented, or a sequence at the key's column);
 *   - block sequences of `- value`, where the value may be the first key of a mapping;
 *   - values: a plain scalar of letters, digits and _ . / + - (not starting with + or -), a
 *     single- or double-quoted one on one line without escapes, or a flow mapping or sequence
 *     on one line (`{k: v, k: v}`, `[a, b]`, nested, no trailing comma);
 *   - blank lines and comments.
 */
#include <string.h>

#include "conf/reader-priv.h"
#include "hvfleet/alloc.h"

/* libyaml refuses an implicit key longer than 1024 bytes; leave anything near that to it. */
#define FAST_MAX_KEY 512

typedef struct fast {
    const char *p;   /* cursor */
    const char *end; /* end of the text */
    const char *bol; /* start of the cursor's line */
    int line;        /* 1-based line of the cursor */
    bool eof;        /* no content is left */
    hvf_tree_builder *b;
} fast;

/* The characters of a plain scalar here: letters, digits and _ . / + - */
static const bool fast_word[256] = {
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static bool
fast_word_char(char c)
{
    return fast_word[(unsigned char)c];
}

/* Printable ASCII: libyaml counts other characters as line breaks (CR, NEL, LS, PS). */
static bool
fast_printable(char c)
{
    return c >= 0x20 && c < 0x7f;
}

static size_t
fast_col(const fast *f)
{
    return (size_t)(f->p - f->bol);
}

static void
fast_spaces(fast *f)
{
    while (f->p < f->end && *f->p == ' ')
        f->p++;
}

/*
 * The end of a scalar starting at @p, or NULL when none starts there that the subset has. A
 * quoted one ends after its closing quote; a plain one at the first character it cannot hold.
 */
static const char *
fast_scalar_end(const fast *f, const char *p)
{
    char q = *p;

    if (q == '"' || q == '\'') {
        for (p++; p < f->end && *p != q; p++) {
            if (!fast_printable(*p) || *p == '\\') /* on one line, without escapes */
                return NULL;
        }
        if (p == f->end || (q == '\'' && p + 1 < f->end && p[1] == '\'')) /* '' is a quote */
            return NULL;
        return p + 1;
    }
    /* '-' and '+' would start a sequence entry, a document marker or a number's sign */
    if (!fast_word_char(q) || q == '-' || q == '+')
        return NULL;
    /* "..." alone at the start of a line ends the document */
    if (p == f->bol && f->end - p >= 3 && memcmp(p, "...", 3) == 0)
        return NULL;
    while (p < f->end && fast_word_char(*p))
        p++;
    return p;
}

static int
fast_scalar(fast *f)
{
    const char *start = f->p, *e = fast_scalar_end(f, f->p);

    if (!e)
        return -1;
    f->p = e;
    if (*start == '"' || *start == '\'')
        return hvf_tree_scalar(f->b, HVF_NODE_SCALAR, HVF_NODE_QUOTED, start + 1,
                               (size_t)(e - start - 2), f->line, false);
    return hvf_tree_scalar(f->b, HVF_NODE_SCALAR, HVF_NODE_PLAIN, start, (size_t)(e - start),
                           f->line, false);
}

/* True when @p starts "KEY:" followed by a space or the end of the line. */
static bool
fast_is_key(const fast *f, const char *p)
{
    const char *e = fast_scalar_end(f, p);

    return e && e - p <= FAST_MAX_KEY && e < f->end && *e == ':' &&
           (e + 1 == f->end || e[1] == ' ' || e[1] == '\n');
}

/* True at "- " or a "-" that ends its line: a block sequence entry. */
static bool
fast_is_entry(const fast *f)
{
    return *f->p == '-' && (f->p + 1 == f->end || f->p[1] == ' ' || f->p[1] == '\n');
}

/* After a value: blanks, maybe a comment (after a blank), then the end of the line, passed. */
static bool
fast_line_end(fast *f)
{
    fast_spaces(f);
    if (f->p < f->end && *f->p == '#') {
        if (f->p[-1] != ' ')
            return false;
        while (f->p < f->end && fast_printable(*f->p))
            f->p++;
    }
    if (f->p == f->end)
        return true;
    if (*f->p != '\n')
        return false;
    f->p++;
    f->line++;
    f->bol = f->p;
    return true;
}

/* From the start of a line to the first character of the next line with content; sets eof. */
static void
fast_next_content(fast *f)
{
    while (f->p < f->end) {
        fast_spaces(f);
        if (f->p < f->end && *f->p == '#') {
            while (f->p < f->end && fast_printable(*f->p))
                f->p++;
        }
        if (f->p == f->end)
            break;
        if (*f->p != '\n')
            return; /* content, or a character the caller will not take */
        f->p++;
        f->line++;
        f->bol = f->p;
    }
    f->eof = true;
}

static int fast_block_map(fast *f, size_t col);
static int fast_block_seq(fast *f, size_t col, bool indentless);

/* A flow mapping or sequence at '{' or '[', to its closing bracket on the same line. */
static int
fast_flow(fast *f)
{
    bool map = *f->p == '{';
    char close = map ? '}' : ']';

    if (hvf_tree_start(f->b, map ? HVF_NODE_MAPPING : HVF_NODE_SEQUENCE, f->line, false) < 0)
        return -1;
    f->p++;
    fast_spaces(f);
    if (f->p < f->end && *f->p == close) {
        f->p++;
        return hvf_tree_end(f->b);
    }
    for (;;) {
        if (f->p == f->end)
            return -1;
        if (map) {
            const char *e = fast_scalar_end(f, f->p);

            /* "key: ", and nothing else: "key:value", "key :", a collection as a key */
            if (!e || e - f->p > FAST_MAX_KEY || f->end - e < 2 || e[0] != ':' || e[1] != ' ')
                return -1;
            if (fast_scalar(f) < 0)
                return -1;
            f->p += 2; /* ": " */
            fast_spaces(f);
            if (f->p == f->end)
                return -1;
        }
        if (*f->p == '{' || *f->p == '[') {
            if (fast_flow(f) < 0)
                return -1;
        } else if (fast_scalar(f) < 0) {
            return -1;
        }
        fast_spaces(f);
        if (f->p == f->end)
            return -1;
        if (*f->p == close) {
            f->p++;
            return hvf_tree_end(f->b);
        }
        if (*f->p != ',')
            return -1;
        f->p++;
        fast_spaces(f);
        if (f->p < f->end && *f->p == close) /* a trailing comma */
            return -1;
    }
}

/* A value after "key: " or "- " on its line: a flow collection or a scalar, then the line end. */
static int
fast_inline_value(fast *f)
{
    if (*f->p == '{' || *f->p == '[') {
        if (fast_flow(f) < 0)
            return -1;
    } else if (fast_scalar(f) < 0) {
        return -1;
    }
    if (!fast_line_end(f))
        return -1;
    fast_next_content(f);
    return 0;
}

/* A block mapping whose first key is at the cursor, in column @col. */
static int
fast_block_map(fast *f, size_t col)
{
    if (hvf_tree_start(f->b, HVF_NODE_MAPPING, f->line, false) < 0)
        return -1;
    for (;;) {
        if (!fast_is_key(f, f->p) || fast_scalar(f) < 0)
            return -1;
        f->p++; /* ':' */
        fast_spaces(f);
        if (f->p == f->end || *f->p == '\n' || *f->p == '#') {
            size_t c;

            /* the value is below: nested deeper, or a sequence at this column */
            if (!fast_line_end(f))
                return -1;
            fast_next_content(f);
            if (f->eof)
                return -1; /* an empty value */
            c = fast_col(f);
            if (c > col && fast_is_entry(f)) {
                if (fast_block_seq(f, c, false) < 0)
                    return -1;
            } else if (c > col) {
                if (fast_block_map(f, c) < 0)
                    return -1;
            } else if (c == col && fast_is_entry(f)) {
                if (fast_block_seq(f, c, true) < 0)
                    return -1;
            } else {
                return -1; /* an empty value */
            }
        } else if (fast_inline_value(f) < 0) {
            return -1;
        }
        if (f->eof || fast_col(f) < col)
            return hvf_tree_end(f->b);
        if (fast_col(f) > col)
            return -1;
    }
}

/*
 * A block sequence whose first "-" is at the cursor, in column @col. @indentless: it is the
 * value of a mapping key in the same column, so a line there that is no entry ends it.
 */
static int
fast_block_seq(fast *f, size_t col, bool indentless)
{
    if (hvf_tree_start(f->b, HVF_NODE_SEQUENCE, f->line, false) < 0)
        return -1;
    for (;;) {
        f->p++; /* '-' */
        fast_spaces(f);
        if (f->p == f->end || *f->p == '\n' || *f->p == '#' || fast_is_entry(f))
            return -1; /* an item below, empty, or a sequence in a sequence */
        if (fast_is_key(f, f->p)) {
            if (fast_block_map(f, fast_col(f)) < 0)
                return -1;
        } else if (fast_inline_value(f) < 0) {
            return -1;
        }
        if (f->eof)
            return hvf_tree_end(f->b);
        if (fast_col(f) == col && fast_is_entry(f))
            continue;
        if (fast_col(f) < col || (indentless && fast_col(f) == col))
            return hvf_tree_end(f->b);
        return -1;
    }
}

int
hvf_yaml_fast_parse(const char *text, size_t len, hvf_tree_builder *b)
{
    fast f = {.p = text, .end = text + len, .bol = text, .line = 1, .b = b};

    /*
     * Every byte passes through one of the scans below, and each takes only printable ASCII
     * (and newlines between lines): anything else stops them where the caller expects
     * something else, and the text goes to libyaml.
     */
    fast_next_content(&f);
    if (f.eof)
        return -1;
    if (fast_is_entry(&f)) {
        if (fast_block_seq(&f, fast_col(&f), false) < 0)
            return -1;
    } else if (fast_block_map(&f, fast_col(&f)) < 0) {
        return -1;
    }
    return f.eof && b->status == HVF_TREE_OK && b->depth == 0 ? 0 : -1;
}
