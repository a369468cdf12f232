/* SPDX-License-Identifier: MIT */
/* Migration-fidelity benchmark: real QEMU migrations set beside hvf_migrate_estimate. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/qemu/qemu-migrate.h"
#include "hvfleet/error.h"
#include "hvfleet/migrate.h"

#define FID_DOWNTIME_LIMIT_MS 300
#define FID_REPORT_MS 100  /* guest rate report period */
#define FID_WARMUP_MS 1500 /* guest rate measured over this long before migrating */
#define FID_CAL_RUNS 3     /* calibration runs per cap; their medians are used */
#define FID_CAL_RUNS_MAX 8

/* One cell of the matrix. Rates are bytes per second; MB = 10^6 bytes as in networking. */
typedef struct fid_config {
    char name[64];
    uint32_t mem_mib;
    double cap_bytes_per_s;
    double dirty_factor; /* dirty rate asked of the guest, as a multiple of the cap */
    uint32_t ws_mib;     /* working set; 0: all RAM above the guest image */
    uint32_t zero_pct;   /* share of guest pages left zero */
    hvf_migrate_strategy strategy;
    int64_t timeout_ms; /* QEMU is cancelled after it, and the model aborts after it */
    bool calibration;   /* a rate-0 run that measures the uncapped speed, not a test */
} fid_config;

/* One QEMU sample kept for the record (a subset of query-migrate). */
typedef struct fid_sample {
    int64_t t_ms;
    uint64_t transferred_bytes;
    uint64_t remaining_bytes;
    uint64_t dirty_sync_count;
    int throttle_pct;
    uint64_t dirty_pages_rate; /* QEMU's own measure, pages per second */
    uint64_t guest_t_ms;       /* the guest's last report seen by then (guest clock) */
    uint64_t guest_written;    /* pages it had written by then */
} fid_sample;

/* What one real migration measured. */
typedef struct fid_measure {
    bool ok; /* reached a final status; else error says why */
    char error[512];
    /* The guest's achieved dirty rates, by our clock: */
    double dirty_before_bytes_per_s; /* just before migrating */
    double dirty_during_bytes_per_s; /* on the source while migrating (0 without reports) */
    double dirty_model_bytes_per_s;  /* the same, up to the first throttle: the model's D */
    uint64_t guest_ws_bytes;         /* working set the guest reported */
    uint64_t guest_filled_bytes;     /* RAM the guest filled */
    uint64_t guest_tsc_khz;          /* the guest's TSC calibration, for the record */
    int64_t ready_ms;                /* QEMU start to the guest's "ready" */
    bool dst_alive;                  /* the guest reported from the destination afterwards */
    uint64_t dst_stale_pages; /* working-set pages the destination got without their last write */
    bool dst_went_back;       /* the guest's write counter was lower on the destination: QEMU
                                 lost a write to the page that holds it */
    double load_avg;          /* 1-minute load average when the migration started */
    hvf_qemu_migrate_result r;
    fid_sample *samples; /* owned */
    size_t n_samples, cap_samples;
} fid_measure;

/* The machine-dependent constants the model needs, measured by the calibration runs. */
typedef struct fid_calibration {
    double link_bytes_per_s; /* what the uncapped stop-and-copy achieves on this host */
    int64_t switchover_us;   /* the rest of the downtime */
    bool measured;           /* false: given on the command line */
} fid_calibration;

typedef struct fid_env {
    const char *qemu;  /* binary */
    const char *guest; /* lab-guest.elf */
    char workdir[256];
    bool verbose;
} fid_env;

/* Runs @c against real QEMU (two processes, one migration); both are stopped on every path.
 * Returns 0 with @m filled (m->ok says whether a final status was reached). */
int fid_run(const fid_env *env, const fid_config *c, fid_measure *m, hvf_error *err);
void fid_measure_free(fid_measure *m);

/* Model parameters for @c as it was measured in @m. */
void fid_model_params(const fid_config *c, const fid_measure *m, const fid_calibration *cal,
                      hvf_migrate_params *p);
/* The same without calibration, as `hvfleet estimate` runs: the model's own defaults for the
 * paused copy's speed (link) and the switchover. */
void fid_model_params_nominal(const fid_config *c, const fid_measure *m, hvf_migrate_params *p);

/* Record format (fid-json.c). */
json_t *fid_config_to_json(const fid_config *c);
json_t *fid_measure_to_json(const fid_measure *m);
int fid_config_from_json(json_t *j, fid_config *c, hvf_error *err);
int fid_measure_from_json(json_t *j, fid_measure *m, hvf_error *err);
