// The probe table: every probe kpulse knows, by name. Adding a probe = its folder under
// src/probes/<name>/ (definition with its own config section, decoder or parser), its .bpf.c and
// header when it needs BPF, its tests, and one entry here. Nothing else in the tree names it.
import { arpProbe } from "./arp/index.ts";
import { conntrackProbe } from "./conntrack/index.ts";
import { cpuStatProbe } from "./cpu_stat/index.ts";
import { cpuUtilProbe } from "./cpu_util/index.ts";
import { diskioProbe } from "./diskio/index.ts";
import { dropwatchProbe } from "./dropwatch/index.ts";
import { fdProbe } from "./fd/index.ts";
import { hungtaskProbe } from "./hungtask/index.ts";
import { ioProbe } from "./io/index.ts";
import { ipProbe } from "./ip/index.ts";
import { ipvsProbe } from "./ipvs/index.ts";
import { kernelLatencyProbe } from "./kernellatency/index.ts";
import { loadavgProbe } from "./loadavg/index.ts";
import { memoryBuddyinfoProbe } from "./memory_buddyinfo/index.ts";
import { memoryEventsProbe } from "./memory_events/index.ts";
import { memoryReclaimProbe } from "./memory_reclaim/index.ts";
import { memoryVmstatProbe } from "./memory_vmstat/index.ts";
import { mountpointPermProbe } from "./mountpoint_perm/index.ts";
import { netRxLatencyProbe } from "./net_rx_latency/index.ts";
import { netSoftirqProbe } from "./net_softirq/index.ts";
import { netdevProbe } from "./netdev/index.ts";
import { netdevBondingLacpProbe } from "./netdev_bonding_lacp/index.ts";
import { netdevDcbProbe } from "./netdev_dcb/index.ts";
import { netdevEventsProbe } from "./netdev_events/index.ts";
import { netdevQdiscProbe } from "./netdev_qdisc/index.ts";
import { netdevTxqueueTimeoutProbe } from "./netdev_txqueue_timeout/index.ts";
import { netiftxlatencyProbe } from "./netiftxlatency/index.ts";
import { netstatProbe } from "./netstat/index.ts";
import { oomProbe } from "./oom/index.ts";
import { packetlossProbe } from "./packetloss/index.ts";
import { rasProbe } from "./ras/index.ts";
import { schedTickProbe } from "./sched_tick/index.ts";
import { sockProbe } from "./sock/index.ts";
import { socketLatencyProbe } from "./socketlatency/index.ts";
import { sockstatProbe } from "./sockstat/index.ts";
import { softirqProbe } from "./softirq/index.ts";
import { softirqTracingProbe } from "./softirq_tracing/index.ts";
import { softlockupProbe } from "./softlockup/index.ts";
import { softnetProbe } from "./softnet/index.ts";
import { tcpProbe } from "./tcp/index.ts";
import { tcpMemoryProbe } from "./tcp_memory/index.ts";
import { tcpRetransmitProbe } from "./tcp_retransmit/index.ts";
import { tcpextProbe } from "./tcpext/index.ts";
import { tcpresetProbe } from "./tcpreset/index.ts";
import { tcpsummaryProbe } from "./tcpsummary/index.ts";
import { udpProbe } from "./udp/index.ts";
import type { ProbeDefinition } from "./types.ts";

export const probeTable: readonly ProbeDefinition[] = [
  // HUATUO metric collectors
  cpuUtilProbe, cpuStatProbe, loadavgProbe, softirqProbe, memoryVmstatProbe, memoryBuddyinfoProbe, memoryEventsProbe, diskioProbe,
  mountpointPermProbe, netdevProbe, netdevQdiscProbe, netdevDcbProbe, arpProbe, netstatProbe, sockstatProbe,
  tcpMemoryProbe,
  // KubeSkoop's procfs probes, under their own names
  tcpProbe, udpProbe, ipProbe, tcpextProbe, sockProbe, softnetProbe, conntrackProbe, ipvsProbe, fdProbe, ioProbe,
  tcpsummaryProbe,
  // HUATUO event tracers
  dropwatchProbe, packetlossProbe, tcpRetransmitProbe, oomProbe, memoryReclaimProbe, hungtaskProbe, softirqTracingProbe, schedTickProbe,
  rasProbe, softlockupProbe, netdevEventsProbe, netdevTxqueueTimeoutProbe, netdevBondingLacpProbe, netRxLatencyProbe,
  // KubeSkoop's BPF probes
  socketLatencyProbe, kernelLatencyProbe, tcpresetProbe, netiftxlatencyProbe, netSoftirqProbe,
];
