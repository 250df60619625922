// SPDX-License-Identifier: GPL-2.0
// Test object for tests/e2e/map-metric-kit.test.ts: counts this process's calls of an
// unimplemented syscall into a per-CPU array of zones (arg0 % 4) and a plain hash keyed by
// arg0, with a two-counter value, as a latency-zone probe would.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"

char LICENSE[] SEC("license") = "GPL";

const volatile u32 target_tgid = 0;
const volatile s64 target_nr = -1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} zones SEC(".maps");

struct pair {
	u64 calls;
	u64 arg_sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, struct pair);
} by_arg SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(count_enter, struct pt_regs *regs, long id)
{
	u32 zone, arg;
	u64 *z;
	struct pair *p, fresh = {};

	if ((u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid || id != target_nr)
		return 0;
	arg = (u32)BPF_CORE_READ(regs, di);
	zone = arg % 4;
	z = bpf_map_lookup_elem(&zones, &zone);
	if (z)
		*z += 1;
	p = bpf_map_lookup_elem(&by_arg, &arg);
	if (!p) {
		bpf_map_update_elem(&by_arg, &arg, &fresh, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&by_arg, &arg);
	}
	if (p) {
		__sync_fetch_and_add(&p->calls, 1);
		__sync_fetch_and_add(&p->arg_sum, arg);
	}
	return 0;
}
