/* SPDX-License-Identifier: MIT */
/* Bearer tokens: 256 random bits, written in base64url after a recognisable prefix. */
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sha256.h"
#include "hvfleet/token.h"

int
hvf_token_new(char out[64], char hex[65], hvf_error *err)
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0};
    size_t o = 0;

    if (getrandom(raw, 32, 0) != 32) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read 32 random bytes for a token");
        return -1;
    }
    memcpy(out, "hvf_", 4);
    o = 4;
    for (size_t i = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

        for (int k = 3; k >= 0 && o < 4 + 43; k--)
            out[o++] = b64url[(v >> (6 * k)) & 63];
    }
    out[o] = '\0';
    hvf_sha256_hex(out, o, hex);
    return 0;
}
