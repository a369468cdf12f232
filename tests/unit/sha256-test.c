/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 against the FIPS 180-4 / NIST example vectors, in one piece and fed byte by byte, with
 * the CPU's SHA extensions (when it has them) and without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sha256.h"
#include "util/sha256-priv.h"

static const struct {
    const char *in;
    const char *hex;
} sha_cases[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnop"
     "qrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
};

static void
test_vectors(void **state)
{
    char hex[HVF_SHA256_HEX_LEN + 1];

    for (size_t i = 0; i < HVF_ARRAY_LEN(sha_cases); i++) {
        hvf_sha256_hex(sha_cases[i].in, strlen(sha_cases[i].in), hex);
        assert_string_equal(hex, sha_cases[i].hex);
    }
}

static void
test_incremental(void **state)
{
    char hex[HVF_SHA256_HEX_LEN + 1];
    uint8_t d[HVF_SHA256_BYTES];
    hvf_sha256 ctx;
    static char million[1000000];

    for (size_t i = 0; i < HVF_ARRAY_LEN(sha_cases); i++) {
        const char *s = sha_cases[i].in;
        hvf_sha256_init(&ctx);
        for (size_t j = 0; s[j]; j++)
            hvf_sha256_update(&ctx, s + j, 1);
        hvf_sha256_final(&ctx, d);
        hvf_sha256_to_hex(d, hex);
        assert_string_equal(hex, sha_cases[i].hex);
    }
    /* One million 'a' in uneven pieces crosses block boundaries at every offset. */
    memset(million, 'a', sizeof(million));
    hvf_sha256_init(&ctx);
    for (size_t off = 0, step = 1; off < sizeof(million); off += step, step = step % 131 + 7)
        hvf_sha256_update(&ctx, million + off,
                          off + step > sizeof(million) ? sizeof(million) - off : step);
    hvf_sha256_final(&ctx, d);
    hvf_sha256_to_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Both implementations give the same digests of every length from 0 to 300 bytes of noise. */
static void
test_accel_same(void **state)
{
    uint8_t buf[300];
    uint32_t x = 12345;
    char c[HVF_SHA256_HEX_LEN + 1], ni[HVF_SHA256_HEX_LEN + 1];
    bool had;

    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    had = hvf_sha256_set_accel(true);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        hvf_sha256_set_accel(false);
        hvf_sha256_hex(buf, len, c);
        hvf_sha256_set_accel(true);
        hvf_sha256_hex(buf, len, ni);
        assert_string_equal(c, ni);
    }
    hvf_sha256_set_accel(had);
}

/* The vectors again, the other way than the machine's default. */
static void
test_vectors_other_way(void **state)
{
    bool had = hvf_sha256_set_accel(false);

    hvf_sha256_set_accel(!had);
    test_vectors(state);
    test_incremental(state);
    hvf_sha256_set_accel(had);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_accel_same),
        cmocka_unit_test(test_vectors_other_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
