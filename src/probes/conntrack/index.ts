// conntrack: KubeSkoop's `conntrack` probe from procfs instead of ctnetlink: the per-CPU
// statistics of /proc/<pid>/net/stat/nf_conntrack (host network namespace) summed over the CPUs,
// plus the table size and limit. `<ns>_conntrack_<name>` with KubeSkoop's names
// (inspector_pod_conntrack<name>: insert_failed → insertfailed, icmp_error → error, ...).
// Unsupported when the kernel has no conntrack (nf_conntrack not loaded).
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { defineProbe, ProbeUnsupportedError } from "../types.ts";
import { parseConntrackStat, parseSysctlUint, sumColumns } from "./parse.ts";

/** File column → KubeSkoop's name and what it counts. A column the kernel lacks has no series. */
const STAT_SERIES = [
  ["found", "found", "Lookups that found an existing connection"],
  ["invalid", "invalid", "Packets conntrack could not track (malformed or unexpected)"],
  ["ignore", "ignore", "Packets already tracked or marked untracked (0 on newer kernels)"],
  ["insert", "insert", "Connections inserted into the table"],
  ["insert_failed", "insertfailed", "Connections that could not be inserted (e.g. a clash with an existing entry)"],
  ["drop", "drop", "Packets dropped because a new connection could not be tracked (table full)"],
  ["early_drop", "earlydrop", "Connections evicted early to make room when the table was full"],
  ["icmp_error", "error", "Packets of ICMP errors that did not match a tracked connection, and other protocol errors"],
  ["search_restart", "searchrestart", "Table lookups restarted because of a concurrent resize"],
].map(([column, name, what]) => ({ column: column!, name: name!, help: `${what}, summed over CPUs (nf_conntrack stat column ${column}).` }));

interface Read {
  path: string;
  text: string;
}

/** Samples from the stat file and the two sysctl files (of one network namespace). */
export function conntrackSamples(stat: Read, count: Read, max: Read): Sample[] {
  const totals = sumColumns(parseConntrackStat(stat.text, stat.path));
  const samples: Sample[] = [];
  for (const s of STAT_SERIES) {
    const value = totals.get(s.column);
    if (value !== undefined) samples.push({ name: s.name, help: s.help, type: "counter", value });
  }
  samples.push(
    { name: "entries", help: "Connections in the conntrack table (net.netfilter.nf_conntrack_count).", type: "gauge", value: parseSysctlUint(count.text, count.path) },
    { name: "maxentries", help: "Size limit of the conntrack table (net.netfilter.nf_conntrack_max).", type: "gauge", value: parseSysctlUint(max.text, max.path) },
  );
  return samples;
}

const readText = async (path: string): Promise<Read> => ({ path, text: await readFile(path, "utf8") });

export const conntrackProbe = defineProbe({
  name: "conntrack",
  kind: "metric",
  source: "procfs /proc/<pid>/net/stat/nf_conntrack, /proc/sys/net/netfilter/nf_conntrack_{count,max}",
  defaultEnabled: false, // KubeSkoop's probes are opt-in, as in KubeSkoop: [Kpulse] EnableProbes

  create(ctx) {
    const host = ctx.procfs.proc("1", "net", "stat", "nf_conntrack");
    const own = ctx.procfs.proc("net", "stat", "nf_conntrack");
    if (!existsSync(host) && !existsSync(own)) {
      throw new ProbeUnsupportedError(`conntrack is not available: neither ${host} nor ${own} exists (nf_conntrack not loaded)`);
    }
    const stat = hostNetFile(ctx.procfs, "stat/nf_conntrack", ctx.log);
    // The sysctls show kpulse's own network namespace: the host's when it runs with hostNetwork.
    const countPath = ctx.procfs.proc("sys", "net", "netfilter", "nf_conntrack_count");
    const maxPath = ctx.procfs.proc("sys", "net", "netfilter", "nf_conntrack_max");
    return {
      async collect() {
        const [s, count, max] = await Promise.all([stat.read(), readText(countPath), readText(maxPath)]);
        return conntrackSamples(s, count, max);
      },
      stop() {},
    };
  },
});
