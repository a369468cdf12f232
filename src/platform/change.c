/* SPDX-License-Identifier: MIT */
/*
 * The twin's change controller, part one: the runs' data, the effects a change has on the
 * variants the scenario names, and the controller's setup, outcomes and summary. The wave-by-
 * wave execution is in change-exec.c.
 */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "hvfleet/alloc.h"
#include "hvfleet/sim-svc.h"
#include "platform/change-priv.h"
#include "sim/sim-priv.h"

/* ---- effects ---------------------------------------------------------------------------- */

/* Numbers between dots, left to right: 4.15 > 4.10 > 4.4; "4.15.0-45" is 4.15.0. */
static int
cx_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        unsigned long x = 0, y = 0;
        while (isdigit((unsigned char)*a))
            x = x * 10 + (unsigned long)(*a++ - '0');
        while (isdigit((unsigned char)*b))
            y = y * 10 + (unsigned long)(*b++ - '0');
        if (x != y)
            return x < y ? -1 : 1;
        if (*a != '.' || *b != '.') {
            /* one ran out of numbers: more components is newer */
            bool ma = *a == '.', mb = *b == '.';
            return (ma > mb) - (ma < mb);
        }
        a++;
        b++;
    }
    return 0;
}

static bool
cx_host_has_tag(const hvf_host *h, const char *tag)
{
    for (size_t t = 0; t < h->ntags; t++) {
        if (strcmp(h->tags[t], tag) == 0)
            return true;
    }
    return false;
}

/* A host has sysctl NAME set when it carries a tag NAME=V with V other than 0. */
static bool
cx_host_has_sysctl(const hvf_host *h, const char *name)
{
    size_t n = strlen(name);

    for (size_t t = 0; t < h->ntags; t++) {
        const char *tag = h->tags[t];
        if (strncmp(tag, name, n) == 0 && tag[n] == '=' && strcmp(tag + n + 1, "0") != 0)
            return true;
    }
    return false;
}

bool
hvf_sim_effect_matches(const hvf_sim_change_effect *e, const hvf_fleet *fleet, int32_t host,
                       const hvf_change *change)
{
    const hvf_host *h = &fleet->hosts[host];

    if (e->kernel) {
        int c;
        if (!h->kernel)
            return false;
        c = cx_version_cmp(h->kernel, e->kernel);
        switch (e->kernel_cmp) {
        case HVF_SIM_CMP_LT:
            if (!(c < 0))
                return false;
            break;
        case HVF_SIM_CMP_LE:
            if (!(c <= 0))
                return false;
            break;
        case HVF_SIM_CMP_GT:
            if (!(c > 0))
                return false;
            break;
        case HVF_SIM_CMP_GE:
            if (!(c >= 0))
                return false;
            break;
        default:
            if (c != 0)
                return false;
            break;
        }
    }
    if (e->hw && (!h->hw || strcmp(h->hw, e->hw) != 0))
        return false;
    if (e->tag && !cx_host_has_tag(h, e->tag))
        return false;
    if (e->sysctl_missing && cx_host_has_sysctl(h, e->sysctl_missing))
        return false;
    if (e->setting) {
        bool named = false;
        for (size_t i = 0; i < change->nsettings && !named; i++)
            named = strcmp(change->settings[i], e->setting) == 0;
        if (!named)
            return false;
    }
    return true;
}

bool
cx_restarts(const cx_run *x)
{
    return x->r->change->kind == HVF_CHANGE_KIND_PACKAGE ||
           x->r->change->kind == HVF_CHANGE_KIND_KERNEL;
}

void
cx_update_serving(sim_cx *cx, int32_t vm, const char *why)
{
    hvf_sim_vm_set_serving(cx->sim, vm, cx->stop_ref[vm] == 0 && cx->restart_ref[vm] == 0, why);
}

/* "kernel 4.15, hw nvme-g2" of @host, for the log. */
static void
cx_host_words(const hvf_host *h, char *buf, size_t size)
{
    snprintf(buf, size, "kernel %s, hw %s", h->kernel ? h->kernel : "?", h->hw ? h->hw : "?");
}

void
cx_effects_on(sim_cx *cx, cx_run *x, uint32_t unit)
{
    hvf_sim *sim = cx->sim;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    const hvf_change_unit *u = &x->plan->units[unit];
    char detail[256], words[96];

    if (x->uhurt[unit])
        return;
    cx_host_words(&f->hosts[u->host], words, sizeof(words));
    for (size_t i = 0; i < x->r->neffects; i++) {
        const hvf_sim_change_effect *e = &x->r->effects[i];
        if (!hvf_sim_effect_matches(e, f, u->host, x->r->change))
            continue;
        x->uhurt[unit] = true;
        snprintf(detail, sizeof(detail), "%s on %s (%s): %s", x->plan->change, u->name, words,
                 hvf_sim_effect_names[e->effect]);
        hvf_sim_log(sim, "change_effect", u->host, u->vm, detail);
        if (x->out->t_event_us < 0)
            x->out->t_event_us = hvf_sim_now(sim);
        if (e->effect == HVF_SIM_EFFECT_DROP_ESTABLISHED_CONNECTIONS) {
            if (cx->drop_ref[u->host]++ == 0)
                hvf_sim_host_set_dropping(sim, u->host, true, detail);
            continue;
        }
        if (u->vm >= 0) {
            cx->stop_ref[u->vm]++;
            cx_update_serving(cx, u->vm, detail);
        } else {
            const int32_t *vms;
            size_t n = hvf_sim_host_vms(sim, u->host, &vms);
            x->uvms[unit] = hvf_realloc(x->uvms[unit], (x->nuvms[unit] + n + 1) * sizeof(int32_t));
            if (n > 0)
                memcpy(x->uvms[unit] + x->nuvms[unit], vms, n * sizeof(int32_t));
            x->nuvms[unit] += n;
            for (size_t k = 0; k < n; k++) {
                int32_t vm = x->uvms[unit][x->nuvms[unit] - n + k];
                cx->stop_ref[vm]++;
                cx_update_serving(cx, vm, detail);
            }
        }
    }
}

void
cx_effects_off(sim_cx *cx, cx_run *x, uint32_t unit)
{
    hvf_sim *sim = cx->sim;
    const hvf_fleet *f = hvf_sim_fleet(sim);
    const hvf_change_unit *u = &x->plan->units[unit];
    char detail[160];

    if (!x->uhurt[unit])
        return;
    x->uhurt[unit] = false;
    snprintf(detail, sizeof(detail), "%s undone on %s", x->plan->change, u->name);
    for (size_t i = 0; i < x->r->neffects; i++) {
        const hvf_sim_change_effect *e = &x->r->effects[i];
        if (!hvf_sim_effect_matches(e, f, u->host, x->r->change))
            continue;
        if (e->effect == HVF_SIM_EFFECT_DROP_ESTABLISHED_CONNECTIONS) {
            if (--cx->drop_ref[u->host] == 0)
                hvf_sim_host_set_dropping(sim, u->host, false, detail);
        } else if (u->vm >= 0) {
            cx->stop_ref[u->vm]--;
            cx_update_serving(cx, u->vm, detail);
        }
    }
    for (size_t k = 0; k < x->nuvms[unit]; k++) {
        int32_t vm = x->uvms[unit][k];
        cx->stop_ref[vm]--;
        cx_update_serving(cx, vm, detail);
    }
    free(x->uvms[unit]);
    x->uvms[unit] = NULL;
    x->nuvms[unit] = 0;
}

/* ---- setup, outcomes, summary ------------------------------------------------------------ */

/* ---- the planner ------------------------------------------------------------------------ */

static hvf_sim_change_planner cx_planner;
static bool cx_planner_set;

int
hvf_sim_change_set_planner(const hvf_sim_change_planner *p, hvf_error *err)
{
    if (!p->build || !p->free || !p->pack || !p->evaluate || !p->wave_variants) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "a change planner needs build, free, pack, evaluate and wave_variants");
        return -1;
    }
    cx_planner = *p;
    cx_planner_set = true;
    return 0;
}

const hvf_sim_change_planner *
hvf_sim_change_get_planner(void)
{
    return cx_planner_set ? &cx_planner : NULL;
}

/* ---- setup and outcomes ----------------------------------------------------------------- */

static void cx_free(void *ctx);
static void cx_summary(const hvf_sim *sim, const void *ctx, json_t *root);

static const sim_model_ops cx_ops = {.name = "changes", .summary = cx_summary, .free_ctx = cx_free};

int32_t
hvf_sim_change_attach(hvf_sim *sim, const hvf_sim_change_run *runs, size_t nruns)
{
    sim_cx *cx = HVF_NEW(sim_cx);
    const hvf_fleet *f = hvf_sim_fleet(sim);
    hvf_sim_component comp = {0};

    HVF_ASSERT(!sim_model_get(sim, &cx_ops));
    cx->sim = sim;
    if (cx_planner_set)
        cx->planner = cx_planner;
    cx->nruns = nruns;
    cx->runs = hvf_calloc(nruns + 1, sizeof(cx_run));
    cx->outcomes = hvf_calloc(nruns + 1, sizeof(hvf_sim_change_outcome));
    cx->drop_ref = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
    cx->stop_ref = hvf_calloc(f->nvms + 1, sizeof(int32_t));
    cx->restart_ref = hvf_calloc(f->nvms + 1, sizeof(int32_t));
    for (size_t i = 0; i < nruns; i++) {
        hvf_sim_change_outcome *o = &cx->outcomes[i];
        cx->runs[i].r = &runs[i];
        cx->runs[i].out = o;
        cx->runs[i].mon_fail_since = -1;
        o->name = runs[i].change->name;
        o->as_written = runs[i].as_written;
        o->t_start_us = o->t_event_us = o->t_detect_us = o->t_decide_us = o->t_resolve_us = -1;
    }
    /* the simulation frees the context (cx_free): outcomes stay readable until then */
    sim_model_add(sim, &cx_ops, cx);
    comp.name = "change";
    comp.ctx = cx;
    comp.on_start = cx_on_start;
    comp.on_event = cx_on_event;
    comp.on_timer = cx_on_timer;
    cx->comp = hvf_sim_add_component(sim, &comp);
    return cx->comp;
}

static void
cx_free(void *ctx)
{
    sim_cx *cx = ctx;

    for (size_t i = 0; i < cx->nruns; i++) {
        cx_run *x = &cx->runs[i];
        for (size_t u = 0; x->plan && u < x->plan->nunits; u++)
            free(x->uvms[u]);
        if (x->plan)
            cx->planner.free(x->plan);
        free(x->ustate);
        free(x->uhurt);
        free(x->uvms);
        free(x->nuvms);
        free(x->applied);
        free(x->rb);
        free(x->rb_batch);
    }
    free(cx->runs);
    free(cx->outcomes);
    free(cx->drop_ref);
    free(cx->stop_ref);
    free(cx->restart_ref);
    free(cx);
}

size_t
hvf_sim_change_outcomes(const hvf_sim *sim, const hvf_sim_change_outcome **out)
{
    const sim_cx *cx = sim_model_get(sim, &cx_ops);

    *out = cx ? cx->outcomes : NULL;
    return cx ? cx->nruns : 0;
}

static json_t *
cx_time(int64_t us)
{
    return us < 0 ? json_null() : json_real((double)us / 1e6);
}

static void
cx_summary(const hvf_sim *sim, const void *ctx, json_t *root)
{
    const sim_cx *cx = ctx;
    json_t *a = json_array();

    (void)sim;
    for (size_t i = 0; i < cx->nruns; i++) {
        const hvf_sim_change_outcome *o = &cx->outcomes[i];
        json_t *c = json_object();
        json_object_set_new(c, "change", json_string(o->name));
        json_object_set_new(c, "executor", json_string(o->as_written ? "as_written" : "hvfleet"));
        json_object_set_new(c, "started", json_boolean(o->started));
        if (!o->as_written)
            json_object_set_new(c, "verdict", json_string(hvf_plan_verdict_to_string(o->verdict)));
        json_object_set_new(c, "waves_planned", json_integer((json_int_t)o->waves_planned));
        json_object_set_new(c, "waves_done", json_integer((json_int_t)o->waves_done));
        json_object_set_new(c, "units", json_integer((json_int_t)o->units));
        json_object_set_new(c, "units_changed", json_integer((json_int_t)o->units_changed));
        json_object_set_new(c, "completed", json_boolean(o->completed));
        json_object_set_new(c, "halted", json_boolean(o->halted));
        json_object_set_new(c, "rolled_back", json_boolean(o->rolled_back));
        json_object_set_new(c, "reverted", json_boolean(o->reverted));
        json_object_set_new(c, "halt_reason",
                            o->halt_reason[0] ? json_string(o->halt_reason) : json_null());
        json_object_set_new(c, "start_s", cx_time(o->t_start_us));
        json_object_set_new(c, "event_s", cx_time(o->t_event_us));
        json_object_set_new(c, "detection_s", cx_time(o->t_detect_us));
        json_object_set_new(c, "decision_s", cx_time(o->t_decide_us));
        json_object_set_new(c, "resolution_s", cx_time(o->t_resolve_us));
        json_array_append_new(a, c);
    }
    json_object_set_new(root, "changes", a);
}
