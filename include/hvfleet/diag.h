/* SPDX-License-Identifier: MIT */
/* A list of problems found in one input, each a one-line "FILE:LINE: field: value: expected". */
#pragma once

#include <stddef.h>
#include <stdio.h>

#define HVF_DIAGS_MAX_DEFAULT 50

typedef struct hvf_diags {
    char **lines; /* owned */
    size_t n, cap;
    size_t total; /* problems found, including those beyond max */
    size_t max;   /* lines kept; 0 = HVF_DIAGS_MAX_DEFAULT */
} hvf_diags;

void hvf_diags_init(hvf_diags *d);
void hvf_diags_clear(hvf_diags *d);
void hvf_diags_add(hvf_diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints each line, then "... and N more" when lines were dropped. */
void hvf_diags_print(const hvf_diags *d, FILE *out);
