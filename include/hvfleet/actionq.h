/* SPDX-License-Identifier: MIT */
/*
 * The action queue: where remediation actions (restart, redeploy, upscale, stop a zombie) wait
 * before an executor runs them, so that a flood of alerts turns into a bounded, ordered, paced
 * stream of work instead of a storm (seed 003: monitoring tripled the deployments and flooded
 * the orchestrator while the fleet was already overloaded).
 *
 *   de-duplication  an action carries a key ("redeploy:vm42"); pushing a key already queued
 *                   merges into the queued action (it keeps its place in line, takes the higher
 *                   priority and the newest target/arg); a key that ran less than its kind's
 *                   cooldown ago is dropped.
 *   priority        higher first; then the earlier push; then push order. Same pushes, same
 *                   times, same order: the queue never looks at the wall clock.
 *   rate limits     a token bucket per kind (rate per second, burst) and an optional one for all
 *                   kinds, refilled on the caller's clock (virtual time in the twin).
 *   pause/resume    per kind or for all: paused actions still queue and merge, none pops.
 *   freeze          an optional check (any callback; hvf_actionq_set_freeze_dir in
 *                   hvfleet/freeze.h asks the freeze switch): while it says frozen nothing pops.
 *   bound           an optional maximum length: a push beyond it evicts the lowest-priority,
 *                   newest queued action when the new one ranks higher, else is refused.
 *
 * Times are int64 microseconds on the caller's clock and must not go backwards. Keys are kept
 * for the queue's lifetime (cooldowns need them), so memory grows with the number of distinct
 * keys, not with pushes. Not thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvfleet/error.h"

#define HVF_ACTIONQ_MAX_KINDS 32
#define HVF_ACTIONQ_MAX_KEY 128

typedef struct hvf_actionq hvf_actionq;

typedef struct hvf_actionq_kind_opts {
    const char *name;    /* "redeploy"; copied; unique */
    double rate_per_s;   /* tokens per second; 0 = not limited */
    uint32_t burst;      /* bucket size (>= 1 when limited); starts full */
    int64_t cooldown_us; /* a key that ran is dropped for this long; 0 = never */
    int32_t priority;    /* default priority of this kind's actions */
} hvf_actionq_kind_opts;

typedef struct hvf_action {
    int32_t kind;     /* from hvf_actionq_add_kind */
    const char *key;  /* de-duplication key, copied; NULL = "KIND:TARGET" */
    int32_t priority; /* INT32_MIN = the kind's default */
    int64_t target;   /* the caller's object (a VM index) */
    int64_t arg;      /* the caller's payload */
} hvf_action;

/* What hvf_actionq_pop hands out; @key is borrowed from the queue (valid until it is freed). */
typedef struct hvf_actionq_item {
    int32_t kind;
    const char *key;
    int32_t priority;
    int64_t target, arg;
    int64_t pushed_us; /* first push of this (merged) action */
    uint32_t merged;   /* pushes merged into it */
} hvf_actionq_item;

typedef enum hvf_actionq_push_result {
    HVF_ACTIONQ_QUEUED,   /* a new action in the queue */
    HVF_ACTIONQ_MERGED,   /* de-duplicated into the queued action with the same key */
    HVF_ACTIONQ_COOLDOWN, /* the key ran less than the kind's cooldown ago: dropped */
    HVF_ACTIONQ_FULL,     /* the queue is full of actions that rank at least as high: dropped */
    HVF_ACTIONQ_PUSH_LAST
} hvf_actionq_push_result;

typedef enum hvf_actionq_pop_result {
    HVF_ACTIONQ_READY,        /* *out holds the next action */
    HVF_ACTIONQ_EMPTY,        /* nothing queued */
    HVF_ACTIONQ_PAUSED,       /* everything queued belongs to paused kinds */
    HVF_ACTIONQ_FROZEN,       /* the freeze check says frozen */
    HVF_ACTIONQ_RATE_LIMITED, /* actions wait for tokens (hvf_actionq_next_ready_us says when) */
    HVF_ACTIONQ_POP_LAST
} hvf_actionq_pop_result;

extern const char *const hvf_actionq_push_names[]; /* "queued", "merged", ... */
extern const char *const hvf_actionq_pop_names[];  /* "ready", "empty", ... */

typedef struct hvf_actionq_stats {
    uint64_t pushed;    /* every push */
    uint64_t queued;    /* pushes that became a new action */
    uint64_t merged;    /* pushes de-duplicated into a queued action */
    uint64_t cooldown;  /* pushes dropped by a cooldown */
    uint64_t full;      /* pushes refused, queue full */
    uint64_t evicted;   /* queued actions pushed out by higher-priority ones */
    uint64_t cancelled; /* removed with hvf_actionq_cancel */
    uint64_t popped;
    uint64_t rate_limited; /* pops that found only actions waiting for tokens */
    size_t peak_len;
} hvf_actionq_stats;

/* hvf_actionq_new: an empty queue; @max_len 0 = unbounded. Owned (hvf_actionq_free). */
hvf_actionq *hvf_actionq_new(size_t max_len);
void hvf_actionq_free(hvf_actionq *q);

/*
 * hvf_actionq_add_kind: declares a kind of action with its limits. Returns its id (0, 1, ...),
 * or -1 with HVF_ERR_INVALID (no or duplicate name, a negative rate, a limited kind with burst
 * 0, a negative cooldown, more than HVF_ACTIONQ_MAX_KINDS kinds).
 */
int32_t hvf_actionq_add_kind(hvf_actionq *q, const hvf_actionq_kind_opts *opts, hvf_error *err);
/* The id of kind @name, or -1. */
int32_t hvf_actionq_find_kind(const hvf_actionq *q, const char *name);
const char *hvf_actionq_kind_name(const hvf_actionq *q, int32_t kind);

/* A limit over all kinds on top of each kind's; @rate_per_s 0 lifts it. Returns 0 or -1
 * (HVF_ERR_INVALID) as hvf_actionq_add_kind. */
int hvf_actionq_set_global_limit(hvf_actionq *q, double rate_per_s, uint32_t burst, hvf_error *err)
    __attribute__((warn_unused_result));

/*
 * hvf_actionq_set_freeze: @is_frozen(@ctx) is asked on every pop; NULL removes the check.
 * @ctx is borrowed. hvf_actionq_set_freeze_owned: the same, and the queue frees @ctx with
 * @free_ctx (may be NULL) when the check is replaced or the queue is freed. The freeze switch's
 * check is hvf_actionq_set_freeze_dir (hvfleet/freeze.h): the queue knows no fleet.
 */
void hvf_actionq_set_freeze(hvf_actionq *q, bool (*is_frozen)(void *ctx), void *ctx);
void hvf_actionq_set_freeze_owned(hvf_actionq *q, bool (*is_frozen)(void *ctx), void *ctx,
                                  void (*free_ctx)(void *ctx));

/*
 * hvf_actionq_push: queues @a at @now_us (see the header comment for merging, cooldowns and
 * the bound). Aborts on a kind that was not declared or a key longer than HVF_ACTIONQ_MAX_KEY
 * (caller bugs).
 */
hvf_actionq_push_result hvf_actionq_push(hvf_actionq *q, const hvf_action *a, int64_t now_us);

/*
 * hvf_actionq_pop: the next action that may run at @now_us (highest priority among the kinds
 * that are not paused and have a token; the token is spent), or why none may. The key's
 * cooldown starts now.
 */
hvf_actionq_pop_result hvf_actionq_pop(hvf_actionq *q, int64_t now_us, hvf_actionq_item *out);

/*
 * hvf_actionq_next_ready_us: when a pop may next succeed by time alone: @now_us when one would
 * now, the earliest instant a token arrives for a queued, unpaused kind, or -1 (empty, all
 * paused, or frozen: only a push, a resume or an unfreeze can change it).
 */
int64_t hvf_actionq_next_ready_us(hvf_actionq *q, int64_t now_us);

/* Pause or resume kind @kind, or every kind when @kind is -1 (resuming all clears each kind's
 * own pause too). */
void hvf_actionq_pause(hvf_actionq *q, int32_t kind);
void hvf_actionq_resume(hvf_actionq *q, int32_t kind);
bool hvf_actionq_is_paused(const hvf_actionq *q, int32_t kind);

/* Removes the queued action with @key; false when none is queued. */
bool hvf_actionq_cancel(hvf_actionq *q, const char *key);
/* True when an action with @key is queued. */
bool hvf_actionq_contains(const hvf_actionq *q, const char *key);

size_t hvf_actionq_len(const hvf_actionq *q);
/* Queued actions of @kind. */
size_t hvf_actionq_kind_len(const hvf_actionq *q, int32_t kind);
void hvf_actionq_get_stats(const hvf_actionq *q, hvf_actionq_stats *out);
