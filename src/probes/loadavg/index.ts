// loadavg: host load averages from /proc/loadavg, HUATUO's `loadavg_load{1,5,15}`.
// Container series (nr_running, nr_uninterruptible) need cgroup v1 netlink CGROUPSTATS: not yet.
import { readFile } from "node:fs/promises";
import type { Sample } from "../../metrics/sample.ts";
import { defineProbe } from "../types.ts";
import { parseLoadAvg } from "./parse.ts";

export const loadavgProbe = defineProbe({
  name: "loadavg",
  kind: "metric",
  source: "procfs /proc/loadavg",
  defaultEnabled: true,

  create(ctx) {
    const path = ctx.procfs.proc("loadavg");
    return {
      async collect(): Promise<Sample[]> {
        const la = parseLoadAvg(await readFile(path, "utf8"), path);
        return [
          { name: "load1", help: "system load average, 1 minute", type: "gauge", value: la.load1 },
          { name: "load5", help: "system load average, 5 minutes", type: "gauge", value: la.load5 },
          { name: "load15", help: "system load average, 15 minutes", type: "gauge", value: la.load15 },
        ];
      },
      stop() {},
    };
  },
});
