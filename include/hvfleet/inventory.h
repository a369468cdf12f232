/* SPDX-License-Identifier: MIT */
/* Inventory files (YAML or JSON, schema hvfleet.inventory/v1): read, validate, write, summarize. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "hvfleet/diag.h"
#include "hvfleet/error.h"
#include "hvfleet/fleet.h"
#include "hvfleet/strbuf.h"

#define HVF_INVENTORY_SCHEMA "hvfleet.inventory/v1"

/* Defaults for fields a file may leave out. */
#define HVF_DEFAULT_NIC_BYTES_PER_S 1.25e9 /* 10Gbit */
#define HVF_DEFAULT_CPU_ALLOCATION_RATIO 4.0 /* Nova's initial_cpu_allocation_ratio */
#define HVF_DEFAULT_RAM_ALLOCATION_RATIO 1.0
#define HVF_DEFAULT_CPU_LOAD 0.2

/*
 * hvf_inventory_load / _parse: reads an inventory and validates it. Every problem goes to @diags
 * as "FILE:LINE: field: value: what was expected" (unknown fields, wrong types, bad units,
 * duplicate names, VMs on unknown hosts, hosts over capacity, services without VMs).
 * Returns an owned fleet, or NULL with @err set (HVF_ERR_INVALID when @diags holds problems,
 * HVF_ERR_IO when the file cannot be read). Never crashes on any input.
 */
hvf_fleet *hvf_inventory_load(const char *path, hvf_diags *diags, hvf_error *err);
hvf_fleet *hvf_inventory_parse(const char *name, const char *buf, size_t len, hvf_diags *diags,
                               hvf_error *err);

/* Appends @fleet as YAML in the inventory schema; parsing it back gives the same fleet. */
void hvf_inventory_format(const hvf_fleet *fleet, hvf_strbuf *out);

/* Receives the text of hvf_inventory_format piece by piece, in order, @len > 0. */
typedef void (*hvf_inventory_sink)(void *ctx, const char *text, size_t len);
/* The same text handed to @sink in pieces of some 64 KiB, never held whole (a fingerprint of a
 * large fleet need not build it). */
void hvf_inventory_format_to(const hvf_fleet *fleet, hvf_inventory_sink sink, void *ctx);
/* The fleet's fingerprint: SHA-256 of its canonical text (hvf_inventory_format) without the
 * hosts' nics (they take no part in placement), as hex. The sim driver names its world after
 * it. */
void hvf_inventory_fingerprint(const hvf_fleet *fleet, char hex[65]);
/*
 * The same without the VMs' dirty rates: the fleet's shape (hosts, capacities, VMs and where
 * they run, services). Plans are bound to it: the agent:// driver folds the rates the hosts
 * measure into the fleet every minute, and a plan must not go stale for that (the executor
 * re-plans when a migration runs later than predicted).
 */
void hvf_inventory_fingerprint_shape(const hvf_fleet *fleet, char hex[65]);

/* Writes @fleet to @path atomically ("-" = standard output). */
int hvf_inventory_save(const hvf_fleet *fleet, const char *path, hvf_error *err)
    __attribute__((warn_unused_result));
