/* SPDX-License-Identifier: MIT */
/* One live migration between two local QEMUs over QMP: configure, migrate, watch, collect. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "driver/qemu/qmp.h"
#include "hvfleet/error.h"

/* What one query-migrate said while the migration ran. */
typedef struct hvf_qemu_migrate_sample {
    int64_t t_ms; /* since the migrate command, on our clock */
    char status[24];
    uint64_t transferred_bytes;
    uint64_t remaining_bytes;
    uint64_t dirty_sync_count;
    uint64_t dirty_pages_rate; /* pages per second, as QEMU measured it */
    int64_t expected_downtime_ms;
    int throttle_pct;
} hvf_qemu_migrate_sample;

typedef void (*hvf_qemu_sample_fn)(const hvf_qemu_migrate_sample *s, void *opaque);

typedef struct hvf_qemu_migrate_opts {
    const char *uri;                    /* tcp:127.0.0.1:PORT, tcp:[::1]:PORT or unix:PATH */
    uint64_t max_bandwidth_bytes_per_s; /* 0: QEMU's default */
    int64_t downtime_limit_ms;          /* 0: QEMU's default, 300 ms */
    uint64_t max_postcopy_bandwidth_bytes_per_s; /* 0: QEMU's default, no cap */
    bool auto_converge;
    bool postcopy;
    uint64_t postcopy_after_syncs; /* start post-copy once dirty-sync-count reaches it; 0: 2 */
    int64_t timeout_ms;            /* migrate_cancel after it (not in post-copy); 0: none */
    int poll_ms;                   /* query-migrate period; 0: 100 */
    hvf_qemu_sample_fn on_sample;  /* may be NULL */
    void *opaque;
} hvf_qemu_migrate_opts;

/* Final figures, from the last query-migrate (QMP names in the comments). */
typedef struct hvf_qemu_migrate_result {
    char status[24];                /* completed, failed or cancelled */
    char error_desc[256];           /* error-desc when failed */
    bool timed_out;                 /* we cancelled it at opts.timeout_ms */
    int64_t total_time_ms;          /* total-time */
    int64_t downtime_ms;            /* downtime */
    int64_t setup_time_ms;          /* setup-time */
    int64_t expected_downtime_ms;   /* expected-downtime, last value seen while active */
    int64_t wall_ms;                /* migrate command to the final status, on our clock */
    int64_t postcopy_start_ms;      /* when migrate-start-postcopy was sent; -1 if never */
    uint64_t ram_total_bytes;       /* ram.total */
    uint64_t ram_transferred_bytes; /* ram.transferred */
    uint64_t ram_duplicate_pages;   /* ram.duplicate: zero pages */
    uint64_t ram_normal_pages;      /* ram.normal */
    uint64_t precopy_bytes;         /* ram.precopy-bytes */
    uint64_t downtime_bytes;        /* ram.downtime-bytes */
    uint64_t postcopy_bytes;        /* ram.postcopy-bytes */
    uint64_t dirty_sync_count;      /* ram.dirty-sync-count */
    uint64_t postcopy_requests;     /* ram.postcopy-requests */
    int max_throttle_pct;           /* highest cpu-throttle-percentage seen */
    uint32_t samples;
} hvf_qemu_migrate_result;

/*
 * hvf_qemu_migrate: migrates from @src to @dst (a QEMU started with -incoming on opts->uri):
 * sets capabilities (auto-converge on the source; postcopy-ram on both) and parameters,
 * sends migrate, polls query-migrate every poll_ms, sends migrate-start-postcopy when asked,
 * cancels at the timeout, and fills @out once the status is completed, failed or cancelled.
 * Only local URIs are accepted (HVF_ERR_INVALID otherwise).
 * Returns 0 when the migration reached a final status (check out->status), -1 with @err set
 * when QMP failed or the migration never finished.
 */
int hvf_qemu_migrate(hvf_qmp *src, hvf_qmp *dst, const hvf_qemu_migrate_opts *opts,
                     hvf_qemu_migrate_result *out, hvf_error *err)
    __attribute__((warn_unused_result));

/* A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close). */
int hvf_qemu_free_port(int *port, hvf_error *err) __attribute__((warn_unused_result));

/* Fills @s from a query-migrate reply; exposed for tests. */
void hvf_qemu_migrate_read_sample(json_t *info, hvf_qemu_migrate_sample *s);
