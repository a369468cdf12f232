/* SPDX-License-Identifier: MIT */
/*
 * A change's names against a fleet: its gates' services, its targets and its canary units. The
 * change planner starts from what this resolves, and the scenario reader checks with it.
 */
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change.h"
#include "hvfleet/scenario.h"
#include "hvfleet/strbuf.h"

void
hvf_change_limits_from_policy(const hvf_policy *p, hvf_change_limits *out)
{
    out->max_parallel = p->max_parallel_hosts;
    out->max_per_rack = p->max_parallel_per_rack;
    out->max_per_zone = p->max_parallel_per_zone;
}

static void
cr_add(hvf_change_target **units, size_t *n, int32_t host, int32_t vm)
{
    *units = hvf_realloc(*units, (*n + 1) * sizeof(hvf_change_target));
    (*units)[(*n)++] = (hvf_change_target){host, vm};
}

static int
cr_targets(const hvf_fleet *f, const hvf_change *c, hvf_change_target **units, size_t *n,
           hvf_error *err)
{
    if (c->service) {
        int32_t s = hvf_fleet_find_service(f, c->service);
        if (s < 0) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND,
                          "targets.service: '%s': expected a service of the inventory", c->service);
            return -1;
        }
        for (size_t v = 0; v < f->nvms; v++) {
            if (f->vms[v].service == s)
                cr_add(units, n, f->vms[v].host, (int32_t)v);
        }
    } else {
        /* the list is one selector expression: an exclusion applies to the whole list */
        HVF_AUTOFREE bool *take = hvf_calloc(f->nhosts + 1, sizeof(bool));
        HVF_AUTOFREE int32_t *hosts = NULL;
        hvf_strbuf expr = HVF_STRBUF_INIT;
        size_t nh = 0;
        int rc;
        for (size_t i = 0; i < c->nhosts; i++)
            hvf_strbuf_printf(&expr, "%s%s", i ? "," : "", c->hosts[i]);
        rc = hvf_scenario_select_hosts(f, expr.buf ? expr.buf : "", &hosts, &nh, err);
        hvf_strbuf_clear(&expr);
        if (rc < 0) {
            hvf_error_prefix(err, "targets.hosts: ");
            return -1;
        }
        for (size_t k = 0; k < nh; k++)
            take[hosts[k]] = true;
        for (size_t h = 0; h < f->nhosts; h++) {
            if (take[h])
                cr_add(units, n, (int32_t)h, -1);
        }
    }
    if (*n == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "targets: the change '%s' selects no %s", c->name,
                      c->service ? "VM (the service has none)" : "host");
        return -1;
    }
    return 0;
}

int
hvf_change_resolve(const hvf_fleet *f, const hvf_change *c, hvf_change_target **units,
                   size_t *nunits, uint32_t **canary, hvf_error *err)
{
    *units = NULL;
    *nunits = 0;
    *canary = NULL;
    for (size_t i = 0; i < c->ngates; i++) {
        if (c->gates[i].type == HVF_CHANGE_GATE_SERVICE_ANSWERS &&
            hvf_fleet_find_service(f, c->gates[i].service) < 0) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND,
                          "gates[%zu].service: '%s': expected a service of the inventory", i,
                          c->gates[i].service);
            return -1;
        }
    }
    if (cr_targets(f, c, units, nunits, err) < 0)
        goto fail;
    *canary = hvf_calloc(c->ncanary_units + 1, sizeof(uint32_t));
    for (size_t i = 0; i < c->ncanary_units; i++) {
        size_t u;
        for (u = 0; u < *nunits; u++) {
            const hvf_change_target *t = &(*units)[u];
            const char *name = t->vm >= 0 ? f->vms[t->vm].name : f->hosts[t->host].name;
            if (strcmp(name, c->canary_units[i]) == 0)
                break;
        }
        if (u == *nunits) {
            hvf_error_set(err, HVF_ERR_NOT_FOUND,
                          "waves.canary_units: '%s': expected one of the change's targets",
                          c->canary_units[i]);
            goto fail;
        }
        (*canary)[i] = (uint32_t)u;
    }
    return 0;

fail:
    free(*units);
    free(*canary);
    *units = NULL;
    *nunits = 0;
    *canary = NULL;
    return -1;
}
