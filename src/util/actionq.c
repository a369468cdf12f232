/* SPDX-License-Identifier: MIT */
/*
 * The action queue (include/hvfleet/actionq.h): per-kind binary heaps of pooled actions, a key
 * table for de-duplication and cooldowns, token buckets refilled on the caller's clock.
 *
 * Every key ever pushed has a record (owned string, the queued action if any, when it last
 * ran); the hash map borrows the record's string, so records are never freed before the queue.
 * An action knows its heap position, so merging (priority raised) and cancelling are O(log n).
 */
#include <inttypes.h>
#include <math.h>

#include "hvfleet/actionq.h"
#include "hvfleet/alloc.h"
#include "hvfleet/hash.h"

const char *const hvf_actionq_push_names[] = {"queued", "merged", "cooldown", "full", NULL};
const char *const hvf_actionq_pop_names[] = {"ready",  "empty",        "paused",
                                             "frozen", "rate_limited", NULL};
_Static_assert(HVF_ARRAY_LEN(hvf_actionq_push_names) == HVF_ACTIONQ_PUSH_LAST + 1, "names");
_Static_assert(HVF_ARRAY_LEN(hvf_actionq_pop_names) == HVF_ACTIONQ_POP_LAST + 1, "names");

/* Accept a bucket as holding a token this close to 1: refills are computed in floating point
 * and next_ready_us rounds up, so the instant it names must find the token there. */
#define AQ_TOKEN_EPS 1e-9

typedef struct aq_bucket {
    double rate_per_s; /* 0 = unlimited */
    double burst;
    double tokens;
    int64_t last_us;
    bool started;
} aq_bucket;

typedef struct aq_kind {
    char *name; /* owned */
    aq_bucket bucket;
    int64_t cooldown_us;
    int32_t priority;
    bool paused;
    int32_t *heap; /* owned: item indexes */
    size_t n, cap;
} aq_kind;

typedef struct aq_key {
    char *key;    /* owned */
    int32_t item; /* queued action, -1 */
    bool ran;
    int64_t last_run_us;
} aq_key;

typedef struct aq_item {
    int32_t rec; /* key record; -1 when the slot is free (then next_free links it) */
    int32_t kind;
    int32_t priority;
    int64_t target, arg;
    int64_t pushed_us;
    uint64_t seq;
    uint32_t merged;
    size_t pos; /* in its kind's heap */
    int32_t next_free;
} aq_item;

struct hvf_actionq {
    aq_kind kinds[HVF_ACTIONQ_MAX_KINDS];
    size_t nkinds;
    aq_bucket global;
    aq_key *keys;
    size_t nkeys, keys_cap;
    hvf_hash key_index;
    aq_item *items;
    size_t nitems, items_cap;
    int32_t free_item;
    size_t len, max_len;
    uint64_t seq;
    bool all_paused;
    bool (*is_frozen)(void *);
    void *frozen_ctx;
    void (*free_frozen_ctx)(void *); /* may be NULL: then frozen_ctx is borrowed */
    int64_t last_now_us;
    hvf_actionq_stats st;
};

hvf_actionq *
hvf_actionq_new(size_t max_len)
{
    hvf_actionq *q = HVF_NEW(hvf_actionq);

    hvf_hash_init(&q->key_index);
    q->free_item = -1;
    q->max_len = max_len;
    q->last_now_us = INT64_MIN;
    return q;
}

void
hvf_actionq_free(hvf_actionq *q)
{
    if (!q)
        return;
    for (size_t k = 0; k < q->nkinds; k++) {
        free(q->kinds[k].name);
        free(q->kinds[k].heap);
    }
    for (size_t i = 0; i < q->nkeys; i++)
        free(q->keys[i].key);
    hvf_hash_clear(&q->key_index);
    free(q->keys);
    free(q->items);
    if (q->free_frozen_ctx)
        q->free_frozen_ctx(q->frozen_ctx);
    free(q);
}

static int
aq_bucket_init(aq_bucket *b, double rate_per_s, uint32_t burst, const char *what, hvf_error *err)
{
    if (!(rate_per_s >= 0) || !isfinite(rate_per_s)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: rate %g: expected a rate of 0 or more", what,
                      rate_per_s);
        return -1;
    }
    if (rate_per_s > 0 && burst == 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: burst 0: expected at least 1 with a rate", what);
        return -1;
    }
    memset(b, 0, sizeof(*b));
    b->rate_per_s = rate_per_s;
    b->burst = burst;
    return 0;
}

int32_t
hvf_actionq_add_kind(hvf_actionq *q, const hvf_actionq_kind_opts *opts, hvf_error *err)
{
    aq_kind *k;

    if (!opts->name || !*opts->name) {
        hvf_error_set(err, HVF_ERR_INVALID, "action kind: expected a name");
        return -1;
    }
    if (hvf_actionq_find_kind(q, opts->name) >= 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "action kind '%s' is declared twice", opts->name);
        return -1;
    }
    if (q->nkinds >= HVF_ACTIONQ_MAX_KINDS) {
        hvf_error_set(err, HVF_ERR_INVALID, "action kind '%s': more than %d kinds", opts->name,
                      HVF_ACTIONQ_MAX_KINDS);
        return -1;
    }
    if (opts->cooldown_us < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "action kind '%s': expected a cooldown of 0 or more",
                      opts->name);
        return -1;
    }
    k = &q->kinds[q->nkinds];
    if (aq_bucket_init(&k->bucket, opts->rate_per_s, opts->burst, opts->name, err) < 0)
        return -1;
    k->name = hvf_strdup(opts->name);
    k->cooldown_us = opts->cooldown_us;
    k->priority = opts->priority;
    return (int32_t)q->nkinds++;
}

int32_t
hvf_actionq_find_kind(const hvf_actionq *q, const char *name)
{
    for (size_t k = 0; k < q->nkinds; k++) {
        if (strcmp(q->kinds[k].name, name) == 0)
            return (int32_t)k;
    }
    return -1;
}

const char *
hvf_actionq_kind_name(const hvf_actionq *q, int32_t kind)
{
    HVF_ASSERT(kind >= 0 && (size_t)kind < q->nkinds);
    return q->kinds[kind].name;
}

int
hvf_actionq_set_global_limit(hvf_actionq *q, double rate_per_s, uint32_t burst, hvf_error *err)
{
    return aq_bucket_init(&q->global, rate_per_s, burst, "global limit", err);
}

void
hvf_actionq_set_freeze_owned(hvf_actionq *q, bool (*is_frozen)(void *ctx), void *ctx,
                             void (*free_ctx)(void *ctx))
{
    if (q->free_frozen_ctx)
        q->free_frozen_ctx(q->frozen_ctx);
    q->is_frozen = is_frozen;
    q->frozen_ctx = ctx;
    q->free_frozen_ctx = free_ctx;
}

void
hvf_actionq_set_freeze(hvf_actionq *q, bool (*is_frozen)(void *ctx), void *ctx)
{
    hvf_actionq_set_freeze_owned(q, is_frozen, ctx, NULL);
}

/* ---- heaps ---- */

/* True when item @a runs before item @b. */
static bool
aq_before(const hvf_actionq *q, int32_t a, int32_t b)
{
    const aq_item *x = &q->items[a], *y = &q->items[b];

    if (x->priority != y->priority)
        return x->priority > y->priority;
    if (x->pushed_us != y->pushed_us)
        return x->pushed_us < y->pushed_us;
    return x->seq < y->seq;
}

static void
aq_heap_set(hvf_actionq *q, aq_kind *k, size_t pos, int32_t item)
{
    k->heap[pos] = item;
    q->items[item].pos = pos;
}

static void
aq_sift_up(hvf_actionq *q, aq_kind *k, size_t pos)
{
    int32_t it = k->heap[pos];

    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!aq_before(q, it, k->heap[parent]))
            break;
        aq_heap_set(q, k, pos, k->heap[parent]);
        pos = parent;
    }
    aq_heap_set(q, k, pos, it);
}

static void
aq_sift_down(hvf_actionq *q, aq_kind *k, size_t pos)
{
    int32_t it = k->heap[pos];

    for (;;) {
        size_t l = 2 * pos + 1, best = pos;
        int32_t best_it = it;
        if (l < k->n && aq_before(q, k->heap[l], best_it)) {
            best = l;
            best_it = k->heap[l];
        }
        if (l + 1 < k->n && aq_before(q, k->heap[l + 1], best_it)) {
            best = l + 1;
            best_it = k->heap[l + 1];
        }
        if (best == pos)
            break;
        aq_heap_set(q, k, pos, best_it);
        pos = best;
    }
    aq_heap_set(q, k, pos, it);
}

/* Takes item @it out of its heap and returns its slot to the pool. */
static void
aq_remove(hvf_actionq *q, int32_t it)
{
    aq_item *item = &q->items[it];
    aq_kind *k = &q->kinds[item->kind];
    size_t pos = item->pos;

    HVF_ASSERT(pos < k->n && k->heap[pos] == it);
    k->n--;
    if (pos < k->n) {
        int32_t moved = k->heap[k->n];
        /* the last action fills the hole: it may belong above or below it */
        aq_heap_set(q, k, pos, moved);
        aq_sift_down(q, k, pos);
        aq_sift_up(q, k, q->items[moved].pos);
    }
    q->keys[item->rec].item = -1;
    item->rec = -1;
    item->next_free = q->free_item;
    q->free_item = it;
    q->len--;
}

/* ---- keys ---- */

static int32_t
aq_key_record(hvf_actionq *q, const char *key)
{
    int32_t r = hvf_hash_get(&q->key_index, key);

    if (r >= 0)
        return r;
    hvf_grow(&q->keys, &q->keys_cap, q->nkeys + 1, sizeof(aq_key));
    r = (int32_t)q->nkeys++;
    q->keys[r].key = hvf_strdup(key);
    q->keys[r].item = -1;
    q->keys[r].ran = false;
    q->keys[r].last_run_us = 0;
    HVF_ASSERT(hvf_hash_put(&q->key_index, q->keys[r].key, r) == 0);
    return r;
}

/* The queued action that would be evicted first: lowest priority, then the newest. */
static int32_t
aq_worst(const hvf_actionq *q)
{
    int32_t worst = -1;

    for (size_t k = 0; k < q->nkinds; k++) {
        const aq_kind *kd = &q->kinds[k];
        for (size_t i = 0; i < kd->n; i++) {
            if (worst < 0 || aq_before(q, worst, kd->heap[i]))
                worst = kd->heap[i];
        }
    }
    return worst;
}

static void
aq_clock(hvf_actionq *q, int64_t now_us)
{
    HVF_ASSERT(q->last_now_us == INT64_MIN || now_us >= q->last_now_us);
    q->last_now_us = now_us;
}

hvf_actionq_push_result
hvf_actionq_push(hvf_actionq *q, const hvf_action *a, int64_t now_us)
{
    char keybuf[HVF_ACTIONQ_MAX_KEY + 1];
    const char *key = a->key;
    aq_kind *k;
    aq_key *rec;
    int32_t r, it;
    int32_t prio;

    HVF_ASSERT(a->kind >= 0 && (size_t)a->kind < q->nkinds);
    aq_clock(q, now_us);
    k = &q->kinds[a->kind];
    prio = a->priority == INT32_MIN ? k->priority : a->priority;
    if (!key) {
        snprintf(keybuf, sizeof(keybuf), "%s:%" PRId64, k->name, a->target);
        key = keybuf;
    }
    HVF_ASSERT(strlen(key) <= HVF_ACTIONQ_MAX_KEY);
    q->st.pushed++;
    r = aq_key_record(q, key);
    rec = &q->keys[r];
    if (rec->item >= 0) {
        aq_item *item = &q->items[rec->item];
        /* one queued action per key: it keeps its place in line, takes the newest facts and
         * the more urgent priority (its kind stays the first push's) */
        item->target = a->target;
        item->arg = a->arg;
        item->merged++;
        q->st.merged++;
        if (prio > item->priority) {
            item->priority = prio;
            aq_sift_up(q, &q->kinds[item->kind], item->pos);
        }
        return HVF_ACTIONQ_MERGED;
    }
    if (k->cooldown_us > 0 && rec->ran && now_us - rec->last_run_us < k->cooldown_us) {
        q->st.cooldown++;
        return HVF_ACTIONQ_COOLDOWN;
    }
    if (q->max_len > 0 && q->len >= q->max_len) {
        int32_t worst = aq_worst(q);
        /* the newcomer is the newest, so it only displaces a strictly lower priority */
        if (worst < 0 || q->items[worst].priority >= prio) {
            q->st.full++;
            return HVF_ACTIONQ_FULL;
        }
        aq_remove(q, worst);
        q->st.evicted++;
    }
    if (q->free_item >= 0) {
        it = q->free_item;
        q->free_item = q->items[it].next_free;
    } else {
        hvf_grow(&q->items, &q->items_cap, q->nitems + 1, sizeof(aq_item));
        it = (int32_t)q->nitems++;
    }
    q->items[it] = (aq_item){.rec = r,
                             .kind = a->kind,
                             .priority = prio,
                             .target = a->target,
                             .arg = a->arg,
                             .pushed_us = now_us,
                             .seq = q->seq++,
                             .next_free = -1};
    q->keys[r].item = it;
    hvf_grow(&k->heap, &k->cap, k->n + 1, sizeof(int32_t));
    k->n++;
    aq_heap_set(q, k, k->n - 1, it);
    aq_sift_up(q, k, k->n - 1);
    q->len++;
    q->st.queued++;
    if (q->len > q->st.peak_len)
        q->st.peak_len = q->len;
    return HVF_ACTIONQ_QUEUED;
}

/* ---- pacing ---- */

static void
aq_refill(aq_bucket *b, int64_t now_us)
{
    if (b->rate_per_s <= 0)
        return;
    if (!b->started) {
        b->started = true;
        b->tokens = b->burst;
        b->last_us = now_us;
        return;
    }
    if (now_us > b->last_us) {
        b->tokens = fmin(b->burst, b->tokens + (double)(now_us - b->last_us) * b->rate_per_s / 1e6);
        b->last_us = now_us;
    }
}

static bool
aq_has_token(const aq_bucket *b)
{
    return b->rate_per_s <= 0 || b->tokens >= 1.0 - AQ_TOKEN_EPS;
}

static void
aq_take(aq_bucket *b)
{
    if (b->rate_per_s > 0)
        b->tokens = fmax(0.0, b->tokens - 1.0);
}

/* The instant bucket @b holds a token again (after aq_refill at @now_us). */
static int64_t
aq_token_at(const aq_bucket *b, int64_t now_us)
{
    if (aq_has_token(b))
        return now_us;
    return now_us + (int64_t)ceil((1.0 - b->tokens) * 1e6 / b->rate_per_s);
}

static bool
aq_kind_runnable(const hvf_actionq *q, const aq_kind *k)
{
    return k->n > 0 && !k->paused && !q->all_paused;
}

static bool
aq_frozen(const hvf_actionq *q)
{
    return q->is_frozen && q->is_frozen(q->frozen_ctx);
}

hvf_actionq_pop_result
hvf_actionq_pop(hvf_actionq *q, int64_t now_us, hvf_actionq_item *out)
{
    int32_t best = -1;
    bool waiting = false;
    aq_item *item;
    aq_key *rec;

    aq_clock(q, now_us);
    if (q->len == 0)
        return HVF_ACTIONQ_EMPTY;
    if (aq_frozen(q))
        return HVF_ACTIONQ_FROZEN;
    aq_refill(&q->global, now_us);
    for (size_t k = 0; k < q->nkinds; k++) {
        aq_kind *kd = &q->kinds[k];
        if (!aq_kind_runnable(q, kd))
            continue;
        aq_refill(&kd->bucket, now_us);
        if (!aq_has_token(&kd->bucket) || !aq_has_token(&q->global)) {
            waiting = true;
            continue;
        }
        if (best < 0 || aq_before(q, kd->heap[0], best))
            best = kd->heap[0];
    }
    if (best < 0) {
        if (waiting) {
            q->st.rate_limited++;
            return HVF_ACTIONQ_RATE_LIMITED;
        }
        return HVF_ACTIONQ_PAUSED;
    }
    item = &q->items[best];
    aq_take(&q->kinds[item->kind].bucket);
    aq_take(&q->global);
    rec = &q->keys[item->rec];
    rec->ran = true;
    rec->last_run_us = now_us;
    *out = (hvf_actionq_item){.kind = item->kind,
                              .key = rec->key,
                              .priority = item->priority,
                              .target = item->target,
                              .arg = item->arg,
                              .pushed_us = item->pushed_us,
                              .merged = item->merged};
    aq_remove(q, best);
    q->st.popped++;
    return HVF_ACTIONQ_READY;
}

int64_t
hvf_actionq_next_ready_us(hvf_actionq *q, int64_t now_us)
{
    int64_t next = -1;

    aq_clock(q, now_us);
    if (q->len == 0 || aq_frozen(q))
        return -1;
    aq_refill(&q->global, now_us);
    for (size_t k = 0; k < q->nkinds; k++) {
        aq_kind *kd = &q->kinds[k];
        int64_t t;
        if (!aq_kind_runnable(q, kd))
            continue;
        aq_refill(&kd->bucket, now_us);
        t = aq_token_at(&kd->bucket, now_us);
        if (aq_token_at(&q->global, now_us) > t)
            t = aq_token_at(&q->global, now_us);
        if (next < 0 || t < next)
            next = t;
    }
    return next;
}

void
hvf_actionq_pause(hvf_actionq *q, int32_t kind)
{
    if (kind < 0) {
        q->all_paused = true;
        return;
    }
    HVF_ASSERT((size_t)kind < q->nkinds);
    q->kinds[kind].paused = true;
}

void
hvf_actionq_resume(hvf_actionq *q, int32_t kind)
{
    if (kind < 0) {
        q->all_paused = false;
        for (size_t k = 0; k < q->nkinds; k++)
            q->kinds[k].paused = false;
        return;
    }
    HVF_ASSERT((size_t)kind < q->nkinds);
    q->kinds[kind].paused = false;
}

bool
hvf_actionq_is_paused(const hvf_actionq *q, int32_t kind)
{
    if (kind < 0)
        return q->all_paused;
    HVF_ASSERT((size_t)kind < q->nkinds);
    return q->all_paused || q->kinds[kind].paused;
}

bool
hvf_actionq_cancel(hvf_actionq *q, const char *key)
{
    int32_t r = hvf_hash_get(&q->key_index, key);

    if (r < 0 || q->keys[r].item < 0)
        return false;
    aq_remove(q, q->keys[r].item);
    q->st.cancelled++;
    return true;
}

bool
hvf_actionq_contains(const hvf_actionq *q, const char *key)
{
    int32_t r = hvf_hash_get(&q->key_index, key);

    return r >= 0 && q->keys[r].item >= 0;
}

size_t
hvf_actionq_len(const hvf_actionq *q)
{
    return q->len;
}

size_t
hvf_actionq_kind_len(const hvf_actionq *q, int32_t kind)
{
    HVF_ASSERT(kind >= 0 && (size_t)kind < q->nkinds);
    return q->kinds[kind].n;
}

void
hvf_actionq_get_stats(const hvf_actionq *q, hvf_actionq_stats *out)
{
    *out = q->st;
}
