/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record hungtask writes to its ring buffer: one task the kernel's hung task detector
 * (khungtaskd) found blocked in uninterruptible sleep longer than
 * kernel.hung_task_timeout_secs. The TypeScript decoder reads field offsets from the built
 * object's BTF (struct hungtask_event): this is the only definition of the layout.
 */
#ifndef KPULSE_HUNGTASK_H
#define KPULSE_HUNGTASK_H

#define HUNGTASK_STACK_DEPTH 64

struct hungtask_event {
	__u64 ts_ns;               /* bpf_ktime_get_ns() at the detection */
	__u64 stack[HUNGTASK_STACK_DEPTH]; /* the hung task's kernel stack (bpf_get_task_stack) */
	__u32 stack_bytes;         /* bytes of stack[] filled; 0 when the hook gives no task */
	__u32 pid;                 /* tgid of the hung task; 0 when only its tid is known */
	__u32 tid;
	__u32 pad;
	char comm[16];
};

#endif
