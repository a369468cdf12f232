/* SPDX-License-Identifier: MIT */
/* A string -> index map (open addressing, FNV-1a). Keys are borrowed, values are non-negative. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct hvf_hash_slot {
    const char *key; /* borrowed; NULL = empty */
    uint32_t hash;
    int32_t value;
} hvf_hash_slot;

typedef struct hvf_hash {
    hvf_hash_slot *slots;
    size_t cap; /* power of two */
    size_t count;
} hvf_hash;

void hvf_hash_init(hvf_hash *h);
void hvf_hash_clear(hvf_hash *h);
/* Returns the value stored for @key, or -1. */
int32_t hvf_hash_get(const hvf_hash *h, const char *key);
/* Inserts @key (borrowed: must outlive the map) -> @value. Returns -1 when @key exists already. */
int hvf_hash_put(hvf_hash *h, const char *key, int32_t value);
/*
 * Makes @dst (unused, or cleared) a copy of @src in which each key is key_of(@ctx, its value):
 * the same strings, owned by someone else (a copied fleet's names). The same lookups, without
 * hashing and placing every key again.
 */
void hvf_hash_copy(hvf_hash *dst, const hvf_hash *src,
                   const char *(*key_of)(const void *ctx, int32_t value), const void *ctx);
