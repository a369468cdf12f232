/* SPDX-License-Identifier: MIT */
/* Text in SVG and HTML: escaping with UTF-8 validation, shortening labels, estimating their width.
 */
#include <stdint.h>

#include "hvfleet/alloc.h"
#include "hvfleet/svg.h"
#include "report/svg-priv.h"

/* Length of the valid UTF-8 sequence at @p (at most @n bytes), or 0 when it is not valid. */
static size_t
svg_utf8_len(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    /* overlong forms, UTF-16 surrogates and code points past Unicode are not characters */
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void
svg_escape_n(hvf_strbuf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t len;

        switch (c) {
        case '&':
            hvf_strbuf_puts(out, "&amp;");
            i++;
            continue;
        case '<':
            hvf_strbuf_puts(out, "&lt;");
            i++;
            continue;
        case '>':
            hvf_strbuf_puts(out, "&gt;");
            i++;
            continue;
        case '"':
            hvf_strbuf_puts(out, "&quot;");
            i++;
            continue;
        case '\'':
            hvf_strbuf_puts(out, "&#39;");
            i++;
            continue;
        case '\t':
        case '\n':
        case '\r':
            hvf_strbuf_add(out, " ", 1);
            i++;
            continue;
        default:
            break;
        }
        len = svg_utf8_len(p + i, n - i);
        if (len == 0 || c < 0x20 || c == 0x7f) {
            hvf_strbuf_puts(out, "\xef\xbf\xbd");
            i++;
            continue;
        }
        hvf_strbuf_add(out, s + i, len);
        i += len;
    }
}

void
hvf_svg_escape(hvf_strbuf *out, const char *s)
{
    if (s)
        svg_escape_n(out, s, strlen(s));
}

/* Appends @s escaped, shortened to about @max bytes at a character boundary. */
void
hvf_svg_escape_short(hvf_strbuf *out, const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max) {
        svg_escape_n(out, s, n);
        return;
    }
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    svg_escape_n(out, s, n);
    hvf_strbuf_puts(out, "...");
}

/* Display width estimate in characters (UTF-8 continuation bytes don't count). */
size_t
hvf_svg_text_chars(const char *s, size_t max)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n > max ? max + 3 : n;
}
