/* SPDX-License-Identifier: MIT */
/* Internals of the Ganeti text reader: the parse context, field helpers and the build step. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/ganeti-priv.h"
#include "hvfleet/diag.h"
#include "hvfleet/fleet.h"
#include "hvfleet/ganeti.h"
#include "hvfleet/hash.h"

/* Fields kept per line; htools ignores those beyond what it knows, so do we. */
#define GNT_MAX_FIELDS 24

typedef struct gnt_slice {
    const char *p; /* borrowed from the input buffer, not terminated */
    size_t len;
} gnt_slice;

typedef struct gnt_line {
    const char *p;
    size_t len;
    int no; /* 1-based */
} gnt_line;

typedef struct gnt_section {
    size_t first, n; /* lines[first .. first+n) */
} gnt_section;

typedef struct gnt_group {
    char *name, *uuid; /* owned */
    double vcpu_ratio; /* 0 = not set by a policy line */
    double mem_ratio;
    int line;
} gnt_group;

typedef struct gnt_node {
    char *name; /* owned */
    int line;
    int32_t group;
    uint64_t total_mib, node_mib;
    uint32_t cpus;
    bool offline, unknown, drained;
    char *rack, *kernel, *hw; /* owned, may be NULL */
    char **tags;              /* owned, the ones not consumed above */
    size_t ntags, tags_cap;
    uint64_t pri_mib; /* memory and vCPUs of its primary instances */
    uint64_t pri_vcpus;
} gnt_node;

typedef struct gnt_inst {
    char *name;    /* owned */
    char *service; /* owned, may be NULL */
    int line;
    int32_t pnode;
    int32_t snode; /* drbd: the node with the other copy of the disk; -1 = none */
    uint64_t mem_mib;
    uint32_t vcpus;
    bool stopped, migratable;
} gnt_inst;

typedef struct gnt_svcdef {
    char *name; /* owned */
    int spread;
    uint32_t min_available;
    bool critical;
    int line;
} gnt_svcdef;

typedef struct gnt_ctx {
    const char *file;
    hvf_diags *diags;
    hvf_ganeti_stats *stats;
    int last_line;

    gnt_line *lines;
    size_t nlines, lines_cap;
    gnt_section *sections;
    size_t nsections, sections_cap;

    gnt_group *groups;
    size_t ngroups, groups_cap;
    hvf_hash group_by_uuid, group_by_name;
    double cluster_vcpu_ratio, cluster_mem_ratio; /* 0 = not set */

    char **iextags, **nlocations; /* owned prefixes from cluster tags */
    size_t niextags, iextags_cap, nnlocations, nlocations_cap;
    gnt_svcdef *svcdefs;
    size_t nsvcdefs, svcdefs_cap;

    gnt_node *nodes;
    size_t nnodes, nodes_cap;
    hvf_hash node_by_name;
    gnt_inst *insts;
    size_t ninsts, insts_cap;
    hvf_hash inst_by_name;
} gnt_ctx;

void gnt_ctx_init(gnt_ctx *c, const char *file, hvf_diags *diags, hvf_ganeti_stats *stats);
void gnt_ctx_clear(gnt_ctx *c);

/* ---- fields (ganeti-field.c) ---- */

/* Splits [p, p+len) at @sep into up to @max slices; returns the total number of fields. */
size_t gnt_split(const char *p, size_t len, char sep, gnt_slice *out, size_t max);
char *gnt_dup(gnt_slice s);
bool gnt_slice_eq(gnt_slice s, const char *lit);
/* Drops @prefix from the front of *@s and returns true when it starts with it. */
bool gnt_slice_strip_prefix(gnt_slice *s, const char *prefix);
bool gnt_slice_valid_name(gnt_slice s);
bool gnt_hash_has(const hvf_hash *h, gnt_slice key);
/* Index of @s in NULL-terminated @names, or -1. */
int gnt_enum(gnt_slice s, const char *const *names);

/* Decimal numbers as htools writes them; false on anything else (signs only where noted). */
bool gnt_parse_uint(gnt_slice s, uint64_t max, uint64_t *out);
bool gnt_parse_int(gnt_slice s, int64_t *out);   /* optional '-' */
bool gnt_parse_double(gnt_slice s, double *out); /* non-negative, optional fraction/exponent */

/* "FILE:LINE: WHAT.FIELD: 'VALUE': MSG" (value quoted and shortened). */
void gnt_report(gnt_ctx *c, int line, const char *what, const char *field, gnt_slice value,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "FILE:LINE: SECTION: 'LINE TEXT': MSG" for a line as a whole; @l NULL means line 1. */
void gnt_report_line(gnt_ctx *c, const gnt_line *l, const char *section, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reports and returns false unless @s is a valid hvfleet name; @kind says what it names. */
bool gnt_check_name(gnt_ctx *c, const gnt_line *l, const char *what, const char *field, gnt_slice s,
                    const char *kind);
/* A comma-separated list where every item is one of @names (the empty list is fine). */
bool gnt_check_enum_list(gnt_ctx *c, const gnt_line *l, const char *what, const char *field,
                         gnt_slice s, const char *const *names);

/* ---- nodes, instances and the fleet (ganeti-build.c) ---- */

void gnt_read_node(gnt_ctx *c, const gnt_line *l);
void gnt_read_instance(gnt_ctx *c, const gnt_line *l);
/* Builds the fleet from a context without problems; adjustments go to c->stats. */
hvf_fleet *gnt_build(gnt_ctx *c);
