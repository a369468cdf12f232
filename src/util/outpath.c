/* SPDX-License-Identifier: MIT */
/* Output paths: symlinks followed, non-regular files refused, run directories swapped whole. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvfleet/alloc.h"
#include "util/outpath.h"
#include "util/text.h"

#define OUTPATH_MAX_LINKS 40 /* as the kernel's ELOOP limit */
#define OUTDIR_MAX_DEPTH 2   /* a replay: OUT/<variant>/ */

const char *
hvf_outpath_kind(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "a regular file";
    case S_IFDIR:
        return "a directory";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    case S_IFLNK:
        return "a symlink";
    default:
        return "not a regular file";
    }
}

char *
hvf_outpath_dirname(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        *base = path;
        return hvf_strdup(".");
    }
    *base = slash + 1;
    if (slash == path)
        return hvf_strdup("/");
    return hvf_strndup(path, (size_t)(slash - path));
}

char *
hvf_outpath_resolve(const char *path, bool *exists, struct stat *st, hvf_error *err)
{
    HVF_AUTOFREE char *cur = hvf_strdup(path);

    *exists = false;
    for (int hop = 0; hop <= OUTPATH_MAX_LINKS; hop++) {
        HVF_AUTOFREE char *link = NULL;
        HVF_AUTOFREE char *dir = NULL;
        const char *base = NULL;
        ssize_t n;

        if (lstat(cur, st) < 0) {
            if (errno == ENOENT)
                return hvf_steal_ptr(&cur);
            hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': %s", cur, strerror(errno));
            return NULL;
        }
        if (!S_ISLNK(st->st_mode)) {
            *exists = true;
            return hvf_steal_ptr(&cur);
        }
        link = hvf_malloc(4097);
        n = readlink(cur, link, 4096);
        if (n < 0) {
            hvf_error_set(err, HVF_ERR_IO, "cannot read the symlink '%s': %s", cur,
                          strerror(errno));
            return NULL;
        }
        link[n] = '\0';
        if (link[0] == '/') {
            free(cur);
            cur = hvf_steal_ptr(&link);
            continue;
        }
        dir = hvf_outpath_dirname(cur, &base);
        free(cur);
        cur = hvf_asprintf("%s/%s", dir, link);
    }
    hvf_error_set(err, HVF_ERR_IO, "cannot write '%s': more than %d symlinks in a row", path,
                  OUTPATH_MAX_LINKS);
    return NULL;
}

static int
outpath_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

/* rm -rf without following symlinks; only ever called on names this module made. */
static void
outpath_remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        (void)unlink(path);
        return;
    }
    (void)nftw(path, outpath_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The PID in "@base.tmp.PID.XXXXXX", or 0 when @name is not such a name. */
static long
outpath_tmp_pid(const char *name, const char *base)
{
    size_t blen = strlen(base);
    const char *p;
    char *end = NULL;
    long pid;

    if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
        return 0;
    p = name + blen + 5;
    if (*p < '0' || *p > '9')
        return 0;
    errno = 0;
    pid = strtol(p, &end, 10);
    if (errno || pid <= 0 || *end != '.' || strlen(end + 1) != 6)
        return 0;
    return pid;
}

void
hvf_outpath_clean_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        long pid = outpath_tmp_pid(e->d_name, base);
        /* a process that still runs (or that we may not signal) may still be writing it */
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        {
            HVF_AUTOFREE char *p = hvf_asprintf("%s/%s", dir, e->d_name);
            outpath_remove_tree(p);
        }
    }
    closedir(d);
}

/* Sets @err and returns -1 unless @dir holds only what runs write (see hvf_outdir_begin).
 * @root is @dir's start in @shown's tree, for naming an entry relative to it. */
static int
outdir_check(const char *shown, size_t root, const char *dir, const char *const *known, int depth,
             hvf_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (!d) {
        hvf_error_set(err, HVF_ERR_IO, "cannot read directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        HVF_AUTOFREE char *p = NULL;
        struct stat st;
        bool ok = false;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(e->d_name, known[i]) == 0;
        if (ok || strstr(e->d_name, ".tmp."))
            continue;
        p = hvf_asprintf("%s/%s", dir, e->d_name);
        if (depth < OUTDIR_MAX_DEPTH && lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = outdir_check(shown, root, p, known, depth + 1, err);
            continue;
        }
        hvf_error_set(err, HVF_ERR_INVALID,
                      "cannot write the run to '%s': it holds '%s', which no run writes "
                      "(expected a new or empty directory, or an earlier run's)",
                      shown, p + root + 1);
        rc = -1;
    }
    closedir(d);
    return rc;
}

int
hvf_outdir_begin(hvf_outdir *od, const char *dir, const char *const *known, hvf_error *err)
{
    HVF_AUTOFREE char *want = hvf_strdup(dir);
    HVF_AUTOFREE char *parent = NULL;
    const char *base = NULL;
    struct stat st;
    bool exists = false;
    mode_t mask;

    memset(od, 0, sizeof(*od));
    for (size_t n = strlen(want); n > 1 && want[n - 1] == '/'; n--)
        want[n - 1] = '\0';
    od->path = hvf_outpath_resolve(want, &exists, &st, err);
    if (!od->path)
        return -1;
    parent = hvf_outpath_dirname(od->path, &base);
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "cannot write the run to '%s': expected the name of the run's own "
                      "directory (not '.', '..' or '/')",
                      dir);
        goto fail;
    }
    if (exists && !S_ISDIR(st.st_mode)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "cannot write the run to '%s': it is %s (expected a directory or a new "
                      "path)",
                      dir, hvf_outpath_kind(st.st_mode));
        goto fail;
    }
    if (exists && outdir_check(dir, strlen(od->path), od->path, known, 1, err) < 0)
        goto fail;
    if (hvf_file_mkdirs(parent, 0777, err) < 0)
        goto fail;
    hvf_outpath_clean_stale(parent, base);
    od->tmp = hvf_asprintf("%s.tmp.%ld.XXXXXX", od->path, (long)getpid());
    if (!mkdtemp(od->tmp)) {
        hvf_error_set(err, HVF_ERR_IO, "cannot create a directory next to '%s': %s", dir,
                      strerror(errno));
        goto fail;
    }
    /* mkdtemp makes 0700; runs are meant to be shared, so honour the umask like mkdir(2) */
    mask = umask(0);
    umask(mask);
    (void)chmod(od->tmp, 0777 & ~mask);
    return 0;

fail:
    free(od->tmp);
    od->tmp = NULL;
    free(od->path);
    od->path = NULL;
    return -1;
}

int
hvf_outdir_commit(hvf_outdir *od, hvf_error *err)
{
    HVF_AUTOFREE char *old = NULL;

    HVF_ASSERT(od->tmp);
    /* Atomic: readers see the previous run or this one, never a mix. The previous run ends
     * up under the temporary name and is removed after. */
    if (renameat2(AT_FDCWD, od->tmp, AT_FDCWD, od->path, RENAME_EXCHANGE) == 0) {
        outpath_remove_tree(od->tmp);
        free(od->tmp);
        od->tmp = NULL;
        return 0;
    }
    if (errno == ENOENT && rename(od->tmp, od->path) == 0)
        goto done;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTEMPTY && errno != EEXIST)
        goto fail;
    /* No exchange on this file system: move the old run aside first. A kill in between leaves
     * no run at the path, and the old one under a temporary name the next run removes. */
    old = hvf_asprintf("%s.tmp.%ld.XXXXXX", od->path, (long)getpid());
    if (!mkdtemp(old) || rmdir(old) < 0 || rename(od->path, old) < 0 ||
        rename(od->tmp, od->path) < 0)
        goto fail;
    outpath_remove_tree(old);
done:
    free(od->tmp);
    od->tmp = NULL;
    return 0;
fail:
    hvf_error_set(err, HVF_ERR_IO, "cannot put the run in place at '%s': %s", od->path,
                  strerror(errno));
    return -1;
}

void
hvf_outdir_clear(hvf_outdir *od)
{
    if (od->tmp)
        outpath_remove_tree(od->tmp);
    free(od->tmp);
    free(od->path);
    od->tmp = NULL;
    od->path = NULL;
}
