// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * kernellatency (KubeSkoop's probe): time packets spend in the kernel's network stack.
 *   rx: net:netif_receive_skb → tcp:tcp_probe (IP, netfilter, routing and the socket backlog up
 *       to TCP's processing of the segment); TCP packets only (UDP has no receive tracepoint).
 *   tx: TCP's transmit time (the skb's departure stamp, skb->tstamp on the monotonic clock) →
 *       net:net_dev_queue (IP output, netfilter, neighbour) → net:net_dev_start_xmit (the qdisc
 *       and the device queue); packets without a departure stamp (UDP…) from net_dev_queue on.
 * Per-skb start times live in LRU hashes keyed by the skb's address (entries of packets that
 * never reach the end point age out). A packet slower than its direction's threshold is counted
 * per network namespace (and separately when over 100 ms) and reported (rate-limited).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "net_latency_flow.h"
#include "kernellatency.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NS_PER_MS 1000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} kernellatency_events SEC(".maps");

const struct kernellatency_event *kernellatency_event_layout __attribute__((unused));

/* skb address → when netif_receive_skb took it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} kernellatency_rx_start SEC(".maps");

/* skb address → when it was queued to its device (net_dev_queue). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} kernellatency_tx_queued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct kernellatency_counters);
} kernellatency_counters SEC(".maps");

/* Thresholds in ns (RxThreshold, TxThreshold). */
const volatile __u64 rx_thresh_ns = 10 * NS_PER_MS;
const volatile __u64 tx_thresh_ns = 10 * NS_PER_MS;

static __always_inline void count(__u32 inum, __u8 direction, __u64 lat)
{
	struct kernellatency_counters *c = bpf_map_lookup_elem(&kernellatency_counters, &inum);
	struct kernellatency_counters zero = {};

	if (!c) {
		bpf_map_update_elem(&kernellatency_counters, &inum, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&kernellatency_counters, &inum);
		if (!c)
			return;
	}
	if (direction == KLAT_RX) {
		c->rxslow++;
		if (lat > 100 * NS_PER_MS)
			c->rxslow100ms++;
	} else {
		c->txslow++;
		if (lat > 100 * NS_PER_MS)
			c->txslow100ms++;
	}
}

static __always_inline void report(const struct sk_buff *skb, const struct net_device *dev, __u8 direction,
				   __u32 inum, __u64 cookie, __u64 now, __u64 lat, __u64 loc1, __u64 loc2)
{
	struct kernellatency_event *e;
	struct nlf_flow f = {};
	const unsigned char *nh = nlf_network_header(skb);
	__u64 id;

	count(inum, direction, lat);
	e = kpulse_reserve(&kernellatency_events, sizeof(*e), now);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	if (nh)
		nlf_parse_ip(nh, &f);
	id = bpf_get_current_pid_tgid();
	e->ts_ns = now;
	e->latency_ns = lat;
	e->loc1_ns = loc1;
	e->loc2_ns = loc2;
	e->net_cookie = cookie;
	e->netns_inum = inum;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->cpu = bpf_get_smp_processor_id();
	e->direction = direction;
	e->family = f.family;
	e->protocol = f.l4proto;
	e->sport = f.sport;
	e->dport = f.dport;
	__builtin_memcpy(e->saddr, f.saddr, 16);
	__builtin_memcpy(e->daddr, f.daddr, 16);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	if (dev)
		BPF_CORE_READ_STR_INTO(&e->netdev, dev, name);
	kpulse_submit(e);
}

static __always_inline int on_netif_receive(const struct sk_buff *skb)
{
	__u64 key = (__u64)skb, now;

	if (nlf_rx_l4proto(skb) != NLF_IPPROTO_TCP)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&kernellatency_rx_start, &key, &now, BPF_ANY);
	return 0;
}

static __always_inline int on_tcp_probe(const struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)skb, now, start, lat, cookie = 0;
	__u64 *ts = bpf_map_lookup_elem(&kernellatency_rx_start, &key);
	__u32 inum = 0;

	if (!ts)
		return 0;
	start = *ts;
	bpf_map_delete_elem(&kernellatency_rx_start, &key);
	now = bpf_ktime_get_ns();
	if (now <= start)
		return 0;
	lat = now - start;
	if (lat <= rx_thresh_ns)
		return 0;
	if (sk)
		nlf_sock_net(sk, &inum, &cookie);
	report(skb, 0, KLAT_RX, inum, cookie, now, lat, lat, 0);
	return 0;
}

static __always_inline int on_dev_queue(const struct sk_buff *skb)
{
	__u64 key = (__u64)skb, now;
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	if (proto != NLF_ETH_P_IP && proto != NLF_ETH_P_IPV6)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&kernellatency_tx_queued, &key, &now, BPF_ANY);
	return 0;
}

static __always_inline int on_start_xmit(const struct sk_buff *skb, const struct net_device *dev)
{
	__u64 key = (__u64)skb, now = bpf_ktime_get_ns(), queued = 0, sent = 0, start, lat, cookie = 0;
	__u64 *q = bpf_map_lookup_elem(&kernellatency_tx_queued, &key);
	__u32 inum = 0;

	if (q) {
		queued = *q;
		bpf_map_delete_elem(&kernellatency_tx_queued, &key);
		if (queued > now)
			queued = 0;
	}
	/* TCP stamps each skb with its departure time on the monotonic clock when it sends it */
	if (nlf_tstamp_type(skb) == NLF_CLOCK_MONOTONIC) {
		sent = BPF_CORE_READ(skb, tstamp);
		if (sent > now || (queued && sent > queued))
			sent = 0; /* paced into the future: not a send time */
	}
	start = sent ? sent : queued;
	if (!start)
		return 0;
	lat = now - start;
	if (lat <= tx_thresh_ns)
		return 0;
	nlf_dev_net(dev, &inum, &cookie);
	report(skb, dev, KLAT_TX, inum, cookie, now, lat, sent && queued ? queued - sent : 0, queued ? now - queued : 0);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(klat_netif_receive_skb_btf, struct sk_buff *skb)
{
	return on_netif_receive(skb);
}

SEC("raw_tp/netif_receive_skb")
int BPF_PROG(klat_netif_receive_skb_raw, struct sk_buff *skb)
{
	return on_netif_receive(skb);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(klat_tcp_probe_btf, struct sock *sk, const struct sk_buff *skb)
{
	return on_tcp_probe(sk, skb);
}

SEC("raw_tp/tcp_probe")
int BPF_PROG(klat_tcp_probe_raw, struct sock *sk, const struct sk_buff *skb)
{
	return on_tcp_probe(sk, skb);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(klat_net_dev_queue_btf, struct sk_buff *skb)
{
	return on_dev_queue(skb);
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(klat_net_dev_queue_raw, struct sk_buff *skb)
{
	return on_dev_queue(skb);
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(klat_net_dev_start_xmit_btf, const struct sk_buff *skb, const struct net_device *dev)
{
	return on_start_xmit(skb, dev);
}

SEC("raw_tp/net_dev_start_xmit")
int BPF_PROG(klat_net_dev_start_xmit_raw, const struct sk_buff *skb, const struct net_device *dev)
{
	return on_start_xmit(skb, dev);
}
