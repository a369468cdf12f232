/* SPDX-License-Identifier: MIT */
/*
 * Relations between services in an inventory: depends_on (a service does not work without
 * another: monitoring without its alert path) and must_not_share (no single failure may take
 * both: monitoring and what it monitors). Read once every service is known, so a list may name
 * a service defined after it.
 */
#include <stdio.h>

#include "conf/inventory-priv.h"
#include "hvfleet/alloc.h"

static const char *const inv_rel_keys[] = {"depends_on", "must_not_share", NULL};
_Static_assert(HVF_ARRAY_LEN(inv_rel_keys) == HVF_SERVICE_REL_LAST + 1, "keys");

static void
inv_read_rel(hvf_reader *r, struct fy_node *list, const char *path, hvf_fleet *f, int32_t svc,
             hvf_service_rel rel)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t j = 0;
    char field[96];

    snprintf(field, sizeof(field), "%s.%s", path, inv_rel_keys[rel]);
    if (!fy_node_is_sequence(list)) {
        hvf_reader_report(r, list, field, "expected a list of service names, e.g. [ticketing]");
        return;
    }
    while ((item = fy_node_sequence_iterate(list, &iter)) != NULL) {
        HVF_AUTOFREE char *name = hvf_reader_scalar_dup(item);
        hvf_error err = HVF_ERROR_INIT;
        int32_t other;

        snprintf(field, sizeof(field), "%s.%s[%zu]", path, inv_rel_keys[rel], j++);
        other = name ? hvf_fleet_find_service(f, name) : -1;
        if (other < 0) {
            hvf_reader_report(r, item, field, "expected the name of a service in this inventory");
            continue;
        }
        if (hvf_fleet_service_relate(f, svc, rel, other, &err) < 0)
            hvf_reader_report(r, item, field, "expected another service, each named once (%s)",
                              err.msg);
    }
}

void
inv_read_service_relations(hvf_reader *r, struct fy_node *seq, hvf_fleet *f)
{
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!seq || !fy_node_is_sequence(seq))
        return; /* reported by the first pass */
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        HVF_AUTOFREE char *name = NULL;
        int32_t svc;

        snprintf(path, sizeof(path), "services[%zu]", i++);
        if (!fy_node_is_mapping(item))
            continue;
        name = hvf_reader_scalar_dup(fy_node_mapping_lookup_by_string(item, "name", FY_NT));
        svc = name ? hvf_fleet_find_service(f, name) : -1;
        /* an entry the first pass refused (or a second one of the same name) has been reported */
        if (svc < 0 || f->services[svc].line != hvf_reader_line(item))
            continue;
        for (int k = 0; k < HVF_SERVICE_REL_LAST; k++) {
            struct fy_node *list = fy_node_mapping_lookup_by_string(item, inv_rel_keys[k], FY_NT);
            if (list)
                inv_read_rel(r, list, path, f, svc, (hvf_service_rel)k);
        }
    }
}

void
inv_format_service_relations(const hvf_fleet *f, const hvf_service *s, hvf_strbuf *out)
{
    for (int k = 0; k < HVF_SERVICE_REL_LAST; k++) {
        if (s->nrel[k] == 0)
            continue;
        hvf_strbuf_printf(out, ", %s: [", inv_rel_keys[k]);
        for (size_t i = 0; i < s->nrel[k]; i++) {
            const char *name = f->services[s->rel[k][i]].name;
            if (i)
                hvf_strbuf_puts(out, ", ");
            /* as inventory.c writes names: quoted when they would read as a list item or null */
            if (name[0] == '-' || strcmp(name, "null") == 0 || strcmp(name, "Null") == 0 ||
                strcmp(name, "NULL") == 0)
                hvf_strbuf_quote(out, name);
            else
                hvf_strbuf_puts(out, name);
        }
        hvf_strbuf_puts(out, "]");
    }
}
