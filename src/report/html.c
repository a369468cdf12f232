/* SPDX-License-Identifier: MIT */
/* HTML building blocks for reports: page frame and style sheet, escaping, numbers, KPI tables. */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/report.h"
#include "hvfleet/svg.h"
#include "report/sections.h"

/* One style sheet for screen and paper: charts scale to the page, tables keep their headers. */
static const char html_css[] =
    "body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1a1a1a;"
    "background:#fff;max-width:980px;margin:0 auto;padding:18px 22px}\n"
    "h1{font-size:22px;margin:0 0 4px}\n"
    "h2{font-size:17px;margin:30px 0 8px;padding-bottom:3px;border-bottom:1px solid #d8d8d8}\n"
    "p.sub{color:#555;margin:0 0 14px}\n"
    "table{border-collapse:collapse;margin:6px 0 14px;font-variant-numeric:tabular-nums}\n"
    "th,td{border:1px solid #d6d6d6;padding:3px 9px;text-align:left;vertical-align:top}\n"
    "thead th{background:#f1f1f1}\n"
    "td.num{text-align:right;white-space:nowrap}\n"
    "table.kv th{font-weight:normal;background:#fafafa;min-width:15em}\n"
    ".bad{color:#b00020;font-weight:600}\n"
    "tr.differs td{background:#fffbe6}\n"
    "figure{margin:14px 0 24px;break-inside:avoid;page-break-inside:avoid}\n"
    "svg.hvf-chart{display:block;max-width:100%;height:auto;border:1px solid #e4e4e4}\n"
    "figcaption{color:#555;font-size:12.5px;margin-top:4px;max-width:860px}\n"
    "table.timeline{width:100%;font-size:13px}\n"
    "table.timeline td.t{white-space:nowrap;font-family:ui-monospace,Menlo,Consolas,monospace}\n"
    "tr.sev-critical td{background:#fdecee}\n"
    "tr.sev-critical td.sev{color:#b00020;font-weight:700}\n"
    "tr.sev-warning td{background:#fff5dc}\n"
    "tr.sev-warning td.sev{color:#8a5a00;font-weight:600}\n"
    "tr.agg td{color:#555}\n"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}\n"
    "p.more{color:#555;font-style:italic}\n"
    "footer{margin-top:34px;padding-top:6px;border-top:1px solid #d8d8d8;color:#777;"
    "font-size:12px}\n"
    "@media print{body{max-width:none;padding:0;font-size:10.5pt}h2{break-after:avoid}"
    "thead{display:table-header-group}tr{break-inside:avoid}"
    "tr.sev-critical td,tr.sev-warning td,tr.differs td,thead th{-webkit-print-color-adjust:exact;"
    "print-color-adjust:exact}}\n";

void
hvf_html_escape(hvf_strbuf *out, const char *s)
{
    hvf_svg_escape(out, s);
}

void
hvf_html_begin(hvf_strbuf *out, const char *title)
{
    hvf_strbuf_puts(out,
                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>");
    hvf_html_escape(out, title);
    hvf_strbuf_puts(out, "</title>\n<style>\n");
    hvf_strbuf_puts(out, html_css);
    hvf_strbuf_puts(out, "</style>\n</head>\n<body>\n");
}

void
hvf_html_end(hvf_strbuf *out)
{
    hvf_strbuf_puts(out, "</body>\n</html>\n");
}

void
hvf_html_number(hvf_strbuf *out, double v)
{
    if (isnan(v))
        hvf_strbuf_puts(out, "n/a");
    else if (isinf(v))
        hvf_strbuf_puts(out, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        hvf_strbuf_printf(out, "%.0f", v + 0.0); /* + 0.0 turns -0 into 0 */
    else if (fabs(v) >= 0.001 && fabs(v) < 1e9)
        hvf_strbuf_printf(out, "%.6g", v);
    else
        hvf_strbuf_printf(out, "%.3e", v);
}

char *
hvf_html_duration(double s, char *buf, size_t size)
{
    return hvf_svg_format_time(s, true, buf, size);
}

void
hvf_report_kpi_table(hvf_strbuf *out, const char *label_heading, const char *const *columns,
                     size_t ncolumns, const hvf_report_kpi_row *rows, size_t nrows)
{
    hvf_strbuf_puts(out, "<table class=\"kpi\">\n<thead><tr><th>");
    hvf_html_escape(out, label_heading ? label_heading : "");
    hvf_strbuf_puts(out, "</th>");
    for (size_t c = 0; c < ncolumns; c++) {
        hvf_strbuf_puts(out, "<th>");
        hvf_html_escape(out, columns[c]);
        hvf_strbuf_puts(out, "</th>");
    }
    hvf_strbuf_puts(out, "</tr></thead>\n<tbody>\n");
    for (size_t r = 0; r < nrows; r++) {
        bool differs = false;
        for (size_t c = 1; c < ncolumns; c++) {
            const char *a = rows[r].values[0], *b = rows[r].values[c];
            differs = differs || (a == NULL) != (b == NULL) || (a && b && strcmp(a, b) != 0);
        }
        hvf_strbuf_puts(out, differs ? "<tr class=\"differs\"><th>" : "<tr><th>");
        hvf_html_escape(out, rows[r].label);
        hvf_strbuf_puts(out, "</th>");
        for (size_t c = 0; c < ncolumns; c++) {
            hvf_strbuf_puts(out, "<td class=\"num\">");
            if (rows[r].values[c])
                hvf_html_escape(out, rows[r].values[c]);
            else
                hvf_strbuf_puts(out, "&mdash;");
            hvf_strbuf_puts(out, "</td>");
        }
        hvf_strbuf_puts(out, "</tr>\n");
    }
    hvf_strbuf_puts(out, "</tbody>\n</table>\n");
}
