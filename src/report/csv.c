/* SPDX-License-Identifier: MIT */
/* CSV reader for simulator metrics: one pass over a private copy, cells unquoted in place. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

#include "hvfleet/alloc.h"
#include "report/csv.h"

typedef struct csv_parser {
    const char *name;
    char *d;
    size_t n, i;
    uint32_t line;
    size_t line_start; /* offset of the current line's first byte */
    size_t rec_start;
    uint32_t rec_line;
    hvf_csv_cell *fields; /* the record being read */
    size_t nfields, cap;
} csv_parser;

/* Copies a value into @buf for a message: printable ASCII only, shortened. */
static const char *
csv_show(const char *s, char *buf, size_t size)
{
    size_t j = 0;

    for (; *s && j + 4 < size; s++)
        buf[j++] = isprint((unsigned char)*s) ? *s : '?';
    if (*s && size >= 4) {
        j = j > size - 4 ? size - 4 : j;
        buf[j++] = '.';
        buf[j++] = '.';
        buf[j++] = '.';
    }
    buf[j] = '\0';
    return buf;
}

static uint32_t
csv_col(const csv_parser *p, size_t pos)
{
    size_t c = pos - p->line_start + 1;
    return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}

static bool
csv_too_long(csv_parser *p, hvf_error *err)
{
    if (p->i - p->rec_start < HVF_CSV_MAX_LINE)
        return false;
    hvf_error_set(err, HVF_ERR_INVALID, "%s:%u: line is longer than %d bytes", p->name,
                  (unsigned)p->rec_line, HVF_CSV_MAX_LINE);
    return true;
}

/* Reads one field starting at p->i; leaves p->i on its separator (or at the end). */
static int
csv_field(csv_parser *p, hvf_error *err)
{
    size_t start = p->i;
    uint32_t line = p->line, col = csv_col(p, start);
    char *d = p->d;

    if (p->nfields == HVF_CSV_MAX_FIELDS) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: more than %d fields", p->name,
                      (unsigned)line, (unsigned)col, HVF_CSV_MAX_FIELDS);
        return -1;
    }
    if (p->i < p->n && d[p->i] == '"') {
        size_t w = p->i;
        p->i++;
        for (;;) {
            if (p->i >= p->n) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "%s:%u:%u: quoted field is not closed before the end of the file",
                              p->name, (unsigned)line, (unsigned)col);
                return -1;
            }
            if (csv_too_long(p, err))
                return -1;
            if (d[p->i] == '"') {
                if (p->i + 1 < p->n && d[p->i + 1] == '"') {
                    d[w++] = '"';
                    p->i += 2;
                    continue;
                }
                p->i++;
                break;
            }
            if (d[p->i] == '\n') {
                p->line++;
                p->line_start = p->i + 1;
            }
            d[w++] = d[p->i++];
        }
        if (p->i < p->n && d[p->i] != ',' && d[p->i] != '\n' && d[p->i] != '\r') {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s:%u:%u: expected a comma or the end of the line after a quoted field",
                          p->name, (unsigned)p->line, (unsigned)csv_col(p, p->i));
            return -1;
        }
        d[w] = '\0'; /* w <= position of the closing quote, so the separator is intact */
    } else {
        while (p->i < p->n && d[p->i] != ',' && d[p->i] != '\n' && d[p->i] != '\r') {
            if (d[p->i] == '"') {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "%s:%u:%u: a quote inside an unquoted field (quote the whole field)",
                              p->name, (unsigned)p->line, (unsigned)csv_col(p, p->i));
                return -1;
            }
            p->i++;
            if (csv_too_long(p, err))
                return -1;
        }
    }
    hvf_grow(&p->fields, &p->cap, p->nfields + 1, sizeof(*p->fields));
    p->fields[p->nfields].s = d + start;
    p->fields[p->nfields].line = line;
    p->fields[p->nfields].col = col;
    p->nfields++;
    return 0;
}

/* Reads one record into p->fields; returns 1 for a record, 0 at the end of the input. */
static int
csv_record(csv_parser *p, hvf_error *err)
{
    char *d = p->d;

    for (;;) {
        /* blank lines carry nothing; skipping them forgives a trailing empty line */
        if (p->i < p->n && d[p->i] == '\n') {
            p->i++;
            p->line++;
            p->line_start = p->i;
            continue;
        }
        if (p->i + 1 < p->n && d[p->i] == '\r' && d[p->i + 1] == '\n') {
            p->i += 2;
            p->line++;
            p->line_start = p->i;
            continue;
        }
        break;
    }
    if (p->i >= p->n)
        return 0;
    p->nfields = 0;
    p->rec_start = p->i;
    p->rec_line = p->line;
    for (;;) {
        char sep;
        if (csv_field(p, err) < 0)
            return -1;
        sep = p->i < p->n ? d[p->i] : '\0';
        if (p->i < p->n)
            d[p->i] = '\0';
        if (sep == ',') {
            p->i++;
            continue;
        }
        if (sep == '\r') {
            if (p->i + 1 >= p->n || d[p->i + 1] != '\n') {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "%s:%u:%u: carriage return not followed by a newline", p->name,
                              (unsigned)p->line, (unsigned)csv_col(p, p->i));
                return -1;
            }
            p->i++;
        }
        if (p->i < p->n) {
            p->i++;
            p->line++;
            p->line_start = p->i;
        }
        return 1;
    }
}

int
hvf_csv_parse(const char *name, const char *data, size_t len, hvf_csv *csv, hvf_error *err)
{
    csv_parser p = {0};
    size_t cap = 0;
    int rc;

    memset(csv, 0, sizeof(*csv));
    csv->name = hvf_strdup(name);
    csv->data = hvf_malloc(len + 1);
    memcpy(csv->data, data, len);
    csv->data[len] = '\0';
    p.name = name;
    p.d = csv->data;
    p.n = len;
    p.line = 1;
    {
        const char *nul = memchr(data, '\0', len);
        if (nul) {
            size_t off = (size_t)(nul - data), line = 1, ls = 0;
            for (size_t k = 0; k < off; k++) {
                if (data[k] == '\n') {
                    line++;
                    ls = k + 1;
                }
            }
            hvf_error_set(err, HVF_ERR_INVALID, "%s:%zu:%zu: NUL byte in a text file", name, line,
                          off - ls + 1);
            goto fail;
        }
    }
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        p.i = p.line_start = 3;

    rc = csv_record(&p, err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:1: empty file, expected a header line", name);
        goto fail;
    }
    for (size_t k = 0; k < p.nfields; k++) {
        if (p.fields[k].s[0] == '\0') {
            hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: empty column name in the header", name,
                          (unsigned)p.fields[k].line, (unsigned)p.fields[k].col);
            goto fail;
        }
        for (size_t m = 0; m < k; m++) {
            if (strcmp(p.fields[k].s, p.fields[m].s) == 0) {
                char shown[48];
                hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: column '%s' appears twice", name,
                              (unsigned)p.fields[k].line, (unsigned)p.fields[k].col,
                              csv_show(p.fields[k].s, shown, sizeof(shown)));
                goto fail;
            }
        }
    }
    csv->ncols = p.nfields;
    csv->header = hvf_malloc(p.nfields * sizeof(*csv->header));
    memcpy(csv->header, p.fields, p.nfields * sizeof(*csv->header));

    while ((rc = csv_record(&p, err)) > 0) {
        if (p.nfields != csv->ncols) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s:%u: %zu fields, expected %zu as in the header (truncated line?)",
                          name, (unsigned)p.rec_line, p.nfields, csv->ncols);
            goto fail;
        }
        hvf_grow(&csv->cells, &cap, (csv->nrows + 1) * csv->ncols, sizeof(*csv->cells));
        memcpy(csv->cells + csv->nrows * csv->ncols, p.fields, p.nfields * sizeof(*p.fields));
        csv->nrows++;
    }
    if (rc < 0)
        goto fail;
    free(p.fields);
    return 0;

fail:
    free(p.fields);
    hvf_csv_clear(csv);
    return -1;
}

void
hvf_csv_clear(hvf_csv *csv)
{
    free(csv->name);
    free(csv->data);
    free(csv->header);
    free(csv->cells);
    memset(csv, 0, sizeof(*csv));
}

int
hvf_csv_column(const hvf_csv *csv, const char *name)
{
    for (size_t k = 0; k < csv->ncols; k++) {
        if (strcmp(csv->header[k].s, name) == 0)
            return (int)k;
    }
    return -1;
}

int
hvf_csv_require(const hvf_csv *csv, const char *name, hvf_error *err)
{
    int k = hvf_csv_column(csv, name);

    if (k < 0)
        hvf_error_set(err, HVF_ERR_INVALID, "%s:1: missing column '%s' in the header", csv->name,
                      name);
    return k;
}

const hvf_csv_cell *
hvf_csv_get(const hvf_csv *csv, size_t row, size_t col)
{
    HVF_ASSERT(row < csv->nrows && col < csv->ncols);
    return &csv->cells[row * csv->ncols + col];
}

/* Strict decimal syntax: strtod alone would also take hex, "infinity(...)" and trailing junk. */
static bool
csv_is_decimal(const char *s)
{
    bool digits = false;

    if (*s == '+' || *s == '-')
        s++;
    while (isdigit((unsigned char)*s)) {
        s++;
        digits = true;
    }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) {
            s++;
            digits = true;
        }
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

int
hvf_csv_get_double(const hvf_csv *csv, size_t row, size_t col, double *out, hvf_error *err)
{
    const hvf_csv_cell *c = hvf_csv_get(csv, row, col);
    char buf[64], shown[48], colname[48];
    const char *s = c->s;
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0) {
        *out = NAN;
        return 0;
    }
    if (n >= sizeof(buf))
        goto bad;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcasecmp(buf, "nan") == 0 || strcasecmp(buf, "-nan") == 0) {
        *out = NAN;
        return 0;
    }
    if (strcasecmp(buf, "inf") == 0 || strcasecmp(buf, "+inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcasecmp(buf, "-inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (!csv_is_decimal(buf))
        goto bad;
    errno = 0;
    *out = strtod(buf, NULL);
    if (errno == ERANGE && isinf(*out)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: column '%s': '%s' is out of range",
                      csv->name, (unsigned)c->line, (unsigned)c->col,
                      csv_show(csv->header[col].s, colname, sizeof(colname)),
                      csv_show(c->s, shown, sizeof(shown)));
        return -1;
    }
    return 0;

bad:
    hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: column '%s': '%s' is not a number", csv->name,
                  (unsigned)c->line, (unsigned)c->col,
                  csv_show(csv->header[col].s, colname, sizeof(colname)),
                  csv_show(c->s, shown, sizeof(shown)));
    return -1;
}
