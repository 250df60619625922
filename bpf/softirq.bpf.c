// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * softirq: how long raised softirqs wait before they run, and how long they run, per CPU.
 * One object serves two probes, each loading it with its own switches:
 *
 *  - softirq_tracing (events, trace_events=1): a raised softirq that waited longer than
 *    softirq_thresh_ns before its handler started (raise -> entry: the CPU kept softirqs off
 *    with local_bh_disable, interrupts off or a busy ksoftirqd), or a handler that ran longer than
 *    softirq_thresh_ns (entry -> exit: nothing else ran on that CPU meanwhile). Each is emitted
 *    with the kernel stack where the wait or the run ended: for a wait ended by local_bh_enable
 *    the frames above the softirq code are the section that held softirqs off.
 *  - softirq (metric, count_zones=1): HUATUO's softirq_latency, raise -> entry waits of NET_TX
 *    and NET_RX counted per CPU in four zones (< 10 us, < 100 us, < 1 ms, >= 1 ms).
 *
 * A wait is measured from the first raise of a vector while it is not pending (later raises of
 * the same pending vector add nothing: the handler serves them all) to that vector's next
 * entry on the same CPU. Hooks: irq:softirq_raise / softirq_entry / softirq_exit, tp_btf
 * first, the classic tracepoint as the fallback. The loader attaches exit, then entry, then
 * raise, so no raise is recorded whose entry could be missed (that would be a false wait).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "softirq.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_VECS 16 /* NR_SOFTIRQS is 10; a little room for kernels that add one */
/* Clamp in the register that indexes the arrays (clang may otherwise check a 32-bit copy and
 * index with the unchecked 64-bit one, which the verifier refuses). */
#define BOUND_VEC(v) asm volatile("%[x] &= %[m]" : [x] "+r"(v) : [m] "i"(MAX_VECS - 1))
#define VEC_NET_TX 2
#define VEC_NET_RX 3

/* Set by the loader. */
const volatile __u64 softirq_thresh_ns = 10000000; /* [EventTracing.Softirq] DisabledThreshold */
const volatile bool trace_events = false;          /* softirq_tracing: emit events */
const volatile bool count_zones = false;           /* softirq: count softirq_latency zones */

struct softirq_cpu {
	__u64 raised_ns[MAX_VECS];  /* first raise while not pending; 0 = none seen */
	__u64 entered_ns[MAX_VECS]; /* handler start; 0 = not running (or not seen) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct softirq_cpu);
} softirq_state SEC(".maps");

/*
 * softirq_latency counters: index cpu * 8 + (vec - NET_TX) * 4 + zone. A plain array (not
 * per-CPU) because the metric is labelled by CPU; each CPU only writes its own slots. The
 * loader sizes it to possible CPUs * 8.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64 * SOFTIRQ_ZONE_SLOTS_PER_CPU);
	__type(key, __u32);
	__type(value, __u64);
} softirq_zones SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} softirq_tracing_events SEC(".maps");

/* Keeps struct softirq_tracing_event in the object's BTF for the TypeScript decoder. */
const struct softirq_tracing_event *softirq_tracing_event_layout __attribute__((unused));

static __always_inline struct softirq_cpu *cpu_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&softirq_state, &zero);
}

static __always_inline void emit(void *ctx, __u8 kind, __u32 vec, __u64 took, __u64 now)
{
	struct softirq_tracing_event *e;
	__u64 id;
	long n;

	e = kpulse_reserve(&softirq_tracing_events, sizeof(*e), now);
	if (!e)
		return;
	e->ts_ns = now;
	e->offtime_ns = took;
	e->kind = kind;
	e->vec = vec;
	e->cpu = bpf_get_smp_processor_id();
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	/* bpf_get_stack zero-fills what it does not write */
	n = bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
	e->stack_bytes = n > 0 ? n : 0;
	kpulse_submit(e);
}

static __always_inline void count_zone(__u32 vec, __u64 wait)
{
	__u32 zone, idx;
	__u64 *slot;

	if (vec != VEC_NET_TX && vec != VEC_NET_RX)
		return;
	if (wait < 10000)
		zone = 0;
	else if (wait < 100000)
		zone = 1;
	else if (wait < 1000000)
		zone = 2;
	else
		zone = 3;
	idx = bpf_get_smp_processor_id() * SOFTIRQ_ZONE_SLOTS_PER_CPU + (vec - VEC_NET_TX) * SOFTIRQ_ZONES + zone;
	slot = bpf_map_lookup_elem(&softirq_zones, &idx); /* NULL past max_entries */
	if (slot)
		__sync_fetch_and_add(slot, 1);
}

static __always_inline int on_raise(__u64 vec)
{
	struct softirq_cpu *st;

	if (vec >= MAX_VECS)
		return 0;
	BOUND_VEC(vec);
	st = cpu_state();
	if (st && !st->raised_ns[vec])
		st->raised_ns[vec] = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_entry(void *ctx, __u64 vec)
{
	struct softirq_cpu *st;
	__u64 now, raised, wait;

	if (vec >= MAX_VECS)
		return 0;
	BOUND_VEC(vec);
	st = cpu_state();
	if (!st)
		return 0;
	now = bpf_ktime_get_ns();
	raised = st->raised_ns[vec];
	st->raised_ns[vec] = 0;
	if (trace_events)
		st->entered_ns[vec] = now;
	if (!raised || now < raised)
		return 0;
	wait = now - raised;
	if (count_zones)
		count_zone(vec, wait);
	if (trace_events && wait >= softirq_thresh_ns)
		emit(ctx, SOFTIRQ_KIND_RAISE_TO_ENTRY, vec, wait, now);
	return 0;
}

static __always_inline int on_exit(void *ctx, __u64 vec)
{
	struct softirq_cpu *st;
	__u64 now, entered;

	if (!trace_events || vec >= MAX_VECS)
		return 0;
	BOUND_VEC(vec);
	st = cpu_state();
	if (!st)
		return 0;
	entered = st->entered_ns[vec];
	if (!entered)
		return 0;
	st->entered_ns[vec] = 0;
	now = bpf_ktime_get_ns();
	if (now >= entered && now - entered >= softirq_thresh_ns)
		emit(ctx, SOFTIRQ_KIND_ENTRY_TO_EXIT, vec, now - entered, now);
	return 0;
}

SEC("tp_btf/softirq_raise")
int BPF_PROG(softirq_raise_btf, unsigned int vec)
{
	return on_raise(vec);
}

SEC("tracepoint/irq/softirq_raise")
int softirq_raise_tp(struct trace_event_raw_softirq *args)
{
	return on_raise(args->vec);
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(softirq_entry_btf, unsigned int vec)
{
	return on_entry(ctx, vec);
}

SEC("tracepoint/irq/softirq_entry")
int softirq_entry_tp(struct trace_event_raw_softirq *args)
{
	return on_entry(args, args->vec);
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(softirq_exit_btf, unsigned int vec)
{
	return on_exit(ctx, vec);
}

SEC("tracepoint/irq/softirq_exit")
int softirq_exit_tp(struct trace_event_raw_softirq *args)
{
	return on_exit(args, args->vec);
}
