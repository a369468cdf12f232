/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for plan files: any input must be refused cleanly or read; whatever is read
 * must write back and read again to the same bytes and the same hash. Built with
 * -DHVF_FUZZ_REPLAY it is a plain program that runs the corpus given as files or directories.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hvfleet/alloc.h"
#include "hvfleet/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_strbuf a = HVF_STRBUF_INIT, b = HVF_STRBUF_INIT;
    hvf_plan *p, *q;
    char h1[HVF_SHA256_HEX_LEN + 1], h2[HVF_SHA256_HEX_LEN + 1];

    hvf_diags_init(&d);
    p = hvf_plan_parse("fuzz.json", (const char *)data, size, &d, &err);
    if (!p) {
        HVF_ASSERT(err.code != HVF_ERR_OK && err.msg[0]);
        hvf_diags_clear(&d);
        return 0;
    }
    hvf_plan_format(p, &a);
    q = hvf_plan_parse("again.json", a.buf, a.len, &d, &err);
    if (!q) {
        hvf_diags_print(&d, stderr);
        HVF_ASSERT(!"a plan that was read must read again after writing");
    }
    hvf_plan_format(q, &b);
    HVF_ASSERT(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0);
    hvf_plan_compute_hash(p, h1);
    hvf_plan_compute_hash(q, h2);
    HVF_ASSERT(strcmp(h1, h2) == 0);
    HVF_ASSERT(hvf_plan_hash_ok(p) == hvf_plan_hash_ok(q));
    hvf_plan_free(p);
    hvf_plan_free(q);
    hvf_strbuf_clear(&a);
    hvf_strbuf_clear(&b);
    hvf_diags_clear(&d);
    return 0;
}

#ifdef HVF_FUZZ_REPLAY
static int
replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    if (!fp) {
        fprintf(stderr, "fuzz-plan: cannot open '%s'\n", path);
        return 1;
    }
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = hvf_malloc((size_t)(n > 0 ? n : 1));
    if (n > 0 && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(buf);
        return 1;
    }
    fclose(fp);
    LLVMFuzzerTestOneInput((const uint8_t *)buf, (size_t)(n > 0 ? n : 0));
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    int bad = 0, files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        DIR *dir;
        struct dirent *e;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) && (dir = opendir(argv[i]))) {
            while ((e = readdir(dir)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.') /* also .gitkeep */
                    continue;
                snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
                bad += replay_file(path);
                files++;
            }
            closedir(dir);
        } else {
            bad += replay_file(argv[i]);
            files++;
        }
    }
    printf("fuzz-plan: replayed %d inputs\n", files);
    return bad ? 1 : 0;
}
#endif
