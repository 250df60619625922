// memory_events: HUATUO's `memory_events_container_<key>` gauges from each container's cgroup
// memory.events (low, high, max, oom, oom_kill, oom_group_kill, …), filtered by
// [MetricCollector.MemoryEvents] Included / Excluded (matched against the key).
//
// HUATUO has no host series for it, and kpulse has no container source yet: this probe therefore
// emits NOTHING today. What is built is the part that does not depend on containers — the
// section, the filter and memoryEventSamples() (text → container samples) — so the container
// source only has to list containers, read `<cgroup>/memory.events` and call it.
import { includeExcludeKeys, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { ContainerLabels, Sample } from "../../metrics/sample.ts";
import { defineProbe } from "../types.ts";
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
  // Not "procfs …": there is no host file, hence no fixture output to check.
  source: "cgroup <container>/memory.events (containers only; no container source yet: emits no series)",
  defaultEnabled: true,
  config: MEMORY_EVENTS_CONFIG,

  create(ctx) {
    // Compiled now so a bad pattern is reported at start even though nothing is read yet.
    makeFilter(ctx.config.Included, ctx.config.Excluded, "MetricCollector.MemoryEvents");
    return {
      collect(): Sample[] {
        return []; // no containers to read until a container source exists
      },
      stop() {},
    };
  },
});
