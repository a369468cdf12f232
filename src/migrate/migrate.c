/* SPDX-License-Identifier: MIT */
/* Live-migration model: parameters, a stepper that follows QEMU's pre-copy loop, the estimate. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"

/* Nova's live_migration_completion_timeout default: seconds per GiB of data to copy. */
#define MIGRATE_NOVA_TIMEOUT_S_PER_GIB 800.0
/* QEMU evaluates auto-converge only when a sync comes more than 1 s after the last evaluation. */
#define MIGRATE_THROTTLE_PERIOD_US HVF_US_PER_S
/* Limits that keep every time below 2^62 us: 1 PiB at 1000 bytes/s is ~1.1e18 us. */
#define MIGRATE_MAX_MEM_BYTES (1024ULL * HVF_TIB)
#define MIGRATE_MIN_RATE_BYTES_PER_S 1000.0
#define MIGRATE_MAX_DOWNTIME_LIMIT_US (2000LL * HVF_US_PER_S) /* QEMU's own maximum */
#define MIGRATE_MAX_SWITCHOVER_US (3600LL * HVF_US_PER_S)
#define MIGRATE_MAX_TIMEOUT_US (10LL * 365 * 86400 * HVF_US_PER_S)
/* Fractions of a byte are rounding noise; snapping them keeps "sent everything" exact. */
#define MIGRATE_EPS_BYTES 1e-3
/* A double this large no longer fits the int64 clock: treat it as never. */
#define MIGRATE_HORIZON_US 4e18

/* ---------------------------------------------------------------- names */

static const char *const strategy_names[] = {
    [HVF_MIGRATE_STRATEGY_PRECOPY] = "precopy",
    [HVF_MIGRATE_STRATEGY_AUTO_CONVERGE] = "auto-converge",
    [HVF_MIGRATE_STRATEGY_POSTCOPY] = "post-copy",
};
_Static_assert(HVF_ARRAY_LEN(strategy_names) == HVF_MIGRATE_STRATEGY_LAST, "strategy table");

static const char *const phase_names[] = {
    [HVF_MIGRATE_PHASE_LIVE] = "live",
    [HVF_MIGRATE_PHASE_STOP_COPY] = "stop-copy",
    [HVF_MIGRATE_PHASE_SWITCHOVER] = "switchover",
    [HVF_MIGRATE_PHASE_POSTCOPY_SWITCH] = "postcopy-switch",
    [HVF_MIGRATE_PHASE_POSTCOPY] = "postcopy",
    [HVF_MIGRATE_PHASE_DONE] = "done",
    [HVF_MIGRATE_PHASE_ABORTED] = "aborted",
};
_Static_assert(HVF_ARRAY_LEN(phase_names) == HVF_MIGRATE_PHASE_LAST, "phase table");

const char *
hvf_migrate_strategy_to_string(hvf_migrate_strategy strategy)
{
    if ((unsigned)strategy >= HVF_MIGRATE_STRATEGY_LAST)
        return "unknown";
    return strategy_names[strategy];
}

int
hvf_migrate_strategy_from_string(const char *name)
{
    for (size_t i = 0; name && i < HVF_ARRAY_LEN(strategy_names); i++) {
        if (strcmp(name, strategy_names[i]) == 0)
            return (int)i;
    }
    return -1;
}

const char *
hvf_migrate_phase_to_string(hvf_migrate_phase phase)
{
    if ((unsigned)phase >= HVF_MIGRATE_PHASE_LAST)
        return "unknown";
    return phase_names[phase];
}

/* ---------------------------------------------------------------- parameters */

void
hvf_migrate_params_default(hvf_migrate_params *p)
{
    memset(p, 0, sizeof(*p));
    p->downtime_limit_us = 300 * HVF_US_PER_MS;
    /*
     * Device state is usually well under a few MiB, and stopping the vCPUs, saving devices and
     * starting the destination takes tens of milliseconds; 20 ms is a round middle value that
     * the QEMU benchmarks are meant to calibrate.
     */
    p->switchover_us = 20 * HVF_US_PER_MS;
    p->timeout_us = HVF_MIGRATE_TIMEOUT_NOVA;
    p->strategy = HVF_MIGRATE_STRATEGY_PRECOPY;
    p->throttle_initial_pct = 20;
    p->throttle_increment_pct = 10;
    p->throttle_max_pct = 99;
    p->throttle_trigger_pct = 50;
}

#define MIGRATE_BAD(field_, ...)                                                                   \
    do {                                                                                           \
        if (bad)                                                                                   \
            *bad = (field_);                                                                       \
        hvf_error_set(err, HVF_ERR_INVALID, __VA_ARGS__);                                          \
        return -1;                                                                                 \
    } while (0)

static bool
migrate_pct_ok(uint32_t pct, uint32_t max)
{
    return pct >= 1 && pct <= max;
}

int
hvf_migrate_params_validate(const hvf_migrate_params *p, hvf_migrate_field *bad, hvf_error *err)
{
    char mem[32];

    if (bad)
        *bad = HVF_MIGRATE_FIELD_NONE;
    if (p->mem_bytes == 0 || p->mem_bytes > MIGRATE_MAX_MEM_BYTES)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_MEM,
                    "mem_bytes %" PRIu64 ": expected a memory size above 0 and at most 1 PiB",
                    p->mem_bytes);
    if (!isfinite(p->dirty_bytes_per_s) || p->dirty_bytes_per_s < 0)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_DIRTY_RATE,
                    "dirty_bytes_per_s %g: expected a finite rate of 0 or more", p->dirty_bytes_per_s);
    if (p->working_set_bytes > p->mem_bytes)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_WORKING_SET,
                    "working_set_bytes %" PRIu64 ": expected at most the memory size, %s",
                    p->working_set_bytes, hvf_units_format_size(p->mem_bytes, mem, sizeof(mem)));
    if (!(p->zero_fraction >= 0 && p->zero_fraction < 1))
        MIGRATE_BAD(HVF_MIGRATE_FIELD_ZERO_FRACTION,
                    "zero_fraction %g: expected a fraction from 0 up to, not including, 1", p->zero_fraction);
    if (!isfinite(p->bandwidth_bytes_per_s) ||
        p->bandwidth_bytes_per_s < MIGRATE_MIN_RATE_BYTES_PER_S)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_BANDWIDTH,
                    "bandwidth_bytes_per_s %g: expected a rate of at least 1000 bytes/s (8 kbit/s)",
                    p->bandwidth_bytes_per_s);
    if (!isfinite(p->link_bytes_per_s) || p->link_bytes_per_s < 0 ||
        (p->link_bytes_per_s > 0 && p->link_bytes_per_s < MIGRATE_MIN_RATE_BYTES_PER_S))
        MIGRATE_BAD(HVF_MIGRATE_FIELD_LINK,
                    "link_bytes_per_s %g: expected 0 (10 Gbit/s, or the bandwidth if higher) or a "
                    "rate of at least 1000 bytes/s",
                    p->link_bytes_per_s);
    if (p->downtime_limit_us < 0 || p->downtime_limit_us > MIGRATE_MAX_DOWNTIME_LIMIT_US)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_DOWNTIME_LIMIT,
                    "downtime_limit_us %" PRId64 ": expected 0 to 2000 s, QEMU's range", p->downtime_limit_us);
    if (p->switchover_us < 0 || p->switchover_us > MIGRATE_MAX_SWITCHOVER_US)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_SWITCHOVER,
                    "switchover_us %" PRId64 ": expected 0 to 1 h", p->switchover_us);
    if ((p->timeout_us < 0 && p->timeout_us != HVF_MIGRATE_TIMEOUT_NOVA) ||
        p->timeout_us > MIGRATE_MAX_TIMEOUT_US)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_TIMEOUT,
                    "timeout_us %" PRId64 ": expected 0 (no timeout), up to 10 years, or -1 (Nova's 800 s per GiB)", p->timeout_us);
    if ((unsigned)p->strategy >= HVF_MIGRATE_STRATEGY_LAST)
        MIGRATE_BAD(HVF_MIGRATE_FIELD_STRATEGY,
                    "strategy %d: expected precopy, auto-converge or post-copy", (int)p->strategy);
    if (!migrate_pct_ok(p->throttle_initial_pct, 99) ||
        !migrate_pct_ok(p->throttle_increment_pct, 99) ||
        !migrate_pct_ok(p->throttle_max_pct, 99) || !migrate_pct_ok(p->throttle_trigger_pct, 100))
        MIGRATE_BAD(HVF_MIGRATE_FIELD_THROTTLE,
                    "throttle %" PRIu32 "/%" PRIu32 "/%" PRIu32 "/%" PRIu32 " %% (initial/increment/max/trigger): expected 1-99 %% each, trigger 1-100 %%",
                    p->throttle_initial_pct, p->throttle_increment_pct, p->throttle_max_pct,
                    p->throttle_trigger_pct);
    return 0;
}

double
hvf_migrate_params_link_bytes_per_s(const hvf_migrate_params *p)
{
    if (p->link_bytes_per_s > 0)
        return p->link_bytes_per_s;
    return p->bandwidth_bytes_per_s > HVF_MIGRATE_LINK_DEFAULT_BYTES_PER_S
               ? p->bandwidth_bytes_per_s
               : HVF_MIGRATE_LINK_DEFAULT_BYTES_PER_S;
}

int64_t
hvf_migrate_params_timeout_us(const hvf_migrate_params *p)
{
    if (p->timeout_us >= 0)
        return p->timeout_us;
    /* Nova scales by the data to copy (RAM, plus local disks for block migration): RAM here. */
    return llround(MIGRATE_NOVA_TIMEOUT_S_PER_GIB * 1e6 * (double)p->mem_bytes / (double)HVF_GIB);
}

/* ---------------------------------------------------------------- stepper helpers */

static double
migrate_working_set(const hvf_migrate_state *s)
{
    return (double)(s->params.working_set_bytes ? s->params.working_set_bytes
                                                : s->params.mem_bytes);
}

/* QEMU's max-bandwidth caps the live phase only. */
static double
migrate_live_rate(const hvf_migrate_state *s, double bw)
{
    return bw < s->params.bandwidth_bytes_per_s ? bw : s->params.bandwidth_bytes_per_s;
}

/* CPU throttling slows the vCPUs, and with them the writes they make. */
static double
migrate_dirty_rate(const hvf_migrate_state *s)
{
    return s->params.dirty_bytes_per_s * (double)(100 - s->throttle_pct) / 100.0;
}

/* QEMU's threshold_size: the measured transfer rate times downtime-limit. */
static double
migrate_threshold(const hvf_migrate_state *s, double rate)
{
    return rate * (double)s->params.downtime_limit_us / 1e6;
}

/* Bytes still to send: the non-zero rest of the first pass and the re-dirtied pages. */
static double
migrate_pending(const hvf_migrate_state *s)
{
    return s->cold_bytes + s->hot_bytes;
}

/*
 * What QEMU compares with the threshold: the pages still set in its bitmap times the page size
 * (ram_bytes_remaining), zero or not. The first pass's zero pages cost nothing on the wire but
 * count until the scan has passed them, and the scan passes 1 / (1 - z) bytes of RAM for each
 * byte it sends, so an idle guest with many zero pages is stopped later, with less to copy.
 */
static double
migrate_pending_estimate(const hvf_migrate_state *s)
{
    return s->cold_bytes / (1.0 - s->params.zero_fraction) + s->hot_bytes;
}

/* Rounds a duration up to whole microseconds, so that a boundary is never reached early. */
static int64_t
migrate_us_ceil(double us)
{
    if (!(us < MIGRATE_HORIZON_US))
        return HVF_MIGRATE_NEVER;
    if (us <= 0)
        return 0;
    return (int64_t)ceil(us);
}

static int64_t
migrate_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static bool
migrate_bw_ok(double bw)
{
    return isfinite(bw) && bw >= 0;
}

int
hvf_migrate_state_init(hvf_migrate_state *s, const hvf_migrate_params *p, hvf_error *err)
{
    if (hvf_migrate_params_validate(p, NULL, err) < 0)
        return -1;
    memset(s, 0, sizeof(*s));
    s->params = *p;
    s->phase = HVF_MIGRATE_PHASE_LIVE;
    s->timeout_us = hvf_migrate_params_timeout_us(p);
    /*
     * No timeout: the migration runs until it converges, as Nova's 0 does. The stepper keeps a
     * horizon, the longest timeout allowed, so that one that never converges still ends: past
     * it, the answer is "never" (hvf_migrate_state_result).
     */
    s->no_timeout = s->timeout_us == 0;
    if (s->no_timeout)
        s->timeout_us = MIGRATE_MAX_TIMEOUT_US;
    /* -1 so that QEMU's first check, at time 0, counts: a guest smaller than the threshold is
     * stopped and copied at once, as QEMU does. */
    s->last_check_us = -1;
    s->resume_us = -1;
    s->cold_bytes = (double)p->mem_bytes * (1.0 - p->zero_fraction);
    s->finished_by = HVF_MIGRATE_STRATEGY_PRECOPY;
    return 0;
}

/* ---------------------------------------------------------------- live phase */

/*
 * QEMU's migration thread looks at the pending estimate once per rate-limit slice, and at once
 * when the bitmap runs empty; only when the estimate is below the threshold does it re-sync the
 * dirty bitmap (migration_iteration_run, ram_state_pending_exact).
 */
static bool
migrate_live_check_due(const hvf_migrate_state *s, double bw)
{
    double pending = migrate_pending(s);

    if (s->gave_up || s->now_us <= s->last_check_us)
        return false;
    if (pending <= 0)
        return true;
    if (s->now_us % HVF_MIGRATE_SLICE_US != 0)
        return false;
    return migrate_pending_estimate(s) < migrate_threshold(s, migrate_live_rate(s, bw));
}

static int64_t
migrate_live_next_check_us(const hvf_migrate_state *s, double bw)
{
    double rate = migrate_live_rate(s, bw);
    double pending = migrate_pending(s);
    double estimate = migrate_pending_estimate(s);
    double cold_estimate = estimate - s->hot_bytes;
    double threshold = migrate_threshold(s, rate);
    int64_t from = s->now_us > s->last_check_us ? s->now_us : s->last_check_us + 1;
    double slice = (double)HVF_MIGRATE_SLICE_US;
    double first = ceil((double)from / slice) * slice;
    double at;

    if (s->gave_up)
        return HVF_MIGRATE_NEVER;
    if (pending <= 0)
        return s->now_us > s->last_check_us ? 0 : HVF_MIGRATE_NEVER;
    if (rate <= 0)
        return HVF_MIGRATE_NEVER;
    if (estimate < threshold) {
        at = first;
    } else {
        /*
         * estimate(now + x) < threshold exactly when x > cross; take the next slice after it.
         * The estimate falls 1 / (1 - z) times faster than bytes go while the first pass lasts.
         */
        double x = estimate - threshold <= cold_estimate
                       ? (estimate - threshold) * (1.0 - s->params.zero_fraction) / rate
                       : (s->cold_bytes + (estimate - cold_estimate - threshold)) / rate;
        double cross = (double)s->now_us + x * 1e6;
        at = (floor(cross / slice) + 1) * slice;
        if (at < first)
            at = first;
    }
    return migrate_min64(migrate_us_ceil(at - (double)s->now_us),
                         migrate_us_ceil(pending / rate * 1e6));
}

static void
migrate_enter_pause(hvf_migrate_state *s, hvf_migrate_phase phase)
{
    s->final_bytes = migrate_pending(s);
    s->left_bytes = s->final_bytes;
    s->cold_bytes = 0;
    s->hot_bytes = 0;
    s->new_dirty_bytes = 0;
    s->pause_start_us = s->now_us;
    s->phase = phase;
    if (phase == HVF_MIGRATE_PHASE_POSTCOPY_SWITCH) {
        s->pause_end_us = s->now_us + s->params.switchover_us;
        s->finished_by = HVF_MIGRATE_STRATEGY_POSTCOPY;
    } else {
        s->finished_by = s->throttle_pct > 0 ? HVF_MIGRATE_STRATEGY_AUTO_CONVERGE
                                             : HVF_MIGRATE_STRATEGY_PRECOPY;
    }
}

/*
 * migration_bitmap_sync(): counts the pages dirtied over a period of at least a second and
 * raises the throttle when they exceed throttle-trigger-threshold of what was sent, the second
 * time that happens (the counter is not reset by a calm period).
 */
static void
migrate_throttle_period(hvf_migrate_state *s)
{
    const hvf_migrate_params *p = &s->params;
    double sent = s->sent_bytes - s->period_sent_mark;

    if (s->now_us - s->period_start_us <= MIGRATE_THROTTLE_PERIOD_US)
        return;
    if (p->strategy == HVF_MIGRATE_STRATEGY_AUTO_CONVERGE &&
        s->period_dirty_bytes > sent * (double)p->throttle_trigger_pct / 100.0 &&
        ++s->high_periods >= 2) {
        uint32_t pct = s->throttle_pct == 0 ? p->throttle_initial_pct
                                            : s->throttle_pct + p->throttle_increment_pct;
        s->high_periods = 0;
        s->throttle_pct = pct < p->throttle_max_pct ? pct : p->throttle_max_pct;
    }
    s->period_start_us = s->now_us;
    s->period_dirty_bytes = 0;
    s->period_sent_mark = s->sent_bytes;
}

static void
migrate_live_sync(hvf_migrate_state *s, double bw)
{
    double threshold = migrate_threshold(s, migrate_live_rate(s, bw));
    double ws = migrate_working_set(s);
    double mem = (double)s->params.mem_bytes;
    double fresh = s->new_dirty_bytes;
    double merged;
    double pending;

    /*
     * First-pass pages not sent yet are already in the bitmap: a page dirtied among them
     * joins nothing. The guest's writes are spread over its working set and the unsent tail
     * of the first pass over RAM, so a share cold / M of the new dirty bytes falls there.
     */
    if (s->cold_bytes > 0 && mem > 0)
        fresh *= 1.0 - (s->cold_bytes / mem < 1.0 ? s->cold_bytes / mem : 1.0);
    merged = s->hot_bytes + fresh;
    /* Every re-dirtied page lies in the working set, so the bitmap cannot hold more of them. */
    if (merged > ws)
        merged = ws;
    if (merged > s->hot_bytes)
        s->period_dirty_bytes += merged - s->hot_bytes;
    s->hot_bytes = merged;
    s->new_dirty_bytes = 0;
    s->syncs++;
    s->last_check_us = s->now_us;
    s->threshold_bytes = threshold;
    migrate_throttle_period(s);

    pending = migrate_pending(s);
    if (pending <= 0 || migrate_pending_estimate(s) < threshold)
        migrate_enter_pause(s, HVF_MIGRATE_PHASE_STOP_COPY);
    else if (s->params.strategy == HVF_MIGRATE_STRATEGY_POSTCOPY)
        migrate_enter_pause(s, HVF_MIGRATE_PHASE_POSTCOPY_SWITCH);
    else if (s->syncs >= HVF_MIGRATE_MAX_SYNCS)
        s->gave_up = true;
}

/* ---------------------------------------------------------------- stepping */

int64_t
hvf_migrate_state_next_us(const hvf_migrate_state *s, double bw_bytes_per_s)
{
    int64_t until;

    if (!migrate_bw_ok(bw_bytes_per_s))
        return -1;
    switch (s->phase) {
    case HVF_MIGRATE_PHASE_LIVE:
        until = s->timeout_us > s->now_us ? s->timeout_us - s->now_us : 0;
        return migrate_min64(until, migrate_live_next_check_us(s, bw_bytes_per_s));
    case HVF_MIGRATE_PHASE_STOP_COPY:
    case HVF_MIGRATE_PHASE_POSTCOPY:
        if (s->left_bytes <= 0)
            return 0;
        if (bw_bytes_per_s <= 0)
            return HVF_MIGRATE_NEVER;
        return migrate_us_ceil(s->left_bytes / bw_bytes_per_s * 1e6);
    case HVF_MIGRATE_PHASE_SWITCHOVER:
    case HVF_MIGRATE_PHASE_POSTCOPY_SWITCH:
        return s->pause_end_us > s->now_us ? s->pause_end_us - s->now_us : 0;
    default:
        return HVF_MIGRATE_NEVER;
    }
}

static double
migrate_take(double *bytes, double budget)
{
    double took = budget < *bytes ? budget : *bytes;

    *bytes -= took;
    if (*bytes < MIGRATE_EPS_BYTES)
        *bytes = 0;
    return took;
}

/* Moves every continuous quantity by @dt_us, which the caller keeps inside one phase. */
static void
migrate_flow(hvf_migrate_state *s, int64_t dt_us, double bw)
{
    double sec = (double)dt_us / 1e6;
    double rate;
    double budget;

    switch (s->phase) {
    case HVF_MIGRATE_PHASE_LIVE:
        rate = migrate_live_rate(s, bw);
        s->live_rate_bytes_per_s = rate;
        budget = rate * sec;
        if (s->gave_up) {
            /* A migration that never converges keeps its link busy until it is aborted. */
            s->sent_bytes += budget;
        } else {
            /* QEMU's scan resumes where it stopped: the rest of the first pass goes first. */
            double took = migrate_take(&s->cold_bytes, budget);
            took += migrate_take(&s->hot_bytes, budget - took);
            s->sent_bytes += took;
        }
        s->new_dirty_bytes += migrate_dirty_rate(s) * sec;
        if (s->new_dirty_bytes > migrate_working_set(s))
            s->new_dirty_bytes = migrate_working_set(s);
        break;
    case HVF_MIGRATE_PHASE_STOP_COPY:
    case HVF_MIGRATE_PHASE_POSTCOPY:
        s->sent_bytes += migrate_take(&s->left_bytes, bw * sec);
        break;
    default:
        break;
    }
    s->now_us += dt_us;
}

/* Handles whatever boundary is due at the current time. */
static void
migrate_fire(hvf_migrate_state *s, double bw)
{
    switch (s->phase) {
    case HVF_MIGRATE_PHASE_LIVE:
        if (migrate_live_check_due(s, bw))
            migrate_live_sync(s, bw);
        if (s->phase == HVF_MIGRATE_PHASE_LIVE && s->now_us >= s->timeout_us)
            s->phase = HVF_MIGRATE_PHASE_ABORTED;
        break;
    case HVF_MIGRATE_PHASE_STOP_COPY:
        if (s->left_bytes <= 0) {
            s->phase = HVF_MIGRATE_PHASE_SWITCHOVER;
            s->pause_end_us = s->now_us + s->params.switchover_us;
        }
        break;
    case HVF_MIGRATE_PHASE_SWITCHOVER:
        if (s->now_us >= s->pause_end_us) {
            s->phase = HVF_MIGRATE_PHASE_DONE;
            s->resume_us = s->now_us;
        }
        break;
    case HVF_MIGRATE_PHASE_POSTCOPY_SWITCH:
        if (s->now_us >= s->pause_end_us) {
            s->phase = HVF_MIGRATE_PHASE_POSTCOPY;
            s->resume_us = s->now_us;
        }
        break;
    case HVF_MIGRATE_PHASE_POSTCOPY:
        if (s->left_bytes <= 0)
            s->phase = HVF_MIGRATE_PHASE_DONE;
        break;
    default:
        break;
    }
}

/* Advances by @left us, @next being hvf_migrate_state_next_us(@s, @bw) (the caller knows it). */
static int
migrate_advance(hvf_migrate_state *s, int64_t left, int64_t next, double bw, hvf_error *err)
{
    /* Each sync is one boundary, plus at most one check that rounding made moot per sync, plus
     * the handful of phase changes: more than this is a bug, not a slow migration. */
    const uint64_t max_events = 2ULL * HVF_MIGRATE_MAX_SYNCS + 64;

    for (uint64_t n = 0; n < max_events; n++) {
        if (next > left) {
            migrate_flow(s, left, bw);
            return 1;
        }
        migrate_flow(s, next, bw);
        left -= next;
        migrate_fire(s, bw);
        if (hvf_migrate_state_done(s))
            return 1;
        next = hvf_migrate_state_next_us(s, bw);
    }
    hvf_error_set(err, HVF_ERR_INTERNAL,
                  "migration model passed %" PRIu64 " boundaries in one step without finishing it",
                  max_events);
    return -1;
}

int
hvf_migrate_state_advance(hvf_migrate_state *s, int64_t dt_us, double bw_bytes_per_s,
                          hvf_error *err)
{
    if (dt_us < 0 || !migrate_bw_ok(bw_bytes_per_s)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "migration step of %" PRId64 " us at %g bytes/s: expected a time of 0 or more and a finite, non-negative bandwidth",
                      dt_us, bw_bytes_per_s);
        return -1;
    }
    if (hvf_migrate_state_done(s))
        return 0;
    return migrate_advance(s, dt_us, hvf_migrate_state_next_us(s, bw_bytes_per_s),
                           bw_bytes_per_s, err);
}

double
hvf_migrate_state_demand_bytes_per_s(const hvf_migrate_state *s)
{
    switch (s->phase) {
    case HVF_MIGRATE_PHASE_LIVE:
        return s->params.bandwidth_bytes_per_s;
    case HVF_MIGRATE_PHASE_STOP_COPY:
    case HVF_MIGRATE_PHASE_POSTCOPY:
        return HUGE_VAL;
    default:
        return 0;
    }
}

hvf_migrate_phase
hvf_migrate_state_phase(const hvf_migrate_state *s)
{
    return s->phase;
}

bool
hvf_migrate_state_done(const hvf_migrate_state *s)
{
    return s->phase == HVF_MIGRATE_PHASE_DONE || s->phase == HVF_MIGRATE_PHASE_ABORTED;
}

bool
hvf_migrate_state_paused(const hvf_migrate_state *s)
{
    return s->phase == HVF_MIGRATE_PHASE_STOP_COPY || s->phase == HVF_MIGRATE_PHASE_SWITCHOVER ||
           s->phase == HVF_MIGRATE_PHASE_POSTCOPY_SWITCH;
}

/* ---------------------------------------------------------------- results */

static const char *
migrate_fmt_size(double bytes, char *buf, size_t size)
{
    return hvf_units_format_size((uint64_t)llround(bytes > 0 ? bytes : 0), buf, size);
}

static void
migrate_reason_aborted(const hvf_migrate_state *s, char *out, size_t size)
{
    char a[32], b[32], d[32], t[64], extra[48] = "";
    double dirty = migrate_dirty_rate(s);
    double rate = s->live_rate_bytes_per_s;

    if (s->no_timeout) {
        snprintf(t, sizeof(t), "no timeout: it runs until cancelled");
    } else {
        hvf_units_format_duration(s->timeout_us, d, sizeof(d));
        snprintf(t, sizeof(t), "aborted after timeout %s", d);
    }
    if (s->throttle_pct > 0)
        snprintf(extra, sizeof(extra), " even with auto-converge at %" PRIu32 " %%",
                 s->throttle_pct);
    if (s->syncs == 0) {
        snprintf(out, size, "%s during the first pass: %s still to send at %s",
                 s->no_timeout ? "no timeout, but the first pass alone would take over 10 years"
                               : t,
                 migrate_fmt_size(migrate_pending(s), a, sizeof(a)),
                 hvf_units_format_rate(rate, b, sizeof(b)));
    } else if (s->gave_up) {
        snprintf(out, size, "did not converge in %" PRIu32 " dirty syncs%s; %s",
                 s->syncs, extra, t);
    } else if (dirty >= rate) {
        snprintf(out, size, "did not converge: dirty rate %s ≥ bandwidth %s%s; %s",
                 hvf_units_format_rate(dirty, a, sizeof(a)),
                 hvf_units_format_rate(rate, b, sizeof(b)), extra, t);
    } else {
        snprintf(out, size, "did not converge: %s dirty > bandwidth × downtime-limit (%s)%s; %s",
                 migrate_fmt_size(migrate_pending(s) + s->new_dirty_bytes, a, sizeof(a)),
                 migrate_fmt_size(s->threshold_bytes, b, sizeof(b)), extra, t);
    }
}

static void
migrate_reason(const hvf_migrate_state *s, const hvf_migrate_result *r, char *out, size_t size)
{
    char a[32], b[32], c[32];

    if (s->phase == HVF_MIGRATE_PHASE_ABORTED) {
        migrate_reason_aborted(s, out, size);
    } else if (!hvf_migrate_state_done(s)) {
        snprintf(out, size, "in progress: %s, round %" PRIu32,
                 hvf_migrate_phase_to_string(s->phase), s->syncs);
    } else if (r->finished_by == HVF_MIGRATE_STRATEGY_POSTCOPY) {
        snprintf(out, size, "post-copy after round %" PRIu32 ": %s still dirty was pulled in %s after a %s pause",
                 s->syncs, migrate_fmt_size(s->final_bytes, a, sizeof(a)),
                 hvf_units_format_duration(r->postcopy_us, b, sizeof(b)),
                 hvf_units_format_duration(r->downtime_us, c, sizeof(c)));
    } else if (r->finished_by == HVF_MIGRATE_STRATEGY_AUTO_CONVERGE) {
        snprintf(out, size, "auto-converge throttled the guest to %" PRIu32 " %%; converged in round %" PRIu32 ": %s left < bandwidth × downtime-limit (%s)",
                 s->throttle_pct, s->syncs, migrate_fmt_size(s->final_bytes, a, sizeof(a)),
                 migrate_fmt_size(s->threshold_bytes, b, sizeof(b)));
    } else {
        snprintf(out, size, "converged in round %" PRIu32 ": %s left < bandwidth × downtime-limit (%s)",
                 s->syncs, migrate_fmt_size(s->final_bytes, a, sizeof(a)),
                 migrate_fmt_size(s->threshold_bytes, b, sizeof(b)));
    }
}

void
hvf_migrate_state_figures(const hvf_migrate_state *s, hvf_migrate_result *out)
{
    bool paused_once = s->phase != HVF_MIGRATE_PHASE_LIVE && s->phase != HVF_MIGRATE_PHASE_ABORTED;

    memset(out, 0, sizeof(*out));
    out->total_us = s->phase == HVF_MIGRATE_PHASE_ABORTED && s->no_timeout ? HVF_MIGRATE_NEVER
                                                                           : s->now_us;
    if (paused_once)
        out->downtime_us = (s->resume_us >= 0 ? s->resume_us : s->now_us) - s->pause_start_us;
    if (s->finished_by == HVF_MIGRATE_STRATEGY_POSTCOPY && s->resume_us >= 0)
        out->postcopy_us = s->now_us - s->resume_us;
    out->rounds = s->syncs;
    out->bytes_sent = (uint64_t)llround(s->sent_bytes);
    out->final_bytes = (uint64_t)llround(s->final_bytes);
    out->converged = s->phase == HVF_MIGRATE_PHASE_DONE;
    out->finished_by = s->phase == HVF_MIGRATE_PHASE_ABORTED && s->throttle_pct > 0
                           ? HVF_MIGRATE_STRATEGY_AUTO_CONVERGE
                           : s->finished_by;
    out->throttle_pct = s->throttle_pct;
}

void
hvf_migrate_state_result(const hvf_migrate_state *s, hvf_migrate_result *out)
{
    hvf_migrate_state_figures(s, out);
    migrate_reason(s, out, out->reason, sizeof(out->reason));
}

/* ---------------------------------------------------------------- estimate */

/*
 * Right after a sync of a pre-copy migration at a constant bandwidth @bw, past its first pass:
 * true when it can no longer converge. The guest dirties at least 1 % faster than the link
 * sends, so the next check comes only once (hot - threshold) bytes are sent, while 1.01 times
 * as many are dirtied: each sync ends with more dirty bytes over the threshold than the last, by
 * a hundredth of that margin, or with the whole working set. The margins asked for (a millionth
 * of the bytes compared) are far beyond rounding, so stepping on to the timeout (or to
 * HVF_MIGRATE_MAX_SYNCS) would end the same way: not converged.
 */
static bool
migrate_never_converges(const hvf_migrate_state *s, double bw)
{
    double rate = migrate_live_rate(s, bw);
    double threshold = migrate_threshold(s, rate);
    double ws = migrate_working_set(s);

    if (s->params.strategy != HVF_MIGRATE_STRATEGY_PRECOPY ||
        s->phase != HVF_MIGRATE_PHASE_LIVE || s->gave_up || s->syncs == 0 ||
        s->cold_bytes > 0 || s->throttle_pct != 0 || !(threshold > 0))
        return false;
    return migrate_dirty_rate(s) >= 1.01 * rate &&
           s->hot_bytes - threshold >= 1e-6 * s->hot_bytes && ws - threshold >= 1e-6 * ws;
}

/*
 * Steps a migration of @p from its start to its end in @s, as a simulator does at a bandwidth
 * that never changes: each step goes to the next boundary, as hvf_migrate_state_advance(&s, dt,
 * link) would (the link is valid, so dt >= 0), without asking the model for that boundary a
 * second time. With @known (may be NULL) it stops as soon as whether the migration converges is
 * certain: *known is 1 (it converges), 0 (it never will) or -1 (it ran to its end).
 */
static int
migrate_run(const hvf_migrate_params *p, hvf_migrate_state *s, int *known, hvf_error *err)
{
    const uint64_t max_steps = 2ULL * HVF_MIGRATE_MAX_SYNCS + 64;
    double link;

    if (known)
        *known = -1;
    if (hvf_migrate_state_init(s, p, err) < 0)
        return -1;
    link = hvf_migrate_params_link_bytes_per_s(p);
    for (uint64_t n = 0; n < max_steps && !hvf_migrate_state_done(s); n++) {
        uint32_t syncs = s->syncs;
        int64_t dt = hvf_migrate_state_next_us(s, link);

        if (dt == HVF_MIGRATE_NEVER)
            break;
        HVF_ASSERT(dt >= 0);
        if (migrate_advance(s, dt, dt, link, err) < 0)
            return -1;
        if (!known)
            continue;
        /* Pre-copy in stop-and-copy ends done: the final copy at the link, then the switchover
         * (a few steps, well within the loop's limit). */
        if (s->params.strategy == HVF_MIGRATE_STRATEGY_PRECOPY &&
            s->phase == HVF_MIGRATE_PHASE_STOP_COPY && n + 16 < max_steps) {
            *known = 1;
            return 0;
        }
        if (s->syncs != syncs && migrate_never_converges(s, link)) {
            *known = 0;
            return 0;
        }
    }
    if (!hvf_migrate_state_done(s)) {
        hvf_error_set(err, HVF_ERR_INTERNAL,
                      "migration model stopped in phase %s at %" PRId64 " us without an answer",
                      hvf_migrate_phase_to_string(s->phase), s->now_us);
        return -1;
    }
    return 0;
}

static int
migrate_estimate(const hvf_migrate_params *p, bool with_reason, hvf_migrate_result *out,
                 hvf_error *err)
{
    hvf_migrate_state s;

    if (migrate_run(p, &s, NULL, err) < 0)
        return -1;
    if (with_reason)
        hvf_migrate_state_result(&s, out);
    else
        hvf_migrate_state_figures(&s, out);
    return 0;
}

int
hvf_migrate_estimate_converges(const hvf_migrate_params *p, bool *out, hvf_error *err)
{
    hvf_migrate_state s;
    int known;

    if (migrate_run(p, &s, &known, err) < 0)
        return -1;
    *out = known >= 0 ? known == 1 : s.phase == HVF_MIGRATE_PHASE_DONE;
    return 0;
}

int
hvf_migrate_estimate(const hvf_migrate_params *p, hvf_migrate_result *out, hvf_error *err)
{
    return migrate_estimate(p, true, out, err);
}

int
hvf_migrate_estimate_figures(const hvf_migrate_params *p, hvf_migrate_result *out,
                             hvf_error *err)
{
    return migrate_estimate(p, false, out, err);
}
