// Turns one `struct hungtask_event` ring record into the hung task's identity and kernel stack
// (bpf/include/hungtask.h; offsets from the loaded object's BTF). The probe (index.ts) adds the
// other blocked tasks and the sysctl before the event is saved.
import type { Symbolizer } from "../../bpf/kallsyms.ts";
import { cString, StackSymbolizer, type Offsets } from "../kit/decoders.ts";

export const HUNGTASK_STACK_DEPTH = 64;

/** Field name → size in bytes, as the decoder reads it. */
export const HUNGTASK_FIELDS = {
  ts_ns: 8, stack: 8 * HUNGTASK_STACK_DEPTH, stack_bytes: 4, pid: 4, tid: 4, comm: 16,
} as const;

export type HungtaskOffsets = Offsets<typeof HUNGTASK_FIELDS>;

export interface HungTask {
  tid: number;
  /** tgid; 0 when the hook gave only the tid (classic tracepoint). */
  pid: number;
  comm: string;
  /** Symbolized frames, one per line; "" when the hook gave no task to unwind. */
  stack: string;
}

export class HungtaskDecoder {
  private readonly stacks: StackSymbolizer;

  constructor(private readonly o: HungtaskOffsets, symbolize: Symbolizer) {
    this.stacks = new StackSymbolizer(symbolize);
  }

  decode(u8: Uint8Array, dv: DataView, at: number): HungTask {
    const o = this.o;
    const bytes = Math.min(dv.getUint32(at + o.stack_bytes, true), 8 * HUNGTASK_STACK_DEPTH);
    return {
      tid: dv.getUint32(at + o.tid, true),
      pid: dv.getUint32(at + o.pid, true),
      comm: cString(u8, at + o.comm, 16),
      stack: bytes ? this.stacks.text(dv, at + o.stack, bytes) : "",
    };
  }
}
