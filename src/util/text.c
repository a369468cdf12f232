/* SPDX-License-Identifier: MIT */
/* Capped whole-file reads and directory trees. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

int
hvf_file_mkdirs(const char *dir, mode_t mode, hvf_error *err)
{
    HVF_AUTOFREE char *p = hvf_strdup(dir);

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            hvf_error_set(err, HVF_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST) {
        hvf_error_set(err, HVF_ERR_IO, "cannot create directory '%s': %s", p, strerror(errno));
        return -1;
    }
    return 0;
}
