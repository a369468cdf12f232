/* SPDX-License-Identifier: MIT */
/* The agent's two bounded queues: commands for the workers, events for the controller. */
#include <string.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

void
hvf_agent_cmd_free(hvf_agent_cmd *cmd)
{
    if (!cmd)
        return;
    json_decref(cmd->args);
    free(cmd);
}

/* ---- Commands ------------------------------------------------------------------------------ */

void
hvf_agent_cmdq_init(hvf_agent_cmdq *q, size_t cap)
{
    memset(q, 0, sizeof(*q));
    HVF_ASSERT(cap > 0);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->items = hvf_calloc(cap, sizeof(*q->items));
    q->cap = cap;
}

void
hvf_agent_cmdq_clear(hvf_agent_cmdq *q)
{
    if (!q->items)
        return;
    for (size_t i = 0; i < q->len; i++)
        hvf_agent_cmd_free(q->items[(q->head + i) % q->cap]);
    free(q->items);
    q->items = NULL;
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

int
hvf_agent_cmdq_push(hvf_agent_cmdq *q, hvf_agent_cmd **cmd)
{
    int rc = -1;

    pthread_mutex_lock(&q->mu);
    if (!q->closed && q->len < q->cap) {
        q->items[(q->head + q->len) % q->cap] = hvf_steal_ptr(cmd);
        q->len++;
        pthread_cond_signal(&q->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

hvf_agent_cmd *
hvf_agent_cmdq_pop(hvf_agent_cmdq *q)
{
    hvf_agent_cmd *cmd = NULL;

    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->len == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    if (!q->closed) {
        cmd = q->items[q->head];
        q->items[q->head] = NULL;
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    pthread_mutex_unlock(&q->mu);
    return cmd;
}

void
hvf_agent_cmdq_close(hvf_agent_cmdq *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t
hvf_agent_cmdq_depth(hvf_agent_cmdq *q)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* ---- Events -------------------------------------------------------------------------------- */

void
hvf_agent_evq_init(hvf_agent_evq *q, size_t cap)
{
    memset(q, 0, sizeof(*q));
    HVF_ASSERT(cap > 0);
    pthread_mutex_init(&q->mu, NULL);
    q->items = hvf_calloc(cap, sizeof(*q->items));
    q->cap = cap;
    q->next_seq = 1;
}

void
hvf_agent_evq_clear(hvf_agent_evq *q)
{
    if (!q->items)
        return;
    for (size_t i = 0; i < q->len; i++)
        free(q->items[i].json);
    free(q->items);
    q->items = NULL;
    pthread_mutex_destroy(&q->mu);
}

static void
evq_remove(hvf_agent_evq *q, size_t i)
{
    free(q->items[i].json);
    memmove(&q->items[i], &q->items[i + 1], (q->len - i - 1) * sizeof(*q->items));
    q->len--;
}

uint64_t
hvf_agent_evq_push(hvf_agent_evq *q, const char *type, int64_t t_us, json_t *fields)
{
    json_t *ev = fields ? fields : json_object();
    bool progress = strcmp(type, "job") == 0;
    uint64_t seq;
    char *text;

    pthread_mutex_lock(&q->mu);
    seq = q->next_seq++;
    if (q->len == q->cap) {
        size_t i = 0;

        /* The next sample of a job carries the same facts, newer: lose the oldest first. */
        while (i < q->len && !q->items[i].progress)
            i++;
        if (i < q->len) {
            evq_remove(q, i);
            q->dropped_progress++;
        } else if (progress) {
            q->dropped_progress++;
            pthread_mutex_unlock(&q->mu);
            json_decref(ev);
            return seq;
        } else {
            evq_remove(q, 0);
            q->dropped_events++;
        }
    }
    json_object_set_new(ev, "seq", json_integer((json_int_t)seq));
    json_object_set_new(ev, "t_us", json_integer(t_us));
    json_object_set_new(ev, "type", json_string(type));
    text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ev);
    HVF_ASSERT(text);
    q->items[q->len++] = (hvf_agent_event){.seq = seq, .progress = progress, .json = text};
    pthread_mutex_unlock(&q->mu);
    return seq;
}

size_t
hvf_agent_evq_peek(hvf_agent_evq *q, size_t max, hvf_strbuf *sb)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->len < max ? q->len : max;
    for (size_t i = 0; i < n; i++) {
        if (i)
            hvf_strbuf_puts(sb, ",");
        hvf_strbuf_puts(sb, q->items[i].json);
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void
hvf_agent_evq_ack(hvf_agent_evq *q, uint64_t seq)
{
    size_t n = 0;

    pthread_mutex_lock(&q->mu);
    while (n < q->len && q->items[n].seq <= seq)
        free(q->items[n++].json);
    memmove(q->items, q->items + n, (q->len - n) * sizeof(*q->items));
    q->len -= n;
    pthread_mutex_unlock(&q->mu);
}

size_t
hvf_agent_evq_depth(hvf_agent_evq *q)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
