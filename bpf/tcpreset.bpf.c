// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcpreset: one event per TCP reset sent or received, with the flow and the socket state, and a
 * counter per KubeSkoop type (bpf/include/tcpreset.h) that counts every reset, rate limit or not.
 *
 * tcp:tcp_send_reset fires in tcp_v4/v6_send_reset (sk NULL when no socket took the segment,
 * since 6.9 also then) and in tcp_send_active_reset (skb NULL: "skb of trace_tcp_send_reset()
 * keeps the skb that caused RST"), so (sk, skb) tell NOSOCK, ACTIVE and PROCESS apart on every
 * kernel; 6.10+ adds enum sk_rst_reason, reported as is. tcp:tcp_receive_reset fires in
 * tcp_reset(). Each hook has tp_btf entries (with the reason first, then without) and the
 * classic tracepoint as the last fallback.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "tcpreset.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tcpreset_events SEC(".maps");

/* Resets by type (TCPRESET_*), counted before the rate limit: kpulse_tcpreset_<type>. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCPRESET_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} tcpreset_counts SEC(".maps");

/* Keeps struct tcpreset_event and the type numbers in the object's BTF for the TypeScript side. */
const struct tcpreset_event *tcpreset_event_layout __attribute__((unused));
const enum tcpreset_type *tcpreset_type_names __attribute__((unused));

static __always_inline void count_type(__u32 type)
{
	__u64 *v = bpf_map_lookup_elem(&tcpreset_counts, &type);

	if (v)
		*v += 1;
}

static __always_inline void read_netns(struct tcpreset_event *e, const struct net *net)
{
	if (net)
		e->netns_inum = BPF_CORE_READ(net, ns.inum);
}

/* The flow of a socket (full, request or TIME_WAIT: all start with sock_common). */
static __always_inline void read_sock_flow(struct tcpreset_event *e, const struct sock *sk)
{
	const struct sock_common *c = &sk->__sk_common;
	__u16 family = BPF_CORE_READ(c, skc_family);

	/* explicit sizes: e->saddr is a byte array, BPF_CORE_READ_INTO would copy one byte */
	if (family == AF_INET) {
		e->family = 4;
		bpf_core_read(e->saddr, 4, &c->skc_rcv_saddr);
		bpf_core_read(e->daddr, 4, &c->skc_daddr);
	} else if (family == AF_INET6) {
		e->family = 6;
		bpf_core_read(e->saddr, 16, &c->skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &c->skc_v6_daddr);
	}
	e->sport = BPF_CORE_READ(c, skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
	/*
	 * A socket moved to TCP_CLOSE before its reset (tcp_disconnect, close with unread data)
	 * has released its local port (inet_num = 0); the header still goes out with inet_sport.
	 * Only full sockets have it: not TIME_WAIT or request sockets.
	 */
	if (!e->sport) {
		__u8 state = BPF_CORE_READ(c, skc_state);

		if (state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV)
			e->sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	}
}

/*
 * The flow of the segment that caused the reset, reversed: the reset goes back from its
 * destination to its source (as the kernel's own tracepoint prints it). skb->data is at the
 * TCP header on the receive path; network_header locates the IP header.
 */
static __always_inline void read_skb_flow(struct tcpreset_event *e, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	struct tcphdr tcp;
	__u8 version;

	if (nh == (__u16)~0U || bpf_probe_read_kernel(&version, 1, head + nh))
		return;
	version >>= 4;
	if (version == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->family = 4;
		__builtin_memcpy(e->saddr, &ip.daddr, 4);
		__builtin_memcpy(e->daddr, &ip.saddr, 4);
		if (th == (__u16)~0U || th <= nh)
			th = nh + ip.ihl * 4;
	} else if (version == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->family = 6;
		__builtin_memcpy(e->saddr, &ip6.daddr, 16);
		__builtin_memcpy(e->daddr, &ip6.saddr, 16);
		if (th == (__u16)~0U || th <= nh)
			th = nh + sizeof(struct ipv6hdr);
	} else {
		return;
	}
	if (bpf_probe_read_kernel(&tcp, sizeof(tcp), head + th))
		return;
	e->sport = bpf_ntohs(tcp.dest);
	e->dport = bpf_ntohs(tcp.source);
}

static __always_inline struct tcpreset_event *reserve(__u32 type)
{
	struct tcpreset_event *e;
	__u64 now = bpf_ktime_get_ns();

	count_type(type);
	e = kpulse_reserve(&tcpreset_events, sizeof(*e), now);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->type = type;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	return e;
}

static __always_inline int on_send_reset(const struct sock *sk, const struct sk_buff *skb,
					 __u32 reason, bool has_reason)
{
	struct tcpreset_event *e;
	__u32 type;

	/* tested one at a time: the verifier refuses the (sk | skb) clang would otherwise make */
	barrier_var(sk);
	if (!sk) {
		if (!skb)
			return 0;
		type = TCPRESET_NOSOCK;
	} else {
		type = skb ? TCPRESET_PROCESS : TCPRESET_ACTIVE;
	}
	e = reserve(type);
	if (!e)
		return 0;
	e->reason = reason;
	e->has_reason = has_reason;
	if (skb)
		read_skb_flow(e, skb);
	if (sk) {
		e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
		read_netns(e, BPF_CORE_READ(sk, __sk_common.skc_net.net));
		if (!e->family)
			read_sock_flow(e, sk);
	} else {
		read_netns(e, BPF_CORE_READ(skb, dev, nd_net.net));
	}
	kpulse_submit(e);
	return 0;
}

static __always_inline int on_receive_reset(const struct sock *sk)
{
	struct tcpreset_event *e;

	if (!sk)
		return 0;
	e = reserve(TCPRESET_RECEIVE);
	if (!e)
		return 0;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	read_netns(e, BPF_CORE_READ(sk, __sk_common.skc_net.net));
	read_sock_flow(e, sk);
	kpulse_submit(e);
	return 0;
}

/* 6.10+: tcp_send_reset(sk, skb, reason). The verifier refuses it on kernels without the
 * third argument; the loader then takes the next alternative. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset_reason_btf, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	return on_send_reset(sk, skb, reason, true);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset_btf, const struct sock *sk, const struct sk_buff *skb)
{
	return on_send_reset(sk, skb, 0, false);
}

/* Before 6.10 tcp_send_reset belonged to the event class tcp_event_sk_skb. */
struct trace_event_raw_tcp_event_sk_skb___old {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
} __attribute__((preserve_access_index));

/* Needs tracefs; for kernels whose BTF has no typed tracepoint. */
SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset_tp(void *ctx)
{
	struct trace_event_raw_tcp_send_reset *args = ctx;
	struct trace_event_raw_tcp_event_sk_skb___old *old = ctx;

	if (bpf_core_type_exists(struct trace_event_raw_tcp_send_reset)) {
		__u32 reason = 0;
		bool has = false;

		if (bpf_core_field_exists(args->reason)) {
			reason = BPF_CORE_READ(args, reason);
			has = true;
		}
		return on_send_reset(BPF_CORE_READ(args, skaddr), BPF_CORE_READ(args, skbaddr), reason, has);
	}
	return on_send_reset(BPF_CORE_READ(old, skaddr), BPF_CORE_READ(old, skbaddr), 0, false);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset_btf, const struct sock *sk)
{
	return on_receive_reset(sk);
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_receive_reset_tp(struct trace_event_raw_tcp_event_sk *args)
{
	return on_receive_reset(BPF_CORE_READ(args, skaddr));
}
