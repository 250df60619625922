/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record oom writes to its ring buffer, one per task the OOM killer marks as its victim
 * (oom:mark_victim). The TypeScript decoder reads field offsets from the built object's BTF
 * (struct oom_event): this is the only definition of the layout.
 *
 * "trigger" is the task that was running the OOM path (current at mark_victim: the allocating
 * task, since the kernel kills synchronously from the failing allocation or memcg charge);
 * "victim" is the task chosen and killed. Everything about the victim is read in the kernel at
 * that moment, so the event stays correct after the victim and its cgroup are gone.
 */
#ifndef KPULSE_OOM_H
#define KPULSE_OOM_H

/* Memory cgroup path: kernfs names from the task's cgroup up to the hierarchy root, leaf first. */
#define OOM_CGROUP_DEPTH 8
#define OOM_CGROUP_NAME_LEN 128

/* flags */
#define OOM_VICTIM_PID_ONLY 1 /* old kernels (mark_victim(int pid)): only the victim's pid is known */

struct oom_event {
	__u64 ts_ns;                 /* bpf_ktime_get_ns() */
	__u64 trigger_memcg_css;     /* address of the task's memory cgroup css (HUATUO's identifier) */
	__u64 victim_memcg_css;
	__u64 trigger_memcg_id;      /* its cgroup's id (kernfs id = the directory's inode): how kpulse finds the container */
	__u64 victim_memcg_id;
	__u64 trigger_memcg_usage;   /* memory cgroup page counter at the kill, in pages */
	__u64 trigger_memcg_max;     /* limit in pages (PAGE_COUNTER_MAX when unlimited) */
	__u64 victim_memcg_usage;
	__u64 victim_memcg_max;
	__u32 trigger_pid;           /* tgid */
	__u32 trigger_tid;
	__u32 victim_pid;            /* tgid */
	__u32 victim_tid;
	__u32 trigger_cgroup_depth;  /* names filled in trigger_cgroup; OOM_CGROUP_DEPTH + 1 = truncated */
	__u32 victim_cgroup_depth;
	__u32 flags;                 /* OOM_VICTIM_* */
	__u32 victim_uid;
	char trigger_comm[16];
	char victim_comm[16];
	char trigger_cgroup[OOM_CGROUP_DEPTH * OOM_CGROUP_NAME_LEN];
	char victim_cgroup[OOM_CGROUP_DEPTH * OOM_CGROUP_NAME_LEN];
};

#endif
