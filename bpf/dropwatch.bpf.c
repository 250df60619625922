// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * dropwatch: every skb the kernel drops (skb:kfree_skb), with the drop reason, the flow, the
 * socket state, the device and the kernel stack. One program serves two probes: dropwatch
 * (HUATUO's events) and packetloss (KubeSkoop's per-location counters and events) read the same
 * object, so the tracepoint is attached once.
 *
 * For every drop, before anything is reserved:
 *   1. dropwatch_drops[reason]++            (per-reason counter, never rate-limited or filtered)
 *   2. packetloss_counts[location class]++  (and [PACKETLOSS_TOTAL])
 *   3. ordinary drops (the policy in dropwatch_cfg / dropwatch_reason_policy, written by user
 *      space) are counted as `filtered` and end here: they use neither the rate limit nor the ring;
 *   4. the rate limit (dropwatch_cfg.max_events_per_sec), then one ring record.
 *
 * A drop on a listening socket whose accept queue is full (or a SYN while its SYN queue is full)
 * is never ordinary: those are HUATUO's listen_overflow / syn_flood drops.
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
#define TCP_STATE_TIME_WAIT 6
#define TCP_STATE_LISTEN 10
#define TCP_STATE_NEW_SYN_RECV 12
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} dropwatch_events SEC(".maps");

/* The policy and location ranges; one entry, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dropwatch_config);
} dropwatch_cfg SEC(".maps");

/* Per reason: DROPWATCH_POLICY_* bits (see dropwatch.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DROPWATCH_MAX_REASONS);
	__type(key, __u32);
	__type(value, __u32);
} dropwatch_reason_policy SEC(".maps");

/* Drops by reason (the raw enum skb_drop_reason value), every drop. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, DROPWATCH_MAX_COUNTED_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} dropwatch_drops SEC(".maps");

/* KubeSkoop's packetloss counters, indexed by enum packetloss_location. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PACKETLOSS_LOCATION_MAX);
	__type(key, __u32);
	__type(value, __u64);
} packetloss_counts SEC(".maps");

/* Keep the shared layouts and enums in the object's BTF for the TypeScript side. */
const struct dropwatch_event *dropwatch_event_layout __attribute__((unused));
const struct dropwatch_config *dropwatch_config_layout __attribute__((unused));
const enum packetloss_location *packetloss_location_names __attribute__((unused));

/*
 * kpulse_common.h's fixed-window limiter, with the limit read from the config map instead of
 * .rodata: the object is shared, and dropwatch's section may be applied after another probe
 * loaded it. Same window variables, same semantics.
 */
static __always_inline bool dropwatch_ratelimit_allows(__u64 now, __u64 limit)
{
	__u64 start;

	if (!limit)
		return true;
	start = kpulse_window_start_ns;
	if (now - start >= 1000000000ULL) {
		if (__sync_val_compare_and_swap(&kpulse_window_start_ns, start, now) == start)
			kpulse_window_count = 0;
	}
	return __sync_fetch_and_add(&kpulse_window_count, 1) < limit;
}

static __always_inline void count_reason(__u32 reason)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(&dropwatch_drops, &reason);

	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&dropwatch_drops, &reason, &one, BPF_NOEXIST);
	/* a full map or a racing insert loses this one count (per-CPU values: no atomics needed) */
}

static __always_inline void count_packetloss(__u32 where)
{
	__u32 total = PACKETLOSS_TOTAL;
	__u64 *v = bpf_map_lookup_elem(&packetloss_counts, &total);

	if (v)
		*v += 1;
	if (where == PACKETLOSS_TOTAL)
		return;
	v = bpf_map_lookup_elem(&packetloss_counts, &where);
	if (v)
		*v += 1;
}

static __always_inline bool in_ranges(const struct dropwatch_range *r, __u32 n, __u64 location, __u32 *hit)
{
	bool found = false;

	/* unrolled, without an early exit: kernels before 5.3 (the tracepoint fallback) refuse loops */
#pragma unroll
	for (__u32 i = 0; i < DROPWATCH_MAX_RANGES; i++) {
		if (!found && i < n && location >= r[i].start && location < r[i].end) {
			found = true;
			*hit = i;
		}
	}
	return found;
}

/* Offset of the transport header, or 0 when the skb has no IPv4/IPv6 header we can read. */
static __always_inline __u16 transport_offset(struct sk_buff *skb, unsigned char *head, __u16 eth_proto, __u8 *l4)
{
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);

	if (nh == (__u16)~0U)
		return 0;
	if (eth_proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return 0;
		*l4 = ip.protocol;
		/* transport_header is not set yet on some early drops: derive it */
		if (th == (__u16)~0U || th <= nh)
			th = nh + ip.ihl * 4;
		return th;
	}
	if (eth_proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return 0;
		*l4 = ip6.nexthdr;
		if (th == (__u16)~0U || th <= nh)
			th = nh + sizeof(struct ipv6hdr);
		return th;
	}
	return 0;
}

/* The TCP flags of the skb's segment, or -1 when it holds no TCP segment we can read. */
static __always_inline int skb_tcp_flags(struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u8 l4 = 0, flags = 0;
	__u16 th = transport_offset(skb, head, bpf_ntohs(BPF_CORE_READ(skb, protocol)), &l4);

	if (!th || l4 != IPPROTO_TCP)
		return -1;
	if (bpf_probe_read_kernel(&flags, 1, head + th + 13))
		return -1;
	return flags;
}

/* A SYN without ACK (for the listener checks before anything is reserved). */
static __always_inline bool skb_is_syn(struct sk_buff *skb)
{
	int flags = skb_tcp_flags(skb);

	return flags >= 0 && (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* A TCP segment other than a SYN: with no socket, a late segment of a forgotten connection. */
static __always_inline bool skb_is_stray_tcp(struct sk_buff *skb)
{
	int flags = skb_tcp_flags(skb);

	return flags >= 0 && (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN;
}

/*
 * A listener whose accept queue is full, or a SYN to one whose SYN queue is full: the drops
 * HUATUO types listen_overflow_handshake1/3 and syn_flood (decode.ts dropType, same tests).
 */
static __always_inline bool listener_overflowing(struct sock *sk, struct sk_buff *skb)
{
	__u32 max = BPF_CORE_READ(sk, sk_max_ack_backlog);
	struct inet_connection_sock *icsk = (void *)sk;

	if (BPF_CORE_READ(sk, sk_ack_backlog) > max)
		return true;
	return (__u32)BPF_CORE_READ(icsk, icsk_accept_queue.qlen.counter) >= max && skb_is_syn(skb);
}

/* True when the drop is ordinary: counted, never an event. */
static __always_inline bool is_ordinary(const struct dropwatch_config *cfg, struct sk_buff *skb,
					struct sock *sk, __u8 state, __u64 location, __u32 reason)
{
	bool ordinary = false;
	__u32 hit;

	if (in_ranges(cfg->count_only, cfg->nr_count_only, location, &hit)) {
		ordinary = true;
	} else if (reason < DROPWATCH_MAX_REASONS) {
		__u32 *policy = bpf_map_lookup_elem(&dropwatch_reason_policy, &reason);

		if (policy) {
			__u32 bits = *policy;

			if (bits & DROPWATCH_POLICY_ALWAYS)
				ordinary = true;
			else if (sk && state && state < 31)
				ordinary = bits & (1U << state);
			else if (!sk && (bits & DROPWATCH_POLICY_STRAY))
				ordinary = skb_is_stray_tcp(skb);
		}
	}
	if (ordinary && sk && state == TCP_STATE_LISTEN && listener_overflowing(sk, skb))
		return false;
	return ordinary;
}

static __always_inline __u32 packetloss_location(const struct dropwatch_config *cfg, __u64 location,
						 __u32 reason, bool ordinary)
{
	__u32 hit = 0;

	if (cfg->netfilter_reason && reason == cfg->netfilter_reason)
		return PACKETLOSS_NETFILTER;
	if (in_ranges(cfg->packetloss, cfg->nr_packetloss, location, &hit) && hit < DROPWATCH_MAX_RANGES)
		return cfg->packetloss_class[hit];
	return ordinary ? PACKETLOSS_TOTAL : PACKETLOSS_ABNORMAL;
}

static __always_inline void read_packet(struct dropwatch_event *e, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 l4 = 0;
	__u16 th = transport_offset(skb, head, e->eth_proto, &l4);

	if (!th)
		return;
	if (e->eth_proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->family = 4;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
	} else {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->family = 6;
		bpf_probe_read_kernel(e->saddr, 16, &ip6.saddr);
		bpf_probe_read_kernel(e->daddr, 16, &ip6.daddr);
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

static __always_inline void read_socket(struct dropwatch_event *e, struct sock *sk, __u8 state)
{
	/* TIME_WAIT and NEW_SYN_RECV sockets are mini sockets: only sock_common is there. */
	bool full = state != TCP_STATE_TIME_WAIT && state != TCP_STATE_NEW_SYN_RECV;

	if (!sk)
		return;
	e->sk_state = state;
	if (full) {
		e->sk_max_ack_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
		e->sk_ack_backlog = BPF_CORE_READ(sk, sk_ack_backlog);
	}
	if (state == TCP_STATE_LISTEN) {
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
			e->l4_proto = full ? BPF_CORE_READ(sk, sk_protocol) : IPPROTO_TCP;
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
	const __u32 zero = 0;
	struct dropwatch_config *cfg;
	struct dropwatch_event *e;
	struct sock *sk;
	__u8 state = 0;
	__u32 where;
	bool ordinary;
	__u64 now, id;

	if (!skb)
		return 0;
	cfg = bpf_map_lookup_elem(&dropwatch_cfg, &zero);
	if (!cfg)
		return 0;
	count_reason(reason);

	sk = BPF_CORE_READ(skb, sk);
	if (!sk)
		sk = rx_sk;
	if (sk)
		state = BPF_CORE_READ(sk, __sk_common.skc_state);

	ordinary = is_ordinary(cfg, skb, sk, state, location, reason);
	where = packetloss_location(cfg, location, reason, ordinary);
	count_packetloss(where);
	if (ordinary) {
		kpulse_count(KPULSE_FILTERED);
		return 0;
	}

	now = bpf_ktime_get_ns();
	if (!dropwatch_ratelimit_allows(now, cfg->max_events_per_sec)) {
		kpulse_count(KPULSE_RATELIMITED);
		return 0;
	}
	/* kpulse_max_events_per_sec stays 0: the limit above is the only one */
	e = kpulse_reserve(&dropwatch_events, sizeof(*e), now);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->skb_addr = (__u64)skb;
	e->location = location;
	e->reason = reason;
	e->pl_location = where;
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	e->pkt_len = BPF_CORE_READ(skb, len);
	e->queue_mapping = BPF_CORE_READ(skb, queue_mapping);
	e->eth_proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));

	read_packet(e, skb);
	read_socket(e, sk, state);
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
