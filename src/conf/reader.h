/* SPDX-License-Identifier: MIT */
/*
 * Reading YAML/JSON files (libfyaml) into C structs with a table of field specs, reporting every
 * problem as "FILE:LINE: FIELD: VALUE: what was expected" into an hvf_diags list.
 *
 * Every parser of a file people write (inventory, policy, scenario, change) goes through here,
 * so they share one message format, one set of unit rules and one set of input limits.
 */
#pragma once

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"

/* Files larger than this are refused before parsing: no inventory is a gigabyte of YAML. */
#define HVF_CONF_MAX_BYTES (512u * 1024 * 1024)

typedef enum hvf_field_type {
    HVF_FIELD_STRING,   /* char * (owned, replaced) */
    HVF_FIELD_NAME,     /* char *, checked by hvf_name_is_valid */
    HVF_FIELD_UINT,     /* uint32_t, within [min, max] when max > 0 */
    HVF_FIELD_DOUBLE,   /* double, within [min, max] when max > min */
    HVF_FIELD_BOOL,     /* bool */
    HVF_FIELD_SIZE_MIB, /* uint64_t MiB from a size; a bare number is MiB */
    HVF_FIELD_RATE,     /* double bytes per second */
    HVF_FIELD_DURATION, /* int64_t microseconds */
    HVF_FIELD_ENUM,     /* int, index into enum_names */
    HVF_FIELD_STRLIST,  /* char ** + size_t count at offset2 (both owned) */
    HVF_FIELD_NODE,     /* struct fy_node * (borrowed from the document), any kind */
} hvf_field_type;

typedef struct hvf_field_spec {
    const char *name;
    hvf_field_type type;
    size_t offset;
    bool required;
    double min, max;
    const char *const *enum_names; /* NULL-terminated, for HVF_FIELD_ENUM */
    size_t offset2;                /* HVF_FIELD_STRLIST: offset of the count */
    size_t present;                /* offset+1 of a bool set when the field appears; 0 = none */
} hvf_field_spec;

typedef struct hvf_reader {
    const char *file; /* name used in messages */
    hvf_diags *diags;
    struct fy_document *doc; /* owned */
    void *src;               /* owned: where the document's text is, for single-quoted scalars */
} hvf_reader;

/*
 * hvf_reader_open_file / _open_buffer: parses YAML (JSON is YAML) into @r. Syntax errors go to
 * @diags as FILE:LINE messages. Returns 0, or -1 with @err set (unreadable file, too big, or a
 * syntax error; the details are in @diags).
 */
int hvf_reader_open_file(hvf_reader *r, const char *path, hvf_diags *diags, hvf_error *err);
int hvf_reader_open_buffer(hvf_reader *r, const char *name, const char *buf, size_t len,
                           hvf_diags *diags, hvf_error *err);
void hvf_reader_close(hvf_reader *r);

struct fy_node *hvf_reader_root(const hvf_reader *r);

/* 1-based line of @node, 0 when unknown. */
int hvf_reader_line(const struct fy_node *node);

/*
 * hvf_reader_map: reads mapping @node into @obj by @specs. Reports unknown keys, wrong kinds,
 * bad values, missing required fields and aliases (refused: they make tiny files expand).
 * @path names the object in messages, e.g. "hosts[3]". Returns the number of problems added.
 */
size_t hvf_reader_map(hvf_reader *r, struct fy_node *node, const char *path,
                      const hvf_field_spec *specs, size_t nspecs, void *obj);

/* Adds "FILE:LINE: FIELD: VALUE: MSG" for @node (value quoted and shortened). */
void hvf_reader_report(hvf_reader *r, const struct fy_node *node, const char *field,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Same, for field @key of mapping @map, named "PATH.KEY" (the value's line, else the map's). */
void hvf_reader_report_field(hvf_reader *r, struct fy_node *map, const char *path, const char *key,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* True if @node is a sequence; otherwise reports "expected a list". NULL is an empty list. */
bool hvf_reader_expect_seq(hvf_reader *r, struct fy_node *node, const char *field);

/* Frees the owned strings (STRING, NAME, STRLIST) that @specs wrote into @obj. */
void hvf_reader_free_fields(const hvf_field_spec *specs, size_t nspecs, void *obj);

/* Copies a scalar's text into a fresh string; NULL for non-scalars. */
char *hvf_reader_scalar_dup(struct fy_node *node);
