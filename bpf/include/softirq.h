/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record softirq.bpf.c writes for the softirq_tracing probe. The TypeScript decoder reads
 * field offsets from the built object's BTF (struct softirq_tracing_event): this is the only
 * definition of the layout.
 */
#ifndef KPULSE_SOFTIRQ_H
#define KPULSE_SOFTIRQ_H

#define SOFTIRQ_STACK_DEPTH 64

/* What offtime_ns measured. */
#define SOFTIRQ_KIND_RAISE_TO_ENTRY 1 /* a raised softirq waited this long before its handler ran */
#define SOFTIRQ_KIND_ENTRY_TO_EXIT 2  /* one softirq handler ran this long */

/* Zones of softirq_latency: raise->entry < 10 us, < 100 us, < 1 ms, >= 1 ms. */
#define SOFTIRQ_ZONES 4
/* Vectors counted in softirq_latency, as HUATUO exports: NET_TX (2) and NET_RX (3). */
#define SOFTIRQ_ZONE_VECS 2
#define SOFTIRQ_ZONE_SLOTS_PER_CPU (SOFTIRQ_ZONE_VECS * SOFTIRQ_ZONES)

struct softirq_tracing_event {
	__u64 ts_ns;             /* bpf_ktime_get_ns() when the wait or the run ended */
	__u64 offtime_ns;        /* raise->entry wait or entry->exit run time */
	__u64 stack[SOFTIRQ_STACK_DEPTH]; /* kernel stack where the wait or the run ended */
	__u32 stack_bytes;       /* bytes of stack[] filled by bpf_get_stack */
	__u32 pid;               /* current task's tgid */
	__u32 tid;
	__u32 cpu;
	__u32 vec;               /* softirq vector number (HI=0 ... RCU=9) */
	__u8 kind;               /* SOFTIRQ_KIND_* */
	char comm[16];
};

#endif
