/* SPDX-License-Identifier: MIT */
/* Placement filters and weighers over an ordered host index (class, free-memory bucket, index). */
#include <inttypes.h>

#include "hvfleet/alloc.h"
#include "hvfleet/placement.h"
#include "util/idset.h"

/* Best fit is judged in buckets of 1/32 of an octave of free memory (~2%). */
#define PLACE_FRAC_BITS 5
#define PLACE_NCLASS 3
#define PLACE_NO_KEY UINT64_MAX

static const char *const place_reject_names[] = {"state", "due",    "source", "memory",
                                                 "cpu",   "spread", "busy",   "pinned"};
static const char *const place_reject_text[] = {
    "not active, evacuating or in maintenance",
    "still to be maintained (the VM would move again)",
    "the VM's own host",
    "not enough memory after claims and headroom",
    "not enough vCPUs",
    "another replica of the service at the same spread level",
    "already receiving the maximum number of migrations",
    "not the VM's DRBD secondary, the only host with its disk",
};
_Static_assert(HVF_ARRAY_LEN(place_reject_names) == HVF_PLACE_REJECT_LAST, "reject names");
_Static_assert(HVF_ARRAY_LEN(place_reject_text) == HVF_PLACE_REJECT_LAST, "reject text");

static const char *const place_role_names[] = {"normal", "maintained", "due", "offline"};
_Static_assert(HVF_ARRAY_LEN(place_role_names) == HVF_PLACE_ROLE_LAST, "role names");

/* Weighing class of each role: lower is preferred; OFFLINE hosts are not indexed. */
static const int place_role_class[] = {1, 0, 2, -1};

const char *
hvf_place_reject_to_string(hvf_place_reject r)
{
    return (unsigned)r < HVF_PLACE_REJECT_LAST ? place_reject_names[r] : "unknown";
}

const char *
hvf_place_reject_describe(hvf_place_reject r)
{
    return (unsigned)r < HVF_PLACE_REJECT_LAST ? place_reject_text[r] : "unknown";
}

const char *
hvf_place_role_to_string(hvf_place_role r)
{
    return (unsigned)r < HVF_PLACE_ROLE_LAST ? place_role_names[r] : "unknown";
}

/* ---- replica counts per (service, spread domain): open addressing --------------------------- */

typedef struct place_slot {
    uint64_t key; /* 0 = empty; else (service + 1) << 32 | domain */
    uint32_t count;
} place_slot;

typedef struct place_replicas {
    place_slot *slots;
    size_t cap, used;
} place_replicas;

static inline uint64_t
place_mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static place_slot *
place_replicas_find(const place_replicas *r, uint64_t key)
{
    size_t i = (size_t)place_mix(key) & (r->cap - 1);

    while (r->slots[i].key != 0 && r->slots[i].key != key)
        i = (i + 1) & (r->cap - 1);
    return &r->slots[i];
}

static void
place_replicas_grow(place_replicas *r)
{
    place_slot *old = r->slots;
    size_t oldcap = r->cap;

    r->cap = oldcap ? oldcap * 2 : 64;
    r->slots = hvf_calloc(r->cap, sizeof(place_slot));
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key != 0)
            *place_replicas_find(r, old[i].key) = old[i];
    }
    free(old);
}

/* Slots whose count drops to 0 stay as tombstone-free zero entries: a key keeps its slot. */
static void
place_replicas_add(place_replicas *r, uint64_t key, int delta)
{
    place_slot *s;

    if ((r->used + 1) * 2 > r->cap)
        place_replicas_grow(r);
    s = place_replicas_find(r, key);
    if (s->key == 0) {
        s->key = key;
        r->used++;
    }
    if (delta < 0) {
        HVF_ASSERT(s->count > 0);
        s->count--;
    } else {
        s->count++;
    }
}

static uint32_t
place_replicas_get(const place_replicas *r, uint64_t key)
{
    return r->cap ? place_replicas_find(r, key)->count : 0;
}

/* ---- the placer ------------------------------------------------------------------------------ */

struct hvf_placer {
    const hvf_fleet *fleet; /* borrowed */
    uint64_t *headroom_mib; /* per host */
    hvf_resources *usable;  /* per host: fixed for a fleet, and costly to recompute */
    hvf_place_role *role;
    int32_t *busy_pos; /* per host: its place in busy[], -1 when not busy */
    int32_t *busy;     /* busy hosts, in no order */
    size_t nbusy;
    uint64_t *key; /* per host, PLACE_NO_KEY when not indexed */
    uint32_t nbuckets;
    hvf_idset index;
    uint32_t *rack_start; /* hosts of rack r: rack_hosts[rack_start[r] .. rack_start[r+1]) */
    uint32_t *rack_hosts;
    place_replicas replicas;
};

static uint32_t
place_bucket(uint64_t avail_mib, uint32_t nbuckets)
{
    uint32_t p, frac, b;

    if (avail_mib == 0)
        return 0;
    p = 63u - (uint32_t)__builtin_clzll(avail_mib);
    frac = p >= PLACE_FRAC_BITS ? (uint32_t)(avail_mib >> (p - PLACE_FRAC_BITS))
                                : (uint32_t)(avail_mib << (PLACE_FRAC_BITS - p));
    frac &= (1u << PLACE_FRAC_BITS) - 1;
    b = 1 + (p << PLACE_FRAC_BITS) + frac;
    return b < nbuckets ? b : nbuckets - 1;
}

/* hvf_host_free() with the usable capacity computed once. */
static inline hvf_resources
place_free(const hvf_placer *p, int32_t host)
{
    const hvf_host *h = &p->fleet->hosts[host];
    const hvf_resources *u = &p->usable[host];
    uint64_t mem = h->used.mem_mib + h->claimed.mem_mib;
    uint64_t cpu = (uint64_t)h->used.vcpus + h->claimed.vcpus;
    hvf_resources r;

    r.mem_mib = u->mem_mib > mem ? u->mem_mib - mem : 0;
    r.vcpus = u->vcpus > cpu ? (uint32_t)(u->vcpus - cpu) : 0;
    return r;
}

uint64_t
hvf_placer_avail_mib(const hvf_placer *p, int32_t host)
{
    hvf_resources fr = place_free(p, host);

    return fr.mem_mib > p->headroom_mib[host] ? fr.mem_mib - p->headroom_mib[host] : 0;
}

static uint64_t
place_key_of(const hvf_placer *p, int32_t h)
{
    const hvf_host *host = &p->fleet->hosts[h];
    int cls = place_role_class[p->role[h]];
    uint64_t b;

    if (cls < 0 || host->state != HVF_HOST_STATE_ACTIVE || p->busy_pos[h] >= 0)
        return PLACE_NO_KEY;
    b = place_bucket(hvf_placer_avail_mib(p, h), p->nbuckets);
    return ((uint64_t)cls * p->nbuckets + b) * p->fleet->nhosts + (uint64_t)h;
}

void
hvf_placer_host_changed(hvf_placer *p, int32_t h)
{
    uint64_t k = place_key_of(p, h);

    HVF_ASSERT(h >= 0 && (size_t)h < p->fleet->nhosts);
    if (k == p->key[h])
        return;
    if (p->key[h] != PLACE_NO_KEY)
        hvf_idset_remove(&p->index, p->key[h]);
    if (k != PLACE_NO_KEY)
        hvf_idset_add(&p->index, k);
    p->key[h] = k;
}

void
hvf_placer_set_role(hvf_placer *p, int32_t h, hvf_place_role role)
{
    HVF_ASSERT(h >= 0 && (size_t)h < p->fleet->nhosts && (unsigned)role < HVF_PLACE_ROLE_LAST);
    p->role[h] = role;
    hvf_placer_host_changed(p, h);
}

void
hvf_placer_set_busy(hvf_placer *p, int32_t h, bool busy)
{
    HVF_ASSERT(h >= 0 && (size_t)h < p->fleet->nhosts);
    if (busy == (p->busy_pos[h] >= 0))
        return;
    if (busy) {
        p->busy_pos[h] = (int32_t)p->nbusy;
        p->busy[p->nbusy++] = h;
    } else {
        int32_t last = p->busy[--p->nbusy];
        p->busy[p->busy_pos[h]] = last;
        p->busy_pos[last] = p->busy_pos[h];
        p->busy_pos[h] = -1;
    }
    hvf_placer_host_changed(p, h);
}

hvf_place_role
hvf_placer_get_role(const hvf_placer *p, int32_t h)
{
    return p->role[h];
}

static int32_t
place_domain(const hvf_fleet *f, int32_t service, int32_t h)
{
    switch (f->services[service].spread) {
    case HVF_SPREAD_RACK:
        return f->hosts[h].rack;
    case HVF_SPREAD_ZONE:
        return f->hosts[h].zone;
    default:
        return h;
    }
}

static uint64_t
place_replica_key(const hvf_fleet *f, int32_t service, int32_t h)
{
    return ((uint64_t)service + 1) << 32 | (uint32_t)place_domain(f, service, h);
}

void
hvf_placer_replica_add(hvf_placer *p, int32_t service, int32_t host)
{
    if (service >= 0)
        place_replicas_add(&p->replicas, place_replica_key(p->fleet, service, host), 1);
}

void
hvf_placer_replica_remove(hvf_placer *p, int32_t service, int32_t host)
{
    if (service >= 0)
        place_replicas_add(&p->replicas, place_replica_key(p->fleet, service, host), -1);
}

hvf_placer *
hvf_placer_new(const hvf_fleet *f, const hvf_policy *policy)
{
    hvf_placer *p = HVF_NEW(hvf_placer);
    hvf_policy defaults;
    uint64_t max_usable = 1;
    uint32_t pmax;

    if (!policy) {
        hvf_policy_default(&defaults);
        policy = &defaults;
    }
    p->fleet = f;
    p->headroom_mib = hvf_calloc(f->nhosts + 1, sizeof(uint64_t));
    p->role = hvf_calloc(f->nhosts + 1, sizeof(hvf_place_role));
    p->key = hvf_calloc(f->nhosts + 1, sizeof(uint64_t));
    p->busy = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
    p->busy_pos = hvf_calloc(f->nhosts + 1, sizeof(int32_t));
    p->usable = hvf_calloc(f->nhosts + 1, sizeof(hvf_resources));
    for (size_t h = 0; h < f->nhosts; h++) {
        uint64_t u;
        p->usable[h] = hvf_host_usable(&f->hosts[h]);
        u = p->usable[h].mem_mib;
        p->headroom_mib[h] = hvf_policy_headroom_mib(policy, u);
        p->role[h] = HVF_PLACE_ROLE_NORMAL;
        p->key[h] = PLACE_NO_KEY;
        p->busy_pos[h] = -1;
        if (u > max_usable)
            max_usable = u;
    }
    /* Buckets up to the largest host: no memory spent on sizes no host has. */
    pmax = 63u - (uint32_t)__builtin_clzll(max_usable);
    p->nbuckets = 1 + ((pmax + 1) << PLACE_FRAC_BITS);
    hvf_idset_init(&p->index, (uint64_t)PLACE_NCLASS * p->nbuckets * (f->nhosts ? f->nhosts : 1));
    for (size_t h = 0; h < f->nhosts; h++)
        hvf_placer_host_changed(p, (int32_t)h);

    p->rack_start = hvf_calloc(f->nracks + 2, sizeof(uint32_t));
    p->rack_hosts = hvf_calloc(f->nhosts + 1, sizeof(uint32_t));
    for (size_t h = 0; h < f->nhosts; h++)
        p->rack_start[f->hosts[h].rack + 1]++;
    for (size_t r = 0; r < f->nracks; r++)
        p->rack_start[r + 1] += p->rack_start[r];
    {
        HVF_AUTOFREE uint32_t *fill = hvf_calloc(f->nracks + 1, sizeof(uint32_t));
        for (size_t h = 0; h < f->nhosts; h++) {
            int32_t r = f->hosts[h].rack;
            p->rack_hosts[p->rack_start[r] + fill[r]++] = (uint32_t)h;
        }
    }
    for (size_t v = 0; v < f->nvms; v++)
        hvf_placer_replica_add(p, f->vms[v].service, f->vms[v].host);
    return p;
}

void
hvf_placer_free(hvf_placer *p)
{
    if (!p)
        return;
    hvf_idset_free(&p->index);
    free(p->headroom_mib);
    free(p->usable);
    free(p->busy);
    free(p->busy_pos);
    free(p->role);
    free(p->key);
    free(p->rack_start);
    free(p->rack_hosts);
    free(p->replicas.slots);
    free(p);
}

/* The first filter @h fails when its role is @role, or -1 when it passes them all. */
static int
place_filter_as(const hvf_placer *p, const hvf_place_request *req, int32_t h, hvf_place_role role)
{
    const hvf_fleet *f = p->fleet;
    const hvf_host *host = &f->hosts[h];
    hvf_resources fr;

    if (host->state != HVF_HOST_STATE_ACTIVE || role == HVF_PLACE_ROLE_OFFLINE)
        return HVF_PLACE_REJECT_STATE;
    if (role == HVF_PLACE_ROLE_DUE && !req->allow_due)
        return HVF_PLACE_REJECT_DUE;
    if (h == req->source)
        return HVF_PLACE_REJECT_SOURCE;
    if (req->pinned && h != req->pin_host)
        return HVF_PLACE_REJECT_PINNED;
    fr = place_free(p, h);
    if ((fr.mem_mib > p->headroom_mib[h] ? fr.mem_mib - p->headroom_mib[h] : 0) < req->need.mem_mib)
        return HVF_PLACE_REJECT_MEMORY;
    if (fr.vcpus < req->need.vcpus)
        return HVF_PLACE_REJECT_CPU;
    if (req->service >= 0) {
        uint32_t n = place_replicas_get(&p->replicas, place_replica_key(f, req->service, h));
        /* The VM's own replica on its source does not stop it moving within that domain. */
        if (n > 0 && req->source >= 0 &&
            place_domain(f, req->service, req->source) == place_domain(f, req->service, h))
            n--;
        if (n > 0)
            return HVF_PLACE_REJECT_SPREAD;
    }
    if (p->busy_pos[h] >= 0 ||
        (req->max_inflight && req->inflight && req->inflight[h] >= req->max_inflight))
        return HVF_PLACE_REJECT_BUSY;
    return -1;
}

static int
place_filter(const hvf_placer *p, const hvf_place_request *req, int32_t h)
{
    return place_filter_as(p, req, h, p->role[h]);
}

bool
hvf_placer_busy_fits(const hvf_placer *p, const hvf_place_request *req)
{
    for (size_t i = 0; i < p->nbusy; i++) {
        if (place_filter(p, req, p->busy[i]) == HVF_PLACE_REJECT_BUSY)
            return true;
    }
    return false;
}

int
hvf_placer_check(const hvf_placer *p, const hvf_place_request *req, int32_t host)
{
    HVF_ASSERT(host >= 0 && (size_t)host < p->fleet->nhosts);
    return place_filter_as(p, req, host, HVF_PLACE_ROLE_NORMAL);
}

typedef struct place_pick {
    int32_t host; /* -1 = none */
    uint64_t bucket;
    uint32_t inflight;
} place_pick;

static inline uint32_t
place_inflight(const hvf_place_request *req, int32_t h)
{
    return req->inflight ? req->inflight[h] : 0;
}

/* Best passing host of the source rack per class, by (bucket, in flight, index). */
static void
place_rack_best(const hvf_placer *p, const hvf_place_request *req, place_pick best[PLACE_NCLASS])
{
    const hvf_fleet *f = p->fleet;
    int32_t rack;

    for (int c = 0; c < PLACE_NCLASS; c++)
        best[c].host = -1;
    if (req->source < 0)
        return;
    rack = f->hosts[req->source].rack;
    for (uint32_t i = p->rack_start[rack]; i < p->rack_start[rack + 1]; i++) {
        int32_t h = (int32_t)p->rack_hosts[i];
        uint64_t k = p->key[h];
        place_pick *b;
        uint64_t cls, bucket;
        uint32_t inf;

        if (k == PLACE_NO_KEY || place_filter(p, req, h) >= 0)
            continue;
        cls = k / f->nhosts / p->nbuckets;
        bucket = k / f->nhosts % p->nbuckets;
        inf = place_inflight(req, h);
        b = &best[cls];
        if (b->host < 0 || bucket < b->bucket || (bucket == b->bucket && inf < b->inflight))
            *b = (place_pick){h, bucket, inf};
    }
}

/* Walks class @cls of the index from the VM's bucket upwards; see the header for the order. */
static int32_t
place_scan_class(const hvf_placer *p, const hvf_place_request *req, int cls,
                 const place_pick *rack_best, hvf_place_result *res, bool count)
{
    const uint64_t n = p->fleet->nhosts;
    uint64_t pos = ((uint64_t)cls * p->nbuckets + place_bucket(req->need.mem_mib, p->nbuckets)) * n;
    const uint64_t end = ((uint64_t)cls + 1) * p->nbuckets * n;
    uint64_t cur_bucket = UINT64_MAX;
    place_pick best = {-1, 0, 0};

    while ((pos = hvf_idset_next(&p->index, pos)) != HVF_IDSET_NONE && pos < end) {
        int32_t h = (int32_t)(pos % n);
        uint64_t bucket = pos / n % p->nbuckets;
        int why;

        if (bucket != cur_bucket) {
            if (best.host >= 0)
                break; /* the best bucket had a passing host: later buckets fit worse */
            cur_bucket = bucket;
            /* Within a bucket the VM's own rack wins; its best host was found beforehand. */
            if (rack_best->host >= 0 && rack_best->bucket == bucket)
                return rack_best->host;
        }
        res->examined++;
        why = place_filter(p, req, h);
        pos++;
        if (why >= 0) {
            if (count)
                res->rejected[why]++;
            continue;
        }
        if (place_inflight(req, h) == 0)
            return h; /* nothing in flight and the lowest index of its bucket: cannot be beaten */
        if (best.host < 0 || place_inflight(req, h) < best.inflight)
            best = (place_pick){h, bucket, place_inflight(req, h)};
    }
    return best.host;
}

int32_t
hvf_placer_choose(hvf_placer *p, const hvf_place_request *req, hvf_place_result *res)
{
    const hvf_fleet *f = p->fleet;
    place_pick rack_best[PLACE_NCLASS];
    int nclass = req->allow_due ? 3 : 2;

    memset(res, 0, sizeof(*res));
    res->host = -1;
    if (req->explain) {
        for (size_t h = 0; h < f->nhosts; h++) {
            int why = place_filter(p, req, (int32_t)h);
            if (why >= 0)
                res->rejected[why]++;
            else
                res->candidates++;
        }
    }
    if (req->pinned) {
        /* One host to look at: no walk over an index that would reject all the others. */
        int32_t h = req->pin_host;
        int why =
            h >= 0 && (size_t)h < f->nhosts ? place_filter(p, req, h) : HVF_PLACE_REJECT_STATE;
        if (!req->explain) {
            res->examined = 1;
            if (why >= 0)
                res->rejected[why]++;
        } else {
            res->examined = (uint32_t)f->nhosts;
        }
        if (why < 0) {
            res->host = h;
            res->role = p->role[h];
        }
        return res->host;
    }
    place_rack_best(p, req, rack_best);
    for (int c = 0; c < nclass && res->host < 0; c++)
        res->host = place_scan_class(p, req, c, &rack_best[c], res, !req->explain);
    if (req->explain)
        res->examined = (uint32_t)f->nhosts;
    if (res->host >= 0)
        res->role = p->role[res->host];
    return res->host;
}
