/* SPDX-License-Identifier: MIT */
/*
 * The twin's event queue: a binary min-heap on (time, priority class, insertion sequence).
 * The sequence makes the order total, so two runs pop events in exactly the same order.
 */
#include "hvfleet/alloc.h"
#include "sim/sim-priv.h"

void
sim_heap_init(sim_heap *h)
{
    h->ev = NULL;
    h->n = h->cap = 0;
    h->seq = 0;
}

void
sim_heap_clear(sim_heap *h)
{
    free(h->ev);
    sim_heap_init(h);
}

static inline bool
heap_less(const sim_event *a, const sim_event *b)
{
    if (a->t_us != b->t_us)
        return a->t_us < b->t_us;
    return a->order < b->order;
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

bool
sim_heap_pop(sim_heap *h, sim_event *out)
{
    sim_event last;
    size_t i = 0;

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
