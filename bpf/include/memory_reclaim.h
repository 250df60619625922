/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record memory_reclaim writes to its ring buffer: one direct reclaim that blocked a
 * thread longer than [EventTracing.MemoryReclaim] BlockedThreshold. The TypeScript decoder reads
 * field offsets from the built object's BTF (struct memory_reclaim_event): this is the only
 * definition of the layout.
 */
#ifndef KPULSE_MEMORY_RECLAIM_H
#define KPULSE_MEMORY_RECLAIM_H

/* Memory cgroup path: kernfs names from the task's cgroup up to the hierarchy root, leaf first. */
#define RECLAIM_CGROUP_DEPTH 8
#define RECLAIM_CGROUP_NAME_LEN 128

/* scope */
#define RECLAIM_SCOPE_GLOBAL 1 /* vmscan:mm_vmscan_direct_reclaim_*: the page allocator ran short */
#define RECLAIM_SCOPE_MEMCG 2  /* vmscan:mm_vmscan_memcg_reclaim_*: a memory cgroup hit its limit */

struct memory_reclaim_event {
	__u64 ts_ns;               /* bpf_ktime_get_ns() when the reclaim ended */
	__u64 reclaim_duration_ns;
	__u64 memcg_css;           /* address of the thread's memory cgroup css */
	__u64 nr_reclaimed;        /* pages the reclaim freed */
	__u32 pid;                 /* tgid */
	__u32 tid;
	__u32 cgroup_depth;        /* names filled in cgroup; RECLAIM_CGROUP_DEPTH + 1 = truncated */
	__u32 scope;               /* RECLAIM_SCOPE_* */
	char comm[16];
	char cgroup[RECLAIM_CGROUP_DEPTH * RECLAIM_CGROUP_NAME_LEN];
};

#endif
