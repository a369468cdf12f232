/* SPDX-License-Identifier: MIT */
/* For tests: the two implementations of the SHA-256 block, C and x86 SHA extensions. */
#pragma once

#include <stdbool.h>

/*
 * Uses the CPU's SHA extensions when @on and the CPU has them, else the portable C. Returns
 * whether they were in use. Not for use while other threads hash.
 */
bool hvf_sha256_set_accel(bool on);
