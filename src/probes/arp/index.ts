// arp: HUATUO's `arp_entries` (neighbours in the host's ARP table, /proc/1/net/arp) and
// `arp_total` (the kernel-wide ARP cache size, all network namespaces, the `entries` column of
// /proc/net/stat/arp_cache), and per normal container (not host-network ones)
// `arp_container_entries` from /proc/<initpid>/net/arp, each network namespace read once.
//
// /proc/net/stat/arp_cache exists only in the initial network namespace's /proc/net, so it is
// looked for under pid 1 first (the host's, with hostPID) and then under kpulse's own view.
// Without it the probe is unsupported, as in HUATUO. HUATUO refreshes both numbers every 60 s;
// kpulse reads them on each scrape.
import { access, readFile } from "node:fs/promises";
import { ContainerWalk, netnsSeries } from "../../containers/series.ts";
import type { Sample } from "../../metrics/sample.ts";
import { hostNetFile } from "../../procfs/host-net.ts";
import { containersOf, defineProbe, ProbeUnsupportedError } from "../types.ts";
import { countArpEntries, parseArpCacheEntries } from "./parse.ts";

/** The entries series of one net/arp text, with HUATUO's HELP for the host or a container. */
export function arpEntrySamples(text: string, path: string, container = false): Sample[] {
  const help = container ? "arp entries in container netns" : "host init namespace";
  return [{ name: "entries", help, type: "gauge", value: countArpEntries(text, path) }];
}

export const arpProbe = defineProbe({
  name: "arp",
  kind: "metric",
  source: "procfs /proc/<pid>/net/arp, /proc/net/stat/arp_cache",
  defaultEnabled: true,

  async create(ctx) {
    const candidates = [ctx.procfs.proc("1", "net", "stat", "arp_cache"), ctx.procfs.proc("net", "stat", "arp_cache")];
    let cachePath: string | undefined;
    for (const p of candidates) {
      if (await access(p).then(() => true, () => false)) {
        cachePath = p;
        break;
      }
    }
    if (cachePath === undefined) throw new ProbeUnsupportedError(`no ARP cache statistics: neither ${candidates.join(" nor ")} exists`);
    const arpCache = cachePath;
    const arp = hostNetFile(ctx.procfs, "arp", ctx.log);
    const view = containersOf(ctx);
    const walk = new ContainerWalk(ctx.log, "arp");
    return {
      async collect(): Promise<Sample[]> {
        const [table, cacheText] = await Promise.all([arp.read(), readFile(arpCache, "utf8")]);
        const containers = await netnsSeries(walk, ctx.procfs, view.forMetrics(["normal"]), ["arp"], ([t]) => arpEntrySamples(t!.text, t!.path, true));
        return [
          ...containers,
          ...arpEntrySamples(table.text, table.path),
          { name: "total", help: "all entries in arp_cache for containers and host netns", type: "gauge", value: parseArpCacheEntries(cacheText, arpCache) },
        ];
      },
      stop() {},
    };
  },
});
