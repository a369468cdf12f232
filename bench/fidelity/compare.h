/* SPDX-License-Identifier: MIT */
/* Measured migrations beside the model: per-config errors, verdicts, summary, calibration. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "fidelity.h"

typedef struct fid_row {
    fid_config c;
    fid_measure m;
    json_t *measure_json; /* owned, may be NULL: the recorded measure, written back verbatim */
    hvf_migrate_result model;
    bool have_model;
    char model_error[256];
    bool qemu_converged;
    bool verdict_ok;
    double total_err; /* (model - QEMU) / QEMU; NaN unless both converged */
    double down_err;
    /* The model with nominal inputs, as a user runs `hvfleet estimate`: no calibration (the
     * model's default link speed and switchover), the rest as above. */
    hvf_migrate_result nominal;
    bool have_nominal;
    double nominal_total_err; /* NaN unless both converged */
    double nominal_down_err;
} fid_row;

typedef struct fid_summary {
    size_t configs, failed_runs;
    size_t verdicts, verdicts_right;
    size_t timed; /* both converged: errors are defined */
    size_t total_within, down_within, down_within_slack;
    double sum_abs_total_err;
    /* the same with nominal inputs */
    size_t nominal_timed, nominal_within, goal_nominal_within;
    double sum_abs_nominal_err, worst_nominal_err;
    size_t goal_configs, goal_within;
    bool goal_met;
} fid_summary;

/* Runs the model for @row with @cal and fills its errors and verdict. */
void fid_compare_row(fid_row *row, const fid_calibration *cal);
void fid_summarize(const fid_row *rows, size_t n, fid_summary *s);
void fid_print_table(FILE *out, const fid_row *rows, size_t n);
void fid_print_summary(FILE *out, const fid_summary *s, const fid_calibration *cal);
json_t *fid_row_model_json(const fid_row *r);
json_t *fid_summary_json(const fid_summary *s);

/* Stop-and-copy speed and switchover from the calibration rows: downtime = sw + bytes / link. */
int fid_calibrate(const fid_row *rows, size_t n, fid_calibration *cal, hvf_error *err)
    __attribute__((warn_unused_result));
