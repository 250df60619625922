// The event-probe kit: a BPF event probe is a spec (object, ring, event struct, program
// fallbacks, which config key is its rate limit) plus a decoder from one ring record to its
// tracer_data. The kit loads the object, checks the struct layout against the object's BTF,
// registers the ring with the shared scheduler, stamps time, and exports the object's outcome
// counters (bpf/include/kpulse_common.h) by the names the object's own BTF gives them, so no
// loss is silent and no enum is copied by hand.
import { monotonicToEpochMs } from "../../bpf/clock.ts";
import { lookupPerCpuArraySums } from "../../bpf/maps.ts";
import { BpfLoadError, BpfObject, type ProgramGroup } from "../../bpf/object.ts";
import { sharedRingScheduler } from "../../bpf/ring-scheduler.ts";
import type { Logger } from "../../log.ts";
import type { ProbeEvent } from "../../events/record.ts";
import type { ProcfsRoot } from "../../procfs/root.ts";
import type { HistogramSample, MetricSample, Sample } from "../../metrics/sample.ts";
import { ProbeUnsupportedError, type ProbeContext, type ProbeDefinition, type ProbeInstance, type ProbeKind, type RuntimeCapabilities } from "../types.ts";
import type { SectionSpec } from "../../config/spec.ts";
import { readSeries, type MapSeries } from "./bpf-maps.ts";
import { resolveLayout, u64, type FieldSizes, type Offsets } from "./decoders.ts";

type NumericKeys<C> = { [K in keyof C]: C[K] extends number ? K : never }[keyof C];

/** What the spec's hooks get: the probe's config, log and procfs root. */
export interface ProbeEnv<C> {
  config: C;
  log: Logger;
  procfs: ProcfsRoot;
}

/** What a decoder gets once the object is loaded. */
export interface DecoderEnv<C, F extends FieldSizes> extends ProbeEnv<C> {
  /** Byte offsets of the declared fields in the event struct. */
  offsets: Offsets<F>;
  object: BpfObject;
}

/** One ring record → tracer_data; `null` drops it (counted as filtered in user space). */
export type RecordDecoder = (u8: Uint8Array, dv: DataView, at: number, length: number) => Record<string, unknown> | null;

export interface BpfEventProbeSpec<C, F extends FieldSizes> {
  name: string;
  kind?: ProbeKind;
  source: string;
  defaultEnabled: boolean;
  tracerName?: string;
  config?: SectionSpec<C>;
  /** Capabilities it uses once running (ProbeDefinition.runtimeCapabilities). */
  runtimeCapabilities?: RuntimeCapabilities;
  /** Path of the embedded .bpf.o (an `import … with { type: "file" }`). */
  object: string;
  /** The BPF_MAP_TYPE_RINGBUF map events leave through. */
  ring: string;
  /** The event struct in the object's BTF, and the fields (name → size) the decoder reads. */
  struct: string;
  fields: F;
  /** Program groups, each an ordered list of alternatives (tracepoint first, then fallbacks). */
  programs: ProgramGroup[];
  /** Config key holding the BPF rate limit (kpulse_max_events_per_sec; 0 = unlimited). */
  rateLimitKey?: NumericKeys<C>;
  /** Slow preparation before load (e.g. a symbol index), awaited so it can avoid blocking. */
  prepare?(env: ProbeEnv<C>): Promise<void>;
  /** Further `.rodata` constants (thresholds, filters) from the config. */
  rodata?(env: ProbeEnv<C>): Record<string, number | bigint | boolean>;
  maxEntries?: Record<string, number>;
  /** Counters or gauges the object keeps in maps, read on every scrape (map-metric kit series). */
  series?: readonly MapSeries[];
  /**
   * Samples of the probe's own, besides the kit's outcome counters (histograms included): built
   * once the object is loaded (a throw fails the load), called on every scrape.
   */
  samples?(env: DecoderEnv<C, F>): () => MetricSample[];
  /** Work before load (e.g. warm a symbol index) and the decoder, built once the object is loaded. */
  decoder(env: DecoderEnv<C, F>): RecordDecoder;
  /**
   * Where the event happened, from the raw record (e.g. a memory cgroup id), for container
   * attribution. Without it the framework looks at the decoded data (net_namespace_inum…).
   */
  identity?(dv: DataView, at: number, offsets: Offsets<F>): ProbeEvent["identity"];
}

/** HELP of `<ns>_<probe>_events_total{outcome}` (probes adding outcomes of their own reuse it). */
export const EVENTS_HELP = "Kernel events seen by the probe, by what became of them (decode_error and user_filtered: in user space).";

/** A BPF event probe's definition, with what tests need to check its layout against its object. */
export interface BpfEventProbeDefinition<C> extends ProbeDefinition<C> {
  readonly bpf: { readonly object: string; readonly struct: string; readonly fields: FieldSizes };
}

/** The ProbeDefinition of a BPF event probe. */
export function defineBpfEventProbe<C, F extends FieldSizes>(spec: BpfEventProbeSpec<C, F>): BpfEventProbeDefinition<C> {
  return {
    bpf: { object: spec.object, struct: spec.struct, fields: spec.fields },
    name: spec.name,
    kind: spec.kind ?? "event",
    source: spec.source,
    defaultEnabled: spec.defaultEnabled,
    tracerName: spec.tracerName,
    config: spec.config,
    runtimeCapabilities: spec.runtimeCapabilities,
    create: (ctx) => startBpfEventProbe(ctx, spec),
  };
}

function loadObject(name: string, bytes: Uint8Array, spec: { programs: ProgramGroup[]; maxEntries?: Record<string, number> }, rodata: Record<string, number | bigint | boolean>, log: Logger): BpfObject {
  try {
    return BpfObject.load({ name, bytes, rodata, groups: spec.programs, maxEntries: spec.maxEntries }, log);
  } catch (err) {
    // A kernel without the hook (ENOENT and friends) is "unsupported", anything else "failed".
    if (err instanceof BpfLoadError && err.unsupported) throw new ProbeUnsupportedError(err.message);
    throw err;
  }
}

/** Loads a BPF object from its embedded bytes, mapping a missing hook to ProbeUnsupportedError. */
export async function loadEmbeddedObject(
  name: string,
  objectPath: string,
  spec: { programs: ProgramGroup[]; maxEntries?: Record<string, number> },
  rodata: Record<string, number | bigint | boolean>,
  log: Logger,
): Promise<BpfObject> {
  const bytes = await Bun.file(objectPath).bytes();
  return loadObject(name, bytes, spec, rodata, log);
}

/** Outcome labels by counter index, from `enum kpulse_outcome` in the object's BTF. */
export function outcomeLabels(obj: BpfObject): string[] {
  const names = obj.enumNames("kpulse_outcome");
  const out: string[] = [];
  for (const [value, name] of names) {
    if (name.endsWith("_MAX")) continue;
    out[value] = name.replace(/^KPULSE_/, "").toLowerCase();
  }
  return out;
}

async function startBpfEventProbe<C, F extends FieldSizes>(ctx: ProbeContext<C>, spec: BpfEventProbeSpec<C, F>): Promise<ProbeInstance> {
  const cfg = ctx.config;
  const env: ProbeEnv<C> = { config: cfg, log: ctx.log, procfs: ctx.procfs };
  await spec.prepare?.(env);
  const rodata: Record<string, number | bigint | boolean> = { ...spec.rodata?.(env) };
  if (spec.rateLimitKey !== undefined) rodata.kpulse_max_events_per_sec = cfg[spec.rateLimitKey] as number;
  const obj = await loadEmbeddedObject(spec.name, spec.object, spec, rodata, ctx.log);

  let consumer: { stop(): void; readonly handlerErrors: number } | undefined;
  try {
    const offsets = resolveLayout(spec.struct, obj.structLayout(spec.struct), spec.fields);
    const recordSize = obj.structSize(spec.struct);
    const labels = outcomeLabels(obj);
    const outcomes = obj.map("kpulse_outcomes");
    const decoderEnv: DecoderEnv<C, F> = { ...env, offsets, object: obj };
    const decode = spec.decoder(decoderEnv);
    for (const sr of spec.series ?? []) obj.map(sr.map); // a missing map fails the load, not every scrape
    const ownSamples = spec.samples?.(decoderEnv);
    const tsAt = (offsets as Record<string, number>).ts_ns;
    let userFiltered = 0;
    let shortRecords = 0;

    consumer = sharedRingScheduler().add(
      obj.map(spec.ring),
      (u8, dv, at, len) => {
        if (len < recordSize) {
          shortRecords++;
          throw new Error(`ring record of ${len} bytes, struct ${spec.struct} is ${recordSize}`);
        }
        const data = decode(u8, dv, at, len);
        if (data === null) {
          userFiltered++;
          return;
        }
        ctx.emit({ timeMs: tsAt === undefined ? undefined : monotonicToEpochMs(u64(dv, at + tsAt)), data, identity: spec.identity?.(dv, at, offsets) });
      },
      {
        name: spec.name,
        // One bad record must not stop the consumer: it is counted; the first few are logged.
        onError: (err) => {
          // handlerErrors already counts this error
          if ((consumer?.handlerErrors ?? 0) <= 5) ctx.log.warn("cannot decode ring record", { err: String(err), short_records: shortRecords });
        },
      },
    );
    ctx.log.info("bpf probe loaded", { programs: obj.attached.map((a) => a.program).join(",") });

    return {
      collect(): Sample[] {
        const sums = lookupPerCpuArraySums(outcomes);
        const samples: Sample[] = [];
        labels.forEach((outcome, i) => samples.push({ name: "events_total", help: EVENTS_HELP, type: "counter", value: sums[i] ?? 0, labels: { outcome } }));
        samples.push(
          { name: "events_total", help: EVENTS_HELP, type: "counter", value: consumer?.handlerErrors ?? 0, labels: { outcome: "decode_error" } },
          { name: "events_total", help: EVENTS_HELP, type: "counter", value: userFiltered, labels: { outcome: "user_filtered" } },
        );
        for (const sr of spec.series ?? []) samples.push(...readSeries(obj, sr));
        if (ownSamples) for (const s of ownSamples()) if (s.type !== "histogram") samples.push(s);
        return samples;
      },
      histograms(): HistogramSample[] {
        return ownSamples ? (ownSamples().filter((s) => s.type === "histogram") as HistogramSample[]) : [];
      },
      stop() {
        consumer?.stop();
        obj.close();
      },
    };
  } catch (err) {
    consumer?.stop();
    obj.close();
    throw err;
  }
}
