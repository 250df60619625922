// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * socketlatency (KubeSkoop's probe): how long data waits inside a TCP socket.
 *   read:  from the moment data became readable (sock:sk_data_ready) to the process's next
 *          read that returned data (sock:sock_recv_length). The oldest unread arrival counts:
 *          it is kept until a read, and restarted at that read when data is left over.
 *   send:  from the end of a write (sock:sock_send_length) whose data TCP could not send at
 *          once to the moment the write's last byte is handed to a device (net:net_dev_queue,
 *          the skb's TCP sequence reaching the write's end). One write is followed at a time.
 * Every measurement over 1 ms is counted per network namespace in KubeSkoop's buckets; one over
 * the configured threshold is an event (rate-limited). All hooks are tracepoints, each as tp_btf
 * with a raw_tp alternative; per-socket state lives in an LRU hash, dropped at TCP_CLOSE.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kpulse_common.h"
#include "net_latency_flow.h"
#include "socketlatency.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MSG_PEEK 2
#define NS_PER_MS 1000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} socketlatency_events SEC(".maps");

const struct socketlatency_event *socketlatency_event_layout __attribute__((unused));

/* What one socket is waiting for. */
struct sock_wait {
	__u64 unread_since;  /* first arrival not read yet; 0: nothing unread */
	__u64 unsent_since;  /* end of the write being followed; 0: none */
	__u32 unsent_seq;    /* write_seq at that write's end */
	__u32 writer_pid;
	__u32 writer_tid;
	__u32 pad;
	char writer_comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sock_wait);
} socketlatency_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct socketlatency_counters);
} socketlatency_counters SEC(".maps");

/* Event thresholds in ns (ReadThreshold, SendThreshold). */
const volatile __u64 read_thresh_ns = 100 * NS_PER_MS;
const volatile __u64 send_thresh_ns = 100 * NS_PER_MS;

static __always_inline struct sock_wait *wait_of(const struct sock *sk, bool create)
{
	__u64 key = (__u64)sk;
	struct sock_wait *w = bpf_map_lookup_elem(&socketlatency_socks, &key);
	struct sock_wait zero = {};

	if (w || !create)
		return w;
	bpf_map_update_elem(&socketlatency_socks, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&socketlatency_socks, &key);
}

static __always_inline void count(__u32 inum, __u8 direction, __u64 lat)
{
	struct socketlatency_counters *c = bpf_map_lookup_elem(&socketlatency_counters, &inum);
	struct socketlatency_counters zero = {};

	if (!c) {
		bpf_map_update_elem(&socketlatency_counters, &inum, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&socketlatency_counters, &inum);
		if (!c)
			return;
	}
	if (direction == SOCKETLAT_READ) {
		if (lat > 100 * NS_PER_MS)
			c->read100ms++;
		else
			c->read1ms++;
	} else {
		if (lat > 100 * NS_PER_MS)
			c->write100ms++;
		else
			c->write1ms++;
	}
}

static __always_inline void report(const struct sock *sk, __u8 direction, __u64 lat, __u64 now,
				   __u32 pid, __u32 tid, const char *comm)
{
	struct socketlatency_event *e;
	struct nlf_flow f = {};
	__u64 cookie = 0;
	__u32 inum = 0;

	if (lat <= NS_PER_MS)
		return;
	nlf_sock_net(sk, &inum, &cookie);
	count(inum, direction, lat);
	if (lat <= (direction == SOCKETLAT_READ ? read_thresh_ns : send_thresh_ns))
		return;
	e = kpulse_reserve(&socketlatency_events, sizeof(*e), now);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	nlf_sock_flow(sk, &f);
	e->ts_ns = now;
	e->latency_ns = lat;
	e->net_cookie = cookie;
	e->netns_inum = inum;
	e->pid = pid;
	e->tid = tid;
	e->cpu = bpf_get_smp_processor_id();
	e->direction = direction;
	e->family = f.family;
	e->protocol = f.l4proto;
	e->sport = f.sport;
	e->dport = f.dport;
	__builtin_memcpy(e->saddr, f.saddr, 16);
	__builtin_memcpy(e->daddr, f.daddr, 16);
	bpf_probe_read_kernel(e->comm, sizeof(e->comm), comm);
	kpulse_submit(e);
}

static __always_inline int on_data_ready(const struct sock *sk)
{
	struct sock_wait *w;

	/* a listener's "data" is a connection to accept, not bytes to read */
	if (!nlf_is_tcp_sock(sk) || BPF_CORE_READ(sk, __sk_common.skc_state) == NLF_TCP_LISTEN)
		return 0;
	w = wait_of(sk, true);
	if (w && !w->unread_since)
		w->unread_since = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int on_recv(const struct sock *sk, int ret, int flags)
{
	const struct tcp_sock *tp = (const void *)sk;
	struct sock_wait *w;
	char comm[16];
	__u64 now, since, id;

	if (ret <= 0 || (flags & MSG_PEEK) || !nlf_is_tcp_sock(sk))
		return 0;
	w = wait_of(sk, false);
	if (!w || !w->unread_since)
		return 0;
	now = bpf_ktime_get_ns();
	since = w->unread_since;
	/* data left in the queue: what remains is followed from now */
	w->unread_since = BPF_CORE_READ(tp, rcv_nxt) != BPF_CORE_READ(tp, copied_seq) ? now : 0;
	if (now <= since)
		return 0;
	id = bpf_get_current_pid_tgid();
	bpf_get_current_comm(comm, sizeof(comm));
	report(sk, SOCKETLAT_READ, now - since, now, id >> 32, (__u32)id, comm);
	return 0;
}

static __always_inline int on_send(const struct sock *sk, int ret)
{
	const struct tcp_sock *tp = (const void *)sk;
	struct sock_wait *w;
	__u32 write_seq, snd_nxt;
	__u64 id;

	if (ret <= 0 || !nlf_is_tcp_sock(sk))
		return 0;
	write_seq = BPF_CORE_READ(tp, write_seq);
	snd_nxt = BPF_CORE_READ(tp, snd_nxt);
	if ((__s32)(write_seq - snd_nxt) <= 0)
		return 0; /* all of it already left within the call */
	w = wait_of(sk, true);
	if (!w || w->unsent_since)
		return 0; /* an earlier write is still being followed */
	id = bpf_get_current_pid_tgid();
	w->unsent_since = bpf_ktime_get_ns();
	w->unsent_seq = write_seq;
	w->writer_pid = id >> 32;
	w->writer_tid = (__u32)id;
	bpf_get_current_comm(w->writer_comm, sizeof(w->writer_comm));
	return 0;
}

static __always_inline int on_dev_queue(const struct sk_buff *skb)
{
	const struct sock *sk = BPF_CORE_READ(skb, sk);
	const unsigned char *nh, *data;
	struct nlf_flow f = {};
	struct sock_wait *w;
	__u32 end, hdr;
	__u64 now, since;

	if (!sk)
		return 0;
	w = wait_of(sk, false);
	if (!w || !w->unsent_since)
		return 0;
	nh = nlf_network_header(skb);
	if (!nh || nlf_parse_ip(nh, &f) || f.l4proto != NLF_IPPROTO_TCP || !f.l4_hdr_len)
		return 0;
	data = BPF_CORE_READ(skb, data);
	hdr = (__u32)(nh - data) + f.l4_offset + f.l4_hdr_len;
	end = f.seq + (BPF_CORE_READ(skb, len) - hdr);
	if ((__s32)(end - w->unsent_seq) < 0)
		return 0; /* the write's last byte is still in the socket */
	now = bpf_ktime_get_ns();
	since = w->unsent_since;
	w->unsent_since = 0;
	if (now <= since)
		return 0;
	report(sk, SOCKETLAT_SEND, now - since, now, w->writer_pid, w->writer_tid, w->writer_comm);
	return 0;
}

static __always_inline int on_state(const struct sock *sk, int newstate)
{
	__u64 key = (__u64)sk;

	if (newstate == NLF_TCP_CLOSE)
		bpf_map_delete_elem(&socketlatency_socks, &key);
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(socklat_data_ready_btf, const struct sock *sk)
{
	return on_data_ready(sk);
}

SEC("raw_tp/sk_data_ready")
int BPF_PROG(socklat_data_ready_raw, const struct sock *sk)
{
	return on_data_ready(sk);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(socklat_recv_btf, struct sock *sk, int ret, int flags)
{
	return on_recv(sk, ret, flags);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(socklat_recv_raw, struct sock *sk, int ret, int flags)
{
	return on_recv(sk, ret, flags);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(socklat_send_btf, struct sock *sk, int ret, int flags)
{
	return on_send(sk, ret);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(socklat_send_raw, struct sock *sk, int ret, int flags)
{
	return on_send(sk, ret);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(socklat_dev_queue_btf, struct sk_buff *skb)
{
	return on_dev_queue(skb);
}

SEC("raw_tp/net_dev_queue")
int BPF_PROG(socklat_dev_queue_raw, struct sk_buff *skb)
{
	return on_dev_queue(skb);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(socklat_state_btf, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(socklat_state_raw, const struct sock *sk, int oldstate, int newstate)
{
	return on_state(sk, newstate);
}
