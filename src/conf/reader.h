/* SPDX-License-Identifier: MIT */
/*
 * Reading YAML/JSON files into C structs with a table of field specs, reporting every problem as
 * "FILE:LINE: FIELD: VALUE: what was expected" into an hvf_diags list.
 *
 * Every parser of a file people write (inventory, policy, scenario, change) goes through here,
 * so they share one message format, one set of unit rules and one set of input limits.
 *
 * A file is read into a compact, read-only tree of hvf_node (reader-tree.c): YAML through
 * libyaml's event API (reader-doc.c), after a fast path that builds the same tree for the plain
 * YAML of large inventories (reader-fast.c), JSON through a strict JSON parser (reader-json.c). A
 * document is JSON when the file name ends in ".json" or its text starts with '{' and a
 * double-quoted key: JSON is then refused unless it is JSON (RFC 8259), trailing commas included.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"

/* Files larger than this are refused before parsing: no inventory is a gigabyte of YAML. */
#define HVF_CONF_MAX_BYTES (512u * 1024 * 1024)

/*
 * The document tree of one file may take at most this much memory (nodes and text); a file
 * needing more is refused with a message saying so, not a syntax error. A generated inventory
 * takes about 3.5 bytes of tree per byte of YAML, so every file within HVF_CONF_MAX_BYTES that
 * is not mostly punctuation fits; one that is ("[[[[", "[a,a,a") cannot grow 24 times its size.
 */
#define HVF_CONF_MAX_TREE_BYTES ((size_t)4 * HVF_CONF_MAX_BYTES)

/* A node of a document: a scalar, a sequence, a mapping or an alias. Borrowed from its reader. */
typedef struct hvf_node hvf_node;

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
    HVF_FIELD_NODE,     /* hvf_node * (borrowed from the document), any kind */
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
    struct hvf_doc *doc; /* owned */
} hvf_reader;

/*
 * hvf_reader_open_file / _open_buffer: parses YAML or JSON into @r. Syntax errors go to @diags
 * as FILE:LINE messages. Returns 0, or -1 with @err set (unreadable file, too big, a syntax
 * error, or more memory than HVF_CONF_MAX_TREE_BYTES; the details are in @diags).
 */
int hvf_reader_open_file(hvf_reader *r, const char *path, hvf_diags *diags, hvf_error *err);
int hvf_reader_open_buffer(hvf_reader *r, const char *name, const char *buf, size_t len,
                           hvf_diags *diags, hvf_error *err);
void hvf_reader_close(hvf_reader *r);

hvf_node *hvf_reader_root(const hvf_reader *r);

/* 1-based line of @node, 0 when unknown. */
int hvf_reader_line(const hvf_node *node);

/*
 * hvf_reader_map: reads mapping @node into @obj by @specs. Reports unknown keys, wrong kinds,
 * bad values, missing required fields and aliases (refused: they make tiny files expand).
 * @path names the object in messages, e.g. "hosts[3]". Returns the number of problems added.
 */
size_t hvf_reader_map(hvf_reader *r, hvf_node *node, const char *path,
                      const hvf_field_spec *specs, size_t nspecs, void *obj);

/* Adds "FILE:LINE: FIELD: VALUE: MSG" for @node (value quoted and shortened). */
void hvf_reader_report(hvf_reader *r, const hvf_node *node, const char *field,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Same, for field @key of mapping @map, named "PATH.KEY" (the value's line, else the map's). */
void hvf_reader_report_field(hvf_reader *r, hvf_node *map, const char *path, const char *key,
                             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* True if @node is a sequence; otherwise reports "expected a list". NULL is an empty list. */
bool hvf_reader_expect_seq(hvf_reader *r, hvf_node *node, const char *field);

/* Frees the owned strings (STRING, NAME, STRLIST) that @specs wrote into @obj. */
void hvf_reader_free_fields(const hvf_field_spec *specs, size_t nspecs, void *obj);

/* Copies a scalar's text into a fresh string; NULL for non-scalars. */
char *hvf_reader_scalar_dup(hvf_node *node);

/*
 * Nodes. A NULL node is none of the kinds and has no items. Iterators start with *@iter = NULL.
 * Mappings keep their pairs in file order; a key appears once in each (duplicates are syntax
 * errors).
 */
bool hvf_node_is_scalar(const hvf_node *n);
bool hvf_node_is_sequence(const hvf_node *n);
bool hvf_node_is_mapping(const hvf_node *n);
bool hvf_node_is_alias(const hvf_node *n);
/* True when an anchor (&name) was put on @n. */
bool hvf_node_has_anchor(const hvf_node *n);
/* Items of a sequence, pairs of a mapping, 0 for anything else. */
size_t hvf_node_count(const hvf_node *n);
/* Next item of sequence @seq, NULL at the end. */
hvf_node *hvf_node_iterate(const hvf_node *seq, void **iter);
/* Item @i of @seq (walks the list: O(i)), NULL if there is none. */
hvf_node *hvf_node_item(const hvf_node *seq, size_t i);
/* Next pair of mapping @map: returns its key and sets *@value; NULL at the end. */
hvf_node *hvf_node_pair_iterate(const hvf_node *map, void **iter, hvf_node **value);
/* Value of the scalar key @key (@len bytes, or (size_t)-1 for a C string) in @map, or NULL. */
hvf_node *hvf_node_lookup(const hvf_node *map, const char *key, size_t len);

/*
 * The libfyaml spellings the readers were written with, until they are renamed: they map onto
 * the functions above one to one, so code using them compiles unchanged.
 */
#define fy_node hvf_node
#define FY_NT ((size_t)-1)

static inline bool
fy_node_is_scalar(const hvf_node *n)
{
    return hvf_node_is_scalar(n);
}

static inline bool
fy_node_is_sequence(const hvf_node *n)
{
    return hvf_node_is_sequence(n);
}

static inline bool
fy_node_is_mapping(const hvf_node *n)
{
    return hvf_node_is_mapping(n);
}

static inline int
fy_node_sequence_item_count(const hvf_node *n)
{
    return hvf_node_is_sequence(n) ? (int)hvf_node_count(n) : -1;
}

static inline hvf_node *
fy_node_sequence_iterate(hvf_node *n, void **iter)
{
    return hvf_node_iterate(n, iter);
}

static inline hvf_node *
fy_node_sequence_get_by_index(hvf_node *n, int i)
{
    return i < 0 ? NULL : hvf_node_item(n, (size_t)i);
}

static inline hvf_node *
fy_node_mapping_lookup_by_string(hvf_node *n, const char *key, size_t len)
{
    return hvf_node_lookup(n, key, len);
}
