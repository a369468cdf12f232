/* SPDX-License-Identifier: MIT */
/* Growable strings: printf in one pass or two, decimal integers without printf. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/strbuf.h"

/* Appends of every length around the buffer's room: the text is always what snprintf makes. */
static void
test_printf_across_growth(void **state)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                  "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
    char want[4096], piece[300];
    size_t wlen = 0;

    for (int i = 0; i < 200; i++) {
        int n = snprintf(piece, sizeof(piece), "%d:%.*s|", i, i, letters);

        if (wlen + (size_t)n >= sizeof(want)) {
            hvf_strbuf_clear(&sb);
            wlen = 0;
        }
        hvf_strbuf_printf(&sb, "%d:%.*s|", i, i, letters);
        memcpy(want + wlen, piece, (size_t)n);
        wlen += (size_t)n;
        assert_int_equal(sb.len, wlen);
        assert_memory_equal(sb.buf, want, wlen);
        assert_int_equal(sb.buf[sb.len], '\0');
        assert_true(sb.cap > sb.len);
    }
    /* an empty format adds nothing but still terminates */
    hvf_strbuf_clear(&sb);
    hvf_strbuf_printf(&sb, "%s", "");
    assert_int_equal(sb.len, 0);
    assert_string_equal(sb.buf, "");
    hvf_strbuf_clear(&sb);
}

static void
test_add_u64(void **state)
{
    static const uint64_t values[] = {0, 1, 9, 10, 99, 100, 1023, 1024, 65535, 4294967295u,
                                      4294967296u, 1000000000000000000u, UINT64_MAX - 1,
                                      UINT64_MAX};
    hvf_strbuf sb = HVF_STRBUF_INIT;
    char want[32];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        snprintf(want, sizeof(want), "%" PRIu64, values[i]);
        hvf_strbuf_add_u64(&sb, values[i]);
        assert_string_equal(sb.buf, want);
        hvf_strbuf_clear(&sb);
    }
    /* appends after what is there */
    hvf_strbuf_puts(&sb, "cpus: ");
    hvf_strbuf_add_u64(&sb, 48);
    assert_string_equal(sb.buf, "cpus: 48");
    hvf_strbuf_clear(&sb);
}

/* Templates: known keys replaced wherever they stand, anything else kept as written. */
static void
test_template_expand(void **state)
{
    const char *const kv[] = {"host", "kvm01", "n", "7", NULL};
    const char *const none[] = {NULL};
    char *out;

    out = hvf_template_expand("ipmitool -H {host}-bmc power off {host}", kv);
    assert_string_equal(out, "ipmitool -H kvm01-bmc power off kvm01");
    free(out);
    out = hvf_template_expand("{n}{n} {unknown} {host {} }{host}", kv);
    assert_string_equal(out, "77 {unknown} {host {} }kvm01");
    free(out);
    out = hvf_template_expand("", kv);
    assert_string_equal(out, "");
    free(out);
    out = hvf_template_expand("{host}", none);
    assert_string_equal(out, "{host}");
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printf_across_growth),
        cmocka_unit_test(test_add_u64),
        cmocka_unit_test(test_template_expand),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
