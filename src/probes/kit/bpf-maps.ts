// The map-metric kit: a BPF probe that publishes counters or gauges from (per-CPU) maps, read
// on each scrape — HUATUO's runqlat / softirq latency zones, KubeSkoop's latency probes,
// ebpf_exporter-style programs. A spec names the object, its program fallbacks and, per series,
// the map, how a key becomes labels and which u64 of the value is the number. Per-CPU values
// are summed over the possible CPUs; whole maps are read with batch lookups.
import { isPerCpu, lookupBatch, possibleCpus } from "../../bpf/maps.ts";
import type { BpfMap, BpfObject, ProgramGroup } from "../../bpf/object.ts";
import type { SectionSpec } from "../../config/spec.ts";
import type { Sample, SampleType } from "../../metrics/sample.ts";
import type { ProbeDefinition, ProbeKind } from "../types.ts";
import { loadEmbeddedObject, type ProbeEnv } from "./bpf-events.ts";

export interface MapSeries {
  /** Map to read. */
  map: string;
  /** Sample name after the probe prefix, e.g. "latency" → `<ns>_runqlat_latency`. */
  name: string;
  help: string;
  type: SampleType;
  /** Key bytes → labels; undefined skips the entry. */
  labels(key: DataView): Record<string, string> | undefined;
  /** Which u64 of the value holds the number (value structs with several counters). Default 0. */
  slot?: number;
  /** Leave out entries whose value is 0 (sparse series, as HUATUO's container zones). */
  skipZero?: boolean;
}

export interface BpfMapProbeSpec<C> {
  name: string;
  kind?: ProbeKind;
  source: string;
  defaultEnabled: boolean;
  config?: SectionSpec<C>;
  /** Path of the embedded .bpf.o (an `import … with { type: "file" }`). */
  object: string;
  programs: ProgramGroup[];
  rodata?(env: ProbeEnv<C>): Record<string, number | bigint | boolean>;
  maxEntries?: Record<string, number>;
  series: MapSeries[];
}

/** Labels for a u32 array index: `{ [label]: String(index) }` (zones, buckets, CPUs). */
export function indexLabel(label: string, names?: readonly string[]): (key: DataView) => Record<string, string> {
  return (key) => {
    const i = key.getUint32(0, true);
    return { [label]: names?.[i] ?? String(i) };
  };
}

/** Labels of a map keyed by a network namespace's inode number (u32): `{ netns }`. */
export const netnsLabel = (key: DataView): Record<string, string> => ({ netns: String(key.getUint32(0, true)) });

/** Value of `slot` (a u64) for entry `i` of a batch read, summed over CPUs for per-CPU maps. */
export function entryValue(map: BpfMap, values: Uint8Array, i: number, slot = 0): number {
  if (!isPerCpu(map)) {
    // values are packed at value_size, which need not be a multiple of 4
    const dv = new DataView(values.buffer, values.byteOffset, values.byteLength);
    const at = i * map.valueSize + slot * 8;
    return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 4294967296;
  }
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.byteLength >>> 2);
  const per = (map.valueSize + 7) & ~7;
  const cpus = possibleCpus();
  let s = 0;
  for (let c = 0, w = (i * per * cpus + slot * 8) >>> 2; c < cpus; c++, w += per >>> 2) s += u32[w]! + u32[w + 1]! * 4294967296;
  return s;
}

/** Samples of one series from a loaded object. */
export function readSeries(obj: BpfObject, s: MapSeries): Sample[] {
  const map = obj.map(s.map);
  if ((s.slot ?? 0) * 8 + 8 > map.valueSize) throw new Error(`map ${s.map}: value is ${map.valueSize} bytes, no u64 at slot ${s.slot}`);
  const { keys, values, count } = lookupBatch(map);
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const labels = s.labels(new DataView(keys.buffer, keys.byteOffset + i * map.keySize, map.keySize));
    if (!labels) continue;
    const value = entryValue(map, values, i, s.slot);
    if (s.skipZero && value === 0) continue;
    out.push({ name: s.name, help: s.help, type: s.type, value, labels });
  }
  return out;
}

export function defineBpfMapProbe<C>(spec: BpfMapProbeSpec<C>): ProbeDefinition<C> {
  return {
    name: spec.name,
    kind: spec.kind ?? "metric",
    source: spec.source,
    defaultEnabled: spec.defaultEnabled,
    config: spec.config,
    async create(ctx) {
      const env: ProbeEnv<C> = { config: ctx.config, log: ctx.log, procfs: ctx.procfs };
      const obj = await loadEmbeddedObject(spec.name, spec.object, spec, spec.rodata?.(env) ?? {}, ctx.log);
      try {
        for (const s of spec.series) obj.map(s.map); // a missing map fails the load, not every scrape
      } catch (err) {
        obj.close();
        throw err;
      }
      ctx.log.info("bpf probe loaded", { programs: obj.attached.map((a) => a.program).join(",") });
      return {
        collect: () => spec.series.flatMap((s) => readSeries(obj, s)),
        stop: () => obj.close(),
      };
    },
  };
}
