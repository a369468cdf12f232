/* SPDX-License-Identifier: MIT */
/* UTF-8 checks for untrusted input. */
#pragma once

#include <stddef.h>

/*
 * Offset of the first byte of @buf that is not well-formed UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or @len when all of it is.
 */
size_t hvf_utf8_invalid_at(const char *buf, size_t len);
