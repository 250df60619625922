// Turns one `struct dropwatch_event` ring record into HUATUO's dropwatch tracer_data.
// `type` is HUATUO's classification (dropType below); bpf/dropwatch.bpf.c applies the same
// listener tests (listener_overflowing) so that such drops are never filtered as ordinary.
// Offsets come from the BTF of the object that was loaded (see bpf/include/dropwatch.h),
// never from a hand-kept copy: DROPWATCH_FIELDS only states which fields we read and their
// sizes, and the event-probe kit refuses an object that disagrees.
import type { Symbolizer } from "../../bpf/kallsyms.ts";
import { cString, ipAddress, l4ProtocolName, StackSymbolizer, tcpStateName, u64, type Offsets } from "../kit/decoders.ts";

export const DROPWATCH_STACK_DEPTH = 48;

/** Field name → size in bytes, as the decoder reads it. */
export const DROPWATCH_FIELDS = {
  ts_ns: 8, skb_addr: 8, location: 8, net_cookie: 8, stack: 8 * DROPWATCH_STACK_DEPTH,
  stack_bytes: 4, pid: 4, tid: 4, reason: 4, netns_inum: 4, ifindex: 4, dev_flags: 4,
  pkt_len: 4, seq: 4, ack_seq: 4, sk_max_ack_backlog: 4, sk_ack_backlog: 4, syn_qlen: 4,
  queue_mapping: 2, eth_proto: 2, sport: 2, dport: 2,
  family: 1, l4_proto: 1, sk_state: 1, tcp_flags: 1, carrier_ok: 1,
  saddr: 16, daddr: 16, comm: 16, netdev: 16,
} as const;

export type DropwatchOffsets = Offsets<typeof DROPWATCH_FIELDS>;

export interface DecodeDeps {
  reasonName(reason: number): string;
  /** The reason's group; default: dropReasonGroup(reasonName(reason)). */
  reasonGroup?(reason: number): string;
  /** Kernel address as (high, low) 32-bit halves → "symbol+0xoff". */
  symbolize: Symbolizer;
}

const IFF_UP = 0x1;
const TCP_LISTEN = 10;
const TCP_FLAG_SYN = 0x02;
const TCP_FLAG_ACK = 0x10;
const IPPROTO_TCP = 6;

/** HUATUO's drop types: queue overflows on a listener are told apart from ordinary drops. */
export function dropType(reason: string, skState: number, tcpFlags: number, ackBacklog: number,
  maxAckBacklog: number, synQlen: number): string {
  const syn = (tcpFlags & TCP_FLAG_SYN) !== 0 && (tcpFlags & TCP_FLAG_ACK) === 0;
  if (skState === TCP_LISTEN) {
    const acceptQueueFull = ackBacklog > maxAckBacklog;
    if (syn && acceptQueueFull) return "listen_overflow_handshake1";
    if (syn && synQlen >= maxAckBacklog) return "syn_flood";
    if (!syn && acceptQueueFull) return "listen_overflow_handshake3";
  }
  if (reason.endsWith("TCP_LISTEN_OVERFLOW")) return "listen_overflow_handshake3";
  return "common_drop";
}

/**
 * The kernel's drop reasons grouped by the part of the stack that drops (HUATUO only groups
 * hardware traps, by devlink trap group; kpulse groups the software reasons too). Ordered
 * prefix rules over the name without SKB_DROP_REASON_; a reason no rule knows (a newer kernel's)
 * is "other", a bare number (no name on this kernel) "unknown". Subsystem reasons (OVS,
 * mac80211) are grouped by their subsystem before this is consulted (shared.ts).
 */
const REASON_GROUPS: readonly (readonly [RegExp, string])[] = [
  [/^TCP_/, "tcp"],
  [/^UDP_/, "udp"],
  [/^ICMP_/, "icmp"],
  [/^(NEIGH_|ARP_|IPV6_NDISC_)/, "neigh"],
  [/^NETFILTER_/, "netfilter"],
  [/^(XFRM_|PSP_)/, "xfrm"],
  [/^(VXLAN_|TUNNEL_|IP_TUNNEL_)/, "tunnel"],
  [/^(IP_|IPV6|PKT_TOO_BIG|DUP_FRAG|FRAG_|OTHERHOST|UNICAST_IN_L2_MULTICAST|INVALID_PROTO)/, "ip"],
  [/^(NO_SOCKET|SOCKET_|PROTO_MEM|UNIX_|PACKET_SOCK_ERROR|SKB_UCOPY_FAULT|QUEUE_PURGE)/, "socket"],
  [/^(QDISC_|CAKE_|FQ_|DUALPI2_)/, "qdisc"],
  [/^TC_/, "tc"],
  [/^(XDP|BPF_)/, "bpf"],
  [/^BRIDGE_/, "bridge"],
  [/^(CAN_|CANFD_|CANXL_)/, "can"],
  [/^(DEV_|FULL_RING|CPU_BACKLOG|UNHANDLED_PROTO|MAC_|LOCAL_MAC|NO_TX_TARGET|TAP_|RECURSION_LIMIT)/, "device"],
  [/^SECURITY_/, "security"],
  [/^(NOT_SPECIFIED|NOT_DROPPED_YET|CONSUMED|NOMEM|PFMEMALLOC|SKB_|HDR_TRUNC|PKT_TOO_SMALL)/, "core"],
];

export function dropReasonGroup(reason: string): string {
  if (/^\d+$/.test(reason)) return "unknown";
  // "SKB_DROP_REASON_TCP_CSUM" → "TCP_CSUM"; the two that lack the prefix: SKB_NOT_DROPPED_YET, SKB_CONSUMED
  const name = reason.replace(/^SKB_DROP_REASON_/, "").replace(/^SKB_(NOT_DROPPED_YET|CONSUMED)$/, "$1");
  for (const [re, group] of REASON_GROUPS) if (re.test(name)) return group;
  return "other";
}

// The four link states, built once (records share them; nothing mutates tracer_data).
const NO_DEVICE: readonly string[] = [];
const LINK_STATUS: readonly (readonly string[])[] = [
  ["linkStatusAdminDown", "linkStatusCarrierDown"],
  ["linkStatusAdminDown", "linkStatusCarrierUp"],
  ["linkStatusAdminUp", "linkStatusCarrierDown"],
  ["linkStatusAdminUp", "linkStatusCarrierUp"],
];

function linkStatus(flags: number, carrierOk: number, hasDevice: boolean): readonly string[] {
  if (!hasDevice) return NO_DEVICE;
  return LINK_STATUS[(flags & IFF_UP ? 2 : 0) + (carrierOk ? 1 : 0)]!;
}

export class DropwatchDecoder {
  private readonly stacks: StackSymbolizer;
  private readonly reasonGroup: (reason: number) => string;

  constructor(private readonly o: DropwatchOffsets, private readonly deps: DecodeDeps) {
    this.stacks = new StackSymbolizer(deps.symbolize);
    this.reasonGroup = deps.reasonGroup ?? ((n) => dropReasonGroup(deps.reasonName(n)));
  }

  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
    const o = this.o;
    // 64-bit values as exact halves: kernel addresses exceed 2^53.
    const family = u8[at + o.family]!;
    const saddr = ipAddress(u8, at + o.saddr, family);
    const daddr = ipAddress(u8, at + o.daddr, family);
    const l4 = u8[at + o.l4_proto]!;
    const skState = u8[at + o.sk_state]!;
    const reasonNumber = dv.getUint32(at + o.reason, true);
    const reason = this.deps.reasonName(reasonNumber);
    const ifindex = dv.getUint32(at + o.ifindex, true);
    const isTcp = l4 === IPPROTO_TCP;
    const maxAckBacklog = dv.getUint32(at + o.sk_max_ack_backlog, true);
    const locLo = dv.getUint32(at + o.location, true), locHi = dv.getUint32(at + o.location + 4, true);

    return {
      type: dropType(reason, skState, u8[at + o.tcp_flags]!, dv.getUint32(at + o.sk_ack_backlog, true),
        maxAckBacklog, dv.getUint32(at + o.syn_qlen, true)),
      comm: cString(u8, at + o.comm, 16),
      pid: dv.getUint32(at + o.pid, true),
      tid: dv.getUint32(at + o.tid, true),
      saddr,
      daddr,
      sport: dv.getUint16(at + o.sport, true),
      dport: dv.getUint16(at + o.dport, true),
      protocol: family ? l4ProtocolName(l4) : "",
      // HUATUO resolves these by reverse DNS; kpulse does no lookups on the event path.
      src_hostname: "<nil>",
      dest_hostname: "<nil>",
      max_ack_backlog: maxAckBacklog,
      seq: isTcp ? dv.getUint32(at + o.seq, true) : 0,
      ack_seq: isTcp ? dv.getUint32(at + o.ack_seq, true) : 0,
      pkt_len: dv.getUint32(at + o.pkt_len, true),
      sk_state: skState ? tcpStateName(skState) : "",
      drop_reason: reason,
      drop_reason_group: this.reasonGroup(reasonNumber),
      drop_location: locLo || locHi ? this.deps.symbolize(locHi, locLo) : "",
      stack: this.stacks.text(dv, at + o.stack, Math.min(dv.getUint32(at + o.stack_bytes, true), 8 * DROPWATCH_STACK_DEPTH)),
      netdev_queue_mapping: dv.getUint16(at + o.queue_mapping, true),
      netdev_linkstatus: linkStatus(dv.getUint32(at + o.dev_flags, true), u8[at + o.carrier_ok]!, ifindex !== 0),
      netdev_name: cString(u8, at + o.netdev, 16),
      netdev_ifindex: ifindex,
      // HUATUO's name (its guide's sample still says net_cookie); a number, as there
      net_namespace_cookie: u64(dv, at + o.net_cookie),
      net_namespace_inum: dv.getUint32(at + o.netns_inum, true),
    };
  }
}
