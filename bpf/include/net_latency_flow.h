/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Helpers shared by the latency probes (net_rx_latency, socketlatency, kernellatency): the flow
 * of a packet from its IP and TCP/UDP headers, the flow of a socket, the network namespace of a
 * socket or device, and the age of a packet's timestamp. Every read goes through
 * bpf_probe_read_kernel (BPF_CORE_READ), so the same code serves tp_btf and raw_tp programs.
 * Include after vmlinux.h, bpf_helpers.h, bpf_core_read.h and bpf_endian.h.
 */
#ifndef KPULSE_NET_LATENCY_FLOW_H
#define KPULSE_NET_LATENCY_FLOW_H

#define NLF_AF_INET 2
#define NLF_AF_INET6 10
#define NLF_ETH_P_IP 0x0800
#define NLF_ETH_P_IPV6 0x86DD
#define NLF_IPPROTO_TCP 6
#define NLF_IPPROTO_UDP 17
#define NLF_TCP_ESTABLISHED 1
#define NLF_TCP_CLOSE 7
#define NLF_TCP_LISTEN 10

/* skb->tstamp_type (6.11+; mono_delivery_time before): which clock skb->tstamp is on. */
#define NLF_CLOCK_REALTIME 0
#define NLF_CLOCK_MONOTONIC 1
#define NLF_CLOCK_TAI 2

/* Kernels 5.18 to 6.10 name the one-bit flag mono_delivery_time. */
struct sk_buff___mdt {
	__u8 mono_delivery_time: 1;
} __attribute__((preserve_access_index));

/* Kernels before 5.6 have sk_protocol as a bitfield; the _PROBED read handles both. */

struct nlf_flow {
	__u8 family;       /* 4 or 6; 0 when the headers could not be read */
	__u8 l4proto;      /* IPPROTO_* */
	__u16 sport;       /* host order */
	__u16 dport;
	__u16 l4_hdr_len;  /* TCP: doff * 4 */
	__u32 seq;         /* TCP, host order */
	__u32 ack_seq;
	__u32 l4_offset;   /* offset of the TCP/UDP header from the network header */
	__u8 saddr[16];
	__u8 daddr[16];
};

/*
 * Parse the IPv4/IPv6 header at kernel address `nh` and the TCP or UDP header after it (IPv6
 * extension headers are not followed). Returns 0 when an IP header was read.
 */
static __always_inline int nlf_parse_ip(const unsigned char *nh, struct nlf_flow *f)
{
	__u8 b[40];
	__u32 l4;

	if (bpf_probe_read_kernel(b, 20, nh))
		return -1;
	if ((b[0] >> 4) == 4) {
		f->family = 4;
		f->l4proto = b[9];
		__builtin_memcpy(f->saddr, &b[12], 4);
		__builtin_memcpy(f->daddr, &b[16], 4);
		l4 = (b[0] & 0x0f) * 4;
		if (l4 < 20)
			return -1;
	} else if ((b[0] >> 4) == 6) {
		if (bpf_probe_read_kernel(b, 40, nh))
			return -1;
		f->family = 6;
		f->l4proto = b[6];
		__builtin_memcpy(f->saddr, &b[8], 16);
		__builtin_memcpy(f->daddr, &b[24], 16);
		l4 = 40;
	} else {
		return -1;
	}
	f->l4_offset = l4;
	if (f->l4proto == NLF_IPPROTO_TCP) {
		if (bpf_probe_read_kernel(b, 20, nh + l4))
			return 0;
		f->sport = ((__u16)b[0] << 8) | b[1];
		f->dport = ((__u16)b[2] << 8) | b[3];
		f->seq = ((__u32)b[4] << 24) | ((__u32)b[5] << 16) | ((__u32)b[6] << 8) | b[7];
		f->ack_seq = ((__u32)b[8] << 24) | ((__u32)b[9] << 16) | ((__u32)b[10] << 8) | b[11];
		f->l4_hdr_len = (b[12] >> 4) * 4;
	} else if (f->l4proto == NLF_IPPROTO_UDP) {
		if (bpf_probe_read_kernel(b, 8, nh + l4))
			return 0;
		f->sport = ((__u16)b[0] << 8) | b[1];
		f->dport = ((__u16)b[2] << 8) | b[3];
		f->l4_hdr_len = 8;
	}
	return 0;
}

/* The network header of an skb whose IP layer has run (set and inside the buffer), or NULL. */
static __always_inline const unsigned char *nlf_network_header(const struct sk_buff *skb)
{
	__u16 off = BPF_CORE_READ(skb, network_header);
	unsigned char *head = BPF_CORE_READ(skb, head);

	if (off == (__u16)~0U || !head)
		return 0;
	return head + off;
}

/* The IP protocol of an skb at netif_receive_skb (skb->data is the network header), or 0. */
static __always_inline __u8 nlf_rx_l4proto(const struct sk_buff *skb)
{
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u8 v = 0;

	if (proto == NLF_ETH_P_IP)
		bpf_probe_read_kernel(&v, 1, data + 9);
	else if (proto == NLF_ETH_P_IPV6)
		bpf_probe_read_kernel(&v, 1, data + 6);
	return v;
}

/* The local → remote flow of a socket (TCP state aside). */
static __always_inline void nlf_sock_flow(const struct sock *sk, struct nlf_flow *f)
{
	const struct sock_common *c = &sk->__sk_common;
	__u16 family = BPF_CORE_READ(c, skc_family);

	f->l4proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	f->sport = BPF_CORE_READ(c, skc_num);
	f->dport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
	if (family == NLF_AF_INET) {
		f->family = 4;
		bpf_core_read(f->saddr, 4, &c->skc_rcv_saddr);
		bpf_core_read(f->daddr, 4, &c->skc_daddr);
	} else if (family == NLF_AF_INET6) {
		f->family = 6;
		bpf_core_read(f->saddr, 16, &c->skc_v6_rcv_saddr);
		bpf_core_read(f->daddr, 16, &c->skc_v6_daddr);
	}
}

/* True for an IPv4 or IPv6 TCP socket. */
static __always_inline bool nlf_is_tcp_sock(const struct sock *sk)
{
	__u16 family;

	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != NLF_AF_INET && family != NLF_AF_INET6)
		return false;
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == NLF_IPPROTO_TCP;
}

static __always_inline void nlf_net_ids(const struct net *net, __u32 *inum, __u64 *cookie)
{
	if (!net)
		return;
	*inum = BPF_CORE_READ(net, ns.inum);
	if (bpf_core_field_exists(net->net_cookie))
		*cookie = BPF_CORE_READ(net, net_cookie);
}

static __always_inline void nlf_sock_net(const struct sock *sk, __u32 *inum, __u64 *cookie)
{
	nlf_net_ids(BPF_CORE_READ(sk, __sk_common.skc_net.net), inum, cookie);
}

static __always_inline void nlf_dev_net(const struct net_device *dev, __u32 *inum, __u64 *cookie)
{
	if (dev)
		nlf_net_ids(BPF_CORE_READ(dev, nd_net.net), inum, cookie);
}

/* The clock skb->tstamp is on (NLF_CLOCK_*). */
static __always_inline __u8 nlf_tstamp_type(const struct sk_buff *skb)
{
	if (bpf_core_field_exists(skb->tstamp_type))
		return BPF_CORE_READ_BITFIELD_PROBED(skb, tstamp_type);
	if (bpf_core_field_exists(((struct sk_buff___mdt *)skb)->mono_delivery_time))
		return BPF_CORE_READ_BITFIELD_PROBED((struct sk_buff___mdt *)skb, mono_delivery_time);
	return NLF_CLOCK_REALTIME;
}

/*
 * How old skb->tstamp is at monotonic time `now`, in ns; 0 when the skb has no timestamp, it is
 * on an unknown clock, or it lies in the future. A real-time stamp (the receive timestamp the
 * stack takes when timestamping is on) is compared with now + `mono_to_real` (CLOCK_REALTIME -
 * CLOCK_MONOTONIC, measured by user space at load); a monotonic one (TCP's departure time) with
 * now directly.
 */
static __always_inline __u64 nlf_tstamp_age(const struct sk_buff *skb, __u64 now, __u64 mono_to_real)
{
	__u64 ts = BPF_CORE_READ(skb, tstamp);
	__u64 base;
	__u8 type;

	if (!ts)
		return 0;
	type = nlf_tstamp_type(skb);
	if (type == NLF_CLOCK_MONOTONIC)
		base = now;
	else if (type == NLF_CLOCK_REALTIME)
		base = now + mono_to_real;
	else
		return 0;
	return base > ts ? base - ts : 0;
}

#endif
