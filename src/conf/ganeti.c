/* SPDX-License-Identifier: MIT */
/* Ganeti htools text data -> fleet: split into sections and fields, check each line, then build. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>

#include "conf/ganeti-parse.h"
#include "conf/reader.h"
#include "hvfleet/alloc.h"
#include "hvfleet/utf8.h"
#include "util/text.h"
#include "hvfleet/ganeti.h"
#include "hvfleet/inventory.h"

/* ---- lines and sections ------------------------------------------------------------------ */

/*
 * Haskell's `lines` then `sepSplit ""`, as htools does: a final newline ends the last line, and
 * every empty line ends a section, so two empty lines in a row make an empty section.
 */
static void
gnt_split_sections(gnt_ctx *c, const char *buf, size_t len)
{
    size_t start = 0;
    int no = 0;
    size_t sec_first = 0;

    while (start < len) {
        const char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        gnt_line *l;

        no++;
        hvf_grow(&c->lines, &c->lines_cap, c->nlines + 1, sizeof(gnt_line));
        l = &c->lines[c->nlines++];
        l->p = buf + start;
        l->len = end - start;
        l->no = no;
        if (l->len > 0 && l->p[l->len - 1] == '\r') /* files edited on Windows */
            l->len--;
        start = end + 1;
    }
    c->last_line = no;
    if (c->nlines == 0)
        return;
    for (size_t i = 0; i <= c->nlines; i++) {
        if (i == c->nlines || c->lines[i].len == 0) {
            hvf_grow(&c->sections, &c->sections_cap, c->nsections + 1, sizeof(gnt_section));
            c->sections[c->nsections].first = sec_first;
            c->sections[c->nsections].n = i - sec_first;
            c->nsections++;
            sec_first = i + 1;
        }
    }
}

static const gnt_section *
gnt_section_at(const gnt_ctx *c, size_t i)
{
    static const gnt_section empty = {0, 0};

    return i < c->nsections ? &c->sections[i] : &empty;
}

/* ---- groups, policies, cluster tags -------------------------------------------------------- */

static const char *const gnt_alloc_policies[] = {GNT_ALLOC_POLICY_NAMES, NULL};
static const char *const gnt_disk_templates[] = {GNT_DT_NAMES, NULL};

static void
gnt_read_group(gnt_ctx *c, const gnt_line *l)
{
    gnt_slice f[GNT_MAX_FIELDS];
    size_t n = gnt_split(l->p, l->len, '|', f, GNT_MAX_FIELDS);
    gnt_group *g;
    char what[96];

    snprintf(what, sizeof(what), "groups[%.*s]", (int)(f[0].len > 63 ? 63 : f[0].len), f[0].p);
    if (n < 4) {
        gnt_report_line(c, l, "groups",
                        "expected at least 4 fields separated by '|' "
                        "(name|uuid|alloc_policy|tags), got %zu",
                        n);
        if (n < 2)
            return;
    } else {
        (void)gnt_check_name(c, l, what, "name", f[0], "a node group (an hvfleet zone)");
        if (f[1].len == 0)
            gnt_report(c, l->no, what, "uuid", f[1], "expected the group's UUID");
        if (gnt_enum(f[2], gnt_alloc_policies) < 0)
            gnt_report(c, l->no, what, "alloc_policy", f[2],
                       "expected preferred, last_resort or unallocable");
    }
    if (gnt_hash_has(&c->group_by_uuid, f[1]) || gnt_hash_has(&c->group_by_name, f[0])) {
        gnt_report(c, l->no, what, "name", f[0], "expected a group name and UUID used once");
        return;
    }
    /* Listed even when bad, so its nodes are not reported too; nothing is built after. */
    hvf_grow(&c->groups, &c->groups_cap, c->ngroups + 1, sizeof(gnt_group));
    g = &c->groups[c->ngroups];
    memset(g, 0, sizeof(*g));
    g->name = gnt_dup(f[0]);
    g->uuid = gnt_dup(f[1]);
    g->line = l->no;
    HVF_ASSERT(hvf_hash_put(&c->group_by_uuid, g->uuid, (int32_t)c->ngroups) == 0);
    HVF_ASSERT(hvf_hash_put(&c->group_by_name, g->name, (int32_t)c->ngroups) == 0);
    c->ngroups++;
}

/* "mem,cpu,disk,disk_count,nic_count,spindle_use": six integers, extras ignored as htools does. */
static bool
gnt_ispec_ok(gnt_slice s)
{
    gnt_slice v[GNT_MAX_FIELDS];
    size_t n = gnt_split(s.p, s.len, ',', v, GNT_MAX_FIELDS);
    int64_t x;

    if (n < 6)
        return false;
    for (size_t i = 0; i < 6; i++) {
        if (!gnt_parse_int(v[i], &x))
            return false;
    }
    return true;
}

static void
gnt_read_policy(gnt_ctx *c, const gnt_line *l)
{
    gnt_slice f[GNT_MAX_FIELDS], specs[GNT_MAX_FIELDS];
    size_t n = gnt_split(l->p, l->len, '|', f, GNT_MAX_FIELDS);
    size_t nspecs;
    double vcpu_ratio = 0, mem_ratio = 0;
    int32_t g = -1;
    char what[96];

    if (n < 6) {
        gnt_report_line(c, l, "policies",
                        "expected at least 6 fields separated by '|' "
                        "(owner|std_spec|min;max_specs|disk_templates|vcpu_ratio|spindle_ratio), "
                        "got %zu",
                        n);
        return;
    }
    snprintf(what, sizeof(what), "policies[%.*s]", (int)(f[0].len > 63 ? 63 : f[0].len), f[0].p);
    if (f[0].len > 0) {
        HVF_AUTOFREE char *owner = gnt_dup(f[0]);
        g = hvf_hash_get(&c->group_by_name, owner);
        if (g < 0) {
            gnt_report(c, l->no, what, "owner", f[0],
                       "expected empty (the cluster) or the name of a group in the groups section");
            return;
        }
    }
    if (!gnt_ispec_ok(f[1])) {
        gnt_report(c, l->no, what, "std_spec", f[1],
                   "expected 6 integers mem,cpu,disk,disk_count,nic_count,spindle_use");
        return;
    }
    nspecs = f[2].len ? gnt_split(f[2].p, f[2].len, ';', specs, GNT_MAX_FIELDS) : 0;
    for (size_t i = 0; i < nspecs && i < GNT_MAX_FIELDS; i++) {
        if (!gnt_ispec_ok(specs[i])) {
            gnt_report(c, l->no, what, "minmax_specs", f[2],
                       "expected min;max pairs of 6 integers mem,cpu,disk,disk_count,nic_count,"
                       "spindle_use");
            return;
        }
    }
    if (nspecs % 2 != 0) {
        gnt_report(c, l->no, what, "minmax_specs", f[2], "expected min;max specs in pairs");
        return;
    }
    if (!gnt_check_enum_list(c, l, what, "disk_templates", f[3], gnt_disk_templates))
        return;
    if (!gnt_parse_double(f[4], &vcpu_ratio) || vcpu_ratio < 0.01 || vcpu_ratio > 1000) {
        gnt_report(c, l->no, what, "vcpu_ratio", f[4], "expected a number from 0.01 to 1000");
        return;
    }
    if (!gnt_parse_double(f[5], &mem_ratio)) {
        gnt_report(c, l->no, what, "spindle_ratio", f[5], "expected a number");
        return;
    }
    /* Ganeti 3.1 adds memory_ratio; 3.0 ignores the field. */
    mem_ratio = 0;
    if (n >= 7 && (!gnt_parse_double(f[6], &mem_ratio) || mem_ratio < 0.01 || mem_ratio > 100)) {
        gnt_report(c, l->no, what, "memory_ratio", f[6], "expected a number from 0.01 to 100");
        return;
    }
    if (g < 0) {
        c->cluster_vcpu_ratio = vcpu_ratio;
        c->cluster_mem_ratio = mem_ratio;
    } else {
        c->groups[g].vcpu_ratio = vcpu_ratio;
        c->groups[g].mem_ratio = mem_ratio;
    }
}

static void
gnt_push_prefix(gnt_ctx *c, char ***list, size_t *n, size_t *cap, gnt_slice s)
{
    hvf_grow(list, cap, *n + 1, sizeof(char *));
    (*list)[(*n)++] = gnt_dup(s);
}

/* "hvfleet:service:NAME:SPREAD:MIN_AVAILABLE[:critical]" */
static void
gnt_read_service_def(gnt_ctx *c, const gnt_line *l, gnt_slice rest)
{
    gnt_slice f[GNT_MAX_FIELDS];
    size_t n = gnt_split(rest.p, rest.len, ':', f, GNT_MAX_FIELDS);
    gnt_svcdef d = {0};
    uint64_t min = 0;
    HVF_AUTOFREE char *spread = NULL;

    if (n >= 3 && n <= 4) {
        spread = gnt_dup(f[1]);
        d.spread = hvf_spread_from_string(spread);
    }
    if (n < 3 || n > 4 || !gnt_slice_valid_name(f[0]) || d.spread < 0 ||
        !gnt_parse_uint(f[2], 1000000, &min) || (n == 4 && !gnt_slice_eq(f[3], "critical"))) {
        gnt_report_line(c, l, "cluster_tags",
                        "expected " GNT_CTAG_SERVICE
                        "NAME:host|rack|zone:MIN_AVAILABLE[:critical]");
        return;
    }
    d.name = gnt_dup(f[0]);
    d.min_available = (uint32_t)min;
    d.critical = n == 4;
    d.line = l->no;
    hvf_grow(&c->svcdefs, &c->svcdefs_cap, c->nsvcdefs + 1, sizeof(gnt_svcdef));
    c->svcdefs[c->nsvcdefs++] = d;
}

static void
gnt_read_cluster_tag(gnt_ctx *c, const gnt_line *l)
{
    gnt_slice s = {l->p, l->len};

    if (gnt_slice_strip_prefix(&s, GNT_CTAG_IEXTAGS))
        gnt_push_prefix(c, &c->iextags, &c->niextags, &c->iextags_cap, s);
    else if (gnt_slice_strip_prefix(&s, GNT_CTAG_NLOCATION))
        gnt_push_prefix(c, &c->nlocations, &c->nnlocations, &c->nlocations_cap, s);
    else if (gnt_slice_strip_prefix(&s, GNT_CTAG_SERVICE))
        gnt_read_service_def(c, l, s);
}

/* ---- entry points ---------------------------------------------------------------------------- */

static hvf_fleet *
gnt_parse(gnt_ctx *c, const char *buf, size_t len, hvf_error *err)
{
    const gnt_section *s;
    hvf_fleet *f = NULL;
    size_t before = c->diags->total;
    const char *nul;
    size_t bad;

    bad = hvf_utf8_invalid_at(buf, len);
    nul = memchr(buf, '\0', len);
    if (nul && (size_t)(nul - buf) < bad)
        bad = (size_t)(nul - buf);
    if (bad < len) {
        /* Tags and names travel into YAML, which must be UTF-8 text; say where it is not. */
        int line = 1;
        size_t col = 1;
        for (size_t i = 0; i < bad; i++, col++) {
            if (buf[i] == '\n') {
                line++;
                col = 0;
            }
        }
        hvf_diags_add(c->diags, "%s:%d: file: byte 0x%02x at column %zu: expected UTF-8 text",
                      c->file, line, (unsigned char)buf[bad], col);
        goto done;
    }
    gnt_split_sections(c, buf, len);
    if (c->nlines == 0) {
        hvf_diags_add(c->diags,
                      "%s:1: file: '': expected groups, nodes and instances sections "
                      "separated by empty lines (htools text format), got an empty file",
                      c->file);
        goto done;
    }
    if (c->nsections < 3) {
        hvf_diags_add(c->diags,
                      "%s:%d: file: '%zu section%s': expected at least 3 sections "
                      "(groups, nodes, instances, then cluster tags and policies) separated by "
                      "single empty lines",
                      c->file, c->last_line, c->nsections, c->nsections == 1 ? "" : "s");
        goto done;
    }
    s = gnt_section_at(c, 0);
    for (size_t i = 0; i < s->n; i++)
        gnt_read_group(c, &c->lines[s->first + i]);
    s = gnt_section_at(c, 4);
    for (size_t i = 0; i < s->n; i++)
        gnt_read_policy(c, &c->lines[s->first + i]);
    s = gnt_section_at(c, 3);
    for (size_t i = 0; i < s->n; i++)
        gnt_read_cluster_tag(c, &c->lines[s->first + i]);
    s = gnt_section_at(c, 1);
    for (size_t i = 0; i < s->n; i++)
        gnt_read_node(c, &c->lines[s->first + i]);
    if (s->n == 0) {
        /* A cluster has at least its master node; nothing else would make a fleet. */
        hvf_diags_add(c->diags,
                      "%s:%d: nodes: '': expected at least one node line after the "
                      "groups and their empty line",
                      c->file, s->first < c->nlines ? c->lines[s->first].no : c->last_line);
    }
    s = gnt_section_at(c, 2);
    for (size_t i = 0; i < s->n; i++)
        gnt_read_instance(c, &c->lines[s->first + i]);
    if (c->diags->total == before)
        f = gnt_build(c);

done:
    if (c->diags->total > before) {
        hvf_fleet_free(f);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' has %zu problem%s", c->file,
                      c->diags->total - before, c->diags->total - before == 1 ? "" : "s");
        return NULL;
    }
    return f;
}

hvf_fleet *
hvf_ganeti_parse_stats(const char *name, const char *buf, size_t len, hvf_ganeti_stats *stats,
                       hvf_diags *diags, hvf_error *err)
{
    hvf_ganeti_stats local;
    gnt_ctx c;
    hvf_fleet *f;

    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    hvf_diags_init(&stats->notes);
    gnt_ctx_init(&c, name, diags, stats);
    f = gnt_parse(&c, buf, len, err);
    gnt_ctx_clear(&c);
    if (stats == &local)
        hvf_ganeti_stats_clear(&local);
    return f;
}

hvf_fleet *
hvf_ganeti_parse(const char *name, const char *buf, size_t len, hvf_diags *diags, hvf_error *err)
{
    return hvf_ganeti_parse_stats(name, buf, len, NULL, diags, err);
}

hvf_fleet *
hvf_ganeti_load(const char *path, hvf_ganeti_stats *stats, hvf_diags *diags, hvf_error *err)
{
    size_t n = 0;
    HVF_AUTOFREE char *buf = hvf_text_read_file(path, HVF_CONF_MAX_BYTES, &n, err);

    if (!buf)
        return NULL;
    return hvf_ganeti_parse_stats(path, buf, n, stats, diags, err);
}

void
hvf_ganeti_stats_clear(hvf_ganeti_stats *stats)
{
    if (!stats)
        return;
    hvf_diags_clear(&stats->notes);
}
