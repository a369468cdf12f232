/* SPDX-License-Identifier: MIT */
/* Bearer tokens for hvfleetd: made here, kept by the store only as their SHA-256. */
#pragma once

#include "hvfleet/error.h"

#define HVF_TOKEN_LEN 47 /* "hvf_" and 43 characters of base64url (256 bits) */

/* Makes a new token in @out (NUL-terminated) and its SHA-256 in @hex. */
int hvf_token_new(char out[64], char hex[65], hvf_error *err) __attribute__((warn_unused_result));
