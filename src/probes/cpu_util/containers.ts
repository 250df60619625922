// cpu_util's container series, HUATUO's cpu_util_container_{cores,usr,sys,total}: each
// container's CPU time from its cgroup (cgroup.ts) as a percent of ITS capacity, i.e. of
// `cores` = quota / period (all online CPUs without a quota) over the wall time between two
// readings — so 100 means "using all it may", not "using the whole host".
//
// As for the host, a new value is computed at most once per second and a faster scrape gets the
// previous one. A container's first reading is only the baseline: until a second one exists it
// reports `cores` alone (HUATUO reports 0 then, a value nobody measured). A counter that went
// backwards restarts from the new reading. Unlike HUATUO, a reading above 100 (CFS accounting
// slack at the quota, cpu.cfs_burst_us) is reported as it is, not dropped.
import { PerContainer } from "../../containers/series.ts";
import type { Container } from "../../containers/types.ts";
import type { CgroupCpuUsage } from "./cgroup.ts";

export interface ContainerCpuUtil {
  cores: number;
  /** Percent of `cores`; absent until the second reading. */
  usr?: number;
  sys?: number;
  total?: number;
}

interface Reading {
  atMs: number;
  usage: CgroupCpuUsage;
  shown: ContainerCpuUtil;
}

/** Per-container readings, kept only for containers still listed (retain). Times are monotonic ms. */
export class ContainerCpuTracker {
  private readonly readings = new PerContainer<Reading>();

  constructor(private readonly minIntervalMs = 1000) {}

  retain(live: readonly Container[]): void {
    this.readings.retain(live);
  }

  get size(): number {
    return this.readings.size;
  }

  /** The last value while it is younger than the minimum interval, else undefined (read again). */
  fresh(c: Container, nowMs: number): ContainerCpuUtil | undefined {
    const r = this.readings.get(c);
    return r !== undefined && nowMs - r.atMs < this.minIntervalMs ? r.shown : undefined;
  }

  update(c: Container, nowMs: number, usage: CgroupCpuUsage, cores: number): ContainerCpuUtil {
    const prev = this.readings.get(c);
    if (prev === undefined) return this.keep(c, nowMs, usage, { cores });
    const dTotal = usage.usageUs - prev.usage.usageUs;
    const dUser = usage.userUs - prev.usage.userUs;
    const dSystem = usage.systemUs - prev.usage.systemUs;
    if (dTotal < 0 || dUser < 0 || dSystem < 0) return this.keep(c, nowMs, usage, { ...prev.shown, cores });
    const capacityUs = cores * (nowMs - prev.atMs) * 1000;
    if (!(capacityUs > 0)) return prev.shown;
    return this.keep(c, nowMs, usage, {
      cores,
      usr: (dUser * 100) / capacityUs,
      sys: (dSystem * 100) / capacityUs,
      total: (dTotal * 100) / capacityUs,
    });
  }

  private keep(c: Container, atMs: number, usage: CgroupCpuUsage, shown: ContainerCpuUtil): ContainerCpuUtil {
    this.readings.set(c, { atMs, usage, shown });
    return shown;
  }
}
