/* SPDX-License-Identifier: MIT */
/* Conventions shared by the Ganeti text reader and writer: tag names and htools enum tables. */
#pragma once

/* Node tags that carry hvfleet structure; the reader consumes them, the writer emits them. */
#define GNT_TAG_RACK "rack:"
#define GNT_TAG_DRAINED "hvfleet:drained"
#define GNT_TAG_KERNEL "hvfleet:kernel:"
#define GNT_TAG_HW "hvfleet:hw:"
/* Node tag marking a host whose resources Ganeti reported as '?' (sized to hold its VMs). */
#define GNT_TAG_UNKNOWN "hvfleet:resources-unknown"

/* Cluster tags. "hvfleet:service:NAME:SPREAD:MIN_AVAILABLE[:critical]" keeps what exclusion
 * tags cannot say about a service. */
#define GNT_CTAG_IEXTAGS "htools:iextags:"
#define GNT_CTAG_NLOCATION "htools:nlocation:"
#define GNT_CTAG_SERVICE "hvfleet:service:"
/* The exclusion-tag prefix the writer declares for services. */
#define GNT_SERVICE_PREFIX "service"

/* Ganeti's instance states (Ganeti.Types.InstanceStatus), the "down" ones first. */
#define GNT_STATUS_DOWN_COUNT 4
#define GNT_STATUS_NAMES                                                                           \
    "ADMIN_down", "ADMIN_offline", "ERROR_down", "USER_down", "running", "ERROR_up",               \
        "ERROR_nodedown", "ERROR_nodeoffline", "ERROR_wrongnode"

/* Disk templates; the first GNT_DT_UNMIGRATABLE have no live migration (MirrorNone). */
#define GNT_DT_UNMIGRATABLE 2
#define GNT_DT_DRBD 2 /* index of "drbd" below: migrates to its secondary node only */
#define GNT_DT_NAMES                                                                               \
    "plain", "file", "drbd", "diskless", "sharedfile", "blockdev", "rbd", "ext", "gluster"

#define GNT_ALLOC_POLICY_NAMES "preferred", "last_resort", "unallocable"
