/* SPDX-License-Identifier: MIT */
/*
 * The CLI as a client of hvfleetd: HTTP(S) requests with JSON bodies and answers (libcurl,
 * jansson), bearer tokens, bounded timeouts, TLS verified by default, and the daemon's errors
 * turned into the CLI's one-line messages and exit statuses (docs/daemon.md, "The CLI as a
 * client").
 *
 * Contract: one client per process, used by one thread. Every request is bounded: 5 s to
 * connect, 60 s in all (hvf_client_stream alone has no total bound: it follows the event feed
 * until the daemon closes it or the program is interrupted, but gives up when nothing, not even
 * the daemon's keepalive, arrives for 60 s).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/error.h"

/* What the global options and the environment say (main.c). */
typedef struct hvf_client_opts {
    const char *server;     /* --server URL, else $HVFLEET_SERVER; NULL = no daemon */
    const char *token_file; /* --token-file FILE; else $HVFLEET_TOKEN is the token */
    const char *cacert;     /* --cacert FILE, else $HVFLEET_CACERT; NULL = the system's CAs */
} hvf_client_opts;

typedef struct hvf_client hvf_client;

/*
 * hvf_client_new: a client for @o->server (http:// or https://, no path) with its token.
 * Returns it (free with hvf_client_free), or NULL with @err set: HVF_ERR_INVALID for a bad URL,
 * no token (the message names HVFLEET_TOKEN and --token-file) or an unreadable token file.
 */
hvf_client *hvf_client_new(const hvf_client_opts *o, hvf_error *err);
void hvf_client_free(hvf_client *c);
/* The server's URL as given, without a trailing '/'. Borrowed. */
const char *hvf_client_url(const hvf_client *c);

/*
 * hvf_client_request: @method @path (from "/v1/..."), with @body (may be NULL; not stolen) as
 * JSON. Returns the HTTP status with the answer parsed in *@answer (owned; NULL when the body
 * is empty or not JSON), or -1 with @err set (HVF_ERR_IO: the daemon cannot be reached or did
 * not answer in time; the message says which, with the URL).
 */
long hvf_client_request(hvf_client *c, const char *method, const char *path, const json_t *body,
                        json_t **answer, hvf_error *err);

/*
 * hvf_client_stream: GET @path as a stream (Server-Sent Events: util/sse.h reads them). @on_data
 * gets the bytes as they come; it returns false to stop. Returns the HTTP status when the stream
 * ends (an error answer's JSON in *@answer, owned, else NULL), or -1 with @err set.
 */
typedef bool (*hvf_client_data_fn)(const char *buf, size_t len, void *ctx);
long hvf_client_stream(hvf_client *c, const char *path, hvf_client_data_fn on_data, void *ctx,
                       json_t **answer, hvf_error *err);

/*
 * hvf_client_fail: prints the daemon's error answer (@status, @answer may be NULL) as
 * "hvfleet: @what: MESSAGE (HTTP N, field F)" on stderr and returns the exit status: 2 for bad
 * input (400, 401, 404, 405, 413, 414, 415, 422), 1 for the answer is no or the daemon failed
 * (403, 409, 429, 5xx, anything else).
 */
int hvf_client_fail(const char *what, long status, const json_t *answer);
/* The exit status alone, as hvf_client_fail gives it. */
int hvf_client_exit_status(long status);

/* True when @s is a plan hash (64 lowercase hex digits). */
bool hvf_client_is_plan_hash(const char *s);
