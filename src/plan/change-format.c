/* SPDX-License-Identifier: MIT */
/* Change plans for people and tools (text, JSON), and the seatbelt's verdict on them. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/change-plan.h"
#include "hvfleet/seatbelt.h"
#include "hvfleet/sha256.h"
#include "hvfleet/units.h"
#include "plan/change-priv.h"

char *
hvf_change_wave_variants(const hvf_change_plan *plan, const hvf_change_wave *w)
{
    HVF_AUTOFREE bool *has = hvf_calloc(plan->nvariants + 1, sizeof(bool));
    hvf_strbuf sb = HVF_STRBUF_INIT;

    for (size_t i = 0; i < w->nunits; i++) {
        const hvf_change_unit *u = &plan->units[w->units[i]];
        for (size_t k = 0; k < u->nvariants; k++)
            has[u->variants[k]] = true;
    }
    for (size_t v = 0; v < plan->nvariants; v++) {
        if (has[v])
            hvf_strbuf_printf(&sb, "%s%s=%s", sb.len ? ", " : "", plan->variants[v].dim,
                              plan->variants[v].value);
    }
    return hvf_strbuf_steal(&sb);
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_t *
cf_seconds(int64_t us)
{
    return json_real((double)us / 1e6);
}

static json_t *
cf_unit_names(const hvf_change_plan *plan, const uint32_t *units, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(plan->units[units[i]].name));
    return a;
}

static json_t *
cf_variant_names(const hvf_change_plan *plan, const uint32_t *variants, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++) {
        const hvf_change_variant *v = &plan->variants[variants[i]];
        HVF_AUTOFREE char *s = hvf_asprintf("%s=%s", v->dim, v->value);
        json_array_append_new(a, json_string(s));
    }
    return a;
}

static json_t *
cf_strings(char *const *s, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(s[i]));
    return a;
}

static json_t *
cf_waves(const hvf_change_plan *plan)
{
    json_t *a = json_array();

    for (size_t i = 0; i < plan->nwaves; i++) {
        const hvf_change_wave *w = &plan->waves[i];
        HVF_AUTOFREE bool *has = hvf_calloc(plan->nvariants + 1, sizeof(bool));
        json_t *o = json_object();
        json_t *va = json_array();
        for (size_t k = 0; k < w->nunits; k++) {
            const hvf_change_unit *u = &plan->units[w->units[k]];
            for (size_t j = 0; j < u->nvariants; j++)
                has[u->variants[j]] = true;
        }
        for (size_t v = 0; v < plan->nvariants; v++) {
            if (has[v]) {
                HVF_AUTOFREE char *t =
                    hvf_asprintf("%s=%s", plan->variants[v].dim, plan->variants[v].value);
                json_array_append_new(va, json_string(t));
            }
        }
        json_object_set_new(o, "wave", json_integer((json_int_t)i + 1));
        json_object_set_new(o, "canary", json_boolean(w->canary));
        json_object_set_new(o, "units", cf_unit_names(plan, w->units, w->nunits));
        json_object_set_new(o, "variants", va);
        json_object_set_new(o, "start_s", cf_seconds(w->start_us));
        json_object_set_new(o, "applied_s", cf_seconds(w->applied_us));
        json_object_set_new(o, "baked_s", cf_seconds(w->baked_us));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *
cf_gates(const hvf_change_plan *plan)
{
    json_t *a = json_array();

    for (size_t i = 0; i < plan->ngates; i++) {
        const hvf_change_gate *g = &plan->gates[i];
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(hvf_change_gate_to_string(g->type)));
        if (g->service)
            json_object_set_new(o, "service", json_string(g->service));
        if (g->type == HVF_CHANGE_GATE_SERVICE_ANSWERS)
            json_object_set_new(o, "min_success", json_real(g->min_success));
        if (g->type == HVF_CHANGE_GATE_CLIENT_IO_LATENCY) {
            json_object_set_new(o, "max_s", cf_seconds(g->max_latency_us));
            json_object_set_new(o, "percentile", json_real(g->percentile));
        }
        json_object_set_new(o, "weak", json_boolean(hvf_change_gate_is_weak(g)));
        json_array_append_new(a, o);
    }
    return a;
}

void
hvf_change_plan_format_json(const hvf_change_plan *plan, hvf_strbuf *out)
{
    json_t *o = json_object();
    json_t *vars = json_array();
    json_t *canary = json_object();
    json_t *limits = json_object();
    json_t *rb = json_object();
    json_t *sb = json_object();
    HVF_AUTOFREE uint32_t *cunits = hvf_malloc((plan->nunits + 1) * sizeof(uint32_t));
    size_t nc = 0;
    char *text;

    for (size_t i = 0; i < plan->nwaves; i++) {
        for (size_t k = 0; plan->waves[i].canary && k < plan->waves[i].nunits; k++)
            cunits[nc++] = plan->waves[i].units[k];
    }
    for (size_t v = 0; v < plan->nvariants; v++)
        json_array_append_new(vars, json_pack("{s:s, s:s, s:i}", "dim", plan->variants[v].dim,
                                              "value", plan->variants[v].value, "units",
                                              (json_int_t)plan->variants[v].units));
    json_object_set_new(canary, "units", cf_unit_names(plan, cunits, nc));
    json_object_set_new(canary, "chosen_for_coverage",
                        cf_unit_names(plan, plan->added_for_coverage, plan->nadded));
    json_object_set_new(canary, "cover",
                        json_string(plan->as_written    ? "as_written"
                                    : plan->cover_exact ? "minimum"
                                                        : "greedy"));
    json_object_set_new(canary, "uncovered",
                        cf_variant_names(plan, plan->uncovered, plan->nuncovered));
    json_object_set_new(limits, "wave_cap", json_integer(plan->wave_cap));
    json_object_set_new(limits, "max_parallel", json_integer(plan->limits.max_parallel));
    json_object_set_new(limits, "max_per_rack", json_integer(plan->limits.max_per_rack));
    json_object_set_new(limits, "max_per_zone", json_integer(plan->limits.max_per_zone));
    if (plan->redundancy_max)
        json_object_set_new(limits, "redundancy",
                            json_pack("{s:s, s:i}", "per",
                                      hvf_spread_to_string(plan->redundancy_per), "max_down",
                                      (json_int_t)plan->redundancy_max));
    json_object_set_new(rb, "enabled", json_boolean(plan->rollback));
    json_object_set_new(rb, "order", json_string("reverse"));
    json_object_set_new(rb, "batch_max", json_integer(plan->wave_cap));
    json_object_set_new(sb, "verdict", json_string(hvf_plan_verdict_to_string(plan->verdict)));
    json_object_set_new(sb, "reasons", cf_strings(plan->reasons, plan->nreasons));

    json_object_set_new(o, "schema", json_string(HVF_CHANGE_PLAN_SCHEMA));
    json_object_set_new(o, "change", json_string(plan->change));
    json_object_set_new(o, "kind", json_string(hvf_change_kind_to_string(plan->kind)));
    json_object_set_new(o, "strategy", json_string(hvf_change_strategy_names[plan->strategy]));
    json_object_set_new(o, "as_written", json_boolean(plan->as_written));
    json_object_set_new(o, "targets",
                        json_pack("{s:s, s:i}", "type",
                                  plan->nunits && plan->units[0].vm >= 0 ? "vms" : "hosts", "units",
                                  (json_int_t)plan->nunits));
    json_object_set_new(o, "variants", vars);
    json_object_set_new(o, "canary", canary);
    json_object_set_new(o, "limits", limits);
    json_object_set_new(o, "waves", cf_waves(plan));
    json_object_set_new(o, "gates", cf_gates(plan));
    json_object_set_new(o, "rollback", rb);
    json_object_set_new(o, "apply_s", cf_seconds(plan->apply_us));
    json_object_set_new(o, "bake_s", cf_seconds(plan->bake_us));
    json_object_set_new(o, "gate_interval_s", cf_seconds(plan->gate_interval_us));
    json_object_set_new(o, "duration_s", cf_seconds(plan->duration_us));
    json_object_set_new(o, "forced", cf_unit_names(plan, plan->forced, plan->nforced));
    json_object_set_new(o, "notes", cf_strings(plan->notes, plan->nnotes));
    json_object_set_new(o, "seatbelt", sb);
    if (plan->plan_hash[0])
        json_object_set_new(o, "plan_hash", json_string(plan->plan_hash));
    text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    HVF_ASSERT(text);
    hvf_strbuf_puts(out, text);
    hvf_strbuf_puts(out, "\n");
    free(text);
    json_decref(o);
}

/* Compact durations for the wave table: 0s, 30s, 10m30s, 1h03m, 1h03m30s. */
static const char *
cf_dur(int64_t us, char *buf, size_t size)
{
    int64_t s = us / HVF_US_PER_S, h = s / 3600, m = (s / 60) % 60, sec = s % 60;

    if (us % HVF_US_PER_S != 0 && s < 60)
        snprintf(buf, size, "%.1fs", (double)us / 1e6);
    else if (h > 0)
        snprintf(buf, size,
                 sec ? "%" PRId64 "h%02" PRId64 "m%02" PRId64 "s" : "%" PRId64 "h%02" PRId64 "m", h,
                 m, sec);
    else if (m > 0)
        snprintf(buf, size, sec ? "%" PRId64 "m%02" PRId64 "s" : "%" PRId64 "m", m, sec);
    else
        snprintf(buf, size, "%" PRId64 "s", sec);
    return buf;
}

/* ---- text ------------------------------------------------------------------------------- */

static void
cf_names_line(hvf_strbuf *out, const hvf_change_plan *plan, const uint32_t *units, size_t n)
{
    for (size_t i = 0; i < n && i < 6; i++)
        hvf_strbuf_printf(out, "%s%s", i ? ", " : "", plan->units[units[i]].name);
    if (n > 6)
        hvf_strbuf_printf(out, " +%zu more", n - 6);
}

void
hvf_change_plan_format_text(const hvf_change_plan *plan, hvf_strbuf *out)
{
    char a[32], b[32], c[32];

    hvf_strbuf_printf(out, "change %s (%s) on %zu %s: %zu wave%s over %s%s\n", plan->change,
                      hvf_change_kind_to_string(plan->kind), plan->nunits,
                      plan->nunits && plan->units[0].vm >= 0 ? "VMs" : "hosts", plan->nwaves,
                      plan->nwaves == 1 ? "" : "s",
                      hvf_units_format_duration(plan->duration_us, a, sizeof(a)),
                      plan->as_written ? " (as written)" : "");
    hvf_strbuf_puts(out, "variants:");
    for (size_t v = 0; v < plan->nvariants; v++)
        hvf_strbuf_printf(out, "%s %s=%s (%u)", v ? "," : "", plan->variants[v].dim,
                          plan->variants[v].value, plan->variants[v].units);
    hvf_strbuf_puts(out, plan->nvariants ? "\n" : " none\n");
    hvf_strbuf_printf(out, "  %-5s %-5s %-10s %-10s %-10s %s\n", "wave", "units", "start",
                      "applied", "baked", "units (variants covered)");
    for (size_t i = 0; i < plan->nwaves; i++) {
        const hvf_change_wave *w = &plan->waves[i];
        HVF_AUTOFREE char *vars = hvf_change_wave_variants(plan, w);
        char num[32];
        snprintf(num, sizeof(num), "%zu%s", i + 1, w->canary ? " c" : "");
        hvf_strbuf_printf(out, "  %-5s %-5zu +%-9s +%-9s +%-9s ", num, w->nunits,
                          cf_dur(w->start_us, a, sizeof(a)), cf_dur(w->applied_us, b, sizeof(b)),
                          cf_dur(w->baked_us, c, sizeof(c)));
        cf_names_line(out, plan, w->units, w->nunits);
        hvf_strbuf_printf(out, " (%s)\n", vars[0] ? vars : "-");
    }
    hvf_strbuf_printf(out,
                      "  (c = canary; a wave's units are applied together in %s, then bake %s)\n",
                      cf_dur(plan->apply_us, a, sizeof(a)), cf_dur(plan->bake_us, b, sizeof(b)));
    hvf_strbuf_printf(out, "gates (checked every %s while baking):",
                      cf_dur(plan->gate_interval_us, a, sizeof(a)));
    for (size_t i = 0; i < plan->ngates; i++) {
        const hvf_change_gate *g = &plan->gates[i];
        hvf_strbuf_printf(out, "%s %s", i ? ";" : "", hvf_change_gate_to_string(g->type));
        if (g->type == HVF_CHANGE_GATE_SERVICE_ANSWERS)
            hvf_strbuf_printf(out, " %s >= %.4g%%", g->service, g->min_success * 100);
        if (g->type == HVF_CHANGE_GATE_CLIENT_IO_LATENCY)
            hvf_strbuf_printf(out, " p%.4g <= %s%s%s", g->percentile,
                              hvf_units_format_duration(g->max_latency_us, a, sizeof(a)),
                              g->service ? " on " : "", g->service ? g->service : "");
        if (hvf_change_gate_is_weak(g))
            hvf_strbuf_puts(out, " (weak: liveness only)");
    }
    hvf_strbuf_puts(out, plan->ngates ? "\n" : " none\n");
    if (plan->rollback)
        hvf_strbuf_printf(out,
                          "rollback: a failing gate halts the rollout; the waves done are undone "
                          "in reverse, at most %u unit%s at once, within the same limits\n",
                          plan->wave_cap, plan->wave_cap == 1 ? "" : "s");
    else
        hvf_strbuf_puts(out, "rollback: off (a failing gate only halts the rollout)\n");
    for (size_t i = 0; i < plan->nnotes; i++)
        hvf_strbuf_printf(out, "note: %s\n", plan->notes[i]);
    hvf_strbuf_printf(out, "seatbelt: %s\n", hvf_plan_verdict_to_string(plan->verdict));
    for (size_t i = 0; i < plan->nreasons; i++)
        hvf_strbuf_printf(out, "  - %s\n", plan->reasons[i]);
    if (plan->plan_hash[0])
        hvf_strbuf_printf(out, "plan hash: %s\n", plan->plan_hash);
}

/* ---- the seatbelt ------------------------------------------------------------------------- */

static void
ce_raise(hvf_plan *shadow, hvf_plan_verdict v)
{
    if (v > shadow->summary.verdict)
        shadow->summary.verdict = v;
}

/* Why a forced unit cannot be changed: the first service it would take below min_available. */
static void
ce_forced(const hvf_change_plan *plan, const hvf_fleet *fleet, hvf_plan *shadow)
{
    for (size_t i = 0; i < plan->nforced && i < 5; i++) {
        const hvf_change_unit *u = &plan->units[plan->forced[i]];
        for (size_t k = 0; k < u->nsvc; k++) {
            const hvf_service *s = &fleet->services[u->svc[k]];
            int64_t b = plan->svc_budget[u->svc[k]];
            if (b < 0 || (int64_t)u->count[k] <= b)
                continue;
            hvf_plan_add_reason(shadow,
                                "refused: changing %s holds %u replica%s of service '%s', which "
                                "can lose at most %" PRId64 " at once (min_available %u)",
                                u->name, u->count[k], u->count[k] == 1 ? "" : "s", s->name, b,
                                s->min_available);
            break;
        }
    }
    if (plan->nforced > 5)
        hvf_plan_add_reason(shadow, "refused: %zu more units cannot be changed safely",
                            plan->nforced - 5);
    if (plan->nforced)
        ce_raise(shadow, HVF_PLAN_VERDICT_REFUSED);
}

/* An all-at-once wave ignores the limits the rolling waves keep: say which it breaks. */
static void
ce_all_at_once(const hvf_change_plan *plan, hvf_plan *shadow)
{
    const hvf_change_wave *w = plan->nwaves ? &plan->waves[0] : NULL;
    cp_packer pk;
    const char *first = NULL;
    size_t blocked = 0;

    if (!w || plan->strategy != HVF_CHANGE_STRATEGY_ALL_AT_ONCE || plan->as_written)
        return;
    cp_packer_init(&pk, plan, UINT32_MAX);
    for (size_t i = 0; i < w->nunits; i++) {
        const char *why = cp_packer_blocks(&pk, w->units[i]);
        if (why && !first)
            first = why;
        blocked += why != NULL;
        cp_packer_add(&pk, w->units[i]);
    }
    cp_packer_free(&pk);
    if (plan->limits.max_parallel && w->nunits > plan->limits.max_parallel) {
        hvf_plan_add_reason(shadow,
                            "refused: all_at_once changes %zu units at once, above the policy's "
                            "max_parallel_hosts (%u)",
                            w->nunits, plan->limits.max_parallel);
        ce_raise(shadow, HVF_PLAN_VERDICT_REFUSED);
    } else if (first) {
        hvf_plan_add_reason(shadow, "refused: all_at_once breaks %s for %zu of its %zu units",
                            first, blocked, w->nunits);
        ce_raise(shadow, HVF_PLAN_VERDICT_REFUSED);
    }
    if (plan->nvariants > 1) {
        hvf_plan_add_reason(shadow,
                            "needs approval: all_at_once has no canary: every variant meets the "
                            "change everywhere at once (seed 004)");
        ce_raise(shadow, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
}

static void
ce_gates(const hvf_change_plan *plan, hvf_plan *shadow)
{
    size_t functional = 0;

    for (size_t i = 0; i < plan->ngates; i++)
        functional += !hvf_change_gate_is_weak(&plan->gates[i]);
    if (plan->ngates == 0) {
        hvf_plan_add_reason(shadow, "needs approval: no health gate: nothing halts the rollout "
                                    "when the change breaks something");
        ce_raise(shadow, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    } else if (functional == 0) {
        hvf_plan_add_reason(shadow, "needs approval: only liveness gates (process_up): they pass "
                                    "while the service answers nothing (seed 003)");
        ce_raise(shadow, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
    if (!plan->rollback) {
        hvf_plan_add_reason(shadow, "needs approval: rollback is off: a failing gate halts the "
                                    "rollout but leaves the waves done changed");
        ce_raise(shadow, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
}

/* The hosts each wave touches, as the maintenance seatbelt sees hosts: in its plan form. */
static void
ce_shadow_hosts(const hvf_change_plan *plan, const hvf_fleet *fleet, hvf_plan *shadow)
{
    HVF_AUTOFREE int64_t *last_wave = hvf_malloc((fleet->nhosts + 1) * sizeof(int64_t));
    bool restarts = plan->kind == HVF_CHANGE_KIND_PACKAGE || plan->kind == HVF_CHANGE_KIND_KERNEL;
    bool reboots = plan->kind == HVF_CHANGE_KIND_KERNEL;

    for (size_t h = 0; h < fleet->nhosts; h++)
        last_wave[h] = -1;
    for (size_t wi = 0; wi < plan->nwaves; wi++) {
        const hvf_change_wave *w = &plan->waves[wi];
        int64_t start_ms = w->start_us / HVF_US_PER_MS;
        int64_t end_ms = (w->applied_us + HVF_US_PER_MS - 1) / HVF_US_PER_MS;
        for (size_t i = 0; i < w->nunits; i++) {
            const hvf_change_unit *u = &plan->units[w->units[i]];
            const hvf_host *host = &fleet->hosts[u->host];
            /* only a kernel change reboots a host: out of service while it applies */
            if (reboots && u->vm < 0 && last_wave[u->host] != (int64_t)wi) {
                hvf_plan_host *ph = hvf_plan_add_host(shadow, host->name);
                last_wave[u->host] = (int64_t)wi;
                ph->evacuate_start_ms = start_ms;
                ph->evacuate_end_ms = ph->maintenance_start_ms = start_ms;
                ph->maintenance_end_ms = end_ms;
                ph->usable_mib = hvf_host_usable(host).mem_mib;
            }
            if (u->vm >= 0 && restarts) {
                hvf_plan_stop *st = hvf_plan_add_stop(shadow, u->name, host->name, host->name);
                st->stop_ms = start_ms;
                st->start_ms = end_ms;
            }
            for (size_t v = 0; u->vm < 0 && plan->kind == HVF_CHANGE_KIND_KERNEL && v < fleet->nvms;
                 v++) {
                if (fleet->vms[v].host != u->host)
                    continue;
                hvf_plan_stop *st =
                    hvf_plan_add_stop(shadow, fleet->vms[v].name, host->name, host->name);
                st->stop_ms = start_ms;
                st->start_ms = end_ms;
            }
        }
    }
    shadow->summary.makespan_ms = (plan->duration_us + HVF_US_PER_MS - 1) / HVF_US_PER_MS;
}

static void
ce_seal(hvf_change_plan *plan)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    plan->plan_hash[0] = '\0';
    hvf_change_plan_format_json(plan, &sb);
    hvf_sha256_hex(sb.buf, sb.len, plan->plan_hash);
    hvf_strbuf_clear(&sb);
}

hvf_plan_verdict
hvf_change_plan_evaluate(hvf_change_plan *plan, const hvf_policy *policy, const hvf_fleet *fleet,
                         bool frozen)
{
    hvf_plan *shadow = hvf_plan_new(HVF_PLAN_KIND_MAINTENANCE, HVF_PLAN_STRATEGY_HVFLEET);

    for (size_t i = 0; i < plan->nreasons; i++)
        free(plan->reasons[i]);
    plan->nreasons = 0;
    if (frozen) {
        hvf_plan_add_reason(shadow, "refused: the fleet is frozen: no automated change runs "
                                    "until it is thawed");
        ce_raise(shadow, HVF_PLAN_VERDICT_REFUSED);
    }
    ce_forced(plan, fleet, shadow);
    ce_all_at_once(plan, shadow);
    ce_gates(plan, shadow);
    ce_shadow_hosts(plan, fleet, shadow);
    /* the seatbelt counts hosts taken out of service; a change that takes none out still has
     * a blast radius: every unit it touches */
    if (shadow->nhosts == 0 && plan->nunits > policy->seatbelt.max_hosts_without_approval) {
        hvf_plan_add_reason(shadow,
                            "needs approval: the change touches %zu %s, more than "
                            "seatbelt.max_hosts_without_approval (%u)",
                            plan->nunits, plan->units[0].vm >= 0 ? "VMs" : "hosts",
                            policy->seatbelt.max_hosts_without_approval);
        ce_raise(shadow, HVF_PLAN_VERDICT_NEEDS_APPROVAL);
    }
    hvf_seatbelt_evaluate(shadow, policy, fleet);
    plan->verdict = shadow->summary.verdict;
    for (size_t i = 0; i < shadow->summary.nreasons; i++) {
        hvf_grow(&plan->reasons, &plan->reasons_cap, plan->nreasons + 1, sizeof(char *));
        plan->reasons[plan->nreasons++] = hvf_strdup(shadow->summary.reasons[i]);
    }
    hvf_plan_free(shadow);
    ce_seal(plan);
    return plan->verdict;
}
