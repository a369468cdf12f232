/* SPDX-License-Identifier: MIT */
/* Request bodies: one JSON object, known keys only, each field checked with its name. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon/daemon.h"
#include "hvfleet/fleet.h"

/* Finds a string or key with a NUL byte in @v; writes where ("policy.window.start",
 * "hosts[2]") to @at. The handlers read strings as C strings: "kvm01\u0000x" would be "kvm01". */
static bool
body_has_nul(json_t *v, char *at, size_t len)
{
    size_t used = strlen(at);
    const char *key;
    size_t key_len;
    json_t *x;
    size_t i;

    if (json_is_string(v))
        return strlen(json_string_value(v)) != json_string_length(v);
    if (json_is_object(v)) {
        json_object_keylen_foreach(v, key, key_len, x) {
            snprintf(at + used, len - used, "%s%s", used ? "." : "", key);
            if (strlen(key) != key_len || body_has_nul(x, at, len))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            snprintf(at + used, len - used, "[%zu]", i);
            if (body_has_nul(x, at, len))
                return true;
        }
    }
    at[used] = '\0';
    return false;
}

json_t *
hvfd_body_object(hvfd_req *r, const char *const *allowed)
{
    const char *ctype = r->content_type_in;
    json_error_t jerr;
    json_t *obj;
    const char *key;
    size_t key_len;
    json_t *v;
    char at[256];

    if (r->body.len == 0)
        return json_object(); /* every field optional or reported missing by its reader */
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0 ||
        (ctype[16] && ctype[16] != ';' && ctype[16] != ' ')) {
        hvfd_fail(r, 415, "Content-Type", "expected application/json, got '%.60s'",
                  ctype ? ctype : "(none)");
        return NULL;
    }
    /* any value, so that "null" or "[1]" is told it is not an object; NUL in strings, so that
     * the answer names the field that has one (body_has_nul) rather than a column */
    obj = json_loadb(r->body.buf, r->body.len,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
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
    at[0] = '\0';
    if (body_has_nul(obj, at, sizeof(at))) {
        json_decref(obj);
        hvfd_fail(r, 400, at, "'%s' has a NUL byte (\\u0000): expected text without one", at);
        return NULL;
    }
    json_object_keylen_foreach(obj, key, key_len, v) {
        bool known = false;

        /* a key with a NUL ("kind\u0000x") is none of the known ones */
        for (size_t i = 0; allowed && allowed[i] && !known; i++)
            known = strlen(key) == key_len && strcmp(allowed[i], key) == 0;
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
