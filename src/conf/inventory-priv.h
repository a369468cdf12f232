/* SPDX-License-Identifier: MIT */
/* Inventory reading from a node of an open document, for files that embed an inventory. */
#pragma once

#include "conf/reader.h"
#include "hvfleet/fleet.h"

/*
 * hvf_inventory_read_node: reads the inventory mapping @node of @r's document; problems go to
 * r->diags with r->file's name and lines. Returns an owned fleet, or NULL with @err set.
 */
hvf_fleet *hvf_inventory_read_node(hvf_reader *r, struct fy_node *node, hvf_error *err);
