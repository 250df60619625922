// cpu_stat: HUATUO's cpu_stat_container_* gauges from each container's cgroup cpu.stat (normal
// and sidecar containers, as HUATUO; no host series):
//   nr_throttled, throttled_time (ns), nr_bursts, burst_time (ns): the kernel's counters as they are
//   wait_sum_percent: the share of the cgroup's schedulable time spent waiting on the parent's run
//     queue between two readings, wait / (wait + cpu usage); v1 with kernel.sched_schedstats=1
// Each series only when the kernel prints its key. Read at most once per second per container
// (a faster scrape gets the last values); the first reading has no wait_sum_percent yet.
import { asContainer, ContainerWalk, PerContainer, readCgroupFile } from "../../containers/series.ts";
import type { Container } from "../../containers/types.ts";
import type { Sample } from "../../metrics/sample.ts";
import { readCpuUsage } from "../cpu_util/cgroup.ts";
import { containersOf, defineProbe, type ProbeContext, type ProbeInstance } from "../types.ts";
import { parseCpuStat } from "./parse.ts";

const WAIT_HELP = "percentage of CFS cgroup schedulable time spent waiting on the parent runqueue (requires kernel.sched_schedstats=1)";
const MIN_INTERVAL_MS = 1000;

interface Reading {
  atMs: number;
  /** wait_sum and CPU usage (ns) when the kernel has wait_sum. */
  wait?: { waitNs: number; cpuNs: number };
  samples: Sample[];
}

/** wait / (wait + cpu) in percent between two readings; undefined when a counter went backwards. */
export function waitPercent(prev: { waitNs: number; cpuNs: number }, cur: { waitNs: number; cpuNs: number }): number | undefined {
  const dWait = cur.waitNs - prev.waitNs;
  const dCpu = cur.cpuNs - prev.cpuNs;
  if (dWait < 0 || dCpu < 0) return undefined;
  return dWait + dCpu === 0 ? 0 : (dWait * 100) / (dWait + dCpu);
}

/** The probe's instance; `now` (monotonic ms) is replaceable so tests can step time. */
export function cpuStatInstance(ctx: ProbeContext<unknown>, now: () => number = () => performance.now()): ProbeInstance {
  const view = containersOf(ctx);
  const readings = new PerContainer<Reading>();
  const walk = new ContainerWalk(ctx.log, "cpu_stat");

  function read(c: Container): Sample[] | undefined {
    const prev = readings.get(c);
    if (prev !== undefined && now() - prev.atMs < MIN_INTERVAL_MS) return prev.samples;
    const text = readCgroupFile(view, c, "cpu", "cpu.stat");
    if (text === undefined) return undefined;
    const st = parseCpuStat(text, `${view.cgroupDir(c, "cpu")}/cpu.stat`);
    const samples: Sample[] = [];
    let wait: Reading["wait"];
    if (st.waitSumNs !== undefined) {
      const usage = readCpuUsage(view, c);
      if (usage === undefined) return undefined;
      wait = { waitNs: st.waitSumNs, cpuNs: usage.usageUs * 1000 };
      const pct = prev?.wait ? waitPercent(prev.wait, wait) : undefined;
      if (pct !== undefined) samples.push({ name: "wait_sum_percent", help: WAIT_HELP, type: "gauge", value: pct });
    }
    const gauge = (name: string, help: string, value: number | undefined) => {
      if (value !== undefined) samples.push({ name, help, type: "gauge", value });
    };
    gauge("nr_throttled", "throttle nr for the containers", st.nrThrottled);
    gauge("throttled_time", "throttle time for the containers", st.throttledTimeNs);
    gauge("nr_bursts", "burst nr for the containers", st.nrBursts);
    gauge("burst_time", "burst time for the containers", st.burstTimeNs);
    const labelled = asContainer(samples, c);
    readings.set(c, { atMs: now(), wait, samples: labelled });
    return labelled;
  }

  return {
    async collect(): Promise<Sample[]> {
      const list = view.forMetrics(["normal", "sidecar"]);
      readings.retain(list);
      return walk.samples(list, read);
    },
    stop() {},
  };
}

export const cpuStatProbe = defineProbe({
  name: "cpu_stat",
  kind: "metric",
  // Not "procfs …": there is no host file, hence no host fixture output.
  source: "cgroup <container>/cpu.stat (containers only)",
  defaultEnabled: true,
  create: (ctx) => cpuStatInstance(ctx),
});
