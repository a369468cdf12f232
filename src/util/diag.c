/* SPDX-License-Identifier: MIT */
/* Collects every problem of an input (up to a cap) so a user fixes them in one pass. */
#include <stdarg.h>

#include "hvfleet/alloc.h"
#include "hvfleet/diag.h"

void
hvf_diags_init(hvf_diags *d)
{
    d->lines = NULL;
    d->n = d->cap = d->total = 0;
    d->max = HVF_DIAGS_MAX_DEFAULT;
}

void
hvf_diags_clear(hvf_diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    d->lines = NULL;
    d->n = d->cap = d->total = 0;
}

void
hvf_diags_add(hvf_diags *d, const char *fmt, ...)
{
    va_list ap;
    char buf[1024];
    size_t max = d->max ? d->max : HVF_DIAGS_MAX_DEFAULT;

    d->total++;
    if (d->n >= max)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* One line per problem, whatever the value held. */
    for (char *p = buf; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    }
    hvf_grow(&d->lines, &d->cap, d->n + 1, sizeof(char *));
    d->lines[d->n++] = hvf_strdup(buf);
}

void
hvf_diags_print(const hvf_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(out, "%s\n", d->lines[i]);
    if (d->total > d->n)
        fprintf(out, "... and %zu more problems\n", d->total - d->n);
}
