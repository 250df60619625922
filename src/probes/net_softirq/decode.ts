// Turns one `struct net_softirq_event` ring record into KubeSkoop's net_softirq event body (type,
// cpu, pid, latency) plus the vector and the task's name. Offsets come from the loaded object's
// BTF (bpf/include/net_softirq.h).
import { cString, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const NET_SOFTIRQ_FIELDS = { ts_ns: 8, latency_ns: 8, pid: 4, cpu: 4, vec: 4, type: 1, comm: 16 } as const;

export type NetSoftirqOffsets = Offsets<typeof NET_SOFTIRQ_FIELDS>;

/** KubeSkoop's event types by enum net_softirq_type number, with their counter names. */
export const NET_SOFTIRQ_TYPES = [
  { type: "NETSOFTIRQ_SCHED_SLOW", counter: "schedslow" },
  { type: "NETSOFTIRQ_SCHED_100MS", counter: "schedslow100ms" },
  { type: "NETSOFTIRQ_EXCUTE_SLOW", counter: "excuteslow" },
  { type: "NETSOFTIRQ_EXCUTE_100MS", counter: "excuteslow100ms" },
] as const;

const VECTORS: Record<number, string> = { 2: "NET_TX", 3: "NET_RX" };

export class NetSoftirqDecoder {
  constructor(
    private readonly o: NetSoftirqOffsets,
    /** SlowThreshold and Slow100msThreshold (ns): the one a type was measured against is reported. */
    private readonly slowNs: number,
    private readonly severeNs: number,
  ) {}

  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
    const o = this.o;
    const type = u8[at + o.type]!;
    const vec = dv.getUint32(at + o.vec, true);
    return {
      type: NET_SOFTIRQ_TYPES[type]?.type ?? String(type),
      cpu: dv.getUint32(at + o.cpu, true),
      pid: dv.getUint32(at + o.pid, true),
      latency: u64(dv, at + o.latency_ns),
      // kpulse additions
      softirq: VECTORS[vec] ?? String(vec),
      threshold: type & 1 ? this.severeNs : this.slowNs,
      comm: cString(u8, at + o.comm, 16),
    };
  }
}
