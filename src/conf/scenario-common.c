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
#include "hvfleet/units.h"

/* ---- host selections ---- */

/* A selector node: one selector, or a list of them. */
void
sc_read_selector(hvf_reader *r, const hvf_fleet *f, struct fy_node *node, const char *field,
                 int32_t **out, size_t *n)
{
    hvf_error err = HVF_ERROR_INIT;
    struct fy_node *item;
    void *iter = NULL;
    HVF_AUTOFREE char *s = NULL;

    if (node && fy_node_is_sequence(node)) {
        while ((item = fy_node_sequence_iterate(node, &iter)) != NULL)
            sc_read_selector(r, f, item, field, out, n);
        return;
    }
    s = hvf_reader_scalar_dup(node);
    if (!s) {
        hvf_reader_report(r, node, field,
                          "expected all, rack:R, zone:Z, tag:T, a host name or a "
                          "list of them");
        return;
    }
    if (hvf_scenario_select_hosts(f, s, out, n, &err) < 0)
        hvf_reader_report(r, node, field, "%s", err.msg);
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
