/* SPDX-License-Identifier: MIT */
/* Error reporting into a caller-owned hvf_error. */
#include <stdio.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/error.h"

static const char *const errcode_names[] = {
    [HVF_ERR_OK] = "ok",
    [HVF_ERR_INVALID] = "invalid",
    [HVF_ERR_NOT_FOUND] = "not_found",
    [HVF_ERR_CAPACITY] = "capacity",
    [HVF_ERR_CONFLICT] = "conflict",
    [HVF_ERR_REFUSED] = "refused",
    [HVF_ERR_IO] = "io",
    [HVF_ERR_UNSUPPORTED] = "unsupported",
    [HVF_ERR_INTERNAL] = "internal",
};
_Static_assert(HVF_ARRAY_LEN(errcode_names) == HVF_ERR_LAST, "errcode table");

void
hvf_error_set_at(hvf_error *err, hvf_errcode code, const char *file, int line, const char *fmt,
                 ...)
{
    va_list ap;

    if (!err)
        return;
    err->code = code;
    err->file = file;
    err->line = line;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void
hvf_error_prefix(hvf_error *err, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof(err->msg)];
    size_t n;
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    hvf_strlcpy(old, err->msg, sizeof(old));
    /* Truncation of a long message is acceptable; keep the prefix, cut the tail. */
    n = hvf_strlcpy(err->msg, prefix, sizeof(err->msg));
    if (n < sizeof(err->msg))
        hvf_strlcpy(err->msg + n, old, sizeof(err->msg) - n);
}

void
hvf_error_clear(hvf_error *err)
{
    if (!err)
        return;
    err->code = HVF_ERR_OK;
    err->msg[0] = '\0';
    err->file = NULL;
    err->line = 0;
}

const char *
hvf_errcode_to_string(hvf_errcode code)
{
    if ((unsigned)code >= HVF_ERR_LAST)
        return "unknown";
    return errcode_names[code];
}

int
hvf_errcode_exit_status(hvf_errcode code)
{
    switch (code) {
    case HVF_ERR_OK:
        return 0;
    case HVF_ERR_INVALID:
    case HVF_ERR_NOT_FOUND:
    case HVF_ERR_IO:
        return 2;
    default:
        return 1;
    }
}
