/* SPDX-License-Identifier: MIT */
/* Whole-file reads with a size cap, for parsers that look at the bytes before a reader does. */
#pragma once

#include <stddef.h>

#include "hvfleet/error.h"

/*
 * Reads @path (a regular file of at most @max bytes) into an owned, NUL-terminated buffer and
 * sets *@len. Returns NULL with @err set: HVF_ERR_IO (cannot open or read), HVF_ERR_INVALID
 * (too big).
 */
char *hvf_text_read_file(const char *path, size_t max, size_t *len, hvf_error *err);
