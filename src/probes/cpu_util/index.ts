// cpu_util: host CPU utilisation from the aggregate `cpu` line of /proc/stat, HUATUO's
// `cpu_util_usr`, `cpu_util_sys` and `cpu_util_total`: percent of the time of all online CPUs.
//
//   usr   = user + nice
//   sys   = system + irq + softirq
//   total = usr + sys + steal   (everything but idle and iowait; guest time is inside user/nice)
//
// each as a share of all the ticks that elapsed on all CPUs between two readings (the sum of
// every column), so the denominator is exactly the capacity of the CPUs that were online: no
// wall clock, no USER_HZ and no CPU count are needed (CPUs going on- or offline are accounted
// for by the kernel's own sums).
//
// Like HUATUO a new value is computed at most once per second; a faster scrape gets the previous
// one. The first scrape has no previous reading and reports the average since boot (the deltas
// from zero), so one /proc/stat gives a well-defined value (the fixture tests rely on it).
// Containers (normal and sidecar, as HUATUO): cpu_util_container_{cores,usr,sys,total}, see
// containers.ts.
import { readFile } from "node:fs/promises";
import { asContainer, ContainerWalk } from "../../containers/series.ts";
import type { Container } from "../../containers/types.ts";
import type { Sample } from "../../metrics/sample.ts";
import { onlineCpus } from "../../procfs/cpus.ts";
import { containersOf, defineProbe, type ProbeContext, type ProbeInstance } from "../types.ts";
import { readCpuCores, readCpuUsage } from "./cgroup.ts";
import { ContainerCpuTracker, type ContainerCpuUtil } from "./containers.ts";
import { BOOT, parseProcStatCpu, totalTicks, type CpuTimes } from "./parse.ts";

export interface CpuUtil {
  usr: number;
  sys: number;
  total: number;
}

const COLUMNS: readonly (keyof CpuTimes)[] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

/**
 * Percentages of the ticks elapsed between two readings. "elapsed" when no tick passed (keep the
 * baseline and wait), "backwards" when a column decreased (a counter reset or a kernel
 * accounting glitch: start again from the new reading).
 */
export function cpuUtilBetween(prev: CpuTimes, cur: CpuTimes): CpuUtil | "elapsed" | "backwards" {
  for (const k of COLUMNS) if (cur[k] < prev[k]) return "backwards";
  const elapsed = totalTicks(cur) - totalTicks(prev);
  if (elapsed <= 0) return "elapsed";
  const usr = cur.user - prev.user + (cur.nice - prev.nice);
  const sys = cur.system - prev.system + (cur.irq - prev.irq) + (cur.softirq - prev.softirq);
  const steal = cur.steal - prev.steal;
  return { usr: (usr * 100) / elapsed, sys: (sys * 100) / elapsed, total: ((usr + sys + steal) * 100) / elapsed };
}

/** The once-per-second cache around cpuUtilBetween; times are monotonic milliseconds. */
export class CpuUtilTracker {
  private base: CpuTimes = BOOT;
  private last: CpuUtil | undefined;
  private lastAt = 0;

  constructor(private readonly minIntervalMs = 1000) {}

  /** The previous value while it is younger than the minimum interval, else undefined. */
  fresh(nowMs: number): CpuUtil | undefined {
    return this.last !== undefined && nowMs - this.lastAt < this.minIntervalMs ? this.last : undefined;
  }

  /** Feed a new reading; returns the value to report. `source` names the file in errors. */
  update(nowMs: number, cur: CpuTimes, source: string): CpuUtil {
    const u = cpuUtilBetween(this.base, cur);
    if (typeof u === "object") {
      this.base = cur;
      this.last = u;
      this.lastAt = nowMs;
      return u;
    }
    if (u === "backwards") this.base = cur;
    // Nothing new to report: the previous value stands (HUATUO keeps its cached one too).
    if (this.last !== undefined) return this.last;
    throw new Error(`${source}: no CPU time has elapsed since boot (all cpu columns are 0)`);
  }
}

function samplesOf(u: CpuUtil): Sample[] {
  return [
    { name: "usr", help: "cpu usr for the host", type: "gauge", value: u.usr },
    { name: "sys", help: "cpu sys for the host", type: "gauge", value: u.sys },
    { name: "total", help: "cpu total for the host", type: "gauge", value: u.total },
  ];
}

function containerSamples(u: ContainerCpuUtil, c: Container): Sample[] {
  const samples: Sample[] = [{ name: "cores", help: "cpu core number for the containers", type: "gauge", value: u.cores }];
  if (u.usr !== undefined && u.sys !== undefined && u.total !== undefined) {
    samples.push(
      { name: "usr", help: "cpu usr for the containers", type: "gauge", value: u.usr },
      { name: "sys", help: "cpu sys for the containers", type: "gauge", value: u.sys },
      { name: "total", help: "cpu total for the containers", type: "gauge", value: u.total },
    );
  }
  return asContainer(samples, c);
}

/** The probe's instance; `now` (monotonic ms) is replaceable so tests can step time. */
export function cpuUtilInstance(ctx: ProbeContext<unknown>, now: () => number = () => performance.now()): ProbeInstance {
  const path = ctx.procfs.proc("stat");
  const tracker = new CpuUtilTracker();
  const view = containersOf(ctx);
  const perContainer = new ContainerCpuTracker();
  const walk = new ContainerWalk(ctx.log, "cpu_util");

  async function containerSeries(): Promise<Sample[]> {
    const list = view.forMetrics(["normal", "sidecar"]);
    perContainer.retain(list);
    if (list.length === 0) return [];
    const online = await onlineCpus(ctx.procfs);
    return walk.samples(list, (c) => {
      const cached = perContainer.fresh(c, now());
      if (cached) return containerSamples(cached, c);
      const usage = readCpuUsage(view, c);
      if (usage === undefined) return undefined;
      const cores = readCpuCores(view, c, online);
      return containerSamples(perContainer.update(c, now(), usage, cores), c);
    });
  }

  return {
    async collect(): Promise<Sample[]> {
      const containers = await containerSeries();
      const cached = tracker.fresh(now());
      if (cached) return [...samplesOf(cached), ...containers];
      const times = parseProcStatCpu(await readFile(path, "utf8"), path);
      return [...samplesOf(tracker.update(now(), times, path)), ...containers];
    },
    stop() {},
  };
}

export const cpuUtilProbe = defineProbe({
  name: "cpu_util",
  kind: "metric",
  source: "procfs /proc/stat (aggregate cpu line; first scrape: average since boot); containers: cgroup cpuacct.usage/cpuacct.stat (v1), cpu.stat (v2)",
  defaultEnabled: true,
  create: (ctx) => cpuUtilInstance(ctx),
});
