/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record softlockup.bpf.c writes (the add_taint fallback of the softlockup probe). The
 * TypeScript decoder reads field offsets from the built object's BTF (struct softlockup_event).
 */
#ifndef KPULSE_SOFTLOCKUP_H
#define KPULSE_SOFTLOCKUP_H

struct softlockup_event {
	__u64 ts_ns;  /* bpf_ktime_get_ns() */
	__u32 cpu;    /* the CPU that was stuck: the watchdog taints from its own timer there */
	__u32 pid;    /* the task it was stuck in (tgid) */
	__u32 tid;
	char comm[16];
};

#endif
