/* SPDX-License-Identifier: MIT */
/* The controller's answers to POST /v1/agent/sync, read strictly (docs/agent-protocol.md). */
#include <string.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

#define ANSWER_MAX_ACKS 65536
#define ANSWER_MAX_SESSION 128

void
hvf_agent_answer_clear(hvf_agent_answer *a)
{
    free(a->session);
    free(a->acked_results);
    for (size_t i = 0; i < a->n_cmds; i++)
        hvf_agent_cmd_free(a->cmds[i]);
    free(a->cmds);
    memset(a, 0, sizeof(*a));
    a->acked_events = -1;
}

/* Printable ASCII without spaces, 1 to @max bytes (ids and sessions go back into JSON and logs). */
static bool
token_ok(json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    size_t n;

    if (!s)
        return false;
    n = strlen(s);
    if (n == 0 || n > max || n != json_string_length(v))
        return false;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

static bool
type_ok(json_t *v)
{
    const char *s = json_string_value(v);

    if (!s || !*s || strlen(s) >= HVF_AGENT_MAX_TYPE)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

static int
parse_cmd(json_t *v, size_t i, hvf_agent_cmd **out, hvf_error *err)
{
    json_t *id = json_object_get(v, "id");
    json_t *seq = json_object_get(v, "seq");
    json_t *type = json_object_get(v, "type");
    json_t *args = json_object_get(v, "args");
    hvf_agent_cmd *c;

    if (!json_is_object(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "controller answer: commands[%zu]: expected an object",
                      i);
        return -1;
    }
    if (!token_ok(id, HVF_AGENT_MAX_ID - 1)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "controller answer: commands[%zu].id: expected a string of 1 to %d "
                      "printable characters without spaces",
                      i, HVF_AGENT_MAX_ID - 1);
        return -1;
    }
    if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "controller answer: commands[%zu].seq: expected an integer >= 0", i);
        return -1;
    }
    if (!type_ok(type)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "controller answer: commands[%zu].type: expected a name of 1 to %d "
                      "letters a-z and '_'",
                      i, HVF_AGENT_MAX_TYPE - 1);
        return -1;
    }
    if (args && !json_is_object(args)) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "controller answer: commands[%zu].args: expected an object", i);
        return -1;
    }
    c = HVF_NEW(hvf_agent_cmd);
    hvf_strlcpy(c->id, json_string_value(id), sizeof(c->id));
    hvf_strlcpy(c->type, json_string_value(type), sizeof(c->type));
    c->seq = json_integer_value(seq);
    c->args = args ? json_incref(args) : json_object();
    *out = c;
    return 0;
}

int
hvf_agent_answer_parse(const char *text, size_t len, hvf_agent_answer *out, hvf_error *err)
{
    json_error_t jerr;
    json_t *doc, *v;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->acked_events = -1;
    if (len > HVF_AGENT_MAX_BODY) {
        hvf_error_set(err, HVF_ERR_INVALID, "controller answer: %zu bytes, over the limit %zu",
                      len, HVF_AGENT_MAX_BODY);
        return -1;
    }
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object(doc)) {
        hvf_error_set(err, HVF_ERR_INVALID, "controller answer: expected a JSON object%s%s",
                      doc ? "" : ": ", doc ? "" : jerr.text);
        json_decref(doc);
        return -1;
    }
    if ((v = json_object_get(doc, "session"))) {
        if (!token_ok(v, ANSWER_MAX_SESSION)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "controller answer: session: expected a string of 1 to %d printable "
                          "characters without spaces",
                          ANSWER_MAX_SESSION);
            goto fail;
        }
        out->session = hvf_strdup(json_string_value(v));
    }
    if ((v = json_object_get(doc, "acked_results"))) {
        json_t *s;

        if (!json_is_array(v) || json_array_size(v) > ANSWER_MAX_ACKS) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "controller answer: acked_results: expected an array of at most %d "
                          "seqs",
                          ANSWER_MAX_ACKS);
            goto fail;
        }
        out->acked_results = hvf_calloc(json_array_size(v) + 1, sizeof(int64_t));
        json_array_foreach(v, i, s) {
            if (!json_is_integer(s) || json_integer_value(s) < 0) {
                hvf_error_set(err, HVF_ERR_INVALID,
                              "controller answer: acked_results[%zu]: expected an integer >= 0",
                              i);
                goto fail;
            }
            out->acked_results[out->n_acked++] = json_integer_value(s);
        }
    }
    if ((v = json_object_get(doc, "acked_events"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "controller answer: acked_events: expected an integer >= 0");
            goto fail;
        }
        out->acked_events = json_integer_value(v);
    }
    if ((v = json_object_get(doc, "heartbeat_s"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 300) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "controller answer: heartbeat_s: expected an integer from 1 to 300");
            goto fail;
        }
        out->heartbeat_s = json_integer_value(v);
    }
    if ((v = json_object_get(doc, "commands"))) {
        json_t *c;

        if (!json_is_array(v)) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "controller answer: commands: expected an array");
            goto fail;
        }
        out->cmds = hvf_calloc(json_array_size(v) + 1, sizeof(*out->cmds));
        json_array_foreach(v, i, c) {
            if (parse_cmd(c, i, &out->cmds[out->n_cmds], err) < 0)
                goto fail;
            out->n_cmds++;
        }
    }
    json_decref(doc);
    return 0;

fail:
    json_decref(doc);
    hvf_agent_answer_clear(out);
    return -1;
}

char *
hvf_agent_error_code(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    json_t *code = json_object_get(json_object_get(doc, "error"), "code");
    char *s = token_ok(code, 64) ? hvf_strdup(json_string_value(code)) : NULL;

    json_decref(doc);
    return s;
}
