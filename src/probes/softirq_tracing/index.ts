// softirq_tracing (event probe): a raised softirq that waited longer than DisabledThreshold
// before its handler ran on that CPU (softirqs held off by local_bh_disable, interrupts off or a
// starved ksoftirqd), or a softirq handler that ran longer than DisabledThreshold, with the
// task and the kernel stack where the wait or the run ended. From irq:softirq_raise /
// softirq_entry / softirq_exit (bpf/softirq.bpf.c, shared with the softirq metric probe).
// Rate-limited in BPF (MaxEventsPerSecond); every suppressed or lost event is counted.
import objectPath from "../../../build/bpf/softirq.bpf.o" with { type: "file" };
import { sharedKallsyms } from "../../bpf/symbols.ts";
import { key, section } from "../../config/spec.ts";
import { defineBpfEventProbe } from "../kit/bpf-events.ts";
import { SOFTIRQ_TRACING_FIELDS, SoftirqTracingDecoder } from "./decode.ts";

export const SOFTIRQ_TRACING_CONFIG = section("EventTracing.Softirq", {
  /** Wait (raise → entry) or run (entry → exit) time, in ns, above which an event is emitted. */
  DisabledThreshold: key.int(10_000_000, 0),
  /** BPF rate limit; 0 = unlimited. kpulse's addition to HUATUO's section. */
  MaxEventsPerSecond: key.int(100, 0),
});

/** Program groups in attach order: exit, entry, raise (see bpf/softirq.bpf.c). */
export const SOFTIRQ_EXIT = { alternatives: ["softirq_exit_btf", "softirq_exit_tp"] };
export const SOFTIRQ_ENTRY = { alternatives: ["softirq_entry_btf", "softirq_entry_tp"] };
export const SOFTIRQ_RAISE = { alternatives: ["softirq_raise_btf", "softirq_raise_tp"] };

export const softirqTracingProbe = defineBpfEventProbe({
  name: "softirq_tracing",
  source: "bpf tp_btf/softirq_raise, tp_btf/softirq_entry, tp_btf/softirq_exit (fallback: tracepoint irq/*)",
  defaultEnabled: true,
  config: SOFTIRQ_TRACING_CONFIG,
  object: objectPath,
  ring: "softirq_tracing_events",
  struct: "softirq_tracing_event",
  fields: SOFTIRQ_TRACING_FIELDS,
  programs: [SOFTIRQ_EXIT, SOFTIRQ_ENTRY, SOFTIRQ_RAISE],
  rateLimitKey: "MaxEventsPerSecond",
  prepare: ({ procfs }) => sharedKallsyms(procfs.proc("kallsyms")).preload(),
  rodata: ({ config }) => ({ trace_events: true, softirq_thresh_ns: BigInt(config.DisabledThreshold) }),
  decoder({ offsets, procfs, config }) {
    const symbols = sharedKallsyms(procfs.proc("kallsyms"));
    const decoder = new SoftirqTracingDecoder(offsets, config.DisabledThreshold, symbols.symbolizer);
    return (u8, dv, at) => decoder.decode(u8, dv, at);
  },
});
