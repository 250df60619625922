/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record sched_tick.bpf.c writes to its ring buffer. The TypeScript decoder reads field
 * offsets from the built object's BTF (struct sched_tick_event): this is the only definition
 * of the layout.
 */
#ifndef KPULSE_SCHED_TICK_H
#define KPULSE_SCHED_TICK_H

#define SCHED_TICK_STACK_DEPTH 64

struct sched_tick_event {
	__u64 ts_ns;            /* bpf_ktime_get_ns() at the late tick */
	__u64 tick_interval_ns; /* time since this CPU's previous tick */
	__u64 stack[SCHED_TICK_STACK_DEPTH]; /* kernel stack at the late tick (the interrupted code below the timer interrupt) */
	__u32 stack_bytes;      /* bytes of stack[] filled by bpf_get_stack */
	__u32 pid;              /* current task's tgid */
	__u32 tid;
	__u32 cpu;
	char comm[16];
};

#endif
