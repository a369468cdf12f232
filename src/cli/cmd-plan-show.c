/* SPDX-License-Identifier: MIT */
/*
 * hvfleet plan show PLAN.json: per host, its VMs, where each goes and when.
 * hvfleet plan diff A B: hosts, migrations and stops added, removed or changed (exit 0 same,
 * 1 different, as diff).
 *
 * Both read maintenance, drain and rebalance plans (hvfleet.plan/v1). A VM's moves are told
 * apart by their order in the plan: the first move of vm07 in A is compared with the first
 * move of vm07 in B, its second (a return) with the second.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/plan-cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/units.h"

/* "+1h 02m 03s" for a time in milliseconds from the plan's time zero. */
static const char *
ps_at(int64_t ms, char *buf, size_t size)
{
    char d[40];

    if (ms == 0)
        snprintf(buf, size, "+0s");
    else
        snprintf(buf, size, "+%s", hvf_units_format_duration(ms * HVF_US_PER_MS, d, sizeof(d)));
    return buf;
}

static double
ps_s(int64_t ms)
{
    return (double)ms / 1000.0;
}

/* Loads a maintenance/drain/rebalance plan for @verb; a change plan is refused (exit 2). */
static hvf_plan *
ps_load(const char *verb, const char *path, int *rc)
{
    if (hvf_cli_plan_is_change(path)) {
        fprintf(stderr,
                "hvfleet: plan %s: '%s' is a change plan (hvfleet.change-plan/v1); expected a "
                "maintenance, drain or rebalance plan (hvfleet.plan/v1)\n",
                verb, path);
        *rc = 2;
        return NULL;
    }
    return hvf_cli_load_plan(path, rc);
}

/* ---- plan show ------------------------------------------------------------------------------ */

/* The hosts VMs leave from, in the plan's host order, then the others as they first appear. */
static size_t
ps_source_hosts(const hvf_plan *p, const char ***out)
{
    const char **names = hvf_calloc(p->nhosts + p->nmigrations + p->nstops + 1, sizeof(char *));
    size_t n = 0;

#define PS_ADD(name)                                                                               \
    do {                                                                                           \
        size_t k_ = 0;                                                                             \
        while (k_ < n && strcmp(names[k_], (name)) != 0)                                           \
            k_++;                                                                                  \
        if (k_ == n)                                                                               \
            names[n++] = (name);                                                                   \
    } while (0)
    for (size_t i = 0; i < p->nhosts; i++)
        PS_ADD(p->hosts[i].host);
    for (size_t i = 0; i < p->nmigrations; i++)
        PS_ADD(p->migrations[i].from);
    for (size_t i = 0; i < p->nstops; i++)
        PS_ADD(p->stops[i].host);
#undef PS_ADD
    *out = names;
    return n;
}

static const hvf_plan_host *
ps_find_host(const hvf_plan *p, const char *name)
{
    for (size_t i = 0; i < p->nhosts; i++) {
        if (strcmp(p->hosts[i].host, name) == 0)
            return &p->hosts[i];
    }
    return NULL;
}

static json_t *
ps_show_json(const hvf_plan *p, const char **hosts, size_t nhosts)
{
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:f}", "schema", "hvfleet.plan-show/v1",
                  "plan_hash", p->summary.plan_hash, "kind", hvf_plan_kind_to_string(p->kind),
                  "strategy", hvf_plan_strategy_to_string(p->strategy), "verdict",
                  hvf_plan_verdict_to_string(p->summary.verdict), "hash_ok", hvf_plan_hash_ok(p),
                  "makespan_s", ps_s(p->summary.makespan_ms));
    json_t *jh = json_array();

    for (size_t h = 0; h < nhosts; h++) {
        const hvf_plan_host *ph = ps_find_host(p, hosts[h]);
        json_t *o = json_pack("{s:s}", "host", hosts[h]);
        json_t *vms = json_array();
        if (ph) {
            json_object_set_new(o, "evacuate_start_s", json_real(ps_s(ph->evacuate_start_ms)));
            json_object_set_new(o, "evacuate_end_s", json_real(ps_s(ph->evacuate_end_ms)));
            json_object_set_new(o, "maintenance_start_s",
                                json_real(ps_s(ph->maintenance_start_ms)));
            json_object_set_new(o, "maintenance_end_s", json_real(ps_s(ph->maintenance_end_ms)));
        }
        for (size_t i = 0; i < p->nmigrations; i++) {
            const hvf_plan_migration *m = &p->migrations[i];
            if (strcmp(m->from, hosts[h]) != 0)
                continue;
            json_array_append_new(vms,
                                  json_pack("{s:s, s:s, s:s, s:f, s:f, s:s, s:f}", "vm", m->vm,
                                            "action", "migrate", "to", m->to, "start_s",
                                            ps_s(m->start_ms), "end_s", ps_s(m->end_ms), "strategy",
                                            hvf_plan_migration_mode_to_string(m->strategy),
                                            "downtime_ms", (double)m->downtime_us / 1000.0));
        }
        for (size_t i = 0; i < p->nstops; i++) {
            const hvf_plan_stop *s = &p->stops[i];
            if (strcmp(s->host, hosts[h]) != 0)
                continue;
            json_array_append_new(vms, json_pack("{s:s, s:s, s:s, s:f, s:f}", "vm", s->vm, "action",
                                                 "stop", "to", s->start_host, "start_s",
                                                 ps_s(s->stop_ms), "end_s", ps_s(s->start_ms)));
        }
        json_object_set_new(o, "vms", vms);
        json_array_append_new(jh, o);
    }
    json_object_set_new(root, "hosts", jh);
    return root;
}

static void
ps_show_text(const hvf_plan *p, const char **hosts, size_t nhosts)
{
    char a[48], b[48], c[48], d[48];

    printf("plan %.12s: %s (%s strategy), verdict %s, %zu host%s, %zu migration%s, %zu stop%s, "
           "makespan %s\n",
           p->summary.plan_hash, hvf_plan_kind_to_string(p->kind),
           hvf_plan_strategy_to_string(p->strategy), hvf_plan_verdict_to_string(p->summary.verdict),
           p->nhosts, p->nhosts == 1 ? "" : "s", p->nmigrations, p->nmigrations == 1 ? "" : "s",
           p->nstops, p->nstops == 1 ? "" : "s",
           hvf_units_format_duration(p->summary.makespan_ms * HVF_US_PER_MS, a, sizeof(a)));
    if (!hvf_plan_hash_ok(p))
        printf("warning: plan_hash does not match the content: the file was edited\n");
    for (size_t h = 0; h < nhosts; h++) {
        const hvf_plan_host *ph = ps_find_host(p, hosts[h]);
        printf("\nhost %s", hosts[h]);
        if (ph && ph->maintenance_end_ms > ph->maintenance_start_ms)
            printf(": evacuated %s .. %s, maintained %s .. %s\n",
                   ps_at(ph->evacuate_start_ms, a, sizeof(a)),
                   ps_at(ph->evacuate_end_ms, b, sizeof(b)),
                   ps_at(ph->maintenance_start_ms, c, sizeof(c)),
                   ps_at(ph->maintenance_end_ms, d, sizeof(d)));
        else if (ph)
            printf(": evacuated %s .. %s\n", ps_at(ph->evacuate_start_ms, a, sizeof(a)),
                   ps_at(ph->evacuate_end_ms, b, sizeof(b)));
        else
            printf(": stays in service\n");
        for (size_t i = 0; i < p->nmigrations; i++) {
            const hvf_plan_migration *m = &p->migrations[i];
            if (strcmp(m->from, hosts[h]) != 0)
                continue;
            printf("  %-16s -> %-12s %12s .. %-12s %s, downtime %.0f ms\n", m->vm, m->to,
                   ps_at(m->start_ms, a, sizeof(a)), ps_at(m->end_ms, b, sizeof(b)),
                   hvf_plan_migration_mode_to_string(m->strategy), (double)m->downtime_us / 1000.0);
        }
        for (size_t i = 0; i < p->nstops; i++) {
            const hvf_plan_stop *s = &p->stops[i];
            if (strcmp(s->host, hosts[h]) != 0)
                continue;
            printf("  %-16s stopped %s, started on %s %s\n", s->vm, ps_at(s->stop_ms, a, sizeof(a)),
                   s->start_host, ps_at(s->start_ms, b, sizeof(b)));
        }
    }
}

int
hvf_cli_plan_show(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"host", required_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *only = NULL;
    bool json = false;
    HVF_AUTOFREE const char **hosts = NULL;
    size_t nhosts;
    hvf_plan *p;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'H':
            only = optarg;
            break;
        case 'h':
            printf("usage: hvfleet plan show PLAN.json [--host NAME] [--json]\n"
                   "Shows a maintenance, drain or rebalance plan per host: when the host is\n"
                   "evacuated and maintained, and for each of its VMs where it goes and when\n"
                   "(migrations, and stops with the host the VM starts on again).\n");
            return 0;
        default:
            fprintf(stderr, "hvfleet: plan show: bad option '%s'; see hvfleet plan show --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: plan show: expected one PLAN.json, got %d arguments\n",
                argc - optind);
        return 2;
    }
    if (!(p = ps_load("show", argv[optind], &rc)))
        return rc;
    nhosts = ps_source_hosts(p, &hosts);
    if (only) {
        size_t k = 0;
        while (k < nhosts && strcmp(hosts[k], only) != 0)
            k++;
        if (k == nhosts) {
            fprintf(stderr, "hvfleet: plan show: --host '%s': no such host in '%s'\n", only,
                    argv[optind]);
            hvf_plan_free(p);
            return 2;
        }
        hosts[0] = hosts[k];
        nhosts = 1;
    }
    if (json) {
        json_t *root = ps_show_json(p, hosts, nhosts);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        printf("\n");
        json_decref(root);
    } else {
        ps_show_text(p, hosts, nhosts);
    }
    hvf_plan_free(p);
    return 0;
}

/* ---- plan diff ------------------------------------------------------------------------------ */

typedef struct pd_out {
    bool json, stat;
    json_t *added, *removed, *changed; /* --json */
    size_t nadded[3], nremoved[3], nchanged[3];
} pd_out;

enum { PD_HOST, PD_MIGRATION, PD_STOP };
static const char *const pd_kind[] = {"host", "migration", "stop"};

static void
pd_emit(pd_out *o, char sign, int kind, const char *key, const char *text)
{
    size_t *count = sign == '+' ? o->nadded : sign == '-' ? o->nremoved : o->nchanged;
    json_t *list = sign == '+' ? o->added : sign == '-' ? o->removed : o->changed;

    count[kind]++;
    if (o->json)
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s}", "kind", pd_kind[kind], "key", key, "what", text));
    else if (!o->stat)
        printf("%c %s %s: %s\n", sign, pd_kind[kind], key, text);
}

static void
pd_host_text(const hvf_plan_host *h, char *buf, size_t size)
{
    char a[48], b[48], c[48], d[48];

    if (h->maintenance_end_ms == h->maintenance_start_ms) /* a drain: no maintenance */
        snprintf(buf, size, "evacuated %s .. %s", ps_at(h->evacuate_start_ms, a, sizeof(a)),
                 ps_at(h->evacuate_end_ms, b, sizeof(b)));
    else
        snprintf(buf, size, "evacuated %s .. %s, maintained %s .. %s",
                 ps_at(h->evacuate_start_ms, a, sizeof(a)), ps_at(h->evacuate_end_ms, b, sizeof(b)),
                 ps_at(h->maintenance_start_ms, c, sizeof(c)),
                 ps_at(h->maintenance_end_ms, d, sizeof(d)));
}

static void
pd_hosts(pd_out *o, const hvf_plan *a, const hvf_plan *b)
{
    char ta[256], tb[256], both[520];

    for (size_t i = 0; i < a->nhosts; i++) {
        const hvf_plan_host *hb = ps_find_host(b, a->hosts[i].host);
        pd_host_text(&a->hosts[i], ta, sizeof(ta));
        if (!hb) {
            pd_emit(o, '-', PD_HOST, a->hosts[i].host, ta);
            continue;
        }
        pd_host_text(hb, tb, sizeof(tb));
        if (strcmp(ta, tb) != 0 || a->hosts[i].evacuate_start_ms != hb->evacuate_start_ms ||
            a->hosts[i].evacuate_end_ms != hb->evacuate_end_ms ||
            a->hosts[i].maintenance_start_ms != hb->maintenance_start_ms ||
            a->hosts[i].maintenance_end_ms != hb->maintenance_end_ms ||
            a->hosts[i].usable_mib != hb->usable_mib) {
            snprintf(both, sizeof(both), "%s -> %s", ta, tb);
            pd_emit(o, '~', PD_HOST, a->hosts[i].host, both);
        }
    }
    for (size_t i = 0; i < b->nhosts; i++) {
        if (!ps_find_host(a, b->hosts[i].host)) {
            pd_host_text(&b->hosts[i], tb, sizeof(tb));
            pd_emit(o, '+', PD_HOST, b->hosts[i].host, tb);
        }
    }
}

/* The @nth (0-based) migration of @vm in @p, or NULL. */
static const hvf_plan_migration *
pd_find_migration(const hvf_plan *p, const char *vm, size_t nth)
{
    for (size_t i = 0; i < p->nmigrations; i++) {
        if (strcmp(p->migrations[i].vm, vm) == 0 && nth-- == 0)
            return &p->migrations[i];
    }
    return NULL;
}

static size_t
pd_migration_rank(const hvf_plan *p, size_t i)
{
    size_t nth = 0;

    for (size_t j = 0; j < i; j++)
        nth += strcmp(p->migrations[j].vm, p->migrations[i].vm) == 0;
    return nth;
}

static void
pd_migration_text(const hvf_plan_migration *m, char *buf, size_t size)
{
    char a[48], b[48];

    snprintf(buf, size, "%s -> %s %s .. %s (%s)", m->from, m->to, ps_at(m->start_ms, a, sizeof(a)),
             ps_at(m->end_ms, b, sizeof(b)), hvf_plan_migration_mode_to_string(m->strategy));
}

static bool
pd_migration_same(const hvf_plan_migration *x, const hvf_plan_migration *y)
{
    return strcmp(x->from, y->from) == 0 && strcmp(x->to, y->to) == 0 &&
           x->start_ms == y->start_ms && x->end_ms == y->end_ms && x->memory_mib == y->memory_mib &&
           x->downtime_us == y->downtime_us && x->rounds == y->rounds &&
           x->converged == y->converged && x->strategy == y->strategy;
}

static void
pd_key(const char *vm, size_t nth, char *buf, size_t size)
{
    if (nth == 0)
        snprintf(buf, size, "%s", vm);
    else
        snprintf(buf, size, "%s#%zu", vm, nth + 1);
}

static void
pd_migrations(pd_out *o, const hvf_plan *a, const hvf_plan *b)
{
    char ta[300], tb[300], both[620], key[300];

    for (size_t i = 0; i < a->nmigrations; i++) {
        size_t nth = pd_migration_rank(a, i);
        const hvf_plan_migration *mb = pd_find_migration(b, a->migrations[i].vm, nth);
        pd_key(a->migrations[i].vm, nth, key, sizeof(key));
        pd_migration_text(&a->migrations[i], ta, sizeof(ta));
        if (!mb) {
            pd_emit(o, '-', PD_MIGRATION, key, ta);
        } else if (!pd_migration_same(&a->migrations[i], mb)) {
            pd_migration_text(mb, tb, sizeof(tb));
            snprintf(both, sizeof(both), "%s -> %s", ta,
                     strcmp(ta, tb) == 0 ? "same moves and times, other predictions" : tb);
            pd_emit(o, '~', PD_MIGRATION, key, both);
        }
    }
    for (size_t i = 0; i < b->nmigrations; i++) {
        size_t nth = pd_migration_rank(b, i);
        if (!pd_find_migration(a, b->migrations[i].vm, nth)) {
            pd_key(b->migrations[i].vm, nth, key, sizeof(key));
            pd_migration_text(&b->migrations[i], tb, sizeof(tb));
            pd_emit(o, '+', PD_MIGRATION, key, tb);
        }
    }
}

static const hvf_plan_stop *
pd_find_stop(const hvf_plan *p, const char *vm)
{
    for (size_t i = 0; i < p->nstops; i++) {
        if (strcmp(p->stops[i].vm, vm) == 0)
            return &p->stops[i];
    }
    return NULL;
}

static void
pd_stop_text(const hvf_plan_stop *s, char *buf, size_t size)
{
    char a[48], b[48];

    snprintf(buf, size, "on %s %s, started on %s %s", s->host, ps_at(s->stop_ms, a, sizeof(a)),
             s->start_host, ps_at(s->start_ms, b, sizeof(b)));
}

static void
pd_stops(pd_out *o, const hvf_plan *a, const hvf_plan *b)
{
    char ta[300], tb[300], both[620];

    for (size_t i = 0; i < a->nstops; i++) {
        const hvf_plan_stop *sb = pd_find_stop(b, a->stops[i].vm);
        pd_stop_text(&a->stops[i], ta, sizeof(ta));
        if (!sb) {
            pd_emit(o, '-', PD_STOP, a->stops[i].vm, ta);
            continue;
        }
        pd_stop_text(sb, tb, sizeof(tb));
        if (strcmp(ta, tb) != 0 || a->stops[i].stop_ms != sb->stop_ms ||
            a->stops[i].start_ms != sb->start_ms) {
            snprintf(both, sizeof(both), "%s -> %s", ta, tb);
            pd_emit(o, '~', PD_STOP, a->stops[i].vm, both);
        }
    }
    for (size_t i = 0; i < b->nstops; i++) {
        if (!pd_find_stop(a, b->stops[i].vm)) {
            pd_stop_text(&b->stops[i], tb, sizeof(tb));
            pd_emit(o, '+', PD_STOP, b->stops[i].vm, tb);
        }
    }
}

int
hvf_cli_plan_diff(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"stat", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    pd_out o = {0};
    hvf_plan *a = NULL, *b = NULL;
    size_t total = 0;
    bool same_head;
    int c, rc = 0;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o.json = true;
            break;
        case 's':
            o.stat = true;
            break;
        case 'h':
            printf("usage: hvfleet plan diff A.json B.json [--stat] [--json]\n"
                   "Compares two maintenance, drain or rebalance plans: hosts, migrations and\n"
                   "stops added (+), removed (-) or changed (~) from A to B, then the counts;\n"
                   "--stat prints the counts only. A VM's moves are compared in their order\n"
                   "(its second move in A with its second in B, shown as VM#2).\n"
                   "Exit status, as diff: 0 the plans are the same, 1 they differ, 2 bad input.\n");
            return 0;
        default:
            fprintf(stderr, "hvfleet: plan diff: bad option '%s'; see hvfleet plan diff --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind + 2 != argc) {
        fprintf(stderr, "hvfleet: plan diff: expected two plans A.json B.json, got %d arguments\n",
                argc - optind);
        return 2;
    }
    if (!(a = ps_load("diff", argv[optind], &rc)) || !(b = ps_load("diff", argv[optind + 1], &rc)))
        goto out;
    if (o.json) {
        o.added = json_array();
        o.removed = json_array();
        o.changed = json_array();
    }
    same_head = a->kind == b->kind && a->strategy == b->strategy &&
                strcmp(a->inventory_fingerprint, b->inventory_fingerprint) == 0;
    if (!o.json && !o.stat) {
        printf("--- %s (%s, plan %.12s)\n", argv[optind], hvf_plan_kind_to_string(a->kind),
               a->summary.plan_hash);
        printf("+++ %s (%s, plan %.12s)\n", argv[optind + 1], hvf_plan_kind_to_string(b->kind),
               b->summary.plan_hash);
        if (strcmp(a->inventory_fingerprint, b->inventory_fingerprint) != 0)
            printf("! made for different inventories (fingerprints %.12s, %.12s)\n",
                   a->inventory_fingerprint, b->inventory_fingerprint);
    }
    pd_hosts(&o, a, b);
    pd_migrations(&o, a, b);
    pd_stops(&o, a, b);
    for (int k = 0; k < 3; k++)
        total += o.nadded[k] + o.nremoved[k] + o.nchanged[k];
    /* The same moves under another kind, strategy, inventory or verdict are not the same plan. */
    if (!same_head || a->summary.verdict != b->summary.verdict ||
        a->summary.makespan_ms != b->summary.makespan_ms)
        total++;
    if (o.json) {
        json_t *root = json_pack(
            "{s:s, s:b, s:s, s:s, s:b, s:o, s:o, s:o}", "schema", "hvfleet.plan-diff/v1", "same",
            total == 0, "a_plan_hash", a->summary.plan_hash, "b_plan_hash", b->summary.plan_hash,
            "same_inventory", strcmp(a->inventory_fingerprint, b->inventory_fingerprint) == 0,
            "added", o.added, "removed", o.removed, "changed", o.changed);
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(root);
    } else {
        for (int k = 0; k < 3; k++)
            printf("%ss: %zu added, %zu removed, %zu changed\n", pd_kind[k], o.nadded[k],
                   o.nremoved[k], o.nchanged[k]);
        if (a->summary.verdict != b->summary.verdict ||
            a->summary.makespan_ms != b->summary.makespan_ms || !same_head) {
            char x[48], y[48];
            printf("summary: %s %s, verdict %s -> %s %s, verdict %s\n",
                   hvf_plan_kind_to_string(a->kind),
                   hvf_units_format_duration(a->summary.makespan_ms * HVF_US_PER_MS, x, sizeof(x)),
                   hvf_plan_verdict_to_string(a->summary.verdict), hvf_plan_kind_to_string(b->kind),
                   hvf_units_format_duration(b->summary.makespan_ms * HVF_US_PER_MS, y, sizeof(y)),
                   hvf_plan_verdict_to_string(b->summary.verdict));
        }
        printf("%s\n", total ? "the plans differ" : "the plans are the same");
    }
    rc = total ? 1 : 0;
out:
    hvf_plan_free(a);
    hvf_plan_free(b);
    return rc;
}
