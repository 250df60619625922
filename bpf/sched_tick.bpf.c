// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sched_tick: a scheduler tick that came later than sched_tick_interval_threshold_ns after the
 * previous one on the same CPU, i.e. the CPU ran that long without taking its tick (interrupts
 * off, a long hard interrupt, or a vCPU the hypervisor did not run), with the current task and
 * the kernel stack at the late tick.
 *
 * Tracepoints only. The tick is the per-CPU tick_sched hrtimer: timer:hrtimer_expire_entry
 * filtered on its callback (tick_nohz_handler, tick_sched_timer before 6.9: the loader resolves
 * the address from kallsyms into tick_fn). With NO_HZ idle the tick stops; an interval that
 * spans a stopped tick is not a late tick, so the CPU's last tick is forgotten on
 * timer:tick_stop (success) and on every expiry that finds the tick stopped (the tick_sched's
 * TS_FLAG_STOPPED, or tick_stopped before 6.9); the next running tick only starts a new interval.
 * At most max_reports_per_cpu_sec reports per CPU per second; the rest are counted as
 * ratelimited. The tick must be driven by the high-resolution timer (hres_active): in low-res
 * or periodic mode no hrtimer expires for it and the probe sees nothing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "sched_tick.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TS_FLAG_STOPPED (1UL << 1) /* kernel/time/tick-sched.h, 6.9+ */

/* Set by the loader. */
const volatile __u64 tick_fn = 0;
const volatile __u64 sched_tick_interval_threshold_ns = 10000000;
const volatile __u32 max_reports_per_cpu_sec = 10;

/* Before 6.9 the stopped state is a bitfield. */
struct tick_sched___old {
	unsigned int tick_stopped : 1;
} __attribute__((preserve_access_index));

struct tick_cpu {
	__u64 last_tick_ns; /* 0 = no running tick seen since the tick (re)started */
	__u64 window_start_ns;
	__u32 window_reports;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tick_cpu);
} sched_tick_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} sched_tick_events SEC(".maps");

/* Keeps struct sched_tick_event in the object's BTF for the TypeScript decoder. */
const struct sched_tick_event *sched_tick_event_layout __attribute__((unused));

static __always_inline struct tick_cpu *cpu_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sched_tick_state, &zero);
}

/* Is the tick of the tick_sched that embeds `timer` stopped (NO_HZ)? */
static __always_inline bool tick_stopped(struct hrtimer *timer)
{
	void *ts = (void *)timer - bpf_core_field_offset(struct tick_sched, sched_timer);

	if (bpf_core_field_exists(((struct tick_sched *)0)->flags))
		return BPF_CORE_READ((struct tick_sched *)ts, flags) & TS_FLAG_STOPPED;
	return BPF_CORE_READ_BITFIELD_PROBED((struct tick_sched___old *)ts, tick_stopped);
}

/* Per-CPU fixed one-second window; true when this report may go out. */
static __always_inline bool cpu_allows(struct tick_cpu *st, __u64 now)
{
	if (!max_reports_per_cpu_sec)
		return true;
	if (now - st->window_start_ns >= 1000000000ULL) {
		st->window_start_ns = now;
		st->window_reports = 0;
	}
	if (st->window_reports >= max_reports_per_cpu_sec)
		return false;
	st->window_reports++;
	return true;
}

static __always_inline int on_tick(void *ctx, struct hrtimer *timer, __u64 fn)
{
	struct sched_tick_event *e;
	struct tick_cpu *st;
	__u64 now, last, id;
	long n;

	if (!tick_fn || fn != tick_fn)
		return 0;
	st = cpu_state();
	if (!st)
		return 0;
	now = bpf_ktime_get_ns();
	last = st->last_tick_ns;
	if (tick_stopped(timer)) {
		st->last_tick_ns = 0;
		return 0;
	}
	st->last_tick_ns = now;
	if (!last || now < last || now - last < sched_tick_interval_threshold_ns)
		return 0;
	if (!cpu_allows(st, now)) {
		kpulse_count(KPULSE_RATELIMITED);
		return 0;
	}
	e = kpulse_reserve(&sched_tick_events, sizeof(*e), now);
	if (!e)
		return 0;
	e->ts_ns = now;
	e->tick_interval_ns = now - last;
	e->cpu = bpf_get_smp_processor_id();
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	n = bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
	e->stack_bytes = n > 0 ? n : 0;
	kpulse_submit(e);
	return 0;
}

static __always_inline int on_tick_stop(int success)
{
	struct tick_cpu *st;

	if (!success)
		return 0; /* NO_HZ_FULL: the tick could not be stopped and keeps running */
	st = cpu_state();
	if (st)
		st->last_tick_ns = 0;
	return 0;
}

SEC("tp_btf/tick_stop")
int BPF_PROG(sched_tick_stop_btf, int success, int dependency)
{
	return on_tick_stop(success);
}

SEC("tracepoint/timer/tick_stop")
int sched_tick_stop_tp(struct trace_event_raw_tick_stop *args)
{
	return on_tick_stop(args->success);
}

SEC("tp_btf/hrtimer_expire_entry")
int BPF_PROG(sched_tick_expire_btf, struct hrtimer *timer, ktime_t *now)
{
	return on_tick(ctx, timer, (__u64)timer->function);
}

SEC("tracepoint/timer/hrtimer_expire_entry")
int sched_tick_expire_tp(struct trace_event_raw_hrtimer_expire_entry *args)
{
	return on_tick(args, args->hrtimer, (__u64)args->function);
}
