/* SPDX-License-Identifier: MIT */
/*
 * Running a replay: every variant's scenario in the twin with one RNG seed, each run's incident
 * KPIs, and the comparison written beside the runs (OUT/<variant>/, OUT/summary.json).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sys/stat.h>

#include "hvfleet/alloc.h"
#include "hvfleet/replay-run.h"
#include "hvfleet/replay.h"
#include "hvfleet/scenario-run.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"
#include "util/text.h"

static char *
run_scenario_path(const hvf_replay *rp, const hvf_replay_variant *v)
{
    if (v->scenario[0] == '/' || !rp->base_dir)
        return hvf_strdup(v->scenario);
    return hvf_asprintf("%s/%s", rp->base_dir, v->scenario);
}

/* Loads every variant first, so a bad one stops the replay before anything runs or is written. */
static int
run_load_all(const hvf_replay *rp, hvf_scenario **sc, hvf_diags *diags, hvf_error *err)
{
    size_t bad = 0;

    for (size_t i = 0; i < rp->nvariants; i++) {
        const hvf_replay_variant *v = &rp->variants[i];
        HVF_AUTOFREE char *path = run_scenario_path(rp, v);
        hvf_error serr = HVF_ERROR_INIT;

        sc[i] = hvf_scenario_load(path, diags, &serr);
        if (!sc[i]) {
            hvf_diags_add(
                diags, "%s:%d: variants[%zu].scenario: '%s': %s", rp->file, v->line, i, v->scenario,
                serr.code == HVF_ERR_IO ? serr.msg : "expected a valid scenario (problems above)");
            bad++;
        }
    }
    if (bad > 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "replay '%s': %zu of %zu variant scenario%s cannot be "
                      "used",
                      rp->file, bad, rp->nvariants, rp->nvariants == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

static int
run_one(const hvf_replay *rp, size_t i, hvf_scenario *sc, uint64_t seed, const char *out_dir,
        hvf_replay_outcome *out, hvf_error *err)
{
    hvf_sim *sim;
    int rc = 0;

    sc->params.seed = seed;
    sim = hvf_scenario_sim_new(sc, NULL, err);
    if (!sim) {
        hvf_error_prefix(err, "replay '%s', variant '%s': ", rp->file, rp->variants[i].label);
        return -1;
    }
    if (rp->event_type)
        hvf_incident_set_event_type(sim, rp->event_type);
    hvf_sim_run(sim);
    hvf_incident_kpis_get(sim, &out->kpis[i]);
    hvf_sim_get_stats(sim, &out->stats[i]);
    if (out_dir) {
        HVF_AUTOFREE char *dir = hvf_asprintf("%s/%s", out_dir, rp->variants[i].dir);
        rc = hvf_sim_write_outputs(sim, dir, err);
    }
    hvf_sim_free(sim);
    return rc;
}

/* Each variant's summary.json gets the side-by-side table too, so its own report shows how it
 * compares with the others. */
static int
run_add_kpis(const hvf_replay *rp, const hvf_replay_outcome *out, const char *out_dir,
             hvf_error *err)
{
    HVF_AUTOFREE const char **cols = hvf_calloc(out->n + 1, sizeof(char *));
    HVF_AUTOFREE char *kpis = NULL;

    for (size_t i = 0; i < out->n; i++)
        cols[i] = rp->variants[i].label;
    kpis = hvf_incident_kpis_json(cols, out->kpis, out->n);
    for (size_t i = 0; i < out->n; i++) {
        HVF_AUTOFREE char *path = hvf_asprintf("%s/%s/summary.json", out_dir, rp->variants[i].dir);
        json_error_t jerr;
        json_t *root = json_load_file(path, 0, &jerr);
        char *text;
        int rc;

        if (!root) {
            hvf_error_set(err, HVF_ERR_IO, "cannot read back '%s': %s", path, jerr.text);
            return -1;
        }
        json_object_set_new(root, "kpis", json_loads(kpis, 0, NULL));
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        json_decref(root);
        {
            HVF_AUTOFREE char *withnl = hvf_asprintf("%s\n", text ? text : "{}");
            rc = hvf_file_write_atomic(path, withnl, strlen(withnl), err);
        }
        free(text);
        if (rc < 0)
            return -1;
        {
            /* summary.json changed: the run's manifest follows */
            HVF_AUTOFREE char *dir = hvf_asprintf("%s/%s", out_dir, rp->variants[i].dir);
            if (hvf_sim_seal_outputs(dir, err) < 0)
                return -1;
        }
    }
    return 0;
}

int
hvf_replay_run(const hvf_replay *rp, const hvf_replay_opts *opts, hvf_replay_outcome *out,
               hvf_diags *diags, hvf_error *err)
{
    HVF_AUTOFREE hvf_scenario **sc = hvf_calloc(rp->nvariants + 1, sizeof(hvf_scenario *));
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (rp->nvariants == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "replay '%s' has no variants", rp->file);
        return -1;
    }
    if (run_load_all(rp, sc, diags, err) < 0)
        goto out;
    out->n = rp->nvariants;
    out->kpis = hvf_calloc(out->n, sizeof(hvf_incident_kpis));
    out->stats = hvf_calloc(out->n, sizeof(hvf_sim_stats));
    out->sim_seed = opts && opts->has_seed ? opts->seed
                    : rp->has_sim_seed     ? rp->sim_seed
                                           : sc[0]->params.seed;
    if (opts && opts->out_dir && hvf_file_mkdirs(opts->out_dir, 0777, err) < 0)
        goto out;
    for (size_t i = 0; i < rp->nvariants; i++) {
        if (run_one(rp, i, sc[i], out->sim_seed, opts ? opts->out_dir : NULL, out, err) < 0)
            goto out;
    }
    if (opts && opts->out_dir) {
        HVF_AUTOFREE char *path = hvf_asprintf("%s/summary.json", opts->out_dir);
        HVF_AUTOFREE char *text = hvf_replay_summary_json(rp, out);
        if (run_add_kpis(rp, out, opts->out_dir, err) < 0 ||
            hvf_file_write_atomic(path, text, strlen(text), err) < 0)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < rp->nvariants; i++)
        hvf_scenario_free(sc[i]);
    if (rc < 0)
        hvf_replay_outcome_clear(out);
    return rc;
}

void
hvf_replay_outcome_clear(hvf_replay_outcome *out)
{
    free(out->kpis);
    free(out->stats);
    memset(out, 0, sizeof(*out));
}

char *
hvf_replay_summary_json(const hvf_replay *rp, const hvf_replay_outcome *out)
{
    json_t *root = json_object();
    json_t *vars = json_array();
    HVF_AUTOFREE const char **cols = hvf_calloc(out->n + 1, sizeof(char *));
    HVF_AUTOFREE char *kpis = NULL;
    char *s, *copy;

    json_object_set_new(root, "schema", json_string(HVF_REPLAY_SUMMARY_SCHEMA));
    json_object_set_new(root, "replay", json_string(rp->name));
    json_object_set_new(root, "seed", json_string(rp->seed));
    json_object_set_new(root, "title", json_string(rp->title));
    json_object_set_new(root, "sim_seed", json_integer((json_int_t)out->sim_seed));
    json_object_set_new(
        root, "event_type",
        json_string(rp->event_type ? rp->event_type : HVF_INCIDENT_DEFAULT_EVENT_TYPE));
    for (size_t i = 0; i < out->n && i < rp->nvariants; i++) {
        const hvf_replay_variant *v = &rp->variants[i];
        HVF_AUTOFREE char *raw = hvf_incident_raw_json(&out->kpis[i], rp->event_type);
        json_t *inc = json_loads(raw, 0, NULL);
        cols[i] = v->label;
        json_array_append_new(vars, json_pack("{s:s, s:s, s:s, s:o}", "label", v->label, "scenario",
                                              v->scenario, "dir", v->dir, "incident",
                                              inc ? inc : json_object()));
    }
    json_object_set_new(root, "variants", vars);
    kpis = hvf_incident_kpis_json(cols, out->kpis, out->n);
    json_object_set_new(root, "kpis", json_loads(kpis, 0, NULL));
    s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    copy = hvf_asprintf("%s\n", s ? s : "{}");
    free(s);
    return copy;
}
