/* SPDX-License-Identifier: MIT */
/* SVG charts: tick choice, time axes, escaping, empty and degenerate series, determinism. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/svg.h"

static size_t
count_substr(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
test_ticks_examples(void **state)
{
    double t[HVF_SVG_MAX_TICKS + 1], step = 0;
    size_t n;

    n = hvf_svg_nice_ticks(0, 1, 6, false, t, &step);
    assert_int_equal(n, 6);
    assert_float_equal(step, 0.2, 1e-12);
    assert_float_equal(t[0], 0, 0);
    assert_float_equal(t[5], 1, 1e-12);

    /* a memory ratio peaking at 1.17 gets 0.2 steps up to 1.2, not a jump to 1.5 */
    n = hvf_svg_nice_ticks(0, 1.17, 7, false, t, &step);
    assert_int_equal(n, 7);
    assert_float_equal(step, 0.2, 1e-12);
    assert_float_equal(t[6], 1.2, 1e-12);

    /* counts: whole steps only, even when the range is tiny */
    n = hvf_svg_nice_ticks(0, 0.3, 6, true, t, &step);
    assert_float_equal(step, 1, 0);
    assert_int_equal(n, 2);
    n = hvf_svg_nice_ticks(0, 7, 6, true, t, &step);
    assert_float_equal(step, 2, 0);
    assert_int_equal(n, 5);
    assert_float_equal(t[4], 8, 0);

    /* equal ends are widened rather than dividing by zero */
    n = hvf_svg_nice_ticks(0, 0, 6, false, t, &step);
    assert_true(n >= 2);
    assert_true(t[n - 1] > t[0]);
    n = hvf_svg_nice_ticks(3, 3, 6, false, t, &step);
    assert_true(t[0] <= 3 && t[n - 1] >= 3 && t[n - 1] > t[0]);

    /* reversed ends and large values */
    n = hvf_svg_nice_ticks(5.1, -3.2, 6, false, t, &step);
    assert_true(t[0] <= -3.2 && t[n - 1] >= 5.1);
    n = hvf_svg_nice_ticks(0, 2e9, 6, false, t, &step);
    assert_float_equal(step, 5e8, 1);
    /* no "-0" from rounding noise */
    n = hvf_svg_nice_ticks(-0.3, 0.3, 7, false, t, &step);
    for (size_t i = 0; i < n; i++)
        assert_false(t[i] == 0 && signbit(t[i]));
}

/* For many ranges: few ticks, evenly spaced by 1, 2 or 5 times a power of ten, enclosing the range.
 */
static void
test_ticks_properties(void **state)
{
    uint64_t rng = 12345;

    for (int k = 0; k < 5000; k++) {
        double t[HVF_SVG_MAX_TICKS + 1], step = 0, lo, hi, m;
        int max = 3 + k % 10;
        bool integer = k % 3 == 0;
        size_t n;

        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        lo = ((double)(rng >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)(rng % 12) - 4);
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        hi = lo + (double)(rng >> 11) / 9007199254740992.0 * pow(10, (int)(rng % 12) - 4);
        n = hvf_svg_nice_ticks(lo, hi, max, integer, t, &step);
        if (n < 2)
            fail_msg("lo %.17g hi %.17g max %d int %d: n %zu", lo, hi, max, integer, n);
        assert_true(n <= (size_t)max);
        assert_true(t[0] <= lo + fabs(step) * 1e-9);
        assert_true(t[n - 1] >= hi - fabs(step) * 1e-9);
        if (integer)
            assert_true(step >= 1);
        m = step / pow(10, floor(log10(step) + 1e-12));
        assert_true(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9);
        /* far from zero, doubles themselves are coarser than a tiny step */
        for (size_t i = 1; i < n; i++) {
            if (fabs(t[i] - t[i - 1] - step) > fmax(step * 1e-6, fabs(t[i]) * 1e-12))
                fail_msg("lo %.17g hi %.17g max %d: t[%zu] %.17g t[%zu] %.17g step %.17g", lo, hi,
                         max, i - 1, t[i - 1], i, t[i], step);
        }
    }
}

static void
test_time_axis(void **state)
{
    char buf[32];

    assert_float_equal(hvf_svg_time_step(2400, 8), 300, 0);
    assert_float_equal(hvf_svg_time_step(45, 8), 10, 0);
    assert_float_equal(hvf_svg_time_step(3 * 3600, 8), 1800, 0);
    assert_float_equal(hvf_svg_time_step(60 * 86400, 8), 10 * 86400, 0);
    assert_float_equal(hvf_svg_time_step(0, 8), 1, 0);
    assert_float_equal(hvf_svg_time_step(NAN, 8), 1, 0);

    assert_string_equal(hvf_svg_format_time(0, false, buf, sizeof(buf)), "0:00");
    assert_string_equal(hvf_svg_format_time(3599, false, buf, sizeof(buf)), "0:59");
    assert_string_equal(hvf_svg_format_time(3600, false, buf, sizeof(buf)), "1:00");
    assert_string_equal(hvf_svg_format_time(27 * 3600 + 300, false, buf, sizeof(buf)), "27:05");
    assert_string_equal(hvf_svg_format_time(61, true, buf, sizeof(buf)), "0:01:01");
    assert_string_equal(hvf_svg_format_time(-90, true, buf, sizeof(buf)), "-0:01:30");
    assert_string_equal(hvf_svg_format_time(NAN, true, buf, sizeof(buf)), "?");
    assert_string_equal(hvf_svg_format_time(INFINITY, true, buf, sizeof(buf)), "?");
    /* a small buffer is cut, never overrun */
    assert_string_equal(hvf_svg_format_time(3600, true, buf, 4), "1:0");
}

static char *
escaped(const char *s)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_svg_escape(&sb, s);
    return hvf_strbuf_steal(&sb);
}

static void
test_escape(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"<a href='x'>&\"", "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"},
        {"plain h01", "plain h01"},
        {"caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\xa5", "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x94\xa5"},
        {"a\tb\nc", "a b c"},
        {"\x01", "\xef\xbf\xbd"},
        {"\x7f", "\xef\xbf\xbd"},
        {"x\xffy", "x\xef\xbf\xbdy"},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* UTF-16 surrogate */
        {"\xe2\x86", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* truncated sequence */
        {"", ""},
    };

    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        HVF_AUTOFREE char *got = escaped(cases[i].in);
        assert_string_equal(got, cases[i].want);
    }
    {
        hvf_strbuf sb = HVF_STRBUF_INIT;
        hvf_svg_escape(&sb, NULL);
        assert_int_equal(sb.len, 0);
    }
}

static char *
render(const hvf_svg_chart *c)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    hvf_svg_line_chart(&sb, c);
    return hvf_strbuf_steal(&sb);
}

/* The series paths only: their stroke width tells them from the axes. */
static const char *
series_path(const char *svg)
{
    const char *p = strstr(svg, "stroke-width=\"1.8\"");
    if (!p)
        return NULL;
    while (p > svg && strncmp(p, "<path d=\"", 9) != 0)
        p--;
    return p;
}

static void
test_chart_empty(void **state)
{
    hvf_svg_chart c = {.title = "Nothing <here>", .x_is_time = true};
    HVF_AUTOFREE char *svg = render(&c);

    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "</svg>\n"));
    assert_non_null(strstr(svg, ">no data</text>"));
    assert_non_null(strstr(svg, "Nothing &lt;here&gt;"));
    assert_null(series_path(svg));
    assert_null(strstr(svg, "<circle"));
    assert_null(strstr(svg, "nan"));

    /* a series whose points are all non-finite is as empty as no series */
    {
        static const double x[] = {0, 1, 2}, y[] = {NAN, INFINITY, -INFINITY};
        hvf_svg_series s = {"broken", x, y, 3, false};
        hvf_svg_chart c2 = {.title = "t", .series = &s, .nseries = 1};
        HVF_AUTOFREE char *svg2 = render(&c2);
        assert_non_null(strstr(svg2, ">no data</text>"));
        assert_null(series_path(svg2));
        assert_null(strstr(svg2, "<circle"));
        assert_non_null(strstr(svg2, ">broken</text>")); /* still in the legend */
    }
}

static void
test_chart_one_point(void **state)
{
    static const double x[] = {120}, y[] = {0.5};
    hvf_svg_series s = {"h01", x, y, 1, false};
    hvf_svg_chart c = {.title = "One", .x_is_time = true, .series = &s, .nseries = 1};
    HVF_AUTOFREE char *svg = render(&c);

    assert_int_equal(count_substr(svg, "<circle"), 1);
    assert_null(series_path(svg));
    assert_null(strstr(svg, "no data"));
    assert_null(strstr(svg, "nan"));
    /* the x range widens to a minute around a lone sample, labelled in h:mm:ss */
    assert_non_null(strstr(svg, ">0:02:00</text>"));
}

static void
test_chart_gaps(void **state)
{
    static const double x[] = {0, 60, 120, 180, 240, 300, 360, 420};
    static const double y[] = {1, 2, NAN, 3, 4, INFINITY, 5, 1e300};
    hvf_svg_series s = {"gappy", x, y, 8, false};
    hvf_svg_chart c = {.title = "Gaps", .x_is_time = true, .series = &s, .nseries = 1};
    HVF_AUTOFREE char *svg = render(&c);
    const char *p = series_path(svg);
    const char *end;

    assert_non_null(p);
    end = strchr(p + 9, '"');
    /* [1,2] and [3,4] are lines, [5] a dot; 1e300 is beyond plotting and skipped like inf */
    assert_int_equal(count_substr(p, "M") - count_substr(end, "M"), 2);
    assert_int_equal(count_substr(svg, "<circle"), 1);
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "inf"));
    /* the axis spans the finite values only: 0..5 */
    assert_non_null(strstr(svg, ">5</text>"));
    assert_null(strstr(svg, "e+"));
}

static void
test_chart_features(void **state)
{
    static const double x[] = {0, 600, 1200, 1800, 2400};
    static const double a[] = {0.5, 0.9, 1.1, 1.17, 0.8};
    static const double b[] = {0, 3, 40, 120, 180};
    hvf_svg_series s[] = {{"host <one>", x, a, 5, false}, {"VMs & more", x, b, 5, true}};
    hvf_svg_chart c = {.title = "Memory \"ratio\"",
                       .y_label = "used / usable",
                       .y2_label = "VMs",
                       .x_is_time = true,
                       .step = true,
                       .has_ref = true,
                       .ref_y = 1.0,
                       .ref_label = "usable <capacity>",
                       .series = s,
                       .nseries = 2};
    HVF_AUTOFREE char *svg = render(&c);
    HVF_AUTOFREE char *again = render(&c);

    assert_string_equal(svg, again);
    assert_non_null(strstr(svg, "Memory &quot;ratio&quot;"));
    assert_non_null(strstr(svg, "host &lt;one&gt;"));
    assert_non_null(strstr(svg, "VMs &amp; more (right axis)"));
    assert_non_null(strstr(svg, "usable &lt;capacity&gt;</text>"));
    assert_non_null(strstr(svg, "stroke-dasharray=\"7 4\""));
    /* step style draws horizontal then vertical moves */
    assert_non_null(strstr(series_path(svg), "H"));
    assert_non_null(strstr(series_path(svg), "V"));
    /* time ticks every 5 minutes in h:mm; right axis labels are left-aligned */
    assert_non_null(strstr(svg, ">0:05</text>"));
    assert_non_null(strstr(svg, ">0:40</text>"));
    assert_non_null(strstr(svg, "text-anchor=\"start\">200</text>"));
    assert_non_null(strstr(svg, ">1.2</text>"));
    assert_null(strstr(svg, "<script"));
}

/* A long series is thinned per pixel column but keeps its one-sample spike. */
static void
test_chart_thinning(void **state)
{
    size_t n = 200000;
    HVF_AUTOFREE double *x = hvf_calloc(n, sizeof(double));
    HVF_AUTOFREE double *y = hvf_calloc(n, sizeof(double));
    hvf_svg_series s = {"busy", x, y, n, false};
    hvf_svg_chart c = {.title = "Spike", .series = &s, .nseries = 1, .x_is_time = true};
    HVF_AUTOFREE char *svg = NULL;

    for (size_t i = 0; i < n; i++)
        x[i] = (double)i;
    y[123457] = 10;
    svg = render(&c);
    assert_true(strlen(svg) < 200000);
    /* title (30 px) + one legend row: the plot top is y = 60, where the axis maximum 10 sits */
    assert_non_null(strstr(series_path(svg), " 60.0"));
    assert_non_null(strstr(svg, ">10</text>"));
}

static void
test_chart_many_series(void **state)
{
    static const double x[] = {0, 1}, y[] = {1, 2};
    hvf_svg_series s[12];
    char names[12][64];
    hvf_svg_chart c = {.title = "Twelve", .series = s, .nseries = 12};
    HVF_AUTOFREE char *svg = NULL;

    for (size_t i = 0; i < 12; i++) {
        snprintf(names[i], sizeof(names[i]), "a rather long host name number %zu in rack r1", i);
        s[i] = (hvf_svg_series){names[i], x, y, 2, false};
    }
    svg = render(&c);
    /* colours repeat after 8 series, so the rest are dashed; long legend labels are cut */
    assert_int_equal(count_substr(svg, "stroke-dasharray=\"6 3\""), 2 * 4);
    assert_non_null(strstr(svg, "..."));
    assert_int_equal(count_substr(svg, "stroke-width=\"1.8\""), 12);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks_examples), cmocka_unit_test(test_ticks_properties),
        cmocka_unit_test(test_time_axis),      cmocka_unit_test(test_escape),
        cmocka_unit_test(test_chart_empty),    cmocka_unit_test(test_chart_one_point),
        cmocka_unit_test(test_chart_gaps),     cmocka_unit_test(test_chart_features),
        cmocka_unit_test(test_chart_thinning), cmocka_unit_test(test_chart_many_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
