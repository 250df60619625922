/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record socketlatency writes to its ring buffer and the per-namespace counters it keeps.
 * The TypeScript decoder reads field offsets from the built object's BTF
 * (struct socketlatency_event): this is the only definition of the layout.
 */
#ifndef KPULSE_SOCKETLATENCY_H
#define KPULSE_SOCKETLATENCY_H

#define SOCKETLAT_READ 1   /* data waited in the receive queue before the process read it */
#define SOCKETLAT_SEND 2   /* data the process wrote waited in the socket before it left for the device */

struct socketlatency_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns() */
	__u64 latency_ns;
	__u64 net_cookie;
	__u32 pid;             /* read: the reader; send: the task that wrote the data */
	__u32 tid;
	__u32 netns_inum;
	__u32 cpu;
	__u16 sport;           /* the socket's local port, host order */
	__u16 dport;           /* the peer's port */
	__u8 family;           /* 4 or 6 */
	__u8 protocol;         /* IPPROTO_TCP */
	__u8 direction;        /* SOCKETLAT_READ or SOCKETLAT_SEND */
	__u8 pad;
	__u8 saddr[16];        /* local address */
	__u8 daddr[16];        /* peer address */
	char comm[16];
};

/*
 * Counters per network namespace (per-CPU hash keyed by the namespace's inode number), in
 * KubeSkoop's buckets: over 1 ms and at most 100 ms, or over 100 ms.
 */
struct socketlatency_counters {
	__u64 read1ms;
	__u64 read100ms;
	__u64 write1ms;
	__u64 write100ms;
};

#endif
