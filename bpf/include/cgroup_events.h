/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record the cgroup watcher writes for each cgroup created or removed, so the container
 * registry learns of containers as they start and drops them as soon as they are gone. The
 * TypeScript side reads offsets from the built object's BTF (struct cgroup_event).
 */
#ifndef KPULSE_CGROUP_EVENTS_H
#define KPULSE_CGROUP_EVENTS_H

enum cgroup_event_op {
	CGROUP_EVENT_MKDIR = 1,
	CGROUP_EVENT_RMDIR = 2,
};

struct cgroup_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() */
	__u64 id;           /* cgrp->kn->id: the directory's inode in its hierarchy */
	__u32 hierarchy_id; /* cgrp->root->hierarchy_id (0 = the unified hierarchy) */
	__u32 level;        /* depth below the hierarchy root */
	__u32 op;           /* enum cgroup_event_op */
};

#endif
