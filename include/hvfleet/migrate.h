/* SPDX-License-Identifier: MIT */
/* Live-migration model: how long a QEMU migration takes, how long the guest pauses, if it ends. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/error.h"

/*
 * Units are in the names: bytes, bytes per second (_bytes_per_s), microseconds (_us), percent
 * (_pct). docs/migration-model.md explains the model and how it follows QEMU.
 *
 * Two ways in:
 *  - hvf_migrate_estimate(): one migration at a constant bandwidth;
 *  - the stepper (hvf_migrate_state_*): a caller-owned state that a simulator advances by any
 *    number of microseconds at whatever bandwidth the flow has right now. The estimate is that
 *    stepper driven at a constant bandwidth, so both give the same answers.
 *
 * "Bandwidth" given to the stepper is what the network grants the flow at that moment. During
 * the live phase the model also applies the migration's own cap (params.bandwidth_bytes_per_s,
 * QEMU's max-bandwidth); QEMU lifts that cap for the final stop-and-copy and for post-copy, so
 * there only the network limits it. hvf_migrate_state_demand_bytes_per_s() tells a max-min fair
 * sharer what the flow wants.
 *
 * No global state and no allocation: different states may be stepped from different threads;
 * one state must not be used from two threads at once.
 */

/* Returned by hvf_migrate_state_next_us() when nothing will happen at the given bandwidth. */
#define HVF_MIGRATE_NEVER INT64_MAX
/* timeout_us: Nova's live_migration_completion_timeout default, 800 s per GiB of RAM (the
 * default of hvf_migrate_params_default). 0 means no timeout, as in Nova and in scenarios. */
#define HVF_MIGRATE_TIMEOUT_NOVA (-1)

/* QEMU's rate-limit slice (BUFFER_DELAY): it re-checks what is pending once per slice. */
#define HVF_MIGRATE_SLICE_US 100000LL

/*
 * The paused copy's speed when no link speed is given: 10 Gbit/s, or the cap when that is
 * higher. QEMU lifts max-bandwidth for the final copy (migration_completion), so the cap is the
 * wrong speed for it; 10 Gbit/s is the common NIC and about what one migration thread (no
 * multifd) sends over TCP. docs/migration-model.md, "The final copy without a link speed".
 */
#define HVF_MIGRATE_LINK_DEFAULT_BYTES_PER_S 1.25e9

/* After this many dirty-bitmap syncs the model stops re-checking and runs to the timeout. */
#define HVF_MIGRATE_MAX_SYNCS 1000000u

typedef enum hvf_migrate_strategy {
    HVF_MIGRATE_STRATEGY_PRECOPY,       /* pre-copy only; abort at the timeout */
    HVF_MIGRATE_STRATEGY_AUTO_CONVERGE, /* pre-copy with QEMU's CPU throttling */
    HVF_MIGRATE_STRATEGY_POSTCOPY,      /* switch to post-copy after the first pass */
    HVF_MIGRATE_STRATEGY_LAST
} hvf_migrate_strategy;

/* "precopy", "auto-converge", "post-copy". */
const char *hvf_migrate_strategy_to_string(hvf_migrate_strategy strategy);
/* Returns the strategy, or -1 for an unknown name. */
int hvf_migrate_strategy_from_string(const char *name);

typedef enum hvf_migrate_phase {
    HVF_MIGRATE_PHASE_LIVE,            /* pre-copy passes, guest running on the source */
    HVF_MIGRATE_PHASE_STOP_COPY,       /* guest paused, last dirty pages sent uncapped */
    HVF_MIGRATE_PHASE_SWITCHOVER,      /* guest paused, device state and restart (fixed cost) */
    HVF_MIGRATE_PHASE_POSTCOPY_SWITCH, /* guest paused, device state before post-copy */
    HVF_MIGRATE_PHASE_POSTCOPY,        /* guest running on the destination, pages still pulled */
    HVF_MIGRATE_PHASE_DONE,
    HVF_MIGRATE_PHASE_ABORTED, /* the timeout expired during the live phase */
    HVF_MIGRATE_PHASE_LAST
} hvf_migrate_phase;

const char *hvf_migrate_phase_to_string(hvf_migrate_phase phase);

typedef struct hvf_migrate_params {
    uint64_t mem_bytes;          /* guest RAM */
    double dirty_bytes_per_s;    /* guest write rate, before any throttling */
    uint64_t working_set_bytes;  /* pages dirtied repeatedly count once; 0 = mem_bytes */
    double zero_fraction;        /* share of RAM that is zero pages on the first pass, [0, 1) */
    double bandwidth_bytes_per_s; /* the migration's cap (QEMU max-bandwidth) in live phases */
    double link_bytes_per_s;      /* estimate only: what the uncapped phases get; 0 = the larger of
                                     HVF_MIGRATE_LINK_DEFAULT_BYTES_PER_S and the bandwidth */
    int64_t downtime_limit_us;   /* QEMU downtime-limit, default 300 ms */
    int64_t switchover_us;       /* fixed pause for device state, stop and restart */
    int64_t timeout_us;          /* live-phase limit; 0 = none (runs until it converges, as
                                    Nova's 0); HVF_MIGRATE_TIMEOUT_NOVA = 800 s per GiB of RAM */
    hvf_migrate_strategy strategy;
    /* auto-converge, QEMU's parameter names and defaults */
    uint32_t throttle_initial_pct;   /* cpu-throttle-initial, 20 */
    uint32_t throttle_increment_pct; /* cpu-throttle-increment, 10 */
    uint32_t throttle_max_pct;       /* max-cpu-throttle, 99 */
    uint32_t throttle_trigger_pct;   /* throttle-trigger-threshold, 50 */
} hvf_migrate_params;

/* Which parameter a validation error is about, so a caller can name its own spelling of it. */
typedef enum hvf_migrate_field {
    HVF_MIGRATE_FIELD_NONE,
    HVF_MIGRATE_FIELD_MEM,
    HVF_MIGRATE_FIELD_DIRTY_RATE,
    HVF_MIGRATE_FIELD_WORKING_SET,
    HVF_MIGRATE_FIELD_ZERO_FRACTION,
    HVF_MIGRATE_FIELD_BANDWIDTH,
    HVF_MIGRATE_FIELD_LINK,
    HVF_MIGRATE_FIELD_DOWNTIME_LIMIT,
    HVF_MIGRATE_FIELD_SWITCHOVER,
    HVF_MIGRATE_FIELD_TIMEOUT,
    HVF_MIGRATE_FIELD_STRATEGY,
    HVF_MIGRATE_FIELD_THROTTLE,
    HVF_MIGRATE_FIELD_LAST
} hvf_migrate_field;

/* Fills @p with QEMU's and Nova's defaults; mem_bytes and bandwidth_bytes_per_s stay 0. */
void hvf_migrate_params_default(hvf_migrate_params *p);

/*
 * Checks every field. On failure sets @err (HVF_ERR_INVALID) to one sentence of the form
 * "FIELD VALUE: expected ...", and *@bad (may be NULL) to the field; the text after the first
 * ": " says what was expected, for callers that name the field their own way.
 * Returns 0 or -1.
 */
int hvf_migrate_params_validate(const hvf_migrate_params *p, hvf_migrate_field *bad,
                                hvf_error *err) __attribute__((warn_unused_result));

/* The uncapped phases' speed in effect: link_bytes_per_s, or when it is 0 the larger of
 * HVF_MIGRATE_LINK_DEFAULT_BYTES_PER_S and the bandwidth. */
double hvf_migrate_params_link_bytes_per_s(const hvf_migrate_params *p);

/* The live-phase limit in effect: timeout_us, 800 s per GiB of RAM for
 * HVF_MIGRATE_TIMEOUT_NOVA, or 0 for none. */
int64_t hvf_migrate_params_timeout_us(const hvf_migrate_params *p);

typedef struct hvf_migrate_result {
    int64_t total_us;    /* start to end (QMP total-time); the timeout when aborted;
                            HVF_MIGRATE_NEVER when it never ends (no timeout; then
                            rounds and bytes are those of the model's 10-year horizon) */
    int64_t downtime_us; /* guest paused (QMP downtime); 0 when aborted */
    int64_t postcopy_us; /* guest ran on the destination while pages were still pulled */
    uint32_t rounds;     /* live passes = dirty-bitmap syncs after setup (QMP dirty-sync-count) */
    uint64_t bytes_sent; /* RAM bytes on the wire (QMP ram.transferred) */
    uint64_t final_bytes; /* RAM sent while paused, or pulled after the post-copy switch */
    bool converged;
    hvf_migrate_strategy finished_by; /* the mechanism in force at the end */
    uint32_t throttle_pct;            /* final auto-converge throttle */
    char reason[192];                 /* one sentence: which mechanism the answer relied on */
} hvf_migrate_result;

/*
 * The stepper's state. Plain data, caller-owned, no allocation: copy it, keep thousands in an
 * array. Fields are private to migrate.c; read them through the functions below.
 */
typedef struct hvf_migrate_state {
    hvf_migrate_params params; /* validated copy */
    hvf_migrate_phase phase;
    int64_t now_us;
    int64_t timeout_us;
    int64_t last_check_us; /* last time the pending estimate was checked and the bitmap synced */
    int64_t pause_start_us;
    int64_t pause_end_us; /* end of the fixed switchover cost, once it is known */
    int64_t resume_us;    /* guest running again (destination) */
    double cold_bytes;    /* first-pass pages not sent yet */
    double hot_bytes;     /* re-dirtied pages in the bitmap, within the working set */
    double new_dirty_bytes; /* dirtied since the last sync, not in the bitmap yet */
    double left_bytes;    /* stop-and-copy or post-copy bytes still to send */
    double sent_bytes;
    double final_bytes;
    double threshold_bytes; /* bandwidth x downtime-limit at the last check */
    double live_rate_bytes_per_s; /* live rate at the last step, for the reason */
    /* auto-converge period (QEMU: at least 1 s between evaluations) */
    int64_t period_start_us;
    double period_dirty_bytes;
    double period_sent_mark;
    uint32_t high_periods;
    uint32_t throttle_pct;
    uint32_t syncs;
    bool gave_up; /* HVF_MIGRATE_MAX_SYNCS reached */
    bool no_timeout; /* timeout_us was 0: timeout_us below is only the model's horizon */
    hvf_migrate_strategy finished_by;
} hvf_migrate_state;

/* Validates @p (see hvf_migrate_params_validate) and starts a migration at time 0. */
int hvf_migrate_state_init(hvf_migrate_state *s, const hvf_migrate_params *p, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * Microseconds until the next phase boundary (a dirty-bitmap sync, the switch to stop-and-copy
 * or post-copy, the end, the timeout) if the flow keeps @bw_bytes_per_s; 0 when one is due now;
 * HVF_MIGRATE_NEVER when none will come at that bandwidth (e.g. 0 after the live phase);
 * -1 when @bw_bytes_per_s is negative or not finite. O(1).
 */
int64_t hvf_migrate_state_next_us(const hvf_migrate_state *s, double bw_bytes_per_s);

/*
 * Advances by @dt_us at @bw_bytes_per_s, handling every boundary on the way, so @dt_us may be
 * shorter or longer than hvf_migrate_state_next_us(). Splitting an interval into pieces at the
 * same bandwidth gives the same state as one call (to within 1 us per boundary).
 * Returns 1 when it progressed, 0 when the migration had already ended, -1 with @err set
 * (HVF_ERR_INVALID) for a negative @dt_us or a negative or non-finite bandwidth.
 */
int hvf_migrate_state_advance(hvf_migrate_state *s, int64_t dt_us, double bw_bytes_per_s,
                              hvf_error *err);

/* What the flow would use if the network allowed it: the cap while live, HUGE_VAL when only
 * the links limit it, 0 while paused for the switchover or after the end. */
double hvf_migrate_state_demand_bytes_per_s(const hvf_migrate_state *s);

hvf_migrate_phase hvf_migrate_state_phase(const hvf_migrate_state *s);
/* True once the migration completed or was aborted. */
bool hvf_migrate_state_done(const hvf_migrate_state *s);
/* True while the guest is paused (stop-and-copy and switchovers). */
bool hvf_migrate_state_paused(const hvf_migrate_state *s);

/* The answer so far (final once hvf_migrate_state_done()), with its reason sentence. */
void hvf_migrate_state_result(const hvf_migrate_state *s, hvf_migrate_result *out);
/* The same figures without the reason sentence (left empty): formatting it costs more than a
 * step of the model, and a planner or simulator that never prints it need not pay for it. */
void hvf_migrate_state_figures(const hvf_migrate_state *s, hvf_migrate_result *out);

/*
 * One migration at a constant bandwidth: live phases at min(bandwidth, link), uncapped phases
 * at link (hvf_migrate_params_link_bytes_per_s). Returns 0 with @out filled, converged or
 * not; -1 with @err set for invalid parameters.
 */
int hvf_migrate_estimate(const hvf_migrate_params *p, hvf_migrate_result *out, hvf_error *err)
    __attribute__((warn_unused_result));
/* hvf_migrate_estimate without the reason sentence (left empty): the same figures, cheaper. */
int hvf_migrate_estimate_figures(const hvf_migrate_params *p, hvf_migrate_result *out,
                                 hvf_error *err) __attribute__((warn_unused_result));
/*
 * Whether hvf_migrate_estimate(@p) says converged, into @out, for a planner that needs only
 * that: the same answer, found without stepping on to the timeout once a pre-copy migration can
 * no longer converge, nor through its final copy once it has. 0, or -1 with @err set for invalid
 * parameters (and whatever hvf_migrate_estimate fails on).
 */
int hvf_migrate_estimate_converges(const hvf_migrate_params *p, bool *out, hvf_error *err)
    __attribute__((warn_unused_result));
