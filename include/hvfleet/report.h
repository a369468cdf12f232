/* SPDX-License-Identifier: MIT */
/* Reports: a simulation run's output directory as one self-contained HTML page with SVG charts. */
#pragma once

#include <stddef.h>

#include "hvfleet/error.h"
#include "hvfleet/strbuf.h"

/*
 * A run directory holds summary.json, events.jsonl, metrics-fleet.csv and metrics-hosts.csv
 * (formats in docs/reports.md). The report is a single HTML file: inline CSS, inline SVG, no
 * script, nothing fetched. It carries no date or path, so the same directory always gives the
 * same bytes.
 */

/*
 * hvf_report_render_html:
 * @run_dir: a simulation run's output directory, read only
 * @out: the page is appended here
 * @err: set on failure
 *
 * Returns 0, or -1 with @err set (HVF_ERR_IO for a missing or unreadable file, HVF_ERR_INVALID
 * for a malformed one, the message naming the file, line and column). On failure nothing is
 * appended to @out.
 */
int hvf_report_render_html(const char *run_dir, hvf_strbuf *out, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_report_write_html: renders @run_dir and writes @run_dir/report.html atomically (the old
 * file or the whole new one, never a part). Returns 0, or -1 with @err set.
 */
int hvf_report_write_html(const char *run_dir, hvf_error *err) __attribute__((warn_unused_result));

/* One row of a side-by-side table: a label and one value per column. */
typedef struct hvf_report_kpi_row {
    const char *label;         /* borrowed */
    const char *const *values; /* borrowed, one per column; NULL shows as a dash */
} hvf_report_kpi_row;

/*
 * hvf_report_kpi_table: appends an HTML table comparing @ncolumns variants side by side, e.g. an
 * incident "as it happened" and "with hvfleet". @label_heading heads the label column (may be
 * NULL), @columns the value columns. Values that differ across a row are marked so they stand
 * out. All text is escaped.
 */
void hvf_report_kpi_table(hvf_strbuf *out, const char *label_heading, const char *const *columns,
                          size_t ncolumns, const hvf_report_kpi_row *rows, size_t nrows);

/* ---- the record of a run (hvfleet.execution/v1, docs/execution.md) ---- */

typedef struct hvf_exec_record_host {
    char *host, *outcome, *reason; /* owned */
    double start_s, evac_end_s, end_s; /* actual; -1 when it did not happen */
    double pred_start_s, pred_end_s;
} hvf_exec_record_host;

typedef struct hvf_exec_record_mig {
    char *vm, *outcome; /* owned */
    double start_s, end_s, pred_start_s, pred_end_s;
} hvf_exec_record_mig;

typedef struct hvf_exec_record {
    char *plan_hash, *result, *note; /* owned */
    double predicted_makespan_s, actual_makespan_s;
    double predicted_migration_s, actual_migration_s;
    long replans;
    hvf_exec_record_host *hosts; /* owned */
    size_t nhosts;
    hvf_exec_record_mig *migs; /* owned */
    size_t nmigs;
} hvf_exec_record;

/*
 * hvf_exec_record_parse: reads a run's record (untrusted: types, ranges and sizes checked).
 * Returns an owned record (hvf_exec_record_free) or NULL with @err naming @name and the field.
 */
hvf_exec_record *hvf_exec_record_parse(const char *name, const char *buf, size_t len,
                                       hvf_error *err);
void hvf_exec_record_free(hvf_exec_record *r);
/* Appends the page: predicted and actual side by side (a table, a chart per host). */
void hvf_exec_record_render_html(const hvf_exec_record *r, const char *title, hvf_strbuf *out);
