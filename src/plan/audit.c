/* SPDX-License-Identifier: MIT */
/*
 * The fault-domain audit's findings: for each host, rack and zone, which services losing it
 * would break, directly (too few replicas left), through what they depend on, or together with
 * a service they must not share a fate with. Definitions: include/hvfleet/audit.h.
 *
 * One pass per level groups the alive replicas by domain; a domain that breaks no service
 * directly is skipped, so a healthy fleet costs one sort per level.
 */
#include <stdlib.h>

#include "hvfleet/alloc.h"
#include "plan/audit-priv.h"

const char *const hvf_audit_kind_names[] = {"replicas", "dependency", "shared_fate", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_audit_kind_names) == HVF_AUDIT_KIND_LAST + 1, "names");

int32_t
audit_domain_of(const hvf_fleet *f, hvf_spread level, int32_t host)
{
    switch (level) {
    case HVF_SPREAD_RACK:
        return f->hosts[host].rack;
    case HVF_SPREAD_ZONE:
        return f->hosts[host].zone;
    default:
        return host;
    }
}

size_t
audit_ndomains(const hvf_fleet *f, hvf_spread level)
{
    switch (level) {
    case HVF_SPREAD_RACK:
        return f->nracks;
    case HVF_SPREAD_ZONE:
        return f->nzones;
    default:
        return f->nhosts;
    }
}

bool
audit_host_alive(const hvf_fleet *f, int32_t host)
{
    return f->hosts[host].state != HVF_HOST_STATE_DOWN;
}

uint32_t
audit_needed(const hvf_service *s)
{
    return s->min_available > 1 ? s->min_available : 1;
}

void
audit_count(const hvf_fleet *f, int32_t service, hvf_spread level, int32_t domain, uint32_t *alive,
            uint32_t *in_domain)
{
    *alive = *in_domain = 0;
    for (size_t v = 0; v < f->nvms; v++) {
        const hvf_vm *vm = &f->vms[v];
        if (vm->service != service || !audit_host_alive(f, vm->host))
            continue;
        (*alive)++;
        if (audit_domain_of(f, level, vm->host) == domain)
            (*in_domain)++;
    }
}

/* Scratch for one level's pass. */
typedef struct audit_pass {
    const hvf_fleet *f;
    uint32_t *total;  /* per service: alive replicas */
    uint32_t *lost;   /* per service: in the current domain */
    int32_t *root;    /* per service: the directly broken service that breaks it, -1 */
    int32_t *touched; /* services with lost > 0 */
    size_t ntouched;
    int32_t *queue;    /* reverse-dependency walk */
    int32_t *rdep;     /* reverse dependencies: services depending on s are */
    uint32_t *rdep_at; /* rdep[rdep_at[s] .. rdep_at[s + 1]) */
    hvf_audit_finding **out;
    size_t n;
} audit_pass;

static void
audit_add(audit_pass *p, hvf_audit_kind kind, hvf_spread level, int32_t domain, int32_t s,
          int32_t other)
{
    hvf_audit_finding *x;

    *p->out = hvf_realloc(*p->out, (p->n + 1) * sizeof(hvf_audit_finding));
    x = &(*p->out)[p->n++];
    x->kind = kind;
    x->level = level;
    x->domain = domain;
    x->service = s;
    x->other = other;
    x->alive = p->total[s];
    x->lost = p->lost[s];
    x->needed = audit_needed(&p->f->services[s]);
}

static bool
audit_declares(const hvf_service *s, int32_t other)
{
    for (size_t i = 0; i < s->nrel[HVF_SERVICE_MUST_NOT_SHARE]; i++) {
        if (s->rel[HVF_SERVICE_MUST_NOT_SHARE][i] == other)
            return true;
    }
    return false;
}

/* Findings for one domain whose replicas' counts are in p->lost (p->touched). */
static void
audit_domain(audit_pass *p, hvf_spread level, int32_t domain)
{
    const hvf_fleet *f = p->f;
    size_t head = 0, tail = 0;

    /* services broken directly seed the walk up the reverse dependencies, in service order */
    for (size_t i = 0; i < p->ntouched; i++) {
        int32_t s = p->touched[i];
        if (p->total[s] - p->lost[s] < audit_needed(&f->services[s])) {
            p->root[s] = s;
            p->queue[tail++] = s;
        }
    }
    if (tail == 0)
        return;
    while (head < tail) {
        int32_t s = p->queue[head++];
        for (uint32_t k = p->rdep_at[s]; k < p->rdep_at[s + 1]; k++) {
            int32_t up = p->rdep[k];
            if (p->root[up] < 0) {
                p->root[up] = p->root[s];
                p->queue[tail++] = up;
            }
        }
    }
    for (size_t i = 0; i < tail; i++) {
        int32_t s = p->queue[i];
        const hvf_service *svc = &f->services[s];
        if (svc->critical)
            audit_add(p, p->root[s] == s ? HVF_AUDIT_REPLICAS : HVF_AUDIT_DEPENDENCY, level, domain,
                      s, p->root[s] == s ? -1 : p->root[s]);
        for (size_t k = 0; k < svc->nrel[HVF_SERVICE_MUST_NOT_SHARE]; k++) {
            int32_t t = svc->rel[HVF_SERVICE_MUST_NOT_SHARE][k];
            /* declared both ways: report the pair once */
            if (p->root[t] >= 0 && (t > s || !audit_declares(&f->services[t], s)))
                audit_add(p, HVF_AUDIT_SHARED_FATE, level, domain, s, t);
        }
    }
    for (size_t i = 0; i < tail; i++)
        p->root[p->queue[i]] = -1;
}

static int
audit_vm_cmp(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
}

static void
audit_level(audit_pass *p, hvf_spread level)
{
    const hvf_fleet *f = p->f;
    HVF_AUTOFREE int64_t *keys = hvf_calloc(f->nvms + 1, sizeof(int64_t));
    size_t n = 0;

    /* (domain << 32 | vm), sorted: each domain's replicas in a run */
    for (size_t v = 0; v < f->nvms; v++) {
        const hvf_vm *vm = &f->vms[v];
        if (vm->service < 0 || !audit_host_alive(f, vm->host))
            continue;
        keys[n++] = (int64_t)audit_domain_of(f, level, vm->host) << 32 | (int64_t)v;
    }
    qsort(keys, n, sizeof(int64_t), audit_vm_cmp);
    for (size_t i = 0; i < n;) {
        int32_t d = (int32_t)(keys[i] >> 32);
        size_t j = i;
        p->ntouched = 0;
        for (; j < n && (int32_t)(keys[j] >> 32) == d; j++) {
            int32_t s = f->vms[keys[j] & 0xffffffff].service;
            if (p->lost[s]++ == 0)
                p->touched[p->ntouched++] = s;
        }
        audit_domain(p, level, d);
        for (size_t k = 0; k < p->ntouched; k++)
            p->lost[p->touched[k]] = 0;
        i = j;
    }
}

static int
audit_finding_cmp(const void *a, const void *b)
{
    const hvf_audit_finding *x = a, *y = b;

    if (x->level != y->level)
        return (int)x->level - (int)y->level;
    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    if (x->service != y->service)
        return x->service < y->service ? -1 : 1;
    return x->other < y->other ? -1 : x->other > y->other ? 1 : 0;
}

/* A finding's identity without its place, plus the place of a domain containing it. */
typedef struct audit_cover {
    int32_t kind, service, other, level, domain;
} audit_cover;

static int
audit_cover_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(audit_cover));
}

static audit_cover
audit_cover_of(const hvf_audit_finding *x, hvf_spread level, int32_t domain)
{
    audit_cover c;

    memset(&c, 0, sizeof(c));
    c.kind = (int32_t)x->kind;
    c.service = x->service;
    c.other = x->other;
    c.level = (int32_t)level;
    c.domain = domain;
    return c;
}

/* Drops rack and zone findings implied by a finding on a host (or rack) inside them. */
static size_t
audit_minimal(const hvf_fleet *f, hvf_audit_finding *x, size_t n)
{
    HVF_AUTOFREE audit_cover *cov = hvf_calloc(2 * n + 1, sizeof(audit_cover));
    size_t nc = 0, k = 0;

    for (size_t i = 0; i < n; i++) {
        if (x[i].level == HVF_SPREAD_HOST) {
            cov[nc++] = audit_cover_of(&x[i], HVF_SPREAD_RACK, f->hosts[x[i].domain].rack);
            cov[nc++] = audit_cover_of(&x[i], HVF_SPREAD_ZONE, f->hosts[x[i].domain].zone);
        } else if (x[i].level == HVF_SPREAD_RACK) {
            cov[nc++] = audit_cover_of(&x[i], HVF_SPREAD_ZONE, f->racks[x[i].domain].zone);
        }
    }
    qsort(cov, nc, sizeof(audit_cover), audit_cover_cmp);
    for (size_t i = 0; i < n; i++) {
        audit_cover me = audit_cover_of(&x[i], x[i].level, x[i].domain);
        if (x[i].level != HVF_SPREAD_HOST &&
            bsearch(&me, cov, nc, sizeof(audit_cover), audit_cover_cmp))
            continue;
        x[k++] = x[i];
    }
    return k;
}

size_t
audit_find_all(const hvf_fleet *f, bool minimal, hvf_audit_finding **out)
{
    size_t ns = f->nservices, nrdep = 0;
    audit_pass p = {.f = f, .out = out};
    hvf_audit_finding *mine = NULL;

    *out = NULL;
    if (ns == 0)
        return 0;
    p.total = hvf_calloc(ns, sizeof(uint32_t));
    p.lost = hvf_calloc(ns, sizeof(uint32_t));
    p.root = hvf_malloc(ns * sizeof(int32_t));
    p.touched = hvf_malloc(ns * sizeof(int32_t));
    p.queue = hvf_malloc(ns * sizeof(int32_t));
    p.rdep_at = hvf_calloc(ns + 1, sizeof(uint32_t));
    for (size_t s = 0; s < ns; s++) {
        p.root[s] = -1;
        nrdep += f->services[s].nrel[HVF_SERVICE_DEPENDS_ON];
    }
    p.rdep = hvf_calloc(nrdep + 1, sizeof(int32_t));
    for (size_t s = 0; s < ns; s++) {
        for (size_t k = 0; k < f->services[s].nrel[HVF_SERVICE_DEPENDS_ON]; k++)
            p.rdep_at[f->services[s].rel[HVF_SERVICE_DEPENDS_ON][k] + 1]++;
    }
    for (size_t s = 0; s < ns; s++)
        p.rdep_at[s + 1] += p.rdep_at[s];
    {
        HVF_AUTOFREE uint32_t *fill = hvf_calloc(ns, sizeof(uint32_t));
        for (size_t s = 0; s < ns; s++) {
            for (size_t k = 0; k < f->services[s].nrel[HVF_SERVICE_DEPENDS_ON]; k++) {
                int32_t d = f->services[s].rel[HVF_SERVICE_DEPENDS_ON][k];
                p.rdep[p.rdep_at[d] + fill[d]++] = (int32_t)s;
            }
        }
    }
    for (size_t v = 0; v < f->nvms; v++) {
        if (f->vms[v].service >= 0 && audit_host_alive(f, f->vms[v].host))
            p.total[f->vms[v].service]++;
    }
    p.out = &mine;
    for (int l = 0; l < HVF_SPREAD_LAST; l++) {
        if (audit_ndomains(f, (hvf_spread)l) > 1)
            audit_level(&p, (hvf_spread)l);
    }
    if (p.n > 0) {
        qsort(mine, p.n, sizeof(hvf_audit_finding), audit_finding_cmp);
        if (minimal)
            p.n = audit_minimal(f, mine, p.n);
    }
    *out = mine;
    free(p.total);
    free(p.lost);
    free(p.root);
    free(p.touched);
    free(p.queue);
    free(p.rdep_at);
    free(p.rdep);
    return p.n;
}

size_t
hvf_audit_find(const hvf_fleet *f, hvf_audit_finding **out)
{
    return audit_find_all(f, true, out);
}

void
hvf_audit_describe(const hvf_fleet *f, const hvf_audit_finding *x, hvf_strbuf *out)
{
    static const char *const level_names[] = {"host", "rack", "zone"};
    const char *lv = level_names[x->level];
    const char *dname = x->level == HVF_SPREAD_HOST   ? f->hosts[x->domain].name
                        : x->level == HVF_SPREAD_RACK ? f->racks[x->domain].name
                                                      : f->zones[x->domain].name;
    const char *s = f->services[x->service].name;
    const char *o = x->other >= 0 ? f->services[x->other].name : "";

    switch (x->kind) {
    case HVF_AUDIT_REPLICAS:
        if (x->lost == x->alive)
            hvf_strbuf_printf(out, "losing %s %s takes all %u replica%s of critical service '%s'",
                              lv, dname, x->alive, x->alive == 1 ? "" : "s", s);
        else
            hvf_strbuf_printf(out,
                              "losing %s %s leaves critical service '%s' %u of %u replicas, "
                              "below min_available %u",
                              lv, dname, s, x->alive - x->lost, x->alive, x->needed);
        break;
    case HVF_AUDIT_DEPENDENCY:
        hvf_strbuf_printf(out,
                          "losing %s %s stops '%s', which critical service '%s' depends on "
                          "(depends_on)",
                          lv, dname, o, s);
        break;
    default:
        hvf_strbuf_printf(out,
                          "losing %s %s stops both '%s' and '%s', which must not share a fate "
                          "(must_not_share)",
                          lv, dname, s, o);
        break;
    }
}
