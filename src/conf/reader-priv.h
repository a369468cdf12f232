/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the reader's files: reader.c (fields and messages), reader-tree.c (the
 * document tree and its builder), reader-doc.c (files, YAML through libyaml) and reader-json.c
 * (strict JSON).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/reader.h"

typedef enum hvf_node_kind {
    HVF_NODE_SCALAR,
    HVF_NODE_SEQUENCE,
    HVF_NODE_MAPPING,
    HVF_NODE_ALIAS, /* text: the anchor's name */
} hvf_node_kind;

typedef enum hvf_node_style {
    HVF_NODE_PLAIN,
    HVF_NODE_QUOTED, /* single- or double-quoted, a literal or folded block: never a null */
} hvf_node_style;

/*
 * 32 bytes a node, all of a document's nodes in one array in document order (a node's children
 * come after it), linked by offsets rather than pointers so the array can grow while it is
 * built. A mapping's children are its keys and values, alternating.
 */
struct hvf_node {
    const char *text; /* scalar, alias: NUL-terminated (may hold NULs: see len); else NULL */
    uint32_t len;     /* scalar, alias: bytes of text; collection: number of children */
    uint32_t line;    /* 1-based line where the node starts */
    uint32_t first;   /* collection: this + first is the first child; 0 = none */
    uint32_t next;    /* this + next is the next sibling; 0 = none */
    uint8_t kind;     /* hvf_node_kind */
    uint8_t style;    /* hvf_node_style */
    uint8_t anchored; /* an anchor (&name) was put on it */
};

/* A parsed document: the nodes (root first) and the blocks their text lives in. */
typedef struct hvf_doc {
    hvf_node *nodes; /* owned */
    size_t nnodes;
    struct tree_chunk *text; /* owned list */
} hvf_doc;

void hvf_doc_free(hvf_doc *doc);

/* Why a build stopped: the parse is over either way, the message says which. */
typedef enum hvf_tree_status {
    HVF_TREE_OK,
    HVF_TREE_SYNTAX, /* msg and line say what */
    HVF_TREE_MEMORY, /* the budget is spent, or an allocation failed */
} hvf_tree_status;

/*
 * Builds an hvf_doc from events in document order: start a collection, add scalars and aliases
 * to the innermost open one, end it. Each call returns 0, or -1 once status is not OK (and
 * then every later call too). Counts its memory against @limit bytes.
 */
typedef struct hvf_tree_builder {
    hvf_doc doc;
    size_t cap;
    struct tree_frame *stack; /* open collections */
    size_t depth, stack_cap;
    size_t used, limit; /* bytes of nodes and text */
    hvf_tree_status status;
    int line;
    char msg[200];
} hvf_tree_builder;

/* Collections may nest this deep; deeper is refused as a syntax error (no file needs it). */
#define HVF_TREE_MAX_DEPTH 256

void hvf_tree_init(hvf_tree_builder *b, size_t limit);
int hvf_tree_start(hvf_tree_builder *b, hvf_node_kind kind, int line, bool anchored);
int hvf_tree_end(hvf_tree_builder *b);
int hvf_tree_scalar(hvf_tree_builder *b, hvf_node_kind kind, hvf_node_style style,
                    const char *text, size_t len, int line, bool anchored);
/* Reports a syntax error at @line (the first one reported wins). Returns -1. */
int hvf_tree_fail(hvf_tree_builder *b, hvf_tree_status status, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Moves the finished document to @out (the builder is then empty); frees everything on error. */
int hvf_tree_finish(hvf_tree_builder *b, hvf_doc *out);
void hvf_tree_discard(hvf_tree_builder *b);

/*
 * hvf_json_parse: reads @text (@len bytes) as one strict JSON document (RFC 8259) into @b.
 * Returns 0, or -1 with b->status, b->line and b->msg saying why ("expected ...").
 */
int hvf_json_parse(const char *text, size_t len, hvf_tree_builder *b);

/*
 * hvf_yaml_fast_parse: reads @text (@len bytes, tabs already made spaces) into @b when it is YAML
 * of the plain subset described in reader-fast.c. Returns 0 with the document in @b, exactly
 * the tree hvf_yaml_parse would build; or -1 when the text is outside the subset or not valid,
 * and then @b is to be discarded and the text read with hvf_yaml_parse, which says what is wrong.
 */
int hvf_yaml_fast_parse(const char *text, size_t len, hvf_tree_builder *b);

/* hvf_yaml_parse: reads @text as YAML through libyaml into @b (b->status says how it went). */
void hvf_yaml_parse(const char *text, size_t len, hvf_tree_builder *b);

/* True when a document should be read as JSON: by its name, or by its first characters. */
bool hvf_json_expected(const char *name, const char *text, size_t len);

/*
 * The tree memory limit of the readers of this process: HVF_CONF_MAX_TREE_BYTES unless a test
 * sets a smaller one. Returns the previous limit.
 */
size_t hvf_reader_set_memory_limit(size_t bytes);

/* A scalar's text, owned (may hold NUL bytes: see *@len); NULL for anything but a scalar. */
char *hvf_reader_scalar_text(hvf_node *node, size_t *len);

/* True for a YAML null (empty, or plain ~ / null / Null / NULL): "not given". */
bool hvf_reader_is_null(hvf_node *node);
