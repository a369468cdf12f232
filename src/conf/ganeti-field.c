/* SPDX-License-Identifier: MIT */
/* Field helpers of the Ganeti text reader: slices, strict numbers, enums and error lines. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "conf/ganeti-parse.h"
#include "hvfleet/alloc.h"

void
gnt_ctx_init(gnt_ctx *c, const char *file, hvf_diags *diags, hvf_ganeti_stats *stats)
{
    memset(c, 0, sizeof(*c));
    c->file = file;
    c->diags = diags;
    c->stats = stats;
    hvf_hash_init(&c->group_by_uuid);
    hvf_hash_init(&c->group_by_name);
    hvf_hash_init(&c->node_by_name);
    hvf_hash_init(&c->inst_by_name);
}

void
gnt_ctx_clear(gnt_ctx *c)
{
    for (size_t i = 0; i < c->ngroups; i++) {
        free(c->groups[i].name);
        free(c->groups[i].uuid);
    }
    for (size_t i = 0; i < c->niextags; i++)
        free(c->iextags[i]);
    for (size_t i = 0; i < c->nnlocations; i++)
        free(c->nlocations[i]);
    for (size_t i = 0; i < c->nsvcdefs; i++)
        free(c->svcdefs[i].name);
    for (size_t i = 0; i < c->nnodes; i++) {
        gnt_node *n = &c->nodes[i];
        free(n->name);
        free(n->rack);
        free(n->kernel);
        free(n->hw);
        for (size_t t = 0; t < n->ntags; t++)
            free(n->tags[t]);
        free(n->tags);
    }
    for (size_t i = 0; i < c->ninsts; i++) {
        free(c->insts[i].name);
        free(c->insts[i].service);
    }
    free(c->lines);
    free(c->sections);
    free(c->groups);
    free(c->iextags);
    free(c->nlocations);
    free(c->svcdefs);
    free(c->nodes);
    free(c->insts);
    hvf_hash_clear(&c->group_by_uuid);
    hvf_hash_clear(&c->group_by_name);
    hvf_hash_clear(&c->node_by_name);
    hvf_hash_clear(&c->inst_by_name);
    memset(c, 0, sizeof(*c));
}

size_t
gnt_split(const char *p, size_t len, char sep, gnt_slice *out, size_t max)
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == sep) {
            if (n < max) {
                out[n].p = p + start;
                out[n].len = i - start;
            }
            n++;
            start = i + 1;
        }
    }
    return n;
}

char *
gnt_dup(gnt_slice s)
{
    return hvf_strndup(s.p, s.len);
}

bool
gnt_slice_eq(gnt_slice s, const char *lit)
{
    return strlen(lit) == s.len && memcmp(s.p, lit, s.len) == 0;
}

bool
gnt_slice_strip_prefix(gnt_slice *s, const char *prefix)
{
    size_t n = strlen(prefix);

    if (s->len < n || memcmp(s->p, prefix, n) != 0)
        return false;
    s->p += n;
    s->len -= n;
    return true;
}

bool
gnt_slice_valid_name(gnt_slice s)
{
    char buf[HVF_NAME_MAX + 2];

    if (s.len == 0 || s.len > HVF_NAME_MAX || memchr(s.p, '\0', s.len))
        return false;
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    return hvf_name_is_valid(buf);
}

bool
gnt_hash_has(const hvf_hash *h, gnt_slice key)
{
    HVF_AUTOFREE char *k = gnt_dup(key);

    return hvf_hash_get(h, k) >= 0;
}

int
gnt_enum(gnt_slice s, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        if (gnt_slice_eq(s, names[i]))
            return i;
    }
    return -1;
}

bool
gnt_parse_uint(gnt_slice s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (s.len == 0 || s.len > 20)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

bool
gnt_parse_int(gnt_slice s, int64_t *out)
{
    bool neg = s.len > 0 && s.p[0] == '-';
    uint64_t v;

    if (neg) {
        s.p++;
        s.len--;
    }
    if (!gnt_parse_uint(s, (uint64_t)INT64_MAX, &v))
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

bool
gnt_parse_double(gnt_slice s, double *out)
{
    char buf[64];
    char *end = NULL;
    double v;

    if (s.len == 0 || s.len >= sizeof(buf) || s.p[0] < '0' || s.p[0] > '9')
        return false;
    /* Only what Haskell's show and read use for Double: no hex, inf, nan or leading sign. */
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.p[i];
        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '-' ||
              ch == '+'))
            return false;
    }
    memcpy(buf, s.p, s.len);
    buf[s.len] = '\0';
    errno = 0;
    v = strtod(buf, &end);
    if (*end != '\0' || errno != 0 || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

/* Quotes a value for a message: at most 60 bytes, '...' when cut. */
static void
gnt_quote(gnt_slice v, char *buf, size_t size)
{
    size_t n = v.len > 60 ? 60 : v.len;

    snprintf(buf, size, "%.*s%s", (int)n, v.p, v.len > n ? "..." : "");
    for (char *p = buf; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

void
gnt_report(gnt_ctx *c, int line, const char *what, const char *field, gnt_slice value,
           const char *fmt, ...)
{
    char msg[400], val[80];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gnt_quote(value, val, sizeof(val));
    hvf_diags_add(c->diags, "%s:%d: %s.%s: '%s': %s", c->file, line, what, field, val, msg);
}

void
gnt_report_line(gnt_ctx *c, const gnt_line *l, const char *section, const char *fmt, ...)
{
    char msg[400], val[80];
    gnt_slice v = {"", 0};
    va_list ap;

    if (l) {
        v.p = l->p;
        v.len = l->len;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gnt_quote(v, val, sizeof(val));
    hvf_diags_add(c->diags, "%s:%d: %s: '%s': %s", c->file, l ? l->no : 1, section, val, msg);
}

bool
gnt_check_name(gnt_ctx *c, const gnt_line *l, const char *what, const char *field, gnt_slice s,
               const char *kind)
{
    if (gnt_slice_valid_name(s))
        return true;
    gnt_report(c, l->no, what, field, s, "expected 1-63 characters of A-Z a-z 0-9 . _ - to name %s",
               kind);
    return false;
}

bool
gnt_check_enum_list(gnt_ctx *c, const gnt_line *l, const char *what, const char *field, gnt_slice s,
                    const char *const *names)
{
    gnt_slice items[GNT_MAX_FIELDS];
    size_t n = s.len ? gnt_split(s.p, s.len, ',', items, GNT_MAX_FIELDS) : 0;
    char allowed[256] = "";
    size_t off = 0;

    for (size_t i = 0; i < n && i < GNT_MAX_FIELDS; i++) {
        if (gnt_enum(items[i], names) >= 0)
            continue;
        for (int k = 0; names[k] && off < sizeof(allowed); k++)
            off += (size_t)snprintf(allowed + off, sizeof(allowed) - off, "%s%s", k ? ", " : "",
                                    names[k]);
        gnt_report(c, l->no, what, field, items[i], "expected a comma-separated list of %s",
                   allowed);
        return false;
    }
    return true;
}
