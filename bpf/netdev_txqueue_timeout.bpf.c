// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * netdev_txqueue_timeout: one event each time the transmit watchdog (dev_watchdog) finds a queue
 * stopped for longer than the device's watchdog_timeo, from the net:net_dev_xmit_timeout
 * tracepoint, just before the driver's ndo_tx_timeout resets it. tp_btf first (typed arguments,
 * no tracefs), the classic tracepoint as the fallback.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kpulse_common.h"
#include "netdev_txqueue_timeout.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} netdev_txqueue_timeout_events SEC(".maps");

/* Keeps struct netdev_txqueue_timeout_event in the object's BTF for the TypeScript decoder. */
const struct netdev_txqueue_timeout_event *netdev_txqueue_timeout_event_layout __attribute__((unused));

static __always_inline struct netdev_txqueue_timeout_event *reserve(void)
{
	struct netdev_txqueue_timeout_event *e;
	__u64 now = bpf_ktime_get_ns();

	e = kpulse_reserve(&netdev_txqueue_timeout_events, sizeof(*e), now);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = now;
	return e;
}

SEC("tp_btf/net_dev_xmit_timeout")
int BPF_PROG(netdev_txqueue_timeout_btf, struct net_device *dev, int queue_index)
{
	struct netdev_txqueue_timeout_event *e;
	const struct device_driver *drv;
	const char *drv_name;

	if (!dev)
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->queue_index = queue_index;
	BPF_CORE_READ_STR_INTO(&e->name, dev, name);
	/* netdev_drivername(): dev->dev.parent->driver->name, "" without a parent or driver */
	drv = BPF_CORE_READ(dev, dev.parent, driver);
	if (drv) {
		drv_name = BPF_CORE_READ(drv, name);
		if (drv_name)
			bpf_probe_read_kernel_str(e->driver, sizeof(e->driver), drv_name);
	}
	kpulse_submit(e);
	return 0;
}

/* Classic tracepoint: name and driver are __data_loc strings (offset in the low 16 bits). */
SEC("tracepoint/net/net_dev_xmit_timeout")
int netdev_txqueue_timeout_tp(struct trace_event_raw_net_dev_xmit_timeout *args)
{
	struct netdev_txqueue_timeout_event *e;
	__u32 loc;

	e = reserve();
	if (!e)
		return 0;
	e->queue_index = BPF_CORE_READ(args, queue_index);
	loc = BPF_CORE_READ(args, __data_loc_name);
	bpf_probe_read_kernel_str(e->name, sizeof(e->name), (void *)args + (loc & 0xffff));
	loc = BPF_CORE_READ(args, __data_loc_driver);
	bpf_probe_read_kernel_str(e->driver, sizeof(e->driver), (void *)args + (loc & 0xffff));
	kpulse_submit(e);
	return 0;
}
