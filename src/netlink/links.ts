// rtnetlink link dump helpers shared by the probes that need interface names by index.
import { request, type NetlinkTransport } from "./request.ts";
import { attrsByType, NetlinkFormatError, NLM_F_DUMP, readString, type NlAttr, type NlMsg } from "./wire.ts";

export const RTM_NEWLINK = 16;
export const RTM_GETLINK = 18;
/** struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; } */
export const IFINFOMSG_SIZE = 16;
export const IFLA_IFNAME = 3;
export const IFLA_STATS64 = 23;
const IFLA_EXT_MASK = 29;
/** Ask the kernel to leave the statistics out of a names-only dump (ignored by old kernels). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

/** ifindex → name of every interface, from one RTM_GETLINK dump. */
export function linkNames(t: NetlinkTransport, where: string): Map<number, string> {
  const names = new Map<number, string>();
  const mask = new Uint8Array(4);
  new DataView(mask.buffer).setUint32(0, RTEXT_FILTER_SKIP_STATS, true);
  request(t, { type: RTM_GETLINK, flags: NLM_F_DUMP, payload: new Uint8Array(IFINFOMSG_SIZE), attrs: [{ type: IFLA_EXT_MASK, value: mask }], where }, (view, msg) => {
    if (msg.type !== RTM_NEWLINK) return;
    const link = linkHeader(view, msg.payload, msg.end, where);
    names.set(link.ifindex, readString(view, link.name));
  });
  return names;
}

/** The ifinfomsg index and attributes of one RTM_NEWLINK message, IFLA_IFNAME required. */
export function linkHeader(view: DataView, payload: number, end: number, where: string): { ifindex: number; name: NlAttr; attrs: Map<number, NlAttr> } {
  if (end - payload < IFINFOMSG_SIZE) throw new NetlinkFormatError(`${where}: RTM_NEWLINK payload of ${end - payload} bytes has no ifinfomsg`);
  const ifindex = view.getInt32(payload + 4, true);
  const attrs = attrsByType(view, payload + IFINFOMSG_SIZE, end, `${where}: ifindex ${ifindex}`);
  const name = attrs.get(IFLA_IFNAME);
  if (!name) throw new NetlinkFormatError(`${where}: ifindex ${ifindex}: no IFLA_IFNAME`);
  return { ifindex, name, attrs };
}

// ── link messages as the link-event probes read them (RTM_NEWLINK / RTM_DELLINK) ─────────────

export const RTM_DELLINK = 17;
/** rtnetlink multicast group of link notifications (RTNLGRP_LINK). */
export const RTNLGRP_LINK = 1;

const IFLA_ADDRESS = 1;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_SLAVE_KIND = 4;

export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;

/** What the probes read from one link message. */
export interface LinkMessage {
  /** RTM_NEWLINK or RTM_DELLINK. */
  type: number;
  index: number;
  name: string;
  /** ifinfomsg.ifi_flags (IFF_UP, IFF_LOWER_UP…). */
  flags: number;
  /** IFLA_ADDRESS as Go's net.HardwareAddr prints it ("" when absent). */
  mac: string;
  /** IFLA_INFO_KIND ("veth", "bond"…), "" for devices without one (physical NICs, lo). */
  kind: string;
  /** IFLA_INFO_SLAVE_KIND: "bond" for a bond's slave, "" otherwise. */
  slaveKind: string;
  /** IFLA_MASTER: the ifindex of the master device, 0 for none. */
  master: number;
}

/** Lower-case hex bytes joined by ':' (Go's net.HardwareAddr.String()). */
export function formatMac(view: DataView, a: NlAttr | undefined): string {
  if (!a) return "";
  const parts: string[] = [];
  for (let i = a.value; i < a.end; i++) parts.push(view.getUint8(i).toString(16).padStart(2, "0"));
  return parts.join(":");
}

/** One RTM_NEWLINK / RTM_DELLINK message; throws NetlinkFormatError naming `where` when malformed. */
export function parseLinkMessage(view: DataView, msg: NlMsg, where: string): LinkMessage {
  const { ifindex, name, attrs } = linkHeader(view, msg.payload, msg.end, where);
  let kind = "";
  let slaveKind = "";
  const info = attrs.get(IFLA_LINKINFO);
  if (info) {
    const nested = attrsByType(view, info.value, info.end, `${where}: ifindex ${ifindex}: IFLA_LINKINFO`);
    const k = nested.get(IFLA_INFO_KIND);
    const sk = nested.get(IFLA_INFO_SLAVE_KIND);
    if (k) kind = readString(view, k);
    if (sk) slaveKind = readString(view, sk);
  }
  const master = attrs.get(IFLA_MASTER);
  return {
    type: msg.type,
    index: ifindex,
    name: readString(view, name),
    flags: view.getUint32(msg.payload + 8, true),
    mac: formatMac(view, attrs.get(IFLA_ADDRESS)),
    kind,
    slaveKind,
    master: master && master.end - master.value >= 4 ? view.getUint32(master.value, true) : 0,
  };
}


/** Every link of the socket's namespace, from one RTM_GETLINK dump. */
export function dumpLinks(t: NetlinkTransport, where: string): LinkMessage[] {
  const out: LinkMessage[] = [];
  const mask = new Uint8Array(4);
  new DataView(mask.buffer).setUint32(0, RTEXT_FILTER_SKIP_STATS, true);
  request(t, { type: RTM_GETLINK, flags: NLM_F_DUMP, payload: new Uint8Array(IFINFOMSG_SIZE), attrs: [{ type: IFLA_EXT_MASK, value: mask }], where }, (view, msg) => {
    if (msg.type === RTM_NEWLINK) out.push(parseLinkMessage(view, msg, where));
  });
  return out;
}
