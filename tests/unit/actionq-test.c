/* SPDX-License-Identifier: MIT */
/*
 * The action queue: de-duplication by key, priority order, per-kind and global token buckets on
 * a virtual clock, pause/resume, the freeze switch (callback and freeze file), cooldowns, the
 * bound with eviction, cancel, and bad kind declarations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hvfleet/actionq.h"
#include "hvfleet/alloc.h"
#include "hvfleet/freeze.h"
#include "hvfleet/units.h"

#define S HVF_US_PER_S

static int32_t
t_kind(hvf_actionq *q, const char *name, double rate, uint32_t burst, int64_t cooldown,
       int32_t prio)
{
    hvf_actionq_kind_opts o = {name, rate, burst, cooldown, prio};
    hvf_error err = HVF_ERROR_INIT;
    int32_t k = hvf_actionq_add_kind(q, &o, &err);

    assert_true(k >= 0);
    return k;
}

static hvf_actionq_push_result
t_push(hvf_actionq *q, int32_t kind, int64_t target, int32_t prio, int64_t now)
{
    hvf_action a = {.kind = kind, .key = NULL, .priority = prio, .target = target, .arg = 0};

    return hvf_actionq_push(q, &a, now);
}

static void
test_dedupe(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t k = t_kind(q, "redeploy", 0, 0, 0, 1);
    hvf_actionq_item it;
    hvf_actionq_stats st;
    hvf_action a = {.kind = k, .key = "redeploy:vm7", .priority = INT32_MIN, .target = 7, .arg = 1};

    assert_int_equal(hvf_actionq_push(q, &a, 0), HVF_ACTIONQ_QUEUED);
    a.arg = 2;
    assert_int_equal(hvf_actionq_push(q, &a, 10), HVF_ACTIONQ_MERGED);
    assert_int_equal(hvf_actionq_push(q, &a, 20), HVF_ACTIONQ_MERGED);
    assert_int_equal(hvf_actionq_len(q), 1);
    assert_true(hvf_actionq_contains(q, "redeploy:vm7"));
    /* a NULL key defaults to KIND:TARGET */
    assert_int_equal(t_push(q, k, 7, INT32_MIN, 30), HVF_ACTIONQ_QUEUED);
    assert_true(hvf_actionq_contains(q, "redeploy:7"));
    assert_int_equal(hvf_actionq_len(q), 2);

    assert_int_equal(hvf_actionq_pop(q, 40, &it), HVF_ACTIONQ_READY);
    assert_string_equal(it.key, "redeploy:vm7");
    assert_int_equal(it.merged, 2);
    assert_int_equal(it.arg, 2); /* the newest facts */
    assert_int_equal(it.pushed_us, 0);
    assert_int_equal(it.priority, 1); /* the kind's default */
    /* once it ran, the key queues again (no cooldown on this kind) */
    assert_int_equal(hvf_actionq_push(q, &a, 50), HVF_ACTIONQ_QUEUED);
    hvf_actionq_get_stats(q, &st);
    assert_int_equal(st.pushed, 5);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.merged, 2);
    assert_int_equal(st.popped, 1);
    assert_int_equal(st.peak_len, 2);
    hvf_actionq_free(q);
}

static void
test_priority_order(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t up = t_kind(q, "upscale", 0, 0, 0, 1);
    int32_t re = t_kind(q, "restart", 0, 0, 0, 5);
    hvf_actionq_item it;
    int64_t order[6];
    const int64_t want[6] = {4, 2, 5, 1, 3, 6};
    hvf_action a = {.kind = up, .key = "upscale:1", .priority = 9, .target = 1};

    t_push(q, up, 1, INT32_MIN, 0); /* prio 1 */
    t_push(q, re, 2, INT32_MIN, 1); /* prio 5 */
    t_push(q, up, 3, INT32_MIN, 1); /* prio 1, later than 1 */
    t_push(q, re, 4, 7, 2);         /* prio 7 */
    t_push(q, re, 5, 5, 2);         /* prio 5, later than 2 */
    t_push(q, up, 6, 0, 2);         /* prio 0 */
    /* a merge may only raise the priority; 1 stays 1 */
    a.priority = 0;
    a.key = "upscale:1";
    assert_int_equal(hvf_actionq_push(q, &a, 3), HVF_ACTIONQ_MERGED);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(hvf_actionq_pop(q, 10, &it), HVF_ACTIONQ_READY);
        order[i] = it.target;
    }
    for (int i = 0; i < 6; i++)
        assert_int_equal(order[i], want[i]);
    assert_int_equal(hvf_actionq_pop(q, 10, &it), HVF_ACTIONQ_EMPTY);

    /* raising a queued action's priority by a merge moves it ahead */
    t_push(q, up, 10, INT32_MIN, 20);
    t_push(q, up, 11, INT32_MIN, 20);
    a.key = "upscale:11";
    a.target = 11;
    a.priority = 3;
    assert_int_equal(hvf_actionq_push(q, &a, 21), HVF_ACTIONQ_MERGED);
    assert_int_equal(hvf_actionq_pop(q, 22, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.target, 11);
    assert_int_equal(it.priority, 3);
    hvf_actionq_free(q);
}

static void
test_rate_limit(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t k = t_kind(q, "redeploy", 10.0 / 60.0, 2, 0, 1); /* 10 per minute, burst 2 */
    int32_t f = t_kind(q, "free", 0, 0, 0, 0);
    hvf_actionq_item it;
    hvf_actionq_stats st;
    int64_t now = 100 * S, t;
    int ran = 0;

    for (int i = 0; i < 30; i++)
        t_push(q, k, i, INT32_MIN, now);
    t_push(q, f, 99, INT32_MIN, now);
    /* the burst, then the unlimited kind though it ranks lower, then a wait */
    assert_int_equal(hvf_actionq_pop(q, now, &it), HVF_ACTIONQ_READY);
    assert_int_equal(hvf_actionq_pop(q, now, &it), HVF_ACTIONQ_READY);
    assert_int_equal(hvf_actionq_pop(q, now, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.target, 99);
    assert_int_equal(hvf_actionq_pop(q, now, &it), HVF_ACTIONQ_RATE_LIMITED);
    t = hvf_actionq_next_ready_us(q, now);
    assert_int_equal(t, now + 6 * S);
    assert_int_equal(hvf_actionq_pop(q, t - 1, &it), HVF_ACTIONQ_RATE_LIMITED);
    assert_int_equal(hvf_actionq_pop(q, t, &it), HVF_ACTIONQ_READY);
    ran = 4;
    /* follow the queue's own schedule for ten virtual minutes: 10 per minute */
    now = t;
    while (now < t + 600 * S) {
        int64_t next = hvf_actionq_next_ready_us(q, now);
        if (next < 0)
            break; /* all ran */
        assert_true(next >= now);
        /* never earlier than the rate allows */
        assert_true(next - now == 0 || next - now == 6 * S);
        now = next;
        if (now >= t + 600 * S)
            break;
        assert_int_equal(hvf_actionq_pop(q, now, &it), HVF_ACTIONQ_READY);
        ran++;
    }
    /* 3 at the start, one at t, then one every 6 s until all 30 (+1) ran */
    assert_int_equal(ran, 31);
    assert_int_equal(hvf_actionq_len(q), 0);
    assert_int_equal(hvf_actionq_next_ready_us(q, now), -1);
    hvf_actionq_get_stats(q, &st);
    assert_true(st.rate_limited >= 2);

    /* an idle bucket refills to its burst, no more */
    for (int i = 100; i < 105; i++)
        t_push(q, k, i, INT32_MIN, now + 3600 * S);
    assert_int_equal(hvf_actionq_pop(q, now + 3600 * S, &it), HVF_ACTIONQ_READY);
    assert_int_equal(hvf_actionq_pop(q, now + 3600 * S, &it), HVF_ACTIONQ_READY);
    assert_int_equal(hvf_actionq_pop(q, now + 3600 * S, &it), HVF_ACTIONQ_RATE_LIMITED);
    hvf_actionq_free(q);
}

static void
test_global_limit(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t a = t_kind(q, "a", 0, 0, 0, 1);
    int32_t b = t_kind(q, "b", 0, 0, 0, 1);
    hvf_error err = HVF_ERROR_INIT;
    hvf_actionq_item it;
    int n = 0;

    assert_int_equal(hvf_actionq_set_global_limit(q, 1.0, 1, &err), 0);
    for (int i = 0; i < 4; i++) {
        t_push(q, a, i, INT32_MIN, 0);
        t_push(q, b, i, INT32_MIN, 0);
    }
    for (int64_t now = 0; now < 5 * S; now += S / 2) {
        while (hvf_actionq_pop(q, now, &it) == HVF_ACTIONQ_READY)
            n++;
    }
    /* t = 0, 1, 2, 3, 4 s: one per second whatever the kind */
    assert_int_equal(n, 5);
    assert_int_equal(hvf_actionq_set_global_limit(q, -1, 1, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_actionq_free(q);
}

static void
test_pause_resume(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t re = t_kind(q, "redeploy", 0, 0, 0, 1);
    int32_t rs = t_kind(q, "restart", 0, 0, 0, 1);
    hvf_actionq_item it;

    hvf_actionq_pause(q, re);
    assert_true(hvf_actionq_is_paused(q, re));
    assert_false(hvf_actionq_is_paused(q, rs));
    t_push(q, re, 1, INT32_MIN, 0);
    t_push(q, re, 1, INT32_MIN, 1); /* still merges while paused */
    assert_int_equal(hvf_actionq_pop(q, 2, &it), HVF_ACTIONQ_PAUSED);
    assert_int_equal(hvf_actionq_next_ready_us(q, 2), -1);
    t_push(q, rs, 2, INT32_MIN, 3);
    assert_int_equal(hvf_actionq_pop(q, 4, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.kind, rs);
    hvf_actionq_resume(q, re);
    assert_int_equal(hvf_actionq_next_ready_us(q, 5), 5);
    assert_int_equal(hvf_actionq_pop(q, 5, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.merged, 1);

    /* pause all, then resuming all lifts per-kind pauses too */
    hvf_actionq_pause(q, rs);
    hvf_actionq_pause(q, -1);
    t_push(q, re, 3, INT32_MIN, 6);
    assert_true(hvf_actionq_is_paused(q, re));
    assert_int_equal(hvf_actionq_pop(q, 7, &it), HVF_ACTIONQ_PAUSED);
    hvf_actionq_resume(q, -1);
    assert_false(hvf_actionq_is_paused(q, rs));
    assert_int_equal(hvf_actionq_pop(q, 8, &it), HVF_ACTIONQ_READY);
    hvf_actionq_free(q);
}

static bool
t_frozen(void *ctx)
{
    return *(bool *)ctx;
}

static void
test_frozen(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t k = t_kind(q, "redeploy", 0, 0, 0, 1);
    hvf_actionq_item it;
    hvf_error err = HVF_ERROR_INIT;
    bool frozen = true;
    char dir[] = "/tmp/hvf-actionq-XXXXXX";

    hvf_actionq_set_freeze(q, t_frozen, &frozen);
    t_push(q, k, 1, INT32_MIN, 0);
    assert_int_equal(hvf_actionq_pop(q, 1, &it), HVF_ACTIONQ_FROZEN);
    assert_int_equal(hvf_actionq_next_ready_us(q, 1), -1);
    assert_int_equal(hvf_actionq_len(q), 1);
    frozen = false;
    assert_int_equal(hvf_actionq_pop(q, 2, &it), HVF_ACTIONQ_READY);

    /* the freeze file of the plan module */
    assert_non_null(mkdtemp(dir));
    hvf_actionq_set_freeze_dir(q, dir);
    t_push(q, k, 2, INT32_MIN, 3);
    assert_int_equal(hvf_actionq_pop(q, 4, &it), HVF_ACTIONQ_READY);
    assert_int_equal(hvf_freeze_set(dir, "seed 003: stop the storm", "test", &err), 0);
    t_push(q, k, 3, INT32_MIN, 5);
    assert_int_equal(hvf_actionq_pop(q, 6, &it), HVF_ACTIONQ_FROZEN);
    assert_int_equal(hvf_freeze_clear(dir, &err), 0);
    assert_int_equal(hvf_actionq_pop(q, 7, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.target, 3);
    hvf_actionq_set_freeze(q, NULL, NULL);
    {
        /* the freeze lives in the directory's store (hvfleet.db and its WAL files) */
        HVF_AUTOFREE char *rm = hvf_asprintf("rm -rf '%s'", dir);

        assert_int_equal(system(rm), 0);
    }
    hvf_actionq_free(q);
}

static void
test_cooldown(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t k = t_kind(q, "redeploy", 0, 0, 600 * S, 1);
    hvf_actionq_item it;
    hvf_actionq_stats st;

    t_push(q, k, 1, INT32_MIN, 0);
    assert_int_equal(hvf_actionq_pop(q, 10 * S, &it), HVF_ACTIONQ_READY);
    assert_int_equal(t_push(q, k, 1, INT32_MIN, 20 * S), HVF_ACTIONQ_COOLDOWN);
    assert_int_equal(t_push(q, k, 1, INT32_MIN, 609 * S), HVF_ACTIONQ_COOLDOWN);
    assert_int_equal(t_push(q, k, 2, INT32_MIN, 609 * S), HVF_ACTIONQ_QUEUED);
    assert_int_equal(t_push(q, k, 1, INT32_MIN, 610 * S), HVF_ACTIONQ_QUEUED);
    hvf_actionq_get_stats(q, &st);
    assert_int_equal(st.cooldown, 2);
    hvf_actionq_free(q);
}

static void
test_bound_and_cancel(void **state)
{
    hvf_actionq *q = hvf_actionq_new(3);
    int32_t k = t_kind(q, "x", 0, 0, 0, 1);
    hvf_actionq_item it;
    hvf_actionq_stats st;

    assert_int_equal(t_push(q, k, 1, 1, 0), HVF_ACTIONQ_QUEUED);
    assert_int_equal(t_push(q, k, 2, 2, 0), HVF_ACTIONQ_QUEUED);
    assert_int_equal(t_push(q, k, 3, 1, 1), HVF_ACTIONQ_QUEUED);
    /* full: same priority as the worst does not displace it */
    assert_int_equal(t_push(q, k, 4, 1, 2), HVF_ACTIONQ_FULL);
    /* a merge into a queued key is not a new action */
    assert_int_equal(t_push(q, k, 1, 1, 2), HVF_ACTIONQ_MERGED);
    /* higher priority evicts the worst: priority 1, the newest of those (3) */
    assert_int_equal(t_push(q, k, 5, 3, 3), HVF_ACTIONQ_QUEUED);
    assert_false(hvf_actionq_contains(q, "x:3"));
    assert_true(hvf_actionq_contains(q, "x:1"));
    assert_true(hvf_actionq_cancel(q, "x:2"));
    assert_false(hvf_actionq_cancel(q, "x:2"));
    assert_false(hvf_actionq_cancel(q, "nope"));
    assert_int_equal(hvf_actionq_len(q), 2);
    assert_int_equal(hvf_actionq_kind_len(q, k), 2);
    assert_int_equal(hvf_actionq_pop(q, 4, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.target, 5);
    assert_int_equal(hvf_actionq_pop(q, 4, &it), HVF_ACTIONQ_READY);
    assert_int_equal(it.target, 1);
    hvf_actionq_get_stats(q, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.cancelled, 1);
    assert_int_equal(st.peak_len, 3);
    hvf_actionq_free(q);
}

static void
test_bad_kinds(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    hvf_error err = HVF_ERROR_INIT;
    hvf_actionq_kind_opts o = {"a", 1, 0, 0, 0};
    char name[16];

    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), -1); /* burst 0 with a rate */
    assert_non_null(strstr(err.msg, "burst"));
    o.burst = 1;
    o.rate_per_s = -2;
    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), -1);
    o.rate_per_s = 1;
    o.cooldown_us = -1;
    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), -1);
    o.cooldown_us = 0;
    o.name = "";
    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), -1);
    o.name = "a";
    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), 0);
    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), -1);
    assert_non_null(strstr(err.msg, "twice"));
    assert_int_equal(hvf_actionq_find_kind(q, "a"), 0);
    assert_int_equal(hvf_actionq_find_kind(q, "b"), -1);
    assert_string_equal(hvf_actionq_kind_name(q, 0), "a");
    for (int i = 1; i < HVF_ACTIONQ_MAX_KINDS; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        o.name = name;
        assert_int_equal(hvf_actionq_add_kind(q, &o, &err), i);
    }
    o.name = "one-too-many";
    assert_int_equal(hvf_actionq_add_kind(q, &o, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    hvf_actionq_free(q);
}

/* A linear-scan model of the queue (no limits): what the heaps must agree with. */
typedef struct t_ref {
    int64_t target[64];
    int32_t prio[64];
    uint64_t seq[64];
    bool used[64];
} t_ref;

static int
t_ref_best(const t_ref *r)
{
    int best = -1;

    for (int i = 0; i < 64; i++) {
        if (!r->used[i])
            continue;
        if (best < 0 || r->prio[i] > r->prio[best] ||
            (r->prio[i] == r->prio[best] && r->seq[i] < r->seq[best]))
            best = i;
    }
    return best;
}

/* Random pushes (merging), cancels and pops, checked step by step against the model. */
static void
test_matches_reference(void **state)
{
    hvf_actionq *q = hvf_actionq_new(0);
    int32_t k = t_kind(q, "x", 0, 0, 0, 0);
    t_ref ref = {0};
    uint32_t x = 2024;
    uint64_t seq = 0;
    char key[32];

    for (int step = 0; step < 20000; step++) {
        int op, t;
        x = x * 1103515245u + 12345u;
        op = (int)((x >> 4) % 10);
        t = (int)((x >> 12) % 64);
        if (op < 5) {
            int32_t prio = (int32_t)((x >> 20) % 5);
            hvf_actionq_push_result pr = t_push(q, k, t, prio, step);
            assert_int_equal(pr, ref.used[t] ? HVF_ACTIONQ_MERGED : HVF_ACTIONQ_QUEUED);
            if (!ref.used[t]) {
                ref.used[t] = true;
                ref.prio[t] = prio;
                ref.seq[t] = seq++;
            } else if (prio > ref.prio[t]) {
                ref.prio[t] = prio;
            }
        } else if (op < 6) {
            snprintf(key, sizeof(key), "x:%d", t);
            assert_int_equal(hvf_actionq_cancel(q, key), ref.used[t]);
            ref.used[t] = false;
        } else {
            hvf_actionq_item it;
            int best = t_ref_best(&ref);
            hvf_actionq_pop_result r = hvf_actionq_pop(q, step, &it);
            if (best < 0) {
                assert_int_equal(r, HVF_ACTIONQ_EMPTY);
                continue;
            }
            assert_int_equal(r, HVF_ACTIONQ_READY);
            assert_int_equal(it.target, best);
            assert_int_equal(it.priority, ref.prio[best]);
            ref.used[best] = false;
        }
    }
    hvf_actionq_free(q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe),       cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_rate_limit),   cmocka_unit_test(test_global_limit),
        cmocka_unit_test(test_pause_resume), cmocka_unit_test(test_frozen),
        cmocka_unit_test(test_cooldown),     cmocka_unit_test(test_bound_and_cancel),
        cmocka_unit_test(test_bad_kinds),    cmocka_unit_test(test_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
