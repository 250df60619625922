// netdev: per-device counters from /proc/<pid>/net/dev, HUATUO's `netdev_<stat>_total{device}`.
import { key, section } from "../../config/spec.ts";
import { makeFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { defineProbe, ProbeUnsupportedError } from "../types.ts";
import { NETDEV_STATS, parseNetDev } from "./parse.ts";

export const NETDEV_CONFIG = section("MetricCollector.NetdevStats", {
  /** rtnetlink instead of procfs (not built yet: the probe reports unsupported). */
  EnableNetlink: key.bool(false),
  DeviceIncluded: key.regex(""),
  DeviceExcluded: key.regex(""),
});

// Built once: the names and HELP strings never change between scrapes.
const SERIES = NETDEV_STATS.map((stat) => ({
  stat,
  name: `${stat}_total`,
  help: `Network device statistic ${stat}.`,
}));

export const netdevProbe = defineProbe({
  name: "netdev",
  kind: "metric",
  source: "procfs /proc/<pid>/net/dev",
  defaultEnabled: true,
  config: NETDEV_CONFIG,

  create(ctx) {
    const cfg = ctx.config;
    if (cfg.EnableNetlink) {
      throw new ProbeUnsupportedError("EnableNetlink=true: rtnetlink stats not implemented yet");
    }
    const keep = makeFilter(cfg.DeviceIncluded, cfg.DeviceExcluded, "MetricCollector.NetdevStats.Device");
    const source = hostNetFile(ctx.procfs, "dev", ctx.log);

    return {
      async collect() {
        const { path, text } = await source.read();
        const samples: Sample[] = [];
        for (const dev of parseNetDev(text, path)) {
          if (!keep(dev.device)) continue;
          const labels = { device: dev.device };
          for (const s of SERIES) {
            samples.push({ name: s.name, help: s.help, type: "counter", value: dev[s.stat], labels });
          }
        }
        return samples;
      },
      stop() {},
    };
  },
});
