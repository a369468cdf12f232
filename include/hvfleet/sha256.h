/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), small and dependency-free, for plan hashes and inventory fingerprints. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HVF_SHA256_BYTES 32
#define HVF_SHA256_HEX_LEN 64 /* without the terminating NUL */

typedef struct hvf_sha256 {
    uint32_t state[8];
    uint64_t bytes; /* total fed so far */
    uint8_t block[64];
    size_t fill; /* bytes waiting in @block */
} hvf_sha256;

void hvf_sha256_init(hvf_sha256 *ctx);
void hvf_sha256_update(hvf_sha256 *ctx, const void *data, size_t len);
/* Writes the digest to @out; @ctx must be initialised again before reuse. */
void hvf_sha256_final(hvf_sha256 *ctx, uint8_t out[HVF_SHA256_BYTES]);

/* One-shot digest of @len bytes as 64 lowercase hex digits plus a NUL in @hex. */
void hvf_sha256_hex(const void *data, size_t len, char hex[HVF_SHA256_HEX_LEN + 1]);
/* Hex form of a finished digest. */
void hvf_sha256_to_hex(const uint8_t digest[HVF_SHA256_BYTES], char hex[HVF_SHA256_HEX_LEN + 1]);
