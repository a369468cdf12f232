/* SPDX-License-Identifier: MIT */
/*
 * The qemu executor: the agent's commands run on real QEMU VMs through the qemu driver layer
 * (src/driver/qemu/qemu-vm.h, qemu-vm-migrate.h). VMs live in STATE/vms/NAME/ and outlive the
 * agent; a starting executor adopts them (never kills one).
 *
 * Concurrency: the table of VMs is under one mutex. A command that uses a VM claims it (busy)
 * for its whole run, so that one thread at a time talks QMP to a VM; a second command on a busy
 * VM is refused (conflict). An outgoing migration keeps its VM claimed until it ends: one poller
 * thread polls every such job each second, posts its progress, and acts on job_cancel and
 * job_postcopy (which only set a flag on the job).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "driver/qemu/qemu-vm-migrate.h"
#include "driver/qemu/qemu-vm.h"
#include "hvfleet/alloc.h"
#include "hvfleet/strbuf.h"

#define QX_MAX_VMS 256
#define QX_MAX_JOBS 64
#define QX_POLL_MS 250          /* a migration's end is seen this soon (its downtime counts) */
#define QX_PROGRESS_EVERY_MS 1000 /* a "job" progress sample at most this often per job */
#define QX_CLAIM_WAIT_S 5        /* how long a command waits for a VM another one holds */
#define QX_RESCAN_MS 2000        /* unknown QEMUs looked for again, at most this often */
#define QX_STOP_TIMEOUT_S_DEFAULT 30
#define QX_FENCE_WAIT_MS 3000    /* how long the fence waits for the killed QEMUs to be gone */
#define QX_FENCE_MAX 1024        /* QEMUs of the state directory one fence kills at most */

typedef struct qx_vm {
    char name[HVF_QVM_NAME_MAX + 1];
    hvf_qvm *vm;        /* owned; while busy, only the claimer touches it */
    pid_t pid;          /* its QEMU's, kept under the table's mutex (facts of a busy VM) */
    bool busy;          /* claimed by a command or a job */
    bool adopted;
    int64_t mem_mib;    /* -1: unknown (adopted) */
    int64_t vcpus;
    bool gone_told;     /* its QEMU died behind our back, and a vm_state "crashed" said so */
} qx_vm;

typedef struct qx_job {
    int64_t id;          /* 0: free slot */
    qx_vm *vm;           /* claimed by the job */
    hvf_agent_ctx *ctx;
    bool cancel, postcopy; /* asked, under the table's mutex */
    bool postcopy_sent;
    int64_t progress_ms; /* when its last progress sample went out (monotonic) */
} qx_job;

typedef struct qx {
    hvf_agent_qemu_opts o;
    char *dir, *binary, *listen_addr; /* owned */
    hvf_qvm_conf conf;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t claim_cv; /* a claim was released */
    qx_vm *vms[QX_MAX_VMS];
    size_t n_vms;
    qx_job jobs[QX_MAX_JOBS];
    int64_t next_job;
    json_t *unknown; /* owned: the unknown QEMUs, found at start and every QX_RESCAN_MS */
    int64_t unknown_ms; /* when they were last looked for (monotonic) */
    hvf_agent_ctx *ctx; /* from attach */
    pthread_t poller;
    bool poller_started, stopping;
    hvf_agent_executor table;
} qx;

/* ---- Arguments ----------------------------------------------------------------------------- */

static const char *
arg_str(const hvf_agent_cmd *cmd, const char *key)
{
    return json_string_value(json_object_get(cmd->args, key));
}

static int
arg_int(const hvf_agent_cmd *cmd, const char *key, int64_t lo, int64_t hi, int64_t dflt,
        int64_t *out, hvf_error *err)
{
    json_t *v = json_object_get(cmd->args, key);

    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': args.%s: expected an integer from %" PRId64
                      " to %" PRId64, cmd->type, cmd->id, key, lo, hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int
arg_bool(const hvf_agent_cmd *cmd, const char *key, bool *out, hvf_error *err)
{
    json_t *v = json_object_get(cmd->args, key);

    *out = false;
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': args.%s: expected true or false",
                      cmd->type, cmd->id, key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static const char *
arg_vm(const hvf_agent_cmd *cmd, hvf_error *err)
{
    const char *vm = arg_str(cmd, "vm");

    if (!vm || !*vm || strlen(vm) > HVF_QVM_NAME_MAX) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': args.vm: expected a VM name of 1 to %d "
                      "characters", cmd->type, cmd->id, HVF_QVM_NAME_MAX);
        return NULL;
    }
    return vm;
}

/* A kernel (ELF: multiboot or vmlinux; bzImage: "HdrS" at 0x202) or else a disk image. */
static bool
image_is_kernel(const char *path)
{
    unsigned char b[0x206] = {0};
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return false;
    n = fread(b, 1, sizeof(b), f);
    fclose(f);
    return (n >= 4 && memcmp(b, "\x7f" "ELF", 4) == 0) ||
           (n >= 0x206 && memcmp(b + 0x202, "HdrS", 4) == 0);
}

/*
 * The spec of vm_start and migrate_in: vm, mem_mib, vcpus, kernel | disk | image (sniffed),
 * accel, append (the kernel's command line). Borrowed from @cmd.
 */
static int
spec_from_args(const hvf_agent_cmd *cmd, hvf_qvm_spec *s, const char **extra, hvf_error *err)
{
    int64_t mem, vcpus;
    const char *image = arg_str(cmd, "image");
    const char *append = arg_str(cmd, "append");

    memset(s, 0, sizeof(*s));
    if (!(s->name = arg_vm(cmd, err)))
        return -1;
    if (arg_int(cmd, "mem_mib", HVF_QVM_MEM_MIB_MIN, HVF_QVM_MEM_MIB_MAX, -1, &mem, err) < 0 ||
        arg_int(cmd, "vcpus", 1, HVF_QVM_VCPUS_MAX, 1, &vcpus, err) < 0)
        return -1;
    if (mem < 0) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': args.mem_mib: missing (expected an "
                      "integer from %d to %u)", cmd->type, cmd->id, HVF_QVM_MEM_MIB_MIN,
                      HVF_QVM_MEM_MIB_MAX);
        return -1;
    }
    s->mem_mib = (uint64_t)mem;
    s->vcpus = (unsigned)vcpus;
    s->kernel = arg_str(cmd, "kernel");
    s->disk = arg_str(cmd, "disk");
    if (image && !s->kernel && !s->disk) {
        if (image_is_kernel(image))
            s->kernel = image;
        else
            s->disk = image;
    }
    s->accel = arg_str(cmd, "accel");
    if (append) {
        extra[0] = "-append";
        extra[1] = append;
        extra[2] = NULL;
        s->extra = extra;
    }
    if (hvf_qvm_spec_check(s, err) < 0) {
        hvf_error_prefix(err, "%s '%s': ", cmd->type, cmd->id);
        return -1;
    }
    return 0;
}

/* ---- The table ----------------------------------------------------------------------------- */

static qx_vm *
table_find(qx *q, const char *name)
{
    for (size_t i = 0; i < q->n_vms; i++)
        if (strcmp(q->vms[i]->name, name) == 0)
            return q->vms[i];
    return NULL;
}

static void
table_remove(qx *q, qx_vm *v)
{
    for (size_t i = 0; i < q->n_vms; i++)
        if (q->vms[i] == v) {
            q->vms[i] = q->vms[--q->n_vms];
            break;
        }
    hvf_qvm_free(v->vm);
    free(v);
}

/*
 * Claims the VM @name: the existing entry (refused when busy; @must_exist and none: not found),
 * or a new empty one (vm NULL) when @create. Returns it claimed, or NULL with @err set.
 */
static qx_vm *
claim(qx *q, const hvf_agent_cmd *cmd, const char *name, bool create, hvf_error *err)
{
    qx_vm *v;
    struct timespec until;

    /* a short command on the VM (a dirty-rate measurement, a start) ends soon: wait for it a
     * little rather than fail; a migration holds it longer, and that is refused */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += QX_CLAIM_WAIT_S;
    pthread_mutex_lock(&q->mu);
    while ((v = table_find(q, name)) && v->busy &&
           pthread_cond_timedwait(&q->claim_cv, &q->mu, &until) == 0)
        ;
    v = table_find(q, name);
    if (v && v->busy) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s '%s': vm '%s' is busy with another command or "
                      "a migration", cmd->type, cmd->id, name);
        v = NULL;
    } else if (!v && !create) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "%s '%s': vm '%s': no such VM on this host",
                      cmd->type, cmd->id, name);
    } else if (!v && q->n_vms == QX_MAX_VMS) {
        hvf_error_set(err, HVF_ERR_CAPACITY, "%s '%s': vm '%s': this agent runs %d VMs already",
                      cmd->type, cmd->id, name, QX_MAX_VMS);
    } else {
        if (!v) {
            v = HVF_NEW(qx_vm);
            hvf_strlcpy(v->name, name, sizeof(v->name));
            v->mem_mib = v->vcpus = -1;
            q->vms[q->n_vms++] = v;
        }
        v->busy = true;
    }
    pthread_mutex_unlock(&q->mu);
    return v;
}

/* Releases a claim; an entry without a live VM is forgotten. */
static void
release(qx *q, qx_vm *v)
{
    pthread_mutex_lock(&q->mu);
    v->busy = false;
    pthread_cond_broadcast(&q->claim_cv);
    v->pid = v->vm ? hvf_qvm_pid(v->vm) : 0;
    if (!v->vm)
        table_remove(q, v);
    pthread_mutex_unlock(&q->mu);
}

/* Drops a gone VM's handle (a failed incoming migration, a guest that powered off). */
static void
drop_if_gone(qx_vm *v)
{
    if (v->vm && !hvf_qvm_alive(v->vm)) {
        hvf_qvm_free(v->vm);
        v->vm = NULL;
    }
}

/* ---- A job's id on disk (STATE/vms/NAME/agent-job), so that a restart takes it up ----------- */

static void
job_file_write(qx_vm *v, int64_t id)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/agent-job", hvf_qvm_dir(v->vm));
    HVF_AUTOFREE char *text = hvf_asprintf("%" PRId64 "\n", id);
    hvf_error err = HVF_ERROR_INIT;

    if (hvf_file_write_atomic(path, text, strlen(text), &err) < 0)
        fprintf(stderr, "hvfleet-agent: %s\n", err.msg);
}

static int64_t
job_file_read(qx_vm *v)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/agent-job", hvf_qvm_dir(v->vm));
    FILE *f = fopen(path, "re");
    long long id = 0;

    if (f) {
        if (fscanf(f, "%lld", &id) != 1)
            id = 0;
        fclose(f);
    }
    return id > 0 ? id : 0;
}

static void
job_file_remove(const char *dir)
{
    HVF_AUTOFREE char *path = hvf_asprintf("%s/agent-job", dir);

    unlink(path);
}

/* ---- Commands ------------------------------------------------------------------------------ */

static int
start_vm(qx *q, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, bool incoming, bool *postcopy,
         qx_vm **out, hvf_error *err)
{
    hvf_qvm_spec s;
    const char *extra[3];
    qx_vm *v;

    if (spec_from_args(cmd, &s, extra, err) < 0)
        return -1;
    s.incoming = incoming;
    if (postcopy && arg_bool(cmd, "postcopy", postcopy, err) < 0)
        return -1;
    if (!(v = claim(q, cmd, s.name, true, err)))
        return -1;
    drop_if_gone(v);
    if (v->vm) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s '%s': vm '%s' runs already (pid %ld)",
                      cmd->type, cmd->id, s.name, (long)hvf_qvm_pid(v->vm));
        release(q, v);
        return -1;
    }
    if (!(v->vm = hvf_qvm_start(&q->conf, &s, err))) {
        hvf_error_prefix(err, "%s '%s': ", cmd->type, cmd->id);
        release(q, v);
        return -1;
    }
    v->adopted = false;
    v->gone_told = false;
    v->mem_mib = (int64_t)s.mem_mib;
    v->vcpus = s.vcpus ? s.vcpus : 1;
    if (!incoming)
        hvf_agent_ctx_emit(ctx, "vm_state", json_pack("{s:s, s:s, s:I}", "vm", s.name, "state",
                                                      "running", "pid",
                                                      (json_int_t)hvf_qvm_pid(v->vm)));
    *out = v;
    return 0;
}

static int
qx_vm_start(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
            hvf_error *err)
{
    qx *q = self;
    qx_vm *v;

    if (start_vm(q, ctx, cmd, false, NULL, &v, err) < 0)
        return -1;
    *data = json_pack("{s:I}", "pid", (json_int_t)hvf_qvm_pid(v->vm));
    release(q, v);
    return 0;
}

static int
qx_vm_stop_any(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
               hvf_error *err, bool destroy)
{
    qx *q = self;
    const char *name = arg_vm(cmd, err);
    int64_t timeout_s = 0;
    qx_vm *v;
    int rc;

    if (!name || (!destroy && arg_int(cmd, "timeout_s", 0, 3600, QX_STOP_TIMEOUT_S_DEFAULT,
                                      &timeout_s, err) < 0))
        return -1;
    if (!(v = claim(q, cmd, name, false, err)))
        return -1;
    rc = !v->vm ? 0 : destroy ? hvf_qvm_destroy(v->vm, err)
                              : hvf_qvm_stop(v->vm, (int)timeout_s * 1000, err);
    if (rc < 0) {
        hvf_error_prefix(err, "%s '%s': ", cmd->type, cmd->id);
        release(q, v);
        return -1;
    }
    hvf_qvm_free(v->vm);
    v->vm = NULL;
    hvf_agent_ctx_emit(ctx, "vm_state", json_pack("{s:s, s:s}", "vm", name, "state", "stopped"));
    if (!destroy)
        *data = json_pack("{s:s}", "how", rc == 0 ? "powered off" : rc == 1 ? "quit" : "killed");
    release(q, v);
    return 0;
}

static int
qx_vm_stop(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
           hvf_error *err)
{
    return qx_vm_stop_any(self, ctx, cmd, data, err, false);
}

static int
qx_vm_destroy(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
              hvf_error *err)
{
    return qx_vm_stop_any(self, ctx, cmd, data, err, true);
}

static int
qx_migrate_in(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
              hvf_error *err)
{
    qx *q = self;
    bool postcopy = false;
    hvf_qvm_incoming in = {0};
    char listen[96];
    qx_vm *v;
    hvf_error e2 = HVF_ERROR_INIT;

    if (start_vm(q, ctx, cmd, true, &postcopy, &v, err) < 0)
        return -1;
    in.postcopy = postcopy;
    if (hvf_qvm_migrate_dst_listen(v->vm, &in, listen, sizeof(listen), err) < 0) {
        hvf_error_prefix(err, "%s '%s': ", cmd->type, cmd->id);
        if (hvf_qvm_destroy(v->vm, &e2) == 0) {
            hvf_qvm_free(v->vm);
            v->vm = NULL;
        }
        release(q, v);
        return -1;
    }
    /* QEMU runs the guest by itself once the stream is in (it was not started with -S). */
    *data = json_pack("{s:s, s:I}", "listen", listen, "pid", (json_int_t)hvf_qvm_pid(v->vm));
    release(q, v);
    return 0;
}

static void *poller_main(void *p);

static int
qx_migrate_out(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
               hvf_error *err)
{
    qx *q = self;
    const char *name = arg_vm(cmd, err);
    hvf_qvm_migrate_params p = {.target = arg_str(cmd, "target")};
    int64_t bw, downtime;
    qx_vm *v;
    qx_job *job = NULL;

    if (!name || arg_int(cmd, "max_bytes_per_s", 0, INT64_MAX, 0, &bw, err) < 0 ||
        arg_int(cmd, "downtime_limit_ms", 0, 3600000, 0, &downtime, err) < 0 ||
        arg_bool(cmd, "auto_converge", &p.auto_converge, err) < 0 ||
        arg_bool(cmd, "postcopy", &p.postcopy, err) < 0)
        return -1;
    if (!p.target || !*p.target) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s '%s': args.target: expected ADDR:PORT (the "
                      "listen address migrate_in answered)", cmd->type, cmd->id);
        return -1;
    }
    p.max_bytes_per_s = (uint64_t)bw;
    p.downtime_limit_ms = downtime;
    if (!(v = claim(q, cmd, name, false, err)))
        return -1;
    drop_if_gone(v);
    if (!v->vm) {
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s '%s': vm '%s' does not run", cmd->type,
                      cmd->id, name);
        release(q, v);
        return -1;
    }
    /* the slot is taken at once (id -1): two workers starting migrations together must not
     * pick the same one, which lost the first job and its job_done */
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < QX_MAX_JOBS && !job; i++)
        if (q->jobs[i].id == 0) {
            job = &q->jobs[i];
            job->id = -1;
        }
    pthread_mutex_unlock(&q->mu);
    if (!job) {
        hvf_error_set(err, HVF_ERR_CAPACITY, "%s '%s': %d migrations run already", cmd->type,
                      cmd->id, QX_MAX_JOBS);
        release(q, v);
        return -1;
    }
    if (hvf_qvm_migrate_src_start(v->vm, &p, err) < 0) {
        hvf_error_prefix(err, "%s '%s': ", cmd->type, cmd->id);
        pthread_mutex_lock(&q->mu);
        job->id = 0;
        pthread_mutex_unlock(&q->mu);
        release(q, v);
        return -1;
    }
    /* The VM stays claimed: the poller releases it when the job ends. */
    pthread_mutex_lock(&q->mu);
    *job = (qx_job){.id = q->next_job++, .vm = v, .ctx = ctx};
    job_file_write(v, job->id);
    *data = json_pack("{s:I}", "job", (json_int_t)job->id);
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static int
job_flag(qx *q, const hvf_agent_cmd *cmd, bool postcopy, hvf_error *err)
{
    int64_t id;
    int rc = -1;

    if (arg_int(cmd, "job", 1, INT64_MAX, 0, &id, err) < 0)
        return -1;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < QX_MAX_JOBS; i++)
        if (id && q->jobs[i].id == id) {
            if (postcopy)
                q->jobs[i].postcopy = true;
            else
                q->jobs[i].cancel = true;
            pthread_cond_signal(&q->cv);
            rc = 0;
        }
    pthread_mutex_unlock(&q->mu);
    if (rc < 0)
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "%s '%s': job %" PRId64 ": no such migration "
                      "running on this host", cmd->type, cmd->id, id);
    return rc;
}

static int
qx_job_cancel(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
              hvf_error *err)
{
    return job_flag(self, cmd, false, err);
}

static int
qx_job_postcopy(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
                hvf_error *err)
{
    return job_flag(self, cmd, true, err);
}

static int
qx_dirty_rate(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
              hvf_error *err)
{
    qx *q = self;
    const char *name = arg_vm(cmd, err);
    int64_t seconds;
    uint64_t rate = 0;
    qx_vm *v;
    int rc = -1;

    if (!name || arg_int(cmd, "seconds", 1, 60, 1, &seconds, err) < 0)
        return -1;
    if (!(v = claim(q, cmd, name, false, err)))
        return -1;
    drop_if_gone(v);
    if (!v->vm)
        hvf_error_set(err, HVF_ERR_CONFLICT, "%s '%s': vm '%s' does not run", cmd->type,
                      cmd->id, name);
    else if (hvf_qvm_dirty_rate(v->vm, (int)seconds, &rate, err) < 0)
        hvf_error_prefix(err, "%s '%s': ", cmd->type, cmd->id);
    else
        rc = 0;
    release(q, v);
    if (rc < 0)
        return -1;
    hvf_agent_ctx_emit(ctx, "dirty_rate", json_pack("{s:s, s:I}", "vm", name,
                                                    "dirty_bytes_per_s", (json_int_t)rate));
    *data = json_pack("{s:I}", "dirty_bytes_per_s", (json_int_t)rate);
    return 0;
}

/* ---- The poller: every outgoing migration, every second ------------------------------------ */

static json_t *
info_json(const hvf_qvm_migrate_info *in)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:i, s:f}", "state", in->status,
                          "transferred", (json_int_t)in->transferred_bytes, "remaining",
                          (json_int_t)in->remaining_bytes, "total",
                          (json_int_t)in->total_bytes, "dirty_bytes_per_s",
                          (json_int_t)in->dirty_bytes_per_s, "throttle_pct", in->throttle_pct,
                          "mbps", (double)in->mbps_x1000 / 1000.0);

    if (in->expected_downtime_ms >= 0)
        json_object_set_new(o, "expected_downtime_ms", json_integer(in->expected_downtime_ms));
    if (in->total_time_ms >= 0)
        json_object_set_new(o, "total_time_ms", json_integer(in->total_time_ms));
    if (in->downtime_ms >= 0)
        json_object_set_new(o, "downtime_ms", json_integer(in->downtime_ms));
    /* QEMU may have missed some of the guest's writes: the destination's memory may be older */
    if (in->lost_writes_possible)
        json_object_set_new(o, "lost_writes_possible", json_true());
    return o;
}

/* One poll of @job (its VM is claimed by it: QMP without the table's mutex). */
static bool
poll_job(qx *q, qx_job *job, bool cancel, bool postcopy)
{
    hvf_error err = HVF_ERROR_INIT;
    hvf_qvm_migrate_info in;
    qx_vm *v = job->vm;
    json_t *ev;

    if (cancel && hvf_qvm_migrate_src_cancel(v->vm, &err) < 0)
        fprintf(stderr, "hvfleet-agent: job %" PRId64 ": %s\n", job->id, err.msg);
    if (postcopy && !job->postcopy_sent) {
        job->postcopy_sent = true;
        if (hvf_qvm_migrate_src_postcopy(v->vm, &err) < 0)
            fprintf(stderr, "hvfleet-agent: job %" PRId64 ": %s\n", job->id, err.msg);
    }
    if (!hvf_qvm_alive(v->vm)) {
        snprintf(in.status, sizeof(in.status), "failed");
        snprintf(in.error_desc, sizeof(in.error_desc), "the source QEMU is gone");
    } else if (hvf_qvm_migrate_src_poll(v->vm, &in, &err) < 0) {
        return false; /* again next second */
    }
    ev = info_json(&in);
    json_object_set_new(ev, "job", json_integer(job->id));
    json_object_set_new(ev, "vm", json_string(v->name));
    if (!hvf_qvm_migrate_final(in.status)) {
        struct timespec ts;
        int64_t now;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now - job->progress_ms >= QX_PROGRESS_EVERY_MS) {
            job->progress_ms = now;
            hvf_agent_ctx_emit(job->ctx, "job", ev);
        } else {
            json_decref(ev);
        }
        return false;
    }
    if (strcmp(in.status, "failed") == 0)
        json_object_set_new(ev, "error", json_string(in.error_desc));
    job_file_remove(hvf_qvm_dir(v->vm));
    if (strcmp(in.status, "completed") == 0) {
        /* The destination runs the guest: the source quits. */
        if (hvf_qvm_migrate_src_finish(v->vm, &err) < 0)
            json_object_set_new(ev, "error", json_string(err.msg));
        else {
            hvf_qvm_free(v->vm);
            v->vm = NULL;
        }
    }
    hvf_agent_ctx_emit(job->ctx, "job_done", ev);
    return true;
}

static void *
poller_main(void *p)
{
    qx *q = p;

    pthread_mutex_lock(&q->mu);
    while (!q->stopping) {
        struct timespec ts;

        for (size_t i = 0; i < QX_MAX_JOBS; i++) {
            qx_job *job = &q->jobs[i];
            bool cancel = job->cancel, postcopy = job->postcopy, done;

            if (job->id <= 0)
                continue; /* free, or being taken by a worker */
            job->cancel = false;
            pthread_mutex_unlock(&q->mu);
            done = poll_job(q, job, cancel, postcopy);
            pthread_mutex_lock(&q->mu);
            if (done) {
                job->vm->busy = false;
                pthread_cond_broadcast(&q->claim_cv);
                job->vm->pid = job->vm->vm ? hvf_qvm_pid(job->vm->vm) : 0;
                if (!job->vm->vm)
                    table_remove(q, job->vm);
                *job = (qx_job){0};
            }
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += QX_POLL_MS / 1000;
        ts.tv_nsec += (long)(QX_POLL_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!q->stopping)
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---- The fence ------------------------------------------------------------------------------- */

/* Gone: no /proc/PID, or a zombie (QEMU is daemonized: init reaps it). */
static bool
pid_gone(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    size_t n;
    const char *paren;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (!(f = fopen(path, "re")))
        return true;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/*
 * The VM name of a QEMU whose command line names STATE/vms/NAME/qmp.sock of this state
 * directory, copied to @name; false for any other process.
 */
static bool
fence_match(qx *q, pid_t pid, char *name, size_t size)
{
    char path[64], qmp[4096];
    HVF_AUTOFREE char *buf = NULL;
    HVF_AUTOFREE char *prefix = hvf_asprintf("%s/vms/", q->dir);
    FILE *f;
    size_t len, plen = strlen(prefix);
    const char *rest;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    if (!(f = fopen(path, "re")))
        return false;
    buf = hvf_malloc(65536);
    len = fread(buf, 1, 65536, f);
    fclose(f);
    if (!hvf_qvm_cmdline_qmp_path(buf, len, qmp, sizeof(qmp)) || strncmp(qmp, prefix, plen) != 0)
        return false;
    rest = qmp + plen;
    if (strcspn(rest, "/") >= size || strcmp(rest + strcspn(rest, "/"), "/qmp.sock") != 0)
        return false;
    snprintf(name, size, "%.*s", (int)strcspn(rest, "/"), rest);
    return true;
}

/*
 * Every QEMU of the state directory, found in /proc by its command line (a VM being started or
 * migrated, whatever the table says), SIGKILLed; then waits up to QX_FENCE_WAIT_MS for them to
 * be gone and removes their pidfiles (the VMs read "stopped"). Takes no lock a command holds:
 * the table is tidied only when its mutex is free at once.
 */
static json_t *
qx_fence(void *self, bool *failed)
{
    qx *q = self;
    json_t *names = json_array();
    pid_t pids[QX_FENCE_MAX];
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    struct timespec ts;
    int64_t end;

    while (d && (e = readdir(d)) && n < QX_FENCE_MAX) {
        char *endp, name[HVF_QVM_NAME_MAX + 1];
        long pid = strtol(e->d_name, &endp, 10);

        if (*endp || pid <= 0 || pid == (long)getpid() || !fence_match(q, (pid_t)pid, name,
                                                                       sizeof(name)))
            continue;
        if (kill((pid_t)pid, SIGKILL) < 0) {
            fprintf(stderr, "hvfleet-agent: fence: vm '%s' (pid %ld): cannot kill: %s\n", name,
                    pid, strerror(errno));
            if (errno != ESRCH)
                *failed = true;
            continue;
        }
        pids[n++] = (pid_t)pid;
        json_array_append_new(names, json_string(name));
    }
    if (d) {
        closedir(d);
    } else {
        fprintf(stderr, "hvfleet-agent: fence: cannot read /proc: %s\n", strerror(errno));
        *failed = true;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + QX_FENCE_WAIT_MS;
    for (size_t i = 0; i < n; i++) {
        HVF_AUTOFREE char *pidfile = hvf_asprintf("%s/vms/%s/pidfile", q->dir,
                                                  json_string_value(json_array_get(names, i)));
        int64_t now;

        while (!pid_gone(pids[i])) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            if (now >= end)
                break;
            usleep(10000);
        }
        if (pid_gone(pids[i])) {
            unlink(pidfile);
        } else {
            fprintf(stderr, "hvfleet-agent: fence: pid %ld still there after SIGKILL\n",
                    (long)pids[i]);
            *failed = true;
        }
    }
    /* Forget the handles of the VMs that are gone, where no command holds them. */
    if (pthread_mutex_trylock(&q->mu) == 0) {
        for (size_t i = 0; i < q->n_vms;) {
            qx_vm *v = q->vms[i];

            if (!v->busy && v->vm && !hvf_qvm_alive(v->vm)) {
                table_remove(q, v);
                continue;
            }
            i++;
        }
        pthread_mutex_unlock(&q->mu);
    }
    return names;
}

/*
 * qemu_kill {pid, vm}: kills a QEMU of this host that is none of ours and runs a copy of @vm
 * (reconciliation: a copy started behind our back, seed 003's zombie). Refused for one of our
 * VMs, a process that is not a QEMU of this network namespace, or one named for another VM.
 */
static int
qx_qemu_kill(void *self, hvf_agent_ctx *ctx, const hvf_agent_cmd *cmd, json_t **data,
             hvf_error *err)
{
    qx *q = self;
    const char *name = arg_vm(cmd, err);
    int64_t pid;
    pid_t known[QX_MAX_VMS];
    size_t nknown = 0, n = 0, i;
    hvf_qvm_unknown *u = NULL;
    char named[HVF_QVM_NAME_MAX + 1];

    if (!name || arg_int(cmd, "pid", 2, INT32_MAX, 0, &pid, err) < 0)
        return -1;
    pthread_mutex_lock(&q->mu);
    for (i = 0; i < q->n_vms; i++)
        if (q->vms[i]->vm || q->vms[i]->pid > 0)
            known[nknown++] = q->vms[i]->vm ? hvf_qvm_pid(q->vms[i]->vm) : q->vms[i]->pid;
    pthread_mutex_unlock(&q->mu);
    for (i = 0; i < nknown; i++)
        if (known[i] == (pid_t)pid) {
            hvf_error_set(err, HVF_ERR_CONFLICT, "qemu_kill '%s': pid %" PRId64 " is one of this "
                          "agent's VMs: use vm_destroy", cmd->id, pid);
            return -1;
        }
    if (hvf_qvm_scan_unknown(known, nknown, &u, &n, err) < 0) {
        free(u);
        return -1;
    }
    for (i = 0; i < n && u[i].pid != (pid_t)pid; i++)
        ;
    if (i == n || !hvf_qvm_cmdline_name(u[i].cmdline, named, sizeof(named)) ||
        strcmp(named, name) != 0) {
        hvf_error_set(err, HVF_ERR_NOT_FOUND, "qemu_kill '%s': pid %" PRId64 " is no QEMU of "
                      "this host named '%s'", cmd->id, pid, name);
        free(u);
        return -1;
    }
    free(u);
    if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH) {
        hvf_error_set(err, HVF_ERR_IO, "qemu_kill '%s': pid %" PRId64 ": %s", cmd->id, pid,
                      strerror(errno));
        return -1;
    }
    for (int k = 0; k < 30 && kill((pid_t)pid, 0) == 0; k++)
        if (!hvf_agent_ctx_sleep_ms(ctx, 100))
            break;
    *data = json_pack("{s:I, s:s}", "killed", (json_int_t)pid, "vm", name);
    return 0;
}

/* ---- Facts and the table's life ------------------------------------------------------------ */

/*
 * The QEMUs of this host that are none of ours, found again (seed 003: a copy started behind
 * the agent's back, a zombie); at most every QX_RESCAN_MS, as heartbeats ask.
 */
static void
qx_rescan_unknown(qx *q)
{
    struct timespec ts;
    int64_t now;
    pid_t known[QX_MAX_VMS];
    size_t nknown = 0, n = 0;
    hvf_qvm_unknown *u = NULL;
    hvf_error err = HVF_ERROR_INIT;
    json_t *list;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&q->mu);
    if (now - q->unknown_ms < QX_RESCAN_MS) {
        pthread_mutex_unlock(&q->mu);
        return;
    }
    q->unknown_ms = now;
    for (size_t i = 0; i < q->n_vms; i++)
        if (q->vms[i]->pid > 0 || q->vms[i]->vm)
            known[nknown++] = q->vms[i]->vm ? hvf_qvm_pid(q->vms[i]->vm) : q->vms[i]->pid;
    pthread_mutex_unlock(&q->mu);
    if (hvf_qvm_scan_unknown(known, nknown, &u, &n, &err) < 0) {
        free(u);
        return;
    }
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:I, s:s}", "pid", (json_int_t)u[i].pid,
                                              "cmdline", u[i].cmdline));
    free(u);
    pthread_mutex_lock(&q->mu);
    json_decref(q->unknown);
    q->unknown = list;
    pthread_mutex_unlock(&q->mu);
}

static json_t *
qx_facts(void *self, bool status)
{
    qx *q = self;
    json_t *vms = json_array();
    json_t *o;

    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n_vms; i++) {
        qx_vm *v = q->vms[i];
        char raw[32] = "";
        const char *state;
        json_t *e;

        if (v->busy) {
            /* Its claimer may be replacing v->vm right now: only what the mutex keeps. */
            if (v->pid > 0)
                json_array_append_new(vms, json_pack("{s:s, s:s, s:I}", "name", v->name,
                                                     "state", "busy", "pid",
                                                     (json_int_t)v->pid));
            continue;
        }
        if (!v->vm)
            continue;
        if (status)
            state = hvf_qvm_state_to_string(hvf_qvm_status(v->vm, raw, sizeof(raw)));
        else
            state = hvf_qvm_alive(v->vm) ? "alive" : "gone";
        /* a QEMU that died with no command of ours (killed, crashed): hvfleetd hears it once */
        if (!status && strcmp(state, "gone") == 0 && !v->gone_told && q->ctx) {
            v->gone_told = true;
            hvf_agent_ctx_emit(q->ctx, "vm_state", json_pack("{s:s, s:s, s:s}", "vm", v->name,
                                                             "state", "crashed", "why",
                                                             "its QEMU is gone"));
        }
        e = json_pack("{s:s, s:s, s:I, s:b}", "name", v->name, "state", state, "pid",
                      (json_int_t)hvf_qvm_pid(v->vm), "adopted", v->adopted);
        if (*raw)
            json_object_set_new(e, "qemu_status", json_string(raw));
        if (v->mem_mib >= 0)
            json_object_set_new(e, "mem_mib", json_integer(v->mem_mib));
        if (v->vcpus >= 0)
            json_object_set_new(e, "vcpus", json_integer(v->vcpus));
        json_array_append_new(vms, e);
    }
    o = json_pack("{s:o, s:O}", "vms", vms, "unknown_qemu", q->unknown);
    pthread_mutex_unlock(&q->mu);
    if (!status)
        qx_rescan_unknown(q); /* for the next heartbeat: this one goes out now */
    return o;
}

/*
 * After a restart: a vm_state event per adopted VM, a qemu_unknown per unknown QEMU, and the
 * migrations still in flight taken up as jobs (their id from agent-job, else a new one).
 */
static void
qx_attach(void *self, hvf_agent_ctx *ctx)
{
    qx *q = self;
    size_t n_unknown = json_array_size(q->unknown);

    pthread_mutex_lock(&q->mu);
    q->ctx = ctx;
    for (size_t i = 0; i < n_unknown; i++)
        hvf_agent_ctx_emit(ctx, "qemu_unknown", json_deep_copy(json_array_get(q->unknown, i)));
    for (size_t i = 0; i < q->n_vms; i++) {
        qx_vm *v = q->vms[i];
        hvf_error err = HVF_ERROR_INIT;
        hvf_qvm_migrate_info in;
        char raw[32];
        const char *state = hvf_qvm_state_to_string(hvf_qvm_status(v->vm, raw, sizeof(raw)));
        qx_job *job = NULL;

        hvf_agent_ctx_emit(ctx, "vm_state", json_pack("{s:s, s:s, s:s, s:I, s:b}", "vm",
                                                      v->name, "state", state, "qemu_status",
                                                      raw, "pid",
                                                      (json_int_t)hvf_qvm_pid(v->vm),
                                                      "adopted", true));
        if (hvf_qvm_migrate_src_poll(v->vm, &in, &err) < 0 || strcmp(in.status, "none") == 0 ||
            hvf_qvm_migrate_final(in.status) || v->busy)
            continue;
        for (size_t j = 0; j < QX_MAX_JOBS && !job; j++)
            if (q->jobs[j].id == 0)
                job = &q->jobs[j];
        if (!job)
            continue;
        *job = (qx_job){.id = job_file_read(v), .vm = v, .ctx = ctx};
        if (!job->id)
            job->id = q->next_job++;
        v->busy = true;
        fprintf(stderr, "hvfleet-agent: vm '%s': migration %s in flight, taken up as job %" PRId64
                "\n", v->name, in.status, job->id);
    }
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/*
 * MiB of QEMU's "-m [size=]N[K|M|G|T][,...]" (MiB without a suffix; hvf_qvm_start gives TCG
 * guests KiB), rounded down; -1 when unreadable.
 */
static int64_t
mem_arg_mib(const char *s)
{
    char *end;
    long long n;

    if (strncmp(s, "size=", 5) == 0)
        s += 5;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || end == s || n < 0 || n > (1LL << 40))
        return -1;
    switch (*end) {
    case 'K':
    case 'k':
        return n / 1024;
    case 'G':
    case 'g':
        return n * 1024;
    case 'T':
    case 't':
        return n * 1024 * 1024;
    default:
        return n;
    }
}

/* Memory and vCPUs of an adopted VM, from its QEMU's command line ("-m N", "-smp N"). */
static void
adopted_size(qx_vm *v)
{
    char path[64], buf[4096];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)hvf_qvm_pid(v->vm));
    if (!(f = fopen(path, "rb")))
        return;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n;) {
        const char *arg = buf + i;
        size_t len = strlen(arg);
        const char *next = i + len + 1 < n ? buf + i + len + 1 : NULL;

        if (next && strcmp(arg, "-m") == 0)
            v->mem_mib = mem_arg_mib(next);
        else if (next && strcmp(arg, "-smp") == 0)
            v->vcpus = strtoll(next, NULL, 10);
        i += len + 1;
    }
}

hvf_agent_executor *
hvf_agent_qemu_new(const hvf_agent_qemu_opts *o, hvf_error *err)
{
    qx *q = HVF_NEW(qx);
    hvf_qvm_adopted ad = {0};

    q->o = *o;
    q->dir = realpath(o->state_dir, NULL);
    if (!q->dir) {
        hvf_error_set(err, HVF_ERR_IO, "--state-dir '%s': cannot resolve", o->state_dir);
        free(q);
        return NULL;
    }
    q->binary = o->binary ? hvf_strdup(o->binary) : NULL;
    q->listen_addr = hvf_strdup(o->listen_addr ? o->listen_addr : "127.0.0.1");
    q->conf = (hvf_qvm_conf){.dir = q->dir,
                             .binary = q->binary,
                             .listen_addr = q->listen_addr,
                             .port_min = o->port_min,
                             .port_max = o->port_max,
                             .qmp_timeout_ms = 10000};
    /* Job ids unique across restarts (hvfleetd keeps the old ones): from the clock. */
    q->next_job = (int64_t)time(NULL) * 1000;
    q->unknown = json_array();
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    pthread_cond_init(&q->claim_cv, NULL);
    /* Adoption: VMs of STATE/vms/ whose QEMU lives; nothing started, stopped or killed. */
    if (hvf_qvm_adopt_all(&q->conf, &ad, err) < 0) {
        hvf_qvm_adopted_clear(&ad);
        hvf_agent_qemu_free(&q->table);
        return NULL;
    }
    for (size_t i = 0; i < ad.n_vms && q->n_vms < QX_MAX_VMS; i++) {
        qx_vm *v = HVF_NEW(qx_vm);

        hvf_strlcpy(v->name, hvf_qvm_name(ad.vms[i]), sizeof(v->name));
        v->vm = ad.vms[i];
        ad.vms[i] = NULL;
        v->adopted = true;
        v->pid = hvf_qvm_pid(v->vm);
        v->mem_mib = v->vcpus = -1;
        adopted_size(v);
        q->vms[q->n_vms++] = v;
        fprintf(stderr, "hvfleet-agent: adopted vm '%s' (pid %ld)\n", v->name,
                (long)hvf_qvm_pid(v->vm));
    }
    for (size_t i = 0; i < ad.n_unknown; i++)
        json_array_append_new(q->unknown, json_pack("{s:I, s:s}", "pid",
                                                    (json_int_t)ad.unknown[i].pid, "cmdline",
                                                    ad.unknown[i].cmdline));
    for (size_t i = 0; i < ad.n_stale; i++)
        fprintf(stderr, "hvfleet-agent: vms/%s: its QEMU is gone (left in place)\n",
                ad.stale[i]);
    hvf_qvm_adopted_clear(&ad);
    if (pthread_create(&q->poller, NULL, poller_main, q) != 0) {
        hvf_error_set(err, HVF_ERR_IO, "cannot start the migration poller thread");
        hvf_agent_qemu_free(&q->table);
        return NULL;
    }
    q->poller_started = true;
    q->table = (hvf_agent_executor){
        .name = "qemu",
        .vm_start = qx_vm_start,
        .vm_stop = qx_vm_stop,
        .vm_destroy = qx_vm_destroy,
        .migrate_in = qx_migrate_in,
        .migrate_out = qx_migrate_out,
        .job_cancel = qx_job_cancel,
        .job_postcopy = qx_job_postcopy,
        .dirty_rate = qx_dirty_rate,
        .host_maintain = hvf_agent_host_maintain,
        .qemu_kill = qx_qemu_kill,
        .facts = qx_facts,
        .attach = qx_attach,
        .fence = qx_fence,
        .self = q,
    };
    return &q->table;
}

void
hvf_agent_qemu_free(hvf_agent_executor *ex)
{
    qx *q;

    if (!ex)
        return;
    q = (qx *)((char *)ex - offsetof(qx, table));
    if (q->poller_started) {
        pthread_mutex_lock(&q->mu);
        q->stopping = true;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->poller, NULL);
    }
    /* The VMs keep running (migrations too): the next agent adopts them. */
    for (size_t i = 0; i < q->n_vms; i++) {
        hvf_qvm_free(q->vms[i]->vm);
        free(q->vms[i]);
    }
    json_decref(q->unknown);
    pthread_cond_destroy(&q->cv);
    pthread_cond_destroy(&q->claim_cv);
    pthread_mutex_destroy(&q->mu);
    free(q->dir);
    free(q->binary);
    free(q->listen_addr);
    free(q);
}

bool
hvf_agent_qemu_find_binary(const char *binary, char *out, size_t size)
{
    const char *name = binary ? binary : "qemu-system-x86_64";
    const char *path = getenv("PATH");

    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return access(name, X_OK) == 0;
    }
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);

        snprintf(out, size, "%.*s/%s", (int)len, p, name);
        if (len && access(out, X_OK) == 0)
            return true;
        p = colon ? colon + 1 : NULL;
    }
    return false;
}
