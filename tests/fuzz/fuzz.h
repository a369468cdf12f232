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

#include <fcntl.h>
#include <unistd.h>

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

#ifndef HVF_FUZZ_REPLAY
/*
 * Each target's LLVMFuzzerTestOneInput is renamed hvf_fuzz_target by the #define below; the real
 * one, here, first writes the input to the file named by HVF_FUZZ_LAST_INPUT when it is set. A
 * crash that kills the process before libFuzzer saves its input (ASan's handler dying on a
 * smashed stack, as with libfyaml's overruns) still leaves it there, and scripts/run-fuzz keeps
 * it as the crash input. fuzz-replay.c defines HVF_FUZZ_REPLAY and calls this one.
 */
int hvf_fuzz_target(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -2;

    if (fd == -2) {
        const char *path = getenv("HVF_FUZZ_LAST_INPUT");
        fd = path && *path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    }
    if (fd >= 0 && (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size))
        fuzz_fail("cannot write the input to $HVF_FUZZ_LAST_INPUT");
    return hvf_fuzz_target(data, size);
}
#define LLVMFuzzerTestOneInput hvf_fuzz_target
#endif
