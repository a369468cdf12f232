/* SPDX-License-Identifier: MIT */
/* The fidelity matrix: which migrations to run, quick or full, and the calibration runs. */
#include <stdio.h>
#include <string.h>

#include "hvfleet/alloc.h"
#include "matrix.h"

#define MB 1e6

/* A pre-copy that cannot converge is cancelled after 1.5 first passes plus 10 s: long enough
 * to tell it apart from a slow one, short enough to keep the matrix affordable. Everything
 * else gets a generous limit that only a broken run reaches. */
static int64_t
matrix_timeout_ms(const fid_config *c)
{
    double first_pass_ms = (double)c->mem_mib * 1048576.0 / c->cap_bytes_per_s * 1000.0;

    if (c->strategy == HVF_MIGRATE_STRATEGY_PRECOPY && c->dirty_factor >= 1.0)
        return (int64_t)(1.5 * first_pass_ms) + 10000;
    return (int64_t)(10.0 * first_pass_ms) + 60000;
}

static void
matrix_add(fid_matrix *mx, uint32_t mem_mib, double cap, double factor, uint32_t ws_mib,
           uint32_t zero_pct, hvf_migrate_strategy strategy)
{
    fid_config *c;
    size_t n;

    hvf_grow(&mx->configs, &mx->cap, mx->n + 1, sizeof(*mx->configs));
    c = &mx->configs[mx->n++];
    memset(c, 0, sizeof(*c));
    c->mem_mib = mem_mib;
    c->cap_bytes_per_s = cap;
    c->dirty_factor = factor;
    c->ws_mib = ws_mib;
    c->zero_pct = zero_pct;
    c->strategy = strategy;
    c->timeout_ms = matrix_timeout_ms(c);
    snprintf(c->name, sizeof(c->name), "m%u-c%.0f-d%.1f", (unsigned)mem_mib, cap / MB, factor);
    n = strlen(c->name);
    if (ws_mib > 0)
        n += (size_t)snprintf(c->name + n, sizeof(c->name) - n, "-ws%u", (unsigned)ws_mib);
    if (zero_pct > 0)
        n += (size_t)snprintf(c->name + n, sizeof(c->name) - n, "-z%u", (unsigned)zero_pct);
    snprintf(c->name + n, sizeof(c->name) - n, "-%s", hvf_migrate_strategy_to_string(strategy));
}

/*
 * A TCG guest on a shared host loses 10-25 % of the rate it is asked for while migrating (it
 * dirties only while its vCPU thread runs, see guest/guest.c), so the case that must not
 * converge asks for 2x the cap to stay at 1.2x or more; the table shows what it achieved.
 */
#define NON_CONVERGING 2.0

/* Rates 0, 0.1, 0.5, 0.9 of the cap in pre-copy; NON_CONVERGING in each of the strategies. */
static void
matrix_add_rates(fid_matrix *mx, uint32_t mem_mib, double cap)
{
    static const double converging[] = {0.0, 0.1, 0.5, 0.9};

    for (size_t i = 0; i < HVF_ARRAY_LEN(converging); i++)
        matrix_add(mx, mem_mib, cap, converging[i], 0, 0, HVF_MIGRATE_STRATEGY_PRECOPY);
    matrix_add(mx, mem_mib, cap, NON_CONVERGING, 0, 0, HVF_MIGRATE_STRATEGY_PRECOPY);
    matrix_add(mx, mem_mib, cap, NON_CONVERGING, 0, 0, HVF_MIGRATE_STRATEGY_AUTO_CONVERGE);
    matrix_add(mx, mem_mib, cap, NON_CONVERGING, 0, 0, HVF_MIGRATE_STRATEGY_POSTCOPY);
}

void
fid_matrix_build(fid_matrix *mx, bool full)
{
    static const uint32_t mems[] = {256, 512, 1024};
    static const double caps[] = {50 * MB, 125 * MB};

    memset(mx, 0, sizeof(*mx));
    if (!full) {
        matrix_add_rates(mx, 256, 125 * MB);
        return;
    }
    for (size_t i = 0; i < HVF_ARRAY_LEN(mems); i++) {
        for (size_t j = 0; j < HVF_ARRAY_LEN(caps); j++)
            matrix_add_rates(mx, mems[i], caps[j]);
    }
    /* A small hot working set converges although the guest writes faster than the link... */
    matrix_add(mx, 256, 125 * MB, NON_CONVERGING, 16, 0, HVF_MIGRATE_STRATEGY_PRECOPY);
    /* ...a larger one, whose copy takes longer than the downtime limit, does not. */
    matrix_add(mx, 256, 125 * MB, NON_CONVERGING, 64, 0, HVF_MIGRATE_STRATEGY_PRECOPY);
    /* Zero pages cost almost nothing on the wire. An idle guest: a busy one would turn its
     * zero pages into data as it dirtied them, and the share would drift during the run. */
    matrix_add(mx, 512, 125 * MB, 0, 0, 50, HVF_MIGRATE_STRATEGY_PRECOPY);
}

void
fid_matrix_calibration(fid_matrix *mx)
{
    memset(mx, 0, sizeof(*mx));
    /* An idle guest at two caps near the matrix's: the final copy (cap x downtime-limit) is
     * 30 and 45 MB, as in the matrix, so the two give the stop-and-copy speed and its fixed
     * part where they are used. The pause varies by tens of per cent from run to run on a
     * shared host: each is run FID_CAL_RUNS times and the medians are used. */
    for (int i = 0; i < FID_CAL_RUNS; i++) {
        matrix_add(mx, 256, 100 * MB, 0, 0, 0, HVF_MIGRATE_STRATEGY_PRECOPY);
        matrix_add(mx, 256, 150 * MB, 0, 0, 0, HVF_MIGRATE_STRATEGY_PRECOPY);
    }
    for (size_t i = 0; i < mx->n; i++) {
        mx->configs[i].calibration = true;
        memmove(mx->configs[i].name + 4, mx->configs[i].name, sizeof(mx->configs[i].name) - 4);
        memcpy(mx->configs[i].name, "cal-", 4);
        mx->configs[i].name[sizeof(mx->configs[i].name) - 1] = 0;
    }
}

void
fid_matrix_free(fid_matrix *mx)
{
    free(mx->configs);
    memset(mx, 0, sizeof(*mx));
}
