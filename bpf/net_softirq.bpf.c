// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * net_softirq: KubeSkoop's network softirq latencies, per CPU, for NET_TX and NET_RX:
 *
 *  - sched: from the raise of the vector (irq:softirq_raise) to the start of its handler
 *    (irq:softirq_entry): how long the raised softirq waited (softirqs held off by
 *    local_bh_disable or interrupts off, a busy ksoftirqd);
 *  - execute: from softirq_entry to softirq_exit of that vector: how long the handler ran.
 *
 * A wait is measured from the first raise while the vector is not pending (later raises of a
 * pending vector add nothing: the handler serves them all). Each latency at or above
 * slow_thresh_ns is counted as *_SLOW, at or above severe_thresh_ns as *_100MS instead (one
 * counter each, before the rate limit), and emitted within the rate limit. Hooks: tp_btf first,
 * the classic tracepoint as the fallback; the loader attaches exit, entry, then raise, so no
 * raise or entry is recorded whose end could be missed.
 *
 * HUATUO's softirq / softirq_tracing object (softirq.bpf.c) watches the same tracepoints with
 * one threshold for every vector and a stack per event; this one keeps to the two network
 * vectors, two thresholds and exact per-type counts, so it is a separate object.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kpulse_common.h"
#include "net_softirq.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define VEC_NET_TX 2
#define VEC_NET_RX 3

/* Set by the loader: [EventTracing.NetSoftirq] SlowThreshold / Slow100msThreshold (ns). */
const volatile __u64 slow_thresh_ns = 10000000;
const volatile __u64 severe_thresh_ns = 100000000;

struct net_softirq_cpu {
	__u64 raised_ns[2];  /* by vec - NET_TX: first raise while not pending; 0 = none seen */
	__u64 entered_ns[2]; /* handler start; 0 = not running (or not seen) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_softirq_cpu);
} net_softirq_state SEC(".maps");

/* Latencies by type (enum net_softirq_type), counted before the rate limit. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETSOFTIRQ_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} net_softirq_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} net_softirq_events SEC(".maps");

/* Keeps the event struct and the type numbers in the object's BTF for the TypeScript side. */
const struct net_softirq_event *net_softirq_event_layout __attribute__((unused));
const enum net_softirq_type *net_softirq_type_names __attribute__((unused));

static __always_inline struct net_softirq_cpu *cpu_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&net_softirq_state, &zero);
}

/* Counts and emits one latency of phase base (SCHED_SLOW or EXCUTE_SLOW) if it is slow. */
static __always_inline void report(__u32 base, __u32 vec, __u64 lat, __u64 now)
{
	struct net_softirq_event *e;
	__u32 type;
	__u64 *n;

	if (lat < slow_thresh_ns && lat < severe_thresh_ns)
		return;
	type = lat >= severe_thresh_ns ? base + 1 : base;
	n = bpf_map_lookup_elem(&net_softirq_counts, &type);
	if (n)
		*n += 1;
	e = kpulse_reserve(&net_softirq_events, sizeof(*e), now);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->latency_ns = lat;
	e->type = type;
	e->vec = vec;
	e->cpu = bpf_get_smp_processor_id();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	kpulse_submit(e);
}

static __always_inline int on_raise(__u32 vec)
{
	struct net_softirq_cpu *st;
	__u32 i = vec - VEC_NET_TX;

	if (i > 1)
		return 0;
	st = cpu_state();
	if (st && !st->raised_ns[i])
		st->raised_ns[i] = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_entry(__u32 vec)
{
	struct net_softirq_cpu *st;
	__u32 i = vec - VEC_NET_TX;
	__u64 now, raised;

	if (i > 1)
		return 0;
	st = cpu_state();
	if (!st)
		return 0;
	now = bpf_ktime_get_ns();
	raised = st->raised_ns[i];
	st->raised_ns[i] = 0;
	st->entered_ns[i] = now;
	if (raised && now >= raised)
		report(NETSOFTIRQ_SCHED_SLOW, vec, now - raised, now);
	return 0;
}

static __always_inline int on_exit(__u32 vec)
{
	struct net_softirq_cpu *st;
	__u32 i = vec - VEC_NET_TX;
	__u64 now, entered;

	if (i > 1)
		return 0;
	st = cpu_state();
	if (!st)
		return 0;
	entered = st->entered_ns[i];
	if (!entered)
		return 0;
	st->entered_ns[i] = 0;
	now = bpf_ktime_get_ns();
	if (now >= entered)
		report(NETSOFTIRQ_EXCUTE_SLOW, vec, now - entered, now);
	return 0;
}

SEC("tp_btf/softirq_raise")
int BPF_PROG(net_softirq_raise_btf, unsigned int vec)
{
	return on_raise(vec);
}

SEC("tracepoint/irq/softirq_raise")
int net_softirq_raise_tp(struct trace_event_raw_softirq *args)
{
	return on_raise(args->vec);
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(net_softirq_entry_btf, unsigned int vec)
{
	return on_entry(vec);
}

SEC("tracepoint/irq/softirq_entry")
int net_softirq_entry_tp(struct trace_event_raw_softirq *args)
{
	return on_entry(args->vec);
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(net_softirq_exit_btf, unsigned int vec)
{
	return on_exit(vec);
}

SEC("tracepoint/irq/softirq_exit")
int net_softirq_exit_tp(struct trace_event_raw_softirq *args)
{
	return on_exit(args->vec);
}
