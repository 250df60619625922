/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record tcpreset writes to its ring buffer. The TypeScript decoder reads field offsets
 * from the built object's BTF (struct tcpreset_event): this is the only definition of the layout.
 */
#ifndef KPULSE_TCPRESET_H
#define KPULSE_TCPRESET_H

/*
 * KubeSkoop's event types; also the index of each type's counter in tcpreset_counts.
 *  NOSOCK:  a reset sent for a segment no socket took (tcp:tcp_send_reset with sk NULL,
 *           e.g. a SYN to a closed port).
 *  ACTIVE:  a socket aborted its own connection (tcp_send_active_reset, i.e. tcp:tcp_send_reset
 *           with skb NULL): close() with SO_LINGER {on, 0} or with unread data, tcp_disconnect(),
 *           memory pressure, keepalive/user timeout.
 *  PROCESS: a socket answered a segment it received with a reset (tcp:tcp_send_reset with both
 *           sk and skb): bad ACK in the handshake, data for a socket already closed (orphan,
 *           TIME_WAIT), PAWS or invalid SYN.
 *  RECEIVE: a socket received a reset (tcp:tcp_receive_reset).
 */
enum tcpreset_type {
	TCPRESET_NOSOCK = 0,
	TCPRESET_ACTIVE = 1,
	TCPRESET_PROCESS = 2,
	TCPRESET_RECEIVE = 3,
	TCPRESET_TYPES = 4,
};

struct tcpreset_event {
	__u64 ts_ns;           /* bpf_ktime_get_ns() */
	__u32 pid;             /* current task (softirq context for NOSOCK/PROCESS/RECEIVE: often unrelated) */
	__u32 netns_inum;      /* the socket's network namespace, or the receiving device's */
	__u32 reason;          /* enum sk_rst_reason of the running kernel (valid when has_reason) */
	__u16 sport;           /* host order: the reset's own direction (local → remote) */
	__u16 dport;
	__u8 type;             /* enum tcpreset_type */
	__u8 state;            /* TCP_* state of the socket; 0 without one */
	__u8 family;           /* 4 or 6; 0 when the flow could not be read */
	__u8 has_reason;       /* 1 when the kernel passes a reason to tcp:tcp_send_reset (6.10+) */
	__u8 saddr[16];        /* local address */
	__u8 daddr[16];        /* remote address */
	char comm[16];
};

#endif
