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
