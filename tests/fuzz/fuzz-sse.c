/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the Server-Sent Events reader (src/util/sse.h), which reads hvfleetd's
 * event stream in `hvfleet events --follow`: any bytes, cut into chunks anywhere, must give the
 * same events as the whole input at once, none holding a line end in its name or id, and none
 * longer than the limit.
 */
#include <string.h>

#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "util/sse.h"

#define FUZZ_MAX_INPUT 65536

typedef struct seen {
    hvf_strbuf all; /* every event: "event\1id\1data\2" */
    size_t max;
} seen;

static void
on_event(const char *event, const char *id, const char *data, void *ctx)
{
    seen *s = ctx;

    if (strpbrk(event, "\r\n") || strpbrk(id, "\r\n"))
        fuzz_fail("an event's name or id holds a line end: '%s' '%s'", event, id);
    if (strchr(data, '\r'))
        fuzz_fail("an event's data holds a '\\r'");
    if (strlen(data) > s->max)
        fuzz_fail("an event's data has %zu bytes, over the limit %zu", strlen(data), s->max);
    hvf_strbuf_printf(&s->all, "%s\1%s\1%s\2", event, id, data);
}

/* Feeds @data in chunks of @step bytes (0: at once); returns the events, owned. */
static char *
read_events(const uint8_t *data, size_t size, size_t step, size_t max, size_t *dropped)
{
    seen s = {.all = HVF_STRBUF_INIT, .max = max};
    hvf_sse sse;

    hvf_sse_init(&sse, max, on_event, &s);
    if (step == 0) {
        hvf_sse_feed(&sse, (const char *)data, size);
    } else {
        for (size_t i = 0; i < size; i += step)
            hvf_sse_feed(&sse, (const char *)data + i, size - i < step ? size - i : step);
    }
    *dropped = sse.dropped;
    hvf_sse_clear(&sse);
    hvf_strbuf_add(&s.all, "", 0);
    return s.all.buf ? hvf_strbuf_steal(&s.all) : hvf_strdup("");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = {1 << 20, 16};

    if (size > FUZZ_MAX_INPUT)
        return 0;
    for (size_t m = 0; m < HVF_ARRAY_LEN(maxes); m++) {
        size_t d0, d1, d2;
        char *whole = read_events(data, size, 0, maxes[m], &d0);
        char *bytes = read_events(data, size, 1, maxes[m], &d1);
        char *cut = read_events(data, size, size ? 1 + data[0] % 7 : 1, maxes[m], &d2);

        if (strcmp(whole, bytes) != 0 || strcmp(whole, cut) != 0 || d0 != d1 || d0 != d2)
            fuzz_fail("the events depend on where the input is cut (limit %zu): %zu/%zu/%zu "
                      "dropped", maxes[m], d0, d1, d2);
        free(whole);
        free(bytes);
        free(cut);
    }
    return 0;
}
