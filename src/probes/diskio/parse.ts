// Parser for /proc/diskstats: one line per block device (whole disks, partitions, dm, md, loop,
// ram, zram, …), `major minor name` then at least 11 counters (Documentation/admin-guide/iostats.rst):
//    8       0 sda 1000 200 50000 3000 2000 400 80000 6000 50 9000 15000
// Kernels 4.18+ append 4 discard columns and 5.5+ 2 flush columns; those are not read.

export interface DiskStats {
  major: number;
  minor: number;
  device: string;
  readsCompleted: number;
  readsMerged: number;
  sectorsRead: number;
  /** Milliseconds spent by completed reads. */
  readTimeMs: number;
  writesCompleted: number;
  writesMerged: number;
  sectorsWritten: number;
  writeTimeMs: number;
  /** The only column that goes down: requests in flight right now. */
  ioInProgress: number;
  ioTimeMs: number;
  weightedIoTimeMs: number;
}

const COUNTERS = [
  "readsCompleted",
  "readsMerged",
  "sectorsRead",
  "readTimeMs",
  "writesCompleted",
  "writesMerged",
  "sectorsWritten",
  "writeTimeMs",
  "ioInProgress",
  "ioTimeMs",
  "weightedIoTimeMs",
] as const;

const UINT = /^\d+$/;

export function parseDiskstats(text: string, source = "/proc/diskstats"): DiskStats[] {
  const out: DiskStats[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 1}`;
    const words = line.trim().split(/\s+/);
    // Partition lines of 2.6.x kernels had 4 counters; nothing this agent supports prints them.
    if (words.length < 3 + COUNTERS.length) {
      throw new Error(`${where}: expected major, minor, name and ${COUNTERS.length} counters, got ${words.length} fields in ${JSON.stringify(line.trim())}`);
    }
    const [major, minor, device] = words as [string, string, string];
    if (!UINT.test(major) || !UINT.test(minor)) throw new Error(`${where}: bad device number ${major}:${minor}`);
    const rec = { major: Number(major), minor: Number(minor), device } as DiskStats;
    COUNTERS.forEach((name, c) => {
      const raw = words[3 + c]!;
      if (!UINT.test(raw)) throw new Error(`${where}: device ${device}: ${name} is not a counter: ${JSON.stringify(raw)}`);
      rec[name] = Number(raw);
    });
    out.push(rec);
  });
  return out;
}
