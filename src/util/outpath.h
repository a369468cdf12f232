/* SPDX-License-Identifier: MIT */
/*
 * Where outputs named by a user may go: a regular file, a new path, or (through symlinks) the
 * file a link points to; never a device, FIFO, socket or, for a file, a directory. Output
 * directories are written beside their final place and swapped in whole. Temporary names are
 * "<name>.tmp.<pid>.XXXXXX"; the next writer removes those whose process is gone.
 */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "hvfleet/error.h"

/*
 * hvf_outpath_resolve: follows @path through its symlinks (at most 40) to the path a write
 * lands on. Returns it (owned), with *@exists and, when it exists, *@st (its lstat). Returns
 * NULL with HVF_ERR_IO when a link cannot be read, a component is not a directory, or the
 * links loop.
 */
char *hvf_outpath_resolve(const char *path, bool *exists, struct stat *st, hvf_error *err);

/* "a directory", "a character device", ... for the type bits of @mode. */
const char *hvf_outpath_kind(mode_t mode);

/*
 * hvf_outpath_clean_stale: removes the entries of directory @dir named "@base.tmp.PID.XXXXXX"
 * whose process PID no longer runs (files, or directory trees without following links).
 * Best effort: what cannot be removed stays.
 */
void hvf_outpath_clean_stale(const char *dir, const char *base);

/* Splits @path into an owned directory ("." when it has none) and its last component. */
char *hvf_outpath_dirname(const char *path, const char **base);

/*
 * An output directory written as a whole: files go to @tmp, a new directory beside @path;
 * hvf_outdir_commit swaps it in (the previous run is kept only until the swap, then removed).
 */
typedef struct hvf_outdir {
    char *path; /* owned: the directory the run ends up in (symlinks resolved) */
    char *tmp;  /* owned: where to write until the commit; NULL once committed or cleared */
} hvf_outdir;

/*
 * hvf_outdir_begin: checks that @dir may take a run (a new path, or a directory holding only
 * what runs write: entries named in the NULL-terminated @known, "*.tmp.*" leftovers, and
 * subdirectories that are such directories in turn), creates its parents, removes stale
 * temporaries beside it and makes the staging directory. Returns 0, or -1 with @err
 * (HVF_ERR_INVALID for a path that is not such a directory, HVF_ERR_IO otherwise).
 */
int hvf_outdir_begin(hvf_outdir *od, const char *dir, const char *const *known, hvf_error *err)
    __attribute__((warn_unused_result));
/* Puts the staged run in place (rename; an existing run is swapped out, then removed). */
int hvf_outdir_commit(hvf_outdir *od, hvf_error *err) __attribute__((warn_unused_result));
/* Removes what is staged, if not committed, and frees @od. Accepts a zeroed @od. */
void hvf_outdir_clear(hvf_outdir *od);
