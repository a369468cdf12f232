/* SPDX-License-Identifier: MIT */
/* The fault-domain audit as people read it (text) and as tools read it (JSON, hvfleet.audit/v1). */
#include <jansson.h>

#include "hvfleet/alloc.h"
#include "plan/audit-priv.h"

static const char *const out_level_names[] = {"host", "rack", "zone"};

static const char *
out_domain_name(const hvf_fleet *f, hvf_spread level, int32_t d)
{
    return level == HVF_SPREAD_HOST   ? f->hosts[d].name
           : level == HVF_SPREAD_RACK ? f->racks[d].name
                                      : f->zones[d].name;
}

/* Whether @s breaks when @domain is lost (fewer than min_available replicas left). */
static bool
out_breaks(const hvf_fleet *f, int32_t s, const hvf_audit_finding *x)
{
    uint32_t alive, in;

    audit_count(f, s, x->level, x->domain, &alive, &in);
    return in > 0 && alive - in < audit_needed(&f->services[s]);
}

/* True when @s is @target or depends on it, transitively. */
static bool
out_reaches(const hvf_fleet *f, int32_t s, int32_t target, int depth)
{
    const hvf_service *svc = &f->services[s];

    if (s == target)
        return true;
    if (depth > 64)
        return false;
    for (size_t k = 0; k < svc->nrel[HVF_SERVICE_DEPENDS_ON]; k++) {
        if (out_reaches(f, svc->rel[HVF_SERVICE_DEPENDS_ON][k], target, depth + 1))
            return true;
    }
    return false;
}

/* A broken service both sides of a shared fate stop with (one is, or depends on, the other), or
 * -1. */
static int32_t
out_common_cause(const hvf_fleet *f, const hvf_audit_finding *x)
{
    for (size_t s = 0; s < f->nservices; s++) {
        if (out_reaches(f, x->service, (int32_t)s, 0) && out_reaches(f, x->other, (int32_t)s, 0) &&
            out_breaks(f, (int32_t)s, x))
            return (int32_t)s;
    }
    return -1;
}

/* What a finding that moves cannot fix needs instead. */
static void
out_remedy(const hvf_fleet *f, const hvf_audit_finding *x, hvf_strbuf *out)
{
    int32_t s = x->kind == HVF_AUDIT_DEPENDENCY ? x->other : x->service;
    const hvf_service *svc = &f->services[s];
    uint32_t alive = 0, in = 0;

    audit_count(f, s, x->level, x->domain, &alive, &in);
    if (x->kind == HVF_AUDIT_SHARED_FATE) {
        int32_t common = out_common_cause(f, x);
        if (common >= 0) {
            audit_count(f, common, x->level, x->domain, &alive, &in);
            hvf_strbuf_printf(out,
                              "both stop with '%s' (%u replica%s, min_available %u): add "
                              "replicas of it in other %ss",
                              f->services[common].name, alive, alive == 1 ? "" : "s",
                              audit_needed(&f->services[common]), out_level_names[x->level]);
        } else {
            hvf_strbuf_printf(out,
                              "no move out of %s %s keeps them apart: add capacity or "
                              "replicas elsewhere",
                              out_level_names[x->level], out_domain_name(f, x->level, x->domain));
        }
    } else if (alive <= audit_needed(svc))
        hvf_strbuf_printf(out,
                          "'%s' has %u replica%s for min_available %u: add replicas in other "
                          "%ss (moves cannot fix this)",
                          svc->name, alive, alive == 1 ? "" : "s", audit_needed(svc),
                          out_level_names[x->level]);
    else
        hvf_strbuf_printf(out,
                          "'%s' cannot be spread so that losing any one %s leaves %u: add "
                          "replicas, %ss or capacity",
                          svc->name, out_level_names[x->level], audit_needed(svc),
                          out_level_names[x->level]);
}

void
hvf_audit_format_text(const hvf_audit *a, const hvf_fleet *f, const char *fix_path, hvf_strbuf *out)
{
    size_t ncrit = 0;

    for (size_t s = 0; s < f->nservices; s++)
        ncrit += f->services[s].critical;
    hvf_strbuf_printf(out,
                      "fault-domain audit: %zu services (%zu critical), %zu hosts, %zu rack%s, "
                      "%zu zone%s\n",
                      f->nservices, ncrit, f->nhosts, f->nracks, f->nracks == 1 ? "" : "s",
                      f->nzones, f->nzones == 1 ? "" : "s");
    for (int l = 0; l < HVF_SPREAD_LAST; l++) {
        if (!a->audited[l])
            hvf_strbuf_printf(out, "  %s losses not audited: the fleet has one %s\n",
                              out_level_names[l], out_level_names[l]);
    }
    if (a->nfindings == 0) {
        hvf_strbuf_puts(out, "no findings: no single host, rack or zone loss breaks a critical "
                             "service or a must_not_share pair\n");
        return;
    }
    hvf_strbuf_printf(out, "%zu finding%s:\n", a->nfindings, a->nfindings == 1 ? "" : "s");
    for (size_t i = 0; i < a->nfindings; i++) {
        hvf_strbuf_printf(out, "  [%s] ", hvf_audit_kind_names[a->findings[i].kind]);
        hvf_audit_describe(f, &a->findings[i], out);
        hvf_strbuf_puts(out, "\n");
    }
    if (a->nmoves > 0) {
        hvf_strbuf_printf(out, "%zu move%s (each with the finding it fixes):\n", a->nmoves,
                          a->nmoves == 1 ? "" : "s");
        for (size_t i = 0; i < a->nmoves; i++) {
            const hvf_audit_move *m = &a->moves[i];
            hvf_strbuf_printf(out, "  move %s (%s) %s -> %s: ", f->vms[m->vm].name,
                              f->services[f->vms[m->vm].service].name, f->hosts[m->from].name,
                              f->hosts[m->to].name);
            hvf_audit_describe(f, &a->remedied[m->finding], out);
            hvf_strbuf_puts(out, "\n");
        }
        if (fix_path)
            hvf_strbuf_printf(out,
                              "the moves are a plan in %s: hvfleet plan check %s --inventory "
                              "INVENTORY\n",
                              fix_path, fix_path);
    }
    if (a->nremaining > 0) {
        hvf_strbuf_printf(out, "%zu finding%s moves cannot fix:\n", a->nremaining,
                          a->nremaining == 1 ? "" : "s");
        for (size_t i = 0; i < a->nremaining; i++) {
            hvf_strbuf_printf(out, "  [%s] ", hvf_audit_kind_names[a->remaining[i].kind]);
            hvf_audit_describe(f, &a->remaining[i], out);
            hvf_strbuf_puts(out, ": ");
            out_remedy(f, &a->remaining[i], out);
            hvf_strbuf_puts(out, "\n");
        }
    } else if (a->nmoves > 0) {
        hvf_strbuf_puts(out, "after the moves: no findings\n");
    }
}

static json_t *
out_finding(const hvf_fleet *f, const hvf_audit_finding *x, bool remedy)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    json_t *o = json_object();

    hvf_audit_describe(f, x, &sb);
    json_object_set_new(o, "kind", json_string(hvf_audit_kind_names[x->kind]));
    json_object_set_new(o, "level", json_string(out_level_names[x->level]));
    json_object_set_new(o, "domain", json_string(out_domain_name(f, x->level, x->domain)));
    json_object_set_new(o, "service", json_string(f->services[x->service].name));
    json_object_set_new(o, "other",
                        x->other >= 0 ? json_string(f->services[x->other].name) : json_null());
    json_object_set_new(o, "replicas", json_integer(x->alive));
    json_object_set_new(o, "lost", json_integer(x->lost));
    json_object_set_new(o, "min_available", json_integer(x->needed));
    json_object_set_new(o, "text", json_string(sb.buf));
    if (remedy) {
        hvf_strbuf_clear(&sb);
        out_remedy(f, x, &sb);
        json_object_set_new(o, "remedy", json_string(sb.buf));
    }
    hvf_strbuf_clear(&sb);
    return o;
}

char *
hvf_audit_json(const hvf_audit *a, const hvf_fleet *f, const char *fix_path)
{
    json_t *root = json_object();
    json_t *levels = json_object(), *fs = json_array(), *ms = json_array(), *rs = json_array();
    char *s, *copy;

    json_object_set_new(root, "schema", json_string(HVF_AUDIT_SCHEMA));
    for (int l = 0; l < HVF_SPREAD_LAST; l++)
        json_object_set_new(levels, out_level_names[l], json_boolean(a->audited[l]));
    json_object_set_new(root, "audited", levels);
    for (size_t i = 0; i < a->nfindings; i++)
        json_array_append_new(fs, out_finding(f, &a->findings[i], false));
    json_object_set_new(root, "findings", fs);
    for (size_t i = 0; i < a->nmoves; i++) {
        const hvf_audit_move *m = &a->moves[i];
        hvf_strbuf sb = HVF_STRBUF_INIT;
        hvf_audit_describe(f, &a->remedied[m->finding], &sb);
        json_array_append_new(ms, json_pack("{s:s, s:s, s:s, s:s, s:s}", "vm", f->vms[m->vm].name,
                                            "service", f->services[f->vms[m->vm].service].name,
                                            "from", f->hosts[m->from].name, "to",
                                            f->hosts[m->to].name, "fixes", sb.buf));
        hvf_strbuf_clear(&sb);
    }
    json_object_set_new(root, "moves", ms);
    for (size_t i = 0; i < a->nremaining; i++)
        json_array_append_new(rs, out_finding(f, &a->remaining[i], true));
    json_object_set_new(root, "unfixed", rs);
    json_object_set_new(root, "plan", fix_path ? json_string(fix_path) : json_null());
    s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    copy = hvf_asprintf("%s\n", s ? s : "{}");
    free(s);
    return copy;
}
