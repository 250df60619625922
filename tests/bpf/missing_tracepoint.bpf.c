// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Test-only object: every program targets a tracepoint no kernel has, so loading must fail
 * for this probe alone while the agent keeps serving (tests/e2e/probe-isolation.test.ts). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kpulse_common.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} missing_events SEC(".maps");

struct missing_event {
	__u64 ts_ns;
};
const struct missing_event *missing_event_layout __attribute__((unused));

SEC("tp_btf/kpulse_no_such_tracepoint")
int BPF_PROG(missing_tp_btf)
{
	kpulse_count(KPULSE_EMITTED);
	return 0;
}

SEC("tracepoint/kpulse/no_such_tracepoint")
int missing_tracepoint(void *ctx)
{
	kpulse_count(KPULSE_EMITTED);
	return 0;
}
