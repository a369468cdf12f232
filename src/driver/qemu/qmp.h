/* SPDX-License-Identifier: MIT */
/* QMP client: one connection to a QEMU monitor socket, synchronous commands, timeouts everywhere.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/error.h"

/*
 * QEMU writes one JSON object per line (unless started with pretty=on, which we never ask for).
 * Every read waits in poll() with a deadline, a line longer than max_line breaks the connection,
 * and any protocol violation (malformed JSON, an object that is no QMP message, a second
 * greeting) does too: after that every call fails at once with HVF_ERR_IO, because the stream
 * can no longer be trusted to line up replies with commands. A timeout does not break it: each
 * command carries an id, and a late reply to an earlier command is recognised and skipped.
 *
 * Errors: HVF_ERR_IO for the transport and the protocol (with "timed out" in the message for a
 * timeout), HVF_ERR_UNSUPPORTED when QEMU answers CommandNotFound, HVF_ERR_CONFLICT for any other
 * QMP error reply (the message carries QEMU's class and description).
 */

#define HVF_QMP_DEFAULT_TIMEOUT_MS 5000
/* query-qmp-schema, the largest reply QEMU sends, is about 200 KiB. */
#define HVF_QMP_DEFAULT_MAX_LINE (1024 * 1024)

typedef enum hvf_qmp_kind {
    HVF_QMP_MSG_GREETING, /* {"QMP": {"version": ..., "capabilities": [...]}} */
    HVF_QMP_MSG_RETURN,   /* {"return": VALUE, "id": ...} */
    HVF_QMP_MSG_ERROR,    /* {"error": {"class": ..., "desc": ...}, "id": ...} */
    HVF_QMP_MSG_EVENT,    /* {"event": NAME, "data": {...}, "timestamp": {...}} */
    HVF_QMP_MSG_LAST
} hvf_qmp_kind;

/* One parsed message. Everything but root is borrowed from root. */
typedef struct hvf_qmp_msg {
    hvf_qmp_kind kind;
    json_t *root;          /* owned */
    json_t *value;         /* greeting's "QMP", "return", event "data" (may be NULL), "error" */
    const char *id;        /* "id" when it is a string, else NULL */
    bool has_id;           /* an "id" member of any type is present */
    const char *event;     /* event name */
    const char *err_class; /* error class, e.g. "GenericError" */
    const char *err_desc;
} hvf_qmp_msg;

/*
 * hvf_qmp_parse: parses one message of @len bytes (no newline needed) into @out.
 * On success @out owns a reference (release with hvf_qmp_msg_clear). Returns 0, or -1 with
 * HVF_ERR_IO for malformed JSON or a JSON value that is no QMP message; @out is then empty.
 */
int hvf_qmp_parse(const char *data, size_t len, hvf_qmp_msg *out, hvf_error *err)
    __attribute__((warn_unused_result));
void hvf_qmp_msg_clear(hvf_qmp_msg *msg);
const char *hvf_qmp_kind_to_string(hvf_qmp_kind kind);

/* Called for each asynchronous event read while waiting for a reply; @data may be NULL. */
typedef void (*hvf_qmp_event_fn)(const char *event, json_t *data, void *opaque);

typedef struct hvf_qmp_opts {
    int timeout_ms;  /* per command, and for connect + greeting; 0: HVF_QMP_DEFAULT_TIMEOUT_MS */
    size_t max_line; /* 0: HVF_QMP_DEFAULT_MAX_LINE */
    hvf_qmp_event_fn on_event; /* may be NULL: events are skipped */
    void *opaque;
} hvf_qmp_opts;

typedef struct hvf_qmp hvf_qmp;

/*
 * hvf_qmp_connect: connects to the unix socket @path, retrying while it does not exist or
 * refuses (QEMU creates it shortly after start) until the timeout, then reads the greeting and
 * negotiates capabilities. @opts may be NULL. Returns an owned client, or NULL with @err set.
 */
hvf_qmp *hvf_qmp_connect(const char *path, const hvf_qmp_opts *opts, hvf_error *err);

/* Same over a connected stream socket @fd, which it takes over (closed on failure too). */
hvf_qmp *hvf_qmp_open_fd(int fd, const hvf_qmp_opts *opts, hvf_error *err);

void hvf_qmp_close(hvf_qmp *q);

/* Per-command timeout from now on; <= 0 restores the default. */
void hvf_qmp_set_timeout(hvf_qmp *q, int timeout_ms);

/* True once a protocol or transport error made the connection unusable. */
bool hvf_qmp_broken(const hvf_qmp *q);

/* QEMU's version from the greeting: major * 10000 + minor * 100 + micro (7.2.22 -> 70222). */
int hvf_qmp_version(const hvf_qmp *q);

/*
 * hvf_qmp_execute: sends {"execute": @cmd, "arguments": @args, "id": ...} and waits for its
 * reply, handing events to on_event and skipping replies to earlier commands.
 * @args is stolen (may be NULL). Returns a new reference to the "return" value, or NULL with
 * @err set (see the top of this file).
 */
json_t *hvf_qmp_execute(hvf_qmp *q, const char *cmd, json_t *args, hvf_error *err);

/* hvf_qmp_execute for commands whose result is not needed: 0 or -1. */
int hvf_qmp_command(hvf_qmp *q, const char *cmd, json_t *args, hvf_error *err)
    __attribute__((warn_unused_result));
