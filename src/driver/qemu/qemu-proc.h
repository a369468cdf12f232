/* SPDX-License-Identifier: MIT */
/* QEMU processes we start: fork/exec in their own process group, a QMP connection, a sure stop. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "driver/qemu/qmp.h"
#include "hvfleet/error.h"

/*
 * Every QEMU started here is recorded in a process-wide table until hvf_qemu_stop() reaps it.
 * Three things make sure none outlives us:
 *  - hvf_qemu_stop(): "quit" over QMP, then SIGTERM, then SIGKILL to its process group;
 *  - hvf_qemu_cleanup_install(): SIGINT/SIGTERM/SIGHUP/SIGQUIT handlers and an atexit hook that
 *    SIGKILL every recorded group (then the signal takes its default course);
 *  - the child asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), which covers
 *    our own SIGKILL or crash.
 * Not thread-safe: one thread starts and stops QEMUs.
 */

/* At most this many QEMUs at once (a migration needs two). */
#define HVF_QEMU_MAX_PROCS 16

typedef struct hvf_qemu_opts {
    const char *binary;        /* NULL: "qemu-system-x86_64" from PATH */
    const char *const *args;   /* NULL-terminated arguments after ours (machine, -m, -kernel...) */
    const char *workdir;       /* existing directory for the QMP socket, serial and log files */
    const char *name;          /* file-name stem, e.g. "src": WORKDIR/src.qmp, .serial, .log */
    int timeout_ms;            /* QMP connect and command timeout; 0: the QMP default */
    hvf_qmp_event_fn on_event; /* may be NULL */
    void *opaque;
} hvf_qemu_opts;

typedef struct hvf_qemu hvf_qemu;

/*
 * hvf_qemu_start: starts QEMU with -nodefaults -no-user-config -display none, a QMP socket and
 * COM1 written to a file, plus @o->args; stdin is /dev/null, stdout and stderr go to the log
 * file. Connects to QMP (capabilities negotiated). On any failure the process is stopped before
 * returning. Returns an owned handle, or NULL with @err set (HVF_ERR_IO; the message quotes the
 * last line of QEMU's log when it exited early).
 */
hvf_qemu *hvf_qemu_start(const hvf_qemu_opts *o, hvf_error *err);

/*
 * hvf_qemu_stop: asks QEMU to quit over QMP, waits up to @grace_ms, then SIGTERM and another
 * @grace_ms, then SIGKILL; always reaps the process and frees @p (NULL is a no-op).
 * Returns 0 when QEMU exited on its own or by "quit", 1 when it had to be signalled.
 */
int hvf_qemu_stop(hvf_qemu *p, int grace_ms);

/* False once the process has exited (it is then reaped; stop still frees the handle). */
bool hvf_qemu_alive(hvf_qemu *p);

pid_t hvf_qemu_pid(const hvf_qemu *p);
hvf_qmp *hvf_qemu_qmp(hvf_qemu *p);
const char *hvf_qemu_serial_path(const hvf_qemu *p);
const char *hvf_qemu_log_path(const hvf_qemu *p);

/* Installs the signal handlers and the atexit hook described above; idempotent. */
void hvf_qemu_cleanup_install(void);

/* SIGKILLs every recorded QEMU's process group and reaps it; async-signal-safe but for the reap. */
void hvf_qemu_kill_all(void);

/*
 * hvf_qemu_track_pid: records @pid, a QEMU started elsewhere (e.g. daemonized by qemu-vm.c for
 * a test), in the same table, so that the cleanup hooks SIGKILL it too (by pid when it leads
 * no process group). Returns 0, or -1 when the table is full. hvf_qemu_untrack_pid forgets it
 * (once it was stopped); hvf_qemu_stop is not for tracked pids.
 */
int hvf_qemu_track_pid(pid_t pid) __attribute__((warn_unused_result));
void hvf_qemu_untrack_pid(pid_t pid);

/* Number of QEMUs started and not yet reaped, plus tracked ones (for tests). */
int hvf_qemu_count(void);
