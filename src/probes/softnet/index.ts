// softnet: KubeSkoop's `softnet` probe (processed, dropped), per CPU, from /proc/net/softnet_stat:
// `<ns>_softnet_<column>{cpu}`. KubeSkoop sums processed and dropped over the CPUs; kpulse keeps
// one series per CPU (sum them in the query) and adds the other statistics the kernel prints. The
// file is global (every network namespace shows the same per-CPU data), so no pid 1 detour.
import { readFile } from "node:fs/promises";
import type { Sample, SampleType } from "../../metrics/sample.ts";
import { defineProbe } from "../types.ts";
import { parseSoftnet, type SoftnetRow } from "./parse.ts";

/** Column index → series. A row without the column (older kernel) has no such series. */
const SERIES: { column: number; name: string; type: SampleType; help: string }[] = [
  { column: 0, name: "processed", type: "counter", help: "Packets the CPU's network receive softirq processed (softnet_stat column 1)." },
  { column: 1, name: "dropped", type: "counter", help: "Packets dropped because the CPU's backlog queue was full, see net.core.netdev_max_backlog (softnet_stat column 2)." },
  { column: 2, name: "time_squeeze", type: "counter", help: "Times the receive softirq stopped with work left because its budget or time ran out (softnet_stat column 3)." },
  { column: 9, name: "received_rps", type: "counter", help: "Times another CPU woke this one to process packets, RPS/RFS (softnet_stat column 10)." },
  { column: 10, name: "flow_limit_count", type: "counter", help: "Packets dropped by the per-flow limit, see net.core.flow_limit_cpu_bitmap (softnet_stat column 11)." },
  { column: 11, name: "backlog_len", type: "gauge", help: "Packets waiting in the CPU's backlog queues when read (softnet_stat column 12, Linux 5.10+)." },
];

/** Samples from parsed rows (the text of any softnet_stat file). */
export function softnetSamples(rows: SoftnetRow[]): Sample[] {
  const samples: Sample[] = [];
  for (const row of rows) {
    const labels = { cpu: String(row.cpu) };
    for (const s of SERIES) {
      const value = row.columns[s.column];
      if (value !== undefined) samples.push({ name: s.name, help: s.help, type: s.type, value, labels });
    }
  }
  return samples;
}

export const softnetProbe = defineProbe({
  name: "softnet",
  kind: "metric",
  source: "procfs /proc/net/softnet_stat",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  create(ctx) {
    const path = ctx.procfs.proc("net", "softnet_stat");
    return {
      async collect() {
        return softnetSamples(parseSoftnet(await readFile(path, "utf8"), path));
      },
      stop() {},
    };
  },
});
