/* SPDX-License-Identifier: MIT */
/*
 * The libvirt driver's threads (lv-driver.h): the process's libvirt and its event loop, the
 * queue messages reach the caller's thread by, and the workers that make the calls that block.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "driver/libvirt/lv-driver.h"
#include "hvfleet/alloc.h"

/* ---- libvirt, once per process ---- */

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;
static int lv_init_rc = -1;
static pthread_mutex_t lv_loop_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned lv_loop_users;
static volatile bool lv_loop_running;
static pthread_t lv_loop_thread;
static int lv_loop_timer = -1;

static void
lv_silent(void *ctx, virErrorPtr e)
{
    /* errors are read back with virGetLastError and reported by the caller, once */
    (void)ctx;
    (void)e;
}

static void
lv_init(void)
{
    if (virInitialize() < 0)
        return;
    virSetErrorFunc(NULL, lv_silent);
    /* keepalive and domain events need an event loop, registered before the first open */
    lv_init_rc = virEventRegisterDefaultImpl();
}

static void
lv_loop_tick(int timer, void *opaque)
{
    /* wakes the loop now and then, so that it sees lv_loop_running go false */
    (void)timer;
    (void)opaque;
}

static void *
lv_loop_main(void *arg)
{
    (void)arg;
    while (lv_loop_running)
        if (virEventRunDefaultImpl() < 0)
            usleep(10000);
    return NULL;
}

int
lv_libvirt_use(hvf_error *err)
{
    pthread_once(&lv_once, lv_init);
    if (lv_init_rc < 0) {
        hvf_error_set(err, HVF_ERR_IO, "libvirt: initialisation failed: %s",
                      lv_last_error("no event loop"));
        return -1;
    }
    pthread_mutex_lock(&lv_loop_lock);
    if (lv_loop_users++ == 0) {
        lv_loop_running = true;
        lv_loop_timer = virEventAddTimeout(200, lv_loop_tick, NULL, NULL);
        if (pthread_create(&lv_loop_thread, NULL, lv_loop_main, NULL) != 0) {
            lv_loop_users--;
            lv_loop_running = false;
            pthread_mutex_unlock(&lv_loop_lock);
            hvf_error_set(err, HVF_ERR_IO, "libvirt: cannot start its event loop thread");
            return -1;
        }
    }
    pthread_mutex_unlock(&lv_loop_lock);
    return 0;
}

void
lv_libvirt_unuse(void)
{
    pthread_mutex_lock(&lv_loop_lock);
    if (lv_loop_users && --lv_loop_users == 0) {
        lv_loop_running = false;
        pthread_join(lv_loop_thread, NULL);
        if (lv_loop_timer >= 0)
            virEventRemoveTimeout(lv_loop_timer);
        lv_loop_timer = -1;
    }
    pthread_mutex_unlock(&lv_loop_lock);
}

void
lv_warn(const char *fmt, ...)
{
    va_list ap;

    fputs("libvirt: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *
lv_last_error(const char *fallback)
{
    const char *m = virGetLastErrorMessage();

    return m && *m && strcmp(m, "no error") != 0 ? m : fallback;
}

/* ---- the queue ---- */

lv_queue *
lv_queue_new(void)
{
    lv_queue *q = HVF_NEW(lv_queue);

    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->refs = 1;
    return q;
}

lv_queue *
lv_queue_ref(lv_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->refs++;
    pthread_mutex_unlock(&q->lock);
    return q;
}

void
lv_queue_unref(lv_queue *q)
{
    bool last;

    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    last = --q->refs == 0;
    pthread_mutex_unlock(&q->lock);
    if (!last)
        return;
    for (size_t i = 0; i < q->n; i++)
        if (q->msgs[i].conn)
            virConnectClose(q->msgs[i].conn);
    free(q->msgs);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

void
lv_queue_post(lv_queue *q, const lv_msg *m)
{
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        if (m->kind == LV_MSG_OPENED && m->conn)
            virConnectClose(m->conn);
        return;
    }
    hvf_grow(&q->msgs, &q->cap, q->n + 1, sizeof(*q->msgs));
    q->msgs[q->n++] = *m;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void
lv_queue_wait_alone(lv_queue *q, int64_t wait_us)
{
    for (int64_t waited = 0; waited < wait_us; waited += 10000) {
        int refs;

        pthread_mutex_lock(&q->lock);
        refs = q->refs;
        pthread_mutex_unlock(&q->lock);
        if (refs <= 1)
            return;
        usleep(10000);
    }
}

size_t
lv_queue_take(lv_queue *q, int64_t wait_us, lv_msg **out)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    if (!q->n && wait_us > 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_us / 1000000;
        ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!q->n && pthread_cond_timedwait(&q->cond, &q->lock, &ts) != ETIMEDOUT)
            ;
    }
    n = q->n;
    *out = q->msgs;
    q->msgs = NULL;
    q->n = q->cap = 0;
    pthread_mutex_unlock(&q->lock);
    return n;
}

/* ---- tasks ---- */

void
lv_task_free(lv_task *t)
{
    if (!t)
        return;
    if (t->conn)
        virConnectClose(t->conn);
    if (t->dconn)
        virConnectClose(t->dconn);
    if (t->params)
        virTypedParamsFree(t->params, t->nparams);
    free(t->uri);
    free(t->xml);
    free(t->command);
    free(t);
}

static void
lv_done(lv_queue *q, const lv_task *t, bool ok, const char *text)
{
    lv_msg m = {.kind = LV_MSG_DONE, .host = t->host, .task = t->id, .ok = ok};

    hvf_strlcpy(m.vm, t->vm, sizeof(m.vm));
    hvf_strlcpy(m.text, text ? text : "", sizeof(m.text));
    lv_queue_post(q, &m);
}

static void
lv_run_open(lv_queue *q, lv_task *t)
{
    virConnectPtr c = virConnectOpenAuth(t->uri, virConnectAuthPtrDefault, 0);
    lv_msg m = {.host = t->host, .task = t->id};

    if (c && virConnectSetKeepAlive(c, 5, 3) < 0) {
        /* a driver without keepalive (test:///) still works; a dead peer is found later */
    }
    m.kind = c ? LV_MSG_OPENED : LV_MSG_OPEN_FAILED;
    m.conn = c;
    if (!c)
        hvf_strlcpy(m.text, lv_last_error("cannot connect"), sizeof(m.text));
    lv_queue_post(q, &m);
}

static void
lv_run_domain(lv_queue *q, lv_task *t)
{
    virDomainPtr dom = NULL;
    char buf[256] = "";
    bool ok = false;

    if (t->kind == LV_TASK_START && t->xml && !(dom = virDomainLookupByName(t->conn, t->vm)) &&
        !(dom = virDomainDefineXML(t->conn, t->xml))) {
        snprintf(buf, sizeof(buf), "defining it: %s", lv_last_error("failed"));
        goto out;
    }
    if (!dom && !(dom = virDomainLookupByName(t->conn, t->vm))) {
        snprintf(buf, sizeof(buf), "%s", lv_last_error("no such domain"));
        goto out;
    }
    switch (t->kind) {
    case LV_TASK_START:
        ok = virDomainCreate(dom) == 0;
        break;
    case LV_TASK_DESTROY:
        ok = virDomainDestroy(dom) == 0;
        break;
    case LV_TASK_ABORT:
        ok = virDomainAbortJob(dom) == 0;
        break;
    case LV_TASK_STOP: {
        struct timespec t0, now;
        int state = VIR_DOMAIN_NOSTATE, reason;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (virDomainShutdown(dom) < 0)
            break;
        for (;;) {
            if (virDomainGetState(dom, &state, &reason, 0) < 0 || state == VIR_DOMAIN_SHUTOFF)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - t0.tv_sec) * 1000000LL + (now.tv_nsec - t0.tv_nsec) / 1000 >=
                t->timeout_us)
                break;
            usleep(200000);
        }
        ok = state == VIR_DOMAIN_SHUTOFF || virDomainDestroy(dom) == 0;
        break;
    }
    case LV_TASK_MIGRATE: {
        virDomainPtr dd = virDomainMigrate3(dom, t->dconn, t->params, (unsigned)t->nparams,
                                            t->flags);

        ok = dd != NULL;
        if (dd)
            virDomainFree(dd);
        break;
    }
    default:
        break;
    }
    if (!ok)
        snprintf(buf, sizeof(buf), "%s", lv_last_error("failed"));
out:
    if (dom)
        virDomainFree(dom);
    lv_done(q, t, ok, buf);
}

static void
lv_run_shell(lv_queue *q, lv_task *t)
{
    pid_t pid = fork();
    int status = 0;
    int64_t waited = 0;
    char buf[256];

    if (pid < 0) {
        lv_done(q, t, false, strerror(errno));
        return;
    }
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", t->command, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (t->timeout_us > 0 && waited >= t->timeout_us) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(buf, sizeof(buf), "the command ran out of its %" PRId64 " s",
                     t->timeout_us / 1000000);
            lv_done(q, t, false, buf);
            return;
        }
        usleep(100000);
        waited += 100000;
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        lv_done(q, t, true, "");
        return;
    }
    if (status != -1 && WIFEXITED(status))
        snprintf(buf, sizeof(buf), "the command exited %d", WEXITSTATUS(status));
    else
        snprintf(buf, sizeof(buf), "the command was killed");
    lv_done(q, t, false, buf);
}

/* ---- the pool ---- */

static void *
lv_worker(void *arg)
{
    lv_pool *pool = arg;

    for (;;) {
        lv_task *t;

        pthread_mutex_lock(&pool->lock);
        while (!pool->stop && !pool->head)
            pthread_cond_wait(&pool->cond, &pool->lock);
        if (pool->stop) {
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        t = pool->head;
        pool->head = t->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->busy++;
        pthread_mutex_unlock(&pool->lock);

        if (t->kind == LV_TASK_OPEN)
            lv_run_open(pool->q, t);
        else if (t->kind == LV_TASK_SHELL)
            lv_run_shell(pool->q, t);
        else
            lv_run_domain(pool->q, t);
        lv_task_free(t);

        pthread_mutex_lock(&pool->lock);
        pool->busy--;
        pthread_mutex_unlock(&pool->lock);
    }
}

void
lv_pool_start(lv_pool *pool, size_t n, lv_queue *q)
{
    memset(pool, 0, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->q = lv_queue_ref(q);
    pool->threads = hvf_calloc(n, sizeof(*pool->threads));
    for (size_t i = 0; i < n; i++)
        if (pthread_create(&pool->threads[pool->nthreads], NULL, lv_worker, pool) == 0)
            pool->nthreads++;
}

void
lv_pool_submit(lv_pool *pool, lv_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->tail)
        pool->tail->next = t;
    else
        pool->head = t;
    pool->tail = t;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
}

void
lv_pool_stop(lv_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stop = true;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    while (pool->head) {
        lv_task *t = pool->head;

        pool->head = t->next;
        lv_task_free(t);
    }
    free(pool->threads);
    lv_queue_unref(pool->q);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    memset(pool, 0, sizeof(*pool));
}
