/* SPDX-License-Identifier: MIT */
/* Whole-file reads with a size cap, and a UTF-8 check to run before text reaches a parser. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/error.h"

/*
 * Reads @path (a regular file of at most @max bytes) into an owned, NUL-terminated buffer and
 * sets *@len. Returns NULL with @err set: HVF_ERR_IO (cannot open or read), HVF_ERR_INVALID
 * (too big).
 */
char *hvf_text_read_file(const char *path, size_t max, size_t *len, hvf_error *err);

/*
 * True when @len bytes of @s are well-formed UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF). Otherwise sets *@line and *@column (1-based, column in bytes) of the first
 * bad byte. libfyaml 0.7 loops forever on some invalid sequences (e.g. "%s\xfe"), so parsers
 * of untrusted files check first.
 */
bool hvf_text_utf8_valid(const char *s, size_t len, int *line, int *column);
