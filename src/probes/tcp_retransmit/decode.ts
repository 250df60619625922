// Turns one `struct tcp_retransmit_event` ring record into HUATUO's tcp_retransmit tracer_data.
// Offsets come from the loaded object's BTF (bpf/include/tcp_retransmit.h).
import { cString, ipAddress, tcpStateName, u64, type Offsets } from "../kit/decoders.ts";

/** Field name → size in bytes, as the decoder reads it. */
export const TCP_RETRANSMIT_FIELDS = {
  ts_ns: 8, net_cookie: 8, skb_addr: 8, pid: 4, tid: 4, netns_inum: 4, seq: 4, end_seq: 4, ack_seq: 4,
  sport: 2, dport: 2, family: 1, state: 1, tcp_flags: 1, ca_state: 1, retransmits: 1, kind: 1,
  saddr: 16, daddr: 16, comm: 16,
} as const;

export type TcpRetransmitOffsets = Offsets<typeof TCP_RETRANSMIT_FIELDS>;

const KIND_SYNACK = 2;

// TCP states (include/net/tcp_states.h)
const SYN_SENT = 2, SYN_RECV = 3, FIN_WAIT1 = 4, FIN_WAIT2 = 5, TIME_WAIT = 6, CLOSE = 7, LAST_ACK = 9, CLOSING = 11, NEW_SYN_RECV = 12;
const FLAG_FIN = 0x01, FLAG_SYN = 0x02;

/** HUATUO's phase of the connection the retransmission belongs to. */
export function phase(state: number, flags: number): "connect" | "data" | "close" {
  if (flags & FLAG_SYN || state === SYN_SENT || state === SYN_RECV || state === NEW_SYN_RECV) return "connect";
  if (flags & FLAG_FIN || [FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK, TIME_WAIT, CLOSE].includes(state)) return "close";
  return "data";
}

const FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
const flagText = new Map<number, string>();

/** "SYN|ACK" for the TCPHDR_* bits (cached: there are 256 combinations at most). */
export function tcpFlags(bits: number): string {
  let s = flagText.get(bits);
  if (s === undefined) {
    s = FLAG_NAMES.filter((_, i) => bits & (1 << i)).join("|");
    flagText.set(bits, s);
  }
  return s;
}

const CA_STATES = ["open", "disorder", "cwr", "recovery", "loss"];

/** Why the segment went out again, from the congestion state (HUATUO's tcp_reason names). */
export function retransmitReason(kind: number, state: number, caState: number): string {
  if (kind === KIND_SYNACK || state === SYN_SENT) return "RTO"; // handshake retransmits are timer-driven
  if (caState === 4) return "RTO";
  if (caState === 3) return "fast_retransmit";
  return "unknown";
}

export function decodeTcpRetransmit(o: TcpRetransmitOffsets, u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
  const family = u8[at + o.family]!;
  const state = u8[at + o.state]!;
  const flags = u8[at + o.tcp_flags]!;
  const kind = u8[at + o.kind]!;
  const ca = u8[at + o.ca_state]!;
  return {
    tcp_reason: retransmitReason(kind, state, ca),
    comm: cString(u8, at + o.comm, 16),
    pid: dv.getUint32(at + o.pid, true),
    net_namespace_cookie: u64(dv, at + o.net_cookie),
    net_namespace_inum: dv.getUint32(at + o.netns_inum, true),
    tcp_state: tcpStateName(state),
    tcp_saddr: ipAddress(u8, at + o.saddr, family),
    tcp_daddr: ipAddress(u8, at + o.daddr, family),
    tcp_sport: dv.getUint16(at + o.sport, true),
    tcp_dport: dv.getUint16(at + o.dport, true),
    tcp_seq: dv.getUint32(at + o.seq, true),
    tcp_ack_seq: dv.getUint32(at + o.ack_seq, true),
    tcp_end_seq: dv.getUint32(at + o.end_seq, true),
    tcp_flags: tcpFlags(flags),
    phase: phase(state, flags),
    event_type: kind === KIND_SYNACK ? "retransmit_synack" : "retransmit_skb",
    ca_state: CA_STATES[ca] ?? String(ca),
    icsk_retransmits: u8[at + o.retransmits]!,
    // a kernel address exceeds 2^53: format it from its exact halves
    skb_addr: kind === KIND_SYNACK ? "" : "0x" + dv.getUint32(at + o.skb_addr + 4, true).toString(16) + dv.getUint32(at + o.skb_addr, true).toString(16).padStart(8, "0"),
  };
}
