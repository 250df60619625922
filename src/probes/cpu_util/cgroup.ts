// A container's CPU time and CPU quota from its cgroup, for cpu_util's container series (and
// cpu_stat's wait percentage):
//   v1: cpuacct.usage (ns), cpuacct.stat "user N\nsystem N" (USER_HZ ticks),
//       cpu.cfs_quota_us (-1 = no limit) and cpu.cfs_period_us
//   v2: cpu.stat usage_usec / user_usec / system_usec, cpu.max "max 100000" or "50000 100000"
import { readCgroupFile } from "../../containers/series.ts";
import type { Container, ContainerView } from "../../containers/types.ts";
import { parseKeyValues } from "../memory_vmstat/parse.ts";

/** Cumulative CPU time of a cgroup, in microseconds. */
export interface CgroupCpuUsage {
  usageUs: number;
  userUs: number;
  systemUs: number;
}

/**
 * The tick rate of cpuacct.stat: USER_HZ, which the kernel fixes at 100 for user space on every
 * architecture (sysconf(_SC_CLK_TCK)), whatever CONFIG_HZ is.
 */
export const USER_HZ = 100;

const UINT = /^\d+$/;
const INT = /^-?\d+$/;

function single(text: string, source: string, re: RegExp, what: string): number {
  const v = text.trim();
  if (!re.test(v)) throw new Error(`${source}: expected ${what}, got ${JSON.stringify(v.slice(0, 64))}`);
  return Number(v);
}

/** A key/value file as a map; `need` lists keys whose absence is an error naming the file. */
export function keyValues(text: string, source: string, need: readonly string[] = []): Map<string, number> {
  const kv = new Map(parseKeyValues(text, source));
  for (const k of need) if (!kv.has(k)) throw new Error(`${source}: no ${k} line`);
  return kv;
}

/** v1: cpuacct.usage (ns) and cpuacct.stat (ticks) → microseconds. */
export function cpuUsageV1(usageText: string, usagePath: string, statText: string, statPath: string): CgroupCpuUsage {
  const ns = single(usageText, usagePath, UINT, "a nanosecond count");
  const st = keyValues(statText, statPath, ["user", "system"]);
  const tickUs = 1e6 / USER_HZ;
  return { usageUs: ns / 1000, userUs: st.get("user")! * tickUs, systemUs: st.get("system")! * tickUs };
}

/** v2: cpu.stat usage_usec, user_usec, system_usec. */
export function cpuUsageV2(statText: string, statPath: string): CgroupCpuUsage {
  const st = keyValues(statText, statPath, ["usage_usec", "user_usec", "system_usec"]);
  return { usageUs: st.get("usage_usec")!, userUs: st.get("user_usec")!, systemUs: st.get("system_usec")! };
}

/** CPUs a quota allows, or undefined for no limit. v1: quota and period files. */
export function quotaCoresV1(quotaText: string, quotaPath: string, periodText: string, periodPath: string): number | undefined {
  const quota = single(quotaText, quotaPath, INT, "a quota in µs or -1");
  const period = single(periodText, periodPath, UINT, "a period in µs");
  if (quota < 0) return undefined;
  if (period === 0) throw new Error(`${periodPath}: period is 0`);
  return quota / period;
}

/** v2: cpu.max "<quota|max> <period>". */
export function quotaCoresV2(text: string, path: string): number | undefined {
  const words = text.trim().split(/\s+/);
  const [quota, period] = words;
  if (words.length !== 2 || !(quota === "max" || UINT.test(quota!)) || !UINT.test(period!) || Number(period) === 0) {
    throw new Error(`${path}: expected "<quota|max> <period>", got ${JSON.stringify(text.trim().slice(0, 64))}`);
  }
  return quota === "max" ? undefined : Number(quota) / Number(period);
}

/** The container's CPU time, or undefined when its cgroup is gone. */
export function readCpuUsage(view: ContainerView, c: Container): CgroupCpuUsage | undefined {
  if (view.unified) {
    const text = readCgroupFile(view, c, "cpu", "cpu.stat");
    return text === undefined ? undefined : cpuUsageV2(text, `${view.cgroupDir(c, "cpu")}/cpu.stat`);
  }
  const dir = view.cgroupDir(c, "cpuacct");
  const usage = readCgroupFile(view, c, "cpuacct", "cpuacct.usage");
  const stat = readCgroupFile(view, c, "cpuacct", "cpuacct.stat");
  if (usage === undefined || stat === undefined) return undefined;
  return cpuUsageV1(usage, `${dir}/cpuacct.usage`, stat, `${dir}/cpuacct.stat`);
}

/**
 * The container's CPUs: quota / period, or `online` without a limit. Missing quota files also
 * mean no limit (v2 without the cpu controller enabled for the cgroup, v1 without
 * CONFIG_CFS_BANDWIDTH): call it after readCpuUsage found the cgroup.
 */
export function readCpuCores(view: ContainerView, c: Container, online: number): number {
  const dir = view.cgroupDir(c, "cpu");
  if (view.unified) {
    const text = readCgroupFile(view, c, "cpu", "cpu.max");
    return (text === undefined ? undefined : quotaCoresV2(text, `${dir}/cpu.max`)) ?? online;
  }
  const quota = readCgroupFile(view, c, "cpu", "cpu.cfs_quota_us");
  const period = readCgroupFile(view, c, "cpu", "cpu.cfs_period_us");
  if (quota === undefined || period === undefined) return online;
  return quotaCoresV1(quota, `${dir}/cpu.cfs_quota_us`, period, `${dir}/cpu.cfs_period_us`) ?? online;
}
