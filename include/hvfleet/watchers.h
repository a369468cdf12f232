/* SPDX-License-Identifier: MIT */
/*
 * The daemon's own watchers, read from hvfleetd.yaml: the peers it heartbeats, the webhooks its
 * alerts go to and its dead-man's switch (docs/ha.md). Only these keys are read (the rest of the
 * file is hvfleetd's: src/daemon/config.c checks it), so that `hvfleet audit --daemon-config`
 * can tell whether a watcher shares a fault domain with the fleet it watches (seed 002: the
 * monitoring ran on the hypervisor it watched) without the daemon's code.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/strbuf.h"

typedef enum hvf_watcher_kind {
    HVF_WATCHER_PEER,    /* peers: another hvfleetd watching this one */
    HVF_WATCHER_WEBHOOK, /* alert_webhooks: where alerts go */
    HVF_WATCHER_DEADMAN, /* deadman_url: what alerts when this hvfleetd goes silent */
    HVF_WATCHER_KIND_LAST
} hvf_watcher_kind;

/* The config keys, by kind: "peers", "alert_webhooks", "deadman_url". */
extern const char *const hvf_watcher_keys[];

typedef struct hvf_watcher {
    hvf_watcher_kind kind;
    char *url;  /* owned */
    char *host; /* owned: the URL's host, lower case, without port or brackets */
    int line;   /* in the file, 0 when unknown */
} hvf_watcher;

typedef struct hvf_watchers {
    hvf_watcher *v; /* owned */
    size_t n;
} hvf_watchers;

/* At most this many watchers are read (the daemon takes 15 webhooks; peers are few). */
#define HVF_WATCHERS_MAX 256

/*
 * hvf_watchers_parse: reads the watchers of the hvfleetd config @buf (@len bytes, YAML or JSON;
 * @name in messages) into @out (cleared first). Keys other than the three are ignored. Each
 * problem is a "NAME:LINE: KEY: 'VALUE': expected ..." line in @diags (may be NULL). Returns 0,
 * or -1 with @err set (HVF_ERR_INVALID: the first problem) and @out empty.
 */
int hvf_watchers_parse(const char *name, const char *buf, size_t len, hvf_watchers *out,
                       hvf_diags *diags, hvf_error *err) __attribute__((warn_unused_result));
/* The same, from the file @path. */
int hvf_watchers_load(const char *path, hvf_watchers *out, hvf_diags *diags, hvf_error *err)
    __attribute__((warn_unused_result));
void hvf_watchers_clear(hvf_watchers *w);

/*
 * hvf_watcher_url_host: the host of an http:// or https:// @url, lower case (user info, port,
 * path and IPv6 brackets removed) into @out (@size bytes). Returns false when @url is not such a
 * URL with a host (or the host does not fit).
 */
bool hvf_watcher_url_host(const char *url, char *out, size_t size);

/* The three keys as YAML (parse's inverse: parsing it gives the same watchers). */
void hvf_watchers_format(const hvf_watchers *w, hvf_strbuf *out);
