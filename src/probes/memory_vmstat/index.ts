// memory_vmstat: HUATUO's `memory_vmstat_<key>` gauges, one per line of /proc/vmstat, filtered by
// [MetricCollector.Vmstat] IncludedOnHost / ExcludedOnHost (matched against the key).
// The container half (`memory_vmstat_container_<key>` from a cgroup's memory.stat, filtered by
// IncludedOnContainer / ExcludedOnContainer) needs a container source: the keys are declared and
// checked now, and vmstatSamples() is what it will call with the memory.stat text.
import { readFile } from "node:fs/promises";
import { key, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { defineProbe } from "../types.ts";
import { parseKeyValues } from "./parse.ts";

export const VMSTAT_CONFIG = section("MetricCollector.Vmstat", {
  IncludedOnHost: key.regex(""),
  ExcludedOnHost: key.regex(""),
  /** For containers' memory.stat (not read yet: no container source). */
  IncludedOnContainer: key.regex(""),
  ExcludedOnContainer: key.regex(""),
});

/**
 * Gauges for the keys of a flat key/value text that pass `keep`. `helpPrefix` is HUATUO's HELP
 * start: "/proc/vmstat" for the host, "cgroup memory.stat" for containers.
 */
export function vmstatSamples(text: string, path: string, keep: NameFilter, helpPrefix: string): Sample[] {
  const samples: Sample[] = [];
  for (const [k, value] of parseKeyValues(text, path)) {
    if (keep(k)) samples.push({ name: k, help: `${helpPrefix} ${k}`, type: "gauge", value });
  }
  return samples;
}

export const memoryVmstatProbe = defineProbe({
  name: "memory_vmstat",
  kind: "metric",
  source: "procfs /proc/vmstat",
  defaultEnabled: true,
  config: VMSTAT_CONFIG,

  create(ctx) {
    const cfg = ctx.config;
    const keepHost = makeFilter(cfg.IncludedOnHost, cfg.ExcludedOnHost, "MetricCollector.Vmstat.*OnHost");
    // Compiled now so a bad container pattern fails at start, not when containers arrive.
    makeFilter(cfg.IncludedOnContainer, cfg.ExcludedOnContainer, "MetricCollector.Vmstat.*OnContainer");
    const path = ctx.procfs.proc("vmstat");
    return {
      async collect(): Promise<Sample[]> {
        return vmstatSamples(await readFile(path, "utf8"), path, keepHost, "/proc/vmstat");
      },
      stop() {},
    };
  },
});
