/* SPDX-License-Identifier: MIT */
/*
 * The agent's self-fence (docs/agent.md, "Fencing"): a watchdog thread that kills every VM
 * when the sync loop has had no 200 for --fence-after, the record of it (DIR/fenced.json) until
 * the controller has acknowledged it, and the optional Linux watchdog device.
 *
 * The sync loop only pets (an atomic store after each 200): the thread decides and fences by
 * itself, so a sync loop stuck in a read or a lock cannot keep the VMs running.
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
#include "util/text.h"

#define FENCE_TICK_MS 100        /* how often the thread looks at the last pet */
#define FENCE_DEVICE_PET_MS 1000 /* a byte to the watchdog device at most this often */
#define FENCE_MAX_FILE (1 << 20)
#define FENCE_MAX_VMS 65536
#define FENCE_RETRY_MS 5000 /* a fence that could not kill a VM is tried again this often */

/* CLOCK_BOOTTIME: a host that slept through its silence fences as soon as it wakes. */
static int64_t
boot_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fence_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fence_log(const char *fmt, ...)
{
    va_list ap;
    char line[1024];

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hvfleet-agent: %s\n", line);
}

json_t *
hvf_agent_fence_parse(const char *name, const char *text, size_t len, hvf_error *err)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *vms, *v;
    const char *bad = NULL;
    size_t i;

    if (!o) {
        hvf_error_set(err, HVF_ERR_INVALID,
                      "%s: line %d: %s (expected the fence record the "
                      "agent writes: {at_unix, boot_id, vms, fence_after_ms})",
                      name, jerr.line, jerr.text);
        return NULL;
    }
    vms = json_object_get(o, "vms");
    if (!json_is_object(o))
        bad = "expected an object {at_unix, boot_id, vms, fence_after_ms}";
    else if (!json_is_integer(json_object_get(o, "at_unix")) ||
             json_integer_value(json_object_get(o, "at_unix")) < 0)
        bad = "at_unix: expected an integer from 0 (when the agent fenced, Unix seconds)";
    else if (!json_is_string(json_object_get(o, "boot_id")))
        bad = "boot_id: expected a string";
    else if (!json_is_integer(json_object_get(o, "fence_after_ms")) ||
             json_integer_value(json_object_get(o, "fence_after_ms")) < 0)
        bad = "fence_after_ms: expected an integer from 0";
    else if (!json_is_array(vms) || json_array_size(vms) > FENCE_MAX_VMS)
        bad = "vms: expected a list of at most 65536 VM names";
    else if (json_object_get(o, "complete") && !json_is_boolean(json_object_get(o, "complete")))
        bad = "complete: expected true or false";
    else
        json_array_foreach(vms, i, v) {
            if (!json_is_string(v)) {
                bad = "vms: expected a list of VM names (strings)";
                break;
            }
        }
    if (bad) {
        hvf_error_set(err, HVF_ERR_INVALID, "%s: %s", name, bad);
        json_decref(o);
        return NULL;
    }
    return o;
}

static void
fence_clear_fields(hvf_agent_fence *f)
{
    free(f->path);
    free(f->boot_id);
    free(f->wd_path);
    json_decref(f->record);
    if (f->wd_fd >= 0)
        close(f->wd_fd);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    memset(f, 0, sizeof(*f));
    f->wd_fd = -1;
}

int
hvf_agent_fence_init(hvf_agent_fence *f, const char *state_dir, int64_t after_ms,
                     const char *wd_path, const char *boot_id, hvf_error *err)
{
    pthread_condattr_t attr;
    HVF_AUTOFREE char *text = NULL;
    size_t len = 0;

    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &attr);
    pthread_condattr_destroy(&attr);
    f->after_ms = after_ms;
    f->path = hvf_asprintf("%s/fenced.json", state_dir);
    f->boot_id = hvf_strdup(boot_id ? boot_id : "");
    f->wd_fd = -1;
    atomic_store(&f->pet_ms, boot_ms());
    if (access(f->path, F_OK) == 0) {
        hvf_error e2 = HVF_ERROR_INIT;

        if (!(text = hvf_text_read_file(f->path, FENCE_MAX_FILE, &len, &e2)) ||
            !(f->record = hvf_agent_fence_parse(f->path, text, len, &e2))) {
            hvf_error_set(err, HVF_ERR_INVALID,
                          "%s (remove it once hvfleetd knows the host "
                          "was fenced)",
                          e2.msg);
            fence_clear_fields(f);
            return -1;
        }
        f->gen = 1;
        atomic_store(&f->active, true);
        atomic_store(&f->incomplete, json_is_false(json_object_get(f->record, "complete")));
        fence_log("fenced at %" PRId64 " by an earlier process (%s): no VM starts until "
                  "hvfleetd acknowledges it",
                  (int64_t)json_integer_value(json_object_get(f->record, "at_unix")), f->path);
    }
    if (wd_path) {
        /* Opening the device arms it: from now on a dead or hung agent resets the host. */
        f->wd_fd = open(wd_path, O_WRONLY | O_CLOEXEC);
        if (f->wd_fd < 0) {
            hvf_error_set(err, HVF_ERR_IO, "--watchdog-device '%s': cannot open: %s", wd_path,
                          strerror(errno));
            fence_clear_fields(f);
            return -1;
        }
        f->wd_path = hvf_strdup(wd_path);
    }
    return 0;
}

/* One byte to the device; any byte but 'V' pets it. */
static void
fence_device_pet(hvf_agent_fence *f)
{
    if (f->wd_fd >= 0 && write(f->wd_fd, ".", 1) != 1)
        fence_log("--watchdog-device '%s': cannot write: %s", f->wd_path, strerror(errno));
}

static void *
fence_main(void *p)
{
    hvf_agent_fence *f = p;
    int64_t device_ms = 0, fenced_ms = 0;

    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        int64_t now = boot_ms();
        int64_t silent = now - atomic_load(&f->pet_ms);
        struct timespec ts;

        pthread_mutex_unlock(&f->mu);
        /* A fence not yet acknowledged already killed everything, unless a VM resisted. */
        if (silent >= f->after_ms &&
            (!atomic_load(&f->active) ||
             (atomic_load(&f->incomplete) && now - fenced_ms >= FENCE_RETRY_MS))) {
            char why[128];

            snprintf(why, sizeof(why),
                     "no successful sync for %" PRId64 " ms (--fence-after %" PRId64 " ms)", silent,
                     f->after_ms);
            (void)hvf_agent_fence_now(f, why, false);
            fenced_ms = now;
        }
        /* The device lives while the controller does, or once the VMs are dead. */
        if (f->wd_fd >= 0 && now - device_ms >= FENCE_DEVICE_PET_MS &&
            (now - atomic_load(&f->pet_ms) < f->after_ms ||
             (atomic_load(&f->active) && !atomic_load(&f->incomplete)))) {
            fence_device_pet(f);
            device_ms = now;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += FENCE_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&f->mu);
        if (!f->stopping)
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int
hvf_agent_fence_start(hvf_agent_fence *f, hvf_error *err)
{
    pthread_attr_t attr;
    int e;

    atomic_store(&f->pet_ms, boot_ms());
    /* The record says the host is fenced: whatever runs now (adopted) makes it false. */
    if (atomic_load(&f->active))
        (void)hvf_agent_fence_now(f, "an earlier process fenced, hvfleetd has not acknowledged it",
                                  false);
    if (f->after_ms <= 0)
        return 0;
    fence_device_pet(f);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    e = pthread_create(&f->thread, &attr, fence_main, f);
    pthread_attr_destroy(&attr);
    if (e) {
        hvf_error_set(err, HVF_ERR_IO, "cannot start the fence's watchdog thread: %s", strerror(e));
        return -1;
    }
    f->started = true;
    return 0;
}

void
hvf_agent_fence_clear(hvf_agent_fence *f, bool clean)
{
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stopping = true;
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        f->started = false;
    }
    /* The magic close: the device is disarmed, an agent stopped on purpose resets nothing. */
    if (clean && f->wd_fd >= 0 && write(f->wd_fd, "V", 1) != 1)
        fence_log("--watchdog-device '%s': cannot write the magic close: %s", f->wd_path,
                  strerror(errno));
    fence_clear_fields(f);
}

void
hvf_agent_fence_pet(hvf_agent_fence *f)
{
    atomic_store(&f->pet_ms, boot_ms());
}

bool
hvf_agent_fence_active(hvf_agent_fence *f)
{
    return atomic_load(&f->active);
}

static bool
names_has(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

int
hvf_agent_fence_now(hvf_agent_fence *f, const char *why, bool only_if_active)
{
    hvf_error err = HVF_ERROR_INIT;
    json_t *killed, *vms;
    HVF_AUTOFREE char *text = NULL;
    HVF_AUTOFREE char *names = NULL;
    bool failed = false;
    size_t i;
    json_t *v;
    int rc = 0;

    pthread_mutex_lock(&f->mu);
    if (only_if_active && !f->record) {
        pthread_mutex_unlock(&f->mu);
        return 1;
    }
    /* Before the kill: a start from now on is refused, one in flight is fenced again after. */
    atomic_store(&f->active, true);
    atomic_fetch_add(&f->fences, 1);
    killed = f->ex && f->ex->fence ? f->ex->fence(f->ex->self, &failed) : json_array();
    if (!f->record)
        f->record = json_pack("{s:I, s:s, s:[], s:I, s:b}", "at_unix", (json_int_t)time(NULL),
                              "boot_id", f->boot_id, "vms", "fence_after_ms",
                              (json_int_t)f->after_ms, "complete", true);
    /* the last try says: a VM that resisted and is gone now leaves the host fenced */
    json_object_set_new(f->record, "complete", json_boolean(!failed));
    atomic_store(&f->incomplete, failed);
    vms = json_object_get(f->record, "vms");
    json_array_foreach(killed, i, v) {
        if (!names_has(vms, json_string_value(v)))
            json_array_append(vms, v);
    }
    f->gen++;
    text = json_dumps(f->record, JSON_COMPACT);
    names = json_dumps(killed, JSON_COMPACT);
    HVF_ASSERT(text && names);
    if (hvf_file_write_atomic(f->path, text, strlen(text), &err) < 0) {
        fence_log("fence: %s (the fence is done; it is reported all the same)", err.msg);
        rc = -1;
    }
    if (failed)
        fence_log("fence INCOMPLETE: %s: killed %zu VMs %s, but a VM could not be killed (see "
                  "above); wrote %s with complete: false, trying again",
                  why, json_array_size(killed), names, f->path);
    else
        fence_log("fenced: %s: killed %zu VMs %s, wrote %s; no VM starts until hvfleetd "
                  "acknowledges the fence",
                  why, json_array_size(killed), names, f->path);
    pthread_mutex_unlock(&f->mu);
    json_decref(killed);
    return rc;
}

json_t *
hvf_agent_fence_report(hvf_agent_fence *f, uint64_t *gen)
{
    json_t *r = NULL;

    pthread_mutex_lock(&f->mu);
    if (f->record)
        r = json_deep_copy(f->record);
    *gen = f->gen;
    pthread_mutex_unlock(&f->mu);
    return r;
}

void
hvf_agent_fence_acked(hvf_agent_fence *f, uint64_t gen)
{
    pthread_mutex_lock(&f->mu);
    /* A fence merged in after that sync went out is reported again first. */
    if (f->record && f->gen == gen) {
        if (unlink(f->path) < 0 && errno != ENOENT)
            fence_log("%s: cannot remove: %s", f->path, strerror(errno));
        json_decref(f->record);
        f->record = NULL;
        atomic_store(&f->active, false);
        fence_log("hvfleetd acknowledged the fence: VMs may start again (%s removed)", f->path);
    }
    pthread_mutex_unlock(&f->mu);
}

void
hvf_agent_fence_refuse(hvf_agent_fence *f, const hvf_agent_cmd *cmd, hvf_error *err)
{
    int64_t at = 0, after = 0;

    pthread_mutex_lock(&f->mu);
    if (f->record) {
        at = json_integer_value(json_object_get(f->record, "at_unix"));
        after = json_integer_value(json_object_get(f->record, "fence_after_ms"));
    }
    pthread_mutex_unlock(&f->mu);
    hvf_error_set(err, HVF_ERR_REFUSED,
                  "%s '%s': refused: this host fenced itself at %" PRId64
                  " (no successful sync for %" PRId64 " ms, every VM killed, %s); it starts no "
                  "VM until hvfleetd has acknowledged the fence",
                  cmd->type, cmd->id, at, after, f->path);
}
