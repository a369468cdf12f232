/* SPDX-License-Identifier: MIT */
/*
 * The sim executor: runs no VM, records every command it runs and lasts as long as it is told,
 * so that the agent's queues, limits and idempotence can be tested without QEMU. The QEMU layer
 * fills the same table (hvf_agent_executor) later.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "hvfleet/alloc.h"

typedef struct sim {
    hvf_agent_sim_opts opts;
    char *record_path; /* owned */
    int record_fd;
    pthread_mutex_t mu;
    json_t *running; /* owned, under mu: the names of the VMs it "runs" (started, not stopped) */
    atomic_int_fast64_t next_job;
    hvf_agent_executor table;
} sim;

static int64_t
sim_delay(const sim *s, const char *type)
{
    for (size_t i = 0; i < s->opts.n_delay; i++)
        if (strcmp(s->opts.delay[i].type, type) == 0)
            return s->opts.delay[i].ms;
    return 0;
}

/* One line "ID TYPE" in the record (under mu). */
static int
sim_record_line(sim *s, const char *id, const char *type, hvf_error *err)
{
    char line[2 * HVF_AGENT_MAX_ID + HVF_AGENT_MAX_TYPE + 4];
    int n = snprintf(line, sizeof(line), "%s %s\n", id, type);

    if (s->record_fd < 0)
        return 0;
    if (write(s->record_fd, line, (size_t)n) != n) {
        hvf_error_set(err, HVF_ERR_IO, "%s: cannot append: %s", s->record_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* One line per run, before it runs: a command run twice shows twice. */
static int
sim_record(sim *s, const hvf_agent_cmd *cmd, hvf_error *err)
{
    int rc;

    pthread_mutex_lock(&s->mu);
    rc = sim_record_line(s, cmd->id, cmd->type, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* The VM @name runs (@on) or not any more. */
static void
sim_running(sim *s, const char *name, bool on)
{
    size_t i;
    json_t *v;

    pthread_mutex_lock(&s->mu);
    json_array_foreach(s->running, i, v) {
        if (strcmp(json_string_value(v), name) == 0)
            break;
    }
    if (on && i == json_array_size(s->running))
        json_array_append_new(s->running, json_string(name));
    else if (!on && i < json_array_size(s->running))
        json_array_remove(s->running, i);
    pthread_mutex_unlock(&s->mu);
}

/*
 * The fence: every VM it runs is gone, each recorded as a line "fence-MS:VM vm_destroy" (MS:
 * the wall clock in ms, so that a later fence of the same VM is told apart).
 */
static json_t *
sim_fence(void *self, bool *failed)
{
    sim *s = self;
    hvf_error err = HVF_ERROR_INIT;
    struct timespec ts;
    json_t *killed;
    size_t i;
    json_t *v;

    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&s->mu);
    killed = s->running;
    s->running = json_array();
    json_array_foreach(killed, i, v) {
        char id[2 * HVF_AGENT_MAX_ID];

        snprintf(id, sizeof(id), "fence-%" PRId64 ":%s",
                 (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, json_string_value(v));
        if (sim_record_line(s, id, "vm_destroy", &err) < 0)
            fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
    }
    pthread_mutex_unlock(&s->mu);
    return killed;
}

static const char *
arg_str(const hvf_agent_cmd *cmd, const char *key)
{
    const char *v = json_string_value(json_object_get(cmd->args, key));

    return v ? v : "";
}

/* The common part: record, then last the command's delay. */
static int
sim_run(sim *s, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, int64_t ms, hvf_error *err)
{
    if (sim_record(s, cmd, err) < 0)
        return -1;
    if (ms > 0 && !hvf_agent_ctx_sleep_ms(ctx, ms)) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s '%s': cancelled, the agent is stopping",
                      cmd->type, cmd->id);
        return -1;
    }
    return 0;
}

static int
sim_plain(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data, hvf_error *err)
{
    sim *s = self;

    return sim_run(s, ctx, cmd, sim_delay(s, cmd->type), err);
}

static int
sim_sleep(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data, hvf_error *err)
{
    json_t *ms = json_object_get(cmd->args, "ms");

    if (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
        json_integer_value(ms) > 3600000) {
        hvf_error_set(err, HVF_ERR_INVALID, "sleep '%s': args.ms: expected 0 to 3600000",
                      cmd->id);
        return -1;
    }
    return sim_run(self, ctx, cmd, json_integer_value(ms), err);
}

static int
sim_vm_start(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
             hvf_error *err)
{
    sim *s = self;

    if (sim_run(s, ctx, cmd, sim_delay(s, cmd->type), err) < 0)
        return -1;
    sim_running(s, arg_str(cmd, "vm"), true);
    hvf_agent_ctx_emit(ctx, "vm_state",
                       json_pack("{s:s, s:s}", "vm", arg_str(cmd, "vm"), "state", "running"));
    *data = json_pack("{s:i}", "pid", 0);
    return 0;
}

static int
sim_vm_stop(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
            hvf_error *err)
{
    sim *s = self;

    if (sim_run(s, ctx, cmd, sim_delay(s, cmd->type), err) < 0)
        return -1;
    sim_running(s, arg_str(cmd, "vm"), false);
    hvf_agent_ctx_emit(ctx, "vm_state",
                       json_pack("{s:s, s:s}", "vm", arg_str(cmd, "vm"), "state", "stopped"));
    return 0;
}

static int
sim_migrate_in(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
               hvf_error *err)
{
    sim *s = self;

    if (sim_run(s, ctx, cmd, sim_delay(s, cmd->type), err) < 0)
        return -1;
    sim_running(s, arg_str(cmd, "vm"), true);
    *data = json_pack("{s:s}", "listen", "127.0.0.1:49152");
    return 0;
}

/* Progress samples every progress_ms for the command's delay, then job_done. */
static int
sim_migrate_out(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
                hvf_error *err)
{
    sim *s = self;
    int64_t total = sim_delay(s, cmd->type);
    int64_t step = s->opts.progress_ms > 0 ? s->opts.progress_ms : 100;
    int64_t job = atomic_fetch_add(&s->next_job, 1);
    const int64_t bytes = (int64_t)1 << 30;

    if (sim_run(s, ctx, cmd, 0, err) < 0)
        return -1;
    for (int64_t t = 0; t < total; t += step) {
        hvf_agent_ctx_emit(ctx, "job",
                           json_pack("{s:I, s:s, s:s, s:I, s:I}", "job", (json_int_t)job, "vm",
                                     arg_str(cmd, "vm"), "state", "active", "transferred",
                                     (json_int_t)(bytes * t / total), "remaining",
                                     (json_int_t)(bytes - bytes * t / total)));
        if (!hvf_agent_ctx_sleep_ms(ctx, total - t < step ? total - t : step)) {
            hvf_error_set(err, HVF_ERR_CONFLICT, "migrate_out '%s': cancelled, the agent is "
                          "stopping", cmd->id);
            return -1;
        }
    }
    sim_running(s, arg_str(cmd, "vm"), false); /* it runs on the destination now */
    hvf_agent_ctx_emit(ctx, "job_done", json_pack("{s:I, s:s, s:s}", "job", (json_int_t)job,
                                                  "vm", arg_str(cmd, "vm"), "state",
                                                  "completed"));
    *data = json_pack("{s:I}", "job", (json_int_t)job);
    return 0;
}

static int
sim_dirty_rate(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
               hvf_error *err)
{
    sim *s = self;

    if (sim_run(s, ctx, cmd, sim_delay(s, cmd->type), err) < 0)
        return -1;
    *data = json_pack("{s:f}", "dirty_bytes_per_s", 1e7);
    return 0;
}

static int
sim_host_maintain(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
                  hvf_error *err)
{
    sim *s = self;

    /* Runs nothing: the sim never starts a process. */
    if (sim_run(s, ctx, cmd, sim_delay(s, cmd->type), err) < 0)
        return -1;
    *data = json_pack("{s:i}", "exit_status", 0);
    return 0;
}

hvf_agent_executor *
hvf_agent_sim_new(const hvf_agent_sim_opts *opts, hvf_error *err)
{
    sim *s = HVF_NEW(sim);

    s->opts = *opts;
    s->record_fd = -1;
    atomic_init(&s->next_job, 1);
    if (opts->record_path) {
        s->record_path = hvf_strdup(opts->record_path);
        s->record_fd = open(s->record_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (s->record_fd < 0) {
            hvf_error_set(err, HVF_ERR_IO, "%s: cannot open: %s", s->record_path,
                          strerror(errno));
            free(s->record_path);
            free(s);
            return NULL;
        }
    }
    s->opts.record_path = NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->running = json_array();
    s->table = (hvf_agent_executor){
        .name = "sim",
        .vm_start = sim_vm_start,
        .vm_stop = sim_vm_stop,
        .vm_destroy = sim_vm_stop,
        .migrate_in = sim_migrate_in,
        .migrate_out = sim_migrate_out,
        .job_cancel = sim_plain,
        .job_postcopy = sim_plain,
        .dirty_rate = sim_dirty_rate,
        .host_maintain = sim_host_maintain,
        .sleep = sim_sleep,
        .fence = sim_fence,
        .self = s,
    };
    return &s->table;
}

void
hvf_agent_sim_free(hvf_agent_executor *ex)
{
    sim *s;

    if (!ex)
        return;
    s = ex->self;
    if (s->record_fd >= 0)
        close(s->record_fd);
    pthread_mutex_destroy(&s->mu);
    json_decref(s->running);
    free(s->record_path);
    free(s);
}
