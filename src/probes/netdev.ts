// netdev: per-device counters from /proc/<pid>/net/dev, HUATUO's `netdev_<stat>_total{device}`.
import { readFile } from "node:fs/promises";
import { makeFilter } from "../metrics/filter.ts";
import type { Sample } from "../metrics/sample.ts";
import { NETDEV_STATS, parseNetDev } from "../procfs/netdev.ts";
import { ProbeUnsupportedError, type ProbeDefinition } from "./types.ts";

// Built once: the names and HELP strings never change between scrapes.
const SERIES = NETDEV_STATS.map((stat) => ({
  stat,
  name: `${stat}_total`,
  help: `Network device statistic ${stat}.`,
}));

export const netdevProbe: ProbeDefinition = {
  name: "netdev",
  kind: "metric",
  source: "procfs /proc/<pid>/net/dev",
  defaultEnabled: true,
  configSection: "MetricCollector.NetdevStats",

  create(ctx) {
    const cfg = ctx.config.MetricCollector.NetdevStats;
    if (cfg.EnableNetlink) {
      throw new ProbeUnsupportedError("EnableNetlink=true: rtnetlink stats not implemented yet");
    }
    const keep = makeFilter(cfg.DeviceIncluded, cfg.DeviceExcluded, "MetricCollector.NetdevStats.Device");
    // pid 1's view is the host network namespace even when kpulse runs in a container with
    // hostPID; /proc/net/dev (our own netns) is the fallback when pid 1 is not readable.
    const hostPath = ctx.procfs.proc("1", "net", "dev");
    const selfPath = ctx.procfs.proc("net", "dev");
    let warnedFallback = false;

    async function read(): Promise<[string, string]> {
      try {
        return [hostPath, await readFile(hostPath, "utf8")];
      } catch (err) {
        const text = await readFile(selfPath, "utf8").catch((err2: Error) => {
          throw new Error(`cannot read ${hostPath} (${(err as Error).message}) nor ${selfPath} (${err2.message})`);
        });
        if (!warnedFallback) {
          warnedFallback = true;
          ctx.log.warn("host netdev stats unreadable, using own network namespace", {
            path: hostPath,
            fallback: selfPath,
            err,
          });
        }
        return [selfPath, text];
      }
    }

    return {
      async collect() {
        const [path, text] = await read();
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
};
