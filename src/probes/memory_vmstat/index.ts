// memory_vmstat: HUATUO's `memory_vmstat_<key>` gauges, one per line of /proc/vmstat, filtered by
// [MetricCollector.Vmstat] IncludedOnHost / ExcludedOnHost (matched against the key), and per
// normal container `memory_vmstat_container_<key>` from its cgroup's memory.stat, filtered by
// IncludedOnContainer / ExcludedOnContainer.
import { readFile } from "node:fs/promises";
import { asContainer, ContainerWalk, readCgroupFile } from "../../containers/series.ts";
import { key, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { containersOf, defineProbe } from "../types.ts";
import { parseKeyValues } from "./parse.ts";

export const VMSTAT_CONFIG = section("MetricCollector.Vmstat", {
  IncludedOnHost: key.regex(""),
  ExcludedOnHost: key.regex(""),
  /** For containers' memory.stat. */
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
  source: "procfs /proc/vmstat; containers: cgroup memory.stat",
  defaultEnabled: true,
  config: VMSTAT_CONFIG,

  create(ctx) {
    const cfg = ctx.config;
    const keepHost = makeFilter(cfg.IncludedOnHost, cfg.ExcludedOnHost, "MetricCollector.Vmstat.*OnHost");
    const keepContainer = makeFilter(cfg.IncludedOnContainer, cfg.ExcludedOnContainer, "MetricCollector.Vmstat.*OnContainer");
    const path = ctx.procfs.proc("vmstat");
    const view = containersOf(ctx);
    const walk = new ContainerWalk(ctx.log, "memory_vmstat");
    const containerSeries = () =>
      walk.samples(view.forMetrics(["normal"]), (c) => {
        const text = readCgroupFile(view, c, "memory", "memory.stat");
        if (text === undefined) return undefined;
        return asContainer(vmstatSamples(text, `${view.cgroupDir(c, "memory")}/memory.stat`, keepContainer, "cgroup memory.stat"), c);
      });
    return {
      async collect(): Promise<Sample[]> {
        const host = vmstatSamples(await readFile(path, "utf8"), path, keepHost, "/proc/vmstat");
        return [...host, ...(await containerSeries())];
      },
      stop() {},
    };
  },
});
