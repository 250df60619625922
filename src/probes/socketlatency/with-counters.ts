// An event probe from the kit plus counters its BPF object keeps in maps (KubeSkoop's probes
// are both: events over a threshold, per-namespace counters on every scrape). The kit hands the
// loaded object to the decoder factory once; this captures it there and appends the map-metric
// kit's series to the kit's own samples (the outcome counters) on each collect.
import type { BpfObject } from "../../bpf/object.ts";
import type { Sample } from "../../metrics/sample.ts";
import type { BpfEventProbeDefinition } from "../kit/bpf-events.ts";
import { readSeries, type MapSeries } from "../kit/bpf-maps.ts";

/** `make(onLoad)` builds the kit definition; its decoder factory must call onLoad(object). */
export function withMapSeries<C>(
  make: (onLoad: (obj: BpfObject) => void) => BpfEventProbeDefinition<C>,
  series: readonly MapSeries[],
): BpfEventProbeDefinition<C> {
  const base = make(() => {});
  return {
    ...base,
    async create(ctx) {
      let obj: BpfObject | undefined;
      const inst = await make((o) => (obj = o)).create(ctx);
      if (obj) {
        try {
          for (const s of series) obj.map(s.map); // a missing map fails the load, not every scrape
        } catch (err) {
          await inst.stop();
          throw err;
        }
      }
      return {
        async collect(): Promise<Sample[]> {
          const samples = [...((await inst.collect?.()) ?? [])];
          if (obj) for (const s of series) samples.push(...readSeries(obj, s));
          return samples;
        },
        stop: () => inst.stop(),
      };
    },
  };
}

/** Labels of a map keyed by a network namespace's inode number (u32). */
export const netnsLabel = (key: DataView): Record<string, string> => ({ netns: String(key.getUint32(0, true)) });
