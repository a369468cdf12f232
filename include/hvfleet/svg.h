/* SPDX-License-Identifier: MIT */
/* Inline SVG line charts for reports and status pages: no script, no external file, all text
 * escaped. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/strbuf.h"

/*
 * A chart is described by plain structs that borrow the caller's arrays; hvf_svg_line_chart()
 * appends one <svg> element to a string buffer. Output depends only on the input (no ids, no
 * clocks), so the same data gives byte-identical SVG.
 *
 * Non-finite points (NaN, +-inf) are skipped and break the line, so a gap in the data shows
 * as a gap. A series with a single finite point is drawn as a dot. A chart with no finite point
 * draws its axes and "no data".
 */

#define HVF_SVG_MAX_TICKS 16

typedef struct hvf_svg_series {
    const char *name; /* legend label, borrowed; escaped on output */
    const double *x;  /* borrowed, @n values (seconds when the chart's x is time) */
    const double *y;  /* borrowed, @n values */
    size_t n;
    bool right_axis; /* scale against the right-hand axis (for counts of a different size) */
} hvf_svg_series;

typedef struct hvf_svg_chart {
    const char *title;       /* drawn on top; may be NULL */
    const char *y_label;     /* left axis caption; may be NULL */
    const char *y2_label;    /* right axis caption when a series uses it; may be NULL */
    const char *x_label;     /* may be NULL; time charts default to "time (h:mm)" */
    int width_px, height_px; /* 0 = 860 x 320 */
    bool x_is_time; /* x in seconds, ticks on round durations, labels h:mm (h:mm:ss below a minute)
                     */
    bool step;      /* a value holds until the next sample (counters, states) */
    bool y_integer; /* ticks on whole numbers only (counts) */
    bool has_ref;   /* draw a dashed horizontal line at ref_y (left axis) */
    double ref_y;
    const char *ref_label;        /* e.g. "usable capacity"; may be NULL */
    const hvf_svg_series *series; /* borrowed */
    size_t nseries;
} hvf_svg_chart;

/* Appends the chart as one <svg> element. */
void hvf_svg_line_chart(hvf_strbuf *out, const hvf_svg_chart *chart);

/*
 * Round tick positions covering [@lo, @hi] with at most @max_ticks ticks (clamped to
 * 3..HVF_SVG_MAX_TICKS): steps of 1, 2 or 5 times a power of ten (whole numbers only when
 * @integer). Writes the ticks to @ticks (room for HVF_SVG_MAX_TICKS + 1), the step to *@step,
 * and returns the count. The first and last tick enclose [@lo, @hi]. @lo/@hi must be finite.
 */
size_t hvf_svg_nice_ticks(double lo, double hi, int max_ticks, bool integer, double *ticks,
                          double *step);

/*
 * Tick step for a time axis spanning @span_s seconds: the smallest of 1, 2, 5, 10, 15, 30 s,
 * 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, then whole days, giving at most @max_ticks intervals.
 */
double hvf_svg_time_step(double span_s, int max_ticks);

/* Formats @t_s as h:mm, or h:mm:ss when @with_seconds. @buf is always terminated; returns it. */
char *hvf_svg_format_time(double t_s, bool with_seconds, char *buf, size_t size);

/*
 * Appends @s escaped for XML/HTML text and attribute values: & < > " ' become entities, control
 * characters and bytes that are not valid UTF-8 become U+FFFD. NULL appends nothing.
 */
void hvf_svg_escape(hvf_strbuf *out, const char *s);
