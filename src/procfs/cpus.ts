// The number of online CPUs, from /sys/devices/system/cpu/online ("0-3,6,8-11"): the capacity of
// a container without a CPU quota, as for cpu_util's container series.
import { availableParallelism } from "node:os";
import { readFile } from "node:fs/promises";
import type { ProcfsRoot } from "./root.ts";

const RANGE = /^(\d+)(?:-(\d+))?$/;
/** More CPUs than any kernel supports (NR_CPUS ≤ 8192): a list naming more is not a CPU list. */
const MAX_CPUS = 65536;

/** Count of the CPUs in a kernel CPU list. `source` names the file in errors. */
export function countCpuList(text: string, source = "/sys/devices/system/cpu/online"): number {
  const list = text.trim();
  if (list === "") throw new Error(`${source}: empty CPU list`);
  let n = 0;
  for (const part of list.split(",")) {
    const m = RANGE.exec(part);
    if (!m) throw new Error(`${source}: bad CPU range ${JSON.stringify(part)} in ${JSON.stringify(list)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi >= MAX_CPUS) throw new Error(`${source}: bad CPU range ${JSON.stringify(part)}`);
    n += hi - lo + 1;
  }
  return n;
}

/** Online CPUs under the procfs root; the CPUs this process may use when the file is unreadable. */
export async function onlineCpus(procfs: ProcfsRoot): Promise<number> {
  const path = procfs.sys("devices", "system", "cpu", "online");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return availableParallelism();
  }
  return countCpuList(text, path);
}
