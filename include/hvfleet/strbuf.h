/* SPDX-License-Identifier: MIT */
/* A growable string for building output, and atomic file writes. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

typedef struct hvf_strbuf {
    char *buf; /* owned, always terminated once anything was added */
    size_t len, cap;
} hvf_strbuf;

#define HVF_STRBUF_INIT {NULL, 0, 0}

void hvf_strbuf_add(hvf_strbuf *sb, const char *s, size_t len);
void hvf_strbuf_puts(hvf_strbuf *sb, const char *s);
void hvf_strbuf_printf(hvf_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends @v in decimal, as "%" PRIu64 would, without printf's cost. */
void hvf_strbuf_add_u64(hvf_strbuf *sb, uint64_t v);
/* Appends @s as a double-quoted YAML/JSON string with escapes. */
void hvf_strbuf_quote(hvf_strbuf *sb, const char *s);
void hvf_strbuf_clear(hvf_strbuf *sb);
/* Hands the string to the caller (owned, never NULL) and empties @sb. */
char *hvf_strbuf_steal(hvf_strbuf *sb);
/*
 * hvf_template_expand: @tmpl with each "{KEY}" of @kv (NULL-terminated pairs KEY, VALUE, e.g.
 * {"host", "kvm01", NULL}) replaced by its value; any other text, braces included, as it is.
 * Owned.
 */
char *hvf_template_expand(const char *tmpl, const char *const *kv);

/*
 * hvf_quote_value: writes @s (@len bytes, any content) into @buf as a short quoted value for a
 * one-line message: non-printable bytes become '?', and past about 40 characters it is cut
 * with "...". @buf is always terminated; @size should be at least 50.
 */
void hvf_quote_value(const char *s, size_t len, char *buf, size_t size);

/*
 * hvf_file_write_atomic: writes @len bytes to @path through a temporary file in the same
 * directory and a rename, so readers see the old file or the whole new one, never a part.
 * Every output a user names goes through here. @path may be a new path or a regular file (it
 * keeps its permissions); a symlink is followed and its target written the same way; a
 * directory, device, FIFO or socket is refused (HVF_ERR_INVALID) and left untouched. "-"
 * writes to standard output. Temporaries left by killed writers are removed. Returns 0, or -1
 * with HVF_ERR_IO or HVF_ERR_INVALID.
 */
int hvf_file_write_atomic(const char *path, const char *data, size_t len, hvf_error *err)
    __attribute__((warn_unused_result));
