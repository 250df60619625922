// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * memory_reclaim: direct reclaims that block a thread longer than a threshold. A thread that
 * must free memory before its allocation can proceed reclaims in its own context, between
 * vmscan:mm_vmscan_direct_reclaim_begin and _end (the page allocator ran short: global direct
 * reclaim) or vmscan:mm_vmscan_memcg_reclaim_begin and _end (its memory cgroup reached its
 * limit). The start time is kept per thread; a reclaim longer than
 * reclaim_duration_threshold_ns is an event, shorter ones are counted as filtered.
 *
 * Each tracepoint has a tp_btf entry (no tracefs) and the classic tracepoint as the fallback.
 * The memcg pair is optional: without it only global direct reclaim is seen.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "kpulse_memcg.h"
#include "memory_reclaim.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* [EventTracing.MemoryReclaim] BlockedThreshold (ns); set by the loader. */
const volatile __u64 reclaim_duration_threshold_ns = 900000000;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} memory_reclaim_events SEC(".maps");

struct reclaim_start {
	__u64 ts_ns;
	__u32 scope;
	__u32 pad;
};

/* Thread id → reclaim in progress. LRU: a begin without its end (a lost hook) cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct reclaim_start);
} reclaim_starts SEC(".maps");

/* Keeps struct memory_reclaim_event in the object's BTF for the TypeScript decoder. */
const struct memory_reclaim_event *memory_reclaim_event_layout __attribute__((unused));


/* css address and the kernfs names up to the root, leaf first. */
static __always_inline void read_memcg(struct task_struct *task, __u64 *css_addr, char *names, __u32 *depth)
{
	struct cgroup_subsys_state *css = task_memcg_css(task);
	struct kernfs_node *kn, *parent;
	__u32 i;

	*css_addr = (__u64)css;
	*depth = 0;
	if (!css)
		return;
	kn = BPF_CORE_READ(css, cgroup, kn);
	for (i = 0; i < RECLAIM_CGROUP_DEPTH; i++) {
		if (!kn)
			break;
		parent = kn_parent(kn);
		if (!parent)
			break; /* the hierarchy root: its name is not part of the path */
		bpf_probe_read_kernel_str(names + i * RECLAIM_CGROUP_NAME_LEN, RECLAIM_CGROUP_NAME_LEN,
					  BPF_CORE_READ(kn, name));
		kn = parent;
	}
	if (i == RECLAIM_CGROUP_DEPTH && kn && kn_parent(kn))
		i++; /* deeper than we keep */
	*depth = i;
}

/* ── begin / end ────────────────────────────────────────────────────────────────────────── */

static __always_inline int on_begin(__u32 scope)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct reclaim_start s = { .ts_ns = bpf_ktime_get_ns(), .scope = scope };

	bpf_map_update_elem(&reclaim_starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int on_end(__u64 nr_reclaimed)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns(), took;
	__u32 tid = (__u32)id;
	struct reclaim_start *s = bpf_map_lookup_elem(&reclaim_starts, &tid);
	struct memory_reclaim_event *e;
	__u32 scope;

	if (!s)
		return 0; /* began before we attached */
	took = now - s->ts_ns;
	scope = s->scope;
	bpf_map_delete_elem(&reclaim_starts, &tid);
	if (took <= reclaim_duration_threshold_ns) {
		kpulse_count(KPULSE_FILTERED);
		return 0;
	}
	e = kpulse_reserve(&memory_reclaim_events, sizeof(*e), now);
	if (!e)
		return 0;
	e->ts_ns = now;
	e->reclaim_duration_ns = took;
	e->nr_reclaimed = nr_reclaimed;
	e->pid = id >> 32;
	e->tid = tid;
	e->scope = scope;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	read_memcg((struct task_struct *)bpf_get_current_task(), &e->memcg_css, e->cgroup, &e->cgroup_depth);
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int direct_reclaim_begin_btf(__u64 *ctx)
{
	return on_begin(RECLAIM_SCOPE_GLOBAL);
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_begin")
int direct_reclaim_begin_tp(void *args)
{
	return on_begin(RECLAIM_SCOPE_GLOBAL);
}

SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int direct_reclaim_end_btf(__u64 *ctx)
{
	return on_end(ctx[0]);
}

SEC("tracepoint/vmscan/mm_vmscan_direct_reclaim_end")
int direct_reclaim_end_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *args)
{
	return on_end(BPF_CORE_READ(args, nr_reclaimed));
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int memcg_reclaim_begin_btf(__u64 *ctx)
{
	return on_begin(RECLAIM_SCOPE_MEMCG);
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_begin")
int memcg_reclaim_begin_tp(void *args)
{
	return on_begin(RECLAIM_SCOPE_MEMCG);
}

SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int memcg_reclaim_end_btf(__u64 *ctx)
{
	return on_end(ctx[0]);
}

SEC("tracepoint/vmscan/mm_vmscan_memcg_reclaim_end")
int memcg_reclaim_end_tp(struct trace_event_raw_mm_vmscan_direct_reclaim_end_template *args)
{
	return on_end(BPF_CORE_READ(args, nr_reclaimed));
}
