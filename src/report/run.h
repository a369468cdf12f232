/* SPDX-License-Identifier: MIT */
/* A simulation run's output directory read into memory: summary, events, fleet and host metrics. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

/*
 * Files of a run directory (written by the simulator, read here as untrusted input):
 *   summary.json       schema hvfleet.sim-summary/v1, see docs/reports.md
 *   events.jsonl       one {"t_s":F,"type":S,...} per line
 *   metrics-fleet.csv  fleet counters over time
 *   metrics-hosts.csv  per-host ratios over time, for the busiest hosts
 * Columns are found by header name; extra columns and fields are allowed. Every problem is one
 * error naming the file (and line and column when the file has them).
 */

#define HVF_RUN_SUMMARY_SCHEMA "hvfleet.sim-summary/v1"
#define HVF_RUN_MAX_FILE_BYTES (512u * 1024 * 1024)
#define HVF_RUN_MAX_EVENT_LINE 65536
#define HVF_RUN_MAX_KPI_COLUMNS 8

typedef struct hvf_run_event {
    double t_s;
    char *type;                           /* owned, never NULL */
    char *host, *vm, *from, *to, *detail; /* owned, NULL when absent */
    int converged;                        /* -1 absent, 0 false, 1 true */
    double downtime_ms, duration_s;       /* NaN when absent */
    char *extra;                          /* owned "key=value, ..." of unknown scalars, or NULL */
    uint32_t line;                        /* line in events.jsonl */
} hvf_run_event;

typedef enum hvf_run_fleet_col {
    HVF_RUN_MIGRATIONS_ACTIVE,
    HVF_RUN_HOSTS_EVACUATING,
    HVF_RUN_HOSTS_IN_MAINTENANCE,
    HVF_RUN_HOSTS_DOWN,
    HVF_RUN_HOSTS_OVER_COMMITTED,
    HVF_RUN_VMS_RUNNING,
    HVF_RUN_VMS_CRASHED,
    HVF_RUN_MAX_HOST_MEMORY_RATIO,
    HVF_RUN_MAX_HOST_CPU_RATIO,
    HVF_RUN_FLEET_LAST
} hvf_run_fleet_col;

typedef enum hvf_run_host_col {
    HVF_RUN_HOST_MEMORY_RATIO,
    HVF_RUN_HOST_CPU_RATIO,
    HVF_RUN_HOST_IO_UTIL,
    HVF_RUN_HOST_SWAP_MIB,
    HVF_RUN_HOST_LAST
} hvf_run_host_col;

typedef struct hvf_run_host {
    char *name; /* owned */
    size_t n, cap;
    double *t_s;                    /* owned, n samples */
    double *v[HVF_RUN_HOST_LAST];   /* owned, n samples each; NULL when the column is absent */
    double peak[HVF_RUN_HOST_LAST]; /* largest finite value, -inf when none */
} hvf_run_host;

typedef struct hvf_run {
    char *dir;             /* owned */
    json_t *summary;       /* owned, validated object */
    hvf_run_event *events; /* owned, sorted by time (then by line) */
    size_t nevents;
    size_t nfleet;
    double *fleet_t_s;                 /* owned, nfleet samples */
    double *fleet[HVF_RUN_FLEET_LAST]; /* owned; NULL when an optional column is absent */
    hvf_run_host *hosts;               /* owned, in order of first appearance */
    size_t nhosts;
} hvf_run;

/*
 * run.json, the run's manifest (written by hvf_sim_seal_outputs): the size and SHA-256 of each
 * run file and the run id. A directory without one (written by hand or by hvfleet before 0.2)
 * is read unchecked; with one, every file must be the one it names.
 */
enum { HVF_RUN_MANIFEST_FILES = 4 }; /* summary.json, events.jsonl, metrics-fleet.csv, -hosts.csv */

typedef struct hvf_run_manifest {
    char run_id[17];
    uint64_t bytes[HVF_RUN_MANIFEST_FILES];
    char sha256[HVF_RUN_MANIFEST_FILES][65];
} hvf_run_manifest;

/* Reads a manifest strictly into @m. Returns 0, or -1 with HVF_ERR_INVALID naming the field. */
int hvf_run_parse_manifest(const char *name, const char *data, size_t len, hvf_run_manifest *m,
                           hvf_error *err) __attribute__((warn_unused_result));

/* Column names as in the CSV headers. */
const char *hvf_run_fleet_col_name(hvf_run_fleet_col c);
const char *hvf_run_host_col_name(hvf_run_host_col c);

/* Reads every file of @dir. Returns an owned run (free with hvf_run_free), or NULL with @err. */
hvf_run *hvf_run_load(const char *dir, hvf_error *err);
void hvf_run_free(hvf_run *run);

/* Replaces bytes other than printable ASCII in @s by '?', for messages quoting input. */
void hvf_run_printable(char *s);

/* The parts, for tests and fuzzing. @name is the file name used in messages. */
int hvf_run_read_file(const char *path, char **data, size_t *len, hvf_error *err)
    __attribute__((warn_unused_result));
json_t *hvf_run_parse_summary(const char *name, const char *data, size_t len, hvf_error *err);
int hvf_run_parse_events(const char *name, const char *data, size_t len, hvf_run *run,
                         hvf_error *err) __attribute__((warn_unused_result));
int hvf_run_parse_fleet(const char *name, const char *data, size_t len, hvf_run *run,
                        hvf_error *err) __attribute__((warn_unused_result));
int hvf_run_parse_hosts(const char *name, const char *data, size_t len, hvf_run *run,
                        hvf_error *err) __attribute__((warn_unused_result));
