/* SPDX-License-Identifier: MIT */
/*
 * Readers every part of a scenario file shares: host and VM selections, durations that may be
 * "never", names. scenario.c and the section readers (scenario-*.c) call these; nothing here
 * calls back into them, so reading flows one way (scripts/check-scenario-deps checks it).
 */
#include <inttypes.h>

#include "conf/reader.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/scenario.h"
#include "hvfleet/strbuf.h"
#include "hvfleet/units.h"

/* ---- host selections ---- */

/* The node of @list (a sequence of @n scalars in @texts) that a selector error quotes: each
 * message starts with the term or item it is about, 'TEXT'. */
static struct fy_node *
scc_blame(struct fy_node *list, char **texts, size_t n, const char *msg)
{
    char quoted[256];
    const char *end = msg[0] == '\'' ? strchr(msg + 1, '\'') : NULL;
    size_t len = end ? (size_t)(end - msg - 1) : 0;

    if (!end || len == 0 || len >= sizeof(quoted))
        return list;
    memcpy(quoted, msg + 1, len);
    quoted[len] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (texts[i] && strstr(texts[i], quoted))
            return fy_node_sequence_get_by_index(list, (int)i);
    }
    return list;
}

/* Reports a selector error at @node, whose value the report quotes already. */
static void
scc_report_selector(hvf_reader *r, struct fy_node *node, const char *field, const char *msg)
{
    HVF_AUTOFREE char *value = fy_node_is_scalar(node) ? hvf_reader_scalar_dup(node) : NULL;

    hvf_reader_report(r, node, field, "%s", hvf_scenario_selector_msg(value, msg));
}

/* A selector node: one selector expression, or a list of them read as one expression (so an
 * exclusion in a list applies to the whole list). Errors go to the item they are about. */
void
sc_read_selector(hvf_reader *r, const hvf_fleet *f, struct fy_node *node, const char *field,
                 int32_t **out, size_t *n)
{
    hvf_error err = HVF_ERROR_INIT;
    struct fy_node *item;
    void *iter = NULL;
    hvf_strbuf expr = HVF_STRBUF_INIT;
    HVF_AUTOFREE char **texts = NULL;
    size_t ntexts = 0;
    bool bad = false;

    if (node && fy_node_is_sequence(node)) {
        texts = hvf_calloc((size_t)fy_node_sequence_item_count(node) + 1, sizeof(char *));
        while ((item = fy_node_sequence_iterate(node, &iter)) != NULL) {
            char *s = hvf_reader_scalar_dup(item);
            if (!s || hvf_scenario_selector_check(s, &err) < 0) {
                hvf_reader_report(r, item, field, "%s",
                                  s ? hvf_scenario_selector_msg(s, err.msg)
                                    : "expected a host selector, e.g. rack:z1/r01");
                bad = true;
            }
            if (s)
                hvf_strbuf_printf(&expr, "%s%s", ntexts ? "," : "", s);
            texts[ntexts++] = s;
        }
        if (ntexts == 0) {
            hvf_reader_report(r, node, field, "expected at least one host selector");
            bad = true;
        }
    } else {
        char *s = hvf_reader_scalar_dup(node);
        if (!s) {
            hvf_reader_report(r, node, field,
                              "expected all, a host name, rack:[ZONE/]RACK, zone:Z, tag:T, "
                              "comma-separated (or a list of them)");
            return;
        }
        hvf_strbuf_puts(&expr, s);
        free(s);
    }
    if (!bad && hvf_scenario_select_hosts(f, expr.buf ? expr.buf : "", out, n, &err) < 0)
        scc_report_selector(r, texts ? scc_blame(node, texts, ntexts, err.msg) : node, field,
                            err.msg);
    for (size_t i = 0; i < ntexts; i++)
        free(texts[i]);
    hvf_strbuf_clear(&expr);
}

/* A duration, or "never" (-1); @dflt when absent. */
int64_t
sc_duration_or_never(hvf_reader *r, struct fy_node *node, const char *field, int64_t dflt)
{
    HVF_AUTOFREE char *s = NULL;
    hvf_error err = HVF_ERROR_INIT;
    int64_t us = 0;

    if (!node)
        return dflt;
    s = hvf_reader_scalar_dup(node);
    if (s && strcmp(s, "never") == 0)
        return -1;
    if (!s || hvf_units_parse_duration(s, &us, &err) < 0) {
        hvf_reader_report(r, node, field, "expected a duration such as 90s or 5m, or never");
        return dflt;
    }
    return us;
}

/* ---- VM selections ---- */

/* Marks the VMs one selector names: all, service:S, max_memory:SIZE or a VM name. */
static int
scc_select_vm(const hvf_fleet *f, const char *sel, bool *mark, hvf_error *err)
{
    size_t before = 0, after = 0;
    uint64_t bytes = 0;
    int32_t svc = -1;

    for (size_t v = 0; v < f->nvms; v++)
        before += mark[v];
    if (strcmp(sel, "all") == 0) {
        for (size_t v = 0; v < f->nvms; v++)
            mark[v] = true;
    } else if (strncmp(sel, "service:", 8) == 0) {
        svc = hvf_fleet_find_service(f, sel + 8);
        if (svc < 0) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND,
                          "expected the name of a service in the inventory");
            return -1;
        }
        for (size_t v = 0; v < f->nvms; v++)
            mark[v] = mark[v] || f->vms[v].service == svc;
    } else if (strncmp(sel, "max_memory:", 11) == 0) {
        if (hvf_units_parse_size(sel + 11, HVF_MIB, &bytes, err) < 0) {
            hvf_error_set(err, HVF_ERR_INVALID, "expected max_memory:SIZE, e.g. max_memory:1GiB");
            return -1;
        }
        for (size_t v = 0; v < f->nvms; v++)
            mark[v] = mark[v] || f->vms[v].mem_mib * HVF_MIB <= bytes;
    } else {
        int32_t vm = hvf_fleet_find_vm(f, sel);
        if (vm < 0) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND,
                          "expected all, service:S, max_memory:SIZE or a VM name of the inventory");
            return -1;
        }
        mark[vm] = true;
    }
    for (size_t v = 0; v < f->nvms; v++)
        after += mark[v];
    if (after == before && strcmp(sel, "all") != 0 && f->nvms > 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "expected a selector that adds at least one VM");
        return -1;
    }
    return 0;
}

static void
scc_mark_vms(hvf_reader *r, const hvf_fleet *f, struct fy_node *node, const char *field, bool *mark)
{
    HVF_AUTOFREE char *s = NULL;
    hvf_error err = HVF_ERROR_INIT;
    struct fy_node *item;
    void *iter = NULL;

    if (node && fy_node_is_sequence(node)) {
        while ((item = fy_node_sequence_iterate(node, &iter)) != NULL)
            scc_mark_vms(r, f, item, field, mark);
        return;
    }
    s = hvf_reader_scalar_dup(node);
    if (!s) {
        hvf_reader_report(r, node, field,
                          "expected all, service:S, max_memory:SIZE, a VM name or a list of them");
        return;
    }
    if (scc_select_vm(f, s, mark, &err) < 0)
        hvf_reader_report(r, node, field, "%s", err.msg);
}

/* VM indexes in fleet order (NULL node: none, i.e. every VM for the components). */
void
sc_read_vm_selection(hvf_reader *r, const hvf_fleet *f, struct fy_node *node, const char *field,
                     int32_t **out, size_t *n)
{
    HVF_AUTOFREE bool *mark = NULL;

    if (!node)
        return;
    mark = hvf_calloc(f->nvms + 1, sizeof(bool));
    scc_mark_vms(r, f, node, field, mark);
    for (size_t v = 0; v < f->nvms; v++) {
        if (mark[v]) {
            *out = hvf_realloc(*out, (*n + 1) * sizeof(int32_t));
            (*out)[(*n)++] = (int32_t)v;
        }
    }
}

void
sc_copy_name(char *dst, size_t size, char **src)
{
    if (*src)
        hvf_strlcpy(dst, *src, size);
}
