// tcp_retransmit (event probe): every TCP retransmission — segments (tcp:tcp_retransmit_skb)
// and a listener's SYN-ACKs (tcp:tcp_retransmit_synack) — with the flow, state, sequence
// numbers and the connection phase. Rate-limited in BPF (MaxEventsPerSecond, 0 = unlimited).
import objectPath from "../../../build/bpf/tcp_retransmit.bpf.o" with { type: "file" };
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { decodeTcpRetransmit, TCP_RETRANSMIT_FIELDS } from "./decode.ts";

export const TCP_RETRANSMIT_CONFIG = section("EventTracing.TCPRetransmit", {
  /** HUATUO's pcap filter for its tcpshark tool; accepted, not applied yet. */
  Filter: key.string(""),
  /** Tail loss probes need a kprobe on tcp_send_loss_probe (no tracepoint): accepted, not used. */
  EnableTLP: key.bool(false),
  /** BPF rate limit; 0 = unlimited. */
  MaxEventsPerSecond: key.int(100, 0),
});

export const tcpRetransmitProbe = defineBpfEventProbe({
  name: "tcp_retransmit",
  source: "bpf tp_btf/tcp_retransmit_skb, tp_btf/tcp_retransmit_synack (fallback: tracepoint tcp/*)",
  defaultEnabled: true,
  config: TCP_RETRANSMIT_CONFIG,
  object: objectPath,
  ring: "tcp_retransmit_events",
  struct: "tcp_retransmit_event",
  fields: TCP_RETRANSMIT_FIELDS,
  programs: [
    { alternatives: ["tcp_retransmit_skb_btf", "tcp_retransmit_skb_tp"] },
    { alternatives: ["tcp_retransmit_synack_btf", "tcp_retransmit_synack_tp"], optional: true },
  ],
  rateLimitKey: "MaxEventsPerSecond",
  decoder: ({ offsets }) => (u8, dv, at) => decodeTcpRetransmit(offsets, u8, dv, at),
});
