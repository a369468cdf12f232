/* SPDX-License-Identifier: MIT */
/*
 * GET /v1/openapi.json: the OpenAPI 3.0 description of every route, docs/openapi.json compiled
 * in at build time (scripts/embed-json; the build fails when it is not valid JSON), so what the
 * daemon serves is the document reviewed in docs/. tests/daemon/openapi.py checks every route's
 * real answers against it.
 */
#include <string.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"

/* openapi-json.c, generated */
extern const char hvfd_openapi_json[];
extern const size_t hvfd_openapi_json_len;

int
hvfd_api_openapi(hvfd_req *r)
{
    char *text = hvf_malloc(hvfd_openapi_json_len + 1);

    memcpy(text, hvfd_openapi_json, hvfd_openapi_json_len + 1);
    return hvfd_reply_text(r, 200, "application/json", text, hvfd_openapi_json_len);
}
