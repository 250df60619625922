// Parser for the reply to RTM_GETDCB / DCB_CMD_IEEE_GET (net/dcb/dcbnl.c):
//   struct dcbmsg { u8 dcb_family; u8 cmd; u16 dcb_pad; }
//   DCB_ATTR_IFNAME  the device
//   DCB_ATTR_IEEE    nested: DCB_ATTR_IEEE_PFC  struct ieee_pfc {
//                      u8 pfc_cap, pfc_en, mbc; u16 delay;
//                      u64 requests[8];     PFC frames sent, per priority      (offset 8)
//                      u64 indications[8];  PFC frames received, per priority  (offset 72) }
import { attrsByType, needBytes, NetlinkFormatError, readU64, type NlMsg } from "../../netlink/wire.ts";

export const RTM_GETDCB = 78;
export const DCB_CMD_IEEE_GET = 21;
export const DCBMSG_SIZE = 4;
export const DCB_ATTR_IFNAME = 1;
export const DCB_ATTR_IEEE = 13;
export const DCB_ATTR_IEEE_PFC = 2;
/** IEEE_8021QAZ_MAX_TCS */
export const PFC_PRIORITIES = 8;
/** struct ieee_pfc: its size and the offsets of requests[] and indications[]. */
export const IEEE_PFC = { size: 136, requests: 8, indications: 72 } as const;

export interface PfcCounters {
  /** Per priority 0–7: PFC frames sent (ieee_pfc.requests). */
  sent: number[];
  /** Per priority 0–7: PFC frames received (ieee_pfc.indications). */
  received: number[];
}

/** The PFC counters of a DCB_CMD_IEEE_GET reply; undefined when the driver reports no PFC. */
export function parseIeeeGetReply(view: DataView, msg: NlMsg, where: string): PfcCounters | undefined {
  if (msg.end - msg.payload < DCBMSG_SIZE) throw new NetlinkFormatError(`${where}: reply of ${msg.end - msg.offset} bytes has no dcbmsg`);
  const cmd = view.getUint8(msg.payload + 1);
  if (cmd !== DCB_CMD_IEEE_GET) throw new NetlinkFormatError(`${where}: reply is for DCB command ${cmd}, not DCB_CMD_IEEE_GET (${DCB_CMD_IEEE_GET})`);
  const ieee = attrsByType(view, msg.payload + DCBMSG_SIZE, msg.end, where).get(DCB_ATTR_IEEE);
  if (!ieee) return undefined;
  const pfc = attrsByType(view, ieee.value, ieee.end, `${where}: DCB_ATTR_IEEE`).get(DCB_ATTR_IEEE_PFC);
  if (!pfc) return undefined;
  const at = needBytes(pfc, IEEE_PFC.size, "DCB_ATTR_IEEE_PFC", where);
  const sent: number[] = [];
  const received: number[] = [];
  for (let p = 0; p < PFC_PRIORITIES; p++) {
    sent.push(readU64(view, at + IEEE_PFC.requests + p * 8));
    received.push(readU64(view, at + IEEE_PFC.indications + p * 8));
  }
  return { sent, received };
}
