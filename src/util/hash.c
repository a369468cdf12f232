/* SPDX-License-Identifier: MIT */
/* String -> index map, used to find hosts, VMs and services by name in O(1). */
#include <string.h>

#include "hvfleet/alloc.h"
#include "hvfleet/hash.h"

static uint32_t
hash_fnv1a(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

void
hvf_hash_init(hvf_hash *h)
{
    h->slots = NULL;
    h->cap = 0;
    h->count = 0;
}

void
hvf_hash_clear(hvf_hash *h)
{
    free(h->slots);
    hvf_hash_init(h);
}

static hvf_hash_slot *
hash_find(const hvf_hash_slot *slots, size_t cap, const char *key, uint32_t hv)
{
    size_t i = hv & (cap - 1);

    for (;;) {
        const hvf_hash_slot *s = &slots[i];
        if (!s->key || (s->hash == hv && strcmp(s->key, key) == 0))
            return (hvf_hash_slot *)s;
        i = (i + 1) & (cap - 1);
    }
}

static void
hash_resize(hvf_hash *h, size_t ncap)
{
    hvf_hash_slot *old = h->slots;
    size_t ocap = h->cap;

    h->slots = hvf_calloc(ncap, sizeof(*h->slots));
    h->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].key)
            *hash_find(h->slots, ncap, old[i].key, old[i].hash) = old[i];
    }
    free(old);
}

int32_t
hvf_hash_get(const hvf_hash *h, const char *key)
{
    const hvf_hash_slot *s;

    if (h->cap == 0)
        return -1;
    s = hash_find(h->slots, h->cap, key, hash_fnv1a(key));
    return s->key ? s->value : -1;
}

int
hvf_hash_put(hvf_hash *h, const char *key, int32_t value)
{
    uint32_t hv = hash_fnv1a(key);
    hvf_hash_slot *s;

    /* Keep the load under 1/2 so probes stay short. */
    if ((h->count + 1) * 2 > h->cap)
        hash_resize(h, h->cap ? h->cap * 2 : 16);
    s = hash_find(h->slots, h->cap, key, hv);
    if (s->key)
        return -1;
    s->key = key;
    s->hash = hv;
    s->value = value;
    h->count++;
    return 0;
}

void
hvf_hash_copy(hvf_hash *dst, const hvf_hash *src,
              const char *(*key_of)(const void *ctx, int32_t value), const void *ctx)
{
    hvf_hash_init(dst);
    if (src->cap == 0)
        return;
    /* written, not calloc'd and then probed: fresh pages are filled once, in order */
    dst->slots = hvf_malloc(src->cap * sizeof(*dst->slots));
    memcpy(dst->slots, src->slots, src->cap * sizeof(*dst->slots));
    dst->cap = src->cap;
    dst->count = src->count;
    for (size_t i = 0; i < dst->cap; i++) {
        if (dst->slots[i].key)
            dst->slots[i].key = key_of(ctx, dst->slots[i].value);
    }
}
