// tcpreset (event probe, KubeSkoop's): every TCP reset a socket sent or received, as
// TCPRESET_NOSOCK (no socket took the segment), TCPRESET_ACTIVE (a socket aborted its own
// connection: close() with SO_LINGER {on, 0} or unread data, tcp_disconnect, timeouts),
// TCPRESET_PROCESS (a socket answered a segment with a reset: bad handshake ACK, data for a
// closed socket) or TCPRESET_RECEIVE (a reset arrived), with the 5-tuple and the socket state.
// Every reset is counted per type (kpulse_tcpreset_{nosock,active,process,receive}) before the
// BPF rate limit (MaxEventsPerSecond) thins the events.
import objectPath from "../../../build/bpf/tcpreset.bpf.o" with { type: "file" };
import { vmlinuxEnum } from "../../bpf/btf.ts";
import { lookupPerCpuArraySums } from "../../bpf/maps.ts";
import { key, section } from "../../config/spec.ts";
import type { Sample } from "../../metrics/sample.ts";
import { TCPRESET_FIELDS, TCPRESET_TYPES, TcpresetDecoder } from "./decode.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";

export const TCPRESET_CONFIG = section("EventTracing.TCPReset", {
  /** BPF rate limit; 0 = unlimited. The per-type counters count every reset regardless. */
  MaxEventsPerSecond: key.int(100, 0),
});

/** Counter names after `<ns>_tcpreset_`, by TCPRESET_* number: the type in lower case. */
export const TCPRESET_COUNTERS = TCPRESET_TYPES.map((t) => t.replace(/^TCPRESET_/, "").toLowerCase());

const COUNTER_HELP: Record<string, string> = {
  nosock: "TCP resets sent for segments no socket took (TCPRESET_NOSOCK).",
  active: "TCP resets sent by sockets aborting their own connection: close() with SO_LINGER 0 or unread data, disconnect, timeouts (TCPRESET_ACTIVE).",
  process: "TCP resets sent by sockets in answer to a segment: bad handshake ACK, data for a closed socket (TCPRESET_PROCESS).",
  receive: "TCP resets received by sockets (TCPRESET_RECEIVE).",
};

/** Reset reasons by number for the running kernel (6.10+); the numbering changes between kernels. */
export function resetReasonNamer(): (n: number) => string {
  let names: Map<number, string>;
  try {
    names = vmlinuxEnum("sk_rst_reason");
  } catch {
    names = new Map();
  }
  const short = new Map([...names].map(([n, s]) => [n, s.replace(/^SK_RST_REASON_/, "")]));
  return (n) => short.get(n) ?? String(n);
}

export const tcpresetProbe = defineBpfEventProbe({
  name: "tcpreset",
  source: "bpf tp_btf/tcp_send_reset, tp_btf/tcp_receive_reset (fallback: tracepoint tcp/*)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  config: TCPRESET_CONFIG,
  object: objectPath,
  ring: "tcpreset_events",
  struct: "tcpreset_event",
  fields: TCPRESET_FIELDS,
  programs: [
    { alternatives: ["tcp_send_reset_reason_btf", "tcp_send_reset_btf", "tcp_send_reset_tp"] },
    { alternatives: ["tcp_receive_reset_btf", "tcp_receive_reset_tp"] },
  ],
  rateLimitKey: "MaxEventsPerSecond",
  decoder({ offsets }) {
    const decoder = new TcpresetDecoder(offsets, resetReasonNamer());
    return (u8, dv, at) => decoder.decode(u8, dv, at);
  },
  samples: ({ object }) => {
    const counts = object.map("tcpreset_counts");
    return (): Sample[] => {
      const sums = lookupPerCpuArraySums(counts);
      return TCPRESET_COUNTERS.map((name, i) => ({ name, help: COUNTER_HELP[name]!, type: "counter" as const, value: sums[i] ?? 0 }));
    };
  },
});
