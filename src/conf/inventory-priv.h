/* SPDX-License-Identifier: MIT */
/* Inventory reading from a node of an open document, for files that embed an inventory. */
#pragma once

#include "conf/reader.h"
#include "hvfleet/fleet.h"
#include "hvfleet/strbuf.h"

/*
 * hvf_inventory_read_node: reads the inventory mapping @node of @r's document; problems go to
 * r->diags with r->file's name and lines. Returns an owned fleet, or NULL with @err set.
 */
hvf_fleet *hvf_inventory_read_node(hvf_reader *r, struct fy_node *node, hvf_error *err);

/*
 * inv_read_service_relations (inventory-services.c): a second pass over the services list,
 * once every service exists, reading depends_on and must_not_share (lists of service names) into
 * @f; problems go to r->diags. inv_format_service_relations appends them (", depends_on: [a]")
 * in the inventory's flow style.
 */
void inv_read_service_relations(hvf_reader *r, struct fy_node *seq, hvf_fleet *f);
void inv_format_service_relations(const hvf_fleet *f, const hvf_service *s, hvf_strbuf *out);
