/* SPDX-License-Identifier: MIT */
/*
 * The audit of hvfleetd's own watchers (hvfleet/audit.h, hvf_audit_watchers): a peer, webhook
 * or dead-man's switch that runs on a host or VM of the fleet hvfleetd watches shares that
 * host's fault domain (its rack, its zone) with what it watches: the loss that should raise the
 * alarm also silences it (seed 002: the monitoring ran on the hypervisor it watched).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hvfleet/alloc.h"
#include "hvfleet/audit.h"

/* Whether URL host @h (lower case) names @name: the name itself, or its first DNS label. */
static bool
watch_names(const char *h, const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || strncasecmp(h, name, n) != 0)
        return false;
    return h[n] == '\0' || h[n] == '.';
}

size_t
hvf_audit_watchers(const hvf_fleet *f, const hvf_watchers *w, hvf_watch_finding **out)
{
    size_t n = 0;

    *out = NULL;
    for (size_t i = 0; i < w->n; i++) {
        const char *h = w->v[i].host;
        int32_t host = -1, vm = -1;

        for (size_t k = 0; k < f->nhosts && host < 0; k++)
            if (watch_names(h, f->hosts[k].name) ||
                (f->hosts[k].migration_address &&
                 strcasecmp(h, f->hosts[k].migration_address) == 0))
                host = (int32_t)k;
        for (size_t k = 0; k < f->nvms && host < 0 && vm < 0; k++)
            if (watch_names(h, f->vms[k].name)) {
                vm = (int32_t)k;
                host = f->vms[k].host;
            }
        if (host < 0 && vm < 0)
            continue;
        *out = hvf_realloc(*out, (n + 1) * sizeof(**out));
        (*out)[n].watcher = i;
        (*out)[n].host = host;
        (*out)[n].vm = vm;
        n++;
    }
    return n;
}

static const char *const watch_kind_names[] = {"peer", "webhook", "dead-man's switch"};

void
hvf_audit_watch_describe(const hvf_fleet *f, const hvf_watchers *w, const hvf_watch_finding *x,
                         hvf_strbuf *out)
{
    const hvf_watcher *wa = &w->v[x->watcher];
    const hvf_host *h = x->host >= 0 ? &f->hosts[x->host] : NULL;

    hvf_strbuf_printf(out, "%s %s (%s", watch_kind_names[wa->kind], wa->host,
                      hvf_watcher_keys[wa->kind]);
    if (wa->line > 0)
        hvf_strbuf_printf(out, ", line %d", wa->line);
    hvf_strbuf_puts(out, ") runs on ");
    if (x->vm >= 0)
        hvf_strbuf_printf(out, "VM %s%s", f->vms[x->vm].name, h ? ", on " : "");
    if (h) {
        hvf_strbuf_printf(out, "host %s", h->name);
        if (h->rack >= 0)
            hvf_strbuf_printf(out, " (rack %s", f->racks[h->rack].name);
        if (h->zone >= 0)
            hvf_strbuf_printf(out, "%szone %s", h->rack >= 0 ? ", " : " (", f->zones[h->zone].name);
        if (h->rack >= 0 || h->zone >= 0)
            hvf_strbuf_puts(out, ")");
    }
    hvf_strbuf_puts(out, " of the fleet it watches: losing that host silences it with what it "
                         "watches; move it out of the fleet's fault domains");
}
