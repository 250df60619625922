// netstat: HUATUO's `netstat_<Proto>_<Field>` gauges (e.g. netstat_TcpExt_TCPTimeouts) from the
// `Tcp` row of /proc/<pid>/net/snmp and the `TcpExt` row of /proc/<pid>/net/netstat, the host's
// network namespace (pid 1). Filtered by [MetricCollector.Netstat] Included / Excluded, matched
// against "Proto_Field". Per normal container (not host-network ones) netstat_container_* the
// same way from /proc/<initpid>/net/{snmp,netstat}, each network namespace read once.
import { includeExcludeKeys, section } from "../../config/spec.ts";
import { ContainerWalk, netnsSeries } from "../../containers/series.ts";
import { makeFilter, type NameFilter } from "../../metrics/filter.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { containersOf, defineProbe } from "../types.ts";
import { parseNetstat } from "./parse.ts";

export const NETSTAT_CONFIG = section("MetricCollector.Netstat", includeExcludeKeys());

/** The rows HUATUO exports, and the file each comes from. */
const ROWS = [
  { file: "snmp", proto: "Tcp" },
  { file: "netstat", proto: "TcpExt" },
] as const;

export interface NetFileText {
  path: string;
  text: string;
}

/** The series of one namespace's snmp and netstat texts. */
export function netstatSamples(snmp: NetFileText, netstat: NetFileText, keep: NameFilter): Sample[] {
  const samples: Sample[] = [];
  for (const { file, proto } of ROWS) {
    const src = file === "snmp" ? snmp : netstat;
    const row = parseNetstat(src.text, src.path).find((r) => r.proto === proto);
    if (!row) throw new Error(`${src.path}: no ${proto} row`);
    for (const [field, value] of row.fields) {
      const name = `${proto}_${field}`;
      if (keep(name)) samples.push({ name, help: `statistic ${proto}${field}.`, type: "gauge", value });
    }
  }
  return samples;
}

export const netstatProbe = defineProbe({
  name: "netstat",
  kind: "metric",
  source: "procfs /proc/<pid>/net/snmp, /proc/<pid>/net/netstat",
  defaultEnabled: true,
  config: NETSTAT_CONFIG,

  create(ctx) {
    const keep = makeFilter(ctx.config.Included, ctx.config.Excluded, "MetricCollector.Netstat");
    const snmp = hostNetFile(ctx.procfs, "snmp", ctx.log);
    const netstat = hostNetFile(ctx.procfs, "netstat", ctx.log);
    const view = containersOf(ctx);
    const walk = new ContainerWalk(ctx.log, "netstat");
    return {
      async collect(): Promise<Sample[]> {
        const [s, n] = await Promise.all([snmp.read(), netstat.read()]);
        const containers = await netnsSeries(walk, ctx.procfs, view.forMetrics(["normal"]), ["snmp", "netstat"], ([cs, cn]) =>
          netstatSamples(cs!, cn!, keep));
        return [...netstatSamples(s, n, keep), ...containers];
      },
      stop() {},
    };
  },
});
