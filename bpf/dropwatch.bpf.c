// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * dropwatch: one event per dropped skb (skb:kfree_skb), with the drop reason, the
 * flow, the socket state, the device and the kernel stack.
 *
 * Three entry points for the same tracepoint, tried in this order by the loader:
 *   tp_btf with rx_sk (6.11+), tp_btf without it, and the classic tracepoint
 *   (needs tracefs) for kernels whose BTF lacks the typed tracepoint.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "dropwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* [start, end) of neigh_invalidate, from kallsyms; both 0 disables the filter. */
const volatile __u64 exclude_loc_start = 0;
const volatile __u64 exclude_loc_end = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} dropwatch_events SEC(".maps");

/* Keeps struct dropwatch_event in the object's BTF for the TypeScript decoder. */
const struct dropwatch_event *dropwatch_event_layout __attribute__((unused));

static __always_inline void read_packet(struct dropwatch_event *e, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 l4 = 0;

	if (nh == (__u16)~0U)
		return;
	if (e->eth_proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->family = 4;
		l4 = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		/* transport_header is not set yet on some early drops: derive it */
		if (th == (__u16)~0U || th <= nh)
			th = nh + ip.ihl * 4;
	} else if (e->eth_proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->family = 6;
		l4 = ip6.nexthdr;
		bpf_probe_read_kernel(e->saddr, 16, &ip6.saddr);
		bpf_probe_read_kernel(e->daddr, 16, &ip6.daddr);
		if (th == (__u16)~0U || th <= nh)
			th = nh + sizeof(struct ipv6hdr);
	} else {
		return;
	}
	e->l4_proto = l4;
	if (l4 == IPPROTO_TCP) {
		struct tcphdr tcp;

		if (bpf_probe_read_kernel(&tcp, sizeof(tcp), head + th))
			return;
		e->sport = bpf_ntohs(tcp.source);
		e->dport = bpf_ntohs(tcp.dest);
		e->seq = bpf_ntohl(tcp.seq);
		e->ack_seq = bpf_ntohl(tcp.ack_seq);
		e->tcp_flags = ((__u8 *)&tcp)[13];
	} else if (l4 == IPPROTO_UDP) {
		struct udphdr udp;

		if (bpf_probe_read_kernel(&udp, sizeof(udp), head + th))
			return;
		e->sport = bpf_ntohs(udp.source);
		e->dport = bpf_ntohs(udp.dest);
	}
}

static __always_inline void read_socket(struct dropwatch_event *e, struct sock *sk)
{
	if (!sk)
		return;
	e->sk_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->sk_max_ack_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
	e->sk_ack_backlog = BPF_CORE_READ(sk, sk_ack_backlog);
	if (e->sk_state == 10 /* TCP_LISTEN */) {
		struct inet_connection_sock *icsk = (void *)sk;

		e->syn_qlen = BPF_CORE_READ(icsk, icsk_accept_queue.qlen.counter);
	}
	if (!e->family) {
		/* No IP header in the skb (e.g. a drop on the send path): use the socket's flow. */
		__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);

		if (fam == 2 /* AF_INET */) {
			e->family = 4;
			/* explicit size: BPF_CORE_READ_INTO into a byte array copies one byte */
			bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
			bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
			e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
			e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
			e->l4_proto = BPF_CORE_READ(sk, sk_protocol);
		}
	}
}

static __always_inline void read_device(struct dropwatch_event *e, struct sk_buff *skb, struct sock *sk)
{
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct net *net = 0;

	if (dev) {
		e->ifindex = BPF_CORE_READ(dev, ifindex);
		e->dev_flags = BPF_CORE_READ(dev, flags);
		/* IFF_RUNNING is computed by dev_get_flags(), not stored: read the carrier bit */
		e->carrier_ok = !(BPF_CORE_READ(dev, state) &
				  (1UL << bpf_core_enum_value(enum netdev_state_t, __LINK_STATE_NOCARRIER)));
		BPF_CORE_READ_STR_INTO(&e->netdev, dev, name);
		net = BPF_CORE_READ(dev, nd_net.net);
	}
	if (!net && sk)
		net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
	if (net) {
		e->netns_inum = BPF_CORE_READ(net, ns.inum);
		if (bpf_core_field_exists(net->net_cookie))
			e->net_cookie = BPF_CORE_READ(net, net_cookie);
	}
}

static __always_inline int handle_drop(void *ctx, struct sk_buff *skb, __u64 location,
				       __u32 reason, struct sock *rx_sk)
{
	struct dropwatch_event *e;
	struct sock *sk;
	__u64 now, id;

	if (!skb)
		return 0;
	if (location >= exclude_loc_start && location < exclude_loc_end) {
		kpulse_count(KPULSE_FILTERED);
		return 0;
	}
	now = bpf_ktime_get_ns();
	e = kpulse_reserve(&dropwatch_events, sizeof(*e), now);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->skb_addr = (__u64)skb;
	e->location = location;
	e->reason = reason;
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	e->pkt_len = BPF_CORE_READ(skb, len);
	e->queue_mapping = BPF_CORE_READ(skb, queue_mapping);
	e->eth_proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	sk = BPF_CORE_READ(skb, sk);
	if (!sk)
		sk = rx_sk;
	read_packet(e, skb);
	read_socket(e, sk);
	read_device(e, skb, sk);

	long n = bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
	e->stack_bytes = n > 0 ? n : 0;

	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(dropwatch_tp_btf_rx_sk, struct sk_buff *skb, void *location,
	     enum skb_drop_reason reason, struct sock *rx_sk)
{
	return handle_drop(ctx, skb, (__u64)location, reason, rx_sk);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(dropwatch_tp_btf, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return handle_drop(ctx, skb, (__u64)location, reason, 0);
}

SEC("tracepoint/skb/kfree_skb")
int dropwatch_tracepoint(struct trace_event_raw_kfree_skb *args)
{
	__u32 reason = 0;

	if (bpf_core_field_exists(args->reason))
		reason = BPF_CORE_READ(args, reason);
	return handle_drop(args, (struct sk_buff *)BPF_CORE_READ(args, skbaddr),
			   (__u64)BPF_CORE_READ(args, location), reason, 0);
}
