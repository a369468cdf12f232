/* SPDX-License-Identifier: MIT */
/*
 * The hvfleet maintenance controller's state, shared by its two files: maintenance.c (hosts,
 * events, scheduling) and maint-move.c (moving VMs). Not installed.
 */
#pragma once

#include "hvfleet/placement.h"
#include "plan/maint-priv.h"

typedef enum mh_phase {
    MH_IDLE,    /* not part of this plan */
    MH_PENDING, /* to be maintained */
    MH_EVACUATING,
    MH_MAINTENANCE,
    MH_RETURNING, /* maintained; its VMs are coming back (return_vms) */
    MH_DONE,      /* maintained, or drained */
    MH_FAILED,    /* could not be evacuated, or refused by non_converging */
} mh_phase;

typedef enum mvm_act {
    ACT_UNKNOWN,
    ACT_PRECOPY,
    ACT_AUTO,
    ACT_POST,
    ACT_STOP,
    ACT_REFUSE,
} mvm_act;

#define MCTL_TAG_START 1

/* An event waiting its turn, with the figures of the migration it ends (read when it came:
 * by the time it is handled, the migration's id may belong to another one). */
typedef struct mctl_qev {
    hvf_sim_event ev;
    hvf_sim_migration_info mig;
} mctl_qev;

/* Why a host's evacuation waits, so that only a change that may help wakes it. */
#define BLK_BUSY 0x1 /* a fitting target receives all it may: wait for a migration to end */
#define BLK_ROOM 0x2 /* no target has room: wait for a host back from maintenance */
#define BLK_STOP 0x4 /* a shutdown waits for a replica of its service to boot again */

struct mctl {
    mrec rec;
    hvf_policy pol;
    hvf_plan_kind kind;
    hvf_plan *plan;
    hvf_sim *sim;
    const hvf_fleet *f;
    hvf_placer *placer;
    int32_t *req_hosts; /* what was asked, deduplicated */
    size_t nreq;
    uint8_t *phase;            /* per host, mh_phase */
    uint8_t *blocked;          /* per host: BLK_* of its last pump */
    uint32_t *in_flight;     /* per host: our migrations arriving (placement's busy filter) */
    uint32_t *return_flight; /* per host: return migrations arriving */
    uint8_t *act;            /* per VM, mvm_act */
    bool *is_return;         /* per VM: its migration in flight brings it home */
    uint32_t *home_start;    /* VMs of host h at the start: home_vms[home_start[h]..[h+1]) */
    uint32_t *home_vms;
    int32_t *order; /* hosts to maintain, in order */
    size_t norder;
    int32_t *evac; /* hosts evacuating now */
    size_t nevac;
    int32_t *ret; /* hosts whose VMs are coming home (return_vms) */
    size_t nret;
    size_t sched_from; /* order[] before this index holds no pending host */
    uint32_t counted, *counted_rack, *counted_zone; /* hosts held against the parallel limits */
    uint64_t counted_mib, total_mib;
    uint32_t in_maint;
    uint32_t *svc_replicas, *svc_stopped;
    mctl_qev *queue;
    size_t qhead, qn, qcap;
    bool busy, started, refresh_all;
    hvf_maint_observer observe;
    void *observe_ctx;
    uint32_t done, failed;
};

/* maint-move.c */
void mctl_placer_refresh(mctl *m);
mvm_act mctl_policy_act(const mctl *m);
mvm_act mctl_decide(mctl *m, int32_t vm, int32_t src);
void mctl_note(mctl *m, int32_t vm);
int32_t mctl_choose(mctl *m, int32_t vm, int32_t src, bool anywhere, bool explain,
                    hvf_place_result *res);
int mctl_migrate(mctl *m, int32_t vm, int32_t src, int32_t target, mvm_act a, bool is_return);
bool mctl_may_stop(const mctl *m, int32_t vm);
void mctl_stop(mctl *m, int32_t vm, int32_t host);
void mctl_pump(mctl *m, int32_t h);
void mctl_pump_blocked(mctl *m, uint8_t why);
void mctl_finish_host(mctl *m, int32_t h);
void mctl_pump_returns(mctl *m, int32_t h);
void mctl_pump_all_returns(mctl *m);
