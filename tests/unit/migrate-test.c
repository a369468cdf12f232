/* SPDX-License-Identifier: MIT */
/* Live-migration model: hand-computed rounds, each strategy, the stepper, rejected inputs. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hvfleet/alloc.h"
#include "hvfleet/migrate.h"
#include "hvfleet/units.h"

#define GBIT (1e9 / 8)

static hvf_migrate_params
busy_params(void)
{
    hvf_migrate_params p;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 8 * HVF_GIB;
    p.dirty_bytes_per_s = 150.0 * HVF_MIB;
    p.bandwidth_bytes_per_s = 1 * GBIT;
    return p;
}

static hvf_migrate_result
estimate_ok(const hvf_migrate_params *p)
{
    hvf_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_migrate_estimate(p, &r, &err) != 0)
        fail_msg("estimate failed: %s", err.msg);
    return r;
}

static void
assert_close(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want))
        fail_msg("got %.6f, want %.6f (within %.3g %%)", got, want, rel * 100);
}

static void
test_strategy_names(void **state)
{
    for (int i = 0; i < HVF_MIGRATE_STRATEGY_LAST; i++)
        assert_int_equal(hvf_migrate_strategy_from_string(hvf_migrate_strategy_to_string(i)), i);
    assert_string_equal(hvf_migrate_strategy_to_string(HVF_MIGRATE_STRATEGY_POSTCOPY), "post-copy");
    assert_int_equal(hvf_migrate_strategy_from_string("postcopy-ish"), -1);
    assert_int_equal(hvf_migrate_strategy_from_string(""), -1);
    assert_int_equal(hvf_migrate_strategy_from_string(NULL), -1);
    assert_string_equal(hvf_migrate_strategy_to_string(HVF_MIGRATE_STRATEGY_LAST), "unknown");
    assert_string_equal(hvf_migrate_phase_to_string(HVF_MIGRATE_PHASE_STOP_COPY), "stop-copy");
}

static void
test_defaults(void **state)
{
    hvf_migrate_params p;

    hvf_migrate_params_default(&p);
    assert_int_equal(p.downtime_limit_us, 300 * HVF_US_PER_MS);
    assert_int_equal(p.throttle_initial_pct, 20);
    assert_int_equal(p.throttle_increment_pct, 10);
    assert_int_equal(p.throttle_max_pct, 99);
    assert_int_equal(p.throttle_trigger_pct, 50);
    assert_int_equal(p.strategy, HVF_MIGRATE_STRATEGY_PRECOPY);
    /* Nova: 800 s per GiB */
    p.mem_bytes = 8 * HVF_GIB;
    assert_int_equal(hvf_migrate_params_timeout_us(&p), 6400 * HVF_US_PER_S);
    p.timeout_us = 30 * 60 * HVF_US_PER_S;
    assert_int_equal(hvf_migrate_params_timeout_us(&p), 1800 * HVF_US_PER_S);
    /* 0 is no timeout, as in Nova and in scenarios */
    p.timeout_us = 0;
    assert_int_equal(hvf_migrate_params_timeout_us(&p), 0);
}

/*
 * Timeout 0 means none: a migration slower than Nova's 800 s per GiB still converges, at the
 * time the pass takes; one that can never converge ends with "never", not at some timeout.
 */
static void
test_no_timeout(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result nova, none;
    hvf_error err = HVF_ERROR_INIT;

    (void)state;
    hvf_migrate_params_default(&p);
    p.mem_bytes = HVF_GIB;
    p.bandwidth_bytes_per_s = 1e6; /* the pass takes ~1074 s > 800 s */
    assert_int_equal(hvf_migrate_estimate(&p, &nova, &err), 0);
    assert_false(nova.converged);
    assert_int_equal(nova.total_us, 800 * HVF_US_PER_S);
    p.timeout_us = 0;
    assert_int_equal(hvf_migrate_estimate(&p, &none, &err), 0);
    assert_true(none.converged);
    assert_true(none.total_us > 800 * HVF_US_PER_S);
    /* the first pass at the cap, less the last slice QEMU sends uncapped while paused */
    assert_true(none.total_us >= (int64_t)((double)HVF_GIB / 1e6 * 1e6) - HVF_US_PER_S);
    assert_true(none.downtime_us > 0);

    /* dirtying faster than the link: never converges, and never ends */
    p.dirty_bytes_per_s = 2e6;
    assert_int_equal(hvf_migrate_estimate(&p, &none, &err), 0);
    assert_false(none.converged);
    assert_true(none.total_us == HVF_MIGRATE_NEVER);
    assert_int_equal(none.downtime_us, 0);
    assert_non_null(strstr(none.reason, "no timeout: it runs until cancelled"));
    assert_null(strstr(none.reason, "aborted"));
}

/*
 * An idle guest is one pass: zero pages cost nothing, the rest goes at the bandwidth, and what
 * is left when QEMU's check sees less than bandwidth x downtime-limit goes while paused.
 */
static void
test_idle(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;
    double nonzero = 16.0 * HVF_GIB * 0.75;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 16 * HVF_GIB;
    p.zero_fraction = 0.25;
    p.bandwidth_bytes_per_s = 10 * GBIT;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_PRECOPY);
    assert_in_range(r.rounds, 1, 2);
    assert_close((double)r.total_us, nonzero / p.bandwidth_bytes_per_s * 1e6 + 20000, 1e-4);
    assert_close((double)r.bytes_sent, nonzero, 1e-9);
    /* the final copy is below the threshold, so the pause is at most limit + switchover */
    assert_true(r.final_bytes < 10 * GBIT * 0.3);
    assert_in_range(r.downtime_us, 20000, 320000);
    assert_non_null(strstr(r.reason, "converged in round 1"));
}

/*
 * A busy guest, computed by hand. B = 1e8 B/s, limit 300 ms so the threshold T is 3e7 bytes,
 * QEMU checks every 100 ms; M = 1.005e9, D = 2e7 B/s, switchover 20 ms.
 *   pass 0: the check first sees < T at 9.8 s (9.7 s: 3.5e7 left). 2.5e7 left, 1.96e8 dirtied,
 *           of which the share 2.5e7 / M fell on pages still unsent: 1.911244e8 join.
 *   pass 1: 2.161244e8 pending; 11.6 s: 3.61244e7; 11.7 s: 2.61244e7 left + 3.8e7 dirtied.
 *   pass 2: 6.41244e7 pending; 12.1 s: 2.41244e7 left + 8e6 dirtied = 3.21244e7, not < T.
 *   pass 3: 12.2 s: 2.21244e7 left + 2e6 dirtied = 2.41244e7 < T: stop.
 *   stop-and-copy 2.41244e7 at 1e8 = 241.244 ms, + 20 ms. Total 12.461244 s, downtime
 *   261.244 ms, 4 rounds, sent 12.2 s x 1e8 + 2.41244e7 = 1.2441244e9.
 * (The textbook series would stop later, after d3 = 8e6: QEMU stops as soon as it fits.)
 */
static void
test_hand_series(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 1005000000;
    p.dirty_bytes_per_s = 2e7;
    p.bandwidth_bytes_per_s = 1e8;
    p.link_bytes_per_s = 1e8; /* the paused copy at the cap too, as computed above */
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.rounds, 4);
    assert_in_range(r.total_us, 12461244 - 3, 12461244 + 3);
    assert_in_range(r.downtime_us, 261244 - 3, 261244 + 3);
    assert_in_range(r.bytes_sent, 1244124378 - 10, 1244124378 + 10);
    assert_in_range(r.final_bytes, 24124378 - 10, 24124378 + 10);
}

/*
 * QEMU's pending estimate counts unscanned zero pages too. M = 1e9, half zero, B = 1e8, so
 * T = 3e7; the estimate is twice the non-zero bytes left, under T once they are under 1.5e7:
 * at the 4.9 s check, with 1e7 left (counting bytes alone would stop at 4.8 s with 2e7).
 * The paused copy at a 1e9 link takes 10 ms, + 20 ms switchover.
 */
static void
test_zero_pages_in_estimate(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 1000000000;
    p.zero_fraction = 0.5;
    p.bandwidth_bytes_per_s = 1e8;
    p.link_bytes_per_s = 1e9;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.rounds, 1);
    assert_in_range(r.final_bytes, 10000000 - 10, 10000000 + 10);
    assert_in_range(r.total_us, 4930000 - 3, 4930000 + 3);
    assert_in_range(r.downtime_us, 30000 - 3, 30000 + 3);
    assert_in_range(r.bytes_sent, 500000000 - 10, 500000000 + 10);
}

/* A guest smaller than bandwidth x downtime-limit: QEMU's first check stops it and copies all. */
static void
test_tiny_guest(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 100 * HVF_MIB;
    p.dirty_bytes_per_s = 50 * HVF_MIB;
    p.bandwidth_bytes_per_s = 10 * GBIT;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.rounds, 1);
    assert_int_equal(r.final_bytes, 100 * HVF_MIB);
    assert_int_equal(r.downtime_us, r.total_us);
}

/* 8 GiB dirtied at 150 MiB/s over 1 Gbit: pre-copy alone never gets there. */
static void
test_precopy_aborts(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_result r = estimate_ok(&p);

    assert_false(r.converged);
    assert_int_equal(r.total_us, 6400 * HVF_US_PER_S);
    assert_int_equal(r.downtime_us, 0);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_PRECOPY);
    assert_true(r.rounds > 10);
    /* it kept the link busy the whole time */
    assert_close((double)r.bytes_sent, 6400 * GBIT, 0.01);
    assert_non_null(strstr(r.reason, "did not converge"));
    assert_non_null(strstr(r.reason, "dirty rate"));
    assert_non_null(strstr(r.reason, "timeout 1h 46m 40s"));

    p.timeout_us = 30 * 60 * HVF_US_PER_S;
    r = estimate_ok(&p);
    assert_false(r.converged);
    assert_int_equal(r.total_us, 1800 * HVF_US_PER_S);
}

static void
test_timeout_in_first_pass(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_result r;

    p.timeout_us = 10 * HVF_US_PER_S; /* the first pass needs ~69 s */
    r = estimate_ok(&p);
    assert_false(r.converged);
    assert_int_equal(r.rounds, 0);
    assert_int_equal(r.total_us, 10 * HVF_US_PER_S);
    assert_non_null(strstr(r.reason, "during the first pass"));
}

static void
test_auto_converge(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_result r;

    p.strategy = HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_AUTO_CONVERGE);
    /* 20 % leaves 125.8 MB/s of writes against 125 MB/s of link: it has to go further */
    assert_true(r.throttle_pct > 20);
    assert_true(r.throttle_pct <= 99);
    /* QEMU steps 20, 30, 40 ...: the schedule never leaves that grid */
    assert_int_equal(r.throttle_pct % 10, 0);
    assert_true(r.total_us < 6400 * HVF_US_PER_S);
    assert_non_null(strstr(r.reason, "auto-converge throttled the guest to"));

    /* an idle guest never trips the throttle, and so finishes as plain pre-copy */
    p.dirty_bytes_per_s = 0;
    r = estimate_ok(&p);
    assert_int_equal(r.throttle_pct, 0);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_PRECOPY);
}

/* Advances exactly to the next boundary, as a simulator with nothing else going on would. */
static void
step_to_boundary(hvf_migrate_state *s, double bw)
{
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_migrate_state_advance(s, hvf_migrate_state_next_us(s, bw), bw, &err), 1);
}

/*
 * QEMU's schedule, sync by sync: M = 1e9, B = 1e8, D = 2e8, so every pass is longer than the
 * 1 s evaluation period and dirties more than 50 % of what it sent. The throttle starts at 20 %
 * on the second such period and adds 10 % every second period after that.
 */
static void
test_throttle_schedule(void **state)
{
    static const uint32_t want[] = {0, 20, 20, 30, 30, 40, 40, 50};
    hvf_migrate_params p;
    hvf_migrate_state s;
    hvf_error err = HVF_ERROR_INIT;
    uint32_t seen = 0;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 1000000000;
    p.bandwidth_bytes_per_s = 1e8;
    p.dirty_bytes_per_s = 2e8;
    p.strategy = HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
    while (seen < sizeof(want) / sizeof(want[0]) && !hvf_migrate_state_done(&s)) {
        hvf_migrate_result r;

        step_to_boundary(&s, 1e8);
        hvf_migrate_state_result(&s, &r);
        if (r.rounds > seen) {
            assert_int_equal(r.rounds, seen + 1);
            assert_int_equal(r.throttle_pct, want[seen]);
            seen = r.rounds;
        }
    }
    assert_int_equal(seen, sizeof(want) / sizeof(want[0]));

    /*
     * Near the end QEMU re-syncs every 100 ms slice (a 35 MB working set against a 30 MB
     * threshold), but still evaluates the throttle at most once a second: two raises are
     * always more than 2 s apart.
     */
    p.working_set_bytes = 35000000;
    assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
    {
        uint32_t last_pct = 0;
        int64_t last_raise = -10 * HVF_US_PER_S;
        int raises = 0;

        while (!hvf_migrate_state_done(&s)) {
            step_to_boundary(&s, 1e8);
            if (s.throttle_pct != last_pct) {
                assert_true(s.now_us - last_raise > 2 * HVF_US_PER_S);
                last_raise = s.now_us;
                last_pct = s.throttle_pct;
                raises++;
            }
        }
        assert_true(raises >= 3);
        assert_true(s.syncs > 50);
        assert_int_equal(hvf_migrate_state_phase(&s), HVF_MIGRATE_PHASE_DONE);
    }
}

/* Below throttle-trigger-threshold the throttle never starts; a lower trigger starts it. */
static void
test_throttle_trigger(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 16 * HVF_GIB;
    p.bandwidth_bytes_per_s = 1e8;
    p.dirty_bytes_per_s = 3e7; /* ~30 % of what is sent in each period */
    p.strategy = HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.throttle_pct, 0);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_PRECOPY);
    p.throttle_trigger_pct = 20;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_true(r.throttle_pct >= 20);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_AUTO_CONVERGE);
}

/*
 * max-bandwidth caps the live passes even when the network offers more; QEMU lifts it for the
 * final copy, which then runs at the link speed.
 */
static void
test_cap_and_link(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_state s;
    hvf_migrate_result capped, fast, stepped;
    hvf_error err = HVF_ERROR_INIT;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 4 * HVF_GIB;
    p.dirty_bytes_per_s = 20.0 * HVF_MIB;
    p.bandwidth_bytes_per_s = 1 * GBIT;
    p.link_bytes_per_s = 1 * GBIT;
    capped = estimate_ok(&p);
    p.link_bytes_per_s = 10 * GBIT;
    fast = estimate_ok(&p);
    assert_true(capped.converged);
    assert_true(fast.converged);
    /* the live passes are the same, at the cap; only the paused copy is faster */
    assert_int_equal(fast.rounds, capped.rounds);
    assert_int_equal(fast.final_bytes, capped.final_bytes);
    assert_close((double)(fast.downtime_us - p.switchover_us),
                 (double)(capped.downtime_us - p.switchover_us) / 10, 0.01);
    /* the first pass alone takes M / cap; at 10 Gbit it would take a tenth of that */
    assert_true((double)fast.total_us >= 4.0 * HVF_GIB / GBIT * 1e6);

    /* the stepper given 10 Gbit by the network does the same */
    assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
    while (!hvf_migrate_state_done(&s))
        assert_int_equal(hvf_migrate_state_advance(&s, HVF_US_PER_S, 10 * GBIT, &err), 1);
    hvf_migrate_state_result(&s, &stepped);
    assert_int_equal(stepped.rounds, fast.rounds);
    assert_close((double)stepped.total_us, (double)fast.total_us, 0.001);
    assert_close((double)stepped.downtime_us, (double)fast.downtime_us, 0.001);
}

/*
 * Without a link speed the paused copy is not held to the cap either: QEMU lifts max-bandwidth
 * when it stops the guest, so what is left goes at 10 Gbit/s (or at the cap when that is
 * higher). A 256 MiB idle guest at 125 MB/s: the live pass ends at the first 100 ms check that
 * sees less than B x Td left; the rest is copied in a fraction of Td, not in about Td, which
 * made the estimate 5-12 % long for small guests against QEMU (bench/README.md).
 */
static void
test_final_copy_uncapped(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;
    double link;
    double live_us;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 256 * HVF_MIB;
    p.bandwidth_bytes_per_s = 125e6;
    link = hvf_migrate_params_link_bytes_per_s(&p);
    assert_true(link > p.bandwidth_bytes_per_s);
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_true(r.final_bytes > 0);
    assert_true((double)r.final_bytes < p.bandwidth_bytes_per_s * 0.3);
    /* live: everything but the final bytes at the cap, ending on a 100 ms check */
    live_us = (double)(p.mem_bytes - r.final_bytes) / p.bandwidth_bytes_per_s * 1e6;
    assert_close(live_us, ceil(live_us / HVF_MIGRATE_SLICE_US) * HVF_MIGRATE_SLICE_US, 1e-6);
    /* paused: the final bytes at the link speed, not at the cap */
    assert_close((double)(r.downtime_us - p.switchover_us), (double)r.final_bytes / link * 1e6,
                 1e-3);
    assert_true((double)(r.downtime_us - p.switchover_us) <
                (double)r.final_bytes / p.bandwidth_bytes_per_s * 1e6 / 5);
    assert_close((double)r.total_us, live_us + (double)r.downtime_us, 1e-4);

    /* a cap above the default is never slowed down for the paused copy */
    p.mem_bytes = 16 * HVF_GIB;
    p.bandwidth_bytes_per_s = 4e9;
    assert_close(hvf_migrate_params_link_bytes_per_s(&p), 4e9, 1e-12);
    r = estimate_ok(&p);
    assert_close((double)(r.downtime_us - p.switchover_us), (double)r.final_bytes / 4e9 * 1e6,
                 1e-3);
    /* a link speed that is given wins */
    p.link_bytes_per_s = 5e9;
    assert_close(hvf_migrate_params_link_bytes_per_s(&p), 5e9, 1e-12);
}

/*
 * Post-copy switches at the first sync: 8 GiB at 1.25e8 B/s crosses T = 3.75e7 at 68.42 s, so
 * the check at 68.5 s finds 27434592 bytes of the first pass left and the whole working set
 * (2 GiB) dirtied. The guest pauses for the switchover only, then those pages are pulled.
 */
static void
test_postcopy(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_result r;
    double left = 8.0 * HVF_GIB - 68.5 * GBIT;
    /* the working set, less its share among the first pass's unsent pages, counted once */
    double pulled = left + 2.0 * HVF_GIB * (1.0 - left / (8.0 * HVF_GIB));

    p.strategy = HVF_MIGRATE_STRATEGY_POSTCOPY;
    p.working_set_bytes = 2 * HVF_GIB;
    p.link_bytes_per_s = 1 * GBIT; /* pages pulled over a 1 Gbit link */
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.finished_by, HVF_MIGRATE_STRATEGY_POSTCOPY);
    assert_int_equal(r.rounds, 1);
    assert_int_equal(r.downtime_us, p.switchover_us);
    assert_close((double)r.final_bytes, pulled, 1e-9);
    assert_close((double)r.total_us, 68.5e6 + 20000 + pulled / GBIT * 1e6, 1e-6);
    assert_close((double)r.postcopy_us, pulled / GBIT * 1e6, 1e-6);
    /* about (M + W) / B: bounded, whatever the dirty rate */
    assert_close((double)r.total_us / 1e6, 10.0 * HVF_GIB / GBIT, 0.01);
    assert_non_null(strstr(r.reason, "post-copy after round 1"));

    /* with no working-set limit the full memory is dirty again: ~2 M / B, still bounded */
    p.working_set_bytes = 0;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_close((double)r.total_us / 1e6, 16.0 * HVF_GIB / GBIT, 0.01);
}

/* A bigger downtime limit lets QEMU stop sooner: fewer rounds, a longer pause. */
static void
test_downtime_limit(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result small, big;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 16 * HVF_GIB;
    p.dirty_bytes_per_s = 600.0 * HVF_MIB;
    p.bandwidth_bytes_per_s = 10 * GBIT;
    p.downtime_limit_us = 30 * HVF_US_PER_MS;
    small = estimate_ok(&p);
    p.downtime_limit_us = 2 * HVF_US_PER_S;
    big = estimate_ok(&p);
    assert_true(small.converged);
    assert_true(big.converged);
    assert_true(big.rounds < small.rounds);
    assert_true(big.downtime_us > small.downtime_us);
    assert_true(big.total_us < small.total_us);

    /* a zero limit completes only with nothing left: an idle guest can, a busy one cannot */
    p.downtime_limit_us = 0;
    assert_false(estimate_ok(&p).converged);
    p.dirty_bytes_per_s = 0;
    big = estimate_ok(&p);
    assert_true(big.converged);
    assert_int_equal(big.final_bytes, 0);
    assert_int_equal(big.downtime_us, p.switchover_us);
}

/*
 * The working set caps what each round re-sends: a 16 MiB hot buffer rewritten at 2 GB/s
 * over 1 Gbit converges (it fits in bandwidth x downtime-limit); the same rate over all of
 * memory does not.
 */
static void
test_working_set(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_result r;
    double first_pass = (double)p.mem_bytes;

    p.dirty_bytes_per_s = 2e9;
    p.working_set_bytes = 16 * HVF_MIB;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_true(r.bytes_sent <= first_pass + (double)r.rounds * 16.0 * HVF_MIB);
    /* the last copy is the hot buffer plus the tail of the first pass: under the threshold */
    assert_true(r.final_bytes >= 16 * HVF_MIB);
    assert_true(r.final_bytes < GBIT * 0.3);

    /* 1 GiB: every pass after the first re-sends at most that */
    p.dirty_bytes_per_s = 40.0 * HVF_MIB;
    p.working_set_bytes = 1 * HVF_GIB;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_true(r.rounds >= 2);
    assert_true(r.bytes_sent <= first_pass + (double)r.rounds * HVF_GIB);

    p.dirty_bytes_per_s = 2e9;
    p.working_set_bytes = 0;
    assert_false(estimate_ok(&p).converged);
}

/* Runs the stepper in pieces of @dt_us (ignoring boundaries), at @bw_at(t). */
static hvf_migrate_result
drive(const hvf_migrate_params *p, int64_t dt_us, double (*bw_at)(int64_t now_us))
{
    hvf_migrate_state s;
    hvf_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_migrate_state_init(&s, p, &err), 0);
    for (int n = 0; n < 10000000 && !hvf_migrate_state_done(&s); n++)
        assert_int_equal(hvf_migrate_state_advance(&s, dt_us, bw_at(s.now_us), &err), 1);
    assert_true(hvf_migrate_state_done(&s));
    hvf_migrate_state_result(&s, &r);
    return r;
}

static double
half_gbit(int64_t now_us)
{
    return 0.5 * GBIT;
}

/* Halving the flow's share for the whole run is the estimate at half the bandwidth. */
static void
test_stepper_half_bandwidth(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_result want, got;

    p.dirty_bytes_per_s = 30.0 * HVF_MIB;
    p.strategy = HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    p.bandwidth_bytes_per_s = 0.5 * GBIT;
    p.link_bytes_per_s = 0.5 * GBIT;
    want = estimate_ok(&p);
    p.link_bytes_per_s = 0;
    p.bandwidth_bytes_per_s = 1 * GBIT; /* the cap, above what the network now grants */
    got = drive(&p, 37 * HVF_US_PER_MS, half_gbit);
    assert_true(want.converged);
    assert_true(got.converged);
    assert_int_equal(got.rounds, want.rounds);
    assert_int_equal(got.throttle_pct, want.throttle_pct);
    assert_close((double)got.total_us, (double)want.total_us, 0.001);
    assert_close((double)got.downtime_us, (double)want.downtime_us, 0.001);
    assert_close((double)got.bytes_sent, (double)want.bytes_sent, 0.001);
}

static double
gbit_then_half(int64_t now_us)
{
    return now_us < 20 * HVF_US_PER_S ? 1 * GBIT : 0.5 * GBIT;
}

/* An idle guest whose share halves at 20 s: 2.5e9 bytes by then, the rest at 6.25e7 B/s. */
static void
test_stepper_bandwidth_change(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;
    double rest = 8.0 * HVF_GIB - 20 * GBIT;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 8 * HVF_GIB;
    p.bandwidth_bytes_per_s = 10 * GBIT;
    r = drive(&p, 10 * HVF_US_PER_MS, gbit_then_half);
    assert_true(r.converged);
    assert_close((double)r.total_us, 20e6 + rest / (0.5 * GBIT) * 1e6 + 20000, 0.001);
    assert_close((double)r.bytes_sent, 8.0 * HVF_GIB, 1e-9);
}

/* Any split of the same run gives the same answer: one boundary per call, 1 ms, 1 s, 1 h. */
static void
test_stepper_split(void **state)
{
    static const int64_t steps[] = {1000, 250000, HVF_US_PER_S, 3600 * HVF_US_PER_S};
    hvf_migrate_params p = busy_params();
    hvf_migrate_result want, got;

    p.strategy = HVF_MIGRATE_STRATEGY_AUTO_CONVERGE;
    want = estimate_ok(&p);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        hvf_migrate_state s;
        hvf_error err = HVF_ERROR_INIT;

        assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
        while (!hvf_migrate_state_done(&s))
            assert_int_equal(hvf_migrate_state_advance(&s, steps[i], GBIT, &err), 1);
        hvf_migrate_state_result(&s, &got);
        assert_int_equal(got.converged, want.converged);
        assert_int_equal(got.rounds, want.rounds);
        assert_int_equal(got.throttle_pct, want.throttle_pct);
        assert_close((double)got.total_us, (double)want.total_us, 0.001);
        assert_close((double)got.bytes_sent, (double)want.bytes_sent, 0.001);
    }
}

static void
test_stepper_contract(void **state)
{
    hvf_migrate_params p = busy_params();
    hvf_migrate_state s;
    hvf_migrate_result r;
    hvf_error err = HVF_ERROR_INIT;
    int64_t next;

    assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
    assert_int_equal(hvf_migrate_state_phase(&s), HVF_MIGRATE_PHASE_LIVE);
    assert_float_equal(hvf_migrate_state_demand_bytes_per_s(&s), GBIT, 1e-6);
    assert_int_equal(hvf_migrate_state_next_us(&s, -1), -1);
    assert_int_equal(hvf_migrate_state_next_us(&s, NAN), -1);
    assert_int_equal(hvf_migrate_state_advance(&s, -5, GBIT, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_int_equal(hvf_migrate_state_advance(&s, 5, INFINITY, &err), -1);
    assert_int_equal(s.now_us, 0);

    /* a stalled flow still times out */
    assert_int_equal(hvf_migrate_state_next_us(&s, 0), 6400 * HVF_US_PER_S);
    /* the first boundary: the check after the first pass crosses the threshold */
    next = hvf_migrate_state_next_us(&s, GBIT);
    assert_int_equal(next, 68500000);
    /* stopping short of it changes no phase and no round count */
    assert_int_equal(hvf_migrate_state_advance(&s, next - 1, GBIT, &err), 1);
    assert_int_equal(hvf_migrate_state_phase(&s), HVF_MIGRATE_PHASE_LIVE);
    hvf_migrate_state_result(&s, &r);
    assert_int_equal(r.rounds, 0);
    assert_non_null(strstr(r.reason, "in progress"));
    assert_int_equal(hvf_migrate_state_next_us(&s, GBIT), 1);
    assert_int_equal(hvf_migrate_state_advance(&s, 1, GBIT, &err), 1);
    hvf_migrate_state_result(&s, &r);
    assert_int_equal(r.rounds, 1);

    /* post-copy: paused (demand 0), then uncapped, then done */
    p.strategy = HVF_MIGRATE_STRATEGY_POSTCOPY;
    assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
    assert_int_equal(hvf_migrate_state_advance(&s, 68500000, GBIT, &err), 1);
    assert_int_equal(hvf_migrate_state_phase(&s), HVF_MIGRATE_PHASE_POSTCOPY_SWITCH);
    assert_true(hvf_migrate_state_paused(&s));
    assert_float_equal(hvf_migrate_state_demand_bytes_per_s(&s), 0, 0);
    assert_int_equal(hvf_migrate_state_next_us(&s, 0), p.switchover_us);
    assert_int_equal(hvf_migrate_state_advance(&s, p.switchover_us, 0, &err), 1);
    assert_int_equal(hvf_migrate_state_phase(&s), HVF_MIGRATE_PHASE_POSTCOPY);
    assert_false(hvf_migrate_state_paused(&s));
    assert_true(isinf(hvf_migrate_state_demand_bytes_per_s(&s)));
    assert_int_equal(hvf_migrate_state_next_us(&s, 0), HVF_MIGRATE_NEVER);
    assert_int_equal(hvf_migrate_state_advance(&s, 3600 * HVF_US_PER_S, GBIT, &err), 1);
    assert_true(hvf_migrate_state_done(&s));
    assert_int_equal(hvf_migrate_state_advance(&s, 1, GBIT, &err), 0);
    assert_int_equal(hvf_migrate_state_next_us(&s, GBIT), HVF_MIGRATE_NEVER);
    /* time stopped at the end, not at the end of the step */
    hvf_migrate_state_result(&s, &r);
    assert_true(r.total_us < 3600 * HVF_US_PER_S);
}

/* A working set just above the threshold re-dirtied faster than the link: QEMU re-syncs every
 * slice forever. The model stops re-checking after HVF_MIGRATE_MAX_SYNCS and runs out the clock. */
static void
test_sync_cap(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 1000000000;
    p.bandwidth_bytes_per_s = 1e8;
    p.dirty_bytes_per_s = 2e8;
    p.working_set_bytes = 35000000;
    p.timeout_us = 1000000 * HVF_US_PER_S;
    r = estimate_ok(&p);
    assert_false(r.converged);
    assert_int_equal(r.rounds, HVF_MIGRATE_MAX_SYNCS);
    assert_int_equal(r.total_us, p.timeout_us);
    assert_non_null(strstr(r.reason, "dirty syncs"));
}

/* Extreme but valid inputs end, and quickly. */
static void
test_extremes(void **state)
{
    hvf_migrate_params p;
    hvf_migrate_result r;

    hvf_migrate_params_default(&p);
    p.mem_bytes = 1024ULL * HVF_TIB;
    p.bandwidth_bytes_per_s = 1000;
    p.dirty_bytes_per_s = 1e300;
    r = estimate_ok(&p);
    assert_false(r.converged);
    assert_int_equal(r.rounds, 0);

    p.mem_bytes = 1;
    p.bandwidth_bytes_per_s = 1e15;
    p.downtime_limit_us = 2000 * HVF_US_PER_S;
    p.switchover_us = 0;
    r = estimate_ok(&p);
    assert_true(r.converged);
    assert_int_equal(r.bytes_sent, 1);
}

static void
expect_invalid(const hvf_migrate_params *p, hvf_migrate_field field, const char *name)
{
    hvf_migrate_result r;
    hvf_migrate_field bad = HVF_MIGRATE_FIELD_NONE;
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_migrate_params_validate(p, &bad, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
    assert_int_equal(bad, field);
    if (strncmp(err.msg, name, strlen(name)) != 0 || !strstr(err.msg, ": expected "))
        fail_msg("unexpected message: %s", err.msg);
    assert_null(strchr(err.msg, '\n'));
    hvf_error_clear(&err);
    assert_int_equal(hvf_migrate_estimate(p, &r, &err), -1);
    assert_int_equal(err.code, HVF_ERR_INVALID);
}

static void
test_rejects(void **state)
{
    hvf_migrate_params good = busy_params();
    hvf_migrate_params p;
    hvf_migrate_state s;
    hvf_error err = HVF_ERROR_INIT;
    static const double bad_bw[] = {0, -1, NAN, INFINITY, 999};
    static const double bad_zero[] = {-0.1, 1, 1.5, NAN};

    assert_int_equal(hvf_migrate_params_validate(&good, NULL, &err), 0);
    for (size_t i = 0; i < sizeof(bad_bw) / sizeof(bad_bw[0]); i++) {
        p = good;
        p.bandwidth_bytes_per_s = bad_bw[i];
        expect_invalid(&p, HVF_MIGRATE_FIELD_BANDWIDTH, "bandwidth_bytes_per_s");
    }
    for (size_t i = 0; i < sizeof(bad_zero) / sizeof(bad_zero[0]); i++) {
        p = good;
        p.zero_fraction = bad_zero[i];
        expect_invalid(&p, HVF_MIGRATE_FIELD_ZERO_FRACTION, "zero_fraction");
    }
    p = good;
    p.mem_bytes = 0;
    expect_invalid(&p, HVF_MIGRATE_FIELD_MEM, "mem_bytes 0");
    p = good;
    p.working_set_bytes = p.mem_bytes + 1;
    expect_invalid(&p, HVF_MIGRATE_FIELD_WORKING_SET, "working_set_bytes");
    p = good;
    p.dirty_bytes_per_s = NAN;
    expect_invalid(&p, HVF_MIGRATE_FIELD_DIRTY_RATE, "dirty_bytes_per_s");
    p = good;
    p.dirty_bytes_per_s = -1;
    expect_invalid(&p, HVF_MIGRATE_FIELD_DIRTY_RATE, "dirty_bytes_per_s");
    p = good;
    p.link_bytes_per_s = -1;
    expect_invalid(&p, HVF_MIGRATE_FIELD_LINK, "link_bytes_per_s");
    p = good;
    p.downtime_limit_us = -1;
    expect_invalid(&p, HVF_MIGRATE_FIELD_DOWNTIME_LIMIT, "downtime_limit_us");
    p = good;
    p.switchover_us = -1;
    expect_invalid(&p, HVF_MIGRATE_FIELD_SWITCHOVER, "switchover_us");
    p = good;
    p.timeout_us = -2; /* -1 is HVF_MIGRATE_TIMEOUT_NOVA */
    expect_invalid(&p, HVF_MIGRATE_FIELD_TIMEOUT, "timeout_us");
    p = good;
    p.strategy = HVF_MIGRATE_STRATEGY_LAST;
    expect_invalid(&p, HVF_MIGRATE_FIELD_STRATEGY, "strategy");
    p = good;
    p.throttle_max_pct = 100;
    expect_invalid(&p, HVF_MIGRATE_FIELD_THROTTLE, "throttle");

    /* the stepper refuses the same inputs */
    p = good;
    p.bandwidth_bytes_per_s = 0;
    assert_int_equal(hvf_migrate_state_init(&s, &p, &err), -1);
}

static void
assert_same_figures(const hvf_migrate_result *a, const hvf_migrate_result *b)
{
    assert_int_equal(a->total_us, b->total_us);
    assert_int_equal(a->downtime_us, b->downtime_us);
    assert_int_equal(a->postcopy_us, b->postcopy_us);
    assert_int_equal(a->rounds, b->rounds);
    assert_int_equal(a->bytes_sent, b->bytes_sent);
    assert_int_equal(a->final_bytes, b->final_bytes);
    assert_int_equal(a->converged, b->converged);
    assert_int_equal(a->finished_by, b->finished_by);
    assert_int_equal(a->throttle_pct, b->throttle_pct);
}

/* The figures without the sentence are those with it, for every way a migration ends and
 * midway; only the reason is left empty. */
static void
test_figures_without_reason(void **state)
{
    static const hvf_migrate_strategy strategies[] = {
        HVF_MIGRATE_STRATEGY_PRECOPY, HVF_MIGRATE_STRATEGY_AUTO_CONVERGE,
        HVF_MIGRATE_STRATEGY_POSTCOPY};
    static const double dirty_mib[] = {0, 20, 150, 400};
    hvf_error err = HVF_ERROR_INIT;

    for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
        for (size_t d = 0; d < sizeof(dirty_mib) / sizeof(dirty_mib[0]); d++) {
            hvf_migrate_params p = busy_params();
            hvf_migrate_result full, fig;
            hvf_migrate_state s;

            p.strategy = strategies[i];
            p.dirty_bytes_per_s = dirty_mib[d] * HVF_MIB;
            full = estimate_ok(&p);
            memset(&fig, 0x5a, sizeof(fig));
            assert_int_equal(hvf_migrate_estimate_figures(&p, &fig, &err), 0);
            assert_same_figures(&full, &fig);
            assert_string_equal(fig.reason, "");
            assert_true(full.reason[0] != '\0');

            /* midway through the stepper too */
            assert_int_equal(hvf_migrate_state_init(&s, &p, &err), 0);
            assert_true(hvf_migrate_state_advance(&s, 30 * HVF_US_PER_S, GBIT, &err) >= 0);
            hvf_migrate_state_result(&s, &full);
            memset(&fig, 0x5a, sizeof(fig));
            hvf_migrate_state_figures(&s, &fig);
            assert_same_figures(&full, &fig);
            assert_string_equal(fig.reason, "");
            assert_true(full.reason[0] != '\0');
        }
    }
    /* invalid parameters are refused the same way */
    {
        hvf_migrate_params p = busy_params();
        hvf_migrate_result fig;

        p.bandwidth_bytes_per_s = 0;
        assert_int_equal(hvf_migrate_estimate_figures(&p, &fig, &err), -1);
        assert_int_equal(err.code, HVF_ERR_INVALID);
    }
}

/*
 * The planner's question, "does it converge?", answered early: the same answer as the full
 * estimate over a grid around the edges (dirty rate near the link's rate, working sets near the
 * threshold, downtime limits 1 ms to 1 s, zero pages), pre-copy (the only one it cuts short) and
 * auto-converge.
 */
static void
test_converges_early(void **state)
{
    const double dirty_x[] = {0.2, 0.99, 1.0, 1.005, 1.01, 1.02, 4};
    const double ws_mib[] = {0, 16, 299, 300, 301, 1024};
    const int64_t downtime_ms[] = {1, 300, 1000};
    const double zero[] = {0, 0.5};
    size_t yes = 0, no = 0;

    for (size_t i = 0; i < 2 * 7 * 6 * 3 * 2; i++) {
        size_t a = i % 7, b = i / 7 % 6, c = i / 42 % 3, z = i / 126 % 2, k = i / 252;
        hvf_migrate_params p;
        hvf_migrate_result r;
        hvf_error err = HVF_ERROR_INIT;
        bool conv = false;

        hvf_migrate_params_default(&p);
        p.mem_bytes = 1 * HVF_GIB;
        p.bandwidth_bytes_per_s = 1 * GBIT;
        p.dirty_bytes_per_s = dirty_x[a] * p.bandwidth_bytes_per_s;
        p.working_set_bytes = (uint64_t)(ws_mib[b] * HVF_MIB);
        p.downtime_limit_us = downtime_ms[c] * HVF_US_PER_MS;
        p.zero_fraction = zero[z];
        p.strategy = k ? HVF_MIGRATE_STRATEGY_AUTO_CONVERGE : HVF_MIGRATE_STRATEGY_PRECOPY;
        /* a minute: hundreds of rounds for those that never converge, in a test's time */
        p.timeout_us = 60 * HVF_US_PER_S;
        if (k && (b != 5 || c != 2))
            continue; /* auto-converge runs the whole estimate: a few suffice */
        if (hvf_migrate_estimate_figures(&p, &r, &err) != 0)
            fail_msg("estimate failed: %s", err.msg);
        assert_int_equal(hvf_migrate_estimate_converges(&p, &conv, &err), 0);
        if (conv != r.converged)
            fail_msg("dirty %.3f x link, ws %.0f MiB, downtime %" PRId64
                     " ms, zero %.1f, %s: converges says %d, the estimate %d",
                     dirty_x[a], ws_mib[b], downtime_ms[c], zero[z],
                     hvf_migrate_strategy_to_string(p.strategy), conv, r.converged);
        if (conv)
            yes++;
        else
            no++;
    }
    /* both answers are in the grid */
    assert_true(yes > 20);
    assert_true(no > 20);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strategy_names),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_no_timeout),
        cmocka_unit_test(test_idle),
        cmocka_unit_test(test_hand_series),
        cmocka_unit_test(test_zero_pages_in_estimate),
        cmocka_unit_test(test_tiny_guest),
        cmocka_unit_test(test_precopy_aborts),
        cmocka_unit_test(test_timeout_in_first_pass),
        cmocka_unit_test(test_auto_converge),
        cmocka_unit_test(test_throttle_schedule),
        cmocka_unit_test(test_throttle_trigger),
        cmocka_unit_test(test_cap_and_link),
        cmocka_unit_test(test_final_copy_uncapped),
        cmocka_unit_test(test_postcopy),
        cmocka_unit_test(test_downtime_limit),
        cmocka_unit_test(test_working_set),
        cmocka_unit_test(test_stepper_half_bandwidth),
        cmocka_unit_test(test_stepper_bandwidth_change),
        cmocka_unit_test(test_stepper_split),
        cmocka_unit_test(test_stepper_contract),
        cmocka_unit_test(test_sync_cap),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_figures_without_reason),
        cmocka_unit_test(test_converges_early),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
