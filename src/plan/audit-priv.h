/* SPDX-License-Identifier: MIT */
/* Internals of the fault-domain audit shared by audit.c (findings) and audit-fix.c (moves). */
#pragma once

#include "hvfleet/audit.h"

/* The domain of @host at @level: the host, its rack or its zone. */
int32_t audit_domain_of(const hvf_fleet *f, hvf_spread level, int32_t host);
/* Domains at @level (hosts, racks, zones). */
size_t audit_ndomains(const hvf_fleet *f, hvf_spread level);
/* A replica counts when its host is not down. */
bool audit_host_alive(const hvf_fleet *f, int32_t host);
/* max(min_available, 1) */
uint32_t audit_needed(const hvf_service *s);

/*
 * audit_find_all: every finding of @f, sorted by level (hosts first), domain, kind, service,
 * other. With @minimal, a rack (zone) finding is dropped when the same finding exists for a
 * host (rack, host) inside it. *@out receives an owned array (NULL for none); returns the count.
 */
size_t audit_find_all(const hvf_fleet *f, bool minimal, hvf_audit_finding **out);

/* Alive replicas of @service in total, and in @domain of @level. */
void audit_count(const hvf_fleet *f, int32_t service, hvf_spread level, int32_t domain,
                 uint32_t *alive, uint32_t *in_domain);
