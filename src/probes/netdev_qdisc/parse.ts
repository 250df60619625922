// Parser for one RTM_NEWQDISC message of an RTM_GETQDISC dump:
//   struct tcmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u32 handle; u32 parent; u32 info; }
//   TCA_KIND   "pfifo_fast", "tbf", …
//   TCA_STATS2 nested: TCA_STATS_BASIC  struct gnet_stats_basic { u64 bytes; u32 packets; }
//                      TCA_STATS_QUEUE  struct gnet_stats_queue { u32 qlen, backlog, drops, requeues, overlimits; }
//                      TCA_STATS_PKT64  u64 packets (sent instead of wrapping the u32 one)
//   TCA_STATS  the legacy struct tc_stats, used only when TCA_STATS2 is missing.
import { attrsByType, needBytes, NetlinkFormatError, readString, readU64, type NlMsg } from "../../netlink/wire.ts";

export const RTM_NEWQDISC = 36;
export const RTM_GETQDISC = 38;
export const TCMSG_SIZE = 20;
/** tcm_parent of a device's root qdisc. */
export const TC_H_ROOT = 0xffffffff;
export const TCA_KIND = 1;
export const TCA_STATS = 3;
export const TCA_STATS2 = 7;
export const TCA_STATS_BASIC = 1;
export const TCA_STATS_QUEUE = 3;
export const TCA_STATS_PKT64 = 8;
/** struct gnet_stats_basic (bytes u64, packets u32) and gnet_stats_queue (u32 each). */
export const GNET_BASIC = { size: 12, bytes: 0, packets: 8 } as const;
export const GNET_QUEUE = { size: 20, qlen: 0, backlog: 4, drops: 8, requeues: 12, overlimits: 16 } as const;
/** struct tc_stats (legacy TCA_STATS): no requeues. */
export const TC_STATS = { size: 36, bytes: 0, packets: 8, drops: 12, overlimits: 16, qlen: 28, backlog: 32 } as const;

export interface QdiscStats {
  ifindex: number;
  handle: number;
  parent: number;
  kind: string;
  bytes: number;
  packets: number;
  drops: number;
  requeues: number;
  overlimits: number;
  qlen: number;
  backlog: number;
}

/** `where` names the reply in errors ("netlink RTM_GETQDISC dump (/proc/1/ns/net)"). */
export function parseQdiscMessage(view: DataView, msg: NlMsg, where: string): QdiscStats {
  if (msg.end - msg.payload < TCMSG_SIZE) {
    throw new NetlinkFormatError(`${where}: RTM_NEWQDISC of ${msg.end - msg.offset} bytes has no tcmsg`);
  }
  const ifindex = view.getInt32(msg.payload + 4, true);
  const handle = view.getUint32(msg.payload + 8, true);
  const parent = view.getUint32(msg.payload + 12, true);
  const at = `${where}: qdisc ${hex(handle)} on ifindex ${ifindex}`;
  const attrs = attrsByType(view, msg.payload + TCMSG_SIZE, msg.end, at);
  const kindAttr = attrs.get(TCA_KIND);
  if (!kindAttr) throw new NetlinkFormatError(`${at}: no TCA_KIND`);
  const kind = readString(view, kindAttr);
  const base = { ifindex, handle, parent, kind };

  const stats2 = attrs.get(TCA_STATS2);
  if (stats2) {
    const s = attrsByType(view, stats2.value, stats2.end, `${at}: TCA_STATS2`);
    const basic = s.get(TCA_STATS_BASIC);
    const queue = s.get(TCA_STATS_QUEUE);
    if (!basic) throw new NetlinkFormatError(`${at}: TCA_STATS2 has no TCA_STATS_BASIC`);
    if (!queue) throw new NetlinkFormatError(`${at}: TCA_STATS2 has no TCA_STATS_QUEUE`);
    const b = needBytes(basic, GNET_BASIC.size, "TCA_STATS_BASIC", at);
    const q = needBytes(queue, GNET_QUEUE.size, "TCA_STATS_QUEUE", at);
    const pkt64 = s.get(TCA_STATS_PKT64);
    return {
      ...base,
      bytes: readU64(view, b + GNET_BASIC.bytes),
      packets: pkt64 ? readU64(view, needBytes(pkt64, 8, "TCA_STATS_PKT64", at)) : view.getUint32(b + GNET_BASIC.packets, true),
      qlen: view.getUint32(q + GNET_QUEUE.qlen, true),
      backlog: view.getUint32(q + GNET_QUEUE.backlog, true),
      drops: view.getUint32(q + GNET_QUEUE.drops, true),
      requeues: view.getUint32(q + GNET_QUEUE.requeues, true),
      overlimits: view.getUint32(q + GNET_QUEUE.overlimits, true),
    };
  }
  // struct tc_stats { u64 bytes; u32 packets, drops, overlimits, bps, pps, qlen, backlog; }
  const legacy = attrs.get(TCA_STATS);
  if (!legacy) throw new NetlinkFormatError(`${at}: neither TCA_STATS2 nor TCA_STATS`);
  const l = needBytes(legacy, TC_STATS.size, "TCA_STATS", at);
  return {
    ...base,
    bytes: readU64(view, l + TC_STATS.bytes),
    packets: view.getUint32(l + TC_STATS.packets, true),
    drops: view.getUint32(l + TC_STATS.drops, true),
    overlimits: view.getUint32(l + TC_STATS.overlimits, true),
    qlen: view.getUint32(l + TC_STATS.qlen, true),
    backlog: view.getUint32(l + TC_STATS.backlog, true),
    requeues: 0, // not in tc_stats
  };
}

const hex = (h: number) => `${(h >>> 16).toString(16)}:${(h & 0xffff).toString(16)}`;
