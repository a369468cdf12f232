/* SPDX-License-Identifier: MIT */
/* Change reading from a node of an open document, for files that embed a change (scenarios). */
#pragma once

#include "conf/reader.h"
#include "hvfleet/change.h"

/*
 * hvf_change_read_node: reads the change mapping @node of @r's document, naming fields
 * "@path.FIELD" in messages (@path "" for a change file). Problems go to r->diags.
 * Returns an owned change, or NULL when any problem was found.
 */
hvf_change *hvf_change_read_node(hvf_reader *r, struct fy_node *node, const char *path);

/* Reads one gate mapping @item (named @gpath in messages) into @g. False after reporting. */
bool hvf_change_read_gate(hvf_reader *r, struct fy_node *item, const char *gpath,
                          hvf_change_gate *g);
