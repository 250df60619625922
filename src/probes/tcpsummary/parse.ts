// Tally of one NETLINK_SOCK_DIAG inet_diag dump reply (SOCK_DIAG_BY_FAMILY messages):
//   struct inet_diag_msg { u8 family; u8 state; u8 timer; u8 retrans;
//                          struct inet_diag_sockid id;   (48 bytes, offset 4)
//                          u32 expires; u32 rqueue; u32 wqueue; u32 uid; u32 inode; }  72 bytes
// rqueue/wqueue are what /proc/net/tcp prints as rx_queue/tx_queue (bytes not yet read by the
// application / not yet acknowledged by the peer) for every socket but a listener.
import { NetlinkFormatError, type NlMsg } from "../../netlink/wire.ts";

export const SOCK_DIAG_BY_FAMILY = 20;
export const INET_DIAG_REQ_V2_SIZE = 56;
/** struct inet_diag_msg: its size and where state, rqueue and wqueue sit. */
export const INET_DIAG_MSG = { size: 72, state: 1, rqueue: 56, wqueue: 60 } as const;
export const TCP_ESTABLISHED = 1;
export const TCP_TIME_WAIT = 6;
export const TCP_LISTEN = 10;
/** Every TCP state but LISTEN (TCPF_ALL = 0xfff): listeners count in no summary field. */
export const STATES_BUT_LISTEN = 0xfff & ~(1 << TCP_LISTEN);

export interface TcpSummary {
  established: number;
  timeWait: number;
  /** Sum of wqueue (tx_queue) over non-listening sockets. */
  txQueue: number;
  /** Sum of rqueue (rx_queue) over non-listening sockets. */
  rxQueue: number;
}

export const emptySummary = (): TcpSummary => ({ established: 0, timeWait: 0, txQueue: 0, rxQueue: 0 });

/** Add one SOCK_DIAG_BY_FAMILY message to `sum`. `where` names the dump in errors. */
export function addInetDiagMessage(sum: TcpSummary, view: DataView, msg: NlMsg, where: string): void {
  if (msg.end - msg.payload < INET_DIAG_MSG.size) {
    throw new NetlinkFormatError(`${where}: message at byte ${msg.offset} has ${msg.end - msg.payload} payload bytes, inet_diag_msg needs ${INET_DIAG_MSG.size}`);
  }
  const state = view.getUint8(msg.payload + INET_DIAG_MSG.state);
  if (state === TCP_LISTEN) return;
  if (state === TCP_ESTABLISHED) sum.established++;
  else if (state === TCP_TIME_WAIT) sum.timeWait++;
  sum.rxQueue += view.getUint32(msg.payload + INET_DIAG_MSG.rqueue, true);
  sum.txQueue += view.getUint32(msg.payload + INET_DIAG_MSG.wqueue, true);
}

/** struct inet_diag_req_v2 for a dump of every `family` TCP socket in `states` (no extensions). */
export function inetDiagRequest(family: number, states = STATES_BUT_LISTEN): Uint8Array {
  const req = new Uint8Array(INET_DIAG_REQ_V2_SIZE);
  const dv = new DataView(req.buffer);
  dv.setUint8(0, family);
  dv.setUint8(1, 6); // IPPROTO_TCP
  dv.setUint32(4, states, true);
  return req;
}
