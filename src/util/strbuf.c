/* SPDX-License-Identifier: MIT */
/* Growable strings and atomic file writes (temporary file + rename: never a half-written file). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "util/outpath.h"

/*
 * Makes room for @need bytes in all. Not hvf_grow: a string's unused end is never read, so it is
 * not zeroed (for a plan of 200,000 migrations that was 64 MiB of memset), and the check that
 * usually passes stays in the caller, inlined.
 */
static void
strbuf_grow(hvf_strbuf *sb, size_t need)
{
    size_t ncap = sb->cap ? sb->cap : 64;

    while (ncap < need) {
        HVF_ASSERT(ncap <= SIZE_MAX / 2);
        ncap *= 2;
    }
    sb->buf = hvf_realloc(sb->buf, ncap);
    sb->cap = ncap;
}

/* hvf_strbuf_add, inlined where strings are built piece by piece (plans, fingerprints) */
static inline void
strbuf_add(hvf_strbuf *sb, const char *s, size_t len)
{
    if (sb->len + len + 1 > sb->cap)
        strbuf_grow(sb, sb->len + len + 1);
    memcpy(sb->buf + sb->len, s, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void
hvf_strbuf_add(hvf_strbuf *sb, const char *s, size_t len)
{
    strbuf_add(sb, s, len);
}

void
hvf_strbuf_puts(hvf_strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s));
}

void
hvf_strbuf_printf(hvf_strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    size_t room;
    int n;

    /* One pass when the text fits in the room left (the usual case), a second after growing. */
    if (sb->len + 64 > sb->cap)
        strbuf_grow(sb, sb->len + 64);
    room = sb->cap - sb->len;
    va_start(ap, fmt);
    n = vsnprintf(sb->buf + sb->len, room, fmt, ap);
    va_end(ap);
    HVF_ASSERT(n >= 0);
    if ((size_t)n >= room) {
        strbuf_grow(sb, sb->len + (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    sb->len += (size_t)n;
}

void
hvf_strbuf_add_u64(hvf_strbuf *sb, uint64_t v)
{
    char buf[24], *p = buf + sizeof(buf);

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    strbuf_add(sb, p, (size_t)(buf + sizeof(buf) - p));
}

void
hvf_strbuf_quote(hvf_strbuf *sb, const char *s)
{
    hvf_strbuf_add(sb, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            hvf_strbuf_add(sb, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            hvf_strbuf_printf(sb, "\\u%04x", *p);
        } else {
            hvf_strbuf_add(sb, (const char *)p, 1);
        }
    }
    hvf_strbuf_add(sb, "\"", 1);
}

void
hvf_strbuf_clear(hvf_strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

char *
hvf_strbuf_steal(hvf_strbuf *sb)
{
    char *s = sb->buf ? sb->buf : hvf_strdup("");

    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return s;
}

int
hvf_file_write_atomic(const char *path, const char *data, size_t len, hvf_error *err)
{
    HVF_AUTOFREE char *target = NULL;
    HVF_AUTOFREE char *dir = NULL;
    HVF_AUTOFREE char *tmp = NULL;
    const char *base = NULL;
    struct stat st;
    bool exists = false;
    FILE *fp;
    mode_t mode;
    int fd;

    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            hvf_error_set(err, HVF_ERR_IO, "cannot write to standard output: %s",
                          strerror(errno));
            return -1;
        }
        return 0;
    }
    /* A rename replaces whatever the name held: a device (as root, /dev/null would become a
     * file), a FIFO, a link. So write through links, and only ever replace a regular file. */
    target = hvf_outpath_resolve(path, &exists, &st, err);
    if (!target)
        return -1;
    if (exists && !S_ISREG(st.st_mode)) {
        if (strcmp(target, path) != 0)
            hvf_error_set(err, HVF_ERR_INVALID,
                          "cannot write '%s': it links to '%s', which is %s (expected a regular "
                          "file or a new path)",
                          path, target, hvf_outpath_kind(st.st_mode));
        else
            hvf_error_set(err, HVF_ERR_INVALID,
                          "cannot write '%s': it is %s (expected a regular file, a new path, or "
                          "'-' for standard output)",
                          path, hvf_outpath_kind(st.st_mode));
        return -1;
    }
    dir = hvf_outpath_dirname(target, &base);
    hvf_outpath_clean_stale(dir, base);
    tmp = hvf_asprintf("%s.tmp.%ld.XXXXXX", target, (long)getpid());
    fd = mkstemp(tmp);
    if (fd < 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot create a file next to '%s': %s", target,
                      strerror(errno));
        return -1;
    }
    if (exists) {
        mode = st.st_mode & 07777; /* the file keeps its permissions */
    } else {
        /* mkstemp makes 0600; outputs are meant to be shared, so honour the umask like open(2) */
        mode_t mask = umask(0);
        umask(mask);
        mode = 0666 & ~mask;
    }
    (void)fchmod(fd, mode);
    fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(tmp);
        hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        return -1;
    }
    if (fwrite(data, 1, len, fp) != len || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        fclose(fp);
        unlink(tmp);
        return -1;
    }
    if (fclose(fp) != 0 || rename(tmp, target) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void
hvf_quote_value(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0;

    HVF_ASSERT(size >= 8);
    buf[o++] = '\'';
    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = isprint(c) ? (char)c : '?';
        if (i == 40 && len > 44) {
            buf[o++] = '.';
            buf[o++] = '.';
            buf[o++] = '.';
            break;
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
}

char *
hvf_template_expand(const char *tmpl, const char *const *kv)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    const char *s = tmpl;

    while (*s) {
        const char *next = strchr(s, '{');
        size_t k;

        if (!next) {
            hvf_strbuf_puts(&sb, s);
            break;
        }
        hvf_strbuf_add(&sb, s, (size_t)(next - s));
        for (k = 0; kv[k]; k += 2) {
            size_t n = strlen(kv[k]);

            if (strncmp(next + 1, kv[k], n) == 0 && next[1 + n] == '}') {
                hvf_strbuf_puts(&sb, kv[k + 1]);
                s = next + n + 2;
                break;
            }
        }
        if (!kv[k]) {
            hvf_strbuf_add(&sb, next, 1);
            s = next + 1;
        }
    }
    return hvf_strbuf_steal(&sb);
}
