/* SPDX-License-Identifier: MIT */
/* Files: whole-file reads with a size cap (for parsers), and directory trees for outputs. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "hvfleet/error.h"

/*
 * Reads @path (a regular file of at most @max bytes) into an owned, NUL-terminated buffer and
 * sets *@len. Returns NULL with @err set: HVF_ERR_IO (cannot open or read), HVF_ERR_INVALID
 * (too big).
 */
char *hvf_text_read_file(const char *path, size_t max, size_t *len, hvf_error *err);

/* Creates @dir and its missing parents with @mode (like mkdir -p). Returns 0, or -1 (HVF_ERR_IO). */
int hvf_file_mkdirs(const char *dir, mode_t mode, hvf_error *err);
