/* SPDX-License-Identifier: MIT */
/* Internals of the naive scheduler (naive.c) that tests reach. */
#pragma once

#include <stdbool.h>

/*
 * With @on, every target the index picks is checked against a scan of every host (the picker
 * as it was, quadratic over a maintenance): a difference aborts. Off by default; for tests.
 */
void hvf_sim_naive_set_verify(bool on);
