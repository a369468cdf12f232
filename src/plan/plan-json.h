/* SPDX-License-Identifier: MIT */
/*
 * Strict reading of JSON documents parsed by jansson, with problems reported like the YAML
 * reader's: "FILE:LINE: FIELD: VALUE: what was expected". jansson keeps no positions, so a small
 * scan of the text finds the line where each top-level field and each item of the top-level
 * arrays starts (and of arrays one level down, e.g. summary.non_converging); a problem inside an
 * item is reported at the item's line. Internal to the plan reader.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/hash.h"

/* Line numbers of the fields and items of one object or array of the document. */
typedef struct rj_lines {
    char key[40]; /* the object's key in its parent ("" for the root) */
    int line;     /* where its value starts */
    int *items;   /* arrays: line of each item */
    size_t nitems, cap;
} rj_lines;

typedef struct rj_ctx {
    const char *file;
    hvf_diags *diags;
    rj_lines *lines; /* the root's fields (depth 1) and its objects' (depth 2) */
    size_t nlines, cap;
    hvf_hash index; /* key -> index in lines, built once the scan is done */
} rj_ctx;

/* Scans @buf (valid JSON) for lines; @ctx is then ready for the functions below. */
void rj_init(rj_ctx *c, const char *file, hvf_diags *diags, const char *buf, size_t len);
void rj_free(rj_ctx *c);

/* Line of top-level field @key ("summary.plan_hash" for one level down); 1 when unknown. */
int rj_line(const rj_ctx *c, const char *key);
/* Line of item @i of the array at @key ("migrations", "summary.non_converging"). */
int rj_item_line(const rj_ctx *c, const char *key, size_t i);

typedef enum rj_type {
    RJ_STRING, /* a string of at most 4096 bytes, no NUL */
    RJ_NAME,   /* a string that hvf_name_is_valid */
    RJ_UINT,   /* an integer within [min, max] */
    RJ_NUMBER, /* an integer or a real within [min, max] */
    RJ_BOOL,
    RJ_ENUM, /* a string among names */
    RJ_ARRAY,
    RJ_OBJECT,
} rj_type;

typedef struct rj_field {
    const char *name;
    rj_type type;
    double min, max;
    const char *const *names; /* RJ_ENUM, NULL-terminated */
} rj_field;

/*
 * rj_object: checks that @obj is an object whose keys are all in @fields, each present and of its
 * type and range; sets vals[i] to each field's value (borrowed from @obj), NULL when bad or
 * missing. Reports each problem as "PATH.FIELD" at the field's own line when the scan found it
 * (@path is the root "" or one of its fields), else at @line. Returns the number of problems.
 */
size_t rj_object(rj_ctx *c, json_t *obj, const char *path, int line, const rj_field *fields,
                 size_t n, json_t **vals);

/* Adds "FILE:LINE: FIELD: VALUE: MSG" for @v (value quoted and shortened; may be NULL). */
void rj_report(rj_ctx *c, int line, const char *field, const json_t *v, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
