/* SPDX-License-Identifier: MIT */
/* Request bodies: one JSON object, known keys only, each field checked with its name. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon/daemon.h"
#include "hvfleet/fleet.h"

json_t *
hvfd_body_object(hvfd_req *r, const char *const *allowed)
{
    const char *ctype = r->content_type_in;
    json_error_t jerr;
    json_t *obj;
    const char *key;
    json_t *v;

    if (r->body.len == 0)
        return json_object(); /* every field optional or reported missing by its reader */
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0 ||
        (ctype[16] && ctype[16] != ';' && ctype[16] != ' ')) {
        hvfd_fail(r, 415, "Content-Type", "expected application/json, got '%.60s'",
                  ctype ? ctype : "(none)");
        return NULL;
    }
    obj = json_loadb(r->body.buf, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        hvfd_fail(r, 400, NULL, "the body is not JSON: %s at line %d column %d", jerr.text,
                  jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        hvfd_fail(r, 400, NULL, "the body must be a JSON object");
        return NULL;
    }
    json_object_foreach(obj, key, v) {
        bool known = false;

        for (size_t i = 0; allowed && allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known) {
            char list[256] = "";

            for (size_t i = 0; allowed && allowed[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         allowed[i]);
            hvfd_fail(r, 400, key, "unknown field '%.64s' (expected %s)", key,
                      list[0] ? list : "no body");
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

int
hvfd_field_string(hvfd_req *r, json_t *obj, const char *key, bool required, size_t max,
                  const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return hvfd_fail(r, 400, key, "'%s' is required", key) - 1;
        return 0;
    }
    if (!json_is_string(v))
        return hvfd_fail(r, 400, key, "'%s' must be a string", key) - 1;
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
        return hvfd_fail(r, 400, key, "'%s' must be a string of at most %zu bytes, no NUL", key,
                         max) - 1;
    *out = json_string_value(v);
    return 0;
}

int
hvfd_field_uint(hvfd_req *r, json_t *obj, const char *key, bool required, uint64_t max,
                uint64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v)) {
        if (required)
            return hvfd_fail(r, 400, key, "'%s' is required", key) - 1;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return hvfd_fail(r, 400, key, "'%s' must be an integer from 0 to %llu", key,
                         (unsigned long long)max) - 1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int
hvfd_field_bool(hvfd_req *r, json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return hvfd_fail(r, 400, key, "'%s' must be true or false", key) - 1;
    *out = json_is_true(v);
    return 0;
}

int
hvfd_field_name(hvfd_req *r, json_t *obj, const char *key, bool required, const char **out)
{
    if (hvfd_field_string(r, obj, key, required, HVF_DRV_NAME_MAX - 1, out) < 0)
        return -1;
    if (*out && !hvf_name_is_valid(*out))
        return hvfd_fail(r, 400, key,
                         "'%s': '%.64s' is not a name (letters, digits, '.', '-', '_')", key,
                         *out) - 1;
    return 0;
}
