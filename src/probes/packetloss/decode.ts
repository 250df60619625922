// Turns a dropwatch ring record (struct dropwatch_event, the object packetloss shares with
// dropwatch) into KubeSkoop's PACKETLOSS event: the 5-tuple and the stack, plus where and why
// the kernel dropped it. Offsets come from the loaded object's BTF like dropwatch's.
import type { Symbolizer } from "../../bpf/kallsyms.ts";
import { cString, ipAddress, l4ProtocolName, StackSymbolizer, type Offsets } from "../kit/decoders.ts";
import { DROPWATCH_STACK_DEPTH } from "../dropwatch/decode.ts";

/** Field name → size in bytes, as this decoder reads them from struct dropwatch_event. */
export const PACKETLOSS_FIELDS = {
  location: 8, stack: 8 * DROPWATCH_STACK_DEPTH, stack_bytes: 4, pid: 4, reason: 4, netns_inum: 4,
  sport: 2, dport: 2, family: 1, l4_proto: 1, pl_location: 1, saddr: 16, daddr: 16, comm: 16,
} as const;

export type PacketlossOffsets = Offsets<typeof PACKETLOSS_FIELDS>;

export interface PacketlossDeps {
  /** enum packetloss_location value → counter name ("tcprcv", …). */
  locationName(value: number): string;
  reasonName(reason: number): string;
  symbolize: Symbolizer;
}

export class PacketlossDecoder {
  private readonly stacks: StackSymbolizer;

  constructor(private readonly o: PacketlossOffsets, private readonly deps: PacketlossDeps) {
    this.stacks = new StackSymbolizer(deps.symbolize);
  }

  /** tracer_data, or null for a drop without ports (netlink, unix, raw: KubeSkoop skips those). */
  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> | null {
    const o = this.o;
    const sport = dv.getUint16(at + o.sport, true);
    const dport = dv.getUint16(at + o.dport, true);
    if (sport === 0 && dport === 0) return null;
    const family = u8[at + o.family]!;
    const locLo = dv.getUint32(at + o.location, true), locHi = dv.getUint32(at + o.location + 4, true);
    return {
      type: "PACKETLOSS",
      location: this.deps.locationName(u8[at + o.pl_location]!),
      protocol: family ? l4ProtocolName(u8[at + o.l4_proto]!) : "",
      saddr: ipAddress(u8, at + o.saddr, family),
      sport,
      daddr: ipAddress(u8, at + o.daddr, family),
      dport,
      drop_reason: this.deps.reasonName(dv.getUint32(at + o.reason, true)),
      drop_location: locLo || locHi ? this.deps.symbolize(locHi, locLo) : "",
      stacktrace: this.stacks.text(dv, at + o.stack, Math.min(dv.getUint32(at + o.stack_bytes, true), 8 * DROPWATCH_STACK_DEPTH)),
      comm: cString(u8, at + o.comm, 16),
      pid: dv.getUint32(at + o.pid, true),
      netns: dv.getUint32(at + o.netns_inum, true),
    };
  }
}
