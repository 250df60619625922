/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record net_softirq writes to its ring buffer. The TypeScript side reads field offsets and
 * the type numbers from the built object's BTF: this is the only definition of the layout.
 */
#ifndef KPULSE_NET_SOFTIRQ_H
#define KPULSE_NET_SOFTIRQ_H

/* KubeSkoop's event types; also the index of each type's counter in net_softirq_counts. */
enum net_softirq_type {
	NETSOFTIRQ_SCHED_SLOW = 0,    /* raise → entry at or above SlowThreshold, below Slow100msThreshold */
	NETSOFTIRQ_SCHED_100MS = 1,   /* raise → entry at or above Slow100msThreshold */
	NETSOFTIRQ_EXCUTE_SLOW = 2,   /* entry → exit at or above SlowThreshold, below Slow100msThreshold */
	NETSOFTIRQ_EXCUTE_100MS = 3,  /* entry → exit at or above Slow100msThreshold */
	NETSOFTIRQ_TYPES = 4,
};

struct net_softirq_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() at the entry (sched) or the exit (execute) */
	__u64 latency_ns;
	__u32 pid;          /* current task's tgid: whoever the softirq interrupted or ran in */
	__u32 cpu;
	__u32 vec;          /* 2 NET_TX, 3 NET_RX */
	__u8 type;          /* enum net_softirq_type */
	char comm[16];
};

#endif
