/* SPDX-License-Identifier: MIT */
/* Host selectors (all, NAME, rack:R, zone:Z, tag:T) resolved against a fleet; docs/planning.md. */
#include "hvfleet/alloc.h"
#include "hvfleet/scenario.h"

int
hvf_scenario_select_hosts(const hvf_fleet *f, const char *sel, int32_t **out, size_t *n,
                          hvf_error *err)
{
    const char *arg = strchr(sel, ':');
    size_t before = *n;
    int kind = 0; /* 0 all, 1 rack, 2 zone, 3 tag, 4 name */

    if (strcmp(sel, "all") == 0)
        kind = 0;
    else if (strncmp(sel, "rack:", 5) == 0)
        kind = 1;
    else if (strncmp(sel, "zone:", 5) == 0)
        kind = 2;
    else if (strncmp(sel, "tag:", 4) == 0)
        kind = 3;
    else
        kind = 4;
    arg = arg ? arg + 1 : sel;
    for (size_t h = 0; h < f->nhosts; h++) {
        const hvf_host *host = &f->hosts[h];
        bool take = kind == 0;
        if (kind == 1)
            take = strcmp(f->racks[host->rack].name, arg) == 0;
        else if (kind == 2)
            take = strcmp(f->zones[host->zone].name, arg) == 0;
        else if (kind == 4)
            take = strcmp(host->name, sel) == 0;
        for (size_t t = 0; kind == 3 && t < host->ntags && !take; t++)
            take = strcmp(host->tags[t], arg) == 0;
        if (take) {
            *out = hvf_realloc(*out, (*n + 1) * sizeof(int32_t));
            (*out)[(*n)++] = (int32_t)h;
        }
    }
    if (*n == before && f->nhosts > 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND,
                      kind == 4 ? "expected a host name of the inventory, or all, rack:R, zone:Z, "
                                  "tag:T"
                                : "expected a selector that matches at least one host");
        return -1;
    }
    return 0;
}
