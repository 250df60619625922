// loadavg: host load averages from /proc/loadavg, HUATUO's `loadavg_load{1,5,15}`, and per
// container (normal and sidecar, as HUATUO) `loadavg_container_{nr_running,nr_uninterruptible}`
// counted from the cgroup's threads (containers.ts), plus `loadavg_tasks_skipped` (threads left
// out by the bounds) while there are containers.
import { readFile } from "node:fs/promises";
import { asContainer, ContainerWalk } from "../../containers/series.ts";
import type { Sample } from "../../metrics/sample.ts";
import { containersOf, defineProbe } from "../types.ts";
import { countTasks, newTaskBudget, TASKS_PER_CONTAINER, TASKS_PER_SCRAPE } from "./containers.ts";
import { parseLoadAvg } from "./parse.ts";

const SKIPPED_HELP = `Threads of containers not counted in this scrape: beyond ${TASKS_PER_CONTAINER} per container or ${TASKS_PER_SCRAPE} in all.`;

export const loadavgProbe = defineProbe({
  name: "loadavg",
  kind: "metric",
  source: "procfs /proc/loadavg; containers: cgroup tasks / cgroup.threads and /proc/<tid>/stat",
  defaultEnabled: true,

  create(ctx) {
    const path = ctx.procfs.proc("loadavg");
    const view = containersOf(ctx);
    const walk = new ContainerWalk(ctx.log, "loadavg");
    async function containerSeries(): Promise<Sample[]> {
      const list = view.forMetrics(["normal", "sidecar"]);
      if (list.length === 0) return [];
      const budget = newTaskBudget();
      const samples = await walk.samples(list, async (c) => {
        const n = await countTasks(view, ctx.procfs, c, budget);
        if (n === undefined) return undefined;
        return asContainer([
          { name: "nr_running", help: "nr_running of container", type: "gauge", value: n.running },
          { name: "nr_uninterruptible", help: "nr_uninterruptible of container", type: "gauge", value: n.uninterruptible },
        ], c);
      });
      samples.push({ name: "tasks_skipped", help: SKIPPED_HELP, type: "gauge", value: budget.skipped });
      return samples;
    }
    return {
      async collect(): Promise<Sample[]> {
        const la = parseLoadAvg(await readFile(path, "utf8"), path);
        return [
          { name: "load1", help: "system load average, 1 minute", type: "gauge", value: la.load1 },
          { name: "load5", help: "system load average, 5 minutes", type: "gauge", value: la.load5 },
          { name: "load15", help: "system load average, 15 minutes", type: "gauge", value: la.load15 },
          ...(await containerSeries()),
        ];
      },
      stop() {},
    };
  },
});
