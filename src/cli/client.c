/* SPDX-License-Identifier: MIT */
/* An HTTP client of hvfleetd on libcurl: JSON requests and answers, tokens, timeouts, TLS. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"
#include "util/text.h"

#define CLIENT_CONNECT_TIMEOUT_S 5L
#define CLIENT_TIMEOUT_S 60L
/* a stream with nothing for this long is dead: the daemon sends a keepalive every 15 s */
#define CLIENT_STREAM_IDLE_S 60L
#define CLIENT_MAX_ANSWER ((size_t)64 << 20)
#define CLIENT_MAX_TOKEN 4096

struct hvf_client {
    char *url;    /* owned, no trailing '/' */
    char *auth;   /* owned: "Authorization: Bearer TOKEN" */
    char *cacert; /* owned, may be NULL */
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
};

typedef struct client_sink {
    hvf_strbuf body;
    bool too_big;
    /* streaming */
    hvf_client_data_fn on_data;
    void *ctx;
    CURL *curl;
    bool stopped;
} client_sink;

/* A token as a header may carry it: printable ASCII, no spaces. */
static bool
client_token_ok(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if (*t < 0x21 || *t > 0x7e)
            return false;
    return true;
}

static char *
client_token(const hvf_client_opts *o, hvf_error *err)
{
    if (o->token_file) {
        size_t len = 0;
        char *text = hvf_text_read_file(o->token_file, CLIENT_MAX_TOKEN, &len, err);

        if (!text) {
            hvf_error_prefix(err, "--token-file '%s': ", o->token_file);
            if (err->code == HVF_ERR_IO)
                err->code = HVF_ERR_INVALID;
            return NULL;
        }
        while (len && isspace((unsigned char)text[len - 1]))
            text[--len] = '\0';
        if (!client_token_ok(text)) {
            free(text);
            hvf_error_set(err, HVF_ERR_INVALID,
                          "--token-file '%s': expected one token (printable characters, no "
                          "spaces) as its only line, as hvfleet token create prints it",
                          o->token_file);
            return NULL;
        }
        return text;
    }
    {
        const char *env = getenv("HVFLEET_TOKEN");

        if (!env || !*env) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "no API token for hvfleetd: set HVFLEET_TOKEN or give --token-file FILE "
                          "(hvfleet token create makes one)");
            return NULL;
        }
        if (!client_token_ok(env)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "HVFLEET_TOKEN: expected one token (printable characters, no spaces)");
            return NULL;
        }
        return hvf_strdup(env);
    }
}

/* http://HOST[:PORT] or https://..., an optional '/' at the end and nothing after it. */
static char *
client_url(const char *server, hvf_error *err)
{
    const char *host = strncmp(server, "http://", 7) == 0    ? server + 7
                       : strncmp(server, "https://", 8) == 0 ? server + 8
                                                             : NULL;
    size_t n = strlen(server);
    const char *slash = host ? strchr(host, '/') : NULL;

    for (const char *p = server; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            host = NULL;
    if (!host || !*host || *host == '/' || *host == ':' || (slash && slash[1]) || n > 1024 ||
        server[n - 1 - (slash != NULL)] == ':') {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "--server '%.200s': expected http://HOST:PORT or https://HOST:PORT "
                      "(hvfleetd's address, no path)",
                      server);
        return NULL;
    }
    if (server[n - 1] == '/')
        n--;
    return hvf_strndup(server, n);
}

hvf_client *
hvf_client_new(const hvf_client_opts *o, hvf_error *err)
{
    hvf_client *c;
    char *url, *token;

    if (!(url = client_url(o->server, err)))
        return NULL;
    if (o->cacert && access(o->cacert, R_OK) < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "--cacert '%s': cannot read it: %s", o->cacert,
                      strerror(errno));
        free(url);
        return NULL;
    }
    if (!(token = client_token(o, err))) {
        free(url);
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "libcurl could not start");
        free(url);
        free(token);
        return NULL;
    }
    c = HVF_NEW(hvf_client);
    c->url = url;
    c->auth = hvf_asprintf("Authorization: Bearer %s", token);
    free(token);
    c->cacert = o->cacert ? hvf_strdup(o->cacert) : NULL;
    c->curl = curl_easy_init();
    if (!c->curl) {
        hvf_error_set(err, HVF_ERR_INTERNAL, "libcurl could not make a handle");
        hvf_client_free(c);
        return NULL;
    }
    return c;
}

void
hvf_client_free(hvf_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_global_cleanup();
    /* the token is a secret: not left in freed memory */
    if (c->auth) {
        memset(c->auth, 0, strlen(c->auth));
        free(c->auth);
    }
    free(c->url);
    free(c->cacert);
    free(c);
}

const char *
hvf_client_url(const hvf_client *c)
{
    return c->url;
}

static size_t
client_write(char *data, size_t size, size_t nmemb, void *arg)
{
    client_sink *s = arg;
    size_t n = size * nmemb;

    if (s->stopped)
        return 0;
    if (s->body.len + n > CLIENT_MAX_ANSWER) {
        s->too_big = true;
        return 0;
    }
    if (s->on_data) {
        long status = 0;

        /* an error answer is JSON for the caller, not the stream */
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 300) {
            if (!s->on_data(data, n, s->ctx)) {
                s->stopped = true;
                return 0;
            }
            return n;
        }
    }
    hvf_strbuf_add(&s->body, data, n);
    return n;
}

/* The request common to both kinds: URL, method, headers, TLS, timeouts, the sink. */
static struct curl_slist *
client_setup(hvf_client *c, const char *method, const char *path, const char *body,
             client_sink *sink, bool stream)
{
    struct curl_slist *h = NULL;
    HVF_AUTOFREE char *url = hvf_asprintf("%s%s", c->url, path);

    curl_easy_reset(c->curl);
    h = curl_slist_append(h, c->auth);
    h = curl_slist_append(h, stream ? "Accept: text/event-stream" : "Accept: application/json");
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_TIMEOUT_S);
    if (stream) {
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, CLIENT_STREAM_IDLE_S);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
    }
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->cacert)
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->cacert);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "hvfleet/" HVF_VERSION);
    c->curl_err[0] = '\0';
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, sink);
    return h;
}

/* A transfer that failed, as one line naming the URL. */
static void
client_curl_error(hvf_client *c, CURLcode rc, const client_sink *sink, hvf_error *err)
{
    const char *why = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);

    if (sink->too_big)
        hvf_error_set(err, HVF_ERR_IO, "hvfleetd at %s answered more than %zu MiB", c->url,
                      CLIENT_MAX_ANSWER >> 20);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        hvf_error_set(err, HVF_ERR_IO, "hvfleetd at %s did not answer in time: %s", c->url, why);
    else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
             rc == CURLE_SSL_CONNECT_ERROR)
        hvf_error_set(err, HVF_ERR_IO,
                      "cannot reach hvfleetd at %s: %s (a self-signed certificate needs "
                      "--cacert FILE or HVFLEET_CACERT)",
                      c->url, why);
    else
        hvf_error_set(err, HVF_ERR_IO, "cannot reach hvfleetd at %s: %s", c->url, why);
}

/* A standby's 307 names the leader (docs/controller-ha.md): its URL, or NULL. The token goes
 * there as it went to the standby, which could have used it itself. */
static const char *
client_leader(long status, const json_t *answer)
{
    const char *leader = json_string_value(json_object_get(answer, "leader"));
    const json_t *e = json_object_get(answer, "error");
    const char *code = json_string_value(json_object_get(e, "code"));

    if (status != 307 || !leader || !code || strcmp(code, "standby") != 0 ||
        (strncmp(leader, "http://", 7) != 0 && strncmp(leader, "https://", 8) != 0) ||
        strlen(leader) > 1024)
        return NULL;
    return leader;
}

static long client_request_once(hvf_client *c, const char *method, const char *path,
                                const json_t *body, json_t **answer, hvf_error *err);

long
hvf_client_request(hvf_client *c, const char *method, const char *path, const json_t *body,
                   json_t **answer, hvf_error *err)
{
    long status = client_request_once(c, method, path, body, answer, err);
    const char *leader = client_leader(status, *answer);

    if (!leader)
        return status;
    /* a standby: once more, to the leader it names, and to it from now on */
    free(c->url);
    c->url = hvf_strdup(leader);
    json_decref(*answer);
    return client_request_once(c, method, path, body, answer, err);
}

static long
client_request_once(hvf_client *c, const char *method, const char *path, const json_t *body,
                    json_t **answer, hvf_error *err)
{
    client_sink sink = {.body = HVF_STRBUF_INIT};
    HVF_AUTOFREE char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *h = client_setup(c, method, path, text, &sink, false);
    CURLcode rc = curl_easy_perform(c->curl);
    long status = 0;

    *answer = NULL;
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        client_curl_error(c, rc, &sink, err);
        hvf_strbuf_clear(&sink.body);
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (sink.body.len)
        *answer = json_loadb(sink.body.buf, sink.body.len, 0, NULL);
    hvf_strbuf_clear(&sink.body);
    return status;
}

long
hvf_client_stream(hvf_client *c, const char *path, hvf_client_data_fn on_data, void *ctx,
                  json_t **answer, hvf_error *err)
{
    client_sink sink = {.body = HVF_STRBUF_INIT, .on_data = on_data, .ctx = ctx, .curl = c->curl};
    struct curl_slist *h;
    CURLcode rc;
    long status = 0;

    *answer = NULL;
    h = client_setup(c, "GET", path, NULL, &sink, true);
    rc = curl_easy_perform(c->curl);
    curl_slist_free_all(h);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink.stopped)) {
        client_curl_error(c, rc, &sink, err);
        hvf_strbuf_clear(&sink.body);
        return -1;
    }
    if (status >= 300 && sink.body.len)
        *answer = json_loadb(sink.body.buf, sink.body.len, 0, NULL);
    hvf_strbuf_clear(&sink.body);
    return status;
}

int
hvf_client_exit_status(long status)
{
    switch (status) {
    case 400:
    case 401:
    case 404:
    case 405:
    case 413:
    case 414:
    case 415:
    case 422:
        return 2;
    default:
        return status >= 200 && status < 300 ? 0 : 1;
    }
}

int
hvf_client_fail(const char *what, long status, const json_t *answer)
{
    const json_t *e = json_object_get(answer, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));

    fprintf(stderr, "hvfleet: %s: %s (HTTP %ld%s%s)%s\n", what,
            msg ? msg : "hvfleetd gave no error message", status, field ? ", field " : "",
            field ? field : "",
            status == 401 ? "; check HVFLEET_TOKEN or --token-file" : "");
    return hvf_client_exit_status(status);
}

bool
hvf_client_is_plan_hash(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]) || isupper((unsigned char)s[n]))
            return false;
    return n == 64;
}
