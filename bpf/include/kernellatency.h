/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record kernellatency writes to its ring buffer and the per-namespace counters it keeps.
 * The TypeScript decoder reads field offsets from the built object's BTF
 * (struct kernellatency_event): this is the only definition of the layout.
 */
#ifndef KPULSE_KERNELLATENCY_H
#define KPULSE_KERNELLATENCY_H

#define KLAT_RX 1   /* netif_receive_skb → TCP receive */
#define KLAT_TX 2   /* TCP send → device queue → driver */

struct kernellatency_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns() */
	__u64 latency_ns;      /* the whole measured path */
	__u64 loc1_ns;         /* rx: netif_receive_skb → TCP; tx: TCP send → device queue; 0 = not measured */
	__u64 loc2_ns;         /* tx: device queue (qdisc) → driver; 0 = not measured */
	__u64 net_cookie;
	__u32 pid;             /* the task running when the packet got there (often softirq's victim) */
	__u32 tid;
	__u32 netns_inum;      /* rx: the socket's namespace; tx: the device's */
	__u32 cpu;
	__u16 sport;           /* packet direction, host order */
	__u16 dport;
	__u8 family;           /* 4 or 6 */
	__u8 protocol;         /* IPPROTO_* */
	__u8 direction;        /* KLAT_RX or KLAT_TX */
	__u8 pad;
	__u8 saddr[16];        /* packet direction: the sender */
	__u8 daddr[16];
	char comm[16];
	char netdev[16];       /* tx: the transmitting device; rx: empty */
};

/* Counters per network namespace (per-CPU hash keyed by its inode number): packets slower than
 * the configured threshold, and of those the ones over 100 ms. */
struct kernellatency_counters {
	__u64 rxslow;
	__u64 rxslow100ms;
	__u64 txslow;
	__u64 txslow100ms;
};

#endif
