/* SPDX-License-Identifier: MIT */
/* Live migration of hvf_qvm VMs between hosts: listen, start, poll, post-copy, cancel, finish. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/qemu/qemu-vm.h"

/*
 * hvf_qvm_migrate_src_* run on the source host, hvf_qvm_migrate_dst_* on the destination:
 *   dst: hvf_qvm_start(spec with .incoming), hvf_qvm_migrate_dst_listen -> "ADDR:PORT"
 *   src: hvf_qvm_migrate_src_start(target "ADDR:PORT"), then _poll every 100 ms-1 s until a
 *        final status (completed, failed, cancelled); _postcopy or _cancel in between
 *   src: on completed, hvf_qvm_migrate_src_finish (QEMU quits); dst: hvf_qvm_migrate_dst_finish
 *        (the guest runs there, "cont" when it was left paused)
 * Nothing here blocks longer than one QMP command but dst_finish (bounded by its timeout).
 * Errors: as qmp.h; HVF_ERR_INVALID for bad arguments, HVF_ERR_CONFLICT for a VM in the wrong
 * state (QEMU's own refusals, e.g. a migration already running, are HVF_ERR_CONFLICT too).
 */

typedef struct hvf_qvm_incoming {
    bool postcopy; /* post-copy must be enabled on the destination before the stream arrives */
} hvf_qvm_incoming;

/*
 * hvf_qvm_migrate_dst_listen: sets @in's capabilities on @dst (started with spec.incoming) and
 * sends migrate-incoming tcp:ADDR:PORT with the first port of conf's range that is free on
 * conf's listen_addr (bound by nobody: tried with bind(); a port QEMU then fails to take is
 * skipped too). Writes "ADDR:PORT" (IPv6 in brackets) to @listen. @in may be NULL.
 * Returns 0, or -1 with @err set (HVF_ERR_CAPACITY when no port of the range is free).
 */
int hvf_qvm_migrate_dst_listen(hvf_qvm *dst, const hvf_qvm_incoming *in, char *listen,
                               size_t listen_size, hvf_error *err)
    __attribute__((warn_unused_result));

typedef struct hvf_qvm_migrate_params {
    const char *target;        /* "ADDR:PORT" as hvf_qvm_migrate_dst_listen wrote it */
    /* 0 leaves QEMU's current value: its default unless an earlier migration changed it */
    uint64_t max_bytes_per_s;  /* max-bandwidth; QEMU 7.2's default: 128 MiB/s */
    int64_t downtime_limit_ms; /* downtime-limit; QEMU's default: 300 ms */
    bool auto_converge;        /* capability auto-converge (source only) */
    bool postcopy;             /* capability postcopy-ram (the destination needs it as well) */
} hvf_qvm_migrate_params;

/*
 * hvf_qvm_migrate_src_start: migrate-set-capabilities (auto-converge and postcopy-ram, each set
 * to the asked value), migrate-set-parameters, then migrate to tcp:TARGET; returns at once.
 * Returns 0, or -1 with @err set (nothing was sent to QEMU when @p is invalid).
 */
int hvf_qvm_migrate_src_start(hvf_qvm *src, const hvf_qvm_migrate_params *p, hvf_error *err)
    __attribute__((warn_unused_result));

/* What one query-migrate says, field by field (QMP names in the comments). */
typedef struct hvf_qvm_migrate_info {
    char status[24];             /* status: none, setup, active, postcopy-active, completed, ...*/
    char error_desc[256];        /* error-desc, when failed */
    uint64_t transferred_bytes;  /* ram.transferred */
    uint64_t remaining_bytes;    /* ram.remaining */
    uint64_t total_bytes;        /* ram.total */
    uint64_t dirty_pages_rate;   /* ram.dirty-pages-rate, pages/s */
    uint64_t dirty_bytes_per_s;  /* dirty-pages-rate x ram.page-size (4096 when absent) */
    uint64_t dirty_sync_count;   /* ram.dirty-sync-count */
    uint64_t mbps_x1000;         /* ram.mbps x 1000 (QEMU's throughput, Mbit/s) */
    int64_t expected_downtime_ms; /* expected-downtime; -1 when absent */
    int throttle_pct;            /* cpu-throttle-percentage, 0..100 (0 when absent) */
    int64_t total_time_ms;       /* total-time; -1 when absent */
    int64_t downtime_ms;         /* downtime, once completed; -1 when absent */
    int64_t setup_time_ms;       /* setup-time; -1 when absent */
    /*
     * Not from query-migrate: true when the source QEMU's dirty tracking may miss guest writes,
     * so that the destination can resume older memory. That is TCG (query-kvm: not enabled) in
     * a QEMU before 9.0 with a RAM block QEMU syncs on its fast path: base memory a multiple of
     * 256 KiB (hvf_qvm_start pads TCG guests to avoid it, see HVF_QVM_TCG_RAM_PAD_KIB), or any
     * hot-plugged memory. Also true when QEMU could not be asked.
     */
    bool lost_writes_possible;
} hvf_qvm_migrate_info;

/* True for completed, failed and cancelled. */
bool hvf_qvm_migrate_final(const char *status);

/*
 * hvf_qvm_migrate_info_read: fills @out from a query-migrate reply of any shape (missing or
 * ill-typed members read as absent). Returns 0, or -1 when @reply is not an object.
 */
int hvf_qvm_migrate_info_read(json_t *reply, hvf_qvm_migrate_info *out);

/* hvf_qvm_migrate_src_poll: one query-migrate on @src into @out. Returns 0 or -1. */
int hvf_qvm_migrate_src_poll(hvf_qvm *src, hvf_qvm_migrate_info *out, hvf_error *err)
    __attribute__((warn_unused_result));

/* migrate-start-postcopy (the migration must have been started with .postcopy). */
int hvf_qvm_migrate_src_postcopy(hvf_qvm *src, hvf_error *err) __attribute__((warn_unused_result));

/* migrate_cancel: the source keeps running; poll until "cancelled". The destination QEMU exits. */
int hvf_qvm_migrate_src_cancel(hvf_qvm *src, hvf_error *err) __attribute__((warn_unused_result));

/*
 * hvf_qvm_migrate_src_finish: after "completed", quits the source QEMU (hvf_qvm_destroy).
 * Refused with HVF_ERR_CONFLICT, and nothing done, when query-migrate does not say completed.
 * Returns 0 or -1.
 */
int hvf_qvm_migrate_src_finish(hvf_qvm *src, hvf_error *err) __attribute__((warn_unused_result));

/*
 * hvf_qvm_migrate_dst_finish: waits up to @timeout_ms for @dst to leave "inmigrate", then sends
 * "cont" when the guest is paused (post-copy, -S, or an incoming VM that QEMU left paused).
 * Returns 0 when the guest runs, or -1 with @err set (HVF_ERR_CONFLICT: QEMU is gone, i.e. the
 * incoming migration failed, or it still waits).
 */
int hvf_qvm_migrate_dst_finish(hvf_qvm *dst, int timeout_ms, hvf_error *err)
    __attribute__((warn_unused_result));
