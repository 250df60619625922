// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cgroup_events: one record per cgroup created or removed, from the cgroup:cgroup_mkdir and
 * cgroup:cgroup_rmdir tracepoints (tp_btf first, raw_tp as the fallback; no kprobes). The
 * container registry rescans on creation and drops a container when its cgroup goes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "cgroup_events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} cgroup_events SEC(".maps");

const struct cgroup_event *cgroup_event_layout __attribute__((unused));

static __always_inline int emit(struct cgroup *cgrp, __u32 op)
{
	struct cgroup_event *e;
	__u64 now = bpf_ktime_get_ns();

	if (!cgrp)
		return 0;
	e = kpulse_reserve(&cgroup_events, sizeof(*e), now);
	if (!e)
		return 0;
	e->ts_ns = now;
	e->id = BPF_CORE_READ(cgrp, kn, id);
	e->hierarchy_id = BPF_CORE_READ(cgrp, root, hierarchy_id);
	e->level = BPF_CORE_READ(cgrp, level);
	e->op = op;
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir_btf, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, CGROUP_EVENT_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir_btf, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, CGROUP_EVENT_RMDIR);
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir_raw, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, CGROUP_EVENT_MKDIR);
}

SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir_raw, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, CGROUP_EVENT_RMDIR);
}
