/* SPDX-License-Identifier: MIT */
/*
 * Output paths (issue 9, items 1 and 19): hvf_file_write_atomic writes a regular file or a new
 * path, writes through symlinks, refuses everything else untouched; run directories are staged
 * beside their place and swapped in whole; temporaries of dead writers are removed.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "util/outpath.h"
#include "util/text.h"

static char tmpdir[64];

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hvf-outpath-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
    HVF_AUTOFREE char *cmd = hvf_asprintf("rm -rf '%s'", tmpdir);

    (void)state;
    return system(cmd) == 0 ? 0 : -1;
}

static char *
in_tmp(const char *name)
{
    return hvf_asprintf("%s/%s", tmpdir, name);
}

static char *
slurp(const char *path)
{
    hvf_error err = HVF_ERROR_INIT;
    size_t len = 0;
    char *s = hvf_text_read_file(path, 1 << 20, &len, &err);

    if (!s)
        fail_msg("%s", err.msg);
    return s;
}

/* A pid that ran and is gone: a child that exited and was reaped. */
static long
dead_pid(void)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(0);
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return (long)pid;
}

static void
test_regular_and_new(void **state)
{
    HVF_AUTOFREE char *path = in_tmp("plain.txt");
    HVF_AUTOFREE char *s = NULL;
    hvf_error err = HVF_ERROR_INIT;
    struct stat st;

    (void)state;
    assert_int_equal(hvf_file_write_atomic(path, "one\n", 4, &err), 0);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(hvf_file_write_atomic(path, "two\n", 4, &err), 0);
    s = slurp(path);
    assert_string_equal(s, "two\n");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640); /* replaced, with its permissions */
}

/* Each kind of non-regular file: refused with its kind named, and left as it was. */
static void
test_refuses_non_regular(void **state)
{
    HVF_AUTOFREE char *fifo = in_tmp("fifo");
    HVF_AUTOFREE char *dir = in_tmp("dir");
    HVF_AUTOFREE char *devlink = in_tmp("null-link");
    struct {
        const char *path, *want;
        mode_t type;
    } cases[] = {
        {fifo, "is a FIFO", S_IFIFO},
        {dir, "is a directory", S_IFDIR},
        {"/dev/null", "'/dev/null': it is a character device", S_IFCHR},
        {devlink, "links to '/dev/null', which is a character device", S_IFLNK},
    };

    (void)state;
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(symlink("/dev/null", devlink), 0);
    for (size_t i = 0; i < HVF_ARRAY_LEN(cases); i++) {
        hvf_error err = HVF_ERROR_INIT;
        struct stat before, after;

        assert_int_equal(lstat(cases[i].path, &before), 0);
        assert_int_equal(hvf_file_write_atomic(cases[i].path, "x", 1, &err), -1);
        assert_int_equal(err.code, HVF_ERR_INVALID);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("'%s': got '%s', want '%s'", cases[i].path, err.msg, cases[i].want);
        assert_int_equal(lstat(cases[i].path, &after), 0);
        assert_int_equal(after.st_mode & S_IFMT, cases[i].type);
        assert_true(after.st_ino == before.st_ino);
        assert_true(after.st_rdev == before.st_rdev);
    }
    /* nothing was created next to /dev/null either */
    {
        glob_t g;
        assert_int_equal(glob("/dev/null.tmp.*", 0, NULL, &g), GLOB_NOMATCH);
        globfree(&g);
    }
}

/* A symlink stays a symlink; its target gets the new content (or is created). */
static void
test_symlinks(void **state)
{
    HVF_AUTOFREE char *target = in_tmp("target.json");
    HVF_AUTOFREE char *link = in_tmp("link.json");
    HVF_AUTOFREE char *chain = in_tmp("chain.json");
    HVF_AUTOFREE char *dangling = in_tmp("dangling.json");
    HVF_AUTOFREE char *created = in_tmp("created.json");
    HVF_AUTOFREE char *s = NULL;
    hvf_error err = HVF_ERROR_INIT;
    struct stat st;

    (void)state;
    assert_int_equal(hvf_file_write_atomic(target, "old", 3, &err), 0);
    assert_int_equal(symlink("target.json", link), 0); /* relative to the link's directory */
    assert_int_equal(symlink(link, chain), 0);
    assert_int_equal(hvf_file_write_atomic(chain, "new", 3, &err), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(chain, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    s = slurp(target);
    assert_string_equal(s, "new");
    free(s);
    assert_int_equal(symlink("created.json", dangling), 0);
    assert_int_equal(hvf_file_write_atomic(dangling, "made", 4, &err), 0);
    assert_int_equal(lstat(dangling, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    s = slurp(created);
    assert_string_equal(s, "made");
}

/* A loop of links is an error, not a hang. */
static void
test_link_loop(void **state)
{
    HVF_AUTOFREE char *a = in_tmp("loop-a");
    HVF_AUTOFREE char *b = in_tmp("loop-b");
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    assert_int_equal(symlink(b, a), 0);
    assert_int_equal(symlink(a, b), 0);
    assert_int_equal(hvf_file_write_atomic(a, "x", 1, &err), -1);
    assert_non_null(strstr(err.msg, "symlinks in a row"));
}

/* A temporary of a dead writer goes; one of a live process (pid 1) and other files stay. */
static void
test_stale_files(void **state)
{
    HVF_AUTOFREE char *path = in_tmp("out.json");
    HVF_AUTOFREE char *stale = hvf_asprintf("%s.tmp.%ld.abcdef", path, dead_pid());
    HVF_AUTOFREE char *live = hvf_asprintf("%s.tmp.1.abcdef", path);
    HVF_AUTOFREE char *other = hvf_asprintf("%s.tmp.notapid", path);
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    assert_int_equal(hvf_file_write_atomic(stale, "s", 1, &err), 0);
    assert_int_equal(hvf_file_write_atomic(live, "l", 1, &err), 0);
    assert_int_equal(hvf_file_write_atomic(other, "o", 1, &err), 0);
    assert_int_equal(hvf_file_write_atomic(path, "x", 1, &err), 0);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
}

static const char *const known[] = {"summary.json", "events.jsonl", "report.html", NULL};

static void
put(const char *dir, const char *name, const char *text)
{
    HVF_AUTOFREE char *p = hvf_asprintf("%s/%s", dir, name);
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_file_write_atomic(p, text, strlen(text), &err) < 0)
        fail_msg("%s", err.msg);
}

/* A run replaces the previous one as a whole: none of the old run's files survive. */
static void
test_outdir_swap(void **state)
{
    HVF_AUTOFREE char *run = in_tmp("runs/r1");
    HVF_AUTOFREE char *s = NULL;
    HVF_AUTOFREE char *old_extra = hvf_asprintf("%s/events.jsonl", run);
    HVF_AUTOFREE char *stale = NULL;
    hvf_outdir od;
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    assert_int_equal(hvf_outdir_begin(&od, run, known, &err), 0); /* parents are made */
    put(od.tmp, "summary.json", "{\"seed\":7}");
    put(od.tmp, "events.jsonl", "seven\n");
    assert_int_equal(access(run, F_OK), -1); /* nothing at the path before the commit */
    assert_int_equal(hvf_outdir_commit(&od, &err), 0);
    hvf_outdir_clear(&od);

    /* a killed run's staging directory, left beside it */
    stale = hvf_asprintf("%s.tmp.%ld.zzzzzz", run, dead_pid());
    assert_int_equal(mkdir(stale, 0700), 0);
    put(stale, "summary.json", "{\"seed\":9}");

    assert_int_equal(hvf_outdir_begin(&od, run, known, &err), 0);
    assert_int_equal(access(stale, F_OK), -1); /* cleaned by the next run */
    put(od.tmp, "summary.json", "{\"seed\":8}");
    s = slurp(old_extra);
    assert_string_equal(s, "seven\n"); /* the previous run stays whole until the swap */
    assert_int_equal(hvf_outdir_commit(&od, &err), 0);
    hvf_outdir_clear(&od);
    free(s);
    s = hvf_asprintf("%s/summary.json", run);
    {
        HVF_AUTOFREE char *t = slurp(s);
        assert_string_equal(t, "{\"seed\":8}");
    }
    assert_int_equal(access(old_extra, F_OK), -1); /* the old run's events went with it */
}

/* Not a directory for a run: refused, and nothing is touched. */
static void
test_outdir_refused(void **state)
{
    HVF_AUTOFREE char *file = in_tmp("a-file");
    HVF_AUTOFREE char *mine = in_tmp("my-notes");
    HVF_AUTOFREE char *note = hvf_asprintf("%s/notes.txt", mine);
    hvf_outdir od;
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    put(tmpdir, "a-file", "x");
    assert_int_equal(hvf_outdir_begin(&od, file, known, &err), -1);
    assert_non_null(strstr(err.msg, "it is a regular file"));
    assert_int_equal(hvf_outdir_begin(&od, "/dev/null", known, &err), -1);
    assert_non_null(strstr(err.msg, "it is a character device"));
    assert_int_equal(mkdir(mine, 0700), 0);
    put(mine, "notes.txt", "mine");
    put(mine, "summary.json", "{}");
    assert_int_equal(hvf_outdir_begin(&od, mine, known, &err), -1);
    assert_non_null(strstr(err.msg, "holds 'notes.txt', which no run writes"));
    assert_int_equal(access(note, F_OK), 0);
    assert_int_equal(hvf_outdir_begin(&od, ".", known, &err), -1);
}

/* A symlink to a run directory: the run lands in the directory it points to. */
static void
test_outdir_symlink(void **state)
{
    HVF_AUTOFREE char *real = in_tmp("real-run");
    HVF_AUTOFREE char *link = in_tmp("run-link");
    HVF_AUTOFREE char *p = NULL;
    hvf_outdir od;
    hvf_error err = HVF_ERROR_INIT;
    struct stat st;

    (void)state;
    assert_int_equal(mkdir(real, 0755), 0);
    assert_int_equal(symlink("real-run", link), 0);
    assert_int_equal(hvf_outdir_begin(&od, link, known, &err), 0);
    put(od.tmp, "summary.json", "{}");
    assert_int_equal(hvf_outdir_commit(&od, &err), 0);
    hvf_outdir_clear(&od);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    p = hvf_asprintf("%s/summary.json", real);
    assert_int_equal(access(p, F_OK), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_and_new), cmocka_unit_test(test_refuses_non_regular),
        cmocka_unit_test(test_symlinks),        cmocka_unit_test(test_link_loop),
        cmocka_unit_test(test_stale_files),     cmocka_unit_test(test_outdir_swap),
        cmocka_unit_test(test_outdir_refused),  cmocka_unit_test(test_outdir_symlink),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
