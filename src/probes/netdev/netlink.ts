// netdev's rtnetlink mode (EnableNetlink = true): per-device counters from an RTM_GETLINK dump,
// attribute IFLA_STATS64 (struct rtnl_link_stats64, u64 counters read as u32 pairs).
//
// Series: the 16 names of procfs mode, derived from the same kernel fields the kernel prints in
// /proc/net/dev (net/core/net-procfs.c), plus the netlink-only names HUATUO's netlink mode adds.
// Where a name exists in HUATUO's netlink mode it carries HUATUO's value: receive_dropped is the
// kernel's rx_dropped alone (procfs adds rx_missed_errors, exported here as receive_missed_errors).
import { IFLA_STATS64, linkHeader } from "../../netlink/links.ts";
import { NetlinkFormatError, readString, sumU64, type NlMsg } from "../../netlink/wire.ts";

/** struct rtnl_link_stats64, in kernel order: the index × 8 is the byte offset. */
export const LINK_STATS64_FIELDS = {
  rx_packets: 0, tx_packets: 1, rx_bytes: 2, tx_bytes: 3, rx_errors: 4, tx_errors: 5,
  rx_dropped: 6, tx_dropped: 7, multicast: 8, collisions: 9, rx_length_errors: 10,
  rx_over_errors: 11, rx_crc_errors: 12, rx_frame_errors: 13, rx_fifo_errors: 14,
  rx_missed_errors: 15, tx_aborted_errors: 16, tx_carrier_errors: 17, tx_fifo_errors: 18,
  tx_heartbeat_errors: 19, tx_window_errors: 20, rx_compressed: 21, tx_compressed: 22,
  rx_nohandler: 23,
} as const;
/** Fields every kernel since 2.6.35 sends (rx_nohandler came in 4.6). */
const MIN_FIELDS = 23;

/** Series name (before `_total`) → the kernel fields it sums. */
export const NETLINK_STATS: readonly (readonly [stat: string, fields: readonly (keyof typeof LINK_STATS64_FIELDS)[]])[] = [
  // procfs mode's names
  ["receive_bytes", ["rx_bytes"]],
  ["receive_packets", ["rx_packets"]],
  ["receive_errors", ["rx_errors"]],
  ["receive_dropped", ["rx_dropped"]],
  ["receive_fifo", ["rx_fifo_errors"]],
  ["receive_frame", ["rx_length_errors", "rx_over_errors", "rx_crc_errors", "rx_frame_errors"]],
  ["receive_compressed", ["rx_compressed"]],
  ["receive_multicast", ["multicast"]],
  ["transmit_bytes", ["tx_bytes"]],
  ["transmit_packets", ["tx_packets"]],
  ["transmit_errors", ["tx_errors"]],
  ["transmit_dropped", ["tx_dropped"]],
  ["transmit_fifo", ["tx_fifo_errors"]],
  ["transmit_colls", ["collisions"]],
  ["transmit_carrier", ["tx_carrier_errors", "tx_aborted_errors", "tx_window_errors", "tx_heartbeat_errors"]],
  ["transmit_compressed", ["tx_compressed"]],
  // HUATUO's netlink-only names
  ["multicast", ["multicast"]],
  ["collisions", ["collisions"]],
  ["receive_length_errors", ["rx_length_errors"]],
  ["receive_over_errors", ["rx_over_errors"]],
  ["receive_crc_errors", ["rx_crc_errors"]],
  ["receive_frame_errors", ["rx_frame_errors"]],
  ["receive_fifo_errors", ["rx_fifo_errors"]],
  ["receive_missed_errors", ["rx_missed_errors"]],
  ["transmit_aborted_errors", ["tx_aborted_errors"]],
  ["transmit_carrier_errors", ["tx_carrier_errors"]],
  ["transmit_fifo_errors", ["tx_fifo_errors"]],
  ["transmit_heartbeat_errors", ["tx_heartbeat_errors"]],
  ["transmit_window_errors", ["tx_window_errors"]],
  ["receive_nohandler", ["rx_nohandler"]],
];

export interface LinkStats {
  device: string;
  ifindex: number;
  /** Series stat → value, in NETLINK_STATS order; a stat the kernel does not send is absent. */
  stats: [stat: string, value: number][];
}

/** One RTM_NEWLINK message → the device and its counters. `where` names the reply in errors. */
export function parseLinkMessage(view: DataView, msg: NlMsg, where: string): LinkStats {
  const { ifindex, name, attrs } = linkHeader(view, msg.payload, msg.end, where);
  const device = readString(view, name);
  const at = `${where}: ifindex ${ifindex}`;
  const st = attrs.get(IFLA_STATS64);
  if (!st) throw new NetlinkFormatError(`${at} (${device}): no IFLA_STATS64`);
  const fields = Math.floor((st.end - st.value) / 8);
  if (fields < MIN_FIELDS) {
    throw new NetlinkFormatError(`${at} (${device}): IFLA_STATS64 has ${st.end - st.value} bytes, expected at least ${MIN_FIELDS * 8}`);
  }
  const stats: [string, number][] = [];
  for (const [stat, from] of NETLINK_STATS) {
    if (from.some((f) => LINK_STATS64_FIELDS[f] >= fields)) continue; // older kernel: field not sent
    stats.push([stat, sumU64(view, from.map((f) => st.value + LINK_STATS64_FIELDS[f] * 8))]);
  }
  return { device, ifindex, stats };
}
