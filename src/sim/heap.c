/* SPDX-License-Identifier: MIT */
/*
 * The twin's event queue: a binary min-heap on (time, priority class, insertion sequence), and
 * a run of events pushed in that order (sim-priv.h). The sequence makes the order total, so two
 * runs pop events in exactly the same order.
 */
#include "hvfleet/alloc.h"
#include "sim/sim-priv.h"

void
sim_heap_init(sim_heap *h)
{
    h->ev = NULL;
    h->n = h->cap = 0;
    h->run = NULL;
    h->run_head = h->run_n = h->run_cap = 0;
    h->seq = 0;
}

void
sim_heap_clear(sim_heap *h)
{
    free(h->ev);
    free(h->run);
    sim_heap_init(h);
}

static inline bool
heap_less(const sim_event *a, const sim_event *b)
{
    if (a->t_us != b->t_us)
        return a->t_us < b->t_us;
    return a->order < b->order;
}

/* Appends @e, not earlier than the run's last event, to the run. */
static void
heap_run_append(sim_heap *h, const sim_event *e)
{
    if (h->run_head == h->run_n) {
        h->run_head = h->run_n = 0;
    } else if (h->run_n == h->run_cap && h->run_head >= h->run_cap / 2) {
        /* the consumed half makes room: no growth for a run that keeps moving */
        memmove(h->run, h->run + h->run_head, (h->run_n - h->run_head) * sizeof(sim_event));
        h->run_n -= h->run_head;
        h->run_head = 0;
    }
    hvf_grow(&h->run, &h->run_cap, h->run_n + 1, sizeof(sim_event));
    h->run[h->run_n++] = *e;
}

void
sim_heap_push(sim_heap *h, int64_t t_us, sim_class cls, sim_kind kind, int32_t obj, uint32_t ver,
              int64_t tag)
{
    sim_event e;
    size_t i;

    /* 56 bits of sequence is 7e16 events: never reached. */
    e.t_us = t_us;
    e.order = ((uint64_t)cls << 56) | (h->seq++ & ((1ULL << 56) - 1));
    e.tag = tag;
    e.obj = obj;
    e.ver = ver;
    e.kind = (uint32_t)kind;
    if (h->run_head == h->run_n || !heap_less(&e, &h->run[h->run_n - 1])) {
        heap_run_append(h, &e);
        return;
    }
    hvf_grow(&h->ev, &h->cap, h->n + 1, sizeof(sim_event));
    i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&e, &h->ev[parent]))
            break;
        h->ev[i] = h->ev[parent];
        i = parent;
    }
    h->ev[i] = e;
}

/* True when the run's head comes before the heap's top (or the heap is empty). */
static bool
heap_run_first(const sim_heap *h)
{
    return h->run_head < h->run_n && (h->n == 0 || heap_less(&h->run[h->run_head], &h->ev[0]));
}

const sim_event *
sim_heap_peek(const sim_heap *h)
{
    if (heap_run_first(h))
        return &h->run[h->run_head];
    return h->n > 0 ? &h->ev[0] : NULL;
}

bool
sim_heap_pop(sim_heap *h, sim_event *out)
{
    sim_event last;
    size_t i = 0;

    if (heap_run_first(h)) {
        *out = h->run[h->run_head++];
        return true;
    }
    if (h->n == 0)
        return false;
    *out = h->ev[0];
    last = h->ev[--h->n];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_less(&h->ev[c + 1], &h->ev[c]))
            c++;
        if (!heap_less(&h->ev[c], &last))
            break;
        h->ev[i] = h->ev[c];
        i = c;
    }
    if (h->n > 0)
        h->ev[i] = last;
    return true;
}
