// Every tracer and collector name huatuo-bamai registers. A HUATUO config's BlackList names
// probes kpulse may not have (yet): those are accepted, while a name in neither list is a typo.
export const HUATUO_PROBE_NAMES: ReadonlySet<string> = new Set([
  // metric collectors
  "cpu_util", "cpu_stat", "runqlat", "loadavg", "softirq", "memory_vmstat", "memory_events",
  "memory_buddyinfo", "memory_others", "memory_reclaim", "memory_free", "diskio", "iolatency",
  "mountpoint_perm", "netdev", "netdev_qdisc", "netdev_dcb", "netdev_hw", "netdev_rdma_link", "arp",
  "netstat", "sockstat", "tcp_memory", "metax_gpu", "ascend_npu",
  // event tracers
  "oom", "hungtask", "softlockup", "memory_reclaim_events", "sched_tick", "net_rx_latency",
  "dropwatch", "tcp_retransmit", "ras", "netdev_events", "netdev_txqueue_timeout", "netdev_bonding_lacp",
  // autotracing
  "cpuidle", "cpusys", "dload", "iotracing", "memburst",
]);
