/* SPDX-License-Identifier: MIT */
/* Inline SVG line charts: round ticks, time axes, legend, reference line, step style, escaping. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/svg.h"
#include "report/svg-priv.h"

#define SVG_LEGEND_NAME_MAX 40 /* bytes of a legend label before it is shortened with "..." */

static const char *const svg_colors[] = {"#0072b2", "#e69f00", "#009e73", "#d55e00",
                                         "#cc79a7", "#56b4e9", "#8c6d1f", "#000000"};

/* ---------------------------------------------------------------- geometry */

typedef struct svg_axis {
    double lo, hi; /* data range mapped onto the plot */
    double ticks[HVF_SVG_MAX_TICKS + 1];
    size_t nticks;
    double step;
} svg_axis;

typedef struct svg_geom {
    int w, h;
    double left, right, top, bottom; /* plot area in px */
    svg_axis x, y, y2;
    bool use_y2;
} svg_geom;

static bool
svg_point_ok(double x, double y)
{
    return isfinite(x) && isfinite(y) && fabs(x) <= SVG_MAX_ABS && fabs(y) <= SVG_MAX_ABS;
}

static double
svg_px(const svg_geom *g, double x)
{
    return g->left + (x - g->x.lo) / (g->x.hi - g->x.lo) * (g->right - g->left);
}

static double
svg_py(const svg_geom *g, const svg_axis *a, double y)
{
    return g->bottom - (y - a->lo) / (a->hi - a->lo) * (g->bottom - g->top);
}

/* Data ranges over the finite points; returns whether there was any. */
static bool
svg_ranges(const hvf_svg_chart *c, bool use_y2, double *x0, double *x1, double y0[2], double y1[2],
           bool yseen[2])
{
    bool any = false;

    *x0 = INFINITY;
    *x1 = -INFINITY;
    for (int a = 0; a < 2; a++) {
        y0[a] = INFINITY;
        y1[a] = -INFINITY;
        yseen[a] = false;
    }
    for (size_t s = 0; s < c->nseries; s++) {
        const hvf_svg_series *se = &c->series[s];
        int a = use_y2 && se->right_axis ? 1 : 0;
        for (size_t i = 0; i < se->n; i++) {
            if (!svg_point_ok(se->x[i], se->y[i]))
                continue;
            any = yseen[a] = true;
            *x0 = fmin(*x0, se->x[i]);
            *x1 = fmax(*x1, se->x[i]);
            y0[a] = fmin(y0[a], se->y[i]);
            y1[a] = fmax(y1[a], se->y[i]);
        }
    }
    return any;
}

static void
svg_value_axis(svg_axis *a, double lo, double hi, bool integer)
{
    /* counts and ratios read honestly only against a zero baseline */
    lo = fmin(lo, 0);
    hi = fmax(hi, 0);
    a->nticks = hvf_svg_nice_ticks(lo, hi, 7, integer, a->ticks, &a->step);
    a->lo = a->ticks[0];
    a->hi = a->ticks[a->nticks - 1];
}

static void
svg_time_axis(svg_axis *a, double lo, double hi, bool is_time)
{
    if (!(hi > lo)) {
        if (is_time) {
            hi = lo + 60;
        } else {
            double pad = lo == 0 ? 1 : fabs(lo) * 0.1;
            hi = lo + pad;
            lo -= pad;
        }
    }
    a->lo = lo;
    a->hi = hi;
    a->nticks = 0;
    if (is_time) {
        double st = hvf_svg_time_step(hi - lo, 8);
        for (double k = ceil(lo / st - 1e-9); a->nticks <= HVF_SVG_MAX_TICKS; k++) {
            double v = k * st;
            if (v > hi + st * 1e-9)
                break;
            a->ticks[a->nticks++] = v;
        }
        a->step = st;
    } else {
        double t[HVF_SVG_MAX_TICKS + 1];
        size_t n = hvf_svg_nice_ticks(lo, hi, 8, false, t, &a->step);
        for (size_t i = 0; i < n; i++) {
            if (t[i] >= lo - 1e-9 * (hi - lo) && t[i] <= hi + 1e-9 * (hi - lo))
                a->ticks[a->nticks++] = t[i];
        }
    }
}

/* ---------------------------------------------------------------- drawing */

typedef struct svg_pt {
    double x, y;
} svg_pt;

typedef struct svg_line {
    svg_pt *pts; /* current segment, in px */
    size_t n, cap;
    hvf_strbuf d;    /* path data */
    hvf_strbuf dots; /* single-point segments */
    bool step;
} svg_line;

static void
svg_line_flush(svg_line *l, const char *color)
{
    if (l->n == 1) {
        hvf_strbuf_printf(&l->dots, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>",
                          l->pts[0].x, l->pts[0].y, color);
    } else if (l->n > 1) {
        hvf_strbuf_printf(&l->d, "%sM%.1f %.1f", l->d.len ? " " : "", l->pts[0].x, l->pts[0].y);
        for (size_t i = 1; i < l->n; i++) {
            if (l->step)
                hvf_strbuf_printf(&l->d, "H%.1fV%.1f", l->pts[i].x, l->pts[i].y);
            else
                hvf_strbuf_printf(&l->d, "L%.1f %.1f", l->pts[i].x, l->pts[i].y);
        }
    }
    l->n = 0;
}

static void
svg_line_add(svg_line *l, double x, double y)
{
    hvf_grow(&l->pts, &l->cap, l->n + 1, sizeof(*l->pts));
    l->pts[l->n].x = x;
    l->pts[l->n].y = y;
    l->n++;
}

/*
 * Long series are thinned to the first, lowest, highest and last point of each pixel column
 * (in their original order), which keeps every peak visible and the SVG small.
 */
typedef struct svg_bucket {
    long col;
    size_t n;
    svg_pt p[4]; /* first, min, max, last */
    size_t idx[4];
} svg_bucket;

static void
svg_bucket_flush(svg_bucket *b, svg_line *l)
{
    size_t order[4] = {0, 1, 2, 3};

    if (b->n == 0)
        return;
    if (b->idx[1] > b->idx[2]) {
        order[1] = 2;
        order[2] = 1;
    }
    for (size_t k = 0; k < 4; k++) {
        size_t j = order[k];
        bool dup = false;
        for (size_t m = 0; m < k; m++)
            dup = dup || b->idx[order[m]] == b->idx[j];
        if (!dup)
            svg_line_add(l, b->p[j].x, b->p[j].y);
    }
    b->n = 0;
}

static void
svg_draw_series(hvf_strbuf *out, const svg_geom *g, const hvf_svg_series *se, size_t si, bool step)
{
    const svg_axis *ax = g->use_y2 && se->right_axis ? &g->y2 : &g->y;
    const char *color = svg_colors[si % HVF_ARRAY_LEN(svg_colors)];
    bool thin = se->n > 4 * (size_t)(g->right - g->left);
    svg_line l = {NULL, 0, 0, HVF_STRBUF_INIT, HVF_STRBUF_INIT, step};
    svg_bucket b = {0};

    for (size_t i = 0; i < se->n; i++) {
        double px, py;
        if (!svg_point_ok(se->x[i], se->y[i])) {
            svg_bucket_flush(&b, &l);
            svg_line_flush(&l, color);
            continue;
        }
        px = svg_px(g, se->x[i]);
        py = svg_py(g, ax, se->y[i]);
        if (!thin) {
            svg_line_add(&l, px, py);
            continue;
        }
        if (b.n > 0 && (long)floor(px) != b.col)
            svg_bucket_flush(&b, &l);
        if (b.n == 0) {
            b.col = (long)floor(px);
            for (size_t k = 0; k < 4; k++) {
                b.p[k] = (svg_pt){px, py};
                b.idx[k] = i;
            }
        }
        /* y grows downwards in SVG: the smallest py is the highest value */
        if (py > b.p[1].y) {
            b.p[1] = (svg_pt){px, py};
            b.idx[1] = i;
        }
        if (py < b.p[2].y) {
            b.p[2] = (svg_pt){px, py};
            b.idx[2] = i;
        }
        b.p[3] = (svg_pt){px, py};
        b.idx[3] = i;
        b.n++;
    }
    svg_bucket_flush(&b, &l);
    svg_line_flush(&l, color);
    if (l.d.len) {
        hvf_strbuf_printf(out,
                          "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                          "stroke-linejoin=\"round\"%s><title>",
                          l.d.buf, color,
                          si >= HVF_ARRAY_LEN(svg_colors) ? " stroke-dasharray=\"6 3\"" : "");
        hvf_svg_escape(out, se->name);
        hvf_strbuf_puts(out, "</title></path>\n");
    }
    if (l.dots.len) {
        hvf_strbuf_add(out, l.dots.buf, l.dots.len);
        hvf_strbuf_puts(out, "\n");
    }
    free(l.pts);
    hvf_strbuf_clear(&l.d);
    hvf_strbuf_clear(&l.dots);
}

/* Lays out (and with @out, draws) the legend from y = @top; returns the y below it. */
static double
svg_legend(hvf_strbuf *out, const hvf_svg_chart *c, bool use_y2, int w, double top)
{
    double x = 8, y = top + 12;

    if (c->nseries == 0)
        return top;
    for (size_t s = 0; s < c->nseries; s++) {
        const hvf_svg_series *se = &c->series[s];
        bool right = use_y2 && se->right_axis;
        const char *name = se->name ? se->name : "";
        double tw =
            26 + 6.6 * (double)(hvf_svg_text_chars(name, SVG_LEGEND_NAME_MAX) + (right ? 13 : 0)) +
            16;
        if (x > 8 && x + tw > w - 8) {
            x = 8;
            y += 17;
        }
        if (out) {
            const char *color = svg_colors[s % HVF_ARRAY_LEN(svg_colors)];
            hvf_strbuf_printf(out,
                              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                              "stroke-width=\"3\"%s/><text x=\"%.1f\" y=\"%.1f\">",
                              x, y - 4, x + 20, y - 4, color,
                              s >= HVF_ARRAY_LEN(svg_colors) ? " stroke-dasharray=\"6 3\"" : "",
                              x + 26, y);
            hvf_svg_escape_short(out, name, SVG_LEGEND_NAME_MAX);
            hvf_strbuf_puts(out, right ? " (right axis)</text>\n" : "</text>\n");
        }
        x += tw;
    }
    return y + 6;
}

static void
svg_value_ticks(hvf_strbuf *out, const svg_geom *g, const svg_axis *a, bool right)
{
    double max_abs = fmax(fabs(a->ticks[0]), fabs(a->ticks[a->nticks - 1]));

    for (size_t i = 0; i < a->nticks; i++) {
        char label[48];
        double y = svg_py(g, a, a->ticks[i]);
        hvf_svg_format_tick(a->ticks[i], a->step, max_abs, label, sizeof(label));
        if (!right)
            hvf_strbuf_printf(out,
                              "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                              "stroke=\"#e3e3e3\"/>",
                              g->left, y, g->right, y);
        hvf_strbuf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
                          right ? g->right + 6 : g->left - 6, y + 4, right ? "start" : "end",
                          label);
    }
}

static void
svg_axis_caption(hvf_strbuf *out, const char *text, double x, double y, bool rotate)
{
    if (!text)
        return;
    if (rotate)
        hvf_strbuf_printf(out,
                          "<text transform=\"translate(%.1f %.1f) rotate(-90)\" "
                          "text-anchor=\"middle\" fill=\"#444\">",
                          x, y);
    else
        hvf_strbuf_printf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#444\">",
                          x, y);
    hvf_svg_escape(out, text);
    hvf_strbuf_puts(out, "</text>\n");
}

void
hvf_svg_line_chart(hvf_strbuf *out, const hvf_svg_chart *c)
{
    svg_geom g = {0};
    double x0, x1, y0[2], y1[2];
    bool yseen[2], any, left_used = false, right_used = false;
    double legend_top, plot_top;

    for (size_t s = 0; s < c->nseries; s++) {
        if (c->series[s].right_axis)
            right_used = true;
        else
            left_used = true;
    }
    /* a right axis alone is just an axis: draw it on the left */
    g.use_y2 = left_used && right_used;
    g.w = c->width_px > 0 ? c->width_px : 860;
    g.h = c->height_px > 0 ? c->height_px : 320;
    g.w = g.w < 240 ? 240 : g.w > 4000 ? 4000 : g.w;
    g.h = g.h < 160 ? 160 : g.h > 3000 ? 3000 : g.h;

    any = svg_ranges(c, g.use_y2, &x0, &x1, y0, y1, yseen);
    if (!any) {
        x0 = 0;
        x1 = c->x_is_time ? 3600 : 1;
    }
    for (int a = 0; a < 2; a++) {
        if (!yseen[a])
            y0[a] = y1[a] = 0;
    }
    if (c->has_ref && isfinite(c->ref_y) && fabs(c->ref_y) <= SVG_MAX_ABS) {
        y0[0] = fmin(y0[0], c->ref_y);
        y1[0] = fmax(y1[0], c->ref_y);
    }
    svg_value_axis(&g.y, y0[0], y1[0], c->y_integer);
    if (g.use_y2)
        svg_value_axis(&g.y2, y0[1], y1[1], c->y_integer);
    svg_time_axis(&g.x, x0, x1, c->x_is_time);

    legend_top = c->title ? 30 : 6;
    plot_top = svg_legend(NULL, c, g.use_y2, g.w, legend_top) + 12;
    g.left = 64;
    g.right = g.w - (g.use_y2 ? 64 : 18);
    g.top = plot_top;
    g.bottom = g.h - 42;
    if (g.bottom - g.top < 80) {
        g.h += (int)(80 - (g.bottom - g.top));
        g.bottom = g.h - 42;
    }

    hvf_strbuf_printf(out,
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"hvf-chart\" role=\"img\" "
                      "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                      "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n<title>",
                      g.w, g.h, g.w, g.h);
    hvf_svg_escape(out, c->title ? c->title : "chart");
    hvf_strbuf_printf(out, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", g.w,
                      g.h);
    if (c->title) {
        hvf_strbuf_puts(out, "<text x=\"8\" y=\"20\" font-size=\"15\" font-weight=\"bold\">");
        hvf_svg_escape(out, c->title);
        hvf_strbuf_puts(out, "</text>\n");
    }
    svg_legend(out, c, g.use_y2, g.w, legend_top);

    svg_value_ticks(out, &g, &g.y, false);
    if (g.use_y2)
        svg_value_ticks(out, &g, &g.y2, true);
    for (size_t i = 0; i < g.x.nticks; i++) {
        char label[48];
        double x = svg_px(&g, g.x.ticks[i]);
        if (c->x_is_time)
            hvf_svg_format_time(g.x.ticks[i], fmod(g.x.step, 60) != 0, label, sizeof(label));
        else
            hvf_svg_format_tick(g.x.ticks[i], g.x.step,
                                fmax(fabs(g.x.ticks[0]), fabs(g.x.ticks[g.x.nticks - 1])), label,
                                sizeof(label));
        hvf_strbuf_printf(out,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#eeeeee\"/><text x=\"%.1f\" y=\"%.1f\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          x, g.top, x, g.bottom + 4, x, g.bottom + 17, label);
    }
    hvf_strbuf_printf(out, "<path d=\"M%.1f %.1fV%.1fH%.1f", g.left, g.top, g.bottom, g.right);
    if (g.use_y2)
        hvf_strbuf_printf(out, "V%.1f", g.top);
    hvf_strbuf_puts(out, "\" fill=\"none\" stroke=\"#333\"/>\n");
    svg_axis_caption(out,
                     c->x_label     ? c->x_label
                     : c->x_is_time ? "time (h:mm)"
                                    : NULL,
                     (g.left + g.right) / 2, g.bottom + 34, false);
    svg_axis_caption(out, c->y_label, 16, (g.top + g.bottom) / 2, true);
    if (g.use_y2)
        svg_axis_caption(out, c->y2_label, g.w - 10, (g.top + g.bottom) / 2, true);

    if (c->has_ref && isfinite(c->ref_y) && fabs(c->ref_y) <= SVG_MAX_ABS) {
        double y = svg_py(&g, &g.y, c->ref_y);
        hvf_strbuf_printf(
            out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#b00020\" "
            "stroke-width=\"1.2\" stroke-dasharray=\"7 4\"/>\n",
            g.left, y, g.right, y);
        if (c->ref_label) {
            hvf_strbuf_printf(out,
                              "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#b00020\" "
                              "stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">",
                              g.right - 4, y - 5);
            hvf_svg_escape(out, c->ref_label);
            hvf_strbuf_puts(out, "</text>\n");
        }
    }
    for (size_t s = 0; s < c->nseries; s++)
        svg_draw_series(out, &g, &c->series[s], s, c->step);
    if (!any)
        hvf_strbuf_printf(out,
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\" "
                          "font-size=\"14\">no data</text>\n",
                          (g.left + g.right) / 2, (g.top + g.bottom) / 2);
    hvf_strbuf_puts(out, "</svg>\n");
}
