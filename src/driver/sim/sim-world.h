/* SPDX-License-Identifier: MIT */
/*
 * The sim driver's private state: its world (what outlives the process), its jobs and the
 * deviations it injects. Shared by sim-driver.c (the table) and sim-world.c (URI, world file,
 * deviations).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/driver.h"
#include "hvfleet/fleet.h"
#include "hvfleet/sim.h"
#include "hvfleet/strbuf.h"

#define SD_WORLD_SCHEMA "hvfleet.sim-world/v1"
#define SD_DEVIATIONS_SCHEMA "hvfleet.sim-deviations/v1"

typedef enum sd_deviation_kind {
    SD_DEV_DIRTY_RATE,       /* a VM's dirty rate times factor */
    SD_DEV_LINK,             /* a host's NIC times factor */
    SD_DEV_HOST_CRASH,       /* a host crashes (back after `for`, else stays down) */
    SD_DEV_MIGRATION_FAIL,   /* the VM's next migration fails after its setup */
    SD_DEV_SLOW_MAINTENANCE, /* a host's maintenance takes factor times what was expected */
    SD_DEV_CHANGE_BREAKS,    /* a change applied to the host blocks its clients' IO */
    SD_DEV_CONTROLLER_PARTITION, /* the controller cannot reach the host (back after `for`);
                                    the host and its VMs run on */
    SD_DEV_LAST
} sd_deviation_kind;

extern const char *const sd_deviation_kind_names[];

struct sim_deviation {
    int64_t at_us;
    sd_deviation_kind kind;
    int32_t vm, host;
    double factor;
    int64_t for_us; /* host-crash, controller-partition: -1 = until the end */
};
typedef struct sim_deviation sd_deviation;

typedef struct sd_job {
    int64_t id;
    int32_t vm, src, dst;
    int32_t mig; /* the twin's migration while it runs, else -1 */
    hvf_job_state state;
    int64_t started_us, ended_us, downtime_us;
    uint64_t transferred;
    bool postcopy_allowed, auto_converge;
    double max_bytes_per_s;
    int64_t downtime_limit_us;
    int64_t fail_at_us; /* a planned failure, 0 = none */
    bool forgotten;     /* ended, and its end recorded by the caller: not saved any more */
    char error[192];
} sd_job;

/* What a host's record in the world file is made of (compared whole: memset before filling). */
typedef struct sd_host_key {
    int state;
    int64_t maint_until, apply_until, unreach_until;
    double maint_factor;
    uint32_t applies;
    bool rollback, breaks;
    char change[64];
} sd_host_key;

typedef struct sd_priv {
    hvf_fleet *inv;   /* owned: the inventory as opened */
    /* owned: what the twin was built from (the world's placement); its VMs are the world's,
     * in its order: the inventory's not undefined, and those defined through the driver */
    hvf_fleet *fleet;
    int32_t *vm_inv;    /* per VM of fleet: its index in inv, -1 = defined through the driver */
    int32_t *inv_vm_at; /* per VM of inv: its index in fleet, -1 = undefined */
    int *restore_hs, *restore_vs; /* states to restore, between loading and building the twin */
    hvf_sim *sim;     /* owned */
    uint64_t seed;
    int64_t base_us; /* driver time at the twin's time 0 */
    double speed;
    double nic_share; /* 0 = the twin's default */
    char *inv_path;   /* owned; NULL = built-in */
    char *world_path; /* owned; NULL = no persistence */
    char *state_dir;  /* owned; the default world goes there, named after the inventory */
    char fingerprint[65];
    sd_job *jobs;
    size_t njobs, jobs_cap;
    int64_t *vm_job; /* per VM: its newest job, -1 */
    size_t nfail_pending; /* jobs with a planned failure not yet fired (skips their scans) */
    hvf_strbuf world_text; /* the last world written, its room reused */
    /* each VM's record as last written, and what it was made from: a save re-formats only the
     * VMs that changed (one or two an event), the rest is copied */
    char **vm_rec;
    char **host_rec;       /* each host's record as last written */
    sd_host_key *host_rec_key; /* ... and what it was made from */
    char **host_rec_sent;  /* ...and as the snapshot or log last holds it */
    char **vm_rec_sent;
    bool snapshot_written; /* by this process: later saves append to the log */
    uint64_t seq;          /* of the last save (snapshot or log line) */
    uint32_t log_lines;    /* in the log since the snapshot */
    int32_t *vm_rec_host;
    int8_t *vm_rec_state; /* -1 = not formatted yet */
    char *dev_path;     /* owned; the deviations file, read once the fleet is known */
    sd_deviation *devs; /* owned, by time */
    size_t ndevs, next_dev;
    hvf_drv_event *q; /* events not yet polled */
    size_t nq, qcap;
    int64_t *maint_until; /* per host: its maintenance ends, -1 */
    double *maint_factor; /* per host */
    bool *fail_next;      /* per VM */
    /* changes, per host: the last applied, when an apply ends, whether it breaks clients */
    char (*change)[64];
    int64_t *apply_until; /* -1 = none in progress */
    bool *applying_rollback;
    bool *change_breaks;
    uint32_t *applies; /* changes started on each host, rollbacks included (for tests) */
    int64_t maint_default_us;
    bool dirty;
    bool controller_restarts; /* the twin restarts no crashed VM: the caller does */
    bool (*may_act)(void *ctx); /* hvf_driver_opts': false, no world file is written */
    void *may_act_ctx;
    /* per host: out of the controller's reach until this driver time (a controller-partition
     * deviation); -1 = reachable, INT64_MAX = until the end */
    int64_t *unreach_until;
} sd_priv;

int sd_uri_parse(sd_priv *p, const char *uri, const hvf_driver_opts *opts, hvf_error *err);
/* Loads the inventory, then the world file when there is one, and builds the twin. */
int sd_world_open(sd_priv *p, hvf_error *err);
/* Writes the world file atomically when something changed (no-op without a world file). */
int sd_world_save(sd_priv *p, hvf_error *err);
/* Puts the world's host and VM states and running jobs into a freshly built twin. */
int sd_world_restore_twin(sd_priv *p, hvf_error *err);
/* The fleet now (owned), VMs where they run. */
hvf_fleet *sd_world_fleet_now(sd_priv *p);
void sd_priv_free(sd_priv *p);

/*
 * The world with a VM more (@spec, stopped on host @host) or less (@vm, stopped): the twin is
 * built again from it as on reopen, so both are refused (HVF_ERR_CONFLICT) while a migration is
 * in flight (its model would restart) or a host is down that a deviation brings back later.
 * Returns a new state that replaces @p (freed), or NULL with @err set and @p unchanged. The
 * caller saves it.
 */
sd_priv *sd_world_vm_add(sd_priv *p, const hvf_drv_vm_spec *spec, int32_t host, hvf_error *err);
sd_priv *sd_world_vm_remove(sd_priv *p, int32_t vm, hvf_error *err);

int sd_twin_build(sd_priv *p, hvf_error *err);
/* Whether the controller can reach host @h (no controller-partition holds it). */
static inline bool
sd_reachable(const sd_priv *p, int32_t h)
{
    return p->unreach_until[h] < 0;
}
void sd_deviation_apply(sd_priv *p, const sd_deviation *d);
/* Host @h out of the controller's reach until @until_us (driver time; INT64_MAX: the end): a
 * host_lost event when it was in reach and up. */
void sd_partition(sd_priv *p, int32_t h, int64_t until_us);
/* Partitions over by now: their hosts are in reach again (host_back when up). */
void sd_partitions_heal(sd_priv *p);

sd_job *sd_job_add(sd_priv *p, int32_t vm, int32_t src, int32_t dst,
                   const hvf_migrate_job_params *mp);
sd_job *sd_job_get(sd_priv *p, int64_t id, hvf_error *err);
sd_job *sd_job_of_vm(sd_priv *p, int32_t vm);
bool sd_job_ended(const sd_job *j);
