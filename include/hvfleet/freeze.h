/* SPDX-License-Identifier: MIT */
/*
 * The freeze switch: while the fleet is frozen every automated action refuses to start
 * (migrations already in flight finish). State lives in the store (hvfleet/store.h) of the
 * state directory (hvf_state_dir()), fleet-wide rather than per working directory.
 *
 * The check fails closed: a freeze file that cannot be read counts as frozen, because an
 * operator who froze the fleet must never see automation resume by accident.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hvfleet/actionq.h"
#include "hvfleet/error.h"

#define HVF_FREEZE_SCHEMA "hvfleet.freeze/v1"

/*
 * The state directory: @explicit_dir if not NULL or empty, else $HVFLEET_STATE_DIR if set and
 * not empty, else /var/lib/hvfleet for root, else $XDG_STATE_HOME/hvfleet (default
 * ~/.local/state/hvfleet). The returned string is @explicit_dir, the environment's, or a static
 * buffer (not thread-safe).
 */
const char *hvf_state_dir(const char *explicit_dir);

typedef struct hvf_store hvf_store;
/*
 * hvf_state_open: opens the store in @state_dir and imports, once, the files older hvfleet
 * kept there (freeze.json, approvals/HASH.json; renamed *.imported afterwards). Every user of
 * the state directory opens it through here. Returns an owned store or NULL with @err set.
 */
hvf_store *hvf_state_open(const char *state_dir, hvf_error *err);
/* Creates @dir (and missing parents) with mode 0700. Returns 0 or -1 with HVF_ERR_IO. */
int hvf_state_dir_ensure(const char *dir, hvf_error *err) __attribute__((warn_unused_result));

typedef struct hvf_freeze_info {
    bool frozen;
    bool unreadable; /* a freeze file exists but cannot be read: treated as frozen */
    char reason[256];
    char by[64];
    int64_t since_unix; /* seconds; 0 when unknown */
} hvf_freeze_info;

/* Freezes the fleet (again: the reason is replaced). Written atomically. */
int hvf_freeze_set(const char *state_dir, const char *reason, const char *by, hvf_error *err)
    __attribute__((warn_unused_result));
/* Lifts the freeze; not frozen is not an error. */
int hvf_freeze_clear(const char *state_dir, hvf_error *err) __attribute__((warn_unused_result));
/* Fills @out. Returns 0, or -1 with @err set when the file exists but cannot be read (then
 * @out->frozen and @out->unreadable are true). */
int hvf_freeze_status(const char *state_dir, hvf_freeze_info *out, hvf_error *err);
/* True when frozen or when the freeze state cannot be read. For every executor of actions. */
bool hvf_freeze_is_frozen(const char *state_dir);
/*
 * The executor's guard: returns 0 when @action may start, or -1 with HVF_ERR_CONFLICT and a
 * sentence naming @action, the reason and since when.
 */
int hvf_freeze_check(const char *state_dir, const char *action, hvf_error *err);

/*
 * hvf_actionq_set_freeze_dir: makes @q ask hvf_freeze_is_frozen(@state_dir) on every pop
 * (copied; NULL = hvf_state_dir's default, looked up at each pop), which fails closed: an
 * unreadable freeze file counts as frozen. Here rather than in hvfleet/actionq.h because the
 * queue is a util container the twin uses too (docs/internals/layers.md).
 */
void hvf_actionq_set_freeze_dir(hvf_actionq *q, const char *state_dir);
