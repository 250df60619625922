/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record netiftxlatency writes to its ring buffer, and the layout of its histogram map.
 * The TypeScript side reads field offsets and the enums from the built object's BTF: this is
 * the only definition of the layout.
 */
#ifndef KPULSE_NETIFTXLATENCY_H
#define KPULSE_NETIFTXLATENCY_H

/* The two stages of a transmitted packet; also the event type (KubeSkoop's names). */
enum netiftxlat_stage {
	TXLAT_QDISC = 0,  /* net_dev_queue → leaving the qdisc (qdisc_dequeue, or net_dev_start_xmit) */
	TXLAT_NETDEV = 1, /* net_dev_start_xmit → net_dev_xmit: the driver's ndo_start_xmit */
	TXLAT_STAGES = 2,
};

/* log2 slots of the latency in microseconds: slot 0 holds < 2 us, slot i (0 < i < TXLAT_SLOTS - 1)
 * [2^i, 2^(i+1)) us, the last slot everything from 2^(TXLAT_SLOTS-1) us (about 8.4 s) up. */
#define TXLAT_SLOTS 24

/* netiftxlat_metrics value, per stage (the key) and per CPU: read on scrape. */
struct netiftxlat_stage_metrics {
	__u64 slots[TXLAT_SLOTS]; /* the histogram */
	__u64 slow;               /* latencies at or above the stage's threshold */
	__u64 sum_ns;             /* sum of all latencies (the histogram's _sum) */
};

struct netiftxlat_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns() at the end of the stage */
	__u64 latency_ns;
	__u32 pid;             /* current task (often a softirq's host: the qdisc runs from NET_TX) */
	__u32 cpu;
	__u32 netns_inum;      /* the device's network namespace */
	__u32 ifindex;
	__u32 len;             /* skb->len */
	__u16 sport;           /* host order; 0 for protocols without ports */
	__u16 dport;
	__u8 stage;            /* enum netiftxlat_stage */
	__u8 family;           /* 4 or 6; 0 when the packet is not IP */
	__u8 l4_proto;         /* IPPROTO_* */
	__u8 saddr[16];
	__u8 daddr[16];
	char ifname[16];
	char comm[16];
};

#endif
