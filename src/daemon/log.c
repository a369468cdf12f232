/* SPDX-License-Identifier: MIT */
/* Logs: one JSON object a line on stderr, as journald and log shippers read them. */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "daemon/daemon.h"

static bool log_debug;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
hvfd_log_set_debug(bool on)
{
    log_debug = on;
}

bool
hvfd_log_wanted(hvfd_level level)
{
    return level != HVFD_DEBUG || log_debug;
}

void
hvfd_log(hvfd_level level, const char *msg, json_t *fields)
{
    struct timeval tv;
    struct tm tm;
    char ts[64];
    json_t *line;
    char *text;

    if (level == HVFD_DEBUG && !log_debug) {
        json_decref(fields);
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    line = json_pack("{s:s, s:s, s:s?}", "ts", ts, "level", level_names[level], "msg", msg);
    if (!json_object_get(line, "msg"))
        json_object_set_new(line, "msg", json_string("(not UTF-8)"));
    if (fields && json_is_object(fields))
        json_object_update_missing(line, fields);
    json_decref(fields);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text)
        return;
    pthread_mutex_lock(&log_lock);
    fputs(text, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(text);
}

void
hvfd_logf(hvfd_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level == HVFD_DEBUG && !log_debug)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hvfd_log(level, msg, NULL);
}
