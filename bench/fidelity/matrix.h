/* SPDX-License-Identifier: MIT */
/* The fidelity matrix: quick subset, full matrix, calibration runs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "fidelity.h"

typedef struct fid_matrix {
    fid_config *configs; /* owned */
    size_t n, cap;
} fid_matrix;

/* Quick: 256 MiB at 125 MB/s, every rate and strategy. Full: 256 MiB-1 GiB x 50/125 MB/s, plus
 * working-set and zero-page cases. */
void fid_matrix_build(fid_matrix *mx, bool full);

/* Two idle-guest runs that measure the uncapped stop-and-copy speed and the switchover cost. */
void fid_matrix_calibration(fid_matrix *mx);

void fid_matrix_free(fid_matrix *mx);
