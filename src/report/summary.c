/* SPDX-License-Identifier: MIT */
/* summary.json of a simulation run: parse with jansson and check every field the report reads. */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "report/run.h"

typedef enum summary_kind { SUM_COUNT, SUM_NUMBER } summary_kind;

static const struct {
    const char *key;
    summary_kind kind;
} summary_numbers[] = {
    {"duration_s", SUM_NUMBER},
    {"hosts", SUM_COUNT},
    {"vms", SUM_COUNT},
    {"makespan_s", SUM_NUMBER},
    {"peak_concurrent_migrations", SUM_COUNT},
    {"peak_concurrent_evacuations", SUM_COUNT},
    {"peak_host_memory_ratio", SUM_NUMBER},
    {"hosts_over_committed", SUM_COUNT},
    {"vms_crashed", SUM_COUNT},
    {"vms_rebooted", SUM_COUNT},
    {"hosts_crashed", SUM_COUNT},
    {"events", SUM_COUNT},
    {"hosts_hung", SUM_COUNT},
    {"hosts_maintained", SUM_COUNT},
    {"metrics_interval_s", SUM_NUMBER},
};

static const char *
summary_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int
summary_check_number(const char *name, const char *field, const json_t *v, summary_kind kind,
                     hvf_error *err)
{
    double d;

    if (!json_is_number(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field '%s': expected a number, found %s", name,
                      field, summary_type_name(v));
        return -1;
    }
    d = json_number_value(v);
    if (kind == SUM_COUNT && (d < 0 || d != floor(d))) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "%s: field '%s': expected a whole number >= 0, found %g", name, field, d);
        return -1;
    }
    if (kind == SUM_NUMBER && d < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field '%s': expected a number >= 0, found %g",
                      name, field, d);
        return -1;
    }
    return 0;
}

static int
summary_check_kpis(const char *name, const json_t *kpis, hvf_error *err)
{
    const json_t *cols = json_object_get(kpis, "columns");
    const json_t *rows = json_object_get(kpis, "rows");
    size_t ncols, i;
    const json_t *v;

    if (!json_is_object(kpis)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'kpis': expected an object, found %s", name,
                      summary_type_name(kpis));
        return -1;
    }
    ncols = json_array_size(cols);
    if (!json_is_array(cols) || ncols == 0 || ncols > HVF_RUN_MAX_KPI_COLUMNS) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "%s: field 'kpis.columns': expected an array of 1 to %d column names", name,
                      HVF_RUN_MAX_KPI_COLUMNS);
        return -1;
    }
    json_array_foreach(cols, i, v)
    {
        if (!json_is_string(v)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s: field 'kpis.columns[%zu]': expected a string, found %s", name, i,
                          summary_type_name(v));
            return -1;
        }
    }
    if (!json_is_array(rows)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'kpis.rows': expected an array", name);
        return -1;
    }
    json_array_foreach(rows, i, v)
    {
        const json_t *label = json_object_get(v, "label");
        const json_t *vals = json_object_get(v, "values");
        size_t k;
        const json_t *x;

        if (!json_is_object(v) || !json_is_string(label)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s: field 'kpis.rows[%zu]': expected an object with a string 'label'",
                          name, i);
            return -1;
        }
        if (!json_is_array(vals) || json_array_size(vals) != ncols) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s: field 'kpis.rows[%zu].values': expected an array of %zu values, "
                          "one per column",
                          name, i, ncols);
            return -1;
        }
        json_array_foreach(vals, k, x)
        {
            if (json_is_object(x) || json_is_array(x)) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "%s: field 'kpis.rows[%zu].values[%zu]': expected a string, a "
                              "number or null, found %s",
                              name, i, k, summary_type_name(x));
                return -1;
            }
        }
    }
    return 0;
}

static bool
summary_blank(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r')
            return false;
    }
    return true;
}

json_t *
hvf_run_parse_summary(const char *name, const char *data, size_t len, hvf_error *err)
{
    json_error_t jerr;
    json_t *root;
    const json_t *v;

    if (summary_blank(data, len)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: empty file, expected a JSON object", name);
        return NULL;
    }
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        hvf_run_printable(jerr.text);
        hvf_error_set(err, HVF_ERR_INVALID, "%s:%d:%d: %s", name, jerr.line, jerr.column,
                      jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: expected a JSON object at the top level", name);
        goto fail;
    }
    v = json_object_get(root, "schema");
    if (!json_is_string(v) || strcmp(json_string_value(v), HVF_RUN_SUMMARY_SCHEMA) != 0) {
        char shown[64] = "";
        if (json_is_string(v)) {
            hvf_strlcpy(shown, json_string_value(v), sizeof(shown));
            hvf_run_printable(shown);
        }
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'schema': expected \"%s\", found %s%s%s",
                      name, HVF_RUN_SUMMARY_SCHEMA, json_is_string(v) ? "\"" : "",
                      json_is_string(v) ? shown
                      : v               ? summary_type_name(v)
                                        : "nothing",
                      json_is_string(v) ? "\"" : "");
        goto fail;
    }
    v = json_object_get(root, "scenario");
    if (!json_is_string(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'scenario': expected a string, found %s",
                      name, v ? summary_type_name(v) : "nothing");
        goto fail;
    }
    v = json_object_get(root, "seed");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "%s: field 'seed': expected a whole number >= 0, found %s", name,
                      v ? summary_type_name(v) : "nothing");
        goto fail;
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(summary_numbers); i++) {
        v = json_object_get(root, summary_numbers[i].key);
        if (v &&
            summary_check_number(name, summary_numbers[i].key, v, summary_numbers[i].kind, err) < 0)
            goto fail;
    }
    v = json_object_get(root, "migrations");
    if (v) {
        static const char *const keys[] = {"started", "completed", "aborted", "in_flight_at_end"};
        if (!json_is_object(v)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s: field 'migrations': expected an object, found %s", name,
                          summary_type_name(v));
            goto fail;
        }
        for (size_t i = 0; i < HVF_ARRAY_LEN(keys); i++) {
            const json_t *c = json_object_get(v, keys[i]);
            char field[32];
            snprintf(field, sizeof(field), "migrations.%s", keys[i]);
            if (c && summary_check_number(name, field, c, SUM_COUNT, err) < 0)
                goto fail;
        }
    }
    v = json_object_get(root, "scheduler");
    if (v && !json_is_string(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: field 'scheduler': expected a string, found %s",
                      name, summary_type_name(v));
        goto fail;
    }
    v = json_object_get(root, "kpis");
    if (v && summary_check_kpis(name, v, err) < 0)
        goto fail;
    return root;

fail:
    json_decref(root);
    return NULL;
}
