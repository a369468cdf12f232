/* SPDX-License-Identifier: MIT */
/* Server-Sent Events (src/util/sse.h): hvfleetd's stream as `hvfleet events --follow` reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/strbuf.h"
#include "util/sse.h"

static void
on_event(const char *event, const char *id, const char *data, void *ctx)
{
    hvf_strbuf_printf(ctx, "[%s|%s|%s]", event, id, data);
}

/* The events of @in, read in chunks of @step bytes (0: at once), with a limit of @max. */
static char *
events(const char *in, size_t step, size_t max, size_t *dropped)
{
    hvf_strbuf out = HVF_STRBUF_INIT;
    hvf_sse s;
    size_t n = strlen(in);

    hvf_sse_init(&s, max, on_event, &out);
    for (size_t i = 0; i < n; i += step ? step : n)
        hvf_sse_feed(&s, in + i, step && n - i > step ? step : n - i);
    *dropped = s.dropped;
    hvf_sse_clear(&s);
    hvf_strbuf_puts(&out, "");
    return hvf_strbuf_steal(&out);
}

/* What hvfleetd sends (events.c): a keepalive comment, then "id", "event", "data" and an empty
 * line per event; the same events whatever the chunks, with any of the three line ends. */
static void
test_daemon_stream(void **state)
{
    static const char *const ins[] = {
        ": keepalive\n\nid: 7\nevent: freeze\ndata: {\"seq\":7}\n\nid: 8\nevent: unfreeze\n"
        "data: {\"seq\":8}\n\nid: 9\nevent: plan\ndata: {\"seq\"",
        ": keepalive\r\n\r\nid: 7\r\nevent: freeze\r\ndata: {\"seq\":7}\r\n\r\nid: 8\r\nevent: "
        "unfreeze\r\ndata: {\"seq\":8}\r\n\r\nid: 9\r\nevent: plan\r\ndata: {\"seq\"",
        ": keepalive\r\rid: 7\revent: freeze\rdata: {\"seq\":7}\r\rid: 8\revent: unfreeze\r"
        "data: {\"seq\":8}\r\rid: 9\revent: plan\rdata: {\"seq\"",
    };

    for (size_t i = 0; i < 3; i++) {
        for (size_t step = 0; step < 9; step++) {
            size_t dropped = 1;
            char *got = events(ins[i], step, 1 << 20, &dropped);

            /* the third event has no end yet: not handed over */
            assert_string_equal(got, "[freeze|7|{\"seq\":7}][unfreeze|8|{\"seq\":8}]");
            assert_int_equal(dropped, 0);
            free(got);
        }
    }
}

/* Data lines join with "\n"; one space after the colon goes, a second stays; a field without a
 * colon has an empty value; an event without data is not one; unknown fields are ignored. */
static void
test_fields(void **state)
{
    size_t dropped;
    char *got = events("data: a\ndata:b\ndata:  c\ndata\nretry: 5\nwhat: x\n\n"
                       "event: empty\n\n: only a comment\n\n",
                       0, 1 << 20, &dropped);

    assert_string_equal(got, "[||a\nb\n c\n]");
    free(got);
}

/* An event over the limit is dropped whole and counted, never cut; the next one is read. */
static void
test_limit(void **state)
{
    for (size_t step = 0; step < 5; step++) {
        size_t dropped = 0;
        char *got = events("data: 0123456789abcdef\n\ndata: 0123\ndata: 4567\ndata: 89ab\n\n"
                           "data: ok\n\n", step, 12, &dropped);

        assert_string_equal(got, "[||ok]");
        assert_int_equal(dropped, 2);
        free(got);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_stream),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
