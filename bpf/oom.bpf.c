// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * oom: one event per task the OOM killer marks as its victim, from the oom:mark_victim
 * tracepoint. The kernel marks the victim from the OOM path of the task whose allocation (or
 * memory cgroup charge) failed, so `current` is the trigger; the tracepoint's task is the
 * victim. Both tasks' memory cgroups (css address, page counter, limit, path) are read here,
 * at the kill, so the event stays correct once the victim is dead and its cgroup removed.
 *
 * Hooks, in the order the loader tries them: tp_btf/mark_victim (no tracefs needed), then the
 * classic tracepoint. Older kernels (before early 2024) pass only the victim's pid: the
 * event then carries the pid with OOM_VICTIM_PID_ONLY and user space completes it from /proc.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "kpulse_memcg.h"
#include "oom.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} oom_events SEC(".maps");

/* Keeps struct oom_event in the object's BTF for the TypeScript decoder. */
const struct oom_event *oom_event_layout __attribute__((unused));


/* css address, cgroup id, page counter and limit (pages), and the kernfs names up to the root, leaf first. */
static __always_inline void read_memcg(struct task_struct *task, __u64 *css_addr, __u64 *cgroup_id,
				       __u64 *usage, __u64 *max, char *names, __u32 *depth)
{
	struct cgroup_subsys_state *css = task_memcg_css(task);
	struct mem_cgroup *memcg;
	struct kernfs_node *kn, *parent;
	__u32 i;

	*css_addr = (__u64)css;
	*cgroup_id = 0;
	*usage = 0;
	*max = 0;
	*depth = 0;
	if (!css)
		return;
	memcg = (void *)css - bpf_core_field_offset(struct mem_cgroup, css);
	*usage = BPF_CORE_READ(memcg, memory.usage.counter);
	*max = BPF_CORE_READ(memcg, memory.max);
	kn = BPF_CORE_READ(css, cgroup, kn);
	*cgroup_id = BPF_CORE_READ(kn, id);
	for (i = 0; i < OOM_CGROUP_DEPTH; i++) {
		if (!kn)
			break;
		parent = kn_parent(kn);
		if (!parent)
			break; /* the hierarchy root: its name is not part of the path */
		bpf_probe_read_kernel_str(names + i * OOM_CGROUP_NAME_LEN, OOM_CGROUP_NAME_LEN,
					  BPF_CORE_READ(kn, name));
		kn = parent;
	}
	if (i == OOM_CGROUP_DEPTH && kn && kn_parent(kn))
		i++; /* deeper than we keep */
	*depth = i;
}

/* ── the event ──────────────────────────────────────────────────────────────────────────── */

static __always_inline int on_victim(struct task_struct *victim, __u32 uid, __u32 pid_only)
{
	struct oom_event *e;
	struct task_struct *trigger = (struct task_struct *)bpf_get_current_task();
	__u64 now = bpf_ktime_get_ns(), id;

	e = kpulse_reserve(&oom_events, sizeof(*e), now);
	if (!e)
		return 0;
	e->ts_ns = now;
	id = bpf_get_current_pid_tgid();
	e->trigger_pid = id >> 32;
	e->trigger_tid = (__u32)id;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	read_memcg(trigger, &e->trigger_memcg_css, &e->trigger_memcg_id, &e->trigger_memcg_usage, &e->trigger_memcg_max,
		   e->trigger_cgroup, &e->trigger_cgroup_depth);
	if (victim) {
		e->flags = 0;
		e->victim_uid = uid;
		e->victim_pid = BPF_CORE_READ(victim, tgid);
		e->victim_tid = BPF_CORE_READ(victim, pid);
		BPF_CORE_READ_STR_INTO(&e->victim_comm, victim, comm);
		read_memcg(victim, &e->victim_memcg_css, &e->victim_memcg_id, &e->victim_memcg_usage, &e->victim_memcg_max,
			   e->victim_cgroup, &e->victim_cgroup_depth);
	} else {
		e->flags = OOM_VICTIM_PID_ONLY;
		e->victim_uid = 0;
		e->victim_pid = pid_only;
		e->victim_tid = pid_only;
		e->victim_comm[0] = 0;
		e->victim_memcg_css = 0;
		e->victim_memcg_id = 0;
		e->victim_memcg_usage = 0;
		e->victim_memcg_max = 0;
		e->victim_cgroup_depth = 0;
	}
	kpulse_submit(e);
	return 0;
}

/*
 * tp_btf: the tracepoint's own arguments. Since the tracepoint also records the victim's comm
 * (the same 2024 change), its arguments are (struct task_struct *task, uid_t uid); before, (int pid).
 */
SEC("tp_btf/mark_victim")
int oom_mark_victim_btf(__u64 *ctx)
{
	if (bpf_core_field_exists(struct trace_event_raw_mark_victim, __data_loc_comm))
		return on_victim((struct task_struct *)ctx[0], (__u32)ctx[1], 0);
	return on_victim(0, 0, (__u32)ctx[0]);
}

SEC("tracepoint/oom/mark_victim")
int oom_mark_victim_tp(struct trace_event_raw_mark_victim *args)
{
	return on_victim(0, 0, BPF_CORE_READ(args, pid));
}
