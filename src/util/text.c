/* SPDX-License-Identifier: MIT */
/* Capped file reads and UTF-8 validation for parsers of untrusted text. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "hvfleet/alloc.h"
#include "util/text.h"

char *
hvf_text_read_file(const char *path, size_t max, size_t *len, hvf_error *err)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    char *buf;
    size_t n;

    if (!fp) {
        hvf_error_set(err, HVF_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        hvf_error_set(err, HVF_ERR_IO, "'%s' is not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        fclose(fp);
        hvf_error_set(err, HVF_ERR_INVALID, "'%s' is %" PRIu64 " bytes: the limit is %zu", path,
                      (uint64_t)st.st_size, max);
        return NULL;
    }
    buf = hvf_malloc((size_t)st.st_size + 1);
    n = fread(buf, 1, (size_t)st.st_size, fp);
    if (ferror(fp)) {
        free(buf);
        fclose(fp);
        hvf_error_set(err, HVF_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

bool
hvf_text_utf8_valid(const char *str, size_t len, int *line, int *column)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, line_start = 0;
    int ln = 1;

    while (i < len) {
        unsigned c = s[i];
        size_t need;
        uint32_t cp, min;

        if (c < 0x80) {
            if (c == '\n') {
                ln++;
                line_start = i + 1;
            }
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (len - i <= need)
            goto bad;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += need + 1;
    }
    return true;
bad:
    *line = ln;
    *column = (int)(i - line_start) + 1;
    return false;
}
