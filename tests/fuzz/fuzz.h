/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets (tests/fuzz/fuzz-<parser>.c) and fuzz-replay.c, which runs
 * the same targets over saved inputs without libFuzzer.
 *
 * A target returns 0 for every input. A broken property (a round trip that is not stable, a
 * failure without a message) is a bug: fuzz_fail prints it and aborts, which libFuzzer records as
 * a crash and the replay test as a failure.
 */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvfleet/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((format(printf, 1, 2), noreturn)) static inline void
fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* A parser that failed must say so in one line that starts with @file (its name, or more). */
static inline void
fuzz_check_error(const char *what, const char *file, const hvf_error *err)
{
    if (err->code != HVF_ERR_INVALID || err->msg[0] == '\0')
        fuzz_fail("%s failed without an error", what);
    if (strchr(err->msg, '\n'))
        fuzz_fail("%s: message spans lines: %s", what, err->msg);
    if (strncmp(err->msg, file, strlen(file)) != 0)
        fuzz_fail("%s: message does not name the file: %s", what, err->msg);
}
