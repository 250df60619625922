// Turns one `struct sched_tick_event` ring record into HUATUO's sched_tick tracer_data.
// Offsets come from the loaded object's BTF (bpf/include/sched_tick.h).
import type { Symbolizer } from "../../bpf/kallsyms.ts";
import { cString, StackSymbolizer, u64, type Offsets } from "../kit/decoders.ts";

export const SCHED_TICK_STACK_DEPTH = 64;

/** Field name → size in bytes, as the decoder reads it. */
export const SCHED_TICK_FIELDS = {
  ts_ns: 8, tick_interval_ns: 8, stack: 8 * SCHED_TICK_STACK_DEPTH, stack_bytes: 4, pid: 4, tid: 4, cpu: 4, comm: 16,
} as const;

export type SchedTickOffsets = Offsets<typeof SCHED_TICK_FIELDS>;

export class SchedTickDecoder {
  private readonly stacks: StackSymbolizer;

  constructor(
    private readonly o: SchedTickOffsets,
    private readonly thresholdNs: number,
    symbolize: Symbolizer,
  ) {
    this.stacks = new StackSymbolizer(symbolize);
  }

  decode(u8: Uint8Array, dv: DataView, at: number): Record<string, unknown> {
    const o = this.o;
    const stackBytes = Math.min(dv.getUint32(at + o.stack_bytes, true), 8 * SCHED_TICK_STACK_DEPTH);
    return {
      tick_interval_ns: u64(dv, at + o.tick_interval_ns),
      tick_interval_threshold_ns: this.thresholdNs,
      comm: cString(u8, at + o.comm, 16),
      pid: dv.getUint32(at + o.pid, true),
      cpu: dv.getUint32(at + o.cpu, true),
      // HUATUO's form: "stack:\n" then one frame per line
      stack: "stack:\n" + this.stacks.text(dv, at + o.stack, stackBytes),
    };
  }
}
