// ipvs: KubeSkoop's `ipvs` probe, the IPVS totals of the host's network namespace from
// /proc/<pid>/net/ip_vs_stats: `<ns>_ipvs_<name>` (inspector_pod_ipvs<name>). Unsupported when
// the kernel has no IPVS (ip_vs not loaded).
import { existsSync } from "node:fs";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { defineProbe, ProbeUnsupportedError } from "../types.ts";
import { parseIpvsStats, type IpvsTotals } from "./parse.ts";

const SERIES: { key: keyof IpvsTotals; help: string }[] = [
  { key: "connections", help: "Connections IPVS scheduled (ip_vs_stats total Conns)." },
  { key: "incomingpackets", help: "Packets IPVS forwarded from clients to real servers (ip_vs_stats total Incoming Packets)." },
  { key: "outgoingpackets", help: "Packets IPVS forwarded from real servers back to clients, NAT mode only (ip_vs_stats total Outgoing Packets)." },
  { key: "incomingbytes", help: "Bytes IPVS forwarded from clients to real servers (ip_vs_stats total Incoming Bytes)." },
  { key: "outgoingbytes", help: "Bytes IPVS forwarded from real servers back to clients, NAT mode only (ip_vs_stats total Outgoing Bytes)." },
];

/** Samples from the text of an ip_vs_stats file. */
export function ipvsSamples(text: string, path: string): Sample[] {
  const totals = parseIpvsStats(text, path);
  return SERIES.map((s) => ({ name: s.key, help: s.help, type: "counter" as const, value: totals[s.key] }));
}

export const ipvsProbe = defineProbe({
  name: "ipvs",
  kind: "metric",
  source: "procfs /proc/<pid>/net/ip_vs_stats",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  create(ctx) {
    const host = ctx.procfs.proc("1", "net", "ip_vs_stats");
    const own = ctx.procfs.proc("net", "ip_vs_stats");
    if (!existsSync(host) && !existsSync(own)) {
      throw new ProbeUnsupportedError(`IPVS is not available: neither ${host} nor ${own} exists (ip_vs not loaded)`);
    }
    const stats = hostNetFile(ctx.procfs, "ip_vs_stats", ctx.log);
    return {
      async collect() {
        const { path, text } = await stats.read();
        return ipvsSamples(text, path);
      },
      stop() {},
    };
  },
});
