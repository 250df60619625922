// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netiftxlatency: how long transmitted packets spend in two stages, as KubeSkoop measures them:
 *
 *  - qdisc (TXLAT_QDISC): from net:net_dev_queue (__dev_queue_xmit hands the skb to the
 *    device's qdisc) until it leaves it: qdisc:qdisc_dequeue (every skb of a bulk dequeue), or
 *    net:net_dev_start_xmit for what never went through a dequeue (noqueue devices, a bypassed
 *    empty qdisc, kernels without the qdisc tracepoint);
 *  - netdev (TXLAT_NETDEV): from net:net_dev_start_xmit to net:net_dev_xmit, the driver's
 *    ndo_start_xmit. A NETDEV_TX_BUSY return is not reported: the retry is timed again.
 *
 * Every latency goes into a per-stage log2 histogram (netiftxlat_metrics, per CPU, read on
 * scrape); one at or above the stage's threshold is counted and, within the rate limit,
 * emitted with the flow.
 * A qdisc event reads the skb while it is still queued; a netdev event reads it after the
 * driver returned, when a driver that already completed it may have changed its headers
 * (best effort, as KubeSkoop; the device, length and latency come from the tracepoint).
 *
 * What is synchronous on one CPU is timed in per-CPU state, without a hash: start_xmit →
 * xmit always (xmit_one, nested when a virtual device transmits on a lower one: a small stack),
 * and net_dev_queue → start_xmit on a device without a queue (noqueue: lo, veth, most
 * container devices). Only a packet that enters a real qdisc is timed through the
 * netiftxlat_queued LRU hash, keyed by the skb's address.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "netiftxlatency.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define NETDEV_TX_BUSY 0x10
#define MAX_BULK 16 /* skbs of one bulk dequeue timed at the dequeue; the rest at start_xmit */

/* Set by the loader: [EventTracing.NetifTxLatency] QdiscThreshold / NetdevThreshold (ns). */
const volatile __u64 qdisc_thresh_ns = 100000000;
const volatile __u64 netdev_thresh_ns = 100000000;

/*
 * skb address → net_dev_queue time, for packets that entered a qdisc. The dequeue (or
 * start_xmit) deletes the entry; an skb the qdisc dropped leaves its entry to the LRU, or to
 * the next skb queued at the same address.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} netiftxlat_queued SEC(".maps");

#define XMIT_DEPTH 8 /* nested transmits timed (the kernel allows 8: XMIT_RECURSION_LIMIT) */

struct netiftxlat_cpu {
	__u64 noqueue_skb;            /* net_dev_queue on a noqueue device, until its start_xmit */
	__u64 noqueue_ns;
	__u64 xmit_skb[XMIT_DEPTH];   /* start_xmit → xmit, innermost last */
	__u64 xmit_ns[XMIT_DEPTH];
	__u32 depth;                  /* start_xmits without their xmit yet (may exceed XMIT_DEPTH) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netiftxlat_cpu);
} netiftxlat_cpu_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TXLAT_STAGES);
	__type(key, __u32);
	__type(value, struct netiftxlat_stage_metrics);
} netiftxlat_metrics SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} netiftxlat_events SEC(".maps");

/* Keeps the event struct and the layout enums in the object's BTF for the TypeScript side. */
const struct netiftxlat_event *netiftxlat_event_layout __attribute__((unused));
const enum netiftxlat_stage *netiftxlat_stage_names __attribute__((unused));
const struct netiftxlat_stage_metrics *netiftxlat_stage_metrics_layout __attribute__((unused));

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xffff) << 4; v >>= shift; r |= shift;
	shift = (v > 0xff) << 3; v >>= shift; r |= shift;
	shift = (v > 0xf) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline void read_flow(struct netiftxlat_event *e, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);

	if (nh == (__u16)~0U)
		return;
	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.version != 4)
			return;
		e->family = 4;
		e->l4_proto = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		if (th == (__u16)~0U || th <= nh)
			th = nh + ip.ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.version != 6)
			return;
		e->family = 6;
		e->l4_proto = ip6.nexthdr;
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		if (th == (__u16)~0U || th <= nh)
			th = nh + sizeof(struct ipv6hdr);
	} else {
		return;
	}
	if (e->l4_proto == IPPROTO_TCP || e->l4_proto == IPPROTO_UDP) {
		__be16 ports[2];

		/* source and destination port lead both headers */
		if (bpf_probe_read_kernel(ports, sizeof(ports), head + th))
			return;
		e->sport = bpf_ntohs(ports[0]);
		e->dport = bpf_ntohs(ports[1]);
	}
}

/* One measured stage: histogram and sum always; count and event at or above the threshold. */
static __always_inline void finish(__u32 stage, const struct sk_buff *skb, const struct net_device *dev,
				   __u64 start, __u64 now)
{
	struct netiftxlat_stage_metrics *m;
	struct netiftxlat_event *e;
	struct net *net;
	__u64 lat, thresh;
	__u32 slot;

	if (now < start)
		return;
	lat = now - start;
	m = bpf_map_lookup_elem(&netiftxlat_metrics, &stage);
	if (!m)
		return;
	slot = log2_u64(lat / 1000);
	if (slot > TXLAT_SLOTS - 1)
		slot = TXLAT_SLOTS - 1;
	m->slots[slot] += 1;
	m->sum_ns += lat;
	thresh = stage == TXLAT_QDISC ? qdisc_thresh_ns : netdev_thresh_ns;
	if (lat < thresh)
		return;
	m->slow += 1;

	e = kpulse_reserve(&netiftxlat_events, sizeof(*e), now);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	e->latency_ns = lat;
	e->stage = stage;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	e->len = BPF_CORE_READ(skb, len);
	read_flow(e, skb);
	if (!dev)
		dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		e->ifindex = BPF_CORE_READ(dev, ifindex);
		BPF_CORE_READ_STR_INTO(&e->ifname, dev, name);
		net = BPF_CORE_READ(dev, nd_net.net);
		if (net)
			e->netns_inum = BPF_CORE_READ(net, ns.inum);
	}
	kpulse_submit(e);
}

static __always_inline struct netiftxlat_cpu *cpu_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&netiftxlat_cpu_state, &zero);
}

/* The skb's transmit queue has no qdisc (noqueue: Qdisc.enqueue is NULL). The queue was picked
 * (skb->queue_mapping) just before net_dev_queue. */
static __always_inline bool no_qdisc(const struct sk_buff *skb)
{
	struct netdev_queue *txq = BPF_CORE_READ(skb, dev, _tx);
	__u16 i = BPF_CORE_READ(skb, queue_mapping);
	struct Qdisc *q;

	if (!txq)
		return false;
	txq = (void *)txq + (__u64)i * bpf_core_type_size(struct netdev_queue);
	q = BPF_CORE_READ(txq, qdisc);
	return q && !BPF_CORE_READ(q, enqueue);
}

static __always_inline int on_queue(const struct sk_buff *skb)
{
	struct netiftxlat_cpu *st;
	__u64 key = (__u64)skb, now = bpf_ktime_get_ns();

	if (!skb)
		return 0;
	if (no_qdisc(skb)) {
		/* start_xmit follows on this CPU before anything else is queued here */
		st = cpu_state();
		if (st) {
			st->noqueue_skb = key;
			st->noqueue_ns = now;
		}
		return 0;
	}
	bpf_map_update_elem(&netiftxlat_queued, &key, &now, BPF_ANY);
	return 0;
}

/* The qdisc stage of a queued skb ends, if it was seen starting. */
static __always_inline void end_queued(const struct sk_buff *skb, __u64 now)
{
	__u64 key = (__u64)skb, *start, t;

	start = bpf_map_lookup_elem(&netiftxlat_queued, &key);
	if (!start)
		return;
	t = *start;
	bpf_map_delete_elem(&netiftxlat_queued, &key);
	finish(TXLAT_QDISC, skb, 0, t, now);
}

static __always_inline int on_dequeue(const struct sk_buff *skb, int packets)
{
	__u64 now = bpf_ktime_get_ns();

	for (int i = 0; i < MAX_BULK; i++) {
		if (!skb || i >= packets)
			break;
		end_queued(skb, now);
		skb = BPF_CORE_READ(skb, next);
	}
	return 0;
}

static __always_inline int on_start_xmit(const struct sk_buff *skb)
{
	struct netiftxlat_cpu *st;
	__u64 key = (__u64)skb, now = bpf_ktime_get_ns();
	__u32 d;

	if (!skb)
		return 0;
	st = cpu_state();
	if (!st)
		return 0;
	if (st->noqueue_skb == key) {
		st->noqueue_skb = 0;
		finish(TXLAT_QDISC, skb, 0, st->noqueue_ns, now);
	} else {
		/* a qdisc that was bypassed, or no qdisc_dequeue hook */
		end_queued(skb, now);
	}
	d = st->depth;
	if (d < XMIT_DEPTH) {
		st->xmit_skb[d] = key;
		st->xmit_ns[d] = now;
	}
	if (d < 1024) /* a bound the pairing keeps far away; never wraps */
		st->depth = d + 1;
	return 0;
}

static __always_inline int on_xmit(const struct sk_buff *skb, int rc, const struct net_device *dev)
{
	struct netiftxlat_cpu *st;
	__u64 key = (__u64)skb, t;
	__u32 d;

	st = cpu_state();
	if (!st || !st->depth)
		return 0; /* attached between a start_xmit and its xmit */
	d = st->depth - 1;
	st->depth = d;
	if (d >= XMIT_DEPTH || st->xmit_skb[d & (XMIT_DEPTH - 1)] != key)
		return 0;
	t = st->xmit_ns[d & (XMIT_DEPTH - 1)];
	if (rc == NETDEV_TX_BUSY) /* requeued: the retry is timed again */
		return 0;
	finish(TXLAT_NETDEV, skb, dev, t, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(net_dev_queue_btf, struct sk_buff *skb)
{
	return on_queue(skb);
}

SEC("tracepoint/net/net_dev_queue")
int net_dev_queue_tp(struct trace_event_raw_net_dev_template *args)
{
	return on_queue(BPF_CORE_READ(args, skbaddr));
}

SEC("tp_btf/qdisc_dequeue")
int BPF_PROG(qdisc_dequeue_btf, struct Qdisc *q, const struct netdev_queue *txq, int packets, struct sk_buff *skb)
{
	return on_dequeue(skb, packets);
}

SEC("tracepoint/qdisc/qdisc_dequeue")
int qdisc_dequeue_tp(struct trace_event_raw_qdisc_dequeue *args)
{
	return on_dequeue(BPF_CORE_READ(args, skbaddr), BPF_CORE_READ(args, packets));
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(net_dev_start_xmit_btf, const struct sk_buff *skb, const struct net_device *dev)
{
	return on_start_xmit(skb);
}

SEC("tracepoint/net/net_dev_start_xmit")
int net_dev_start_xmit_tp(struct trace_event_raw_net_dev_start_xmit *args)
{
	return on_start_xmit(BPF_CORE_READ(args, skbaddr));
}

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(net_dev_xmit_btf, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int len)
{
	return on_xmit(skb, rc, dev);
}

SEC("tracepoint/net/net_dev_xmit")
int net_dev_xmit_tp(struct trace_event_raw_net_dev_xmit *args)
{
	return on_xmit(BPF_CORE_READ(args, skbaddr), BPF_CORE_READ(args, rc), 0);
}
