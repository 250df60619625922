// SPDX-License-Identifier: GPL-2.0
// Test object for tests/e2e/bpf-runtime.test.ts: exercises the kpulse BPF runtime (rodata,
// ordered fallbacks, ring buffer, per-CPU maps, BTF layouts, verifier errors).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

// Set from user space before load.
const volatile u32 target_tgid = 0;
const volatile s64 target_nr = -1;   // syscall number the test issues
const volatile u64 magic = 0;        // echoed into each record (a u64 rodata write)
const volatile bool tag_raw = false; // echoed as a flag (a bool rodata write)

struct rt_event {
	u64 ts;
	u32 tgid;
	u32 pid;
	s64 nr;
	u64 arg0;
	u64 magic;
	u8 flags;   // 1 = via tp_btf, 2 = via raw_tp, 4 = tag_raw
	u8 pad[3];
	char comm[16];
};
// Keeps struct rt_event in the object's BTF so user space can take offsets from it.
struct rt_event *unused_rt_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

// [0] records emitted, [1] ring full, [2] syscalls seen from target_tgid
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} scratch SEC(".maps");

static __always_inline void bump(u32 idx)
{
	u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		*c += 1;
}

static __always_inline int emit(struct pt_regs *regs, long id, u8 via)
{
	u64 pt = bpf_get_current_pid_tgid();
	if ((u32)(pt >> 32) != target_tgid)
		return 0;
	bump(2);
	if (id != target_nr)
		return 0;
	struct rt_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		bump(1);
		return 0;
	}
	e->ts = bpf_ktime_get_ns();
	e->tgid = pt >> 32;
	e->pid = (u32)pt;
	e->nr = id;
	e->arg0 = BPF_CORE_READ(regs, di); // CO-RE relocated against the running kernel
	e->magic = magic;
	e->flags = via | (tag_raw ? 4 : 0);
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	bump(0);
	return 0;
}

// Fails at load: the kernel has no such BTF tracepoint (first fallback alternative).
SEC("tp_btf/kpulse_no_such_tp")
int BPF_PROG(tp_missing, struct pt_regs *regs, long id)
{
	return emit(regs, id, 1);
}

// Loads, but attaching fails: no such tracefs event (second fallback alternative).
SEC("tracepoint/kpulse/no_such_event")
int tp_attach_missing(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter_btf, struct pt_regs *regs, long id)
{
	return emit(regs, id, 1);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(on_enter_raw, struct pt_regs *regs, long id)
{
	return emit(regs, id, 2);
}

// Rejected by the verifier: dereferences a map value without the NULL check.
SEC("raw_tp/sys_enter")
int bad_prog(void *ctx)
{
	u32 k = 0;
	u64 *v = bpf_map_lookup_elem(&scratch, &k);
	return *v == 42;
}
