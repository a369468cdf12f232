/* SPDX-License-Identifier: MIT */
/* Chart scales: round tick positions, time-axis steps, and the labels of both. */
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/svg.h"
#include "report/svg-priv.h"

static const double svg_mantissas[] = {1, 2, 5, 10};

size_t
hvf_svg_nice_ticks(double lo, double hi, int max_ticks, bool integer, double *ticks, double *step)
{
    double span, raw, mag, st = 1, first, last;
    size_t n = 0, mi = 0;

    /* a range across zero needs -s, 0, s at least: fewer ticks cannot be round */
    if (max_ticks < 3)
        max_ticks = 3;
    if (max_ticks > HVF_SVG_MAX_TICKS)
        max_ticks = HVF_SVG_MAX_TICKS;
    if (hi < lo) {
        double t = hi;
        hi = lo;
        lo = t;
    }
    if (!(hi - lo > fmax(fabs(lo), fabs(hi)) * 1e-9)) {
        double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
        hi = (lo == 0 ? 0 : hi) + pad;
        lo = lo == 0 ? 0 : lo - pad;
    }
    span = hi - lo;
    if (!isfinite(span)) {
        ticks[0] = lo;
        ticks[1] = hi;
        *step = NAN;
        return 2;
    }
    raw = span / (max_ticks - 1);
    mag = pow(10, floor(log10(raw)));
    while (svg_mantissas[mi] * mag < raw * (1 - 1e-9))
        mi++;
    for (;;) {
        st = svg_mantissas[mi] * mag;
        if (integer && st < 1)
            st = 1;
        first = floor(lo / st + 1e-9) * st;
        last = ceil(hi / st - 1e-9) * st;
        if (!isfinite(first) || !isfinite(last)) {
            ticks[0] = lo;
            ticks[1] = hi;
            *step = NAN;
            return 2;
        }
        n = (size_t)llround((last - first) / st) + 1;
        if (n <= (size_t)max_ticks)
            break;
        if (++mi == HVF_ARRAY_LEN(svg_mantissas)) {
            mi = 1;
            mag *= 10;
        }
    }
    for (size_t i = 0; i < n; i++) {
        double v = first + (double)i * st;
        /* keep "-0" and 1e-17 rounding noise out of the labels */
        ticks[i] = fabs(v) < st * 1e-9 ? 0 : v;
    }
    *step = st;
    return n;
}

double
hvf_svg_time_step(double span_s, int max_ticks)
{
    static const double steps[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                                   600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
    double days;

    if (max_ticks < 1)
        max_ticks = 1;
    if (!(span_s > 0) || !isfinite(span_s))
        return 1;
    for (size_t i = 0; i < HVF_ARRAY_LEN(steps); i++) {
        if (span_s / steps[i] <= max_ticks)
            return steps[i];
    }
    days = span_s / 86400 / max_ticks;
    {
        double mag = pow(10, floor(log10(days)));
        for (size_t i = 0; i < HVF_ARRAY_LEN(svg_mantissas); i++) {
            if (svg_mantissas[i] * mag >= days)
                return svg_mantissas[i] * mag * 86400;
        }
        return 10 * mag * 86400;
    }
}

char *
hvf_svg_format_time(double t_s, bool with_seconds, char *buf, size_t size)
{
    long long total;
    const char *sign = "";

    if (!isfinite(t_s) || fabs(t_s) > SVG_MAX_ABS) {
        snprintf(buf, size, "?");
        return buf;
    }
    total = llround(t_s);
    if (total < 0) {
        sign = "-";
        total = -total;
    }
    if (with_seconds)
        snprintf(buf, size, "%s%lld:%02lld:%02lld", sign, total / 3600, total / 60 % 60,
                 total % 60);
    else
        snprintf(buf, size, "%s%lld:%02lld", sign, total / 3600, total / 60 % 60);
    return buf;
}

/* Tick label: whole numbers plainly, fractions with as many decimals as the step needs, large
 * values with k/M/G/T so the left margin stays narrow. */
void
hvf_svg_format_tick(double v, double step, double max_abs, char *buf, size_t size)
{
    static const struct {
        double div;
        const char *suffix;
    } si[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    double div = 1;
    const char *suffix = "";
    int decimals;

    if (!isfinite(step)) {
        snprintf(buf, size, "%.3g", v);
        return;
    }
    if (max_abs >= 1e4) {
        for (size_t i = 0; i < HVF_ARRAY_LEN(si); i++) {
            if (max_abs >= si[i].div) {
                div = si[i].div;
                suffix = si[i].suffix;
                break;
            }
        }
    }
    step /= div;
    decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 9)
        decimals = 9;
    snprintf(buf, size, "%.*f%s", decimals, v / div, suffix);
}
