/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record net_rx_latency writes to its ring buffer. The TypeScript decoder reads field
 * offsets from the built object's BTF (struct net_rx_latency_event): this is the only definition
 * of the layout.
 */
#ifndef KPULSE_NET_RX_LATENCY_H
#define KPULSE_NET_RX_LATENCY_H

/* Where the packet was when its age passed the stage's threshold (HUATUO's `where`). */
#define RX_STAGE_NETIF 0     /* net:netif_receive_skb: the stack takes the packet from the driver */
#define RX_STAGE_TCP 1       /* tcp:tcp_probe: TCP processes the segment (tcp_rcv_established) */
#define RX_STAGE_USERCOPY 2  /* skb:skb_copy_datagram_iovec: data copied to the reading process */

struct net_rx_latency_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns() */
	__u64 latency_ns;      /* age of the packet's receive timestamp (skb->tstamp) at the stage */
	__u64 net_cookie;
	__u32 pid;             /* TO_USER_COPY: the reader; other stages: 0 (softirq, no owner) */
	__u32 tid;
	__u32 netns_inum;
	__u32 pkt_len;         /* skb->len at the stage */
	__u32 seq;             /* TCP header, host order */
	__u32 ack_seq;
	__u16 sport;           /* packet direction: the sender's port, host order */
	__u16 dport;
	__u8 family;           /* 4 or 6 */
	__u8 where;            /* RX_STAGE_* */
	__u8 state;            /* TCP_* of the socket; 0 before the socket is known (TO_NETIF_RCV) */
	__u8 pad;
	__u8 saddr[16];        /* packet direction: the sender */
	__u8 daddr[16];
	char comm[16];
	char netdev[16];       /* receiving device (skb->dev); TCP has detached it by TO_TCPV4_RCV */
};

#endif
