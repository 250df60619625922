// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hungtask: one event each time the kernel's hung task detector reports a task blocked in
 * uninterruptible sleep (D state) longer than kernel.hung_task_timeout_secs, from the
 * sched:sched_process_hang tracepoint. The tp_btf entry receives the task itself, so its kernel
 * stack is taken here (bpf_get_task_stack) while it is still blocked; the classic tracepoint
 * (the fallback) gives only its pid and comm. khungtaskd reports a task that stays blocked on
 * every scan: throttling is user space's (HUATUO's backoff), the counter sees every report.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "hungtask.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} hungtask_events SEC(".maps");

/* Keeps struct hungtask_event in the object's BTF for the TypeScript decoder. */
const struct hungtask_event *hungtask_event_layout __attribute__((unused));

static __always_inline struct hungtask_event *reserve(void)
{
	__u64 now = bpf_ktime_get_ns();
	struct hungtask_event *e = kpulse_reserve(&hungtask_events, sizeof(*e), now);

	if (!e)
		return 0;
	e->ts_ns = now;
	e->stack_bytes = 0;
	e->pad = 0;
	return e;
}

SEC("tp_btf/sched_process_hang")
int BPF_PROG(hungtask_btf, struct task_struct *task)
{
	struct hungtask_event *e;
	long n;

	if (!task)
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(task, tgid);
	e->tid = BPF_CORE_READ(task, pid);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	n = bpf_get_task_stack(task, e->stack, sizeof(e->stack), 0);
	e->stack_bytes = n > 0 ? n : 0;
	kpulse_submit(e);
	return 0;
}

/* Older kernels keep comm inline in the tracepoint record, newer ones as a __data_loc string. */
struct trace_event_raw_sched_process_hang___inline_comm {
	char comm[16];
} __attribute__((preserve_access_index));

SEC("tracepoint/sched/sched_process_hang")
int hungtask_tp(struct trace_event_raw_sched_process_hang *args)
{
	struct hungtask_event *e = reserve();
	__u32 loc;

	if (!e)
		return 0;
	e->pid = 0;
	e->tid = BPF_CORE_READ(args, pid);
	e->comm[0] = 0;
	if (bpf_core_field_exists(args->__data_loc_comm)) {
		loc = BPF_CORE_READ(args, __data_loc_comm);
		bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), (void *)args + (loc & 0xffff));
	} else {
		BPF_CORE_READ_STR_INTO(&e->comm, (struct trace_event_raw_sched_process_hang___inline_comm *)args, comm);
	}
	kpulse_submit(e);
	return 0;
}
