/* SPDX-License-Identifier: MIT */
/*
 * Driver URIs, for the backends' open: "SCHEME:[//]PATH[?NAME=VALUE&NAME=VALUE...]". The
 * backends give the path and each parameter their meaning; this splits them, and refuses a
 * parameter that is not NAME=VALUE (naming the URI and the parameter).
 */
#pragma once

#include <stddef.h>

#include "hvfleet/error.h"

#define HVF_DRIVER_URI_MAX_PARAMS 16

typedef struct hvf_driver_uri {
    char *buf;        /* owned: what the pointers below point into */
    const char *path; /* after "SCHEME:" and an empty authority ("//"); may be "" */
    size_t nparams;
    const char *names[HVF_DRIVER_URI_MAX_PARAMS], *values[HVF_DRIVER_URI_MAX_PARAMS];
} hvf_driver_uri;

/* Splits @uri, whose scheme is @scheme_len characters long. 0, or -1 with HVF_ERR_INVALID. */
int hvf_driver_uri_split(const char *uri, size_t scheme_len, hvf_driver_uri *out,
                         hvf_error *err) __attribute__((warn_unused_result));
void hvf_driver_uri_clear(hvf_driver_uri *u);
