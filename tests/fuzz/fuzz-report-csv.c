/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the report's CSV reader (src/report/csv.c) and the metrics loaders built
 * on it: any bytes must parse or fail with a one-line message naming the file, and what parses
 * must survive a round trip: written back with every field quoted, it parses to the same cells.
 */
#include <math.h>
#include <string.h>

#include "fuzz.h"

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "report/csv.h"
#include "report/run.h"

static void
format_field(hvf_strbuf *sb, const char *s)
{
    hvf_strbuf_add(sb, "\"", 1);
    for (; *s; s++) {
        hvf_strbuf_add(sb, s, 1);
        if (*s == '"')
            hvf_strbuf_add(sb, "\"", 1); /* a quote inside quotes is written twice */
    }
    hvf_strbuf_add(sb, "\"", 1);
}

static void
format_record(hvf_strbuf *sb, const hvf_csv_cell *cells, size_t n, bool crlf)
{
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            hvf_strbuf_add(sb, ",", 1);
        format_field(sb, cells[k].s);
    }
    hvf_strbuf_puts(sb, crlf ? "\r\n" : "\n");
}

static void
check_round_trip(const hvf_csv *csv, bool crlf)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    hvf_csv back;

    format_record(&sb, csv->header, csv->ncols, crlf);
    for (size_t r = 0; r < csv->nrows; r++)
        format_record(&sb, csv->cells + r * csv->ncols, csv->ncols, crlf);
    if (hvf_csv_parse("f.csv", sb.buf, sb.len, &back, &err) < 0)
        fuzz_fail("written back, the CSV does not parse: %s", err.msg);
    if (back.ncols != csv->ncols || back.nrows != csv->nrows)
        fuzz_fail("round trip: %zux%zu became %zux%zu", csv->nrows, csv->ncols, back.nrows,
                  back.ncols);
    for (size_t k = 0; k < csv->ncols; k++) {
        if (strcmp(back.header[k].s, csv->header[k].s) != 0)
            fuzz_fail("round trip: header %zu changed", k);
    }
    for (size_t i = 0; i < csv->nrows * csv->ncols; i++) {
        if (strcmp(back.cells[i].s, csv->cells[i].s) != 0)
            fuzz_fail("round trip: cell %zu changed", i);
    }
    hvf_csv_clear(&back);
    hvf_strbuf_clear(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_csv csv;
    hvf_run *run;

    if (hvf_csv_parse("f.csv", (const char *)data, size, &csv, &err) < 0) {
        fuzz_check_error("hvf_csv_parse", "f.csv:", &err);
    } else {
        if (csv.ncols == 0 || csv.ncols > HVF_CSV_MAX_FIELDS)
            fuzz_fail("parsed with %zu columns", csv.ncols);
        for (size_t r = 0; r < csv.nrows; r++) {
            for (size_t c = 0; c < csv.ncols; c++) {
                double v = 0;
                hvf_error e2 = HVF_ERROR_INIT;
                if (hvf_csv_get_double(&csv, r, c, &v, &e2) < 0)
                    fuzz_check_error("hvf_csv_get_double", "f.csv:", &e2);
            }
        }
        /* quoting can at most quadruple a record: stay under the record limit when writing back */
        if (size < HVF_CSV_MAX_LINE / 4 - 4)
            check_round_trip(&csv, size % 2 == 1);
        hvf_csv_clear(&csv);
    }

    /* the metrics loaders read the same bytes by column name */
    run = hvf_calloc(1, sizeof(*run));
    hvf_error_clear(&err);
    if (hvf_run_parse_fleet("f.csv", (const char *)data, size, run, &err) < 0)
        fuzz_check_error("hvf_run_parse_fleet", "f.csv:", &err);
    hvf_error_clear(&err);
    if (hvf_run_parse_hosts("f.csv", (const char *)data, size, run, &err) < 0)
        fuzz_check_error("hvf_run_parse_hosts", "f.csv:", &err);
    hvf_run_free(run);
    return 0;
}
