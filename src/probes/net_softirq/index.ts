// net_softirq (event probe with metrics, KubeSkoop's): how long raised NET_TX / NET_RX softirqs
// wait before their handler runs (raise → entry: NETSOFTIRQ_SCHED_*) and how long the handler
// runs (entry → exit: NETSOFTIRQ_EXCUTE_*), per CPU. A latency at or above SlowThreshold is
// *_SLOW, at or above Slow100msThreshold *_100MS; each is counted
// (kpulse_net_softirq_{schedslow,schedslow100ms,excuteslow,excuteslow100ms}) and, within
// MaxEventsPerSecond, reported with the cpu, the task and the latency (bpf/net_softirq.bpf.c; a
// separate object from HUATUO's softirq probes, see there).
import objectPath from "../../../build/bpf/net_softirq.bpf.o" with { type: "file" };
import { lookupPerCpuArraySums } from "../../bpf/maps.ts";
import { key, section } from "../../config/spec.ts";
import type { Sample } from "../../metrics/sample.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { NET_SOFTIRQ_FIELDS, NET_SOFTIRQ_TYPES, NetSoftirqDecoder } from "./decode.ts";

export const NET_SOFTIRQ_CONFIG = section("EventTracing.NetSoftirq", {
  /** Latency (ns) from which a wait or a run is slow (KubeSkoop: 10 ms). */
  SlowThreshold: key.int(10_000_000, 0),
  /** Latency (ns) from which it counts as *_100MS instead (KubeSkoop: 100 ms). */
  Slow100msThreshold: key.int(100_000_000, 0),
  /** BPF rate limit; 0 = unlimited. The counters see every slow softirq regardless. */
  MaxEventsPerSecond: key.int(100, 0),
});

const COUNTER_HELP: Record<string, string> = {
  schedslow: "NET_TX/NET_RX softirqs that waited from raise to entry at least SlowThreshold (default 10 ms) but less than Slow100msThreshold.",
  schedslow100ms: "NET_TX/NET_RX softirqs that waited from raise to entry at least Slow100msThreshold (default 100 ms).",
  excuteslow: "NET_TX/NET_RX softirq handlers that ran at least SlowThreshold (default 10 ms) but less than Slow100msThreshold.",
  excuteslow100ms: "NET_TX/NET_RX softirq handlers that ran at least Slow100msThreshold (default 100 ms).",
};

/** Program groups in attach order: exit, entry, raise (see bpf/net_softirq.bpf.c). */
const PROGRAMS = [
  { alternatives: ["net_softirq_exit_btf", "net_softirq_exit_tp"] },
  { alternatives: ["net_softirq_entry_btf", "net_softirq_entry_tp"] },
  { alternatives: ["net_softirq_raise_btf", "net_softirq_raise_tp"] },
];

export const netSoftirqProbe = defineBpfEventProbe({
  name: "net_softirq",
  source: "bpf tp_btf/softirq_raise, tp_btf/softirq_entry, tp_btf/softirq_exit (fallback: tracepoint irq/*)",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes
  config: NET_SOFTIRQ_CONFIG,
  object: objectPath,
  ring: "net_softirq_events",
  struct: "net_softirq_event",
  fields: NET_SOFTIRQ_FIELDS,
  programs: PROGRAMS,
  rateLimitKey: "MaxEventsPerSecond",
  rodata: ({ config }) => ({ slow_thresh_ns: BigInt(config.SlowThreshold), severe_thresh_ns: BigInt(config.Slow100msThreshold) }),
  decoder({ offsets, config }) {
    const decoder = new NetSoftirqDecoder(offsets, config.SlowThreshold, config.Slow100msThreshold);
    return (u8, dv, at) => decoder.decode(u8, dv, at);
  },
  samples: ({ object }) => {
    const counts = object.map("net_softirq_counts");
    return (): Sample[] => {
      const sums = lookupPerCpuArraySums(counts);
      return NET_SOFTIRQ_TYPES.map(({ counter }, i) => ({ name: counter, help: COUNTER_HELP[counter]!, type: "counter" as const, value: sums[i] ?? 0 }));
    };
  },
});
