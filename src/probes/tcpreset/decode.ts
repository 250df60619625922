// Turns one `struct tcpreset_event` ring record into KubeSkoop's tcpreset event body: the type,
// the 5-tuple and the socket state, plus the kernel's reset reason (6.10+), the network
// namespace and the current task. Offsets come from the loaded object's BTF
// (bpf/include/tcpreset.h).
import { cString, ipAddress, tcpStateName, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const TCPRESET_FIELDS = {
  ts_ns: 8, pid: 4, netns_inum: 4, reason: 4, sport: 2, dport: 2, type: 1, state: 1, family: 1,
  has_reason: 1, saddr: 16, daddr: 16, comm: 16,
} as const;

export type TcpresetOffsets = Offsets<typeof TCPRESET_FIELDS>;

/** KubeSkoop's event types, by TCPRESET_* number (bpf/include/tcpreset.h). */
export const TCPRESET_TYPES = ["TCPRESET_NOSOCK", "TCPRESET_ACTIVE", "TCPRESET_PROCESS", "TCPRESET_RECEIVE"] as const;

/** "TCP_ESTABLISHED" as KubeSkoop writes states; "" when the reset had no socket. */
export function socketState(state: number): string {
  return state === 0 ? "" : "TCP_" + tcpStateName(state);
}

export class TcpresetDecoder {
  constructor(
    private readonly o: TcpresetOffsets,
    /** enum sk_rst_reason value → name without SK_RST_REASON_ (the running kernel's numbering). */
    private readonly reasonName: (n: number) => string,
  ) {}

  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
    const o = this.o;
    const type = u8[at + o.type]!;
    const family = u8[at + o.family]!;
    return {
      type: TCPRESET_TYPES[type] ?? String(type),
      protocol: "TCP",
      saddr: ipAddress(u8, at + o.saddr, family),
      sport: dv.getUint16(at + o.sport, true),
      daddr: ipAddress(u8, at + o.daddr, family),
      dport: dv.getUint16(at + o.dport, true),
      state: socketState(u8[at + o.state]!),
      // kpulse additions
      reason: u8[at + o.has_reason] ? this.reasonName(dv.getUint32(at + o.reason, true)) : "",
      net_namespace_inum: dv.getUint32(at + o.netns_inum, true),
      pid: dv.getUint32(at + o.pid, true),
      comm: cString(u8, at + o.comm, 16),
    };
  }
}
