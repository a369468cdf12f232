/* SPDX-License-Identifier: MIT */
/* Internal helpers shared by the SVG chart files. */
#pragma once

#include <stddef.h>

#include "hvfleet/strbuf.h"

/* Values beyond this are treated like NaN: they would only flatten every other line to zero. */
#define SVG_MAX_ABS 1e15

/* Appends @s escaped, shortened to about @max bytes at a character boundary (then "..."). */
void hvf_svg_escape_short(hvf_strbuf *out, const char *s, size_t max);

/* Display width estimate in characters (UTF-8 continuation bytes don't count), capped near @max. */
size_t hvf_svg_text_chars(const char *s, size_t max);

/* Tick label: whole numbers plainly, fractions with the decimals @step needs, k/M/G/T for large
 * values (judged by @max_abs, the largest tick) so the margin stays narrow. */
void hvf_svg_format_tick(double v, double step, double max_abs, char *buf, size_t size);
