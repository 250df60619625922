// Turns one `struct softirq_tracing_event` ring record into HUATUO's softirq_tracing
// tracer_data. Offsets come from the loaded object's BTF (bpf/include/softirq.h).
import type { Symbolizer } from "../../bpf/kallsyms.ts";
import { cString, StackSymbolizer, u64, type Offsets } from "../kit/decoders.ts";

export const SOFTIRQ_STACK_DEPTH = 64;

/** Field name → size in bytes, as the decoder reads it. */
export const SOFTIRQ_TRACING_FIELDS = {
  ts_ns: 8, offtime_ns: 8, stack: 8 * SOFTIRQ_STACK_DEPTH, stack_bytes: 4, pid: 4, tid: 4, cpu: 4, vec: 4,
  kind: 1, comm: 16,
} as const;

export type SoftirqTracingOffsets = Offsets<typeof SOFTIRQ_TRACING_FIELDS>;

/** Softirq vector names, as the kernel's softirq_to_name (stable since 4.5). */
export const SOFTIRQ_NAMES: readonly string[] = ["HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU"];

/** What offtime measured (struct softirq_tracing_event.kind). */
export const SOFTIRQ_INTERVALS: Readonly<Record<number, string>> = { 1: "raise_to_entry", 2: "entry_to_exit" };

export function softirqName(vec: number): string {
  return SOFTIRQ_NAMES[vec] ?? String(vec);
}

export class SoftirqTracingDecoder {
  private readonly stacks: StackSymbolizer;

  constructor(
    private readonly o: SoftirqTracingOffsets,
    private readonly thresholdNs: number,
    symbolize: Symbolizer,
  ) {
    this.stacks = new StackSymbolizer(symbolize);
  }

  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
    const o = this.o;
    const kind = u8[at + o.kind]!;
    const stackBytes = Math.min(dv.getUint32(at + o.stack_bytes, true), 8 * SOFTIRQ_STACK_DEPTH);
    return {
      // HUATUO's fields, in its order
      offtime: u64(dv, at + o.offtime_ns),
      threshold: this.thresholdNs,
      comm: cString(u8, at + o.comm, 16),
      pid: dv.getUint32(at + o.pid, true),
      cpu: dv.getUint32(at + o.cpu, true),
      now: u64(dv, at + o.ts_ns),
      stack: "stack:\n" + this.stacks.text(dv, at + o.stack, stackBytes),
      // kpulse additions: which softirq, and which of the two intervals offtime is
      softirq: softirqName(dv.getUint32(at + o.vec, true)),
      interval: SOFTIRQ_INTERVALS[kind] ?? String(kind),
    };
  }
}
