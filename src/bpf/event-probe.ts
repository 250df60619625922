// The common shape of a BPF event probe: load the embedded object, consume its ring buffer
// on the main thread, decode each record into an event, and export the object's outcome
// counters (bpf/include/kpulse_common.h) so no loss is silent.
import type { Sample } from "../metrics/sample.ts";
import { ProbeUnsupportedError, type ProbeContext, type ProbeInstance } from "../probes/types.ts";
import { BpfLoadError, BpfObject, type ProgramGroup } from "./object.ts";
import { lookupPerCpuArraySums } from "./maps.ts";
import { RingBufferReader, type RingRecordHandler } from "./ringbuf.ts";

/** Index order of enum kpulse_outcome in kpulse_common.h. */
const OUTCOMES = ["emitted", "ratelimited", "ringbuf_full", "filtered"] as const;
const EVENTS_HELP = "Kernel events seen by the probe, by what became of them (decode_error: dropped in user space).";

export interface EventObjectSpec {
  probe: string;
  /** Path of the embedded .bpf.o (an `import … with { type: "file" }`). */
  objectPath: string;
  ringMap: string;
  rodata?: Record<string, number | bigint | boolean>;
  groups: ProgramGroup[];
  maxEntries?: Record<string, number>;
  /** Called once the object is loaded (its BTF is then available for the layout). */
  makeDecoder(obj: BpfObject): RingRecordHandler;
}

export async function startEventObject(ctx: ProbeContext, spec: EventObjectSpec): Promise<ProbeInstance> {
  const bytes = await Bun.file(spec.objectPath).bytes();
  let obj: BpfObject;
  try {
    obj = BpfObject.load(
      { name: spec.probe, bytes, rodata: spec.rodata, groups: spec.groups, maxEntries: spec.maxEntries },
      ctx.log,
    );
  } catch (err) {
    // A kernel without the hook (ENOENT and friends) is "unsupported", anything else "failed".
    if (err instanceof BpfLoadError && err.unsupported) throw new ProbeUnsupportedError(err.message);
    throw err;
  }
  let reader: RingBufferReader;
  let decodeErrors = 0;
  try {
    const handle = spec.makeDecoder(obj);
    // One bad record must not stop the consumer: count it, log the first few.
    reader = new RingBufferReader(obj.map(spec.ringMap), (u8, dv, at, len) => {
      try {
        handle(u8, dv, at, len);
      } catch (err) {
        if (decodeErrors++ < 5) ctx.log.warn("cannot decode ring record", { probe: spec.probe, err: String(err) });
      }
    });
  } catch (err) {
    obj.close();
    throw err;
  }
  const outcomes = obj.map("kpulse_outcomes");
  ctx.log.info("bpf probe loaded", { probe: spec.probe, programs: obj.attached.map((a) => a.program).join(",") });

  return {
    start: () => reader.start(),
    collect(): Sample[] {
      const sums = lookupPerCpuArraySums(outcomes);
      const samples: Sample[] = OUTCOMES.map((outcome, i) => ({
        name: "events_total",
        help: EVENTS_HELP,
        type: "counter",
        value: sums[i] ?? 0,
        labels: { outcome },
      }));
      samples.push({
        name: "events_total",
        help: EVENTS_HELP,
        type: "counter",
        value: decodeErrors,
        labels: { outcome: "decode_error" },
      });
      return samples;
    },
    stop() {
      reader.stop();
      obj.close();
    },
  };
}
