/* SPDX-License-Identifier: MIT */
/* Allocation that aborts on out-of-memory, scope cleanup, assertions and small helpers. */
#pragma once

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *hvf_malloc(size_t n) __attribute__((malloc, returns_nonnull));
void *hvf_calloc(size_t count, size_t size) __attribute__((malloc, returns_nonnull));
void *hvf_realloc(void *p, size_t n) __attribute__((returns_nonnull));
char *hvf_strdup(const char *s) __attribute__((malloc, returns_nonnull));
char *hvf_strndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
char *hvf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), returns_nonnull));

/* Grows *@items (of @item_size bytes each) so that at least @need fit; doubles to amortize. */
void hvf_grow(void *items, size_t *cap, size_t need, size_t item_size);

#define HVF_NEW(type) ((type *)hvf_calloc(1, sizeof(type)))
#define HVF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static inline void
hvf_autofree_cleanup(void *p)
{
    free(*(void **)p);
}
#define HVF_AUTOFREE __attribute__((cleanup(hvf_autofree_cleanup)))

/* HVF_DEFINE_AUTOPTR_FUNC(hvf_fleet, hvf_fleet_free) then HVF_AUTOPTR(hvf_fleet) f = NULL; */
#define HVF_DEFINE_AUTOPTR_FUNC(type, freefn)                                                      \
    static inline void hvf_autoptr_cleanup_##type(type **p)                                        \
    {                                                                                              \
        freefn(*p);                                                                                \
    }
#define HVF_AUTOPTR(type) __attribute__((cleanup(hvf_autoptr_cleanup_##type))) type *

static inline void *
hvf_steal_ptr(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}

void hvf_assert_fail(const char *expr, const char *file, int line, const char *func)
    __attribute__((noreturn));
#define HVF_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            hvf_assert_fail(#cond, __FILE__, __LINE__, __func__);                                  \
    } while (0)

/* Copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t hvf_strlcpy(char *dst, const char *src, size_t size);

#ifndef HVF_ALLOW_UNSAFE_STRING
#pragma GCC poison strcpy strcat sprintf strncpy
#endif
