/* SPDX-License-Identifier: MIT */
/* hvf_qvm's fields, shared by qemu-vm.c and qemu-vm-migrate.c; not for other modules. */
#pragma once

#include "driver/qemu/qemu-vm.h"

struct hvf_qvm {
    char *name;
    char *dir;         /* STATE/vms/NAME */
    char *pidfile;
    char *qmp_path;
    char *serial_path;
    char *log_path;
    char *listen_addr; /* from the conf */
    int port_min;
    int port_max;
    int qmp_timeout_ms;
    bool tracked;      /* recorded with hvf_qemu_track_pid */
    bool stopped;      /* by hvf_qvm_stop/destroy */
    pid_t pid;
    int dirty_risk;    /* 0: not asked yet, 1: QEMU's dirty tracking sees every write, 2: it may
                        * miss some (hvf_qvm_migrate_info.lost_writes_possible) */
    hvf_qmp *qmp;      /* owned; NULL once stopped */
};

/* The QMP connection, reconnected when it broke; NULL with @err set when QEMU is gone. */
hvf_qmp *hvf_qvm_priv_qmp(hvf_qvm *vm, hvf_error *err);
