/* SPDX-License-Identifier: MIT */
/*
 * The lab fleet (hvfleet lab up|down|status, docs/lab.md): a fleet of network namespaces on one
 * Linux machine, each a host with its hvfleet-agent, joined by a bridge, hvfleetd on the root
 * side. This header is shared by the lab's files of src/cli/:
 *
 *   lab-state.c  the record of a lab (DIR/lab.json): what `lab down` undoes; names and subnets
 *   lab-sys.c    running ip/tc (posix_spawn, argv, no shell), spawning daemons, /proc checks
 *   lab-net.c    the bridge, namespaces, veths and tc shaping; the subnet's check
 *   lab-files.c  its directory, inventory and token files
 *   lab-up.c     lab up: hvfleetd, agents, waiting, starting the VMs
 *   lab-down.c   lab down: every recorded process by PID (and start time), QEMUs, links
 *   cmd-lab.c    the command and its subcommands, lab status
 *
 * Names: a lab has a short random id (4 hex digits). Its bridge is hvl<id>br, host i (1-based)
 * is h<i> in namespace hvl<id>-h<i> with the veth pair hvl<id>h<i> (root side, on the bridge)
 * and eth0 (inside), address SUBNET.(10+i); the bridge has SUBNET.1. Every name is derived from
 * the id, and the reader of lab.json refuses one that is not, so a lab.json that was tampered
 * with cannot make `lab down` delete another interface.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hvfleet/error.h"
#include "hvfleet/strbuf.h"

#define HVF_LAB_SCHEMA "hvfleet.lab/v1"
#define HVF_LAB_MAX_HOSTS 64
#define HVF_LAB_MAX_PROCS (HVF_LAB_MAX_HOSTS + 1)
#define HVF_LAB_ID_LEN 4
/* the lab.json reader's cap */
#define HVF_LAB_MAX_FILE ((size_t)1 << 20)

typedef struct hvf_lab_host {
    char name[8];   /* h1 ... h64 */
    char netns[24]; /* hvl<id>-h<i> */
    char veth[16];  /* hvl<id>h<i>, the root side (IFNAMSIZ is 16) */
    uint32_t addr;  /* host byte order */
} hvf_lab_host;

typedef struct hvf_lab_proc {
    char role[12]; /* "hvfleetd" or "agent" */
    char host[8];  /* the agent's host; "" for hvfleetd */
    int pid;
    uint64_t start_time; /* /proc/PID/stat field 22: a recycled PID is never taken for it */
} hvf_lab_proc;

typedef struct hvf_lab {
    char id[HVF_LAB_ID_LEN + 1];
    char *dir;          /* owned: absolute */
    uint32_t subnet;    /* network address of the lab's /24, host byte order */
    char bridge[16];    /* hvl<id>br */
    uint64_t nic_bit_s; /* every host's NIC rate, tc's tbf on both ends */
    int port;           /* hvfleetd's, 0 until it listens */
    int64_t created_unix;
    hvf_lab_host *hosts; /* owned */
    size_t nhosts;
    hvf_lab_proc *procs; /* owned, in start order */
    size_t nprocs, procs_cap;
} hvf_lab;

/* ---- lab-state.c ---- */

/*
 * hvf_lab_new: a lab of @nhosts hosts (1 to HVF_LAB_MAX_HOSTS) with id @id (4 lowercase hex
 * digits), in @dir (copied, absolute), on @subnet's /24: every name and address derived (see
 * the top of this file). Owned (hvf_lab_free).
 */
hvf_lab *hvf_lab_new(const char *id, const char *dir, uint32_t subnet, size_t nhosts);
void hvf_lab_free(hvf_lab *lab);
/* Appends a process to the record. */
void hvf_lab_add_proc(hvf_lab *lab, const char *role, const char *host, int pid,
                      uint64_t start_time);

/* DIR/lab.json, owned. */
char *hvf_lab_path(const char *dir);
/* The record as JSON text (owned), deterministic: the same lab gives the same bytes. */
char *hvf_lab_format(const hvf_lab *lab);
/*
 * hvf_lab_parse: reads a record from @text (@len bytes, any content), @name naming it in
 * messages. Returns an owned lab, or NULL with @err set (HVF_ERR_INVALID, one line starting
 * with @name): not JSON, another schema, a field missing or out of range, a name or address
 * that is not the one derived from the id and the subnet.
 */
hvf_lab *hvf_lab_parse(const char *name, const char *text, size_t len, hvf_error *err);
/* Reads DIR/lab.json. NULL with HVF_ERR_NOT_FOUND when there is none, else as hvf_lab_parse
 * (HVF_ERR_IO when it cannot be read). */
hvf_lab *hvf_lab_load(const char *dir, hvf_error *err);
/* Writes DIR/lab.json atomically (a reader sees the old or the new record, whole). */
int hvf_lab_save(const hvf_lab *lab, hvf_error *err) __attribute__((warn_unused_result));

/*
 * hvf_lab_subnet_parse: "A.B.C.0/24" inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 into
 * *@net (host byte order). Returns 0, or -1 with HVF_ERR_INVALID: "'@s': expected ...".
 */
int hvf_lab_subnet_parse(const char *s, uint32_t *net, hvf_error *err);
/* Dotted quad of @addr (host byte order) into @buf. */
char *hvf_lab_addr_format(uint32_t addr, char buf[16]);

/* ---- lab-files.c ---- */

/* A lab's directory holds this file from its first `lab up` on. */
#define HVF_LAB_MARKER ".hvfleet-lab"

/* True when @p has only letters, digits and ._/+,:@~- (it goes into URIs as it is). */
bool hvf_lab_path_ok(const char *p);
/*
 * hvf_lab_dir_prepare: makes @dir the lab's: created (0700) when missing; an existing one must
 * be empty or hold HVF_LAB_MARKER (an earlier lab's), so that no other directory is taken.
 * Returns 0, or -1 with HVF_ERR_INVALID.
 */
int hvf_lab_dir_prepare(const char *dir, hvf_error *err);
/* Locks @dir's HVF_LAB_MARKER (flock) while a lab up or down works on it: the open descriptor
 * (close it to unlock), or -1 with HVF_ERR_CONFLICT when another holds it. */
int hvf_lab_dir_lock(const char *dir, hvf_error *err);
/* Removes @path and what is under it, not following symlinks; a missing @path is fine. */
int hvf_lab_rm_tree(const char *path, hvf_error *err);
/* Writes @text to @path whole (hvf_file_write_atomic) with mode @mode. */
int hvf_lab_write_file(const char *path, const char *text, mode_t mode, hvf_error *err);
/* "1Gbit", "100Mbit", "1500000bit": @bits exactly, in the largest unit that divides it. */
void hvf_lab_format_bits(uint64_t bits, char *buf, size_t size);
/*
 * hvf_lab_write_inventory: @lab's fleet to @path: its hosts (big enough that draining any one
 * fits on the others), @nvms VMs on each of @vm_mib MiB dirtying @dirty_bps bytes/s (`ha: true`
 * when @ha); read back with the inventory's reader. Returns 0, or -1 with @err set.
 */
int hvf_lab_write_inventory(const hvf_lab *lab, long nvms, uint64_t vm_mib, double dirty_bps,
                            bool ha, const char *path, hvf_error *err);
/* A token of @role for @name (and @host, may be NULL) in the store of @state_dir, written
 * alone on the only line of @path (mode 0600). */
int hvf_lab_token(const char *state_dir, const char *role, const char *name, const char *host,
                  const char *path, hvf_error *err);
/* The last non-empty line of @path and the path, for messages, into @buf. */
void hvf_lab_log_tail(const char *path, char *buf, size_t size);

/* ---- lab-sys.c ---- */

/*
 * hvf_lab_cmd: runs @argv (argv[0] looked up in PATH, then /usr/sbin and /sbin; no shell),
 * stdin from /dev/null, its standard output into @out when not NULL (appended), bounded to 10 s.
 * Returns 0 when it exits 0, else -1 with @err set (HVF_ERR_INTERNAL): "'ARGV...' failed (exit
 * N): FIRST LINE OF ITS STDERR".
 */
int hvf_lab_cmd(const char *const *argv, hvf_strbuf *out, hvf_error *err);
/*
 * hvf_lab_spawn: starts @argv (an absolute path, or looked up as hvf_lab_cmd does) in its own
 * session, stdin /dev/null, stdout and stderr appended to @log. Does not wait. Returns 0 with
 * *@pid and its start time, or -1 with @err set.
 */
int hvf_lab_spawn(const char *const *argv, const char *log, int *pid, uint64_t *start_time,
                  hvf_error *err);
/* /proc/@pid/stat: its start time (field 22) and state letter. -1 when there is no such
 * process (or it cannot be read). */
int hvf_lab_proc_stat(int pid, uint64_t *start_time, char *state);
/* True while @p runs: the PID exists, is not a zombie, has the recorded start time, and its
 * command name is hvfleetd or hvfleet-agent as its role says. */
bool hvf_lab_proc_alive(const hvf_lab_proc *p);
/*
 * hvf_lab_find_program: @name next to the running hvfleet (/proc/self/exe's directory), then at
 * each of @rel (NULL-terminated, relative to that directory: the build tree's and the
 * installed layout), then in PATH. Owned absolute path, or NULL.
 */
char *hvf_lab_find_program(const char *name, const char *const *rel);
/* The first of @rel (relative to the running hvfleet's directory) that is a readable regular
 * file: owned absolute path, or NULL. */
char *hvf_lab_find_data(const char *const *rel);
/* Sleeps @ms milliseconds; the monotonic clock in milliseconds. */
void hvf_lab_sleep_ms(int ms);
int64_t hvf_lab_now_ms(void);

/* ---- lab-net.c ---- */

/* Refuses (HVF_ERR_CONFLICT) when a route of the machine (any table) overlaps @subnet/24,
 * naming it: the lab's /24 must exist only on its bridge and namespaces. */
int hvf_lab_net_check_free(uint32_t subnet, hvf_error *err);
/* True when a bridge, namespace or veth of this id exists already. */
bool hvf_lab_net_id_taken(const char *id);
/* Makes the bridge, then each host's namespace, veth pair, addresses and tbf on both ends. */
int hvf_lab_net_up(const hvf_lab *lab, hvf_error *err);
/* Deletes what exists of the namespaces, veths and bridge; what is gone already is fine.
 * Returns 0, or -1 with the first failure in @err after trying everything. */
int hvf_lab_net_down(const hvf_lab *lab, hvf_error *err);
/* The PIDs of the processes in namespace @netns (ip netns pids), into @pids (at most @max);
 * returns how many, 0 when the namespace does not exist. */
size_t hvf_lab_net_pids(const char *netns, int *pids, size_t max);

/* ---- lab-down.c ---- */

/*
 * hvf_lab_down: stops every process of @lab (agents, then hvfleetd: SIGTERM, then SIGKILL after
 * 5 s), the QEMUs its agents left (from DIR/hosts/H/vms/VM/pidfile and the namespaces'
 * processes), then deletes its namespaces, veths and bridge, and last DIR/lab.json. Idempotent:
 * what is gone already is skipped. Progress lines on stderr unless @quiet. Returns 0, or -1
 * with @err set (lab.json is then kept, so that down can be run again).
 */
int hvf_lab_down(hvf_lab *lab, bool quiet, hvf_error *err);

/* ---- lab-up.c, cmd-lab.c ---- */

/*
 * hvf_lab_fence: powers host @host of @lab off, as a fence command must: every process of its
 * namespace (its agent, its QEMUs) killed at once. *@killed: how many. 0, or -1 when some
 * outlived SIGKILL for 5 s.
 */
int hvf_lab_fence(const hvf_lab *lab, size_t host, size_t *killed, hvf_error *err);
int hvf_cli_lab_fence(int argc, char **argv);
int hvf_cli_lab_up(int argc, char **argv);
int hvf_cli_lab_down(int argc, char **argv);
int hvf_cli_lab_status(int argc, char **argv);
/* The lab's directory from --dir: made absolute (it need not exist). Owned, or NULL after a
 * message (exit 2). */
char *hvf_cli_lab_dir(const char *what, const char *arg);
