// Turns one `struct kernellatency_event` ring record into the kernellatency tracer_data: the
// KubeSkoop event name, the packet's 5-tuple, the whole latency and the latency of each part
// of the path (null where it was not measured). Offsets come from the loaded object's BTF
// (bpf/include/kernellatency.h).
import { cString, ipAddress, l4ProtocolName, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const KERNELLATENCY_FIELDS = {
  ts_ns: 8, latency_ns: 8, loc1_ns: 8, loc2_ns: 8, net_cookie: 8, pid: 4, netns_inum: 4, cpu: 4,
  sport: 2, dport: 2, family: 1, protocol: 1, direction: 1, saddr: 16, daddr: 16, comm: 16, netdev: 16,
} as const;

export type KernelLatencyOffsets = Offsets<typeof KERNELLATENCY_FIELDS>;

const KLAT_RX = 1;
const KLAT_TX = 2;

/** A location's latency, or null when the probe could not measure that part. */
const part = (ns: number): number | null => (ns === 0 ? null : ns);

export function decodeKernelLatency(o: KernelLatencyOffsets, u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
  const family = u8[at + o.family]!;
  const direction = u8[at + o.direction]!;
  const loc1 = u64(dv, at + o.loc1_ns);
  const loc2 = u64(dv, at + o.loc2_ns);
  const data: Record<string, unknown> = {
    type: direction === KLAT_RX ? "RXKERNEL_SLOW" : direction === KLAT_TX ? "TXKERNEL_SLOW" : `UNKNOWN(${direction})`,
    protocol: l4ProtocolName(u8[at + o.protocol]!),
    saddr: ipAddress(u8, at + o.saddr, family),
    sport: dv.getUint16(at + o.sport, true),
    daddr: ipAddress(u8, at + o.daddr, family),
    dport: dv.getUint16(at + o.dport, true),
    latency_ns: u64(dv, at + o.latency_ns),
  };
  if (direction === KLAT_RX) {
    data.netif_to_tcp_ns = part(loc1);
  } else {
    data.send_to_queue_ns = part(loc1);
    data.queue_to_xmit_ns = part(loc2);
    data.netdev = cString(u8, at + o.netdev, 16);
  }
  data.pid = dv.getUint32(at + o.pid, true);
  data.comm = cString(u8, at + o.comm, 16);
  data.cpu = dv.getUint32(at + o.cpu, true);
  data.netns = dv.getUint32(at + o.netns_inum, true);
  data.netns_cookie = u64(dv, at + o.net_cookie);
  return data;
}
