/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON (RFC 8259) into the reader's document tree. A YAML parser takes what JSON refuses
 * (trailing commas, comments, single quotes, bare words), so a file that says it is JSON is read
 * by this one: anything else is a syntax error at its line and column. Strings become quoted
 * scalars, numbers and true/false/null plain ones, as a YAML parser would give them.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/reader-priv.h"
#include "hvfleet/alloc.h"

typedef struct json_in {
    const char *s, *end;
    const char *line_start;
    int line;
    hvf_tree_builder *b;
    char *buf; /* decoded string, owned */
    size_t cap;
} json_in;

static int
json_col(const json_in *p)
{
    return (int)(p->s - p->line_start) + 1;
}

/* What is at the cursor, for "found ..." */
static const char *
json_found(const json_in *p, char *buf, size_t size)
{
    unsigned char c;

    if (p->s >= p->end)
        return "the end of the file";
    c = (unsigned char)*p->s;
    if (c < 0x20)
        snprintf(buf, size, "the control character 0x%02X", c);
    else if (c == '\'')
        snprintf(buf, size, "\"'\"");
    else if (c >= 0x80)
        snprintf(buf, size, "a non-ASCII character");
    else
        snprintf(buf, size, "'%c'", c);
    return buf;
}

static int
json_fail(json_in *p, const char *expected, const char *hint)
{
    char found[48];

    return hvf_tree_fail(p->b, HVF_TREE_SYNTAX, p->line, "expected %s, found %s (column %d%s%s)",
                         expected, json_found(p, found, sizeof(found)), json_col(p),
                         hint ? "; " : "", hint ? hint : "");
}

static void
json_ws(json_in *p)
{
    while (p->s < p->end) {
        char c = *p->s;

        if (c == '\n') {
            p->line++;
            p->line_start = p->s + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        p->s++;
    }
}

static void
json_put(json_in *p, size_t *n, const char *bytes, size_t len)
{
    if (len == 0)
        return;
    if (*n + len > p->cap) {
        p->cap = (*n + len) * 2 + 64;
        p->buf = hvf_realloc(p->buf, p->cap);
    }
    memcpy(p->buf + *n, bytes, len);
    *n += len;
}

static int
json_hex4(const char *s, const char *end, unsigned *out)
{
    unsigned v = 0;

    if (end - s < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t
json_utf8(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at the cursor ('"'), decoded into p->buf; *@len bytes. */
static int
json_string(json_in *p, size_t *len)
{
    size_t n = 0;

    p->s++;
    for (;;) {
        const char *run = p->s;
        unsigned cp, lo;
        char u[4];

        while (p->s < p->end && *p->s != '"' && *p->s != '\\' && (unsigned char)*p->s >= 0x20)
            p->s++;
        json_put(p, &n, run, (size_t)(p->s - run));
        if (p->s >= p->end)
            return json_fail(p, "'\"' to end the string", NULL);
        if (*p->s == '"') {
            p->s++;
            *len = n;
            return 0;
        }
        if (*p->s == '\n')
            return json_fail(p, "'\"' to end the string on its line",
                             "write a line break in a string as \\n");
        if (*p->s != '\\')
            return json_fail(p, "a character of a string", "write control characters as \\n, "
                             "\\t or \\u00XX");
        p->s++;
        if (p->s >= p->end)
            return json_fail(p, "an escape", NULL);
        switch (*p->s) {
        case '"': case '\\': case '/':
            json_put(p, &n, p->s, 1);
            break;
        case 'b': json_put(p, &n, "\b", 1); break;
        case 'f': json_put(p, &n, "\f", 1); break;
        case 'n': json_put(p, &n, "\n", 1); break;
        case 'r': json_put(p, &n, "\r", 1); break;
        case 't': json_put(p, &n, "\t", 1); break;
        case 'u':
            if (json_hex4(p->s + 1, p->end, &cp) < 0) {
                p->s++;
                return json_fail(p, "4 hexadecimal digits after \\u", NULL);
            }
            p->s += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return json_fail(p, "a high surrogate before a low one", NULL);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->end - p->s < 3 || p->s[1] != '\\' || p->s[2] != 'u' ||
                    json_hex4(p->s + 3, p->end, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
                    p->s++;
                    return json_fail(p, "\\u and a low surrogate after a high one", NULL);
                }
                p->s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            json_put(p, &n, u, json_utf8(cp, u));
            break;
        default:
            return json_fail(p, "one of the escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX",
                             NULL);
        }
        p->s++;
    }
}

static bool
json_digit(const json_in *p)
{
    return p->s < p->end && *p->s >= '0' && *p->s <= '9';
}

static int
json_number(json_in *p)
{
    const char *start = p->s;

    if (*p->s == '-')
        p->s++;
    if (!json_digit(p))
        return json_fail(p, "a digit", NULL);
    if (*p->s == '0') {
        p->s++;
        if (json_digit(p))
            return json_fail(p, "no digit after a leading 0", NULL);
    }
    while (json_digit(p))
        p->s++;
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        if (!json_digit(p))
            return json_fail(p, "a digit after '.'", NULL);
        while (json_digit(p))
            p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        if (!json_digit(p))
            return json_fail(p, "a digit in the exponent", NULL);
        while (json_digit(p))
            p->s++;
    }
    return hvf_tree_scalar(p->b, HVF_NODE_SCALAR, HVF_NODE_PLAIN, start, (size_t)(p->s - start),
                           p->line, false);
}

static int json_value(json_in *p);

/* The members of an object or the items of an array, after its opening bracket. */
static int
json_members(json_in *p, bool object)
{
    char close = object ? '}' : ']';
    bool first = true;
    size_t len = 0;

    for (;;) {
        json_ws(p);
        if (p->s < p->end && *p->s == close) {
            if (!first) /* reached only through a ',' : see below */
                return json_fail(p, object ? "a \"key\" after ','" : "a value after ','",
                                 "JSON allows no comma before a closing bracket");
            p->s++;
            return hvf_tree_end(p->b);
        }
        if (object) {
            if (p->s >= p->end || *p->s != '"')
                return json_fail(p, first ? "a \"key\" or '}'" : "a \"key\"", NULL);
            if (json_string(p, &len) < 0 ||
                hvf_tree_scalar(p->b, HVF_NODE_SCALAR, HVF_NODE_QUOTED, p->buf, len, p->line,
                                false) < 0)
                return -1;
            json_ws(p);
            if (p->s >= p->end || *p->s != ':')
                return json_fail(p, "':' after a key", NULL);
            p->s++;
        }
        if (json_value(p) < 0)
            return -1;
        json_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            first = false;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return hvf_tree_end(p->b);
        }
        return json_fail(p, object ? "',' or '}'" : "',' or ']'", NULL);
    }
}

static int
json_word(json_in *p, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0)
        return json_fail(p, "a value (an object, array, string, number, true, false or null)",
                         NULL);
    p->s += n;
    return hvf_tree_scalar(p->b, HVF_NODE_SCALAR, HVF_NODE_PLAIN, word, n, p->line, false);
}

static int
json_value(json_in *p)
{
    size_t len = 0;

    json_ws(p);
    if (p->s >= p->end)
        return json_fail(p, "a value", NULL);
    switch (*p->s) {
    case '{':
    case '[':
        if (hvf_tree_start(p->b, *p->s == '{' ? HVF_NODE_MAPPING : HVF_NODE_SEQUENCE, p->line,
                           false) < 0)
            return -1;
        p->s++;
        return json_members(p, p->s[-1] == '{');
    case '"':
        if (json_string(p, &len) < 0)
            return -1;
        return hvf_tree_scalar(p->b, HVF_NODE_SCALAR, HVF_NODE_QUOTED, p->buf, len, p->line,
                               false);
    case 't':
        return json_word(p, "true");
    case 'f':
        return json_word(p, "false");
    case 'n':
        return json_word(p, "null");
    default:
        if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9'))
            return json_number(p);
        return json_fail(p, "a value (an object, array, string, number, true, false or null)",
                         *p->s == '\'' ? "JSON strings take double quotes" : NULL);
    }
}

int
hvf_json_parse(const char *text, size_t len, hvf_tree_builder *b)
{
    json_in p = {.s = text, .end = text + len, .line_start = text, .line = 1, .b = b};
    int rc;

    /* A byte order mark is not JSON, but RFC 8259 lets a parser ignore it. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p.s += 3;
    rc = json_value(&p);
    if (rc == 0) {
        json_ws(&p);
        if (p.s < p.end)
            rc = json_fail(&p, "the end of the document", "a JSON file holds one value");
    }
    free(p.buf);
    return rc;
}

bool
hvf_json_expected(const char *name, const char *text, size_t len)
{
    size_t n = name ? strlen(name) : 0;
    size_t i = 0;

    if (n >= 5 && strcasecmp(name + n - 5, ".json") == 0)
        return true;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i >= len || text[i] != '{')
        return false;
    for (i++; i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r');)
        i++;
    /* {"key": ... is JSON; a YAML flow mapping starts with a bare key ({name: ...}). */
    return i < len && text[i] == '"';
}
