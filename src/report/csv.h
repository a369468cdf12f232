/* SPDX-License-Identifier: MIT */
/* A small strict CSV reader for simulator metrics: bounded, header-addressed, precise errors. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

/*
 * RFC 4180 with a header line: fields separated by commas, records by LF or CRLF, fields may be
 * double-quoted ("" is a quote inside). Blank lines are skipped, a UTF-8 BOM is ignored. Every
 * record must have as many fields as the header. Limits keep a hostile file from costing more
 * than its size: HVF_CSV_MAX_LINE bytes per record, HVF_CSV_MAX_FIELDS fields, no NUL bytes.
 * Errors read "NAME:LINE:COL: what is wrong" (LINE and COL 1-based, COL in bytes).
 */
#define HVF_CSV_MAX_LINE 65536
#define HVF_CSV_MAX_FIELDS 1024

typedef struct hvf_csv_cell {
    const char *s; /* points into hvf_csv.data, terminated */
    uint32_t line, col;
} hvf_csv_cell;

typedef struct hvf_csv {
    char *name; /* owned; the file name used in messages */
    char *data; /* owned copy of the input, cells point into it */
    size_t ncols;
    hvf_csv_cell *header; /* owned, ncols entries */
    size_t nrows;
    hvf_csv_cell *cells; /* owned, nrows * ncols entries, row-major */
} hvf_csv;

/* Parses @len bytes of @data (copied; need not be terminated). On error @csv is left empty. */
int hvf_csv_parse(const char *name, const char *data, size_t len, hvf_csv *csv, hvf_error *err)
    __attribute__((warn_unused_result));

/* Frees what @csv owns and zeroes it; a zeroed struct is fine. */
void hvf_csv_clear(hvf_csv *csv);

/* Index of the column named @name, or -1. */
int hvf_csv_column(const hvf_csv *csv, const char *name);

/* Like hvf_csv_column, but a missing column is an error naming the file and the column. */
int hvf_csv_require(const hvf_csv *csv, const char *name, hvf_error *err)
    __attribute__((warn_unused_result));

const hvf_csv_cell *hvf_csv_get(const hvf_csv *csv, size_t row, size_t col);

/*
 * Reads the cell as a decimal number ("12", "-0.5", "1e6"); "nan", "inf" and "-inf" are
 * accepted and an empty cell reads as NaN (a missing sample). Anything else is an error
 * "NAME:LINE:COL: column 'C': 'VALUE' is not a number".
 */
int hvf_csv_get_double(const hvf_csv *csv, size_t row, size_t col, double *out, hvf_error *err)
    __attribute__((warn_unused_result));
