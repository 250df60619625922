// memory_events: HUATUO's `memory_events_container_<key>` gauges from each container's cgroup
// memory.events (low, high, max, oom, oom_kill, oom_group_kill, …), filtered by
// [MetricCollector.MemoryEvents] Included / Excluded (matched against the key).
//
// HUATUO has no host series. The file exists on cgroup v2 (and on v1 only in Didi's kernel): a
// missing memory.events is skipped silently, as HUATUO ignores ENOENT on v1.
import { ContainerWalk, readCgroupFile } from "../../containers/series.ts";
import { containerLabels } from "../../containers/types.ts";
import { includeExcludeKeys, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { ContainerLabels, Sample } from "../../metrics/sample.ts";
import { containersOf, defineProbe } from "../types.ts";
import { parseMemoryEvents } from "./parse.ts";

export const MEMORY_EVENTS_CONFIG = section("MetricCollector.MemoryEvents", includeExcludeKeys());

/** The series of one container's memory.events text; `path` names the file in errors. */
export function memoryEventSamples(text: string, path: string, keep: NameFilter, container: ContainerLabels): Sample[] {
  const samples: Sample[] = [];
  for (const [k, value] of parseMemoryEvents(text, path)) {
    if (keep(k)) samples.push({ name: k, help: `memory events ${k}`, type: "gauge", value, container });
  }
  return samples;
}

export const memoryEventsProbe = defineProbe({
  name: "memory_events",
  kind: "metric",
  // Not "procfs …": there is no host file, hence no host fixture output to check.
  source: "cgroup <container>/memory.events (containers only)",
  defaultEnabled: true,
  config: MEMORY_EVENTS_CONFIG,

  create(ctx) {
    const keep = makeFilter(ctx.config.Included, ctx.config.Excluded, "MetricCollector.MemoryEvents");
    const view = containersOf(ctx);
    const walk = new ContainerWalk(ctx.log, "memory_events");
    return {
      collect(): Promise<Sample[]> {
        return walk.samples(view.forMetrics(["normal"]), (c) => {
          const text = readCgroupFile(view, c, "memory", "memory.events");
          if (text === undefined) return undefined;
          return memoryEventSamples(text, `${view.cgroupDir(c, "memory")}/memory.events`, keep, containerLabels(c));
        });
      },
      stop() {},
    };
  },
});
