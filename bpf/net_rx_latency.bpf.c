// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * net_rx_latency: TCP packets that reached a stage of the receive path later than that stage's
 * threshold, measured from the packet's receive timestamp (skb->tstamp, taken when the stack
 * received it from the driver; user space keeps timestamping on while the probe runs). Three
 * stages, all tracepoints:
 *   TO_NETIF_RCV  net:netif_receive_skb         the stack takes the packet (after RPS/backlog)
 *   TO_TCPV4_RCV  tcp:tcp_probe                 TCP processes the segment (tcp_rcv_established;
 *                                               tcp_v4_rcv itself has no tracepoint)
 *   TO_USER_COPY  skb:skb_copy_datagram_iovec   its data is copied to the reading process
 * Each hook has a tp_btf program and a raw_tp alternative (no tracefs needed for either).
 * Packets of sockets that are not ESTABLISHED and, when configured, packets of the host's
 * network namespace are counted as filtered.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "net_latency_flow.h"
#include "net_rx_latency.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} net_rx_latency_events SEC(".maps");

/* Keeps struct net_rx_latency_event in the object's BTF for the TypeScript decoder. */
const struct net_rx_latency_event *net_rx_latency_event_layout __attribute__((unused));

/* Set by the loader: CLOCK_REALTIME - CLOCK_MONOTONIC at load (skb->tstamp is real time). */
const volatile __u64 mono_wall_offset = 0;
/* Stage thresholds in ns (Driver2NetRx, Driver2TCP, Driver2Userspace). */
const volatile __u64 rxlat_thresh_netif = 5000000;
const volatile __u64 rxlat_thresh_tcpv4 = 10000000;
const volatile __u64 rxlat_thresh_usercopy = 115000000;
/* Inode number of the host's network namespace; 0 keeps host traffic (ExcludedHostNetnamespace). */
const volatile __u32 host_netns_inum = 0;

static __always_inline int on_stage(const struct sk_buff *skb, const struct sock *sk, __u8 where,
				    __u64 thresh, const unsigned char *nh)
{
	struct net_rx_latency_event *e;
	struct nlf_flow f = {};
	const struct net_device *dev;
	__u64 now = bpf_ktime_get_ns(), cookie = 0, lat;
	__u32 inum = 0;
	__u8 state = 0;

	lat = nlf_tstamp_age(skb, now, mono_wall_offset);
	if (lat <= thresh)
		return 0;
	if (!nh || nlf_parse_ip(nh, &f) || f.l4proto != NLF_IPPROTO_TCP)
		return 0;
	/* A packet late at this stage is an event from here on: it ends in exactly one outcome. */
	dev = BPF_CORE_READ(skb, dev);
	if (sk) {
		nlf_sock_net(sk, &inum, &cookie);
		state = BPF_CORE_READ(sk, __sk_common.skc_state);
	} else {
		nlf_dev_net(dev, &inum, &cookie);
	}
	if ((host_netns_inum && inum == host_netns_inum) || (sk && state != NLF_TCP_ESTABLISHED)) {
		kpulse_count(KPULSE_FILTERED);
		return 0;
	}
	e = kpulse_reserve(&net_rx_latency_events, sizeof(*e), now);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->latency_ns = lat;
	e->net_cookie = cookie;
	e->netns_inum = inum;
	e->where = where;
	e->state = state;
	e->pkt_len = BPF_CORE_READ(skb, len);
	e->family = f.family;
	e->sport = f.sport;
	e->dport = f.dport;
	e->seq = f.seq;
	e->ack_seq = f.ack_seq;
	__builtin_memcpy(e->saddr, f.saddr, 16);
	__builtin_memcpy(e->daddr, f.daddr, 16);
	if (dev)
		BPF_CORE_READ_STR_INTO(&e->netdev, dev, name);
	if (where == RX_STAGE_USERCOPY) {
		/* only the copy runs in the receiving process; the other stages run in softirq */
		__u64 id = bpf_get_current_pid_tgid();

		e->pid = id >> 32;
		e->tid = (__u32)id;
		bpf_get_current_comm(&e->comm, sizeof(e->comm));
	}
	kpulse_submit(e);
	return 0;
}

/* Before __netif_receive_skb_core resets the network header: skb->data is the IP header. */
static __always_inline int on_netif_receive(const struct sk_buff *skb)
{
	return on_stage(skb, 0, RX_STAGE_NETIF, rxlat_thresh_netif, BPF_CORE_READ(skb, data));
}

static __always_inline int on_tcp_probe(const struct sock *sk, const struct sk_buff *skb)
{
	if (!nlf_is_tcp_sock(sk))
		return 0;
	return on_stage(skb, sk, RX_STAGE_TCP, rxlat_thresh_tcpv4, nlf_network_header(skb));
}

static __always_inline int on_copy(const struct sk_buff *skb)
{
	const struct sock *sk = BPF_CORE_READ(skb, sk);

	if (!nlf_is_tcp_sock(sk))
		return 0;
	return on_stage(skb, sk, RX_STAGE_USERCOPY, rxlat_thresh_usercopy, nlf_network_header(skb));
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(rx_netif_receive_skb_btf, struct sk_buff *skb)
{
	return on_netif_receive(skb);
}

SEC("raw_tp/netif_receive_skb")
int BPF_PROG(rx_netif_receive_skb_raw, struct sk_buff *skb)
{
	return on_netif_receive(skb);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(rx_tcp_probe_btf, struct sock *sk, const struct sk_buff *skb)
{
	return on_tcp_probe(sk, skb);
}

SEC("raw_tp/tcp_probe")
int BPF_PROG(rx_tcp_probe_raw, struct sock *sk, const struct sk_buff *skb)
{
	return on_tcp_probe(sk, skb);
}

SEC("tp_btf/skb_copy_datagram_iovec")
int BPF_PROG(rx_skb_copy_datagram_iovec_btf, const struct sk_buff *skb, int len)
{
	return on_copy(skb);
}

SEC("raw_tp/skb_copy_datagram_iovec")
int BPF_PROG(rx_skb_copy_datagram_iovec_raw, const struct sk_buff *skb, int len)
{
	return on_copy(skb);
}
