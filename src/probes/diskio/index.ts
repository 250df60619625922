// diskio: block device statistics from /proc/diskstats and the host iowait share from /proc/stat,
// HUATUO's `diskio_*` series. Every device line is exported, as HUATUO does (partitions, dm, md,
// loop, ram and zram included): filter in the query or with BlackList if that is too many.
//
// `disk_iowait_percent` is the share of the CPU ticks elapsed between two scrapes that were
// iowait. The first scrape has no previous reading and reports the share since boot (HUATUO
// reports nothing on its first scrape); a scrape within the same tick keeps the previous value.
import { readFile } from "node:fs/promises";
import type { Sample } from "../../metrics/sample.ts";
import { BOOT, parseProcStatCpu, totalTicks, type CpuTimes } from "../cpu_util/parse.ts";
import { defineProbe } from "../types.ts";
import { parseDiskstats, type DiskStats } from "./parse.ts";

/** /proc/diskstats counts 512-byte sectors whatever the device's own sector size. */
export const SECTOR_BYTES = 512;

// HUATUO's names and HELP strings; `value` turns a device's line into the series value.
const DEVICE_SERIES: readonly { name: string; help: string; type: "counter" | "gauge"; value: (d: DiskStats) => number }[] = [
  { name: "read_requests_total", help: "Total number of read requests completed successfully.", type: "counter", value: (d) => d.readsCompleted },
  { name: "write_requests_total", help: "Total number of write requests completed successfully.", type: "counter", value: (d) => d.writesCompleted },
  { name: "read_bytes_total", help: "Total number of bytes read from the device.", type: "counter", value: (d) => d.sectorsRead * SECTOR_BYTES },
  { name: "written_bytes_total", help: "Total number of bytes written to the device.", type: "counter", value: (d) => d.sectorsWritten * SECTOR_BYTES },
  { name: "read_time_seconds_total", help: "Total seconds spent by completed read requests.", type: "counter", value: (d) => d.readTimeMs / 1000 },
  { name: "write_time_seconds_total", help: "Total seconds spent by completed write requests.", type: "counter", value: (d) => d.writeTimeMs / 1000 },
  { name: "io_in_progress", help: "Number of I/O requests currently in flight (queue depth).", type: "gauge", value: (d) => d.ioInProgress },
];

const IOWAIT_HELP = "CPU time spent waiting for I/O during the collection interval.";

/** The per-device series of one /proc/diskstats text (a container's view would reuse this). */
export function diskSamples(text: string, path: string): Sample[] {
  const samples: Sample[] = [];
  for (const disk of parseDiskstats(text, path)) {
    const labels = { device: disk.device };
    for (const s of DEVICE_SERIES) samples.push({ name: s.name, help: s.help, type: s.type, value: s.value(disk), labels });
  }
  return samples;
}

/** iowait between scrapes, in percent; the baseline starts at boot. */
export class IowaitTracker {
  private base: CpuTimes = BOOT;
  private last: number | undefined;

  update(cur: CpuTimes, source: string): number {
    const elapsed = totalTicks(cur) - totalTicks(this.base);
    const iowait = cur.iowait - this.base.iowait;
    if (elapsed > 0 && iowait >= 0 && iowait <= elapsed) {
      this.last = (iowait * 100) / elapsed;
      this.base = cur;
    } else if (elapsed < 0 || iowait < 0) {
      this.base = cur; // a counter went back: start again from this reading
    }
    if (this.last === undefined) throw new Error(`${source}: no CPU time has elapsed since boot (all cpu columns are 0)`);
    return this.last;
  }
}

export const diskioProbe = defineProbe({
  name: "diskio",
  kind: "metric",
  source: "procfs /proc/diskstats, /proc/stat (iowait: first scrape since boot)",
  defaultEnabled: true,

  create(ctx) {
    const diskstatsPath = ctx.procfs.proc("diskstats");
    const statPath = ctx.procfs.proc("stat");
    const iowait = new IowaitTracker();
    return {
      async collect(): Promise<Sample[]> {
        const [diskText, statText] = await Promise.all([readFile(diskstatsPath, "utf8"), readFile(statPath, "utf8")]);
        const samples = diskSamples(diskText, diskstatsPath);
        const percent = iowait.update(parseProcStatCpu(statText, statPath), statPath);
        samples.push({ name: "disk_iowait_percent", help: IOWAIT_HELP, type: "gauge", value: percent });
        return samples;
      },
      stop() {},
    };
  },
});
