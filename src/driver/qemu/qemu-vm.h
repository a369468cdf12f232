/* SPDX-License-Identifier: MIT */
/* QEMU VMs the agent owns: start from a spec, stop, destroy, status, adoption after a restart. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "driver/qemu/qmp.h"
#include "hvfleet/error.h"

/*
 * Every VM lives in STATE/vms/NAME/ (STATE is hvf_qvm_conf.dir):
 *   pidfile     written by QEMU (-pidfile), removed by QEMU when it exits normally
 *   qmp.sock    the QMP socket; its path on QEMU's command line is how a process is recognised
 *   serial.log  COM1
 *   qemu.log    QEMU's stdout and stderr until it daemonized (start-up errors)
 * QEMU runs daemonized (-daemonize: its own session, reparented to init), so it outlives the
 * caller, and the caller never has to reap it. Liveness of a VM is: /proc/PID exists, is no
 * zombie, and its cmdline names this VM's qmp.sock (a recycled pid is so never mistaken).
 *
 * States (hvf_qvm_state):
 *   running   QEMU is alive and its guest runs
 *   paused    alive, guest not running (paused, inmigrate, postmigrate, prelaunch, shutdown...)
 *   stopped   QEMU is gone after a stop/destroy of ours, or it exited normally on its own (the
 *             guest powered off, a failed incoming migration: QEMU removed its pidfile)
 *   crashed   QEMU is gone and left its pidfile (killed by a signal, crashed), or it is alive
 *             and reports guest-panicked or internal-error
 *
 * Threads: an hvf_qvm is used by one thread at a time; different VMs by different threads at
 * once. Nothing here touches process-wide state but hvf_qemu_track_pid() when conf.kill_on_exit.
 * Only hvf_qvm_stop, hvf_qvm_destroy, hvf_qvm_dirty_rate and hvf_qvm_migrate_dst_finish wait
 * (each bounded by its timeout); a migration is started and then polled (qemu-vm-migrate.h).
 */

#define HVF_QVM_NAME_MAX 64
#define HVF_QVM_MEM_MIB_MIN 16
#define HVF_QVM_MEM_MIB_MAX (4u * 1024 * 1024)
#define HVF_QVM_VCPUS_MAX 256
/* Default port range of incoming migrations (hvf_qvm_conf.port_min/max at 0). */
#define HVF_QVM_PORT_MIN_DEFAULT 49152
#define HVF_QVM_PORT_MAX_DEFAULT 49215
/*
 * A TCG guest gets mem_mib MiB and this many KiB more (-m in KiB). QEMU before 9.0 syncs the
 * dirty bitmap of a RAM block whose size is a multiple of 256 KiB on a fast path that does not
 * reset TCG's TLB (fixed by QEMU commit 03bfc2188f): writes through TLB entries that stay (the
 * stack, hot globals) are then never seen dirty again and the destination resumes an older copy
 * of those pages. Any other size takes the page-by-page path, which resets the TLB.
 */
#define HVF_QVM_TCG_RAM_PAD_KIB 8

/* Where VMs live and how QEMU is run; borrowed by every call, copied where a VM keeps it. */
typedef struct hvf_qvm_conf {
    const char *dir;         /* state directory (created if missing); must be absolute */
    const char *binary;      /* NULL: "qemu-system-x86_64" from PATH */
    const char *listen_addr; /* incoming migrations listen here; NULL: "127.0.0.1" */
    int port_min;            /* incoming migration ports, inclusive; 0: the defaults above */
    int port_max;
    int qmp_timeout_ms;      /* QMP connect and each command; 0: HVF_QMP_DEFAULT_TIMEOUT_MS */
    bool kill_on_exit;       /* tests: record each started QEMU with hvf_qemu_track_pid() so
                              * that qemu-proc's cleanup hooks SIGKILL it on exit or signal */
} hvf_qvm_conf;

typedef struct hvf_qvm_spec {
    const char *name;         /* [A-Za-z0-9_.-], 1..HVF_QVM_NAME_MAX, not starting with '.' */
    uint64_t mem_mib;         /* HVF_QVM_MEM_MIB_MIN..HVF_QVM_MEM_MIB_MAX */
    unsigned vcpus;           /* 1..HVF_QVM_VCPUS_MAX; 0 means 1 */
    const char *kernel;       /* a multiboot or Linux kernel (-kernel), or NULL */
    const char *disk;         /* a disk image (virtio, qcow2 or raw by QEMU's probe), or NULL;
                               * exactly one of kernel and disk */
    const char *accel;        /* "tcg" or "kvm"; NULL: "tcg" */
    const char *const *extra; /* NULL-terminated arguments appended (e.g. -append ...); may be NULL */
    bool incoming;            /* start with -incoming defer, paused until a migration arrives */
} hvf_qvm_spec;

typedef enum hvf_qvm_state {
    HVF_QVM_RUNNING,
    HVF_QVM_PAUSED,
    HVF_QVM_STOPPED,
    HVF_QVM_CRASHED,
    HVF_QVM_STATE_LAST
} hvf_qvm_state;

const char *hvf_qvm_state_to_string(hvf_qvm_state s);

typedef struct hvf_qvm hvf_qvm;

/*
 * hvf_qvm_spec_check: validates @spec (name, memory, vCPUs, one readable image, accel) without
 * starting anything. Returns 0, or -1 with HVF_ERR_INVALID and a one-line message naming the
 * field and value.
 */
int hvf_qvm_spec_check(const hvf_qvm_spec *spec, hvf_error *err) __attribute__((warn_unused_result));

/*
 * hvf_qvm_start: starts the VM @spec in @conf->dir/vms/NAME/ and connects to its QMP socket.
 * Refused (HVF_ERR_CONFLICT) when a live QEMU already owns that directory. Blocks until QEMU
 * finished its set-up (or failed: HVF_ERR_IO quoting QEMU's last log line), at most about
 * 2 x qmp_timeout_ms. On failure no QEMU is left behind. Returns an owned handle (release with
 * hvf_qvm_free, which leaves QEMU running), or NULL with @err set.
 */
hvf_qvm *hvf_qvm_start(const hvf_qvm_conf *conf, const hvf_qvm_spec *spec, hvf_error *err);

/*
 * hvf_qvm_free: closes the QMP connection and frees @vm (NULL is a no-op). QEMU keeps running:
 * hvf_qvm_adopt_all finds it again.
 */
void hvf_qvm_free(hvf_qvm *vm);

/*
 * hvf_qvm_stop: ACPI power-down (system_powerdown), waits up to @timeout_ms for the guest to
 * power off; then "quit" and up to 5 s more; then SIGKILL. Removes pidfile and qmp.sock (the
 * logs stay). Returns 0 when the guest powered off, 1 when "quit" was needed, 2 when SIGKILL
 * was; -1 with @err set only when the process could not be killed (not ours to kill: EPERM).
 * The handle stays valid (status: stopped); free it with hvf_qvm_free.
 */
int hvf_qvm_stop(hvf_qvm *vm, int timeout_ms, hvf_error *err);

/*
 * hvf_qvm_destroy: hvf_qvm_stop without the power-down: "quit", then SIGKILL after 2 s.
 * Both return 0 at once for a QEMU that is already gone (and remove its pidfile and socket).
 */
int hvf_qvm_destroy(hvf_qvm *vm, hvf_error *err);

/*
 * hvf_qvm_status: the VM's state (see the top of this file), from pid liveness and
 * query-status. @raw, when not NULL, receives QEMU's own status string ("running", "inmigrate",
 * ...; "" when QEMU is gone). Never fails: a QMP error on a live QEMU reads as paused with @raw
 * "unknown".
 */
hvf_qvm_state hvf_qvm_status(hvf_qvm *vm, char *raw, size_t raw_size);

const char *hvf_qvm_name(const hvf_qvm *vm);
pid_t hvf_qvm_pid(const hvf_qvm *vm);
const char *hvf_qvm_dir(const hvf_qvm *vm); /* STATE/vms/NAME */
const char *hvf_qvm_serial_path(const hvf_qvm *vm);
/* Borrowed; NULL once stopped. For commands this module has no function for. */
hvf_qmp *hvf_qvm_qmp(hvf_qvm *vm);
/* True while the process is alive and its cmdline names this VM's QMP socket. */
bool hvf_qvm_alive(const hvf_qvm *vm);

/* ---------------------------------------------------------------- adoption */

/* A qemu-system* process that is none of ours. */
typedef struct hvf_qvm_unknown {
    pid_t pid;
    char cmdline[256]; /* arguments joined by spaces, truncated */
} hvf_qvm_unknown;

typedef struct hvf_qvm_adopted {
    hvf_qvm **vms; /* owned, each connected; sorted by name */
    size_t n_vms;
    char **stale;  /* owned: names of VM directories whose QEMU is gone (left in place) */
    size_t n_stale;
    hvf_qvm_unknown *unknown; /* owned: sorted by pid */
    size_t n_unknown;
} hvf_qvm_adopted;

/*
 * hvf_qvm_adopt_all: after a restart of the caller, finds every VM of @conf->dir whose pidfile
 * names a live QEMU whose cmdline names the VM's qmp.sock and whose QMP socket answers within
 * qmp_timeout_ms, and connects to it. Nothing is started, stopped or killed: a live QEMU of ours
 * whose QMP does not answer (another client holds it) is reported as unknown, a directory
 * whose QEMU is gone as stale. Every other qemu-system* process of the machine (/proc) is
 * reported as unknown. Fills @out (free with hvf_qvm_adopted_clear). Returns 0, or -1 with
 * @err set when @conf->dir or /proc cannot be read.
 */
int hvf_qvm_adopt_all(const hvf_qvm_conf *conf, hvf_qvm_adopted *out, hvf_error *err)
    __attribute__((warn_unused_result));
void hvf_qvm_adopted_clear(hvf_qvm_adopted *a);
/*
 * hvf_qvm_scan_unknown: the qemu-system* processes of this network namespace whose PID is not
 * in @known (the caller's VMs), as adoption reports them: found again every few seconds, a QEMU
 * started behind the agent's back is reported within that. *@out owned (free()).
 */
int hvf_qvm_scan_unknown(const pid_t *known, size_t nknown, hvf_qvm_unknown **out, size_t *n,
                         hvf_error *err) __attribute__((warn_unused_result));

/* ---------------------------------------------------------------- dirty rate */

/*
 * hvf_qvm_dirty_rate_start / _poll: QMP calc-dirty-rate over @seconds (1..60; page sampling,
 * 4096 pages per GiB) and query-dirty-rate. QEMU reports the rate in MiB/s (it calls them
 * "MB/s" and computes with MiB) as an integer: *@bytes_per_s is that times 1048576, so its
 * resolution is 1 MiB/s. _poll returns 1 with *@bytes_per_s set once measured, 0 while
 * measuring, -1 with @err set. (QEMU 7.2's dirty-bitmap mode aborts QEMU under TCG: not used.)
 */
int hvf_qvm_dirty_rate_start(hvf_qvm *vm, int seconds, hvf_error *err)
    __attribute__((warn_unused_result));
int hvf_qvm_dirty_rate_poll(hvf_qvm *vm, uint64_t *bytes_per_s, hvf_error *err)
    __attribute__((warn_unused_result));
/* Both, waiting: blocks about @seconds + 0.1 s (at most @seconds + 5 s). */
int hvf_qvm_dirty_rate(hvf_qvm *vm, int seconds, uint64_t *bytes_per_s, hvf_error *err)
    __attribute__((warn_unused_result));
/* Reads a query-dirty-rate reply: 1 measured (rate set), 0 not yet, -1 malformed. */
int hvf_qvm_dirty_rate_read(json_t *reply, uint64_t *bytes_per_s);

/* ---------------------------------------------------------------- /proc cmdline */

/*
 * hvf_qvm_cmdline_qmp_path: in @len bytes of a /proc/PID/cmdline (NUL-separated arguments),
 * the path of the first "-qmp unix:PATH[,opts]" (also "-qmp=..." and "--qmp"), copied to @out.
 * Returns true when argv[0]'s base name starts with "qemu-system" and such a path exists (and
 * fits @size). Any bytes are accepted.
 */
bool hvf_qvm_cmdline_qmp_path(const char *buf, size_t len, char *out, size_t size);
/* True when argv[0]'s base name starts with "qemu-system". */
bool hvf_qvm_cmdline_is_qemu(const char *buf, size_t len);
/* The arguments joined by single spaces into @out (truncated, non-printable bytes as '?'). */
void hvf_qvm_cmdline_join(const char *buf, size_t len, char *out, size_t size);
/* The VM name of a joined command line ("-name guest=X,..." or "-name X") into @out; false when
 * it names none (or one longer than @size - 1). */
bool hvf_qvm_cmdline_name(const char *joined, char *out, size_t size);
