/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for scenario files (with their fallout sections: telemetry, remediation,
 * hv_agent): any input must be refused cleanly or read, and whatever is read must make a
 * simulation, i.e. the components accept every option the reader accepts. Relative inventory
 * paths resolve under a directory that does not exist. Built with -DHVF_FUZZ_REPLAY it is a plain
 * program that runs the corpus given as files or directories.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hvfleet/alloc.h"
#include "hvfleet/scenario.h"
#include "hvfleet/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hvf_diags d;
    hvf_error err = HVF_ERROR_INIT;
    hvf_scenario *sc;
    hvf_sim *sim;
    void *sched = NULL;

    hvf_diags_init(&d);
    sc = hvf_scenario_parse("fuzz.yaml", (const char *)data, size, "/nonexistent-hvfleet-fuzz", &d,
                            &err);
    if (!sc) {
        HVF_ASSERT(err.code != HVF_ERR_OK && err.msg[0]);
        hvf_diags_clear(&d);
        return 0;
    }
    sim = hvf_scenario_sim_new(sc, &sched, &err);
    if (!sim) {
        fprintf(stderr, "fuzz-scenario: read but refused: %s\n", err.msg);
        HVF_ASSERT(!"a scenario that was read must make a simulation");
    }
    hvf_sim_free(sim);
    hvf_sim_naive_free(sched);
    hvf_scenario_free(sc);
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
        fprintf(stderr, "fuzz-scenario: cannot open '%s'\n", path);
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
                if (e->d_name[0] == '.')
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
    printf("fuzz-scenario: replayed %d inputs\n", files);
    return bad ? 1 : 0;
}
#endif
