// Turns one `struct socketlatency_event` ring record into the socketlatency tracer_data: the
// KubeSkoop event name, the socket's 5-tuple (local address first) and how long the data waited.
// Offsets come from the loaded object's BTF (bpf/include/socketlatency.h).
import { cString, ipAddress, l4ProtocolName, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const SOCKETLATENCY_FIELDS = {
  ts_ns: 8, latency_ns: 8, net_cookie: 8, pid: 4, netns_inum: 4, cpu: 4, sport: 2, dport: 2,
  family: 1, protocol: 1, direction: 1, saddr: 16, daddr: 16, comm: 16,
} as const;

export type SocketLatencyOffsets = Offsets<typeof SOCKETLATENCY_FIELDS>;

/** KubeSkoop's event names by direction (SOCKETLAT_READ = 1, SOCKETLAT_SEND = 2). */
export const SOCKETLAT_EVENTS: Record<number, string> = { 1: "SOCKETLAT_READSLOW", 2: "SOCKETLAT_SENDSLOW" };

export function decodeSocketLatency(o: SocketLatencyOffsets, u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
  const family = u8[at + o.family]!;
  const direction = u8[at + o.direction]!;
  return {
    type: SOCKETLAT_EVENTS[direction] ?? `UNKNOWN(${direction})`,
    protocol: l4ProtocolName(u8[at + o.protocol]!),
    saddr: ipAddress(u8, at + o.saddr, family),
    sport: dv.getUint16(at + o.sport, true),
    daddr: ipAddress(u8, at + o.daddr, family),
    dport: dv.getUint16(at + o.dport, true),
    latency_ns: u64(dv, at + o.latency_ns),
    pid: dv.getUint32(at + o.pid, true),
    comm: cString(u8, at + o.comm, 16),
    cpu: dv.getUint32(at + o.cpu, true),
    netns: dv.getUint32(at + o.netns_inum, true),
    netns_cookie: u64(dv, at + o.net_cookie),
  };
}
