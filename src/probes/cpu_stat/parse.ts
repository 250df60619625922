// Parser for a cgroup's cpu.stat, the keys cpu_stat reports. Both versions are flat "key value":
//   v1: nr_periods, nr_throttled, throttled_time (ns), nr_bursts, burst_time (ns, 5.14+),
//       wait_sum (ns, only with kernel.sched_schedstats=1)
//   v2: usage_usec, user_usec, system_usec, nr_periods, nr_throttled, throttled_usec,
//       nr_bursts, burst_usec
// Durations come out in nanoseconds whichever unit the kernel used. A key the kernel does not
// print is absent, and so is its series.
import { parseKeyValues } from "../memory_vmstat/parse.ts";

export interface CpuStat {
  nrThrottled?: number;
  throttledTimeNs?: number;
  nrBursts?: number;
  burstTimeNs?: number;
  waitSumNs?: number;
}

export function parseCpuStat(text: string, source = "cpu.stat"): CpuStat {
  const kv = new Map(parseKeyValues(text, source));
  const ns = (nsKey: string, usKey: string): number | undefined => {
    const v = kv.get(nsKey);
    if (v !== undefined) return v;
    const us = kv.get(usKey);
    return us === undefined ? undefined : us * 1000;
  };
  return {
    nrThrottled: kv.get("nr_throttled"),
    throttledTimeNs: ns("throttled_time", "throttled_usec"),
    nrBursts: kv.get("nr_bursts"),
    burstTimeNs: ns("burst_time", "burst_usec"),
    waitSumNs: kv.get("wait_sum"),
  };
}
