/* SPDX-License-Identifier: MIT */
/* hvfleet report DIR [-o FILE]: a simulation run as one self-contained HTML page. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "hvfleet/alloc.h"
#include "hvfleet/report.h"
#include "util/text.h"

static void
report_usage(FILE *out)
{
    fprintf(out, "usage: hvfleet report DIR|RECORD.json [-o FILE] [--json]\n"
                 "Turns a simulation run's output directory (summary.json, events.jsonl,\n"
                 "metrics-fleet.csv, metrics-hosts.csv) into one HTML page with inline SVG\n"
                 "charts, written to DIR/report.html or FILE ('-' for standard output).\n"
                 "A run's record (hvfleet run --record, schema hvfleet.execution/v1) becomes a\n"
                 "page with predicted and actual side by side, written to RECORD.html.\n"
                 "Prints the path written.\n");
}

/* A regular file rather than a run directory: a run's record. */
static bool
report_is_record(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
report_record(const char *path, hvf_strbuf *out, hvf_error *err)
{
    size_t len;
    HVF_AUTOFREE char *text = hvf_text_read_file(path, 256u << 20, &len, err);
    hvf_exec_record *r;

    if (!text)
        return -1;
    if (!(r = hvf_exec_record_parse(path, text, len, err)))
        return -1;
    hvf_exec_record_render_html(r, path, out);
    hvf_exec_record_free(r);
    return 0;
}

int
hvf_cli_report(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *output = NULL;
    HVF_AUTOFREE char *path = NULL;
    hvf_strbuf sb = HVF_STRBUF_INIT;
    hvf_error err = HVF_ERROR_INIT;
    bool json = false;
    int c;

    if (hvf_cli_options_wanted(opts))
        return 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            report_usage(stdout);
            return 0;
        default:
            report_usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "hvfleet: report: expected one run directory; run 'hvfleet report "
                        "--help'\n");
        return 2;
    }
    if (output && output[0] == '\0') {
        fprintf(stderr, "hvfleet: report: -o needs a file name\n");
        return 2;
    }
    if (report_is_record(argv[optind])) {
        const char *rec = argv[optind];
        size_t n = strlen(rec);

        path = output ? hvf_strdup(output)
                      : n > 5 && strcmp(rec + n - 5, ".json") == 0
                            ? hvf_asprintf("%.*s.html", (int)(n - 5), rec)
                            : hvf_asprintf("%s.html", rec);
        if (report_record(rec, &sb, &err) < 0) {
            hvf_strbuf_clear(&sb);
            return hvf_cli_fail(&err);
        }
    } else {
        path = output ? hvf_strdup(output) : hvf_asprintf("%s/report.html", argv[optind]);
        if (hvf_report_render_html(argv[optind], &sb, &err) < 0) {
            hvf_strbuf_clear(&sb);
            return hvf_cli_fail(&err);
        }
    }
    if (hvf_file_write_atomic(path, sb.buf, sb.len, &err) < 0) {
        hvf_strbuf_clear(&sb);
        return hvf_cli_fail(&err);
    }
    if (strcmp(path, "-") != 0) {
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:I}", "schema", "hvfleet.report-result/v1", "path",
                                  path, "bytes", (json_int_t)sb.len);
            json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("\n");
            json_decref(o);
        } else {
            printf("%s\n", path);
        }
    }
    hvf_strbuf_clear(&sb);
    return 0;
}
