/* SPDX-License-Identifier: MIT */
/* metrics-fleet.csv and metrics-hosts.csv of a simulation run, read into time series by column
 * name. */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/hash.h"
#include "report/csv.h"
#include "report/run.h"

static const struct {
    const char *name;
    bool required; /* the charts need it; the others are drawn when present */
} fleet_cols[] = {
    [HVF_RUN_MIGRATIONS_ACTIVE] = {"migrations_active", true},
    [HVF_RUN_HOSTS_EVACUATING] = {"hosts_evacuating", true},
    [HVF_RUN_HOSTS_IN_MAINTENANCE] = {"hosts_in_maintenance", false},
    [HVF_RUN_HOSTS_DOWN] = {"hosts_down", true},
    [HVF_RUN_HOSTS_OVER_COMMITTED] = {"hosts_over_committed", true},
    [HVF_RUN_VMS_RUNNING] = {"vms_running", false},
    [HVF_RUN_VMS_CRASHED] = {"vms_crashed", true},
    [HVF_RUN_MAX_HOST_MEMORY_RATIO] = {"max_host_memory_ratio", false},
    [HVF_RUN_MAX_HOST_CPU_RATIO] = {"max_host_cpu_ratio", false},
};
_Static_assert(HVF_ARRAY_LEN(fleet_cols) == HVF_RUN_FLEET_LAST, "fleet column table");

static const struct {
    const char *name;
    bool required;
} host_cols[] = {
    [HVF_RUN_HOST_MEMORY_RATIO] = {"memory_ratio", true},
    [HVF_RUN_HOST_CPU_RATIO] = {"cpu_ratio", true},
    [HVF_RUN_HOST_IO_UTIL] = {"io_util", false},
    [HVF_RUN_HOST_SWAP_MIB] = {"swap_mib", false},
};
_Static_assert(HVF_ARRAY_LEN(host_cols) == HVF_RUN_HOST_LAST, "host column table");

const char *
hvf_run_fleet_col_name(hvf_run_fleet_col c)
{
    return (unsigned)c < HVF_RUN_FLEET_LAST ? fleet_cols[c].name : "?";
}

const char *
hvf_run_host_col_name(hvf_run_host_col c)
{
    return (unsigned)c < HVF_RUN_HOST_LAST ? host_cols[c].name : "?";
}

/* The time column must hold a finite number in every row: a chart cannot place anything else. */
static int
metrics_time(const hvf_csv *csv, size_t row, int col, double *t_s, hvf_error *err)
{
    const hvf_csv_cell *c;

    if (hvf_csv_get_double(csv, row, (size_t)col, t_s, err) < 0)
        return -1;
    if (isfinite(*t_s))
        return 0;
    c = hvf_csv_get(csv, row, (size_t)col);
    hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: column 't_s': expected a time in seconds",
                  csv->name, (unsigned)c->line, (unsigned)c->col);
    return -1;
}

int
hvf_run_parse_fleet(const char *name, const char *data, size_t len, hvf_run *run, hvf_error *err)
{
    hvf_csv csv;
    int col[HVF_RUN_FLEET_LAST];
    int tcol;

    if (hvf_csv_parse(name, data, len, &csv, err) < 0)
        return -1;
    tcol = hvf_csv_require(&csv, "t_s", err);
    if (tcol < 0)
        goto fail;
    for (size_t k = 0; k < HVF_RUN_FLEET_LAST; k++) {
        col[k] = fleet_cols[k].required ? hvf_csv_require(&csv, fleet_cols[k].name, err)
                                        : hvf_csv_column(&csv, fleet_cols[k].name);
        if (col[k] < 0 && fleet_cols[k].required)
            goto fail;
    }
    run->nfleet = csv.nrows;
    run->fleet_t_s = hvf_calloc(csv.nrows ? csv.nrows : 1, sizeof(double));
    for (size_t k = 0; k < HVF_RUN_FLEET_LAST; k++) {
        if (col[k] >= 0)
            run->fleet[k] = hvf_calloc(csv.nrows ? csv.nrows : 1, sizeof(double));
    }
    for (size_t r = 0; r < csv.nrows; r++) {
        if (metrics_time(&csv, r, tcol, &run->fleet_t_s[r], err) < 0)
            goto fail;
        for (size_t k = 0; k < HVF_RUN_FLEET_LAST; k++) {
            if (col[k] >= 0 &&
                hvf_csv_get_double(&csv, r, (size_t)col[k], &run->fleet[k][r], err) < 0)
                goto fail;
        }
    }
    hvf_csv_clear(&csv);
    return 0;

fail:
    hvf_csv_clear(&csv);
    free(run->fleet_t_s);
    run->fleet_t_s = NULL;
    run->nfleet = 0;
    for (size_t k = 0; k < HVF_RUN_FLEET_LAST; k++) {
        free(run->fleet[k]);
        run->fleet[k] = NULL;
    }
    return -1;
}

static hvf_run_host *
metrics_host(hvf_run *run, hvf_hash *index, size_t *cap, const char *name)
{
    int32_t i = hvf_hash_get(index, name);
    hvf_run_host *h;
    int rc;

    if (i >= 0)
        return &run->hosts[i];
    hvf_grow(&run->hosts, cap, run->nhosts + 1, sizeof(*run->hosts));
    h = &run->hosts[run->nhosts];
    memset(h, 0, sizeof(*h));
    h->name = hvf_strdup(name);
    for (size_t k = 0; k < HVF_RUN_HOST_LAST; k++)
        h->peak[k] = -INFINITY;
    /* the key is the host's own copy of the name, which lives as long as the run */
    rc = hvf_hash_put(index, h->name, (int32_t)run->nhosts);
    HVF_ASSERT(rc == 0);
    return &run->hosts[run->nhosts++];
}

/* Every array of a host grows from the same capacity in the same steps, so one cap serves all. */
static void
metrics_host_add(hvf_run_host *h, double t_s, const double *v, const int *col)
{
    size_t cap = h->cap;

    hvf_grow(&h->t_s, &cap, h->n + 1, sizeof(double));
    for (size_t k = 0; k < HVF_RUN_HOST_LAST; k++) {
        size_t c = h->cap;
        if (col[k] < 0)
            continue;
        hvf_grow(&h->v[k], &c, h->n + 1, sizeof(double));
        h->v[k][h->n] = v[k];
        if (isfinite(v[k]) && v[k] > h->peak[k])
            h->peak[k] = v[k];
    }
    h->cap = cap;
    h->t_s[h->n++] = t_s;
}

int
hvf_run_parse_hosts(const char *name, const char *data, size_t len, hvf_run *run, hvf_error *err)
{
    hvf_csv csv;
    hvf_hash index;
    size_t cap = run->nhosts;
    int col[HVF_RUN_HOST_LAST];
    int tcol, hcol, scol;

    hvf_hash_init(&index);
    if (hvf_csv_parse(name, data, len, &csv, err) < 0)
        return -1;
    tcol = hvf_csv_require(&csv, "t_s", err);
    if (tcol < 0)
        goto fail;
    hcol = hvf_csv_require(&csv, "host", err);
    if (hcol < 0)
        goto fail;
    for (size_t k = 0; k < HVF_RUN_HOST_LAST; k++) {
        col[k] = host_cols[k].required ? hvf_csv_require(&csv, host_cols[k].name, err)
                                       : hvf_csv_column(&csv, host_cols[k].name);
        if (col[k] < 0 && host_cols[k].required)
            goto fail;
    }
    scol = hvf_csv_column(&csv, "state");
    for (size_t r = 0; r < csv.nrows; r++) {
        const hvf_csv_cell *hc = hvf_csv_get(&csv, r, (size_t)hcol);
        double t_s, v[HVF_RUN_HOST_LAST];
        if (metrics_time(&csv, r, tcol, &t_s, err) < 0)
            goto fail;
        if (hc->s[0] == '\0') {
            hvf_error_set(err, HVF_ERR_INVALID, "%s:%u:%u: column 'host': expected a host name",
                          name, (unsigned)hc->line, (unsigned)hc->col);
            goto fail;
        }
        for (size_t k = 0; k < HVF_RUN_HOST_LAST; k++) {
            v[k] = NAN;
            if (col[k] >= 0 && hvf_csv_get_double(&csv, r, (size_t)col[k], &v[k], err) < 0)
                goto fail;
        }
        /* a host that is down has no load; its zeros would read as an idle host */
        if (scol >= 0 && strcmp(hvf_csv_get(&csv, r, (size_t)scol)->s, "down") == 0) {
            for (size_t k = 0; k < HVF_RUN_HOST_LAST; k++)
                v[k] = NAN;
        }
        metrics_host_add(metrics_host(run, &index, &cap, hc->s), t_s, v, col);
    }
    hvf_hash_clear(&index);
    hvf_csv_clear(&csv);
    return 0;

fail:
    hvf_hash_clear(&index);
    hvf_csv_clear(&csv);
    return -1;
}
