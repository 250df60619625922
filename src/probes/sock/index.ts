// sock: KubeSkoop's `sock` probe, TCP socket counts of the host's network namespace:
// `<ns>_sock_{inuse,orphan,tw,alloc,mem}` (inspector_pod_sock<field>). The files are parsed with
// the sockstat probe's parser. sockstat's TCP inuse counts IPv4 sockets only and sockstat6's
// TCP6 inuse the IPv6 ones, so inuse is their sum (what KubeSkoop means to report); orphan, tw,
// alloc and mem are shared by IPv4 and IPv6 in the kernel and come from the TCP line alone.
import { existsSync } from "node:fs";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { parseSockstat } from "../sockstat/parse.ts";
import { defineProbe } from "../types.ts";

const SERIES = [
  { field: "inuse", help: "TCP sockets in use, IPv4 (sockstat TCP inuse) plus IPv6 (sockstat6 TCP6 inuse)." },
  { field: "orphan", help: "Orphaned TCP sockets, no longer attached to a file descriptor (sockstat TCP orphan)." },
  { field: "tw", help: "TCP sockets in TIME-WAIT (sockstat TCP tw)." },
  { field: "alloc", help: "TCP sockets allocated, IPv4 and IPv6 (sockstat TCP alloc)." },
  { field: "mem", help: "Pages of memory used by TCP socket buffers, IPv4 and IPv6 (sockstat TCP mem)." },
] as const;

type Read = { path: string; text: string };

/** The fields of protocol `proto` in a sockstat text; throws naming the file when it is absent. */
function protoFields(file: Read, proto: string): Map<string, number> {
  const line = parseSockstat(file.text, file.path).find((l) => l.proto === proto);
  if (!line) throw new Error(`${file.path}: no "${proto}:" line`);
  return new Map(line.fields);
}

/** Samples from the texts of net/sockstat and (when IPv6 is on) net/sockstat6 of one namespace. */
export function sockSamples(sockstat: Read, sockstat6?: Read): Sample[] {
  const tcp = protoFields(sockstat, "TCP");
  const tcp6InUse = sockstat6 ? protoFields(sockstat6, "TCP6").get("inuse") : 0;
  if (tcp6InUse === undefined) throw new Error(`${sockstat6!.path}: TCP6 line has no inuse`);
  return SERIES.map(({ field, help }) => {
    const value = tcp.get(field);
    if (value === undefined) throw new Error(`${sockstat.path}: TCP line has no ${field}`);
    return { name: field, help, type: "gauge" as const, value: field === "inuse" ? value + tcp6InUse : value };
  });
}

export const sockProbe = defineProbe({
  name: "sock",
  kind: "metric",
  source: "procfs /proc/<pid>/net/sockstat, /proc/<pid>/net/sockstat6",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  create(ctx) {
    const sockstat = hostNetFile(ctx.procfs, "sockstat", ctx.log);
    // No sockstat6 when IPv6 is disabled: then inuse is the IPv4 count alone.
    const hasIpv6 = existsSync(ctx.procfs.proc("1", "net", "sockstat6")) || existsSync(ctx.procfs.proc("net", "sockstat6"));
    const sockstat6 = hasIpv6 ? hostNetFile(ctx.procfs, "sockstat6", ctx.log) : undefined;
    return {
      async collect() {
        const [v4, v6] = await Promise.all([sockstat.read(), sockstat6?.read()]);
        return sockSamples(v4, v6);
      },
      stop() {},
    };
  },
});
