// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcp_retransmit: one event per TCP retransmission, from the tcp:tcp_retransmit_skb and
 * tcp:tcp_retransmit_synack tracepoints, with the flow, the socket state, the segment's
 * sequence numbers and flags. Each tracepoint has a tp_btf entry (typed arguments, no tracefs)
 * and the classic tracepoint as the fallback; the loader tries them in that order.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "tcp_retransmit.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} tcp_retransmit_events SEC(".maps");

/* Keeps struct tcp_retransmit_event in the object's BTF for the TypeScript decoder. */
const struct tcp_retransmit_event *tcp_retransmit_event_layout __attribute__((unused));

static __always_inline struct tcp_retransmit_event *reserve(void)
{
	struct tcp_retransmit_event *e;
	__u64 now = bpf_ktime_get_ns(), id;

	e = kpulse_reserve(&tcp_retransmit_events, sizeof(*e), now);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	return e;
}

/* Flow and namespace from the common socket part (a full socket or a request socket). */
static __always_inline void read_common(struct tcp_retransmit_event *e, const struct sock_common *c)
{
	struct net *net;
	__u16 family = BPF_CORE_READ(c, skc_family);

	e->sport = BPF_CORE_READ(c, skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
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
	net = BPF_CORE_READ(c, skc_net.net);
	if (net) {
		e->netns_inum = BPF_CORE_READ(net, ns.inum);
		if (bpf_core_field_exists(net->net_cookie))
			e->net_cookie = BPF_CORE_READ(net, net_cookie);
	}
}

static __always_inline int on_retransmit_skb(const struct sock *sk, const struct sk_buff *skb)
{
	struct tcp_retransmit_event *e;
	const struct tcp_skb_cb *tcb;
	const struct inet_connection_sock *icsk = (const void *)sk;
	const struct tcp_sock *tp = (const void *)sk;

	if (!sk)
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->kind = TCP_RETRANSMIT_SKB;
	e->skb_addr = (__u64)skb;
	read_common(e, &sk->__sk_common);
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->ca_state = BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ca_state);
	e->retransmits = BPF_CORE_READ(icsk, icsk_retransmits);
	e->ack_seq = BPF_CORE_READ(tp, rcv_nxt);
	if (skb) {
		tcb = (const void *)skb->cb;
		e->seq = BPF_CORE_READ(tcb, seq);
		e->end_seq = BPF_CORE_READ(tcb, end_seq);
		e->tcp_flags = BPF_CORE_READ(tcb, tcp_flags);
	}
	kpulse_submit(e);
	return 0;
}

static __always_inline int on_retransmit_synack(const struct sock *sk, const struct request_sock *req)
{
	struct tcp_retransmit_event *e;
	const struct tcp_request_sock *treq = (const void *)req;

	if (!req)
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->kind = TCP_RETRANSMIT_SYNACK;
	read_common(e, &req->__req_common);
	e->state = 3; /* TCP_SYN_RECV: the connection this SYN-ACK answers is half open */
	e->seq = BPF_CORE_READ(treq, snt_isn);
	e->ack_seq = BPF_CORE_READ(treq, rcv_isn) + 1;
	e->tcp_flags = 0x12; /* SYN|ACK */
	e->retransmits = BPF_CORE_READ(req, num_retrans);
	kpulse_submit(e);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb_btf, const struct sock *sk, const struct sk_buff *skb)
{
	return on_retransmit_skb(sk, skb);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit_skb_tp(struct trace_event_raw_tcp_retransmit_skb *args)
{
	return on_retransmit_skb(BPF_CORE_READ(args, skaddr), BPF_CORE_READ(args, skbaddr));
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tcp_retransmit_synack_btf, const struct sock *sk, const struct request_sock *req)
{
	return on_retransmit_synack(sk, req);
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int tcp_retransmit_synack_tp(struct trace_event_raw_tcp_retransmit_synack *args)
{
	return on_retransmit_synack(BPF_CORE_READ(args, skaddr), BPF_CORE_READ(args, req));
}
