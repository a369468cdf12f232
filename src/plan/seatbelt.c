/* SPDX-License-Identifier: MIT */
/* The seatbelt's verdict on a plan, from the plan, the policy and the inventory. */
#include <inttypes.h>
#include <stdlib.h>

#include "hvfleet/alloc.h"
#include "hvfleet/seatbelt.h"
#include "hvfleet/units.h"

/* Sweep events: +x at a start, -x at an end; ends sort first so touching intervals don't add. */
typedef struct sb_event {
    int64_t t_ms;
    int64_t delta;
} sb_event;

static int
sb_event_cmp(const void *a, const void *b)
{
    const sb_event *x = a, *y = b;

    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    return (x->delta > y->delta) - (x->delta < y->delta);
}

/* Largest sum of deltas reached over time. */
static int64_t
sb_sweep_max(sb_event *ev, size_t n)
{
    int64_t cur = 0, max = 0;

    qsort(ev, n, sizeof(sb_event), sb_event_cmp);
    for (size_t i = 0; i < n; i++) {
        cur += ev[i].delta;
        if (cur > max)
            max = cur;
    }
    return max;
}

uint32_t
hvf_seatbelt_capacity_offline_ppm(const hvf_plan *plan, const hvf_fleet *fleet)
{
    HVF_AUTOFREE sb_event *ev = hvf_calloc(2 * plan->nhosts + 1, sizeof(sb_event));
    uint64_t total = 0;
    size_t n = 0;

    for (size_t h = 0; h < fleet->nhosts; h++) {
        if (fleet->hosts[h].state == HVF_HOST_STATE_ACTIVE)
            total += hvf_host_usable(&fleet->hosts[h]).mem_mib;
    }
    for (size_t i = 0; i < plan->nhosts; i++) {
        const hvf_plan_host *h = &plan->hosts[i];
        /* Offline from the start of its evacuation (its memory takes no new VMs) to the end of
         * its maintenance. */
        ev[n++] = (sb_event){h->evacuate_start_ms, (int64_t)h->usable_mib};
        ev[n++] = (sb_event){h->maintenance_end_ms, -(int64_t)h->usable_mib};
    }
    if (total == 0)
        return 0;
    return hvf_plan_ppm((double)sb_sweep_max(ev, n) / (double)total);
}

static void
sb_raise(hvf_plan *plan, hvf_plan_verdict v)
{
    if (v > plan->summary.verdict)
        plan->summary.verdict = v;
}

/* True when @name is a VM of @fleet that cannot live-migrate at all (migratable: false). */
static bool
sb_unmigratable(const hvf_fleet *fleet, const char *name)
{
    int32_t vm = hvf_fleet_find_vm(fleet, name);

    return vm >= 0 && !fleet->vms[vm].migratable;
}

/* "a, b, c and 4 more" of the VMs in @plan's non_converging list with @action that are (or,
 * with !@unmigratable, are not) marked migratable: false in @fleet. */
static size_t
sb_vm_list(const hvf_plan *plan, const hvf_fleet *fleet, hvf_non_converging action,
           bool unmigratable, char *buf, size_t size)
{
    const hvf_plan_summary *s = &plan->summary;
    size_t n = 0, o = 0;

    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < s->nnon_converging; i++) {
        if (s->non_converging[i].action != action ||
            sb_unmigratable(fleet, s->non_converging[i].vm) != unmigratable)
            continue;
        if (n < 5 && o < size)
            o +=
                (size_t)snprintf(buf + o, size - o, "%s%s", n ? ", " : "", s->non_converging[i].vm);
        n++;
    }
    if (n > 5 && o < size)
        snprintf(buf + o, size - o, " and %zu more", n - 5);
    return n;
}

/*
 * VMs that pre-copy would not move, and VMs that cannot live-migrate at all (migratable: false,
 * e.g. Ganeti instances on plain or file disks, which are local to their node): each kind gets
 * its own reason, so that the second is not mistaken for a convergence problem.
 */
static void
sb_non_converging(hvf_plan *plan, const hvf_fleet *fleet)
{
    static const char *const what[] = {"will be throttled by auto-converge",
                                       "will finish by post-copy",
                                       "will be shut down and started again (stops[])", ""};
    char names[400];

    for (int a = 0; a < HVF_NON_CONVERGING_LAST; a++) {
        size_t n = sb_vm_list(plan, fleet, (hvf_non_converging)a, false, names, sizeof(names));
        size_t nu = sb_vm_list(plan, fleet, (hvf_non_converging)a, true, NULL, 0);

        if (a == HVF_NON_CONVERGING_REFUSE) {
            if (n)
                hvf_plan_add_reason(
                    plan, "refused: %zu VM%s cannot converge and non_converging is refuse: %s", n,
                    n == 1 ? "" : "s", names);
            if (nu) {
                sb_vm_list(plan, fleet, (hvf_non_converging)a, true, names, sizeof(names));
                hvf_plan_add_reason(plan,
                                    "refused: %zu VM%s %s not live-migratable (migratable: false) "
                                    "and non_converging is refuse: %s",
                                    nu, nu == 1 ? "" : "s", nu == 1 ? "is" : "are", names);
            }
            if (n + nu)
                sb_raise(plan, HVF_PLAN_VERDICT_REFUSED);
            continue;
        }
        if (n)
            hvf_plan_add_reason(
                plan, "needs approval: %zu VM%s do%s not converge with pre-copy and %s: %s", n,
                n == 1 ? "" : "s", n == 1 ? "es" : "", what[a], names);
        if (nu) {
            sb_vm_list(plan, fleet, (hvf_non_converging)a, true, names, sizeof(names));
            hvf_plan_add_reason(plan,
                                "needs approval: %zu VM%s %s not live-migratable (migratable: "
                                "false, e.g. a Ganeti plain or file disk, local to its host) and "
                                "%s: %s",
                                nu, nu == 1 ? "" : "s", nu == 1 ? "is" : "are",
                                a == HVF_NON_CONVERGING_SHUTDOWN ? what[a]
                                    : "will be shut down and started again (stops[])",
                                names);
        }
        if (n + nu)
            sb_raise(plan, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
}

/* Replicas of each service that are stopped at once must leave min_available running. */
static void
sb_min_available(hvf_plan *plan, const hvf_fleet *fleet)
{
    HVF_AUTOFREE uint32_t *replicas = hvf_calloc(fleet->nservices + 1, sizeof(uint32_t));
    HVF_AUTOFREE size_t *nstops = hvf_calloc(fleet->nservices + 1, sizeof(size_t));
    HVF_AUTOFREE sb_event *ev = NULL;
    HVF_AUTOFREE size_t *start = hvf_calloc(fleet->nservices + 2, sizeof(size_t));
    HVF_AUTOFREE size_t *fill = hvf_calloc(fleet->nservices + 1, sizeof(size_t));
    size_t reported = 0, failing = 0;

    if (plan->nstops == 0 || fleet->nservices == 0)
        return;
    for (size_t v = 0; v < fleet->nvms; v++) {
        if (fleet->vms[v].service >= 0)
            replicas[fleet->vms[v].service]++;
    }
    /* Group stop intervals by service, then sweep each group. */
    for (size_t i = 0; i < plan->nstops; i++) {
        int32_t vm = hvf_fleet_find_vm(fleet, plan->stops[i].vm);
        if (vm >= 0 && fleet->vms[vm].service >= 0)
            nstops[fleet->vms[vm].service]++;
    }
    for (size_t s = 0; s < fleet->nservices; s++)
        start[s + 1] = start[s] + 2 * nstops[s];
    ev = hvf_calloc(start[fleet->nservices] + 1, sizeof(sb_event));
    for (size_t i = 0; i < plan->nstops; i++) {
        int32_t vm = hvf_fleet_find_vm(fleet, plan->stops[i].vm);
        int32_t s;
        if (vm < 0 || (s = fleet->vms[vm].service) < 0)
            continue;
        ev[start[s] + fill[s]++] = (sb_event){plan->stops[i].stop_ms, 1};
        ev[start[s] + fill[s]++] = (sb_event){plan->stops[i].start_ms, -1};
    }
    for (size_t s = 0; s < fleet->nservices; s++) {
        const hvf_service *svc = &fleet->services[s];
        int64_t down;
        if (nstops[s] == 0)
            continue;
        down = sb_sweep_max(ev + start[s], 2 * nstops[s]);
        if ((int64_t)replicas[s] - down >= (int64_t)svc->min_available)
            continue;
        failing++;
        if (reported++ < 5)
            hvf_plan_add_reason(plan,
                                "refused: service '%s' would run %" PRId64 " of %u replicas while "
                                "VMs are stopped: below min_available %u",
                                svc->name, (int64_t)replicas[s] - down, replicas[s],
                                svc->min_available);
    }
    if (failing > 5)
        hvf_plan_add_reason(plan, "refused: %zu more services would drop below min_available",
                            failing - 5);
    if (failing)
        sb_raise(plan, HVF_PLAN_VERDICT_REFUSED);
}

hvf_plan_verdict
hvf_seatbelt_evaluate(hvf_plan *plan, const hvf_policy *pol, const hvf_fleet *fleet)
{
    hvf_plan_summary *s = &plan->summary;
    char a[48], b[48];
    int64_t first_ms = 0, last_ms = 0;

    s->peak_capacity_offline_ppm = hvf_seatbelt_capacity_offline_ppm(plan, fleet);
    if (s->peak_host_memory_ppm > 1000000) {
        hvf_plan_add_reason(plan,
                            "refused: a host would hold %.1f%% of its usable memory at once "
                            "(over-commitment), %u VM%s at risk",
                            s->peak_host_memory_ppm / 1e4, s->vms_at_risk,
                            s->vms_at_risk == 1 ? "" : "s");
        sb_raise(plan, HVF_PLAN_VERDICT_REFUSED);
    }
    hvf_plan_span_ms(plan, &first_ms, &last_ms);
    if (plan->nhosts + plan->nmigrations + plan->nstops > 0 &&
        first_ms * HVF_US_PER_MS < pol->window_start_us) {
        hvf_plan_add_reason(plan, "refused: the plan starts at +%s, before window.start (+%s)",
                            hvf_units_format_duration(first_ms * HVF_US_PER_MS, a, sizeof(a)),
                            hvf_units_format_duration(pol->window_start_us, b, sizeof(b)));
        sb_raise(plan, HVF_PLAN_VERDICT_REFUSED);
    }
    if (pol->window_end_us && last_ms * HVF_US_PER_MS > pol->window_end_us) {
        hvf_plan_add_reason(plan, "refused: the plan ends at +%s, after window.end (+%s)",
                            hvf_units_format_duration(last_ms * HVF_US_PER_MS, a, sizeof(a)),
                            hvf_units_format_duration(pol->window_end_us, b, sizeof(b)));
        sb_raise(plan, HVF_PLAN_VERDICT_REFUSED);
    }
    sb_non_converging(plan, fleet);
    sb_min_available(plan, fleet);
    if (plan->nhosts > pol->seatbelt.max_hosts_without_approval) {
        hvf_plan_add_reason(plan,
                            "needs approval: the plan takes %zu hosts out of service, more than "
                            "seatbelt.max_hosts_without_approval (%u)",
                            plan->nhosts, pol->seatbelt.max_hosts_without_approval);
        sb_raise(plan, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
    if (s->peak_capacity_offline_ppm > hvf_plan_ppm(pol->seatbelt.max_capacity_offline)) {
        hvf_plan_add_reason(plan,
                            "needs approval: up to %.1f%% of the fleet's usable memory is offline "
                            "at once, above seatbelt.max_capacity_offline (%.1f%%)",
                            s->peak_capacity_offline_ppm / 1e4,
                            pol->seatbelt.max_capacity_offline * 100);
        sb_raise(plan, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
    if (pol->seatbelt.max_plan_duration_us &&
        s->makespan_ms * HVF_US_PER_MS > pol->seatbelt.max_plan_duration_us) {
        hvf_plan_add_reason(
            plan,
            "needs approval: the plan takes %s, longer than "
            "seatbelt.max_plan_duration (%s)",
            hvf_units_format_duration(s->makespan_ms * HVF_US_PER_MS, a, sizeof(a)),
            hvf_units_format_duration(pol->seatbelt.max_plan_duration_us, b, sizeof(b)));
        sb_raise(plan, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
    return s->verdict;
}
