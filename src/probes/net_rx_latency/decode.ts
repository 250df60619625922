// Turns one `struct net_rx_latency_event` ring record into HUATUO's net_rx_latency tracer_data,
// and applies HUATUO's known-issue filter ([EventTracing] IssuesList) to it. Offsets come from
// the loaded object's BTF (bpf/include/net_rx_latency.h).
import { compileGoRegex, type GoRegex } from "../../util/goregex.ts";
import { cString, ipAddress, tcpStateName, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const NET_RX_LATENCY_FIELDS = {
  ts_ns: 8, latency_ns: 8, net_cookie: 8, pid: 4, netns_inum: 4, pkt_len: 4, seq: 4, ack_seq: 4,
  sport: 2, dport: 2, family: 1, where: 1, state: 1, saddr: 16, daddr: 16, comm: 16, netdev: 16,
} as const;

export type NetRxLatencyOffsets = Offsets<typeof NET_RX_LATENCY_FIELDS>;

/** HUATUO's `where` names, by RX_STAGE_* value. */
export const RX_STAGES = ["TO_NETIF_RCV", "TO_TCPV4_RCV", "TO_USER_COPY"] as const;

/** HUATUO's state text: "<nil>" before the socket is known (the driver → netif stage). */
export function rxState(state: number): string {
  return state === 0 ? "<nil>" : tcpStateName(state);
}

/** Stage thresholds in ms, in RX_STAGE_* order. */
export type StageThresholds = readonly [number, number, number];

/** One `[name, regex]` entry of IssuesList, compiled. */
export interface KnownIssue {
  name: string;
  re: GoRegex;
}

export function compileIssues(list: readonly (readonly [string, string])[]): KnownIssue[] {
  return list.map(([name, re]) => ({ name, re: compileGoRegex(re) }));
}

/** The text HUATUO matches IssuesList patterns against (its event title). */
export function issueTitle(d: {
  comm: string; pid: number; where: string; latency_ms: number; state: string;
  saddr: string; sport: number; daddr: string; dport: number; seq: number; ack_seq: number; pkt_len: number;
}): string {
  return `comm=${d.comm}:${d.pid} to=${d.where} lat(ms)=${d.latency_ms.toFixed(2)} state=${d.state} ` +
    `saddr=${d.saddr} sport=${d.sport} daddr=${d.daddr} dport=${d.dport} seq=${d.seq} ackSeq=${d.ack_seq} pktLen=${d.pkt_len}`;
}

/** The first known issue whose pattern matches the title, if any. */
export function matchIssue(issues: readonly KnownIssue[], title: string): KnownIssue | undefined {
  for (const i of issues) if (i.re.test(title)) return i;
  return undefined;
}

export class NetRxLatencyDecoder {
  constructor(
    private readonly o: NetRxLatencyOffsets,
    private readonly thresholdsMs: StageThresholds,
    private readonly issues: readonly KnownIssue[] = [],
  ) {}

  /** tracer_data, or null for a known issue (counted as user_filtered by the kit). */
  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> | null {
    const o = this.o;
    const family = u8[at + o.family]!;
    const where = u8[at + o.where]!;
    const data = {
      comm: cString(u8, at + o.comm, 16),
      pid: dv.getUint32(at + o.pid, true),
      where: RX_STAGES[where] ?? `UNKNOWN(${where})`,
      latency_ms: u64(dv, at + o.latency_ns) / 1e6,
      state: rxState(u8[at + o.state]!),
      saddr: ipAddress(u8, at + o.saddr, family),
      daddr: ipAddress(u8, at + o.daddr, family),
      sport: dv.getUint16(at + o.sport, true),
      dport: dv.getUint16(at + o.dport, true),
      seq: dv.getUint32(at + o.seq, true),
      ack_seq: dv.getUint32(at + o.ack_seq, true),
      pkt_len: dv.getUint32(at + o.pkt_len, true),
      lat_thresholds: this.thresholdsMs[where] ?? 0,
      netdev_name: cString(u8, at + o.netdev, 16),
      netns_inum: dv.getUint32(at + o.netns_inum, true),
      netns_cookie: u64(dv, at + o.net_cookie),
    };
    if (this.issues.length && matchIssue(this.issues, issueTitle(data))) return null;
    return data;
  }
}
