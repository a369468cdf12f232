/* SPDX-License-Identifier: MIT */
/* Reading a policy that sits inside another file (a scenario's maintenance section). */
#pragma once

#include "conf/reader.h"
#include "hvfleet/policy.h"

/*
 * hvf_policy_read_node: reads the policy mapping @node of @r's document, fields left out at
 * their defaults; problems go to r->diags with every field named "PATH.FIELD" at the line of
 * @node's document. Returns the number of problems; @out holds the policy when there were none,
 * the defaults otherwise.
 */
size_t hvf_policy_read_node(hvf_reader *r, struct fy_node *node, const char *path, hvf_policy *out);
