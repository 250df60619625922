/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The record netdev_txqueue_timeout writes to its ring buffer. The TypeScript decoder reads field
 * offsets from the built object's BTF (struct netdev_txqueue_timeout_event): this is the only
 * definition of the layout.
 */
#ifndef KPULSE_NETDEV_TXQUEUE_TIMEOUT_H
#define KPULSE_NETDEV_TXQUEUE_TIMEOUT_H

#define NETDEV_TXQ_IFNAMSIZ 16   /* IFNAMSIZ */
#define NETDEV_TXQ_DRIVER_LEN 32 /* struct device_driver name: e.g. "mlx5_core", "ixgbe" */

struct netdev_txqueue_timeout_event {
	__u64 ts_ns;                        /* bpf_ktime_get_ns() */
	__u32 queue_index;                  /* the transmit queue the watchdog found stopped */
	char name[NETDEV_TXQ_IFNAMSIZ];     /* dev->name */
	char driver[NETDEV_TXQ_DRIVER_LEN]; /* netdev_drivername(dev): the parent device's driver, "" if none */
};

#endif
