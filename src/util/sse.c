/* SPDX-License-Identifier: MIT */
/* Server-Sent Events: a stream of bytes to events (sse.h). */
#include <string.h>

#include "hvfleet/alloc.h"
#include "util/sse.h"

void
hvf_sse_init(hvf_sse *s, size_t max, hvf_sse_fn fn, void *ctx)
{
    memset(s, 0, sizeof(*s)); /* the buffers too: HVF_STRBUF_INIT is all zeros */
    s->max = max;
    s->fn = fn;
    s->ctx = ctx;
}

void
hvf_sse_clear(hvf_sse *s)
{
    hvf_strbuf_clear(&s->line);
    hvf_strbuf_clear(&s->data);
}

static void
sse_reset_event(hvf_sse *s)
{
    s->data.len = 0;
    if (s->data.buf)
        s->data.buf[0] = '\0';
    s->event[0] = s->id[0] = '\0';
    s->has_data = false;
    s->drop = false;
}

/* One whole line (without its end), @n bytes, may hold NUL bytes. */
static void
sse_line(hvf_sse *s, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    size_t fn = colon ? (size_t)(colon - line) : n;
    const char *v = colon ? colon + 1 : line + n;
    size_t vn = (size_t)(line + n - v);

    if (n == 0) { /* the end of an event */
        if (s->has_data && !s->drop)
            s->fn(s->event, s->id, s->data.buf ? s->data.buf : "", s->ctx);
        else if (s->drop)
            s->dropped++;
        sse_reset_event(s);
        return;
    }
    if (fn == 0) /* a comment */
        return;
    if (vn && *v == ' ') {
        v++;
        vn--;
    }
    if (fn == 4 && memcmp(line, "data", 4) == 0) {
        /* the data is handed over as a C string: a NUL in it would cut it */
        if (s->data.len + vn + 1 > s->max || memchr(v, '\0', vn)) {
            s->drop = true;
            return;
        }
        if (s->has_data)
            hvf_strbuf_add(&s->data, "\n", 1);
        hvf_strbuf_add(&s->data, v, vn);
        s->has_data = true;
    } else if (fn == 5 && memcmp(line, "event", 5) == 0) {
        if (vn >= sizeof(s->event) || memchr(v, '\0', vn)) {
            s->drop = true;
        } else {
            memcpy(s->event, v, vn);
            s->event[vn] = '\0';
        }
    } else if (fn == 2 && memcmp(line, "id", 2) == 0) {
        if (vn >= sizeof(s->id) || memchr(v, '\0', vn)) {
            s->drop = true;
        } else {
            memcpy(s->id, v, vn);
            s->id[vn] = '\0';
        }
    }
    /* other fields ("retry") are not used here */
}

void
hvf_sse_feed(hvf_sse *s, const char *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t j = i;
        char c;

        if (buf[i] == '\n' && s->after_cr) { /* the second half of "\r\n" */
            s->after_cr = false;
            i++;
            continue;
        }
        s->after_cr = false;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (!s->too_long && s->line.len + (j - i) + 1 > s->max)
            s->too_long = true;
        if (!s->too_long)
            hvf_strbuf_add(&s->line, buf + i, j - i);
        if (j == len) /* the line goes on in the next chunk */
            return;
        c = buf[j];
        s->after_cr = c == '\r';
        if (s->too_long) {
            s->too_long = false;
            s->drop = true; /* the event lost a line: it is not handed over cut */
        } else {
            sse_line(s, s->line.buf ? s->line.buf : "", s->line.len);
        }
        s->line.len = 0;
        i = j + 1;
    }
}
