// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * softlockup, fallback source: the soft lockup watchdog taints the kernel with TAINT_SOFTLOCKUP
 * right after printing its report, from its hrtimer on the stuck CPU, so the current task is
 * the one the CPU was stuck in. There is no tracepoint: add_taint is hooked with fentry, else a
 * kprobe. The probe's primary source is the report itself, read from /dev/kmsg.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kpulse_common.h"
#include "softlockup.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TAINT_SOFTLOCKUP 14

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} softlockup_events SEC(".maps");

/* Keeps struct softlockup_event in the object's BTF for the TypeScript decoder. */
const struct softlockup_event *softlockup_event_layout __attribute__((unused));

static __always_inline int on_taint(unsigned int flag)
{
	struct softlockup_event *e;
	__u64 now, id;

	if (flag != TAINT_SOFTLOCKUP)
		return 0;
	now = bpf_ktime_get_ns();
	e = kpulse_reserve(&softlockup_events, sizeof(*e), now);
	if (!e)
		return 0;
	e->ts_ns = now;
	e->cpu = bpf_get_smp_processor_id();
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	kpulse_submit(e);
	return 0;
}

SEC("fentry/add_taint")
int BPF_PROG(softlockup_add_taint_fentry, unsigned int flag, int lockdep_ok)
{
	return on_taint(flag);
}

SEC("kprobe/add_taint")
int BPF_KPROBE(softlockup_add_taint_kprobe, unsigned int flag, int lockdep_ok)
{
	return on_taint(flag);
}
