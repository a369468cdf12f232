/* SPDX-License-Identifier: MIT */
/* Allocation that aborts on out-of-memory, so callers never write OOM branches. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "hvfleet/alloc.h"

static void __attribute__((noreturn))
alloc_oom(size_t n)
{
    fprintf(stderr, "hvfleet: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
hvf_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        alloc_oom(n);
    return p;
}

void *
hvf_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);

    if (!p)
        alloc_oom(count * size);
    return p;
}

void *
hvf_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        alloc_oom(n);
    return q;
}

char *
hvf_strdup(const char *s)
{
    return hvf_strndup(s, strlen(s));
}

char *
hvf_strndup(const char *s, size_t n)
{
    char *p = hvf_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
hvf_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    HVF_ASSERT(n >= 0);
    p = hvf_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void
hvf_grow(void *items, size_t *cap, size_t need, size_t item_size)
{
    void **pp = (void **)items;
    size_t ncap = *cap ? *cap : 8;

    if (need <= *cap)
        return;
    while (ncap < need) {
        HVF_ASSERT(ncap <= SIZE_MAX / 2 / item_size);
        ncap *= 2;
    }
    *pp = hvf_realloc(*pp, ncap * item_size);
    memset((char *)*pp + *cap * item_size, 0, (ncap - *cap) * item_size);
    *cap = ncap;
}

void
hvf_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "hvfleet: assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
    abort();
}

size_t
hvf_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}
