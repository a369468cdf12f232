/* SPDX-License-Identifier: MIT */
/*
 * hvfleet-agent's bounded queues and record (src/agent/queue.c, results.c) and its reader of the
 * controller's answers (proto.c): the command queue refuses beyond its cap, the event queue drops
 * the oldest progress sample first and counts every drop, the record admits a command once,
 * refuses beyond its cap, survives a restart (running ones become interrupted, queued ones are
 * forgotten) and forgets acked ones oldest first; bad answers are one line naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

static hvf_agent_cmd *
mkcmd(const char *id, int64_t seq)
{
    hvf_agent_cmd *c = HVF_NEW(hvf_agent_cmd);

    hvf_strlcpy(c->id, id, sizeof(c->id));
    hvf_strlcpy(c->type, "sleep", sizeof(c->type));
    c->seq = seq;
    c->args = json_object();
    return c;
}

static void
test_cmdq_bounded(void **state)
{
    hvf_agent_cmdq q;
    hvf_agent_cmd *c;

    hvf_agent_cmdq_init(&q, 3);
    for (int i = 0; i < 3; i++) {
        char id[16];

        snprintf(id, sizeof(id), "c%d", i);
        c = mkcmd(id, i);
        assert_int_equal(hvf_agent_cmdq_push(&q, &c), 0);
        assert_null(c);
    }
    c = mkcmd("c3", 3);
    assert_int_equal(hvf_agent_cmdq_push(&q, &c), -1); /* full: not taken */
    assert_non_null(c);
    assert_int_equal(hvf_agent_cmdq_depth(&q), 3);
    {
        hvf_agent_cmd *first = hvf_agent_cmdq_pop(&q);

        assert_string_equal(first->id, "c0"); /* FIFO */
        hvf_agent_cmd_free(first);
    }
    assert_int_equal(hvf_agent_cmdq_push(&q, &c), 0); /* room again, and it wraps */
    hvf_agent_cmdq_close(&q);
    assert_null(hvf_agent_cmdq_pop(&q));
    c = mkcmd("c4", 4);
    assert_int_equal(hvf_agent_cmdq_push(&q, &c), -1); /* closed */
    hvf_agent_cmd_free(c);
    hvf_agent_cmdq_clear(&q); /* frees the three still queued */
}

static uint64_t
push(hvf_agent_evq *q, const char *type)
{
    return hvf_agent_evq_push(q, type, 1000, json_pack("{s:s}", "vm", "v1"));
}

/* The seqs in the queue, "1,3,4". */
static char *
seqs(hvf_agent_evq *q)
{
    hvf_strbuf sb = HVF_STRBUF_INIT;

    for (size_t i = 0; i < q->len; i++)
        hvf_strbuf_printf(&sb, "%s%llu", i ? "," : "", (unsigned long long)q->items[i].seq);
    hvf_strbuf_add(&sb, "", 0);
    return hvf_strbuf_steal(&sb);
}

static void
test_evq_drop_policy(void **state)
{
    hvf_agent_evq q;
    char *s;

    hvf_agent_evq_init(&q, 4);
    push(&q, "vm_state"); /* 1 */
    push(&q, "job");      /* 2 */
    push(&q, "job");      /* 3 */
    push(&q, "job_done"); /* 4 */
    push(&q, "vm_state"); /* 5: full, drops the oldest sample, 2 */
    s = seqs(&q);
    assert_string_equal(s, "1,3,4,5");
    free(s);
    assert_int_equal(q.dropped_progress, 1);
    push(&q, "job"); /* 6: drops sample 3 */
    push(&q, "job"); /* 7: drops sample 6 */
    s = seqs(&q);
    assert_string_equal(s, "1,4,5,7");
    free(s);
    assert_int_equal(q.dropped_progress, 3);
    push(&q, "job_done"); /* 8: drops sample 7 */
    push(&q, "job");      /* 9: no sample left to drop: the new one goes */
    s = seqs(&q);
    assert_string_equal(s, "1,4,5,8");
    free(s);
    assert_int_equal(q.dropped_progress, 5);
    assert_int_equal(q.dropped_events, 0);
    push(&q, "vm_state"); /* 10: only others left: the oldest goes, counted apart */
    s = seqs(&q);
    assert_string_equal(s, "4,5,8,10");
    free(s);
    assert_int_equal(q.dropped_events, 1);
    {
        hvf_strbuf sb = HVF_STRBUF_INIT;

        assert_int_equal(hvf_agent_evq_peek(&q, 2, &sb), 2);
        assert_non_null(strstr(sb.buf, "\"seq\":4"));
        assert_non_null(strstr(sb.buf, "\"type\":\"job_done\""));
        assert_null(strstr(sb.buf, "\"seq\":8"));
        hvf_strbuf_clear(&sb);
    }
    hvf_agent_evq_ack(&q, 5); /* the controller has 4 and 5 */
    s = seqs(&q);
    assert_string_equal(s, "8,10");
    free(s);
    hvf_agent_evq_clear(&q);
}

static void
test_results_admit_and_cap(void **state)
{
    hvf_agent_results r;
    hvf_error err = HVF_ERROR_INIT;
    hvf_agent_cmd *a = mkcmd("a", 1), *b = mkcmd("b", 2), *c = mkcmd("c", 3);
    hvf_strbuf sb = HVF_STRBUF_INIT;
    int64_t ack = 1;

    assert_int_equal(hvf_agent_results_load(&r, NULL, 2, 1, &err), 0);
    assert_int_equal(hvf_agent_results_admit(&r, a), HVF_AGENT_ADMIT_NEW);
    assert_int_equal(hvf_agent_results_admit(&r, a), HVF_AGENT_ADMIT_SEEN);
    assert_int_equal(hvf_agent_results_admit(&r, b), HVF_AGENT_ADMIT_NEW);
    assert_int_equal(hvf_agent_results_admit(&r, c), HVF_AGENT_ADMIT_FULL);
    assert_int_equal(hvf_agent_results_start(&r, "a", &err), 0);
    assert_int_equal(hvf_agent_results_pending(&r, 10, &sb), 0); /* running: nothing to send */
    assert_int_equal(hvf_agent_results_finish(&r, "a", true, json_pack("{s:i}", "pid", 7), NULL,
                                              &err),
                     0);
    assert_int_equal(hvf_agent_results_pending(&r, 10, &sb), 1);
    assert_non_null(strstr(sb.buf, "\"status\":\"ok\""));
    hvf_strbuf_clear(&sb);
    assert_int_equal(hvf_agent_results_ack(&r, &ack, 1, &err), 0);
    assert_int_equal(r.acked_max_seq, 1);
    assert_int_equal(hvf_agent_results_unacked(&r), 1);
    assert_int_equal(hvf_agent_results_admit(&r, c), HVF_AGENT_ADMIT_NEW); /* room again */
    /* Still in the record once acked: a re-sent id is answered again, not run. */
    assert_int_equal(hvf_agent_results_admit(&r, a), HVF_AGENT_ADMIT_SEEN);
    assert_int_equal(hvf_agent_results_pending(&r, 10, &sb), 1);
    hvf_strbuf_clear(&sb);
    hvf_agent_results_clear(&r);
    hvf_agent_cmd_free(a);
    hvf_agent_cmd_free(b);
    hvf_agent_cmd_free(c);
}

static void
test_results_restart(void **state)
{
    char dir[] = "/tmp/hvf-agent-unit-XXXXXX";
    HVF_AUTOFREE char *path = NULL;
    hvf_agent_results r;
    hvf_error err = HVF_ERROR_INIT;
    hvf_agent_cmd *cmds[4];
    int64_t acks[] = {1, 2};

    assert_non_null(mkdtemp(dir));
    path = hvf_asprintf("%s/results.json", dir);
    assert_int_equal(hvf_agent_results_load(&r, path, 8, 1, &err), 0);
    for (int i = 0; i < 4; i++) {
        char id[8];

        snprintf(id, sizeof(id), "k%d", i + 1);
        cmds[i] = mkcmd(id, i + 1);
        assert_int_equal(hvf_agent_results_admit(&r, cmds[i]), HVF_AGENT_ADMIT_NEW);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(hvf_agent_results_start(&r, cmds[i]->id, &err), 0);
    assert_int_equal(hvf_agent_results_finish(&r, "k1", true, NULL, NULL, &err), 0);
    assert_int_equal(hvf_agent_results_finish(&r, "k2", false, NULL, "no", &err), 0);
    /* Both acked, one kept (acked_cap 1): the oldest, k1, is forgotten. */
    assert_int_equal(hvf_agent_results_ack(&r, acks, 2, &err), 0);
    assert_true(r.writes > 0);
    hvf_agent_results_clear(&r);

    assert_int_equal(hvf_agent_results_load(&r, path, 8, 1, &err), 0);
    assert_int_equal(hvf_agent_results_admit(&r, cmds[0]), HVF_AGENT_ADMIT_NEW); /* forgotten */
    assert_int_equal(hvf_agent_results_admit(&r, cmds[1]), HVF_AGENT_ADMIT_SEEN);
    assert_int_equal(hvf_agent_results_admit(&r, cmds[2]), HVF_AGENT_ADMIT_SEEN); /* was running */
    assert_int_equal(hvf_agent_results_admit(&r, cmds[3]), HVF_AGENT_ADMIT_NEW);  /* was queued */
    {
        hvf_strbuf sb = HVF_STRBUF_INIT;

        /* k2 (answered again) and k3, interrupted */
        assert_int_equal(hvf_agent_results_pending(&r, 10, &sb), 2);
        assert_non_null(strstr(sb.buf, "\"id\":\"k3\""));
        assert_non_null(strstr(sb.buf, "interrupted"));
        hvf_strbuf_clear(&sb);
    }
    assert_int_equal(hvf_agent_results_forget_queued(&r, &err), 0);
    hvf_agent_results_clear(&r);
    for (int i = 0; i < 4; i++)
        hvf_agent_cmd_free(cmds[i]);
    unlink(path);
    rmdir(dir);
}

static void
test_answer_parse(void **state)
{
    static const char good[] =
        "{\"session\":\"s1\",\"acked_results\":[4,5],\"acked_events\":9,\"heartbeat_s\":5,"
        "\"commands\":[{\"id\":\"h-6\",\"seq\":6,\"type\":\"vm_start\",\"args\":{\"vm\":\"a\"}},"
        "{\"id\":\"h-7\",\"seq\":7,\"type\":\"sleep\"}],\"future\":1}";
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[]", "controller answer: expected a JSON object"},
        {"{\"session\":\"a b\"}", "controller answer: session: expected a string"},
        {"{\"acked_results\":[1,-2]}", "controller answer: acked_results[1]: expected an integer"},
        {"{\"acked_events\":\"x\"}", "controller answer: acked_events: expected an integer"},
        {"{\"heartbeat_s\":0}", "controller answer: heartbeat_s: expected an integer from 1"},
        {"{\"commands\":{}}", "controller answer: commands: expected an array"},
        {"{\"commands\":[{\"id\":\"\",\"seq\":1,\"type\":\"x\"}]}",
         "controller answer: commands[0].id: expected a string"},
        {"{\"commands\":[{\"id\":\"a\",\"seq\":1,\"type\":\"X\"}]}",
         "controller answer: commands[0].type: expected a name"},
        {"{\"commands\":[{\"id\":\"a\",\"type\":\"x\"}]}",
         "controller answer: commands[0].seq: expected an integer"},
        {"{\"commands\":[{\"id\":\"a\",\"seq\":1,\"type\":\"x\",\"args\":[]}]}",
         "controller answer: commands[0].args: expected an object"},
    };
    hvf_agent_answer a;
    hvf_error err = HVF_ERROR_INIT;

    assert_int_equal(hvf_agent_answer_parse(good, strlen(good), &a, &err), 0);
    assert_string_equal(a.session, "s1");
    assert_int_equal(a.n_acked, 2);
    assert_int_equal(a.acked_results[1], 5);
    assert_int_equal(a.acked_events, 9);
    assert_int_equal(a.heartbeat_s, 5);
    assert_int_equal(a.n_cmds, 2);
    assert_string_equal(a.cmds[0]->type, "vm_start");
    assert_string_equal(json_string_value(json_object_get(a.cmds[0]->args, "vm")), "a");
    assert_true(json_is_object(a.cmds[1]->args));
    hvf_agent_answer_clear(&a);
    for (size_t i = 0; i < HVF_ARRAY_LEN(bad); i++) {
        hvf_error_clear(&err);
        assert_int_equal(hvf_agent_answer_parse(bad[i].text, strlen(bad[i].text), &a, &err), -1);
        assert_int_equal(err.code, HVF_ERR_INVALID);
        if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("case %zu: got '%s'", i, err.msg);
        assert_null(strchr(err.msg, '\n'));
        assert_int_equal(a.n_cmds, 0);
    }
    {
        char *code = hvf_agent_error_code("{\"error\":{\"code\":\"re-register\"}}", 32);

        assert_string_equal(code, "re-register");
        free(code);
        assert_null(hvf_agent_error_code("nope", 4));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmdq_bounded),
        cmocka_unit_test(test_evq_drop_policy),
        cmocka_unit_test(test_results_admit_and_cap),
        cmocka_unit_test(test_results_restart),
        cmocka_unit_test(test_answer_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
