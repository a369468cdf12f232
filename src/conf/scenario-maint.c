/* SPDX-License-Identifier: MIT */
/* A scenario's maintenance section: who runs it (naive or hvfleet), which hosts, and how. */
#include <stdio.h>

#include "conf/policy-priv.h"
#include "conf/scenario-priv.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

const char *const hvf_scenario_scheduler_names[] = {"naive", "hvfleet", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_scenario_scheduler_names) == HVF_SCENARIO_SCHED_LAST + 1,
               "scheduler names");

typedef struct sc_maint {
    int scheduler;
    struct fy_node *hosts, *schedule, *policy;
    int64_t start_us, span_us, window_us, retry_us, approval_us;
    bool has_approval;
    uint32_t per_host, max_retries, candidates;
    bool claims;
    /* which naive-only fields were written, to refuse them with hvfleet */
    bool has_span, has_window, has_per_host, has_claims, has_retry, has_max_retries, has_candidates;
} sc_maint;

#define M(f) offsetof(sc_maint, f)
static const hvf_field_spec sc_maint_fields[] = {
    {.name = "scheduler",
     .type = HVF_FIELD_ENUM,
     .offset = M(scheduler),
     .required = true,
     .enum_names = hvf_scenario_scheduler_names},
    {.name = "hosts", .type = HVF_FIELD_NODE, .offset = M(hosts)},
    {.name = "schedule", .type = HVF_FIELD_NODE, .offset = M(schedule)},
    {.name = "start", .type = HVF_FIELD_DURATION, .offset = M(start_us)},
    {.name = "policy", .type = HVF_FIELD_NODE, .offset = M(policy)},
    {.name = "approval_delay",
     .type = HVF_FIELD_DURATION,
     .offset = M(approval_us),
     .present = M(has_approval) + 1},
    {.name = "span", .type = HVF_FIELD_DURATION, .offset = M(span_us), .present = M(has_span) + 1},
    {.name = "window",
     .type = HVF_FIELD_DURATION,
     .offset = M(window_us),
     .present = M(has_window) + 1},
    {.name = "migrations_per_host",
     .type = HVF_FIELD_UINT,
     .offset = M(per_host),
     .min = 1,
     .max = 64,
     .present = M(has_per_host) + 1},
    {.name = "claims", .type = HVF_FIELD_BOOL, .offset = M(claims), .present = M(has_claims) + 1},
    {.name = "retry",
     .type = HVF_FIELD_DURATION,
     .offset = M(retry_us),
     .present = M(has_retry) + 1},
    {.name = "max_retries",
     .type = HVF_FIELD_UINT,
     .offset = M(max_retries),
     .max = 1000,
     .present = M(has_max_retries) + 1},
    {.name = "target_candidates",
     .type = HVF_FIELD_UINT,
     .offset = M(candidates),
     .max = 1000000,
     .present = M(has_candidates) + 1},
};
#undef M

typedef struct sc_entry {
    char *host;
    int64_t at_us;
} sc_entry;

static const hvf_field_spec sc_entry_fields[] = {
    {.name = "host", .type = HVF_FIELD_NAME, .offset = offsetof(sc_entry, host), .required = true},
    {.name = "at",
     .type = HVF_FIELD_DURATION,
     .offset = offsetof(sc_entry, at_us),
     .required = true},
};

static void
sc_read_schedule(hvf_reader *r, struct fy_node *seq, hvf_scenario *sc)
{
    hvf_sim_naive_opts *o = &sc->naive;
    struct fy_node *item;
    void *iter = NULL;
    size_t i = 0;
    char path[48];

    if (!hvf_reader_expect_seq(r, seq, "maintenance.schedule"))
        return;
    while ((item = fy_node_sequence_iterate(seq, &iter)) != NULL) {
        sc_entry e = {0};
        int32_t h;

        snprintf(path, sizeof(path), "maintenance.schedule[%zu]", i++);
        if (hvf_reader_map(r, item, path, sc_entry_fields, HVF_ARRAY_LEN(sc_entry_fields), &e) ==
            0) {
            h = hvf_fleet_find_host(sc->fleet, e.host);
            if (h < 0) {
                hvf_reader_report_field(r, item, path, "host",
                                        "expected the name of a host in the inventory");
            } else {
                o->hosts = hvf_realloc(o->hosts, (o->nhosts + 1) * sizeof(int32_t));
                o->at_us = hvf_realloc(o->at_us, (o->nhosts + 1) * sizeof(int64_t));
                o->hosts[o->nhosts] = h;
                o->at_us[o->nhosts++] = e.at_us;
            }
        }
        hvf_reader_free_fields(sc_entry_fields, HVF_ARRAY_LEN(sc_entry_fields), &e);
    }
}

/* `policy`: a policy file (relative to the scenario, like `inventory`) or an inline mapping. */
static void
sc_read_policy(hvf_reader *r, struct fy_node *node, const char *base_dir, hvf_policy *out)
{
    HVF_AUTOFREE char *rel = NULL;
    HVF_AUTOFREE char *file = NULL;
    hvf_error err = HVF_ERROR_INIT;

    if (fy_node_is_mapping(node)) {
        hvf_policy_read_node(r, node, "maintenance.policy", out);
        return;
    }
    rel = hvf_reader_scalar_dup(node);
    if (!rel || !*rel) {
        hvf_reader_report(r, node, "maintenance.policy",
                          "expected a policy file (" HVF_POLICY_SCHEMA ") or an inline policy");
        return;
    }
    file = rel[0] == '/' || !base_dir ? hvf_strdup(rel) : hvf_asprintf("%s/%s", base_dir, rel);
    if (hvf_policy_load(file, out, r->diags, &err) < 0)
        hvf_reader_report(r, node, "maintenance.policy", "%s",
                          err.code == HVF_ERR_IO ? err.msg
                                                 : "expected a valid policy (problems above)");
}

/* The fields only the naive scheduler reads, refused with hvfleet: its policy decides. */
static void
sc_refuse_naive_fields(hvf_reader *r, struct fy_node *node, const sc_maint *m)
{
    static const char *const why = "expected only with scheduler: naive (the hvfleet scheduler "
                                   "takes its limits from its policy)";
    const struct {
        const char *key;
        bool set;
    } naive_only[] = {
        {"schedule", m->schedule != NULL},   {"span", m->has_span},
        {"window", m->has_window},           {"migrations_per_host", m->has_per_host},
        {"claims", m->has_claims},           {"retry", m->has_retry},
        {"max_retries", m->has_max_retries}, {"target_candidates", m->has_candidates},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(naive_only); i++) {
        if (naive_only[i].set)
            hvf_reader_report_field(r, node, "maintenance", naive_only[i].key, "%s", why);
    }
}

void
sc_read_maintenance(hvf_reader *r, struct fy_node *node, const char *base_dir, hvf_scenario *sc)
{
    sc_maint m = {.span_us = 2 * 3600 * HVF_US_PER_S,
                  .window_us = 60 * HVF_US_PER_S,
                  .retry_us = 30 * HVF_US_PER_S,
                  .per_host = 2,
                  .max_retries = 3};
    hvf_sim_naive_opts *o = &sc->naive;

    hvf_policy_default(&sc->policy);
    sc->approval_delay_us = -1;
    if (hvf_reader_map(r, node, "maintenance", sc_maint_fields, HVF_ARRAY_LEN(sc_maint_fields),
                       &m) != 0)
        return;
    sc->has_maintenance = true;
    sc->scheduler = (hvf_scenario_scheduler)m.scheduler;
    o->start_us = m.start_us;
    o->span_us = m.span_us;
    o->window_us = m.window_us;
    o->migrations_per_host = m.per_host;
    o->claims = m.claims;
    o->retry_us = m.retry_us > 0 ? m.retry_us : HVF_US_PER_S;
    o->max_retries = m.max_retries;
    o->target_candidates = m.candidates;
    if (m.start_us >= sc->params.duration_us && sc->params.duration_us > 0)
        hvf_reader_report_field(r, node, "maintenance", "start",
                                "expected a time within the scenario's duration");
    if (sc->scheduler == HVF_SCENARIO_SCHED_HVFLEET) {
        sc_refuse_naive_fields(r, node, &m);
        if (!m.hosts)
            hvf_reader_report_field(r, node, "maintenance", "hosts",
                                    "expected the hosts to maintain (all, rack:R, zone:Z, tag:T, "
                                    "a host name or a list of them)");
        else
            sc_read_selector(r, sc->fleet, m.hosts, "maintenance.hosts", &o->hosts, &o->nhosts);
        if (m.policy)
            sc_read_policy(r, m.policy, base_dir, &sc->policy);
        if (m.has_approval)
            sc->approval_delay_us = m.approval_us;
        return;
    }
    if (m.policy)
        hvf_reader_report_field(r, node, "maintenance", "policy",
                                "expected only with scheduler: hvfleet (the naive scheduler "
                                "follows no policy)");
    if (m.has_approval)
        hvf_reader_report_field(r, node, "maintenance", "approval_delay",
                                "expected only with scheduler: hvfleet (the naive scheduler's "
                                "windows need no approval)");
    if (!m.hosts == !m.schedule) {
        hvf_reader_report_field(r, node, "maintenance", "hosts",
                                "expected either hosts (spread over span) or schedule (explicit "
                                "times), not %s",
                                m.hosts ? "both" : "neither");
        return;
    }
    if (m.hosts)
        sc_read_selector(r, sc->fleet, m.hosts, "maintenance.hosts", &o->hosts, &o->nhosts);
    else
        sc_read_schedule(r, m.schedule, sc);
}
