/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What dropwatch's object shares with user space: the record it writes to its ring buffer,
 * the policy user space writes into it (which drops are ordinary: counted, never events), and
 * the per-location counters of KubeSkoop's packetloss, which reads the same object. The
 * TypeScript side reads field offsets and enum names from the built object's BTF, so this is
 * the only definition of these layouts.
 */
#ifndef KPULSE_DROPWATCH_H
#define KPULSE_DROPWATCH_H

#define DROPWATCH_STACK_DEPTH 48
/* Address ranges (kernel functions) in each list of struct dropwatch_config. */
#define DROPWATCH_MAX_RANGES 16
/* Entries of the reason policy map; the kernel's core reasons are far below this. */
#define DROPWATCH_MAX_REASONS 1024
/* Distinct reasons the per-reason counter map holds (core and subsystem reasons). */
#define DROPWATCH_MAX_COUNTED_REASONS 1024

/*
 * A reason's policy (dropwatch_reason_policy[reason]): bit DROPWATCH_POLICY_ALWAYS = the drop
 * is ordinary whatever the socket; bit N (1..12) = ordinary when the socket is in TCP state N
 * (TCP_LISTEN = 10, TCP_TIME_WAIT = 6, ...); bit DROPWATCH_POLICY_STRAY (0, "STRAY") = ordinary
 * when there is no socket and the skb is a TCP segment other than a SYN. 0 = always an event.
 */
#define DROPWATCH_POLICY_ALWAYS (1U << 31)
#define DROPWATCH_POLICY_STRAY (1U << 0)

/*
 * KubeSkoop's packetloss counters, by where the skb was freed. The TypeScript side names
 * <ns>_packetloss_<location> after these enumerators (without PACKETLOSS_, lower case).
 */
enum packetloss_location {
	PACKETLOSS_TCPHANDLE = 0,  /* in tcp_v4_do_rcv / tcp_v6_do_rcv */
	PACKETLOSS_TCPRCV = 1,     /* in tcp_v4_rcv / tcp_v6_rcv */
	PACKETLOSS_ABNORMAL = 2,   /* anywhere else, unless the drop is ordinary (policy) */
	PACKETLOSS_TOTAL = 3,      /* every drop; as a record's class: none of the others */
	PACKETLOSS_NETFILTER = 4,  /* in nf_hook_slow, or reason NETFILTER_DROP */
	PACKETLOSS_TCPSTATM = 5,   /* in tcp_rcv_state_process */
	PACKETLOSS_LOCATION_MAX = 6,
};

/* [start, end) of one kernel function, from kallsyms. */
struct dropwatch_range {
	__u64 start;
	__u64 end;
};

/*
 * Written by user space into dropwatch_cfg[0] after load (and again when dropwatch's section
 * is applied), so the object does not depend on which probe loaded it first.
 */
struct dropwatch_config {
	__u64 max_events_per_sec;    /* 0 = unlimited */
	__u32 netfilter_reason;      /* SKB_DROP_REASON_NETFILTER_DROP on this kernel, 0 = none */
	__u32 nr_count_only;         /* entries used in count_only[] */
	__u32 nr_packetloss;         /* entries used in packetloss[] */
	__u32 packetloss_class[DROPWATCH_MAX_RANGES]; /* enum packetloss_location of packetloss[i] */
	struct dropwatch_range count_only[DROPWATCH_MAX_RANGES]; /* drops freed here are ordinary */
	struct dropwatch_range packetloss[DROPWATCH_MAX_RANGES]; /* KubeSkoop's named locations */
};

struct dropwatch_event {
	__u64 ts_ns;              /* bpf_ktime_get_ns() at the drop */
	__u64 skb_addr;
	__u64 location;           /* kernel address that freed the skb */
	__u64 net_cookie;         /* net->net_cookie (net_namespace_cookie) */
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
	__u32 sk_max_ack_backlog; /* full sockets only */
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
	__u8 pl_location;         /* enum packetloss_location of this drop */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
	char netdev[16];
};

#endif
