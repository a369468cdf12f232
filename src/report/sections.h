/* SPDX-License-Identifier: MIT */
/* Internal: HTML helpers and the sections of a run report, each appending to one buffer. */
#pragma once

#include <stdbool.h>

#include "hvfleet/strbuf.h"
#include "report/run.h"

#define HVF_REPORT_MAX_CHART_HOSTS 8
#define HVF_REPORT_MAX_TIMELINE_ROWS 200

/* Escapes @s for HTML text and attribute values (same rules as hvf_svg_escape). */
void hvf_html_escape(hvf_strbuf *out, const char *s);
/* <!DOCTYPE html> up to and including <body>, with the style sheet; @title is escaped. */
void hvf_html_begin(hvf_strbuf *out, const char *title);
void hvf_html_end(hvf_strbuf *out);
/* A number as people read it: whole numbers without decimals, others with 6 significant digits. */
void hvf_html_number(hvf_strbuf *out, double v);
/* Seconds as h:mm:ss (rounded to the second). @buf is always terminated; returns it. */
char *hvf_html_duration(double s, char *buf, size_t size);

/* Sections of the run report. */
void hvf_report_summary(hvf_strbuf *out, const hvf_run *run);
void hvf_report_kpis(hvf_strbuf *out, const hvf_run *run);
void hvf_report_charts(hvf_strbuf *out, const hvf_run *run);
void hvf_report_timeline(hvf_strbuf *out, const hvf_run *run);
