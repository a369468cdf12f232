/* SPDX-License-Identifier: MIT */
/* Errors: a small stable code enum plus one sentence, filled by the callee into the caller's struct. */
#pragma once

#include <stdarg.h>

typedef enum hvf_errcode {
    HVF_ERR_OK = 0,
    HVF_ERR_INVALID,     /* bad input: a file, a field, a flag */
    HVF_ERR_NOT_FOUND,   /* an unknown name */
    HVF_ERR_CAPACITY,    /* does not fit */
    HVF_ERR_CONFLICT,    /* state does not allow it (frozen, stale plan) */
    HVF_ERR_REFUSED,     /* the answer is "no" (seatbelt) */
    HVF_ERR_IO,          /* file system or network */
    HVF_ERR_UNSUPPORTED, /* a backend lacks the operation */
    HVF_ERR_INTERNAL,
    HVF_ERR_LAST
} hvf_errcode;

typedef struct hvf_error {
    hvf_errcode code;
    char msg[512]; /* one sentence, no trailing newline */
    const char *file; /* where it was raised; for logs, never for clients */
    int line;
} hvf_error;

#define HVF_ERROR_INIT {HVF_ERR_OK, {0}, NULL, 0}

#define hvf_error_set(err, code, ...) hvf_error_set_at((err), (code), __FILE__, __LINE__, __VA_ARGS__)

void hvf_error_set_at(hvf_error *err, hvf_errcode code, const char *file, int line,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prepends context ("loading 'x.yaml': ") to an error already set. NULL @err is a no-op. */
void hvf_error_prefix(hvf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void hvf_error_clear(hvf_error *err);

const char *hvf_errcode_to_string(hvf_errcode code);

/* Exit status for the CLI: 2 for bad input, unknown names and unreadable files; 1 otherwise. */
int hvf_errcode_exit_status(hvf_errcode code);
