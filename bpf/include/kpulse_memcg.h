/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The memory cgroup of a task, for probes that report it (oom, memory_reclaim): its css and
 * the kernfs walk helper, CO-RE across the kernfs_node.parent rename.
 */
#ifndef KPULSE_MEMCG_H
#define KPULSE_MEMCG_H

/* kernfs_node.parent became __parent in 6.15. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

static __always_inline struct cgroup_subsys_state *task_memcg_css(struct task_struct *task)
{
	int id;

	if (!task || !bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	return BPF_CORE_READ(task, cgroups, subsys[id]);
}

#endif
