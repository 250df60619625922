/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record dropwatch writes to its ring buffer. The TypeScript decoder reads field
 * offsets from the built object's BTF (struct dropwatch_event), so this is the only
 * definition of the layout.
 */
#ifndef KPULSE_DROPWATCH_H
#define KPULSE_DROPWATCH_H

#define DROPWATCH_STACK_DEPTH 48

struct dropwatch_event {
	__u64 ts_ns;              /* bpf_ktime_get_ns() at the drop */
	__u64 skb_addr;
	__u64 location;           /* kernel address that freed the skb */
	__u64 net_cookie;
	__u64 stack[DROPWATCH_STACK_DEPTH];
	__u32 stack_bytes;        /* bytes of stack[] filled by bpf_get_stack */
	__u32 pid;                /* tgid of the current task */
	__u32 tid;
	__u32 reason;             /* enum skb_drop_reason, numbering of the running kernel */
	__u32 netns_inum;
	__u32 ifindex;
	__u32 dev_flags;          /* net_device.flags (IFF_UP, ...) */
	__u32 pkt_len;            /* skb->len */
	__u32 seq;                /* TCP only, host order */
	__u32 ack_seq;
	__u32 sk_max_ack_backlog; /* socket known only */
	__u32 sk_ack_backlog;
	__u32 syn_qlen;           /* listener request queue length */
	__u16 queue_mapping;
	__u16 eth_proto;          /* skb->protocol, host order */
	__u16 sport;              /* host order */
	__u16 dport;
	__u8 family;              /* 4, 6 or 0 when no IP header was found */
	__u8 l4_proto;            /* IPPROTO_* */
	__u8 sk_state;            /* TCP_* state; 0 when no socket */
	__u8 tcp_flags;
	__u8 carrier_ok;          /* !(net_device.state & __LINK_STATE_NOCARRIER) */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
	char netdev[16];
};

#endif
