// netiftxlatency's record and histogram decoding. A `struct netiftxlat_event` ring record becomes
// KubeSkoop's TXLAT_QDISC_100MS / TXLAT_NETDEV_100MS body (type, 5-tuple, latency) plus the
// device, namespace and task; the per-stage log2 slots of netiftxlat_hist become a Prometheus
// histogram in seconds. Offsets and slot counts come from the built object's BTF
// (bpf/include/netiftxlatency.h).
import type { HistogramValue } from "../../metrics/sample.ts";
import { cString, ipAddress, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const NETIFTXLAT_FIELDS = {
  ts_ns: 8, latency_ns: 8, pid: 4, cpu: 4, netns_inum: 4, ifindex: 4, len: 4, sport: 2, dport: 2,
  stage: 1, family: 1, l4_proto: 1, saddr: 16, daddr: 16, ifname: 16, comm: 16,
} as const;

export type NetifTxlatOffsets = Offsets<typeof NETIFTXLAT_FIELDS>;

/** Stages by enum netiftxlat_stage number: label value, KubeSkoop event type, counter name. */
export const TXLAT_STAGES = [
  { stage: "qdisc", type: "TXLAT_QDISC_100MS", counter: "qdiscslow100ms" },
  { stage: "netdev", type: "TXLAT_NETDEV_100MS", counter: "netdevslow100ms" },
] as const;

const PROTOCOLS: Record<number, string> = { 1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMP6" };

/** KubeSkoop's protocol names (bpfutil.GetProtoStr): anything else is "IP". */
export function protocolName(l4: number): string {
  return PROTOCOLS[l4] ?? "IP";
}

export class NetifTxlatDecoder {
  constructor(
    private readonly o: NetifTxlatOffsets,
    /** Thresholds (ns) by stage number, reported with each event. */
    private readonly thresholds: readonly number[],
  ) {}

  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
    const o = this.o;
    const stage = u8[at + o.stage]!;
    const family = u8[at + o.family]!;
    return {
      type: TXLAT_STAGES[stage]?.type ?? String(stage),
      protocol: family ? protocolName(u8[at + o.l4_proto]!) : "",
      saddr: ipAddress(u8, at + o.saddr, family),
      sport: dv.getUint16(at + o.sport, true),
      daddr: ipAddress(u8, at + o.daddr, family),
      dport: dv.getUint16(at + o.dport, true),
      latency: u64(dv, at + o.latency_ns),
      // kpulse additions
      threshold: this.thresholds[stage] ?? 0,
      pkt_len: dv.getUint32(at + o.len, true),
      netdev_name: cString(u8, at + o.ifname, 16),
      netdev_ifindex: dv.getUint32(at + o.ifindex, true),
      net_namespace_inum: dv.getUint32(at + o.netns_inum, true),
      cpu: dv.getUint32(at + o.cpu, true),
      pid: dv.getUint32(at + o.pid, true),
      comm: cString(u8, at + o.comm, 16),
    };
  }
}

/**
 * Upper bounds (seconds) of the log2 slots: slot i < slots-1 holds latencies below 2^(i+1) µs;
 * the last slot (everything above) is only in the implied +Inf bucket.
 */
export function slotBounds(slots: number): number[] {
  return Array.from({ length: slots - 1 }, (_, i) => 2 ** (i + 1) / 1e6);
}

/** One stage's histogram from its slot counts (slot order) and the sum of its latencies (ns). */
export function slotHistogram(counts: readonly number[], sumNs: number): HistogramValue {
  const bounds = slotBounds(counts.length);
  const cumulativeCounts: number[] = [];
  let acc = 0;
  for (let i = 0; i < bounds.length; i++) cumulativeCounts.push((acc += counts[i] ?? 0));
  return { bounds, cumulativeCounts, count: acc + (counts[counts.length - 1] ?? 0), sum: sumNs / 1e9 };
}
