// kpulse's Grafana dashboards, in the kpulse namespace. packaging/generate.ts writes them as
// packaging/grafana/kpulse-*.json and, renamed, as huatuo-*.json for Compat = "huatuo".
// Every name used here is checked against a live /metrics by tests/packaging/dashboards.test.ts.
import { SEL, type DashboardSpec, type PanelSpec, type Query } from "./model.ts";

/** Selector of a kpulse series on the dashboard's host and region, plus extra matchers. */
const s = (metric: string, extra = "") => `${metric}{${SEL}${extra ? `, ${extra}` : ""}}`;
const rate = (metric: string, extra = "") => `rate(${s(metric, extra)}[$__rate_interval])`;
/** Sum of a counter's rate by the given labels (host always kept). */
const rateBy = (by: string, metric: string, extra = "") => `sum by (host, ${by}) (${rate(metric, extra)})`;
const q = (expr: string, legend: string): Query => ({ expr, legend });

/**
 * Every probe's outcome counter (<ns>_<probe>_events_total{outcome}) as one expression, with the
 * probe's name taken from the metric name: a subquery, because rate() drops the name label.
 * New event probes show up without a change here.
 */
const probeOutcomes = (outcomes: string, window = "$__rate_interval") =>
  `sum by (host, probe, outcome) (rate(label_replace({__name__=~"kpulse_.+_events_total", outcome=~"${outcomes}", ${SEL}}, "probe", "$1", "__name__", "kpulse_(.+)_events_total")[${window}:]))`;

const OPT_IN = "From an opt-in probe: empty unless [Kpulse] EnableProbes lists it.";

const hostOverview: DashboardSpec = {
  uid: "kpulse-host",
  title: "kpulse / Host overview",
  description: "CPU, load, memory, softirq latency and disk I/O of the hosts kpulse runs on.",
  variableSource: "kpulse_build_info",
  rows: [
    {
      title: "CPU and load",
      panels: [
        {
          title: "CPU utilisation",
          description: "Share of all CPUs busy in user and system mode (cpu_util, /proc/stat).",
          unit: "percent",
          queries: [q(s("kpulse_cpu_util_usr"), "{{host}} usr"), q(s("kpulse_cpu_util_sys"), "{{host}} sys"), q(s("kpulse_cpu_util_total"), "{{host}} total")],
        },
        {
          title: "Load average",
          description: "1, 5 and 15 minute load averages (loadavg, /proc/loadavg).",
          unit: "short",
          queries: [q(s("kpulse_loadavg_load1"), "{{host}} 1m"), q(s("kpulse_loadavg_load5"), "{{host}} 5m"), q(s("kpulse_loadavg_load15"), "{{host}} 15m")],
        },
        {
          title: "Softirq latency",
          description: "Softirqs raised per second by how long they waited to run (softirq probe; zone is the latency bucket).",
          unit: "ops",
          queries: [q(rateBy("type, zone", "kpulse_softirq_latency"), "{{host}} {{type}} zone {{zone}}")],
          width: 24,
        },
      ],
    },
    {
      title: "Memory",
      panels: [
        {
          title: "Memory by use (pages)",
          description: "Free, anonymous, file-backed, shared and slab pages (memory_vmstat, /proc/vmstat).",
          unit: "short",
          queries: [
            q(s("kpulse_memory_vmstat_nr_free_pages"), "{{host}} free"),
            q(s("kpulse_memory_vmstat_nr_anon_pages"), "{{host}} anon"),
            q(s("kpulse_memory_vmstat_nr_file_pages"), "{{host}} file"),
            q(s("kpulse_memory_vmstat_nr_shmem"), "{{host}} shmem"),
            q(s("kpulse_memory_vmstat_nr_slab_reclaimable"), "{{host}} slab reclaimable"),
            q(s("kpulse_memory_vmstat_nr_slab_unreclaimable"), "{{host}} slab unreclaimable"),
          ],
        },
        {
          title: "Dirty and writeback (pages)",
          description: "Pages waiting to be written back, and being written (memory_vmstat).",
          unit: "short",
          queries: [q(s("kpulse_memory_vmstat_nr_dirty"), "{{host}} dirty"), q(s("kpulse_memory_vmstat_nr_writeback"), "{{host}} writeback")],
        },
        {
          title: "Page reclaim (pages/s)",
          description: "Pages scanned and reclaimed by kswapd and by allocating tasks (direct reclaim stalls the task).",
          unit: "short",
          queries: [
            q(rate("kpulse_memory_vmstat_pgscan_kswapd"), "{{host}} scan kswapd"),
            q(rate("kpulse_memory_vmstat_pgscan_direct"), "{{host}} scan direct"),
            q(rate("kpulse_memory_vmstat_pgsteal_kswapd"), "{{host}} steal kswapd"),
            q(rate("kpulse_memory_vmstat_pgsteal_direct"), "{{host}} steal direct"),
          ],
        },
        {
          title: "Faults, swap, stalls, OOM kills (/s)",
          description: "Major page faults, swap-in/out pages, direct-reclaim allocation stalls, compaction stalls and OOM kills per second.",
          unit: "short",
          queries: [
            q(rate("kpulse_memory_vmstat_pgmajfault"), "{{host}} major faults"),
            q(rate("kpulse_memory_vmstat_pswpin"), "{{host}} swap in"),
            q(rate("kpulse_memory_vmstat_pswpout"), "{{host}} swap out"),
            q(rate("kpulse_memory_vmstat_allocstall_normal"), "{{host}} allocstall normal"),
            q(rate("kpulse_memory_vmstat_compact_stall"), "{{host}} compact stall"),
            q(rate("kpulse_memory_vmstat_oom_kill"), "{{host}} oom kill"),
          ],
        },
      ],
    },
    {
      title: "Disk I/O",
      panels: [
        {
          title: "Throughput",
          description: "Bytes read and written per second, by block device (diskio, /proc/diskstats).",
          unit: "Bps",
          queries: [q(rateBy("device", "kpulse_diskio_read_bytes_total"), "{{host}} {{device}} read"), q(rateBy("device", "kpulse_diskio_written_bytes_total"), "{{host}} {{device}} write")],
        },
        {
          title: "IOPS",
          description: "Read and write requests completed per second, by block device.",
          unit: "iops",
          queries: [q(rateBy("device", "kpulse_diskio_read_requests_total"), "{{host}} {{device}} read"), q(rateBy("device", "kpulse_diskio_write_requests_total"), "{{host}} {{device}} write")],
        },
        {
          title: "Average request time",
          description: "Time spent on requests divided by requests completed, by device and direction.",
          unit: "s",
          queries: [
            q(`${rateBy("device", "kpulse_diskio_read_time_seconds_total")} / ${rateBy("device", "kpulse_diskio_read_requests_total")}`, "{{host}} {{device}} read"),
            q(`${rateBy("device", "kpulse_diskio_write_time_seconds_total")} / ${rateBy("device", "kpulse_diskio_write_requests_total")}`, "{{host}} {{device}} write"),
          ],
        },
        {
          title: "I/O wait and requests in flight",
          description: "CPU time waiting for I/O (percent) and requests in progress per device.",
          unit: "short",
          queries: [q(s("kpulse_diskio_disk_iowait_percent"), "{{host}} iowait %"), q(s("kpulse_diskio_io_in_progress"), "{{host}} {{device}} in flight")],
        },
        {
          title: "Read-only mount points",
          description: "1 for a mount point the configuration watches that is mounted read-only (mountpoint_perm).",
          unit: "short",
          queries: [q(s("kpulse_mountpoint_perm_ro"), "{{host}} {{mountpoint}}")],
          width: 24,
        },
      ],
    },
  ],
};

const network: DashboardSpec = {
  uid: "kpulse-network",
  title: "kpulse / Network",
  description: "Interfaces, queueing disciplines, TCP, UDP, sockets and softnet of the hosts kpulse runs on.",
  variableSource: "kpulse_build_info",
  rows: [
    {
      title: "Interfaces",
      panels: [
        {
          title: "Traffic",
          description: "Bytes received and sent per second by interface, loopback left out (netdev).",
          unit: "Bps",
          queries: [
            q(rateBy("device", "kpulse_netdev_receive_bytes_total", 'device!="lo"'), "{{host}} {{device}} rx"),
            q(rateBy("device", "kpulse_netdev_transmit_bytes_total", 'device!="lo"'), "{{host}} {{device}} tx"),
          ],
        },
        {
          title: "Packets",
          description: "Packets received and sent per second by interface.",
          unit: "pps",
          queries: [
            q(rateBy("device", "kpulse_netdev_receive_packets_total", 'device!="lo"'), "{{host}} {{device}} rx"),
            q(rateBy("device", "kpulse_netdev_transmit_packets_total", 'device!="lo"'), "{{host}} {{device}} tx"),
          ],
        },
        {
          title: "Errors and drops",
          description: "Receive and transmit errors and drops per second by interface, as the driver counts them.",
          unit: "pps",
          width: 24,
          queries: [
            q(rateBy("device", "kpulse_netdev_receive_errors_total"), "{{host}} {{device}} rx errors"),
            q(rateBy("device", "kpulse_netdev_receive_dropped_total"), "{{host}} {{device}} rx dropped"),
            q(rateBy("device", "kpulse_netdev_transmit_errors_total"), "{{host}} {{device}} tx errors"),
            q(rateBy("device", "kpulse_netdev_transmit_dropped_total"), "{{host}} {{device}} tx dropped"),
          ],
        },
      ],
    },
    {
      title: "Queueing disciplines",
      panels: [
        {
          title: "Qdisc drops, overlimits, requeues",
          description: "Per second, by device and qdisc kind (netdev_qdisc, netlink).",
          unit: "pps",
          queries: [
            q(rateBy("device, kind", "kpulse_netdev_qdisc_drops_total"), "{{host}} {{device}} {{kind}} drops"),
            q(rateBy("device, kind", "kpulse_netdev_qdisc_overlimits_total"), "{{host}} {{device}} {{kind}} overlimits"),
            q(rateBy("device, kind", "kpulse_netdev_qdisc_requeues_total"), "{{host}} {{device}} {{kind}} requeues"),
          ],
        },
        {
          title: "Qdisc backlog",
          description: "Bytes and packets queued in the qdisc, by device and kind.",
          unit: "short",
          queries: [
            q(s("kpulse_netdev_qdisc_backlog"), "{{host}} {{device}} {{kind}} bytes"),
            q(s("kpulse_netdev_qdisc_current_queue_length"), "{{host}} {{device}} {{kind}} packets"),
          ],
        },
      ],
    },
    {
      title: "TCP",
      panels: [
        {
          title: "Connections",
          description: "Established connections, and active and passive opens per second (netstat, /proc/net/snmp).",
          unit: "short",
          queries: [
            q(s("kpulse_netstat_Tcp_CurrEstab"), "{{host}} established"),
            q(rate("kpulse_netstat_Tcp_ActiveOpens"), "{{host}} active opens/s"),
            q(rate("kpulse_netstat_Tcp_PassiveOpens"), "{{host}} passive opens/s"),
          ],
        },
        {
          title: "Retransmits, resets, errors (/s)",
          description: "Segments retransmitted, resets sent, segments received with errors, retransmission timeouts.",
          unit: "short",
          queries: [
            q(rate("kpulse_netstat_Tcp_RetransSegs"), "{{host}} retransmitted segments"),
            q(rate("kpulse_netstat_Tcp_OutRsts"), "{{host}} resets sent"),
            q(rate("kpulse_netstat_Tcp_InErrs"), "{{host}} bad segments"),
            q(rate("kpulse_netstat_TcpExt_TCPTimeouts"), "{{host}} timeouts"),
          ],
        },
        {
          title: "Listen queue and backlog drops (/s)",
          description: "SYNs and connections dropped because a listen queue or a socket backlog was full, or for lack of memory (netstat, TcpExt).",
          unit: "short",
          queries: [
            q(rate("kpulse_netstat_TcpExt_ListenOverflows"), "{{host}} listen overflows"),
            q(rate("kpulse_netstat_TcpExt_ListenDrops"), "{{host}} listen drops"),
            q(rate("kpulse_netstat_TcpExt_TCPBacklogDrop"), "{{host}} backlog drops"),
            q(rate("kpulse_netstat_TcpExt_TCPAbortOnMemory"), "{{host}} aborts on memory"),
          ],
        },
        {
          title: "TCP memory",
          description: "Memory TCP sockets use, as a share of the tcp_mem pressure limit (tcp_memory).",
          unit: "percent",
          queries: [q(s("kpulse_tcp_memory_usage_percent"), "{{host}}")],
        },
      ],
    },
    {
      title: "Sockets",
      panels: [
        {
          title: "Sockets in use",
          description: "Sockets by protocol and state (sockstat, /proc/net/sockstat).",
          unit: "short",
          queries: [
            q(s("kpulse_sockstat_sockets_used"), "{{host}} all"),
            q(s("kpulse_sockstat_TCP_inuse"), "{{host}} TCP in use"),
            q(s("kpulse_sockstat_TCP_tw"), "{{host}} TCP time-wait"),
            q(s("kpulse_sockstat_TCP_orphan"), "{{host}} TCP orphan"),
            q(s("kpulse_sockstat_UDP_inuse"), "{{host}} UDP in use"),
          ],
        },
        {
          title: "Socket memory",
          description: "Bytes of TCP and UDP socket buffers (sockstat).",
          unit: "bytes",
          queries: [q(s("kpulse_sockstat_TCP_mem_bytes"), "{{host}} TCP"), q(s("kpulse_sockstat_UDP_mem_bytes"), "{{host}} UDP")],
        },
        {
          title: "ARP entries",
          description: "Neighbour entries on the host (arp).",
          unit: "short",
          queries: [q(s("kpulse_arp_entries"), "{{host}} entries")],
        },
      ],
    },
    {
      title: "UDP, softnet and transmit latency (opt-in probes)",
      panels: [
        {
          title: "UDP datagrams (/s)",
          description: `Datagrams received and sent per second (udp). ${OPT_IN}`,
          unit: "pps",
          queries: [q(rate("kpulse_udp_indatagrams"), "{{host}} in"), q(rate("kpulse_udp_outdatagrams"), "{{host}} out")],
        },
        {
          title: "UDP errors (/s)",
          description: `Receive errors, receive and send buffer overruns, datagrams to ports nobody listens on (udp). ${OPT_IN}`,
          unit: "pps",
          queries: [
            q(rate("kpulse_udp_inerrors"), "{{host}} in errors"),
            q(rate("kpulse_udp_rcvbuferrors"), "{{host}} receive buffer errors"),
            q(rate("kpulse_udp_sndbuferrors"), "{{host}} send buffer errors"),
            q(rate("kpulse_udp_noports"), "{{host}} no port"),
          ],
        },
        {
          title: "Softnet processed (/s)",
          description: `Packets the receive softirq processed per second, by CPU (softnet, /proc/net/softnet_stat). ${OPT_IN}`,
          unit: "pps",
          queries: [q(rateBy("cpu", "kpulse_softnet_processed"), "{{host}} cpu {{cpu}}")],
        },
        {
          title: "Softnet drops and time squeezes (/s)",
          description: `Packets dropped because the backlog queue was full, and softirq runs cut short by budget or time, by CPU. ${OPT_IN}`,
          unit: "short",
          queries: [q(rateBy("cpu", "kpulse_softnet_dropped"), "{{host}} cpu {{cpu}} dropped"), q(rateBy("cpu", "kpulse_softnet_time_squeeze"), "{{host}} cpu {{cpu}} squeezed")],
        },
        {
          title: "Transmit latency",
          description: `Time transmitted packets spent in the qdisc and in the driver (netiftxlatency): 99th percentile and mean, by stage. ${OPT_IN}`,
          unit: "s",
          width: 24,
          queries: [
            q(`histogram_quantile(0.99, ${rateBy("stage, le", "kpulse_netiftxlatency_latency_seconds_bucket")})`, "{{host}} {{stage}} p99"),
            q(`${rateBy("stage", "kpulse_netiftxlatency_latency_seconds_sum")} / ${rateBy("stage", "kpulse_netiftxlatency_latency_seconds_count")}`, "{{host}} {{stage}} mean"),
          ],
        },
      ],
    },
  ],
};

const dropsAndEvents: DashboardSpec = {
  uid: "kpulse-events",
  title: "kpulse / Drops and events",
  description: "Kernel packet drops by reason, events by tracer, and what happened to each event on its way out.",
  variableSource: "kpulse_build_info",
  rows: [
    {
      title: "Kernel packet drops",
      panels: [
        {
          title: "Packet drops by reason",
          description: "Every packet the kernel freed as dropped, by drop reason (dropwatch): counted whether or not it became an event.",
          unit: "pps",
          width: 24,
          queries: [q(`topk(15, ${rateBy("reason", "kpulse_dropwatch_drops_total")})`, "{{host}} {{reason}}")],
        },
      ],
    },
    {
      title: "Events",
      panels: [
        {
          title: "Events by tracer (/s)",
          description: "Events handed to the outputs (local files, OpenSearch, watch streams), by tracer.",
          unit: "ops",
          stacked: true,
          queries: [q(rateBy("tracer", "kpulse_events_published_total"), "{{host}} {{tracer}}")],
        },
        {
          title: "Kernel incidents (/s)",
          description: "OOM kills, hung tasks, soft lockups and hardware errors the tracers saw.",
          unit: "ops",
          queries: [
            q(rate("kpulse_oom_host_total"), "{{host}} oom"),
            q(rate("kpulse_hungtask_total"), "{{host}} hung task"),
            q(rate("kpulse_softlockup_total"), "{{host}} soft lockup"),
            q(rateBy("type", "kpulse_ras_hw_err_total"), "{{host}} hw error {{type}}"),
          ],
        },
        {
          title: "Events lost in the kernel (/s)",
          description: "ringbuf_full: the ring buffer was full, the event is gone (user space too slow). decode_error: a record user space could not read.",
          unit: "ops",
          queries: [q(probeOutcomes("ringbuf_full|decode_error"), "{{host}} {{probe}} {{outcome}}")],
        },
        {
          title: "Events held back (/s)",
          description: "Events suppressed on purpose: ratelimited (MaxEventsPerSecond), backoff (repeats held back), filtered (configuration).",
          unit: "ops",
          queries: [q(probeOutcomes("ratelimited|backoff|filtered|user_filtered"), "{{host}} {{probe}} {{outcome}}")],
        },
      ],
    },
    {
      title: "Outputs",
      panels: [
        {
          title: "Events dropped by outputs (/s)",
          description: "Events an output's bounded queue could not take, local-file events never written, spool events deleted at its size limit, watch-client events lost when a client was cut.",
          unit: "ops",
          width: 24,
          queries: [
            q(rateBy("output", "kpulse_events_dropped_total"), "{{host}} queue full: {{output}}"),
            q(rateBy("reason", "kpulse_localfile_unwritten_total"), "{{host}} localfile unwritten: {{reason}}"),
            q(rate("kpulse_opensearch_dropped_total"), "{{host}} opensearch spool full"),
            q(rateBy("reason", "kpulse_watch_events_dropped_total"), "{{host}} watch: {{reason}}"),
          ],
        },
      ],
    },
  ],
};

const statPanel = (p: Omit<PanelSpec, "kind" | "width">): PanelSpec => ({ ...p, kind: "stat", width: 6 });

const agentHealth: DashboardSpec = {
  uid: "kpulse-agent",
  title: "kpulse / Agent health",
  description: "kpulse itself: probes, collection time, process resources, outputs, watch clients and BPF program cost.",
  variableSource: "kpulse_build_info",
  rows: [
    {
      title: "Overview",
      panels: [
        statPanel({ title: "Agents", description: "kpulse processes reporting.", unit: "short", queries: [q(`count(${s("kpulse_build_info")})`, "agents")] }),
        statPanel({ title: "Probes not up", description: "Probes loading, unsupported or failed (GET /v1/probes says which and why).", unit: "short", queries: [q(`count(${s("kpulse_probe_up")}) - sum(${s("kpulse_probe_up")})`, "not up")] }),
        statPanel({ title: "Collectors failing", description: "Collectors whose last collection failed.", unit: "short", queries: [q(`count(${s("kpulse_scrape_collector_success")}) - sum(${s("kpulse_scrape_collector_success")})`, "failing")] }),
        statPanel({ title: "Watch clients", description: "Clients on the SSE watch stream.", unit: "short", queries: [q(`sum(${s("kpulse_watch_clients")})`, "clients")] }),
      ],
    },
    {
      title: "Probes",
      panels: [
        {
          title: "Probe up",
          description: "1 when the probe is loaded and running, 0 when loading, unsupported or failed.",
          unit: "short",
          queries: [q(`min by (host, probe) (${s("kpulse_probe_up")})`, "{{host}} {{probe}}")],
        },
        {
          title: "Collection time",
          description: "Seconds each metric probe took on the last scrape.",
          unit: "s",
          queries: [q(`max by (host, collector) (${s("kpulse_scrape_collector_duration_seconds")})`, "{{host}} {{collector}}")],
        },
        {
          title: "BPF program CPU",
          description: "Share of one CPU the kernel spends running each BPF program ([Kpulse] BpfProgramStats).",
          unit: "percentunit",
          queries: [q(rateBy("probe, program", "kpulse_bpf_program_run_time_seconds_total"), "{{host}} {{probe}} {{program}}")],
        },
        {
          title: "BPF program runs (/s)",
          description: "How often each BPF program ran.",
          unit: "ops",
          queries: [q(rateBy("probe, program", "kpulse_bpf_program_run_count_total"), "{{host}} {{probe}} {{program}}")],
        },
      ],
    },
    {
      title: "Process",
      panels: [
        {
          title: "CPU",
          description: "Share of one CPU the kpulse process uses (user + system).",
          unit: "percentunit",
          queries: [q(rate("kpulse_process_cpu_seconds_total"), "{{host}}")],
        },
        {
          title: "Memory",
          description: "Resident set size and the JavaScript heap in use.",
          unit: "bytes",
          queries: [q(s("kpulse_process_resident_memory_bytes"), "{{host}} RSS"), q(s("kpulse_process_heap_bytes"), "{{host}} heap")],
        },
        {
          title: "Open file descriptors",
          description: "Descriptors open, and the limit.",
          unit: "short",
          queries: [q(s("kpulse_process_open_fds"), "{{host}} open"), q(s("kpulse_process_max_fds"), "{{host}} max")],
        },
        {
          title: "Version",
          description: "The version and commit each agent runs.",
          unit: "short",
          queries: [q(s("kpulse_build_info"), "{{host}} {{version}} {{commit}}")],
        },
      ],
    },
    {
      title: "Outputs",
      panels: [
        {
          title: "Local files",
          description: "Events written per second, waiting in the queue, and 1 while writes fail (/readyz is 503 meanwhile).",
          unit: "short",
          queries: [
            q(rate("kpulse_localfile_written_total"), "{{host}} written/s"),
            q(s("kpulse_localfile_queued"), "{{host}} queued"),
            q(s("kpulse_localfile_failing"), "{{host}} failing"),
            q(rate("kpulse_localfile_write_failures_total"), "{{host}} write failures/s"),
          ],
        },
        {
          title: "OpenSearch",
          description: "Events sent, retried and dead-lettered per second, events in memory, and 1 while the backend answers.",
          unit: "short",
          queries: [
            q(rate("kpulse_opensearch_sent_total"), "{{host}} sent/s"),
            q(rate("kpulse_opensearch_retried_total"), "{{host}} retried/s"),
            q(rate("kpulse_opensearch_dead_lettered_total"), "{{host}} dead-lettered/s"),
            q(s("kpulse_opensearch_queued"), "{{host}} queued"),
            q(s("kpulse_opensearch_up"), "{{host}} up"),
          ],
        },
        {
          title: "OpenSearch spool",
          description: "Bytes of unsent events on disk; it grows while the backend is down or slower than the events.",
          unit: "bytes",
          queries: [q(s("kpulse_opensearch_spool_bytes"), "{{host}}")],
        },
        {
          title: "OpenSearch spool events",
          description: "Unsent events on disk.",
          unit: "short",
          queries: [q(s("kpulse_opensearch_spool_events"), "{{host}}")],
        },
      ],
    },
    {
      title: "Event loss and watch clients",
      panels: [
        {
          title: "Ring buffer full (/s)",
          description: "Events lost in the kernel because a probe's ring buffer was full, by probe.",
          unit: "ops",
          queries: [q(probeOutcomes("ringbuf_full"), "{{host}} {{probe}}")],
        },
        {
          title: "Watch clients and lag",
          description: "Watch stream clients, and how many events the furthest-behind one has not been sent yet.",
          unit: "short",
          queries: [q(s("kpulse_watch_clients"), "{{host}} clients"), q(s("kpulse_watch_client_lag_max_events"), "{{host}} max lag (events)")],
        },
      ],
    },
  ],
};

/** The labels that name a container (HUATUO's), for per-container sums. */
const CONTAINER = "container_hostnamespace, container_host, container_name";
/** A container in legends: its pod namespace, hostname and container name. */
const WHO = "{{container_hostnamespace}}/{{container_host}}/{{container_name}}";
/** The busiest 20 containers of an expression (container series can number in the hundreds). */
const top = (expr: string) => `topk(20, ${expr})`;

const containers: DashboardSpec = {
  uid: "kpulse-containers",
  title: "kpulse / Containers",
  description: "Per-container CPU, throttling, tasks, memory and network from the container series (the five container labels), the 20 busiest of each.",
  variableSource: "kpulse_build_info",
  rows: [
    {
      title: "CPU",
      panels: [
        {
          title: "CPU utilisation of its cores",
          description: "Share of the container's cores (its CPU quota, or every online CPU without one) busy in user and system mode (cpu_util).",
          unit: "percent",
          queries: [q(top(s("kpulse_cpu_util_container_total")), WHO)],
        },
        {
          title: "CPU throttling (periods/s)",
          description: "CFS periods in which the container hit its quota and was throttled (cpu_stat, cpu.stat nr_throttled).",
          unit: "short",
          queries: [q(top(rateBy(CONTAINER, "kpulse_cpu_stat_container_nr_throttled")), WHO)],
        },
        {
          title: "Runnable tasks",
          description: "Threads of the container running or waiting for a CPU (loadavg, from its cgroup's threads).",
          unit: "short",
          queries: [q(top(s("kpulse_loadavg_container_nr_running")), WHO)],
        },
        {
          title: "Tasks in uninterruptible sleep",
          description: "Threads of the container in D state: waiting on I/O or a lock (loadavg).",
          unit: "short",
          queries: [q(top(s("kpulse_loadavg_container_nr_uninterruptible")), WHO)],
        },
      ],
    },
    {
      title: "Memory",
      panels: [
        {
          title: "Anonymous memory",
          description: "The container's anonymous memory from memory.stat: rss on cgroup v1, anon on v2 (memory_vmstat, container series).",
          unit: "bytes",
          queries: [q(top(`{__name__=~"kpulse_memory_vmstat_container_(rss|anon)", ${SEL}}`), WHO)],
        },
        {
          title: "Page cache",
          description: "The container's file-backed memory: cache on cgroup v1, file on v2.",
          unit: "bytes",
          queries: [q(top(`{__name__=~"kpulse_memory_vmstat_container_(cache|file)", ${SEL}}`), WHO)],
        },
      ],
    },
    {
      title: "Network (per network namespace)",
      panels: [
        {
          title: "Received (bytes/s)",
          description: "Bytes received on the devices of the container's network namespace (netdev; host-network containers have none of their own).",
          unit: "Bps",
          queries: [q(top(rateBy(CONTAINER, "kpulse_netdev_container_receive_bytes_total")), WHO)],
        },
        {
          title: "Transmitted (bytes/s)",
          description: "Bytes sent from the devices of the container's network namespace (netdev).",
          unit: "Bps",
          queries: [q(top(rateBy(CONTAINER, "kpulse_netdev_container_transmit_bytes_total")), WHO)],
        },
        {
          title: "TCP sockets",
          description: "TCP sockets in use and in TIME_WAIT in the container's namespace (sockstat).",
          unit: "short",
          queries: [q(top(s("kpulse_sockstat_container_TCP_inuse")), `${WHO} inuse`), q(top(s("kpulse_sockstat_container_TCP_tw")), `${WHO} tw`)],
        },
        {
          title: "TCP retransmits and listen overflows (/s)",
          description: "Segments retransmitted and connections dropped by a full accept queue in the container's namespace (netstat).",
          unit: "ops",
          queries: [
            q(top(rateBy(CONTAINER, "kpulse_netstat_container_Tcp_RetransSegs")), `${WHO} retrans`),
            q(top(rateBy(CONTAINER, "kpulse_netstat_container_TcpExt_ListenOverflows")), `${WHO} listen overflows`),
          ],
        },
      ],
    },
  ],
};

/** File stem (packaging/grafana/kpulse-<stem>.json) → dashboard. */
export const DASHBOARDS: Readonly<Record<string, DashboardSpec>> = {
  host: hostOverview,
  network,
  events: dropsAndEvents,
  agent: agentHealth,
  containers,
};
