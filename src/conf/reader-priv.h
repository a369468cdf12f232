/* SPDX-License-Identifier: MIT */
/* Internals shared by reader.c (fields and messages) and reader-doc.c (documents and text). */
#pragma once

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

/* A scalar's text, owned (may hold NUL bytes: see *@len); NULL for anything but a scalar. */
char *hvf_reader_scalar_text(struct fy_node *node, size_t *len);

/* True for a YAML null (empty, or plain ~ / null / Null / NULL): "not given". */
bool hvf_reader_is_null(struct fy_node *node);
