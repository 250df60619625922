// rtnetlink link dump helpers shared by the probes that need interface names by index.
import { request, type NetlinkTransport } from "./request.ts";
import { attrsByType, NetlinkFormatError, NLM_F_DUMP, readString, type NlAttr } from "./wire.ts";

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
