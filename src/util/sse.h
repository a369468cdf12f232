/* SPDX-License-Identifier: MIT */
/*
 * Server-Sent Events (the text/event-stream format of the HTML standard, as hvfleetd's
 * /v1/events/stream sends it): bytes in, in chunks cut anywhere, one callback per event out.
 *
 * Lines end with "\n", "\r\n" or "\r". "data: V" lines gather (joined with "\n"), "event: T" and
 * "id: N" name the event, ": text" is a comment, and an empty line ends the event: it is handed
 * over if it has data. A line or an event's data longer than @max is not kept: that event is
 * dropped whole (counted in @dropped), never cut. The result does not depend on where the chunks
 * are cut.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/strbuf.h"

/* @event: "" when the event named none ("message" in the standard); @id: "" when none. */
typedef void (*hvf_sse_fn)(const char *event, const char *id, const char *data, void *ctx);

typedef struct hvf_sse {
    hvf_strbuf line; /* the line being read */
    hvf_strbuf data; /* the event's data so far */
    char event[64], id[64];
    bool has_data;
    bool too_long;   /* the line being read is over @max: skipped to its end */
    bool drop;       /* the event being read is over @max: dropped at its end */
    bool after_cr;   /* the last byte was '\r': a '\n' right after it ends nothing */
    size_t max;
    size_t dropped;  /* events dropped for their size */
    hvf_sse_fn fn;
    void *ctx;
} hvf_sse;

void hvf_sse_init(hvf_sse *s, size_t max, hvf_sse_fn fn, void *ctx);
/* Feeds @len bytes of the stream; calls @fn for each event they end. */
void hvf_sse_feed(hvf_sse *s, const char *buf, size_t len);
/* Frees what @s holds; an event not ended by an empty line is not handed over. */
void hvf_sse_clear(hvf_sse *s);
