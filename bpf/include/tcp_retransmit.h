/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record tcp_retransmit writes to its ring buffer. The TypeScript decoder reads field
 * offsets from the built object's BTF (struct tcp_retransmit_event): this is the only
 * definition of the layout.
 */
#ifndef KPULSE_TCP_RETRANSMIT_H
#define KPULSE_TCP_RETRANSMIT_H

#define TCP_RETRANSMIT_SKB 1     /* tcp:tcp_retransmit_skb: a segment sent again */
#define TCP_RETRANSMIT_SYNACK 2  /* tcp:tcp_retransmit_synack: a listener's SYN-ACK sent again */

struct tcp_retransmit_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns() */
	__u64 net_cookie;
	__u64 skb_addr;
	__u32 pid;             /* current task: often not the socket's owner (timers run in softirq) */
	__u32 tid;
	__u32 netns_inum;
	__u32 seq;             /* first sequence number of the retransmitted segment (host order) */
	__u32 end_seq;
	__u32 ack_seq;         /* next sequence expected from the peer (rcv_nxt) */
	__u16 sport;           /* host order */
	__u16 dport;
	__u8 family;           /* 4 or 6 */
	__u8 state;            /* TCP_* state of the socket (TCP_SYN_RECV for a SYN-ACK) */
	__u8 tcp_flags;        /* TCPHDR_* of the segment */
	__u8 ca_state;         /* congestion-avoidance state (TCP_CA_*) */
	__u8 retransmits;      /* icsk_retransmits: RTO retransmits of this socket so far */
	__u8 kind;             /* TCP_RETRANSMIT_SKB or TCP_RETRANSMIT_SYNACK */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
};

#endif
