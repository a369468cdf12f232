/* SPDX-License-Identifier: MIT */
/* Re-verifying a plan against the current inventory before anything runs (stale plans). */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/plan.h"

typedef struct check_ctx {
    const hvf_fleet *fleet;
    hvf_diags *out;
    size_t before;
    hvf_hash missing; /* names already reported as gone (keys borrowed from the plan) */
    bool *host_checked;
} check_ctx;

/* Index of host @name, reporting it once if it is gone. */
static int32_t
check_host(check_ctx *c, const char *name, const char *role)
{
    int32_t h = hvf_fleet_find_host(c->fleet, name);

    if (h < 0 && hvf_hash_put(&c->missing, name, 0) == 0)
        hvf_diags_add(c->out, "host '%s' (%s) is no longer in the inventory", name, role);
    return h;
}

typedef struct check_first {
    int64_t t_ms;
    const char *from; /* borrowed from the plan */
} check_first;

static void
check_first_seen(check_first *first, int32_t vm, int64_t t_ms, const char *from)
{
    if (!first[vm].from || t_ms < first[vm].t_ms) {
        first[vm].t_ms = t_ms;
        first[vm].from = from;
    }
}

size_t
hvf_plan_check(const hvf_plan *plan, const hvf_fleet *f, hvf_diags *out)
{
    HVF_AUTOFREE check_first *first = hvf_calloc(f->nvms + 1, sizeof(check_first));
    char now_fp[HVF_SHA256_HEX_LEN + 1];
    check_ctx c = {f, out, out->total, {0}, NULL};

    hvf_hash_init(&c.missing);
    if (!hvf_plan_hash_ok(plan))
        hvf_diags_add(out,
                      "plan_hash %.12s does not match the plan's content: the plan was "
                      "changed after it was made",
                      plan->summary.plan_hash);
    hvf_plan_inventory_fingerprint(f, now_fp);
    if (strcmp(now_fp, plan->inventory_fingerprint) != 0)
        hvf_diags_add(out,
                      "the inventory changed since the plan was made (fingerprint %.12s then, "
                      "%.12s now)",
                      plan->inventory_fingerprint, now_fp);
    for (size_t i = 0; i < plan->nhosts; i++) {
        const hvf_plan_host *ph = &plan->hosts[i];
        int32_t h = check_host(&c, ph->host, "to maintain");
        uint64_t usable;

        if (h < 0)
            continue;
        usable = hvf_host_usable(&f->hosts[h]).mem_mib;
        if (f->hosts[h].state != HVF_HOST_STATE_ACTIVE)
            hvf_diags_add(out, "host '%s' is %s now, it was active when planned", ph->host,
                          hvf_host_state_to_string(f->hosts[h].state));
        if (usable != ph->usable_mib)
            hvf_diags_add(out,
                          "host '%s' has %" PRIu64 " MiB usable now, %" PRIu64 " MiB when planned",
                          ph->host, usable, ph->usable_mib);
    }
    for (size_t i = 0; i < plan->nmigrations; i++) {
        const hvf_plan_migration *m = &plan->migrations[i];
        int32_t vm = hvf_fleet_find_vm(f, m->vm);

        check_host(&c, m->from, "a migration source");
        check_host(&c, m->to, "a migration target");
        if (vm < 0) {
            if (hvf_hash_put(&c.missing, m->vm, 0) == 0)
                hvf_diags_add(out, "VM '%s' is no longer in the inventory", m->vm);
            continue;
        }
        if (f->vms[vm].mem_mib != m->memory_mib && !first[vm].from)
            hvf_diags_add(out, "VM '%s' has %" PRIu64 " MiB now, %" PRIu64 " MiB when planned",
                          m->vm, f->vms[vm].mem_mib, m->memory_mib);
        check_first_seen(first, vm, m->start_ms, m->from);
    }
    for (size_t i = 0; i < plan->nstops; i++) {
        const hvf_plan_stop *s = &plan->stops[i];
        int32_t vm = hvf_fleet_find_vm(f, s->vm);

        check_host(&c, s->host, "where a VM stops");
        check_host(&c, s->start_host, "where a VM starts again");
        if (vm < 0) {
            if (hvf_hash_put(&c.missing, s->vm, 0) == 0)
                hvf_diags_add(out, "VM '%s' is no longer in the inventory", s->vm);
            continue;
        }
        check_first_seen(first, vm, s->stop_ms, s->host);
    }
    for (size_t v = 0; v < f->nvms; v++) {
        const char *now = f->hosts[f->vms[v].host].name;
        if (first[v].from && strcmp(first[v].from, now) != 0)
            hvf_diags_add(out, "VM '%s' is on '%s' now; the plan moves it from '%s'",
                          f->vms[v].name, now, first[v].from);
    }
    hvf_hash_clear(&c.missing);
    return out->total - c.before;
}
