/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz target's LLVMFuzzerTestOneInput over saved inputs without libFuzzer: every file of
 * the directories (or the files) named on the command line, in sorted order. Built in every
 * build, with gcc too, so `meson test --suite fuzz-replay` replays the seed corpus and every past
 * crash as regressions, and does so under the sanitizers in the ASan build.
 *
 * A failing input aborts the process; the last "replay:" line names it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HVF_FUZZ_REPLAY
#include "fuzz.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"

static int
replay_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
replay_file(const char *path)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;
    FILE *fp = fopen(path, "rb");
    char buf[65536];
    size_t n;

    if (!fp) {
        fprintf(stderr, "fuzz-replay: cannot open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        hvf_strbuf_add(&sb, buf, n);
    if (ferror(fp)) {
        fprintf(stderr, "fuzz-replay: cannot read '%s'\n", path);
        fclose(fp);
        hvf_strbuf_clear(&sb);
        return -1;
    }
    fclose(fp);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, sb.len);
    /* An empty file leaves sb.buf NULL; libFuzzer never passes NULL, so neither do we. */
    LLVMFuzzerTestOneInput(sb.buf ? (const uint8_t *)sb.buf : (const uint8_t *)"", sb.len);
    hvf_strbuf_clear(&sb);
    return 0;
}

/* Files of @dir, sorted; dot files (.gitkeep) are not inputs. Returns the count or -1. */
static long
replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t count = 0, cap = 0;
    long done = 0;

    if (!d) {
        fprintf(stderr, "fuzz-replay: cannot open directory '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        hvf_grow(&names, &cap, count + 1, sizeof(char *));
        names[count++] = hvf_asprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (count > 0) /* qsort(NULL, 0) is undefined */
        qsort(names, count, sizeof(char *), replay_cmp);
    for (size_t i = 0; i < count; i++) {
        if (done >= 0 && replay_file(names[i]) == 0)
            done++;
        else
            done = -1;
        free(names[i]);
    }
    free(names);
    return done;
}

int
main(int argc, char **argv)
{
    long total = 0, n;
    struct stat st;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "fuzz-replay: '%s': %s\n", argv[i], strerror(errno));
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : (replay_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("fuzz-replay: %ld inputs replayed\n", total);
    return 0;
}
