/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens and roles. A token is 256 random bits; the store keeps only its SHA-256, so a
 * copy of the database grants nothing. A presented token is hashed, looked up by that hash (the
 * lookup's timing tells of the hash only, which gives nothing without a preimage) and compared
 * with the entry found in constant time, so 10,000 agents' tokens cost one probe, not 10,000
 * compares. An unknown hash reloads the table from the store (at most once a second), so a token
 * made by `hvfleet token create` works without a restart.
 */
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/daemon.h"
#include "hvfleet/alloc.h"
#include "hvfleet/sha256.h"

const char *const hvfd_role_names[] = {"viewer", "operator", "approver", "agent", NULL};

/* One role, or several joined by ',' ("operator,approver"): the union of what they may. */
unsigned
hvfd_role_perms(const char *role)
{
    unsigned perms = 0;

    while (*role) {
        size_t n = strcspn(role, ",");

        if (n == 6 && strncmp(role, "viewer", n) == 0)
            perms |= HVFD_PERM_READ;
        else if (n == 8 && strncmp(role, "operator", n) == 0)
            perms |= HVFD_PERM_READ | HVFD_PERM_OPERATE;
        else if (n == 8 && strncmp(role, "approver", n) == 0)
            perms |= HVFD_PERM_READ | HVFD_PERM_APPROVE;
        else if (n == 5 && strncmp(role, "agent", n) == 0)
            perms |= HVFD_PERM_AGENT;
        role += n;
        if (*role == ',')
            role++;
    }
    return perms;
}

typedef struct hvfd_bucket {
    char name[64];
    double tokens;
    int64_t at_ms;
} hvfd_bucket;

/* Equal in time independent of where they differ. */
static bool
same_hash(const char *a, const char *b)
{
    unsigned char diff = 0;

    for (size_t i = 0; i < HVF_SHA256_HEX_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Looks @hex up; fills @who. Caller holds tok_lock. */
static bool
auth_find(hvfd *d, const char *hex, hvfd_ident *who)
{
    int32_t i = hvf_hash_get(&d->tok_index, hex);
    const hvf_store_token *t;

    if (i < 0)
        return false;
    t = &d->tokens[i];
    if (strlen(t->sha256) != HVF_SHA256_HEX_LEN || !same_hash(t->sha256, hex))
        return false;
    hvf_strlcpy(who->name, t->name, sizeof(who->name));
    hvf_strlcpy(who->role, t->role, sizeof(who->role));
    hvf_strlcpy(who->host, t->host, sizeof(who->host));
    who->perms = hvfd_role_perms(t->role);
    return true;
}

static void
auth_reload(hvfd *d)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_store *st = hvfd_store_get(d, &err);
    hvf_store_token *toks = NULL;
    long n;

    if (!st) {
        hvfd_log(HVFD_ERROR, err.msg, NULL);
        return;
    }
    n = hvf_store_tokens(st, &toks, &err);
    hvfd_store_put(d, st);
    if (n < 0) {
        hvfd_log(HVFD_ERROR, err.msg, NULL);
        return;
    }
    hvf_hash_clear(&d->tok_index);
    free(d->tokens);
    d->tokens = toks;
    d->ntokens = (size_t)n;
    for (long i = 0; i < n; i++)
        (void)hvf_hash_put(&d->tok_index, d->tokens[i].sha256, (int32_t)i);
    d->tokens_loaded_ms = hvfd_mono_ms();
}

/* Sets @who from the token's text @token. True when the token is known. */
static bool
auth_token_known(hvfd *d, const char *token, hvfd_ident *who)
{
    char hex[HVF_SHA256_HEX_LEN + 1];
    bool found;

    hvf_sha256_hex(token, strlen(token), hex);
    pthread_mutex_lock(&d->tok_lock);
    found = auth_find(d, hex, who);
    if (!found && hvfd_mono_ms() - d->tokens_loaded_ms >= 1000) {
        auth_reload(d);
        found = auth_find(d, hex, who);
    }
    pthread_mutex_unlock(&d->tok_lock);
    return found;
}

int
hvfd_auth(hvfd_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);

    if (!h)
        return hvfd_fail(r, 401, "Authorization",
                         "%s %s needs a token: expected 'Authorization: Bearer TOKEN' "
                         "(hvfleet token create)",
                         r->method, r->route->pattern) - 1;
    if (strncmp(h, "Bearer ", 7) != 0 || !h[7] || strlen(h + 7) > 256)
        return hvfd_fail(r, 401, "Authorization", "expected 'Bearer TOKEN'") - 1;
    if (!auth_token_known(r->d, h + 7, &r->who))
        return hvfd_fail(r, 401, "Authorization", "the token is not known (revoked, or a typo?)") -
               1;
    return 0;
}

int
hvfd_auth_browser(hvfd_req *r, const char *token)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);

    if (!token && h && strncmp(h, "Bearer ", 7) == 0)
        token = h + 7;
    if (!token)
        token = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, HVFD_TOKEN_COOKIE);
    if (!token || !token[0])
        return 0;
    if (strlen(token) > 256 || !auth_token_known(r->d, token, &r->who))
        return -1;
    return 1;
}

int
hvfd_rate_limit(hvfd_req *r)
{
    hvfd *d = r->d;
    hvfd_bucket *b = NULL;
    int64_t t = hvfd_mono_ms();
    int wait = 0;

    if (!r->who.name[0] || d->cfg.rate_per_s <= 0)
        return 0;
    pthread_mutex_lock(&d->tok_lock);
    {
        int32_t i = hvf_hash_get(&d->bucket_index, r->who.name);

        b = i < 0 ? NULL : d->buckets[i];
    }
    if (!b) {
        b = HVF_NEW(hvfd_bucket);
        hvf_grow(&d->buckets, &d->buckets_cap, d->nbuckets + 1, sizeof(*d->buckets));
        d->buckets[d->nbuckets] = b;
        hvf_strlcpy(b->name, r->who.name, sizeof(b->name));
        (void)hvf_hash_put(&d->bucket_index, b->name, (int32_t)d->nbuckets++);
        b->tokens = d->cfg.rate_burst;
        b->at_ms = t;
    }
    b->tokens += (double)(t - b->at_ms) / 1000.0 * d->cfg.rate_per_s;
    if (b->tokens > d->cfg.rate_burst)
        b->tokens = d->cfg.rate_burst;
    b->at_ms = t;
    if (b->tokens >= 1.0)
        b->tokens -= 1.0;
    else
        wait = (int)ceil((1.0 - b->tokens) / d->cfg.rate_per_s);
    pthread_mutex_unlock(&d->tok_lock);
    if (!wait)
        return 0;
    r->retry_after_s = wait < 1 ? 1 : wait;
    return hvfd_fail(r, 429, NULL,
                     "the token '%s' is over its %.0f requests a second (burst %.0f): retry "
                     "after %d s",
                     r->who.name, d->cfg.rate_per_s, d->cfg.rate_burst, r->retry_after_s) - 1;
}

void
hvfd_auth_clear(hvfd *d)
{
    hvf_hash_clear(&d->tok_index);
    free(d->tokens);
    d->tokens = NULL;
    d->ntokens = 0;
    hvf_hash_clear(&d->bucket_index);
    for (size_t i = 0; i < d->nbuckets; i++)
        free(d->buckets[i]);
    free(d->buckets);
    d->buckets = NULL;
    d->nbuckets = 0;
}
