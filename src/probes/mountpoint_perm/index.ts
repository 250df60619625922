// mountpoint_perm: HUATUO's `mountpoint_perm_ro{mountpoint}`, 1 when a mount point is mounted
// read-only (the per-mount "ro" option), from /proc/self/mountinfo (kpulse's own mount
// namespace, as HUATUO). Only the mount a process sees at each path is reported: a mount stacked
// over another hides it (see visibleMounts), so a path never gives two series.
import { readFile } from "node:fs/promises";
import { key, section } from "../../config/spec.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { defineProbe } from "../types.ts";
import { parseMountInfo, visibleMounts } from "./parse.ts";

export const MOUNTPOINT_CONFIG = section("MetricCollector.MountPointStat", {
  /** Whitelist of mount points (Go regex, unanchored); "" = every mount point. No Excluded key. */
  MountPointsIncluded: key.regex(""),
});

const HELP = "whether mountpoint is readonly or not";

/** The series of one mountinfo text (another process's view would reuse this). */
export function mountPointSamples(text: string, path: string, keep: NameFilter): Sample[] {
  const samples: Sample[] = [];
  for (const m of visibleMounts(parseMountInfo(text, path))) {
    if (!keep(m.mountPoint)) continue;
    samples.push({ name: "ro", help: HELP, type: "gauge", value: m.options.includes("ro") ? 1 : 0, labels: { mountpoint: m.mountPoint } });
  }
  return samples;
}

export const mountpointPermProbe = defineProbe({
  name: "mountpoint_perm",
  kind: "metric",
  source: "procfs /proc/self/mountinfo",
  defaultEnabled: true,
  config: MOUNTPOINT_CONFIG,

  create(ctx) {
    const keep = makeFilter(ctx.config.MountPointsIncluded, "", "MetricCollector.MountPointStat.MountPoints");
    const path = ctx.procfs.proc("self", "mountinfo");
    return {
      async collect(): Promise<Sample[]> {
        return mountPointSamples(await readFile(path, "utf8"), path, keep);
      },
      stop() {},
    };
  },
});
