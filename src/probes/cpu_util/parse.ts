// Parser for the aggregate `cpu` line of /proc/stat (also used by diskio for iowait):
//   cpu  106258 0 25166 328698 1217 0 18914 87 0 0
// Columns are cumulative times in USER_HZ ticks ("jiffies") summed over all CPUs, in the
// kernel's order: user nice system idle iowait irq softirq steal guest guest_nice. guest and
// guest_nice are already included in user and nice, so they are read but never added again.

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guestNice: number;
}

/** Columns every supported kernel prints (steal exists since 2.6.11; guest* are optional). */
const REQUIRED = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const;
const UINT = /^\d+$/;

export function parseProcStatCpu(text: string, source = "/proc/stat"): CpuTimes {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.startsWith("cpu "));
  if (i < 0) throw new Error(`${source}: no aggregate "cpu" line`);
  const line = lines[i]!;
  const words = line.slice(4).trim().split(/\s+/);
  const where = `${source}:${i + 1}`;
  if (words.length < REQUIRED.length || words[0] === "") {
    throw new Error(`${where}: expected at least ${REQUIRED.length} columns on the cpu line, got ${words[0] === "" ? 0 : words.length}`);
  }
  // Newer kernels may append columns: only the known ones are read.
  const col = (k: number, name: string): number => {
    const raw = words[k];
    if (raw === undefined) return 0; // guest / guest_nice on very old kernels
    if (!UINT.test(raw)) throw new Error(`${where}: ${name} is not a tick count: ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  return {
    user: col(0, "user"),
    nice: col(1, "nice"),
    system: col(2, "system"),
    idle: col(3, "idle"),
    iowait: col(4, "iowait"),
    irq: col(5, "irq"),
    softirq: col(6, "softirq"),
    steal: col(7, "steal"),
    guest: col(8, "guest"),
    guestNice: col(9, "guest_nice"),
  };
}

/** All elapsed time: every state a CPU can be in (guest time is inside user/nice already). */
export function totalTicks(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

/** A CpuTimes of zeros: the state "at boot", so a first delta gives the since-boot average. */
export const BOOT: Readonly<CpuTimes> = Object.freeze({
  user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0, guest: 0, guestNice: 0,
});
